// The shortcuts of the per-message hot path (issue 13) keep the behaviour of the plain code: the
// first header held in the message itself, the header test of a batch, the memo of size(), and
// payloads decoded as views by offset on the datagram.
import { Address, Flag, HeaderRegistry, Message, MessageBatch, decodeDatagram, encodeDatagram, utf8Encode } from '@tsgroups/core';
import { seqCodec, type SeqHeader } from './helpers/wire.js';

const SEQ_ID = 1901;
const OTHER_ID = 1902;
HeaderRegistry.register(SEQ_ID, 'HOT_PATH_SEQ', seqCodec);
HeaderRegistry.register(OTHER_ID, 'HOT_PATH_OTHER', seqCodec);

const cluster = utf8Encode('hot-path');
const sender = Address.random();

function headers(m: Message): Array<[number, unknown]> {
  const out: Array<[number, unknown]> = [];
  m.forEachHeader((id, h) => out.push([id, h]));
  return out;
}

describe('the first header', () => {
  test('removing the first header moves the next one up, in insertion order', () => {
    const m = new Message();
    m.putHeader(3, 'a').putHeader(1, 'b').putHeader(2, 'c');
    expect(m.removeHeader(3)).toBe(true);
    expect(headers(m)).toEqual([[1, 'b'], [2, 'c']]);
    expect(m.headerIdAt(0)).toBe(1);
    expect(m.headerAt(1)).toBe('c');
    m.putHeader(3, 'd');
    expect(headers(m)).toEqual([[1, 'b'], [2, 'c'], [3, 'd']]);
    expect(m.rawHeaders()).toEqual([1, 'b', 2, 'c', 3, 'd']);
    expect(m.removeHeader(1)).toBe(true);
    expect(m.removeHeader(2)).toBe(true);
    expect(m.removeHeader(3)).toBe(true);
    expect(m.numHeaders()).toBe(0);
    expect(m.rawHeaders()).toBeNull();
    m.putHeader(7, 'e');
    expect(headers(m)).toEqual([[7, 'e']]);
  });

  test('a copy has its own headers: changing them leaves the original as it was', () => {
    const m = new Message().putHeader(1, 'a').putHeader(2, 'b');
    const c = m.copy();
    c.putHeader(1, 'x').removeHeader(2);
    c.putHeader(3, 'y');
    expect(headers(m)).toEqual([[1, 'a'], [2, 'b']]);
    expect(headers(c)).toEqual([[1, 'x'], [3, 'y']]);
  });
});

describe('MessageBatch.mayHaveHeader', () => {
  test('false only when no message of the batch has the header', () => {
    const a = new Message().putHeader(SEQ_ID, { seqno: 1, tag: '' });
    const b = new Message();
    const batch = new MessageBatch(sender, null, true, [a, b]);
    expect(batch.mayHaveHeader(SEQ_ID)).toBe(true);
    expect(batch.mayHaveHeader(OTHER_ID)).toBe(false);
    b.putHeader(SEQ_ID, { seqno: 2, tag: '' }).putHeader(OTHER_ID, { seqno: 3, tag: '' });
    expect(batch.mayHaveHeader(OTHER_ID)).toBe(true);
    batch.remove(b);
    expect(batch.mayHaveHeader(OTHER_ID)).toBe(false);
    a.putHeader(OTHER_ID, { seqno: 4, tag: '' });
    expect(batch.mayHaveHeader(OTHER_ID)).toBe(true);
  });
});

describe('MessageBatch.payloadBytes', () => {
  test('sums the payload lengths, leaving out messages with any of the given flags and removed ones', () => {
    const a = new Message(null, new Uint8Array(10));
    const b = new Message(null, new Uint8Array(20)).setFlag(Flag.NO_FC);
    const c = new Message(null, new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8])).setArray(new Uint8Array(8), 2, 5);
    const batch = new MessageBatch(sender, null, true, [a, b, c, new Message(null)]);
    expect(batch.payloadBytes()).toBe(35);
    expect(batch.payloadBytes(Flag.NO_FC)).toBe(15);
    expect(batch.payloadBytes(Flag.NO_FC | Flag.OOB)).toBe(15);
    batch.remove(a);
    expect(batch.payloadBytes(Flag.NO_FC)).toBe(5);
  });
});

