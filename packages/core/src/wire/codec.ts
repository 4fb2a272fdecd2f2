import { Address } from '../address.js';
import { TsgroupsError } from '../errors.js';
import { TRANSIENT_FLAGS } from '../flags.js';
import { HeaderRegistry } from '../header.js';
import { Message } from '../message.js';
import { MessageBatch } from '../message-batch.js';
import { crc32c } from './crc32c.js';
import { Reader, Writer } from './protobuf.js';
import { delimitedSize, varintSize } from './sizes.js';

export const WIRE_MAGIC = 0x54534752;
export const WIRE_VERSION = 1;

/** Why a datagram was dropped; transports count each reason. */
export const DropReason = {
  MALFORMED: 'malformed',
  NOT_TSGROUPS: 'not_tsgroups',
  VERSION: 'version',
  CLUSTER: 'cluster',
  UNKNOWN_HEADER: 'unknown_header',
} as const;
export type DropReason = (typeof DropReason)[keyof typeof DropReason];

export interface DecodedDatagram {
  batch: MessageBatch;
  cluster: Uint8Array;
}

// Field tags: (field number << 3) | wire type.
const T_MAGIC = (1 << 3) | 5;
const T_VERSION = (2 << 3) | 0;
const T_CLUSTER = (3 << 3) | 2;
const T_SENDER = (4 << 3) | 2;
const T_DEST = (5 << 3) | 2;
const T_MESSAGES = (6 << 3) | 2;
const M_FLAGS = (1 << 3) | 0;
const M_SRC = (2 << 3) | 2;
const M_HEADERS = (3 << 3) | 2;
const M_PAYLOAD = (4 << 3) | 2;
/** Field 7 (fixed32), the checksum trailer: the CRC32C of every byte before it; always the datagram's last 5 bytes. */
const T_CHECKSUM = (7 << 3) | 5;
const H_ID = (1 << 3) | 0;
const H_HEADER = (2 << 3) | 2;

/**
 * The bytes of a datagram before its messages: magic, version, cluster name, sender and (for a
 * unicast) destination. A datagram's size is this plus `msg.size(sender)` of each message.
 * @param clusterLength the cluster name's length in UTF-8 bytes
 * @param unicast whether the datagram has a destination
 */
export function datagramEnvelopeSize(clusterLength: number, unicast: boolean): number {
  // magic: tag + fixed32; version: tag + varint; cluster: tag + length + bytes; sender (and dest): tag + 16 + 16 bytes.
  return 5 + 1 + varintSize(WIRE_VERSION) + 1 + delimitedSize(clusterLength) + 18 + (unicast ? 18 : 0);
}

/** The bytes the checksum trailer adds to a datagram (tag and fixed32): see {@link encodeDatagram}. */
export const CHECKSUM_TRAILER_SIZE = 5;

/** What {@link checkDatagramChecksum} finds. */
export const ChecksumResult = { OK: 0, MISSING: 1, MISMATCH: 2 } as const;
export type ChecksumResult = (typeof ChecksumResult)[keyof typeof ChecksumResult];

/**
 * Checks the checksum trailer of a datagram encoded with `checksum`: its last 5 bytes must be the
 * tag of field 7 and the CRC32C of every byte before the CRC. Runs before anything is decoded.
 */
export function checkDatagramChecksum(buf: Uint8Array): ChecksumResult {
  const n = buf.length;
  if (n < CHECKSUM_TRAILER_SIZE || buf[n - 5] !== T_CHECKSUM) return ChecksumResult.MISSING;
  const stored = (buf[n - 4]! | (buf[n - 3]! << 8) | (buf[n - 2]! << 16) | (buf[n - 1]! << 24)) >>> 0;
  return crc32c(buf, 0, n - 4) === stored ? ChecksumResult.OK : ChecksumResult.MISMATCH;
}

