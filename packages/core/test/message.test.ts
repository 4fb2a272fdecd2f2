import { Address, Flag, Message, TsgroupsError, flagsToString, type Marshaller } from '@tsgroups/core';

function marshallingError(fn: () => unknown): TsgroupsError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(TsgroupsError);
    expect((err as TsgroupsError).code).toBe('ERR_MARSHALLING');
    return err as TsgroupsError;
  }
  throw new Error('expected an ERR_MARSHALLING error, nothing was thrown');
}

describe('flags', () => {
  test('setFlag / clearFlag / isFlagSet', () => {
    const m = new Message();
    expect(m.flags).toBe(0);
    expect(m.isFlagSet(Flag.OOB)).toBe(false);
    expect(m.setFlag(Flag.OOB, Flag.NO_FC)).toBe(m);
    expect(m.isFlagSet(Flag.OOB)).toBe(true);
    expect(m.isFlagSet(Flag.NO_FC)).toBe(true);
    expect(m.isFlagSet(Flag.OOB | Flag.NO_FC)).toBe(true);
    expect(m.isFlagSet(Flag.OOB | Flag.RSVP)).toBe(false); // all bits must be set
    expect(m.isOOB()).toBe(true);
    m.setFlag(Flag.OOB); // idempotent
    expect(m.flags).toBe(Flag.OOB | Flag.NO_FC);
    expect(m.clearFlag(Flag.OOB)).toBe(m);
    expect(m.isFlagSet(Flag.OOB)).toBe(false);
    expect(m.isOOB()).toBe(false);
    expect(m.isFlagSet(Flag.NO_FC)).toBe(true);
    m.clearFlag(Flag.RSVP); // clearing an unset flag changes nothing
    expect(m.flags).toBe(Flag.NO_FC);
    m.setFlag(Flag.DONT_BUNDLE, Flag.DONT_LOOPBACK).clearFlag(Flag.NO_FC, Flag.DONT_BUNDLE);
    expect(m.flags).toBe(Flag.DONT_LOOPBACK);
  });

  test('flag bits are distinct and flagsToString names them', () => {
    const bits = Object.values(Flag);
    expect(new Set(bits).size).toBe(bits.length);
    for (const b of bits) expect(b & (b - 1)).toBe(0); // single bit
    expect(flagsToString(Flag.OOB | Flag.RSVP)).toBe('OOB|RSVP');
    expect(flagsToString(0)).toBe('');
  });

  test('dest and src setters', () => {
    const a = Address.random();
    const b = Address.random();
    const m = new Message(a);
    expect(m.getDest()).toBe(a);
    expect(m.getSrc()).toBeNull();
    expect(m.setDest(null).setSrc(b)).toBe(m);
    expect(m.getDest()).toBeNull();
    expect(m.getSrc()).toBe(b);
    expect(new Message().dest).toBeNull();
  });
});

