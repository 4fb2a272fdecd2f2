import {
  Address,
  DropReason,
  Flag,
  HeaderRegistry,
  Message,
  MessageBatch,
  TRANSIENT_FLAGS,
  TsgroupsError,
  WIRE_MAGIC,
  WIRE_VERSION,
  Writer,
  decodeDatagram,
  encodeDatagram,
  utf8Encode,
  type DecodedDatagram,
} from '@tsgroups/core';
import { tsgroups } from '../src/generated/wire.js';
import {
  MARKER,
  blobCodec,
  decodeHeader,
  encodeHeader,
  markerCodec,
  seqCodec,
  type BlobHeader,
  type SeqHeader,
} from './helpers/wire.js';

const G = tsgroups.wire;

const SEQ = 1100;
const BLOB = 1101;
const MARK = 1102;
const UNREGISTERED = 1199;
HeaderRegistry.register(SEQ, 'TEST_WIRE_SEQ', seqCodec);
HeaderRegistry.register(BLOB, 'TEST_WIRE_BLOB', blobCodec);
HeaderRegistry.register(MARK, 'TEST_WIRE_MARK', markerCodec);

const CLUSTER = utf8Encode('wire-test-cluster');
const sender = Address.random();
const dest = Address.random();
const other = Address.random();

function decoded(buf: Uint8Array, cluster: Uint8Array | null = CLUSTER): DecodedDatagram {
  const r = decodeDatagram(buf, cluster);
  if (typeof r === 'string') throw new Error(`datagram dropped: ${r}`);
  return r;
}

function bytesOf(m: Message): number[] {
  return Array.from(m.getPayload());
}

function headersOf(m: Message): Array<[number, unknown]> {
  const out: Array<[number, unknown]> = [];
  m.forEachHeader((id, h) => out.push([id, h]));
  return out;
}

/** A message with a bit of everything. */
function richMessage(i: number): Message {
  const payload = Uint8Array.from({ length: (i * 37) % 300 }, (_, k) => (k * 7 + i) & 0xff);
  const m = new Message(null, payload);
  if (i % 2 === 0) m.putHeader(SEQ, { seqno: i * 1000 + 1, tag: `t${i}-ü` } satisfies SeqHeader);
  if (i % 3 === 0) m.putHeader(BLOB, { kind: i, data: Uint8Array.of(i & 0xff, 1, 2), stamp: i + 0.5 } satisfies BlobHeader);
  if (i % 5 === 0) m.putHeader(MARK, MARKER);
  if (i % 4 === 1) m.setFlag(Flag.OOB);
  if (i % 7 === 2) m.setFlag(Flag.NO_FC, Flag.NO_RELIABILITY);
  if (i % 11 === 3) m.src = other;
  return m;
}

function expectSameMessage(got: Message, sent: Message, sentBy: Address): void {
  expect(bytesOf(got)).toEqual(bytesOf(sent));
  expect(got.flags).toBe(sent.flags & ~Flag.DONT_LOOPBACK);
  expect(got.src).toBe(sent.src ?? sentBy);
  expect(headersOf(got)).toEqual(headersOf(sent));
}

