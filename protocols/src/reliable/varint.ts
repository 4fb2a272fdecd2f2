import { type Reader, varintSize, type Writer } from '@tsgroups/core';

// uint64 varints as plain numbers, for the hand-written header codecs of the reliable protocols:
// protobufjs' own uint64 support returns a Long object per value (an allocation per message).

/** Reads a varint of up to 64 bits as a number (exact up to 2^53). */
export function readVarint(r: Reader): number {
  const buf = r.buf;
  let pos = r.pos;
  let result = 0;
  let mul = 1;
  for (let i = 0; i < 10; i++) {
    if (pos >= r.len) throw new RangeError('index out of range');
    const b = buf[pos++]!;
    result += (b & 0x7f) * mul;
    if (b < 0x80) {
      r.pos = pos;
      return result;
    }
    mul *= 128;
  }
  throw new RangeError('invalid varint');
}

/** Writes a uint64 varint; below 2^32 as uint32 (the same bytes, without a LongBits per call). */
export function writeVarint(w: Writer, v: number): void {
  if (v <= 0xffffffff) w.uint32(v);
  else w.uint64(v);
}

/** Writes a repeated uint64 field (`tag`: field number << 3 | 2) as one packed run; nothing if empty. */
export function writePackedVarints(w: Writer, tag: number, values: readonly number[] | null): void {
  if (values === null || values.length === 0) return;
  w.uint32(tag).fork();
  for (let i = 0; i < values.length; i++) writeVarint(w, values[i]!);
  w.ldelim();
}

/** The bytes {@link writePackedVarints} writes for `values` with a one-byte tag (0 if empty). */
export function packedVarintsSize(values: readonly number[] | null): number {
  if (values === null || values.length === 0) return 0;
  let n = 0;
  for (let i = 0; i < values.length; i++) n += varintSize(values[i]!);
  return 1 + varintSize(n) + n;
}

/**
 * Reads one occurrence of a repeated uint64 field into `into` (created if null): packed (wire
 * type 2) or a single value (wire type 0). Returns the list, or undefined for another wire type
 * (the caller skips the field).
 */
export function readRepeatedVarints(r: Reader, wireType: number, end: number, into: number[] | null): number[] | undefined {
  if (wireType === 2) {
    const e = r.uint32() + r.pos;
    if (e > end) throw new RangeError('index out of range');
    const list = into ?? [];
    while (r.pos < e) list.push(readVarint(r));
    return list;
  }
  if (wireType === 0) {
    const list = into ?? [];
    list.push(readVarint(r));
    return list;
  }
  return undefined;
}
