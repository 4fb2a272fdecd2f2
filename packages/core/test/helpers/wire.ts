// Header codecs for the wire tests, written by hand on protobufjs' Reader and Writer in the shape
// protobufjs' generated static code has (`encode(msg, writer)`, `decode(reader, length)`).
import { Reader, Writer, type HeaderCodec } from '@tsgroups/core';

/** message SeqHeader { uint32 seqno = 1; string tag = 2; } */
export interface SeqHeader {
  seqno: number;
  tag: string;
}

export const seqCodec: HeaderCodec<SeqHeader> = {
  encode(h: SeqHeader, w: Writer): Writer {
    if (h.seqno !== 0) w.uint32((1 << 3) | 0).uint32(h.seqno);
    if (h.tag !== '') w.uint32((2 << 3) | 2).string(h.tag);
    return w;
  },
  decode(r: Reader, length: number): SeqHeader {
    const end = r.pos + length;
    const h: SeqHeader = { seqno: 0, tag: '' };
    while (r.pos < end) {
      const t = r.uint32();
      switch (t >>> 3) {
        case 1:
          h.seqno = r.uint32();
          break;
        case 2:
          h.tag = r.string();
          break;
        default:
          r.skipType(t & 7);
      }
    }
    return h;
  },
};

/** message BlobHeader { uint32 kind = 1; bytes data = 2; double stamp = 3; } */
export interface BlobHeader {
  kind: number;
  data: Uint8Array;
  stamp: number;
}

export const blobCodec: HeaderCodec<BlobHeader> = {
  encode(h: BlobHeader, w: Writer): Writer {
    if (h.kind !== 0) w.uint32((1 << 3) | 0).uint32(h.kind);
    if (h.data.length > 0) w.uint32((2 << 3) | 2).bytes(h.data);
    if (h.stamp !== 0) w.uint32((3 << 3) | 1).double(h.stamp);
    return w;
  },
  decode(r: Reader, length: number): BlobHeader {
    const end = r.pos + length;
    const h: BlobHeader = { kind: 0, data: new Uint8Array(0), stamp: 0 };
    while (r.pos < end) {
      const t = r.uint32();
      switch (t >>> 3) {
        case 1:
          h.kind = r.uint32();
          break;
        case 2:
          // Copy: a header may outlive the datagram buffer.
          h.data = Uint8Array.prototype.slice.call(r.bytes());
          break;
        case 3:
          h.stamp = r.double();
          break;
        default:
          r.skipType(t & 7);
      }
    }
    return h;
  },
};

/** An empty message: `message Marker {}`. */
export const MARKER = Object.freeze({ marker: true });
export const markerCodec: HeaderCodec<typeof MARKER> = {
  encode(_h: typeof MARKER, w: Writer): Writer {
    return w;
  },
  decode(r: Reader, length: number): typeof MARKER {
    r.skip(length);
    return MARKER;
  },
};

/** Encodes one header with its codec into standalone bytes (as protobufjs' `Foo.encode(h).finish()`). */
export function encodeHeader<H>(codec: HeaderCodec<H>, h: H): Uint8Array {
  const w = Writer.create();
  codec.encode(h, w);
  return w.finish();
}

/** Decodes standalone header bytes with a codec. */
export function decodeHeader<H>(codec: HeaderCodec<H>, bytes: Uint8Array): H {
  const r = Reader.create(bytes);
  return codec.decode(r, bytes.length);
}
