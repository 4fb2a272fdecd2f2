import type { Reader, Writer } from '@tsgroups/core';

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