/** The exact length `encodeDatagram` returns for the same arguments (without a checksum). */
export function datagramSize(
  cluster: Uint8Array,
  sender: Address,
  dest: Address | null,
  msgs: readonly Message[],
  start = 0,
  count = msgs.length - start,
): number {
  let n = datagramEnvelopeSize(cluster.length, dest !== null);
  for (let i = start; i < start + count; i++) n += msgs[i]!.size(sender);
  return n;
}

/** The writer encodeDatagram reuses (null while in use). */
let spareWriter: Writer | null = null;
/**
 * Bytes allocated beyond a datagram's exact size: protobufjs' writer reserves 5 bytes for each
 * varint it writes (10 for a 64-bit one) however few it takes, and would reallocate (and copy
 * everything) for a reservation past the end.
 */
const WRITE_SLACK = 10;
/** The message sizes encodeDatagram computes first and writes with (reused; taken while in use). */
let spareSizes: number[] | null = null;
const BufferAlloc: ((size: number) => Uint8Array) | undefined = (globalThis as { Buffer?: { allocUnsafe(size: number): Uint8Array } }).Buffer?.allocUnsafe;

/** A buffer of `size` bytes whose content is overwritten anyway (no zero-filling where Node's Buffer is there). */
function allocDatagram(size: number): Uint8Array {
  return BufferAlloc !== undefined ? BufferAlloc(size) : new Uint8Array(size);
}

/**
 * Encodes `count` messages from `msgs[start..]` for one destination (null: multicast) into one
 * datagram. Every header's protocol must have registered a codec.
 * @param checksum whether to end the datagram with a CRC32C trailer (field 7, {@link CHECKSUM_TRAILER_SIZE} bytes)
 */
export function encodeDatagram(
  cluster: Uint8Array,
  sender: Address,
  dest: Address | null,
  msgs: readonly Message[],
  start = 0,
  count = msgs.length - start,
  checksum = false,
): Uint8Array {
  // The datagram is written in place into a buffer of its exact size (sizes are exact: see
  // Message.size), and handed out as a view on it: no growing, and no copy out of a writer's
  // buffer (that copy of every datagram cost as much as encoding it). Each message's size is
  // computed once, here, and its length prefix written from it. A wrong size() makes the
  // writer grow its buffer (copying): the datagram still comes out right. The writer and the
  // size list are taken while in use, so a nested call gets its own.
  const sizes = spareSizes ?? [];
  spareSizes = null;
  let total = datagramEnvelopeSize(cluster.length, dest !== null) + (checksum ? CHECKSUM_TRAILER_SIZE : 0);
  for (let i = 0; i < count; i++) {
    const n = msgs[start + i]!.size(sender);
    sizes[i] = n;
    total += n;
  }
  const w = spareWriter ?? Writer.create();
  spareWriter = null;
  w.buf = allocDatagram(total + WRITE_SLACK);
  w.view = null; // a DataView the writer cached is over its previous buffer
  w.pos = 0;
  if (w.states !== null) w.states.length = 0; // forks left open if an earlier encode threw
  w.uint32(T_MAGIC).fixed32(WIRE_MAGIC);
  w.uint32(T_VERSION).uint32(WIRE_VERSION);
  w.uint32(T_CLUSTER).bytes(cluster);
  w.uint32(T_SENDER).bytes(sender.bytes);
  if (dest !== null) w.uint32(T_DEST).bytes(dest.bytes);
  for (let i = 0; i < count; i++) encodeMessage(w, msgs[start + i]!, sender, sizes[i]!);
  if (checksum) w.uint32(T_CHECKSUM).fixed32(0);
  const buf = w.buf;
  const out = buf.subarray(0, w.pos);
  // The writer and the list keep no reference to the datagram (it may be held for a long time).
  w.buf = EMPTY_BUF;
  w.view = null;
  spareWriter = w;
  if (sizes.length <= MAX_SPARE_SIZES) spareSizes = sizes;
  if (checksum) {
    // Written in place into the datagram's last 4 bytes (little-endian, as any fixed32).
    const n = out.length;
    const crc = crc32c(out, 0, n - 4);
    out[n - 4] = crc & 0xff;
    out[n - 3] = (crc >>> 8) & 0xff;
    out[n - 2] = (crc >>> 16) & 0xff;
    out[n - 1] = crc >>> 24;
  }
  return out;
}

