// Exact protobuf encoding sizes, for header codecs' `size()` and the datagram size arithmetic.
// Each function returns the number of bytes protobufjs' Writer writes for the same call.

/** Bytes of an unsigned varint (`Writer.uint32`, or `uint64` of a non-negative number up to 2^53). */
export function varintSize(value: number): number {
  // Small enough for V8 to inline on the hot path; values above 32 bits take the slow path.
  return value < 0x80 ? 1 : value < 0x4000 ? 2 : value < 0x200000 ? 3 : value < 0x10000000 ? 4 : value <= 0xffffffff ? 5 : varint64Size(value);
}

function varint64Size(value: number): number {
  // Above 32 bits: 7 payload bits per byte (division, as bit operators truncate to 32 bits).
  let n = 5;
  let v = Math.floor(value / 0x800000000); // 2^35
  while (v > 0) {
    n++;
    v = Math.floor(v / 128);
  }
  return n;
}

/** Bytes of `Writer.uint32(value)`: the value is taken modulo 2^32 first. */
export function uint32Size(value: number): number {
  return varintSize(value >>> 0);
}

/** Bytes of `Writer.int32(value)`: a negative value takes 10 bytes (sign-extended to 64 bits). */
export function int32Size(value: number): number {
  const v = value | 0;
  return v < 0 ? 10 : varintSize(v);
}

/** Bytes of a length-delimited field body of `length` bytes: the length varint plus the bytes. */
export function delimitedSize(length: number): number {
  return varintSize(length) + length;
}

/** Bytes of a tag (`(field << 3) | wireType`) as a varint. */
export function tagSize(field: number): number {
  return varintSize(field * 8);
}

/** Bytes of `text` as UTF-8 (what `Writer.string` writes after the length), without encoding it. */
export function utf8Size(text: string): number {
  let n = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length) {
      const d = text.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        n += 4; // a surrogate pair: one 4-byte sequence
        i++;
      } else n += 3;
    } else n += 3; // including a lone surrogate (written as U+FFFD, 3 bytes)
  }
  return n;
}
