import { Address, type HeaderCodec, type Reader, type Writer, int32Size, varintSize } from '@tsgroups/core';
import { readVarint, writeVarint } from '../reliable/varint.js';

/** What a SEQUENCER message is (the `type` of {@link SequencerHeader}). */
export const SeqType = {
  /** member -> sequencer (unicast): multicast this in total order; `seqno` is the sender's own counter. */
  FORWARD: 1,
  /** sequencer -> all (multicast): the message `seqno` of `sender`, in place `gseq` of the total order. `flag`: a replay at a failover. */
  DATA: 2,
  /** member -> new coordinator (unicast) at every view: I delivered up to `gseq` (`flag`: I am synced to the order), in view `seqno`. */
  REPORT: 3,
  /** new sequencer -> a member that delivered more (unicast): send me your logged messages from `gseq` on. */
  FETCH: 4,
  /** member -> new sequencer (unicast): one logged message, place `gseq`, of `sender`'s `seqno`. */
  XFER: 5,
  /** member -> new sequencer (unicast): the XFERs are over; the last one sent was `gseq`. */
  XFER_DONE: 6,
  /** sequencer -> all (multicast): the order continues after `gseq` (end of a failover, or a merge). */
  START: 7,
} as const;

/**
 * The SEQUENCER header. One shape for all types; the fields a type does not use are 0 / null /
 * false and are not written. Never mutated once attached.
 */
export interface SequencerHeader {
  type: number;
  /** The place in the total order (DATA, XFER), or a member's highest delivered place (REPORT ...). */
  gseq: number;
  /** The original sender (DATA, XFER). */
  sender: Address | null;
  /** The original sender's own counter (FORWARD, DATA, XFER), or the view id (REPORT). */
  seqno: number;
  /** DATA: a replay; REPORT: the reporter is synced to the order. */
  flag: boolean;
}

/** The senders decoded last: a cluster has few, and a match saves building the address's key. */
const recent: Address[] = [];
const RECENT = 8;

/** The address in `buf[pos, pos + 16)`, without a copy or a key string when it is a recent one. */
function addressAt(buf: Uint8Array, pos: number): Address {
  outer: for (let i = 0; i < recent.length; i++) {
    const b = recent[i]!.bytes;
    for (let j = 0; j < 16; j++) if (b[j] !== buf[pos + j]) continue outer;
    return recent[i]!;
  }
  const a = Address.fromBytes(buf, pos);
  if (recent.length >= RECENT) recent.pop();
  recent.unshift(a);
  return a;
}

/**
 * The wire form, protobuf-compatible: 1 type (int32), 2 gseq (uint64), 3 sender (16 bytes),
 * 4 seqno (uint64), 5 flag (bool); defaults are left out. Hand-written so that uint64s stay
 * numbers and `size` counts without encoding (this header rides on every totally ordered message).
 */
export const sequencerHeaderCodec: HeaderCodec<SequencerHeader> = {
  encode(h, w: Writer) {
    if (h.type !== 0) w.uint32(8).int32(h.type);
    if (h.gseq !== 0) writeVarint(w.uint32(16), h.gseq);
    if (h.sender !== null) w.uint32(26).bytes(h.sender.bytes);
    if (h.seqno !== 0) writeVarint(w.uint32(32), h.seqno);
    if (h.flag) w.uint32(40).bool(true);
    return w;
  },
  size(h) {
    let n = h.type !== 0 ? 1 + int32Size(h.type) : 0;
    if (h.gseq !== 0) n += 1 + varintSize(h.gseq);
    if (h.sender !== null) n += 18;
    if (h.seqno !== 0) n += 1 + varintSize(h.seqno);
    if (h.flag) n += 2;
    return n;
  },
  decode(r: Reader, length: number) {
    const end = r.pos + length;
    if (end > r.len) throw new RangeError('index out of range');
    const h: SequencerHeader = { type: 0, gseq: 0, sender: null, seqno: 0, flag: false };
    while (r.pos < end) {
      const tag = r.uint32();
      switch (tag) {
        case 8:
          h.type = r.int32();
          break;
        case 16:
          h.gseq = readVarint(r);
          break;
        case 26: {
          const len = r.uint32();
          if (len !== 16 || r.pos + 16 > end) throw new RangeError(`a SEQUENCER sender has 16 bytes, got ${len}`);
          h.sender = addressAt(r.buf, r.pos);
          r.pos += 16;
          break;
        }
        case 32:
          h.seqno = readVarint(r);
          break;
        case 40:
          h.flag = r.bool();
          break;
        default:
          r.skipType(tag & 7);
      }
    }
    if (r.pos !== end) throw new RangeError('header overran its length');
    return h;
  },
};