const EMPTY_BUF = new Uint8Array(0);
/** A size list longer than this (a datagram of very many tiny messages) is not kept. */
const MAX_SPARE_SIZES = 4096;

/** @param size the message's exact size, `msg.size(sender)` */
function encodeMessage(w: Writer, msg: Message, sender: Address, size: number): void {
  // The size is exact, so every length goes before what it measures: a fork's ldelim would
  // move the whole message, payload included, to make room for a length of more than one
  // byte. If a header codec's size() is wrong, the message comes out another length and is
  // written again with forks, which measure what is written.
  const start = w.pos;
  field(w, T_MESSAGES, size - 1 - lengthPrefixSize(size - 1));
  writeMessageBody(w, msg, sender, true);
  if (w.pos - start === size) return;
  w.pos = start;
  w.uint32(T_MESSAGES).fork();
  writeMessageBody(w, msg, sender, false);
  w.ldelim();
}

/** The length of the varint prefix of a body that, prefix included, takes `n` bytes. */
function lengthPrefixSize(n: number): number {
  let p = 1;
  while (p < 5 && varintSize(n - p) !== p) p++;
  return p; // no exact fit (a wrong size()): the message comes out another length and is redone
}

/**
 * Writes a one-byte `tag` and the varint `value` (below 2^32) straight into the writer's
 * buffer. The datagram's buffer has its exact size (plus WRITE_SLACK), so one bounds check
 * replaces the writer's reservation per call; past the end (a wrong size()), the writer grows it.
 */
function field(w: Writer, tag: number, value: number): void {
  const buf = w.buf;
  let pos = w.pos;
  if (pos + 6 > buf.length) {
    w.uint32(tag).uint32(value);
    return;
  }
  buf[pos++] = tag;
  while (value > 127) {
    buf[pos++] = (value & 127) | 128;
    value >>>= 7;
  }
  buf[pos++] = value;
  w.pos = pos;
}

/**
 * A message's fields; `Message.size()` counts exactly these, plus the tag and length before them.
 * @param exact whether header lengths are written from the codecs' size() (else measured with forks)
 */
function writeMessageBody(w: Writer, msg: Message, sender: Address, exact: boolean): void {
  const flags = msg.flags & ~TRANSIENT_FLAGS;
  if (flags !== 0) field(w, M_FLAGS, flags);
  if (msg.src !== null && msg.src !== sender) w.uint32(M_SRC).bytes(msg.src.bytes);
  const nh = msg.numHeaders();
  for (let i = 0; i < nh; i++) {
    const id = msg.headerIdAt(i);
    const codec = HeaderRegistry.get(id);
    if (codec === undefined) throw new TsgroupsError('ERR_PROTOCOL_REGISTRY', `no header codec registered for protocol id ${id}`);
    const header = msg.headerAt(i);
    if (exact) {
      // WireHeader { uint32 id = 1; bytes header = 2; }, as Message.size() counts it.
      const hs = HeaderRegistry.sizeOf(id, header);
      field(w, M_HEADERS, 1 + varintSize(id) + 1 + varintSize(hs) + hs);
      field(w, H_ID, id);
      field(w, H_HEADER, hs);
      codec.encode(header, w);
    } else {
      w.uint32(M_HEADERS).fork();
      w.uint32(H_ID).uint32(id);
      w.uint32(H_HEADER).fork();
      codec.encode(header, w);
      w.ldelim();
      w.ldelim();
    }
  }
  const len = msg.getLength();
  if (len > 0) {
    const arr = msg.getArray();
    const off = msg.getOffset();
    field(w, M_PAYLOAD, len);
    const pos = w.pos;
    if (pos + len <= w.buf.length) {
      w.buf.set(off === 0 && len === arr.length ? arr : arr.subarray(off, off + len), pos);
      w.pos = pos + len;
    } else {
      w.raw(arr.subarray(off, off + len));
    }
  }
}

