// Exact sizes: every size function agrees byte for byte with what the encoder writes, so the
// bundler's arithmetic (envelope + msg.size(sender) per message) is the datagram's length.
import {
  Address,
  Flag,
  HeaderRegistry,
  Message,
  Writer,
  datagramEnvelopeSize,
  datagramSize,
  decodeDatagram,
  delimitedSize,
  encodeDatagram,
  int32Size,
  measureHeader,
  tagSize,
  uint32Size,
  utf8Encode,
  utf8Size,
  varintSize,
  type HeaderCodec,
  seededRandom,
} from '@tsgroups/core';
import { blobCodec, markerCodec, seqCodec, MARKER, type BlobHeader, type SeqHeader } from './helpers/wire.js';


function written(fn: (w: Writer) => void): number {
  const w = Writer.create();
  fn(w);
  return w.finish().length;
}

/** seqCodec with a counted size (the helpers' codecs have none: those are measured). */
const sizedSeqCodec: HeaderCodec<SeqHeader> = {
  encode: seqCodec.encode,
  decode: seqCodec.decode,
  size: (h) => (h.seqno !== 0 ? 1 + uint32Size(h.seqno) : 0) + (h.tag !== '' ? 1 + delimitedSize(utf8Size(h.tag)) : 0),
};

const SIZED_SEQ = 1300;
const BLOB = 1301;
const MARK = 1302;
const BIG_ID = 40_000; // a header id that takes 3 bytes as a varint
HeaderRegistry.register(SIZED_SEQ, 'TEST_SIZES_SEQ', sizedSeqCodec);
HeaderRegistry.register(BLOB, 'TEST_SIZES_BLOB', blobCodec);
HeaderRegistry.register(MARK, 'TEST_SIZES_MARK', markerCodec);
HeaderRegistry.register(BIG_ID, 'TEST_SIZES_BIG_ID', blobCodec);

describe('varint and field sizes', () => {
  const boundaries = [0, 1, 127, 128, 16_383, 16_384, 2_097_151, 2_097_152, 268_435_455, 268_435_456, 2 ** 32 - 1];

  test('varintSize matches Writer.uint32 at every length boundary', () => {
    for (const v of boundaries) expect([v, varintSize(v)]).toEqual([v, written((w) => w.uint32(v))]);
  });

  test('varintSize matches Writer.uint64 up to 2^53', () => {
    const values = [2 ** 32, 2 ** 35 - 1, 2 ** 35, 2 ** 42 - 1, 2 ** 42, 2 ** 49 - 1, 2 ** 49, 2 ** 53 - 1];
    const rnd = seededRandom(7);
    for (let i = 0; i < 2000; i++) values.push(Math.floor(rnd() * 2 ** (1 + Math.floor(rnd() * 53))));
    for (const v of values) expect([v, varintSize(v)]).toEqual([v, written((w) => w.uint64(v))]);
  });

  test('uint32Size and int32Size follow the Writer for negative and oversized input', () => {
    for (const v of [-1, -128, -(2 ** 31), 2 ** 31, 2 ** 32 + 5]) {
      expect([v, uint32Size(v)]).toEqual([v, written((w) => w.uint32(v))]);
      expect([v, int32Size(v)]).toEqual([v, written((w) => w.int32(v))]);
    }
    for (const v of boundaries.filter((b) => b < 2 ** 31)) expect(int32Size(v)).toBe(written((w) => w.int32(v)));
  });

  test('delimitedSize and tagSize', () => {
    for (const n of [0, 1, 127, 128, 16_384, 70_000]) expect(delimitedSize(n)).toBe(written((w) => w.bytes(new Uint8Array(n))));
    expect(tagSize(15)).toBe(1);
    expect(tagSize(16)).toBe(2);
  });

  test('utf8Size counts what Writer.string writes, surrogate pairs and lone surrogates included', () => {
    const rnd = seededRandom(11);
    const pieces = ['a', 'é', '€', '😀', '\ud800', '\udc00', 'z\ud83d', '\u07ff', '\u0800', '\uffff'];
    for (let i = 0; i < 2000; i++) {
      let s = '';
      const n = Math.floor(rnd() * 60);
      for (let k = 0; k < n; k++) s += pieces[Math.floor(rnd() * pieces.length)];
      expect([s, 1 + delimitedSize(utf8Size(s))]).toEqual([s, written((w) => w.uint32(10).string(s))]);
    }
  });
});

describe('header sizes', () => {
  test('measureHeader is the length the codec encodes', () => {
    const blob: BlobHeader = { kind: 300, data: new Uint8Array(200), stamp: 1.5 };
    expect(measureHeader(blobCodec, blob)).toBe(written((w) => blobCodec.encode(blob, w)));
    expect(measureHeader(markerCodec, MARKER)).toBe(0);
  });

  test('HeaderRegistry.sizeOf uses the codec size() when there is one, and measures otherwise', () => {
    let calls = 0;
    const counted: HeaderCodec<SeqHeader> = { ...sizedSeqCodec, size: (h) => (calls++, sizedSeqCodec.size!(h)) };
    HeaderRegistry.register(1310, 'TEST_SIZES_COUNTED', counted);
    const h: SeqHeader = { seqno: 99_999, tag: 'héllo' };
    expect(HeaderRegistry.sizeOf(1310, h)).toBe(written((w) => seqCodec.encode(h, w)));
    expect(calls).toBe(1);
    const b: BlobHeader = { kind: 1, data: new Uint8Array(5000), stamp: 0 };
    expect(HeaderRegistry.sizeOf(BLOB, b)).toBe(written((w) => blobCodec.encode(b, w)));
  });

  test('the size of a header whose protocol registered no codec is an ERR_PROTOCOL_REGISTRY error', () => {
    expect(() => HeaderRegistry.sizeOf(1399, {})).toThrow(expect.objectContaining({ code: 'ERR_PROTOCOL_REGISTRY' }));
    const m = new Message(null, 'x').putHeader(1399, {});
    expect(() => m.size()).toThrow(expect.objectContaining({ code: 'ERR_PROTOCOL_REGISTRY' }));
  });
});