describe('round trips', () => {
  test('a single unicast message', () => {
    const m = new Message(dest, { hello: 'world' }).setFlag(Flag.OOB);
    m.putHeader(SEQ, { seqno: 42, tag: 'x' }).putHeader(BLOB, { kind: 7, data: Uint8Array.of(9, 8, 7), stamp: 1.25 });
    const dg = encodeDatagram(CLUSTER, sender, dest, [m]);
    const { batch, cluster } = decoded(dg);
    expect(Array.from(cluster)).toEqual(Array.from(CLUSTER));
    expect(batch).toBeInstanceOf(MessageBatch);
    expect(batch.sender).toBe(sender); // interned: the same object
    expect(batch.dest).toBe(dest);
    expect(batch.multicast).toBe(false);
    expect(batch.size()).toBe(1);
    const got = batch.toArray()[0]!;
    expect(got.dest).toBe(dest);
    expect(got.src).toBe(sender);
    expect(got.flags).toBe(Flag.OOB);
    expect(got.getObject()).toEqual({ hello: 'world' });
    expect(got.getHeader(SEQ)).toEqual({ seqno: 42, tag: 'x' });
    expect(got.getHeader<BlobHeader>(BLOB)!.kind).toBe(7);
    expect(Array.from(got.getHeader<BlobHeader>(BLOB)!.data)).toEqual([9, 8, 7]);
    expect(got.getHeader<BlobHeader>(BLOB)!.stamp).toBe(1.25);
    expect(headersOf(got).map(([id]) => id)).toEqual([SEQ, BLOB]);
  });

  test('a multicast message', () => {
    const m = new Message(null, 'to all');
    const { batch } = decoded(encodeDatagram(CLUSTER, sender, null, [m]));
    expect(batch.dest).toBeNull();
    expect(batch.multicast).toBe(true);
    const got = batch.toArray()[0]!;
    expect(got.dest).toBeNull();
    expect(got.getObject()).toBe('to all');
  });

  test('a bundle of many messages keeps order, payloads, flags, sources and headers', () => {
    const msgs = Array.from({ length: 300 }, (_, i) => richMessage(i));
    for (const d of [null, dest]) {
      const { batch } = decoded(encodeDatagram(CLUSTER, sender, d, msgs));
      expect(batch.size()).toBe(300);
      expect(batch.multicast).toBe(d === null);
      batch.toArray().forEach((got, i) => {
        expectSameMessage(got, msgs[i]!, sender);
        expect(got.dest).toBe(d);
      });
    }
  });

  test('start and count select a slice of the messages', () => {
    const msgs = Array.from({ length: 10 }, (_, i) => new Message(null, i));
    const { batch } = decoded(encodeDatagram(CLUSTER, sender, null, msgs, 3, 4));
    expect(batch.toArray().map((m) => m.getObject())).toEqual([3, 4, 5, 6]);
    const rest = decoded(encodeDatagram(CLUSTER, sender, null, msgs, 8)).batch;
    expect(rest.toArray().map((m) => m.getObject())).toEqual([8, 9]);
  });

  test('transient flags (DONT_LOOPBACK, IN_STATE) are not transmitted, the others are', () => {
    const all = Object.values(Flag).reduce((a, b) => a | b, 0);
    expect(TRANSIENT_FLAGS).toBe(Flag.DONT_LOOPBACK | Flag.IN_STATE);
    const m = new Message(null, 'f').setFlag(all);
    const only = new Message(null, 'g').setFlag(Flag.DONT_LOOPBACK, Flag.IN_STATE);
    const dg = encodeDatagram(CLUSTER, sender, null, [m, only]);
    const [got, gotOnly] = decoded(dg).batch.toArray();
    expect(got!.flags).toBe(all & ~TRANSIENT_FLAGS);
    expect(got!.isFlagSet(Flag.DONT_LOOPBACK)).toBe(false);
    expect(got!.isFlagSet(Flag.IN_STATE)).toBe(false);
    expect(got!.isFlagSet(Flag.RSVP | Flag.OOB)).toBe(true);
    expect(gotOnly!.flags).toBe(0);
    // The sender's message keeps its flag.
    expect(m.isFlagSet(Flag.DONT_LOOPBACK)).toBe(true);
    // On the wire: the flags field holds no transient bit, and is absent when nothing is left.
    const raw = G.Datagram.decode(dg);
    expect(raw.messages[0]!.flags).toBe(all & ~TRANSIENT_FLAGS);
    expect(raw.messages[1]!.flags).toBe(0);
    expect(Object.prototype.hasOwnProperty.call(raw.messages[1], 'flags')).toBe(false);
  });

  test('a DONT_LOOPBACK bit arriving from the wire is cleared', () => {
    const dg = G.Datagram.encode({
      magic: WIRE_MAGIC,
      version: WIRE_VERSION,
      cluster: CLUSTER,
      sender: sender.bytes,
      messages: [{ flags: Flag.DONT_LOOPBACK | Flag.OOB }],
    }).finish();
    expect(decoded(dg).batch.toArray()[0]!.flags).toBe(Flag.OOB);
  });

  test('a message source other than the sender is preserved; no source means the sender', () => {
    const relayed = new Message(null, 'relayed').setSrc(other);
    const own = new Message(null, 'own').setSrc(sender);
    const unset = new Message(null, 'unset');
    const dg = encodeDatagram(CLUSTER, sender, null, [relayed, own, unset]);
    const got = decoded(dg).batch.toArray();
    expect(got.map((m) => m.src)).toEqual([other, sender, sender]);
    expect(got[0]!.src).toBe(other);
    const raw = G.Datagram.decode(dg);
    expect(Array.from(raw.messages[0]!.src!)).toEqual(Array.from(other.bytes));
    expect(raw.messages[1]!.src!.length).toBe(0); // the sender's own address is not repeated
    expect(raw.messages[2]!.src!.length).toBe(0);
  });

  test('an empty payload', () => {
    const m = new Message(dest);
    const got = decoded(encodeDatagram(CLUSTER, sender, dest, [m, new Message(dest, new Uint8Array(0))])).batch.toArray();
    for (const g of got) {
      expect(g.hasPayload()).toBe(false);
      expect(g.getLength()).toBe(0);
    }
  });

  test('a payload view (offset, length) sends only the viewed bytes', () => {
    const big = Uint8Array.from({ length: 100 }, (_, i) => i);
    const m = new Message(null).setArray(big, 10, 5);
    const got = decoded(encodeDatagram(CLUSTER, sender, null, [m])).batch.toArray()[0]!;
    expect(bytesOf(got)).toEqual([10, 11, 12, 13, 14]);
  });

  test('decoded payloads are views on the datagram buffer, not copies', () => {
    const msgs = [new Message(null, Uint8Array.of(1, 2, 3, 4)), new Message(null, Uint8Array.of(5, 6, 7))];
    const dg = encodeDatagram(CLUSTER, sender, null, msgs);
    // As the transport hands it over (a Buffer), as a plain Uint8Array, and as a view inside a larger array.
    const plain = new Uint8Array(dg);
    const host = new Uint8Array(dg.length + 64).fill(0xee);
    host.set(dg, 32);
    const inner = host.subarray(32, 32 + dg.length);
    for (const buf of [dg, plain, inner]) {
      for (const [k, got] of decoded(buf).batch.toArray().entries()) {
        const arr = got.getArray();
        expect(arr.buffer).toBe(buf.buffer);
        const at = arr.byteOffset + got.getOffset() - buf.byteOffset; // position inside buf
        expect(at).toBeGreaterThanOrEqual(0);
        expect(at + got.getLength()).toBeLessThanOrEqual(buf.length);
        expect(Array.from(buf.subarray(at, at + got.getLength()))).toEqual(bytesOf(msgs[k]!));
        buf[at] = 0xaa; // the payload sees the datagram's bytes
        expect(got.getPayload()[0]).toBe(0xaa);
      }
    }
  });

  test('addresses decoded from a datagram do not alias its buffer', () => {
    const raw = Uint8Array.from({ length: 16 }, (_, i) => 0xc0 + i); // not interned yet
    const dg = G.Datagram.encode({
      magic: WIRE_MAGIC,
      version: WIRE_VERSION,
      cluster: CLUSTER,
      sender: raw,
      messages: [{ payload: Uint8Array.of(1) }],
    }).finish();
    const { batch } = decoded(dg);
    const text = batch.sender.toUUIDString();
    dg.fill(0);
    expect(batch.sender.toUUIDString()).toBe(text);
    expect(Address.fromBytes(raw)).toBe(batch.sender);
  });

  test('null as expected cluster accepts any cluster and reports it', () => {
    const dg = encodeDatagram(utf8Encode('another'), sender, null, [new Message(null, 1)]);
    expect(new TextDecoder().decode(decoded(dg, null).cluster)).toBe('another');
  });

  test('encoding a header without a registered codec throws', () => {
    const m = new Message(null, 'x').putHeader(UNREGISTERED, { any: 1 });
    expect(() => encodeDatagram(CLUSTER, sender, null, [m])).toThrow(String(UNREGISTERED));
  });
});