/**
 * Decodes a datagram into a batch. Never throws: anything malformed, truncated, foreign (not
 * tsgroups, another version, another cluster) or carrying an unknown header yields the reason
 * it was dropped. Payloads are views on `buf`, not copies.
 * @param expectedCluster the local cluster name (UTF-8); null accepts any cluster
 */
export function decodeDatagram(buf: Uint8Array, expectedCluster: Uint8Array | null): DecodedDatagram | DropReason {
  try {
    return decode(buf, expectedCluster);
  } catch {
    return DropReason.MALFORMED;
  }
}

function decode(buf: Uint8Array, expectedCluster: Uint8Array | null): DecodedDatagram | DropReason {
  const r = Reader.create(buf);
  if (buf.length < 5 || r.uint32() !== T_MAGIC || r.fixed32() !== WIRE_MAGIC) return DropReason.NOT_TSGROUPS;
  let version = -1;
  let cluster: Uint8Array | null = null;
  let sender: Address | null = null;
  let dest: Address | null = null;
  let bodies: number[] | null = null; // [start, end) positions of each WireMessage
  while (r.pos < r.len) {
    const tag = r.uint32();
    switch (tag) {
      case T_VERSION:
        version = r.uint32();
        if (version !== WIRE_VERSION) return DropReason.VERSION;
        break;
      case T_CLUSTER:
        cluster = r.bytes();
        if (expectedCluster !== null && !sameBytes(cluster, expectedCluster)) return DropReason.CLUSTER;
        break;
      case T_SENDER:
        sender = readAddress(r);
        break;
      case T_DEST:
        dest = readAddress(r);
        break;
      case T_MESSAGES: {
        const len = r.uint32();
        const end = r.pos + len;
        if (end > r.len) return DropReason.MALFORMED;
        (bodies ??= []).push(r.pos, end);
        r.pos = end;
        break;
      }
      default:
        if (!skipField(r, tag)) return DropReason.MALFORMED;
    }
  }
  // A missing field (version, cluster, sender, messages) means the datagram was cut short.
  if (version === -1 || cluster === null || sender === null || bodies === null) return DropReason.MALFORMED;
  const msgs: Message[] = new Array(bodies.length >> 1);
  for (let i = 0; i < bodies.length; i += 2) {
    const msg = decodeMessage(r, bodies[i]!, bodies[i + 1]!, sender, dest);
    if (typeof msg === 'string') return msg;
    msgs[i >> 1] = msg;
  }
  return { batch: new MessageBatch(sender, dest, dest === null, msgs), cluster };
}

function decodeMessage(r: Reader, start: number, end: number, sender: Address, dest: Address | null): Message | DropReason {
  const msg = new Message(dest);
  msg.src = sender;
  r.pos = start;
  while (r.pos < end) {
    const tag = r.uint32();
    switch (tag) {
      case M_FLAGS:
        msg.flags = r.uint32() & ~TRANSIENT_FLAGS;
        break;
      case M_SRC:
        msg.src = readAddress(r);
        break;
      case M_HEADERS: {
        const hend = r.uint32() + r.pos;
        if (hend > end) return DropReason.MALFORMED;
        const res = decodeHeader(r, hend, msg);
        if (res !== null) return res;
        break;
      }
      case M_PAYLOAD: {
        // The payload is the datagram itself at an offset (a Message is a view: array, offset,
        // length), not a subarray: one object less per message.
        const len = r.uint32();
        const at = r.pos;
        if (at + len > end) return DropReason.MALFORMED;
        r.pos = at + len;
        msg.setArray(r.buf, at, len);
        break;
      }
      default:
        if (!skipField(r, tag)) return DropReason.MALFORMED;
    }
    if (r.pos > end) return DropReason.MALFORMED;
  }
  return msg;
}

