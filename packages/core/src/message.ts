import type { Address } from './address.js';
import { Flag, flagsToString, TRANSIENT_FLAGS } from './flags.js';
import { jsonMarshaller, type Marshaller, utf8Decode, utf8Encode } from './marshaller.js';
import { HeaderRegistry } from './header.js';
import { delimitedSize, uint32Size } from './wire/sizes.js';

const EMPTY = new Uint8Array(0);
/** `Message.value` when no value waits to be marshalled. */
const NO_VALUE: unique symbol = Symbol('no value');
/** An address field in a datagram: tag, length (16) and the 16 bytes. */
const ADDRESS_FIELD_SIZE = 18;

/**
 * A message: destination (null = every member), source (filled in by the transport), flags,
 * protocol headers keyed by protocol id, and a payload that is a view on a byte array
 * (array, offset, length), so received payloads are never copied.
 */
export class Message {
  /** The receiver; `null` sends to every member of the cluster. */
  dest: Address | null;
  /** The sender; set by the transport if left empty. */
  src: Address | null = null;
  /** Bit set of {@link Flag}. */
  flags = 0;
  /** The marshaller `getObject()` uses when none is passed (set by the channel). */
  marshaller: Marshaller | undefined = undefined;
  private buf: Uint8Array = EMPTY;
  private off = 0;
  private len = 0;
  /**
   * The value given to the constructor: a message built before it knows its channel is
   * marshalled by the channel's marshaller at `send` ({@link marshalWith}), or with
   * {@link marshaller} (default JSON) when its payload is read before that.
   */
  private value: unknown = NO_VALUE;
  /** The marshaller whose bytes for {@link value} are in the payload (null: not marshalled yet). */
  private valueMarshaller: Marshaller | null = null;
  // Flat list [id0, header0, id1, header1, ...]: messages carry few headers, a scan beats a Map.
  private hdrs: unknown[] | null = null;
  /**
   * Bit `id & 31` set for each header id present (more ids than bits share one): a protocol
   * asks every message for its header, and nearly every answer is "none", found here without
   * looking at the list. Never a bit too few; it may have one too many after a removal.
   */
  private hmask = 0;

  /**
   * @param dest the receiver, or null for all members
   * @param payload raw bytes (used as they are, not copied) or any value for the marshaller: the
   *   value is marshalled by the marshaller of the channel that sends the message (at `send`),
   *   or by {@link marshaller} (default {@link jsonMarshaller}) if the payload is read before
   *   that; a value the marshaller refuses fails there with `ERR_MARSHALLING`
   */
  constructor(dest: Address | null = null, payload?: unknown) {
    this.dest = dest;
    if (payload instanceof Uint8Array) this.setArray(payload);
    else if (payload !== undefined) this.value = payload;
  }

  // ---- flags ----
  setFlag(...flags: number[]): this {
    for (const f of flags) this.flags |= f;
    return this;
  }
  clearFlag(...flags: number[]): this {
    for (const f of flags) this.flags &= ~f;
    return this;
  }
  isFlagSet(flag: number): boolean {
    return (this.flags & flag) === flag;
  }
  setDest(dest: Address | null): this {
    this.dest = dest;
    return this;
  }
  setSrc(src: Address | null): this {
    this.src = src;
    return this;
  }
  getDest(): Address | null {
    return this.dest;
  }
  getSrc(): Address | null {
    return this.src;
  }

