import { type HeaderCodec, uint32Size } from '@tsgroups/core';

/** The kinds of STATE_TRANSFER messages. */
export const StateMsg = {
  /** requester -> provider; value: the requester's timeout (ms, 0: none); payload: its digest. */
  REQ: 1,
  /** provider -> requester; value: the window (chunks unacked at most); payload: the snapshot's digest. */
  BEGIN: 2,
  /** provider -> requester; payload: a piece of the state. */
  CHUNK: 3,
  /** provider -> requester: the state is complete. */
  END: 4,
  /** provider -> requester; payload: JSON `{ code, message }`. */
  ERR: 5,
  /** requester -> provider; value: chunks taken so far. */
  ACK: 6,
  /** requester -> provider: give up (timeout, abort, setState failed). */
  CANCEL: 7,
} as const;

/** STATE_TRANSFER's header: the kind, the transfer (numbered by its requester) and a number. */
export interface StateHeader {
  type: number;
  /** The requester's number of the transfer. */
  transfer: number;
  value: number;
}

/** Three varints, in this order (the header is on every chunk: no tags, counted size). */
export const stateHeaderCodec: HeaderCodec<StateHeader> = {
  encode(h, w) {
    return w.uint32(h.type).uint32(h.transfer).uint32(h.value);
  },
  decode(r, length) {
    const end = r.pos + length;
    const h: StateHeader = { type: r.uint32(), transfer: r.uint32(), value: r.uint32() };
    if (r.pos !== end) throw new RangeError(`STATE_TRANSFER header: ${length} bytes, read ${r.pos - (end - length)}`);
    return h;
  },
  size: (h) => uint32Size(h.type) + uint32Size(h.transfer) + uint32Size(h.value),
};