describe('HeaderRegistry', () => {
  test('looks up codecs and names by id', () => {
    expect(HeaderRegistry.get(SEQ)).toBe(seqCodec);
    expect(HeaderRegistry.nameOf(BLOB)).toBe('TEST_WIRE_BLOB');
    expect(HeaderRegistry.get(UNREGISTERED)).toBeUndefined();
    expect(new Message().putHeader(SEQ, {}).toString()).toContain('TEST_WIRE_SEQ');
  });

  test('refuses ids out of range and an id taken by another name', () => {
    const code = (fn: () => void): string | undefined => {
      try {
        fn();
      } catch (err) {
        return (err as TsgroupsError).code;
      }
      return undefined;
    };
    expect(code(() => HeaderRegistry.register(0, 'ZERO', seqCodec))).toBe('ERR_PROTOCOL_REGISTRY');
    expect(code(() => HeaderRegistry.register(65536, 'BIG', seqCodec))).toBe('ERR_PROTOCOL_REGISTRY');
    expect(code(() => HeaderRegistry.register(1.5, 'FRAC', seqCodec))).toBe('ERR_PROTOCOL_REGISTRY');
    expect(code(() => HeaderRegistry.register(SEQ, 'SOMEONE_ELSE', blobCodec))).toBe('ERR_PROTOCOL_REGISTRY');
    expect(HeaderRegistry.get(SEQ)).toBe(seqCodec);
    expect(code(() => HeaderRegistry.register(SEQ, 'TEST_WIRE_SEQ', seqCodec))).toBeUndefined(); // same name: fine
  });
});