describe('Message.size() and the datagram envelope', () => {
  const sender = Address.random();

  test('an empty message from its sender takes 2 bytes (tag and a zero length)', () => {
    const m = new Message(null).setSrc(sender);
    expect(m.size()).toBe(2);
    expect(encodeDatagram(utf8Encode('c'), sender, null, [m]).length).toBe(datagramEnvelopeSize(1, false) + 2);
  });

  test('a source other than the datagram sender travels in the message: 18 bytes more', () => {
    const other = Address.random();
    const m = new Message(null, new Uint8Array(10)).setSrc(other);
    expect(m.size(sender) - m.size(other)).toBe(18);
    expect(m.size()).toBe(m.size(other));
    const cluster = utf8Encode('c');
    expect(encodeDatagram(cluster, sender, null, [m]).length).toBe(datagramEnvelopeSize(1, false) + m.size(sender));
  });

  test('transient flags (DONT_LOOPBACK) are not sent and not counted', () => {
    const m = new Message(null).setSrc(sender).setFlag(Flag.DONT_LOOPBACK);
    expect(m.size()).toBe(2);
    m.setFlag(Flag.OOB);
    expect(encodeDatagram(utf8Encode('c'), sender, null, [m]).length).toBe(datagramEnvelopeSize(1, false) + m.size());
  });

  test('a codec whose size() is wrong still yields a datagram that decodes intact (only its length differs from the computed one)', () => {
    const lying: HeaderCodec<BlobHeader> = { encode: blobCodec.encode, decode: blobCodec.decode, size: (h) => measureHeader(blobCodec, h) - 3 };
    HeaderRegistry.register(1320, 'TEST_SIZES_LYING', lying);
    const cluster = utf8Encode('c');
    const msgs = [0, 1, 200, 20_000].map((n) =>
      new Message(null, new Uint8Array(n).fill(5)).setSrc(sender).putHeader(1320, { kind: n, data: new Uint8Array(n % 300), stamp: 0 }),
    );
    const data = encodeDatagram(cluster, sender, null, msgs);
    expect(data.length).toBe(datagramSize(cluster, sender, null, msgs) + 3 * msgs.length);
    const res = decodeDatagram(data, cluster);
    if (typeof res === 'string') throw new Error(`dropped: ${res}`);
    expect(res.batch.toArray().map((m) => [m.getLength(), m.getHeader<BlobHeader>(1320)!.kind])).toEqual([
      [0, 0],
      [1, 1],
      [200, 200],
      [20_000, 20_000],
    ]);
  });

  test('property: for random messages and envelopes, the computed size is the encoded length', () => {
    const rnd = seededRandom(2024);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
    const others = [Address.random(), Address.random()];
    const lengths = [0, 1, 100, 113, 114, 127, 128, 129, 16_250, 16_383, 16_384, 16_400, 60_000, 70_000];
    const clusters = ['c', 'a-cluster', 'ünïcødé-😀', 'x'.repeat(127), 'y'.repeat(128), 'z'.repeat(300)];
    const flagSets = [0, Flag.OOB, Flag.OOB | Flag.DONT_BUNDLE, Flag.DONT_LOOPBACK, Flag.NO_FC | Flag.RSVP, 0xffff];
    const randomMessage = (): Message => {
      const len = rnd() < 0.5 ? pick(lengths) : Math.floor(rnd() * 3000);
      const m = new Message(rnd() < 0.5 ? null : Address.random(), new Uint8Array(len));
      m.setSrc(rnd() < 0.8 ? sender : rnd() < 0.5 ? pick(others) : null);
      m.flags = pick(flagSets);
      const headers = Math.floor(rnd() * 4);
      for (let h = 0; h < headers; h++) {
        switch (Math.floor(rnd() * 4)) {
          case 0:
            m.putHeader(SIZED_SEQ, { seqno: Math.floor(rnd() * 2 ** 32), tag: rnd() < 0.5 ? '' : 'é😀'.repeat(Math.floor(rnd() * 80)) });
            break;
          case 1:
            m.putHeader(BLOB, { kind: Math.floor(rnd() * 1000), data: new Uint8Array(pick([0, 1, 127, 128, 5000, 20_000])), stamp: rnd() < 0.5 ? 0 : rnd() });
            break;
          case 2:
            m.putHeader(MARK, MARKER);
            break;
          default:
            m.putHeader(BIG_ID, { kind: 0, data: new Uint8Array(Math.floor(rnd() * 300)), stamp: 0 });
        }
      }
      return m;
    };
    for (let i = 0; i < 1500; i++) {
      const cluster = utf8Encode(pick(clusters));
      const dest = rnd() < 0.5 ? null : Address.random();
      const msgs = Array.from({ length: 1 + Math.floor(rnd() * 6) }, randomMessage);
      const data = encodeDatagram(cluster, sender, dest, msgs);
      let sum = datagramEnvelopeSize(cluster.length, dest !== null);
      for (const m of msgs) sum += m.size(sender);
      expect({ i, size: sum }).toEqual({ i, size: data.length });
      expect(datagramSize(cluster, sender, dest, msgs)).toBe(data.length);
      // One message alone: its size plus the envelope.
      const one = msgs[0]!;
      expect(encodeDatagram(cluster, sender, dest, [one]).length).toBe(datagramEnvelopeSize(cluster.length, dest !== null) + one.size(sender));
    }
  });
});
