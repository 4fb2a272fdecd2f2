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
/** `Message.h0id` when the message has no header (protocol ids are positive). */
const NO_HEADER = -1;

/** Bytes of a header in a datagram: a WireHeader { uint32 id = 1; bytes header = 2; } inside a length-delimited field. */
function headerFieldSize(id: number, header: unknown): number {
  const inner = 1 + uint32Size(id) + 1 + delimitedSize(HeaderRegistry.sizeOf(id, header));
  return 1 + delimitedSize(inner);
}

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
   * The last {@link size} without a source field, with the flags it was computed for:
   * `size << 8 | flags` (-1: none). The transport sizes every message when it bundles it and
   * again when it encodes the datagram; headers and payload reset it, the flags are compared.
   */
  private sizeMemo = -1;
  /**
   * The value given to the constructor: a message built before it knows its channel is
   * marshalled by the channel's marshaller at `send` ({@link marshalWith}), or with
   * {@link marshaller} (default JSON) when its payload is read before that.
   */
  private value: unknown = NO_VALUE;
  /** The marshaller whose bytes for {@link value} are in the payload (null: not marshalled yet). */
  private valueMarshaller: Marshaller | null = null;
  /**
   * The first header, in the message itself (`NO_HEADER`: none): nearly every message carries
   * one header (its reliable protocol's), and a list for it would cost two more objects per
   * message, three with the transport's loopback copy. A protocol asks every message for its
   * header, and nearly every answer ("none") is then one comparison.
   */
  private h0id = NO_HEADER;
  private h0: unknown = undefined;
  // The other headers, a flat list [id1, header1, id2, header2, ...] (null: none): few, so a scan beats a Map.
  private hdrs: unknown[] | null = null;

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
    this.sizeMemo = -1;
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
    this.sizeMemo = -1;
    this.off = 0;
    this.len = bytes.length;
    this.valueMarshaller = marshaller;
  }

  // ---- headers (for protocols) ----
  putHeader(protocolId: number, header: unknown): this {
    this.sizeMemo = -1;
    if (this.h0id === protocolId || this.h0id === NO_HEADER) {
      this.h0id = protocolId;
      this.h0 = header;
      return this;
    }
    const h = this.hdrs;
    if (h === null) {
      // An array of exactly two (a push onto [] would allocate room for 17).
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
    if (this.h0id === protocolId) return this.h0 as H;
    const h = this.hdrs;
    if (h === null) return undefined;
    for (let i = 0; i < h.length; i += 2) if (h[i] === protocolId) return h[i + 1] as H;
    return undefined;
  }
  removeHeader(protocolId: number): boolean {
    this.sizeMemo = -1;
    const h = this.hdrs;
    if (this.h0id === protocolId) {
      // The next header, if any, moves up: the order stays the order of insertion.
      if (h === null) {
        this.h0id = NO_HEADER;
        this.h0 = undefined;
      } else {
        this.h0id = h[0] as number;
        this.h0 = h[1];
        this.hdrs = h.length > 2 ? h.slice(2) : null;
      }
      return true;
    }
    if (h === null) return false;
    for (let i = 0; i < h.length; i += 2) {
      if (h[i] === protocolId) {
        if (h.length === 2) this.hdrs = null;
        else h.splice(i, 2);
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
    return this.h0id === protocolId || this.hdrs !== null;
  }
  numHeaders(): number {
    return this.h0id === NO_HEADER ? 0 : this.hdrs === null ? 1 : 1 + (this.hdrs.length >> 1);
  }
  /** The id of the `i`-th header (insertion order, `0 <= i < numHeaders()`): with {@link headerAt}, a walk over the headers without a callback. */
  headerIdAt(i: number): number {
    return i === 0 ? this.h0id : (this.hdrs![(i - 1) * 2] as number);
  }
  /** The `i`-th header (see {@link headerIdAt}). */
  headerAt(i: number): unknown {
    return i === 0 ? this.h0 : this.hdrs![(i - 1) * 2 + 1];
  }
  /** Calls `fn(protocolId, header)` for each header in insertion order. */
  forEachHeader(fn: (protocolId: number, header: unknown) => void): void {
    if (this.h0id === NO_HEADER) return;
    fn(this.h0id, this.h0);
    const h = this.hdrs;
    if (h === null) return;
    for (let i = 0; i < h.length; i += 2) fn(h[i] as number, h[i + 1]);
  }
  /** The headers as a flat list [id0, header0, id1, header1, ...] (a new array), or null if there are none. */
  rawHeaders(): readonly unknown[] | null {
    if (this.h0id === NO_HEADER) return null;
    return this.hdrs === null ? [this.h0id, this.h0] : [this.h0id, this.h0, ...this.hdrs];
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
    else {
      // The same view: valid already, so not checked again (the transport copies every multicast it loops back).
      m.buf = this.buf;
      m.off = this.off;
      m.len = this.len;
    }
    m.value = this.value;
    m.valueMarshaller = this.valueMarshaller;
    if (copyHeaders) {
      m.h0id = this.h0id;
      m.h0 = this.h0;
      if (this.hdrs !== null) m.hdrs = this.hdrs.slice();
      // Same headers, payload and flags: the same size.
      if (!copyPayload) m.sizeMemo = this.sizeMemo;
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
    const noSrcField = this.src === null || this.src === sender;
    const memo = this.sizeMemo;
    if (noSrcField && memo >= 0 && (memo & 0xff) === this.flags) return memo >>> 8;
    let body = 0;
    const flags = this.flags & ~TRANSIENT_FLAGS;
    if (flags !== 0) body += 1 + uint32Size(flags);
    if (!noSrcField) body += ADDRESS_FIELD_SIZE;
    if (this.h0id !== NO_HEADER) {
      body += headerFieldSize(this.h0id, this.h0);
      const h = this.hdrs;
      if (h !== null) for (let i = 0; i < h.length; i += 2) body += headerFieldSize(h[i] as number, h[i + 1]);
    }
    if (this.len > 0) body += 1 + delimitedSize(this.len);
    const size = 1 + delimitedSize(body);
    if (noSrcField && this.flags >= 0 && this.flags <= 0xff && size < 0x800000) this.sizeMemo = (size << 8) | this.flags;
    return size;
  }

  isOOB(): boolean {
    return (this.flags & Flag.OOB) !== 0;
  }

  toString(): string {
    const parts = [`dst: ${this.dest ?? '<all>'}`, `src: ${this.src ?? '<null>'}`,
      this.value !== NO_VALUE && this.valueMarshaller === null ? 'a value not marshalled yet' : `${this.len} bytes`];
    if (this.flags) parts.push(`flags=${flagsToString(this.flags)}`);
    if (this.h0id !== NO_HEADER) {
      const names: string[] = [];
      this.forEachHeader((id) => names.push(HeaderRegistry.nameOf(id) ?? String(id)));
      parts.push(`hdrs: ${names.join(',')}`);
    }
    return `[${parts.join(', ')}]`;
  }
}