describe('payload', () => {
  const buf = Uint8Array.from({ length: 10 }, (_, i) => i);

  test('an empty message has no payload', () => {
    const m = new Message();
    expect(m.hasPayload()).toBe(false);
    expect(m.getLength()).toBe(0);
    expect(m.getPayload()).toHaveLength(0);
    expect(m.getBuffer()).toHaveLength(0);
  });

  test('setArray with offset and length is a view, not a copy', () => {
    const b = Uint8Array.from(buf);
    const m = new Message().setArray(b, 2, 5);
    expect(m.getArray()).toBe(b);
    expect(m.getOffset()).toBe(2);
    expect(m.getLength()).toBe(5);
    expect(m.hasPayload()).toBe(true);
    expect(Array.from(m.getPayload())).toEqual([2, 3, 4, 5, 6]);
    b[2] = 99; // the payload sees changes of the underlying array
    expect(m.getPayload()[0]).toBe(99);
    expect(m.getPayload().buffer).toBe(b.buffer);
  });

  test('setArray defaults: whole array, or from offset to the end', () => {
    const m = new Message().setArray(buf);
    expect(m.getOffset()).toBe(0);
    expect(m.getLength()).toBe(10);
    expect(m.getPayload()).toBe(buf);
    m.setArray(buf, 7);
    expect(m.getLength()).toBe(3);
    expect(Array.from(m.getPayload())).toEqual([7, 8, 9]);
    m.setArray(buf, 10);
    expect(m.getLength()).toBe(0);
    expect(m.hasPayload()).toBe(false);
  });

  test('the constructor uses a Uint8Array payload as is', () => {
    const m = new Message(null, buf);
    expect(m.getArray()).toBe(buf);
    expect(m.getLength()).toBe(10);
  });

  test('getBuffer returns a copy', () => {
    const b = Uint8Array.from(buf);
    const m = new Message().setArray(b, 1, 3);
    const copy = m.getBuffer();
    expect(Array.from(copy)).toEqual([1, 2, 3]);
    copy[0] = 42;
    expect(b[1]).toBe(1);
  });

  test('getBuffer copies a Node Buffer payload too', () => {
    const b = Buffer.from([1, 2, 3, 4, 5]);
    const m = new Message(null, b);
    const copy = m.getBuffer();
    copy[0] = 42;
    expect(b[0]).toBe(1);
    expect(copy.buffer).not.toBe(b.buffer);
  });

  test.each([
    [-1, 2],
    [0, 11],
    [5, 6],
    [11, 0],
    [0, -1],
  ])('setArray(buf, %d, %d) outside the buffer throws RangeError', (off, len) => {
    const m = new Message().setArray(buf, 1, 2);
    expect(() => m.setArray(buf, off, len)).toThrow(RangeError);
    // A rejected range leaves the previous payload in place.
    expect(m.getOffset()).toBe(1);
    expect(m.getLength()).toBe(2);
  });

  test('setString / getString use raw UTF-8', () => {
    const text = 'héllo ✓ 😀';
    const m = new Message().setString(text);
    expect(m.getString()).toBe(text);
    expect(Array.from(m.getPayload())).toEqual(Array.from(new TextEncoder().encode(text)));
    expect(new Message().setString('').getString()).toBe('');
    // getString honours the view's offset and length.
    const bytes = new TextEncoder().encode('xxabcxx');
    expect(new Message().setArray(bytes, 2, 3).getString()).toBe('abc');
  });
});

describe('setObject / getObject (default marshaller)', () => {
  test.each<[string, unknown]>([
    ['string', 'hello wörld'],
    ['empty string', ''],
    ['numeric string', '42'],
    ['integer', 42],
    ['float', -0.125],
    ['zero', 0],
    ['boolean', true],
    ['nested object', { a: { b: [1, 'x', null, { c: false }] }, d: 'e' }],
    ['array', [1, 2, 3, 'four', [5]]],
    ['empty array', []],
    ['null', null],
    ['undefined', undefined],
  ])('round trips %s', (_name, value) => {
    const m = new Message().setObject(value);
    const out = m.getObject();
    expect(out).toEqual(value);
    expect(typeof out).toBe(typeof value);
    if (value === null) expect(out).toBeNull();
    if (value === undefined) expect(out).toBeUndefined();
    // The constructor marshals the same way (except for undefined, which means "no payload").
    if (value !== undefined) expect(new Message(null, value).getObject()).toEqual(value);
  });

  test('a string and a number with the same text stay distinct', () => {
    expect(new Message(null, '42').getObject()).toBe('42');
    expect(new Message(null, 42).getObject()).toBe(42);
  });

  test('setObject of a Uint8Array stores the raw bytes', () => {
    const b = new Uint8Array([1, 2, 3]);
    const m = new Message().setObject(b);
    expect(m.getArray()).toBe(b);
  });

  test('getObject reads a marshalled value at an offset inside a larger array', () => {
    const inner = new Message(null, { k: 'v' }).getPayload();
    const big = new Uint8Array(inner.length + 10).fill(0xff);
    big.set(inner, 4);
    expect(new Message().setArray(big, 4, inner.length).getObject()).toEqual({ k: 'v' });
  });

  test('getObject on a payload that was not marshalled throws ERR_MARSHALLING', () => {
    marshallingError(() => new Message().setString('hello').getObject()); // 'h' is no tag
    marshallingError(() => new Message().getObject()); // empty
    marshallingError(() => new Message(null, new Uint8Array([1, 0xff, 0xfe])).getObject()); // bad UTF-8
    marshallingError(() => new Message(null, new Uint8Array([2, 0x7b])).getObject()); // "{" is not JSON
    marshallingError(() => new Message(null, new Uint8Array([0x7f])).getObject());
  });

  test('setObject of a value the default marshaller cannot carry throws ERR_MARSHALLING', () => {
    const cyclic: Record<string, unknown> = { a: 1 };
    cyclic.self = cyclic;
    expect(marshallingError(() => new Message().setObject(cyclic)).message).toMatch(/nested more than 1000 levels/);
    marshallingError(() => new Message().setObject({ n: new (class Foo {})() }));
    marshallingError(() => new Message().setObject(() => 1));
    marshallingError(() => new Message().setObject(Symbol('s')));
    // new Message(dest, value) marshals when the payload is first needed (or at send).
    const m = new Message(null, { f: () => 1 });
    marshallingError(() => m.getLength());
  });

  test('a failed setObject keeps the previous payload', () => {
    const m = new Message(null, 'keep');
    marshallingError(() => m.setObject(() => 1));
    expect(m.getObject()).toBe('keep');
  });
});