describe('the memo of Message.size()', () => {
  test('follows headers, payload and flags, and the source field', () => {
    // A copy with its own payload bytes starts without a memo: its size is computed afresh.
    const same = (m: Message, sender?: Address) => expect(m.size(sender)).toBe(m.copy(true).size(sender));
    const m = new Message(null, new Uint8Array(10)).setSrc(sender);
    const plain = m.size();
    m.putHeader(SEQ_ID, { seqno: 300, tag: 'abc' } satisfies SeqHeader);
    expect(m.size()).toBeGreaterThan(plain);
    same(m);
    const withHeader = m.size();
    m.setFlag(Flag.OOB);
    expect(m.size()).toBe(withHeader + 2);
    same(m);
    m.clearFlag(Flag.OOB);
    m.flags |= Flag.DONT_LOOPBACK; // transient: not sent, not counted
    expect(m.size()).toBe(withHeader);
    m.flags = 0;
    m.setArray(new Uint8Array(200));
    expect(m.size()).toBeGreaterThan(withHeader + 190);
    same(m);
    m.putHeader(SEQ_ID, { seqno: 1, tag: '' });
    same(m);
    m.removeHeader(SEQ_ID);
    expect(m.size()).toBe(new Message(null, new Uint8Array(200)).size());
    const other = Address.random();
    expect(m.size(other)).toBe(m.size() + 18);
    m.setSrc(other);
    expect(m.size(sender)).toBe(m.size(other) + 18);
    same(m, sender);
    same(m, other);
  });

  test('a copy sharing the payload has the same size, and its own memo afterwards', () => {
    const m = new Message(null, new Uint8Array(50)).setSrc(sender).putHeader(SEQ_ID, { seqno: 9, tag: 'x' });
    const size = m.size();
    const c = m.copy();
    expect(c.size()).toBe(size);
    c.putHeader(OTHER_ID, { seqno: 1, tag: 'more' });
    expect(c.size()).toBeGreaterThan(size);
    expect(m.size()).toBe(size);
    expect(m.copy(false, false).size()).toBe(new Message(null, new Uint8Array(50)).setSrc(sender).size());
  });

  test('a memoized size is what the datagram takes', () => {
    const msgs = [1, 2, 3].map((i) => new Message(null, new Uint8Array(i * 100)).setSrc(sender).putHeader(SEQ_ID, { seqno: i, tag: 'x' }));
    for (const m of msgs) m.size(sender);
    msgs[1]!.putHeader(SEQ_ID, { seqno: 1_000_000, tag: 'longer tag' });
    const data = encodeDatagram(cluster, sender, null, msgs);
    let expected = encodeDatagram(cluster, sender, null, []).length;
    for (const m of msgs) expected += m.size(sender);
    expect(data.length).toBe(expected);
  });
});

describe('decoded payloads', () => {
  test('are views by offset on the datagram, with the bytes that were sent', () => {
    const payloads = [new Uint8Array([1, 2, 3]), new Uint8Array(0), new Uint8Array([9])];
    const msgs = payloads.map((p, i) => new Message(null, p).setSrc(sender).putHeader(SEQ_ID, { seqno: i + 1, tag: '' }));
    const data = encodeDatagram(cluster, sender, null, msgs);
    const res = decodeDatagram(data, cluster);
    if (typeof res === 'string') throw new Error(`dropped: ${res}`);
    const got = res.batch.toArray();
    expect(got.map((m) => Array.from(m.getPayload()))).toEqual(payloads.map((p) => Array.from(p)));
    expect(got.map((m) => m.getHeader<SeqHeader>(SEQ_ID)?.seqno)).toEqual([1, 2, 3]);
    const first = got[0]!;
    expect(first.getArray()).toBe(data);
    expect(Array.from(first.getArray().subarray(first.getOffset(), first.getOffset() + first.getLength()))).toEqual([1, 2, 3]);
    expect(Array.from(first.getBuffer())).toEqual([1, 2, 3]);
  });

  test('a payload running past its message is refused as malformed', () => {
    const m = new Message(null, new Uint8Array([1, 2, 3, 4])).setSrc(sender);
    const data = encodeDatagram(cluster, sender, null, [m]);
    // The payload's length byte sits right before its 4 bytes, at the end of the datagram.
    const bad = Uint8Array.from(data);
    bad[bad.length - 5] = 5;
    expect(decodeDatagram(bad, cluster)).toBe('malformed');
  });

  test('the sender of consecutive datagrams is the same (interned) address', () => {
    const a = decodeDatagram(encodeDatagram(cluster, sender, null, [new Message(null).setSrc(sender)]), cluster);
    const b = decodeDatagram(encodeDatagram(cluster, sender, null, [new Message(null).setSrc(sender)]), cluster);
    if (typeof a === 'string' || typeof b === 'string') throw new Error('dropped');
    expect(a.batch.sender).toBe(sender);
    expect(b.batch.sender).toBe(sender);
    const other = Address.random();
    const c = decodeDatagram(encodeDatagram(cluster, other, null, [new Message(null).setSrc(other)]), cluster);
    if (typeof c === 'string') throw new Error('dropped');
    expect(c.batch.sender).toBe(other);
  });
});
