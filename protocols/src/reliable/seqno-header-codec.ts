import { type HeaderCodec, type Reader, type Writer, delimitedSize, int32Size, uint32Size, varintSize } from '@tsgroups/core';
import { packedVarintsSize, readRepeatedVarints, readVarint, writePackedVarints, writeVarint } from './varint.js';

/** What the reliable protocols' headers have in common (the rest is one extra field). */
export interface SeqnoHeaderFields {
  type: number;
  seqno: number;
  /** A list of seqnos (the ones a retransmission request asks for), or null. */
  missing: number[] | null;
}

/** How the extra field of a {@link SeqnoHeaderCodec} is coded; its "absent" value is not written. */
export interface ExtraFieldCoding<X> {
  /** Its protobuf wire type: 0 (varint) or 2 (length-delimited). */
  readonly wireType: 0 | 2;
  /** The value when the field is absent (proto3 default: not written, read when missing). */
  readonly absent: X;
  /** Bytes of the field's value, tag not included (0 when absent). */
  size(value: X): number;
  /** Writes tag and value (nothing when absent). */
  write(w: Writer, tag: number, value: X): void;
  /** Reads a value of wire type `wireType`; undefined: another wire type (the caller skips it). */
  read(r: Reader, wireType: number): X | undefined;
}

/** A `uint32` extra field, e.g. UNICAST3's `conn_id`. */
export const UINT32_FIELD: ExtraFieldCoding<number> = {
  wireType: 0,
  absent: 0,
  size: (v) => (v === 0 ? 0 : uint32Size(v)),
  write(w, tag, v) {
    if (v !== 0) w.uint32(tag).uint32(v);
  },
  read: (r, wt) => (wt === 0 ? r.uint32() : undefined),
};

/** A `bytes` extra field, e.g. NAKACK2's `sender` (empty reads as null). */
export const BYTES_FIELD: ExtraFieldCoding<Uint8Array | null> = {
  wireType: 2,
  absent: null,
  size: (v) => (v === null || v.length === 0 ? 0 : delimitedSize(v.length)),
  write(w, tag, v) {
    if (v !== null && v.length > 0) w.uint32(tag).bytes(v);
  },
  read(r, wt) {
    if (wt !== 2) return undefined;
    const b = r.bytes();
    return b.length > 0 ? b : null;
  },
};

export interface SeqnoHeaderLayout<H, X> {
  /** Field number of the packed list of seqnos (`repeated uint64`), below 16. */
  missingField: number;
  /** Field number of the extra field, below 16. */
  extraField: number;
  extra: ExtraFieldCoding<X>;
  getExtra(h: H): X;
  create(type: number, seqno: number, missing: number[] | null, extra: X): H;
}

/**
 * The hand-written codec of the headers shaped "type + seqno + packed seqno list + one extra
 * field" (NAKACK2's `NakAckHeader`, UNICAST3's `UnicastHeader` in headers.proto): field 1 `type`
 * (int32), field 2 `seqno` (uint64), and the list and the extra field under the numbers the
 * layout gives. It writes the bytes the code generated from headers.proto writes (fields in
 * number order, defaults left out, the list packed), and reads either form of the list; uint64
 * seqnos stay numbers (protobufjs' generated decoder makes a Long object of each, an allocation
 * per message). `size` counts exactly what `encode` writes, without encoding.
 */
export class SeqnoHeaderCodec<H extends SeqnoHeaderFields, X> implements HeaderCodec<H> {
  private readonly missingTag: number;
  private readonly extraTag: number;
  private readonly missingFirst: boolean;

  constructor(private readonly layout: SeqnoHeaderLayout<H, X>) {
    const { missingField, extraField } = layout;
    if (missingField <= 2 || extraField <= 2 || missingField === extraField || missingField >= 16 || extraField >= 16) {
      throw new RangeError(`bad seqno header layout: list field ${missingField}, extra field ${extraField}`);
    }
    this.missingTag = (missingField << 3) | 2;
    this.extraTag = (extraField << 3) | layout.extra.wireType;
    this.missingFirst = missingField < extraField;
  }

  encode(h: H, w: Writer): unknown {
    if (h.type !== 0) w.uint32(8).int32(h.type);
    if (h.seqno !== 0) writeVarint(w.uint32(16), h.seqno);
    const layout = this.layout;
    if (this.missingFirst) {
      writePackedVarints(w, this.missingTag, h.missing);
      layout.extra.write(w, this.extraTag, layout.getExtra(h));
    } else {
      layout.extra.write(w, this.extraTag, layout.getExtra(h));
      writePackedVarints(w, this.missingTag, h.missing);
    }
    return w;
  }

  size(h: H): number {
    let n = h.type !== 0 ? 1 + int32Size(h.type) : 0;
    if (h.seqno !== 0) n += 1 + varintSize(h.seqno);
    n += packedVarintsSize(h.missing);
    const extra = this.layout.extra.size(this.layout.getExtra(h));
    return extra === 0 ? n : n + 1 + extra;
  }

  decode(r: Reader, length: number): H {
    const end = r.pos + length;
    if (end > r.len) throw new RangeError('index out of range');
    const layout = this.layout;
    let type = 0;
    let seqno = 0;
    let missing: number[] | null = null;
    let extra = layout.extra.absent;
    while (r.pos < end) {
      const tag = r.uint32();
      const wt = tag & 7;
      const field = tag >>> 3;
      if (field === 1) {
        if (wt === 0) {
          type = r.int32();
          continue;
        }
      } else if (field === 2) {
        if (wt === 0) {
          seqno = readVarint(r);
          continue;
        }
      } else if (field === layout.missingField) {
        const list = readRepeatedVarints(r, wt, end, missing);
        if (list !== undefined) {
          missing = list;
          continue;
        }
      } else if (field === layout.extraField) {
        const v = layout.extra.read(r, wt);
        if (v !== undefined) {
          extra = v;
          continue;
        }
      }
      r.skipType(wt);
    }
    if (r.pos !== end) throw new RangeError('header overran its length');
    return layout.create(type, seqno, missing, extra);
  }
}