describe('agreement with the code protobufjs generates from wire.proto', () => {
  test('the hand codec writes what the generated decoder reads', () => {
    const msgs = Array.from({ length: 40 }, (_, i) => richMessage(i));
    for (const d of [null, dest]) {
      const dg = encodeDatagram(CLUSTER, sender, d, msgs);
      const raw = G.Datagram.decode(dg);
      expect(raw.magic).toBe(WIRE_MAGIC);
      expect(raw.version).toBe(WIRE_VERSION);
      expect(Array.from(raw.cluster)).toEqual(Array.from(CLUSTER));
      expect(Array.from(raw.sender)).toEqual(Array.from(sender.bytes));
      expect(Array.from(raw.dest)).toEqual(d === null ? [] : Array.from(dest.bytes));
      expect(raw.$unknowns).toBeUndefined();
      expect(raw.messages).toHaveLength(msgs.length);
      raw.messages.forEach((rm, i) => {
        const m = msgs[i]!;
        expect(rm.flags ?? 0).toBe(m.flags & ~Flag.DONT_LOOPBACK);
        const src = rm.src ?? new Uint8Array(0);
        expect(Array.from(src)).toEqual(m.src !== null && m.src !== sender ? Array.from(m.src.bytes) : []);
        expect(Array.from(rm.payload ?? [])).toEqual(bytesOf(m));
        const expected = headersOf(m);
        expect(rm.headers ?? []).toHaveLength(expected.length);
        (rm.headers ?? []).forEach((he, k) => {
          const [id, h] = expected[k]!;
          expect(he.protocolId).toBe(id);
          const bytes = he.header ?? new Uint8Array(0);
          const codec = HeaderRegistry.get(id)!;
          expect(Array.from(bytes)).toEqual(Array.from(encodeHeader(codec, h)));
          expect(decodeHeader(codec, bytes)).toEqual(h);
        });
      });
    }
  });

  test('what the generated encoder writes decodes with decodeDatagram', () => {
    const seq: SeqHeader = { seqno: 77, tag: 'gen' };
    const blob: BlobHeader = { kind: 3, data: Uint8Array.of(4, 5), stamp: -2.5 };
    const dg = G.Datagram.encode({
      magic: WIRE_MAGIC,
      version: WIRE_VERSION,
      cluster: CLUSTER,
      sender: sender.bytes,
      dest: dest.bytes,
      messages: [
        {
          flags: Flag.OOB | Flag.NO_FC,
          headers: [
            { protocolId: SEQ, header: encodeHeader(seqCodec, seq) },
            { protocolId: BLOB, header: encodeHeader(blobCodec, blob) },
            { protocolId: MARK, header: new Uint8Array(0) }, // empty: the header field is left out
          ],
          payload: utf8Encode('generated'),
        },
        { src: other.bytes },
      ],
    }).finish();
    const { batch } = decoded(dg);
    expect(batch.sender).toBe(sender);
    expect(batch.dest).toBe(dest);
    const [m1, m2] = batch.toArray();
    expect(m1!.flags).toBe(Flag.OOB | Flag.NO_FC);
    expect(m1!.src).toBe(sender);
    expect(m1!.getHeader(SEQ)).toEqual(seq);
    expect(m1!.getHeader(BLOB)).toEqual(blob);
    expect(m1!.getHeader(MARK)).toBe(MARKER);
    expect(m1!.getString()).toBe('generated');
    expect(m2!.src).toBe(other);
    expect(m2!.hasPayload()).toBe(false);
    expect(m2!.numHeaders()).toBe(0);
  });

  test('unknown fields (a newer writer) are skipped at every level', () => {
    const unknownVarint = new Writer().uint32((15 << 3) | 0).uint64(123456789).finish();
    const unknownBytes = new Writer().uint32((14 << 3) | 2).bytes(Uint8Array.of(1, 2, 3)).finish();
    const unknownFixed = new Writer().uint32((13 << 3) | 1).fixed64(7).uint32((12 << 3) | 5).fixed32(9).finish();
    const dg = G.Datagram.encode({
      magic: WIRE_MAGIC,
      version: WIRE_VERSION,
      cluster: CLUSTER,
      sender: sender.bytes,
      messages: [
        {
          headers: [
            { protocolId: SEQ, header: encodeHeader(seqCodec, { seqno: 5, tag: '' }), $unknowns: [unknownFixed] },
          ],
          payload: Uint8Array.of(42),
          $unknowns: [unknownBytes, unknownVarint],
        },
      ],
      $unknowns: [unknownVarint, unknownBytes, unknownFixed],
    }).finish();
    const m = decoded(dg).batch.toArray()[0]!;
    expect(m.getHeader(SEQ)).toEqual({ seqno: 5, tag: '' });
    expect(bytesOf(m)).toEqual([42]);
  });

  test('a header entry with the header before the protocol id decodes', () => {
    const hdr = encodeHeader(seqCodec, { seqno: 9, tag: 'late id' });
    const w = new Writer();
    w.uint32((1 << 3) | 5).fixed32(WIRE_MAGIC);
    w.uint32((2 << 3) | 0).uint32(WIRE_VERSION);
    w.uint32((3 << 3) | 2).bytes(CLUSTER);
    w.uint32((4 << 3) | 2).bytes(sender.bytes);
    w.uint32((6 << 3) | 2).fork();
    w.uint32((3 << 3) | 2).fork();
    w.uint32((2 << 3) | 2).bytes(hdr); // header first
    w.uint32((1 << 3) | 0).uint32(SEQ); // then the id
    w.ldelim();
    w.ldelim();
    const m = decoded(w.finish()).batch.toArray()[0]!;
    expect(m.getHeader(SEQ)).toEqual({ seqno: 9, tag: 'late id' });
  });
});