function decodeHeader(r: Reader, end: number, msg: Message): DropReason | null {
  let id = -1;
  let header: unknown;
  let found = false;
  // The id normally precedes the header; if not, remember where the header is.
  let pendingStart = -1;
  let pendingEnd = -1;
  while (r.pos < end) {
    const tag = r.uint32();
    if (tag === H_ID) {
      id = r.uint32();
    } else if (tag === H_HEADER) {
      const len = r.uint32();
      const hend = r.pos + len;
      if (hend > end) return DropReason.MALFORMED;
      if (id >= 0) {
        header = decodeHeaderBody(r, id, len, hend);
        if (header === HEADER_DROPPED) return headerDrop;
        found = true;
      } else {
        pendingStart = r.pos;
        pendingEnd = hend;
      }
      r.pos = hend;
    } else if (!skipField(r, tag)) {
      return DropReason.MALFORMED;
    }
  }
  if (r.pos !== end || id < 0) return DropReason.MALFORMED;
  if (!found) {
    if (pendingStart >= 0) {
      const saved = r.pos;
      r.pos = pendingStart;
      header = decodeHeaderBody(r, id, pendingEnd - pendingStart, pendingEnd);
      if (header === HEADER_DROPPED) return headerDrop;
      r.pos = saved;
    } else {
      header = decodeHeaderBody(r, id, 0, r.pos);
      if (header === HEADER_DROPPED) return headerDrop;
    }
  }
  msg.putHeader(id, header);
  return null;
}

/** decodeHeaderBody's result when the header cannot be decoded; the reason is in `headerDrop`. */
const HEADER_DROPPED: unique symbol = Symbol('header dropped');
let headerDrop: DropReason = DropReason.MALFORMED;

/** The decoded header, or HEADER_DROPPED (no wrapper object per header: this runs for every message). */
function decodeHeaderBody(r: Reader, id: number, len: number, end: number): unknown {
  const codec = HeaderRegistry.get(id);
  if (codec === undefined) {
    headerDrop = DropReason.UNKNOWN_HEADER;
    return HEADER_DROPPED;
  }
  const savedLen = r.len;
  const h = codec.decode(r, len);
  r.len = savedLen;
  if (r.pos !== end) {
    headerDrop = DropReason.MALFORMED;
    return HEADER_DROPPED;
  }
  return h;
}

/**
 * The addresses decoded last, by the low 3 bits of their last byte: nearly every datagram
 * comes from one of a few members, and comparing 16 bytes costs less than Address.fromBytes
 * (a 16-character key built and looked up). Weak, as the interning is: a cached address of a
 * member long gone may still be collected.
 */
const recentAddresses: (WeakRef<Address> | undefined)[] = new Array<WeakRef<Address> | undefined>(8).fill(undefined);

function readAddress(r: Reader): Address {
  const len = r.uint32();
  const buf = r.buf;
  const at = r.pos;
  if (len !== 16 || at + 16 > r.len) throw new RangeError('an address takes 16 bytes');
  r.pos = at + 16;
  const slot = buf[at + 15]! & 7;
  const cached = recentAddresses[slot]?.deref();
  if (cached !== undefined) {
    const b = cached.bytes;
    let i = 0;
    while (i < 16 && b[i] === buf[at + i]) i++;
    if (i === 16) return cached;
  }
  const a = Address.fromBytes(buf, at);
  recentAddresses[slot] = new WeakRef(a);
  return a;
}

/** Skips an unknown field (forward compatibility); groups (wire types 3, 4) are refused. */
function skipField(r: Reader, tag: number): boolean {
  switch (tag & 7) {
    case 0:
      r.uint64();
      return true;
    case 1:
      r.skip(8);
      return true;
    case 2: {
      const len = r.uint32();
      r.skip(len);
      return true;
    }
    case 5:
      r.skip(4);
      return true;
    default:
      return false;
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
