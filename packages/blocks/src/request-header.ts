import { type HeaderCodec, type Reader, uint32Size, type Writer } from '@tsgroups/core';

/**
 * The header id of the dispatchers' requests and responses (reserved for them among tsgroups'
 * ids, like JGroups' RequestCorrelator header).
 */
export const REQUEST_HEADER_ID = 30;

export const RequestType = {
  /** A request; the receiver runs its handler. */
  REQ: 1,
  /** A response with the handler's value. */
  RSP: 2,
  /** A response with the handler's error. */
  EXC: 3,
} as const;

export interface RequestHeader {
  type: number;
  /** The caller's id of the request; a response carries it back. */
  id: number;
  /** Which dispatcher on the channel (its `id` option, 0 by default). */
  corrId: number;
  /** REQ: whether the caller waits for a response. */
  rspExpected: boolean;
}

/** Protobuf wire format: type = 1, id = 2, corrId = 3 (omitted when 0), rspExpected = 4 (omitted when false). */
export const requestHeaderCodec: HeaderCodec<RequestHeader> = {
  encode(h: RequestHeader, w: Writer): Writer {
    w.uint32(8).uint32(h.type).uint32(16).uint32(h.id);
    if (h.corrId !== 0) w.uint32(24).uint32(h.corrId);
    if (h.rspExpected) w.uint32(32).bool(true);
    return w;
  },
  decode(r: Reader, length: number): RequestHeader {
    const end = r.pos + length;
    const h: RequestHeader = { type: 0, id: 0, corrId: 0, rspExpected: false };
    while (r.pos < end) {
      const tag = r.uint32();
      switch (tag >>> 3) {
        case 1:
          h.type = r.uint32();
          break;
        case 2:
          h.id = r.uint32();
          break;
        case 3:
          h.corrId = r.uint32();
          break;
        case 4:
          h.rspExpected = r.bool();
          break;
        default:
          r.skipType(tag & 7);
      }
    }
    return h;
  },
  size(h: RequestHeader): number {
    return 2 + uint32Size(h.type) + uint32Size(h.id) + (h.corrId !== 0 ? 1 + uint32Size(h.corrId) : 0) + (h.rspExpected ? 2 : 0);
  },
};