describe('drop reasons', () => {
  const valid = (props: Partial<tsgroups.wire.Datagram.$Properties> = {}): Uint8Array =>
    G.Datagram.encode({
      magic: WIRE_MAGIC,
      version: WIRE_VERSION,
      cluster: CLUSTER,
      sender: sender.bytes,
      messages: [{ payload: Uint8Array.of(1, 2, 3), headers: [{ protocolId: SEQ, header: encodeHeader(seqCodec, { seqno: 1, tag: 'a' }) }] }],
      ...props,
    }).finish();

  test('the baseline datagram decodes', () => {
    expect(typeof decodeDatagram(valid(), CLUSTER)).toBe('object');
  });

  test('another cluster: cluster', () => {
    expect(decodeDatagram(valid(), utf8Encode('some-other-cluster'))).toBe(DropReason.CLUSTER);
    expect(decodeDatagram(valid({ cluster: utf8Encode('wire-test-clusteR') }), CLUSTER)).toBe('cluster');
    expect(decodeDatagram(valid({ cluster: utf8Encode('wire-test-cluster-2') }), CLUSTER)).toBe('cluster');
  });

  test('another version: version', () => {
    expect(decodeDatagram(valid({ version: WIRE_VERSION + 1 }), CLUSTER)).toBe(DropReason.VERSION);
    expect(decodeDatagram(valid({ version: 1000 }), null)).toBe('version');
  });

  test('no version at all: malformed', () => {
    expect(decodeDatagram(valid({ version: 0 }), CLUSTER)).toBe(DropReason.MALFORMED);
  });

  test('foreign bytes: not_tsgroups', () => {
    expect(decodeDatagram(utf8Encode('GET / HTTP/1.1\r\nHost: example.org\r\n\r\n'), CLUSTER)).toBe(DropReason.NOT_TSGROUPS);
    expect(decodeDatagram(new Uint8Array(0), CLUSTER)).toBe('not_tsgroups');
    expect(decodeDatagram(Uint8Array.of(0x0d, 0x52, 0x47, 0x53), CLUSTER)).toBe('not_tsgroups'); // too short
    expect(decodeDatagram(valid({ magic: WIRE_MAGIC ^ 1 }), CLUSTER)).toBe('not_tsgroups');
    expect(decodeDatagram(new Uint8Array(64), CLUSTER)).toBe('not_tsgroups');
  });

  test('a header of an unregistered protocol: unknown_header', () => {
    const dg = valid({ messages: [{ headers: [{ protocolId: UNREGISTERED, header: Uint8Array.of(8, 1) }] }] });
    expect(decodeDatagram(dg, CLUSTER)).toBe(DropReason.UNKNOWN_HEADER);
  });

  test('missing sender, cluster or messages, or a bad address: malformed', () => {
    expect(decodeDatagram(valid({ sender: null }), null)).toBe('malformed');
    expect(decodeDatagram(valid({ cluster: null }), null)).toBe('malformed');
    expect(decodeDatagram(valid({ messages: [] }), CLUSTER)).toBe('malformed');
    expect(decodeDatagram(valid({ sender: sender.bytes.subarray(0, 15) }), CLUSTER)).toBe('malformed');
    expect(decodeDatagram(valid({ dest: new Uint8Array(17) }), CLUSTER)).toBe('malformed');
    expect(decodeDatagram(valid({ messages: [{ src: Uint8Array.of(1, 2) }] }), CLUSTER)).toBe('malformed');
  });

  test('a header whose codec does not consume it exactly: malformed', () => {
    // A truncated varint: the codec reads on into the payload that follows the header entry.
    const over = valid({ messages: [{ headers: [{ protocolId: SEQ, header: Uint8Array.of(8, 0x80) }], payload: Uint8Array.of(1, 2) }] });
    expect(decodeDatagram(over, CLUSTER)).toBe('malformed');
    // At the very end of the datagram.
    const atEnd = valid({ messages: [{ headers: [{ protocolId: SEQ, header: Uint8Array.of(8, 0x80) }] }] });
    expect(decodeDatagram(atEnd, CLUSTER)).toBe('malformed');
  });

  test('a header entry without protocol id: malformed', () => {
    const dg = valid({ messages: [{ headers: [{ header: encodeHeader(seqCodec, { seqno: 1, tag: '' }) }] }] });
    expect(decodeDatagram(dg, CLUSTER)).toBe('malformed');
  });

  test('groups (wire types 3 and 4) are refused: malformed', () => {
    const base = valid();
    for (const wt of [3, 4, 6, 7]) {
      const extra = new Writer().uint32((9 << 3) | wt).finish();
      const dg = new Uint8Array(base.length + extra.length);
      dg.set(base);
      dg.set(extra, base.length);
      expect(decodeDatagram(dg, CLUSTER)).toBe('malformed');
    }
  });

  test('every truncation of a single-message datagram is dropped, never thrown', () => {
    const dg = encodeDatagram(CLUSTER, sender, dest, [richMessage(6)]); // two headers, 222 payload bytes
    const reasons = new Set<string>(Object.values(DropReason));
    for (let n = 0; n < dg.length; n++) {
      const r = decodeDatagram(dg.subarray(0, n), CLUSTER);
      expect(typeof r).toBe('string');
      expect(reasons.has(r as string)).toBe(true);
      // As a copy too (the decoder must not read past the end of a standalone array).
      expect(decodeDatagram(dg.slice(0, n), CLUSTER)).toBe(r);
    }
    expect(decodeDatagram(dg.subarray(0, dg.length - 1), CLUSTER)).toBe('malformed');
    expect(decodeDatagram(dg.subarray(0, 10), CLUSTER)).toBe('malformed');
  });

  test('a truncated bundle is either dropped or decodes to a prefix of its messages', () => {
    const msgs = Array.from({ length: 6 }, (_, i) => richMessage(i));
    const dg = encodeDatagram(CLUSTER, sender, null, msgs);
    let prefixes = 0;
    for (let n = 0; n < dg.length; n++) {
      const r = decodeDatagram(dg.subarray(0, n), CLUSTER);
      if (typeof r === 'string') continue;
      prefixes++;
      const got = r.batch.toArray();
      expect(got.length).toBeLessThan(msgs.length);
      got.forEach((g, i) => expectSameMessage(g, msgs[i]!, sender));
    }
    expect(prefixes).toBe(msgs.length - 1); // one cut at each message boundary
  });
});