  // ---- payload ----
  /** Uses `buf[offset, offset+length)` as the payload, without copying. */
  setArray(buf: Uint8Array, offset = 0, length = buf.length - offset): this {
    if (offset < 0 || length < 0 || offset + length > buf.length) {
      throw new RangeError(`payload range [${offset}, ${offset + length}) is outside a buffer of ${buf.length} bytes`);
    }
    this.buf = buf;
    this.off = offset;
    this.len = length;
    this.value = NO_VALUE;
    this.valueMarshaller = null;
    return this;
  }
  /** The array that holds the payload (shared, not copied); see {@link getOffset} and {@link getLength}. */
  getArray(): Uint8Array {
    if (this.value !== NO_VALUE && this.valueMarshaller === null) this.encodeValue(this.marshaller ?? jsonMarshaller);
    return this.buf;
  }
  getOffset(): number {
    if (this.value !== NO_VALUE && this.valueMarshaller === null) this.encodeValue(this.marshaller ?? jsonMarshaller);
    return this.off;
  }
  getLength(): number {
    if (this.value !== NO_VALUE && this.valueMarshaller === null) this.encodeValue(this.marshaller ?? jsonMarshaller);
    return this.len;
  }
  hasPayload(): boolean {
    return this.getLength() > 0;
  }
  /** The payload as a view (no copy). */
  getPayload(): Uint8Array {
    if (this.value !== NO_VALUE && this.valueMarshaller === null) this.encodeValue(this.marshaller ?? jsonMarshaller);
    return this.off === 0 && this.len === this.buf.length ? this.buf : this.buf.subarray(this.off, this.off + this.len);
  }
  /** A copy of the payload bytes. */
  getBuffer(): Uint8Array {
    if (this.value !== NO_VALUE && this.valueMarshaller === null) this.encodeValue(this.marshaller ?? jsonMarshaller);
    // Uint8Array's slice copies; a Node Buffer's own slice would return a view.
    return Uint8Array.prototype.slice.call(this.buf, this.off, this.off + this.len);
  }
  /** Sets the payload to the UTF-8 bytes of `text` (raw, no marshalling tag). */
  setString(text: string): this {
    return this.setArray(utf8Encode(text));
  }
  /** The payload read as UTF-8 text. */
  getString(): string {
    return utf8Decode(this.getPayload());
  }
  /** Marshals `obj` into the payload now (see {@link jsonMarshaller} for what the default carries). */
  setObject(obj: unknown, marshaller: Marshaller = this.marshaller ?? jsonMarshaller): this {
    if (obj instanceof Uint8Array) return this.setArray(obj);
    return this.setArray(marshaller.objectToBuffer(obj));
  }
  /** Unmarshals the payload; throws a TsgroupsError (`ERR_MARSHALLING`) if it holds no marshalled value. */
  getObject<T = unknown>(marshaller: Marshaller = this.marshaller ?? jsonMarshaller): T {
    if (this.value !== NO_VALUE && this.valueMarshaller === null) this.encodeValue(marshaller);
    return marshaller.objectFromBuffer(this.buf, this.off, this.len) as T;
  }

  /**
   * Marshals the value given to the constructor with `marshaller`, unless its payload already
   * holds exactly that; afterwards the message keeps only the bytes. `Channel.send` calls it
   * with the channel's marshaller. Does nothing for a message built from bytes or `setObject`.
   * @throws TsgroupsError `ERR_MARSHALLING` if the marshaller refuses the value
   */
  marshalWith(marshaller: Marshaller): this {
    if (this.value === NO_VALUE) return this;
    if (this.valueMarshaller !== marshaller) this.encodeValue(marshaller);
    this.value = NO_VALUE;
    this.valueMarshaller = null;
    return this;
  }

  private encodeValue(marshaller: Marshaller): void {
    const bytes = marshaller.objectToBuffer(this.value);
    this.buf = bytes;
    this.off = 0;
    this.len = bytes.length;
    this.valueMarshaller = marshaller;
  }