describe('custom Marshaller', () => {
  // Marshals Map<string, number> as "k=v;k=v" text.
  const calls: Array<[number, number]> = [];
  const mapMarshaller: Marshaller = {
    objectToBuffer(obj) {
      const m = obj as Map<string, number>;
      return new TextEncoder().encode([...m].map(([k, v]) => `${k}=${v}`).join(';'));
    },
    objectFromBuffer(buf, offset, length) {
      calls.push([offset, length]);
      const text = new TextDecoder().decode(buf.subarray(offset, offset + length));
      return new Map(text.split(';').map((kv) => [kv.split('=')[0]!, Number(kv.split('=')[1])]));
    },
  };

  beforeEach(() => {
    calls.length = 0;
  });

  test('passed explicitly to setObject and getObject', () => {
    const value = new Map([
      ['a', 1],
      ['b', 2],
    ]);
    const m = new Message().setObject(value, mapMarshaller);
    expect(m.getString()).toBe('a=1;b=2');
    expect(m.getObject(mapMarshaller)).toEqual(value);
  });

  test('receives the payload offset and length', () => {
    const bytes = new TextEncoder().encode('##x=7##');
    const m = new Message().setArray(bytes, 2, 3);
    expect(m.getObject(mapMarshaller)).toEqual(new Map([['x', 7]]));
    expect(calls).toEqual([[2, 3]]);
  });

  test('set as the message default is used by setObject and getObject', () => {
    const m = new Message();
    m.marshaller = mapMarshaller;
    m.setObject(new Map([['z', 26]]));
    expect(m.getString()).toBe('z=26');
    expect(m.getObject()).toEqual(new Map([['z', 26]]));
    expect(m.copy().marshaller).toBe(mapMarshaller);
  });
});