  // ---- headers (for protocols) ----
  putHeader(protocolId: number, header: unknown): this {
    const h = this.hdrs;
    this.hmask |= 1 << (protocolId & 31);
    if (h === null) {
      // Most messages carry one header: an array of exactly two (a push onto [] would allocate room for 17).
      this.hdrs = [protocolId, header];
      return this;
    }
    for (let i = 0; i < h.length; i += 2) {
      if (h[i] === protocolId) {
        h[i + 1] = header;
        return this;
      }
    }
    h.push(protocolId, header);
    return this;
  }
  getHeader<H = unknown>(protocolId: number): H | undefined {
    if ((this.hmask & (1 << (protocolId & 31))) === 0) return undefined;
    const h = this.hdrs;
    if (h === null) return undefined;
    for (let i = 0; i < h.length; i += 2) if (h[i] === protocolId) return h[i + 1] as H;
    return undefined;
  }
  removeHeader(protocolId: number): boolean {
    const h = this.hdrs;
    if (h === null) return false;
    for (let i = 0; i < h.length; i += 2) {
      if (h[i] === protocolId) {
        h.splice(i, 2);
        let mask = 0;
        for (let j = 0; j < h.length; j += 2) mask |= 1 << ((h[j] as number) & 31);
        this.hmask = mask;
        return true;
      }
    }
    return false;
  }
  /**
   * False if this message has no header of `protocolId`, true if it may have one: a quick
   * test, for a scan over many messages (see {@link MessageBatch.mayHaveHeader}).
   */
  mayHaveHeader(protocolId: number): boolean {
    return (this.hmask & (1 << (protocolId & 31))) !== 0;
  }
  numHeaders(): number {
    return this.hdrs === null ? 0 : this.hdrs.length >> 1;
  }
  /** Calls `fn(protocolId, header)` for each header in insertion order. */
  forEachHeader(fn: (protocolId: number, header: unknown) => void): void {
    const h = this.hdrs;
    if (h === null) return;
    for (let i = 0; i < h.length; i += 2) fn(h[i] as number, h[i + 1]);
  }
  /** Internal: the flat header list, for the codec. */
  rawHeaders(): readonly unknown[] | null {
    return this.hdrs;
  }

  /**
   * A copy. Headers are shared objects (protocols never mutate a header once it is attached).
   * @param copyPayload copy the payload bytes too (default: share the view)
   */
  copy(copyPayload = false, copyHeaders = true): Message {
    const m = new Message(this.dest);
    m.src = this.src;
    m.flags = this.flags;
    m.marshaller = this.marshaller;
    if (copyPayload) m.setArray(this.getBuffer());
    else m.setArray(this.buf, this.off, this.len);
    m.value = this.value;
    m.valueMarshaller = this.valueMarshaller;
    if (copyHeaders && this.hdrs !== null) {
      m.hdrs = this.hdrs.slice();
      m.hmask = this.hmask;
    }
    return m;
  }

  /**
   * The exact number of bytes this message takes in a datagram (its `WireMessage` field: tag,
   * length, flags, headers, payload; see wire/codec.ts). The datagram's envelope (cluster,
   * sender, destination) is not included: `datagramEnvelopeSize` gives it.
   * @param sender the datagram's sender: a source other than it travels in the message (18
   *   bytes more); by default the message's own source, which then costs nothing
   * @throws TsgroupsError `ERR_PROTOCOL_REGISTRY` if a header's protocol has no codec
   */
  size(sender: Address | null = this.src): number {
    if (this.value !== NO_VALUE && this.valueMarshaller === null) this.encodeValue(this.marshaller ?? jsonMarshaller);
    let body = 0;
    const flags = this.flags & ~TRANSIENT_FLAGS;
    if (flags !== 0) body += 1 + uint32Size(flags);
    if (this.src !== null && this.src !== sender) body += ADDRESS_FIELD_SIZE;
    const h = this.hdrs;
    if (h !== null) {
      for (let i = 0; i < h.length; i += 2) {
        const id = h[i] as number;
        // WireHeader { uint32 id = 1; bytes header = 2; } inside a length-delimited field.
        const inner = 1 + uint32Size(id) + 1 + delimitedSize(HeaderRegistry.sizeOf(id, h[i + 1]));
        body += 1 + delimitedSize(inner);
      }
    }
    if (this.len > 0) body += 1 + delimitedSize(this.len);
    return 1 + delimitedSize(body);
  }

  isOOB(): boolean {
    return (this.flags & Flag.OOB) !== 0;
  }

  toString(): string {
    const parts = [`dst: ${this.dest ?? '<all>'}`, `src: ${this.src ?? '<null>'}`,
      this.value !== NO_VALUE && this.valueMarshaller === null ? 'a value not marshalled yet' : `${this.len} bytes`];
    if (this.flags) parts.push(`flags=${flagsToString(this.flags)}`);
    if (this.hdrs) {
      const names: string[] = [];
      this.forEachHeader((id) => names.push(HeaderRegistry.nameOf(id) ?? String(id)));
      parts.push(`hdrs: ${names.join(',')}`);
    }
    return `[${parts.join(', ')}]`;
  }
}