describe('headers', () => {
  test('put / get / replace / remove / numHeaders', () => {
    const m = new Message();
    expect(m.numHeaders()).toBe(0);
    expect(m.getHeader(10)).toBeUndefined();
    expect(m.removeHeader(10)).toBe(false);
    const h1 = { seq: 1 };
    const h2 = { seq: 2 };
    const h3 = { seq: 3 };
    expect(m.putHeader(10, h1)).toBe(m);
    m.putHeader(20, h2);
    expect(m.numHeaders()).toBe(2);
    expect(m.getHeader(10)).toBe(h1);
    expect(m.getHeader(20)).toBe(h2);
    expect(m.getHeader(30)).toBeUndefined();
    m.putHeader(10, h3); // replace keeps one entry per protocol, in place
    expect(m.numHeaders()).toBe(2);
    expect(m.getHeader(10)).toBe(h3);
    const order: number[] = [];
    m.forEachHeader((id) => order.push(id));
    expect(order).toEqual([10, 20]);
    expect(m.removeHeader(10)).toBe(true);
    expect(m.removeHeader(10)).toBe(false);
    expect(m.getHeader(10)).toBeUndefined();
    expect(m.getHeader(20)).toBe(h2);
    expect(m.numHeaders()).toBe(1);
    expect(m.removeHeader(20)).toBe(true);
    expect(m.numHeaders()).toBe(0);
  });

  test('many headers keep insertion order', () => {
    const m = new Message();
    for (let id = 1; id <= 20; id++) m.putHeader(id, `h${id}`);
    m.removeHeader(5);
    m.putHeader(5, 'again');
    const seen: Array<[number, unknown]> = [];
    m.forEachHeader((id, h) => seen.push([id, h]));
    expect(seen.map(([id]) => id)).toEqual([1, 2, 3, 4, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 5]);
    expect(m.getHeader(5)).toBe('again');
    expect(m.getHeader(17)).toBe('h17');
  });
});

describe('copy', () => {
  function sample(): Message {
    const payload = Uint8Array.from({ length: 8 }, (_, i) => i + 1);
    const m = new Message(Address.random()).setArray(payload, 2, 4).setSrc(Address.random()).setFlag(Flag.OOB, Flag.NO_FC);
    m.putHeader(1, { a: 1 }).putHeader(2, { b: 2 });
    return m;
  }

  test('copy() shares the payload and copies dest, src, flags', () => {
    const m = sample();
    const c = m.copy();
    expect(c).not.toBe(m);
    expect(c.getArray()).toBe(m.getArray());
    expect(c.getOffset()).toBe(2);
    expect(c.getLength()).toBe(4);
    expect(c.dest).toBe(m.dest);
    expect(c.src).toBe(m.src);
    expect(c.flags).toBe(m.flags);
  });

  test('copy() has its own header list (header objects are shared)', () => {
    const m = sample();
    const c = m.copy();
    expect(c.numHeaders()).toBe(2);
    expect(c.getHeader(1)).toBe(m.getHeader(1));
    c.putHeader(3, 'only in copy');
    c.removeHeader(1);
    c.putHeader(2, 'replaced in copy');
    expect(m.numHeaders()).toBe(2);
    expect(m.getHeader(3)).toBeUndefined();
    expect(m.getHeader(1)).toEqual({ a: 1 });
    expect(m.getHeader(2)).toEqual({ b: 2 });
    m.putHeader(4, 'only in original');
    expect(c.getHeader(4)).toBeUndefined();
  });

  test('copy(true) copies the payload bytes', () => {
    const m = sample();
    const c = m.copy(true);
    expect(c.getArray()).not.toBe(m.getArray());
    expect(Array.from(c.getPayload())).toEqual(Array.from(m.getPayload()));
    expect(c.getOffset()).toBe(0);
    expect(c.getLength()).toBe(4);
    c.getArray()[0] = 100;
    expect(m.getPayload()[0]).toBe(3);
    m.getArray()[2] = 50;
    expect(c.getPayload()[0]).toBe(100);
    expect(c.numHeaders()).toBe(2);
  });

  test('copy(true) of a Node Buffer payload (as protobufjs decodes it) is independent', () => {
    const m = new Message(null, Buffer.from('abcdef'));
    const c = m.copy(true);
    m.getArray()[0] = 0x7a;
    expect(c.getString()).toBe('abcdef');
  });

  test('copy(false, false) drops the headers', () => {
    const c = sample().copy(false, false);
    expect(c.numHeaders()).toBe(0);
    expect(c.getHeader(1)).toBeUndefined();
  });

  test('copy of a message without payload or headers', () => {
    const c = new Message().copy(true);
    expect(c.hasPayload()).toBe(false);
    expect(c.numHeaders()).toBe(0);
  });
});
