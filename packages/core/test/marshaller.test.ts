import { jsonMarshaller, Message, TsgroupsError, seededRandom } from '@tsgroups/core';

/** What `send(dest, value)` and `getObject()` do with the default marshaller. */
function roundTrip(value: unknown): unknown {
  const bytes = jsonMarshaller.objectToBuffer(value);
  // Decode from inside a larger array, as a received payload is.
  const big = new Uint8Array(bytes.length + 7);
  big.set(bytes, 3);
  return jsonMarshaller.objectFromBuffer(big, 3, bytes.length);
}

function refusal(value: unknown): TsgroupsError {
  try {
    jsonMarshaller.objectToBuffer(value);
  } catch (err) {
    expect(err).toBeInstanceOf(TsgroupsError);
    expect((err as TsgroupsError).code).toBe('ERR_MARSHALLING');
    return err as TsgroupsError;
  }
  throw new Error(`expected ERR_MARSHALLING for ${String(value)}`);
}

const tagOf = (v: unknown) => Object.prototype.toString.call(v).slice(8, -1);

/**
 * Strict structural equality: Object.is on primitives (NaN equals NaN, -0 differs from 0),
 * same kind of object (by internal tag, so that values from Node's realm compare with the
 * test's), same own enumerable keys (a key holding undefined counts), same holes, same bytes
 * and element type for binary data. Returns where they differ, or null.
 */
function difference(a: unknown, b: unknown, path = 'value'): string | null {
  if (typeof a !== 'object' || a === null || typeof b !== 'object' || b === null) {
    return Object.is(a, b) ? null : `${path}: ${String(a)} (${typeof a}) vs ${String(b)} (${typeof b})`;
  }
  const ta = tagOf(a);
  const tb = tagOf(b);
  const ca = (a as object).constructor?.name;
  const cb = (b as object).constructor?.name;
  if (ta !== tb || (ca !== cb && !(ta === 'Object' && (ca === undefined || cb === undefined)))) {
    return `${path}: ${ta}/${ca} vs ${tb}/${cb}`;
  }
  if (ta === 'Date') return Object.is((a as Date).getTime(), (b as Date).getTime()) ? null : `${path}: dates differ`;
  if (ta === 'ArrayBuffer' || ArrayBuffer.isView(a)) {
    const bytes = (x: unknown) =>
      ArrayBuffer.isView(x) ? new Uint8Array(x.buffer, x.byteOffset, x.byteLength) : new Uint8Array(x as ArrayBuffer);
    const [x, y] = [bytes(a), bytes(b)];
    return x.length === y.length && x.every((v, i) => v === y[i]) ? null : `${path}: bytes differ`;
  }
  if (ta === 'Map') {
    const ea = [...(a as Map<unknown, unknown>)];
    const eb = [...(b as Map<unknown, unknown>)];
    if (ea.length !== eb.length) return `${path}: map sizes ${ea.length} vs ${eb.length}`;
    for (let i = 0; i < ea.length; i++) {
      const d = difference(ea[i]![0], eb[i]![0], `${path}.keys()[${i}]`) ?? difference(ea[i]![1], eb[i]![1], `${path}.values()[${i}]`);
      if (d) return d;
    }
    return null;
  }
  if (ta === 'Set') return difference([...(a as Set<unknown>)], [...(b as Set<unknown>)], `${path}.values()`);
  if (ta === 'Array') {
    const [x, y] = [a as unknown[], b as unknown[]];
    if (x.length !== y.length) return `${path}: lengths ${x.length} vs ${y.length}`;
    for (let i = 0; i < x.length; i++) {
      if (i in x !== i in y) return `${path}[${i}]: a hole on one side only`;
      const d = difference(x[i], y[i], `${path}[${i}]`);
      if (d) return d;
    }
    return null;
  }
  const ka = Object.keys(a as object);
  const kb = Object.keys(b as object);
  if (ka.join('\u0000') !== kb.join('\u0000')) return `${path}: keys [${ka}] vs [${kb}]`;
  for (const k of ka) {
    const d = difference((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], `${path}.${k}`);
    if (d) return d;
  }
  return null;
}


/** Random values of every kind the default marshaller promises to carry, nested. */
function generator(seed: number) {
  const rnd = seededRandom(seed);
  const int = (n: number) => Math.floor(rnd() * n);
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)]!;
  const chars = ['a', 'Z', ' ', '"', '\\', '\n', '\u0000', 'é', '€', '𝄞', '\ud800', '\udc00', '{', ':'];
  const str = () => Array.from({ length: int(8) }, () => pick(chars)).join('');
  const numbers = [0, -0, 1, -1, 0.5, 1e300, -1e-300, Number.MAX_SAFE_INTEGER, NaN, Infinity, -Infinity, Number.MIN_VALUE];
  const viewTypes = [Uint8Array, Int8Array, Uint16Array, Int32Array, Float32Array, Float64Array, BigInt64Array, Uint8ClampedArray];
  const leaf = (): unknown => {
    switch (int(12)) {
      case 0:
        return str();
      case 1:
        return pick(numbers);
      case 2:
        return rnd() * 2e6 - 1e6;
      case 3:
        return rnd() < 0.5;
      case 4:
        return null;
      case 5:
        return undefined;
      case 6:
        return BigInt(int(1e9)) * (rnd() < 0.5 ? -1n : 1n) * 10n ** BigInt(int(30));
      case 7:
        return new Date(rnd() < 0.1 ? NaN : int(2e12));
      case 8: {
        const T = pick(viewTypes);
        const a = new T(int(5));
        for (let i = 0; i < a.length; i++) (a as unknown as number[])[i] = (T === BigInt64Array ? BigInt(int(1000)) : int(200)) as number;
        return a;
      }
      case 9:
        return new Uint8Array(Array.from({ length: int(6) }, () => int(256))).buffer;
      case 10:
        return new DataView(new Uint8Array([int(256), int(256), int(256)]).buffer, 1);
      default:
        return Buffer.from(str());
    }
  };
  const value = (depth: number): unknown => {
    if (depth >= 4 || rnd() < 0.35) return leaf();
    const n = int(5);
    switch (int(6)) {
      case 0:
      case 1:
        return Array.from({ length: n }, () => value(depth + 1));
      case 2: {
        const a: unknown[] = [];
        a.length = n + 1; // holes
        for (let i = 0; i < n; i += 2) a[i] = value(depth + 1);
        return a;
      }
      case 3:
        return new Map(Array.from({ length: n }, () => [rnd() < 0.5 ? str() : value(depth + 1), value(depth + 1)] as const));
      case 4:
        return new Set(Array.from({ length: n }, () => value(depth + 1)));
      default: {
        const o: Record<string, unknown> = rnd() < 0.1 ? {} : {};
        for (let i = 0; i < n; i++) o[str()] = value(depth + 1);
        return o;
      }
    }
  };
  /** A plain JSON value (the common case): strings, finite numbers, booleans, null, objects, arrays. */
  const json = (depth: number): unknown => {
    if (depth >= 4 || rnd() < 0.4) return pick([str(), int(1000) - 500, rnd(), rnd() < 0.5, null, '']);
    return rnd() < 0.5
      ? Array.from({ length: int(4) }, () => json(depth + 1))
      : Object.fromEntries(Array.from({ length: int(4) }, () => [str(), json(depth + 1)]));
  };
  return { value: () => value(0), json: () => json(0) };
}

describe('the default marshaller gives back what it accepts', () => {
  test.each<[string, unknown]>([
    ['NaN', NaN],
    ['Infinity', Infinity],
    ['-Infinity', -Infinity],
    ['-0', -0],
    ['undefined', undefined],
    ['a bigint', -(2n ** 100n)],
    ['a Date', new Date(1_700_000_000_123)],
    ['an invalid Date', new Date(NaN)],
    ['a Map', new Map<unknown, unknown>([['a', 1], [{ k: 1 }, new Set([2n])]])],
    ['a Set', new Set(['x', 1, null])],
    ['an ArrayBuffer', new Uint8Array([1, 2, 3]).buffer],
    ['a Float32Array', new Float32Array([1.5, -2.25, NaN])],
    ['a BigUint64Array', new BigUint64Array([2n ** 64n - 1n])],
    ['a DataView on part of a buffer', new DataView(new Uint8Array([9, 8, 7, 6]).buffer, 1, 2)],
    ['a Buffer inside an object', { b: Buffer.from('hi') }],
    ['undefined as a property', { a: undefined, b: 1 }],
    ['undefined in an array', [undefined, 1]],
    ['an array with holes', [1, , 3]], // eslint-disable-line no-sparse-arrays
    ['NaN nested', { a: [1, { b: NaN }] }],
    ['a lone surrogate', '\ud800x'],
    ['a lone surrogate in a key', { '\udc00': 1 }],
    ['__proto__ as an own key', JSON.parse('{"__proto__": {"x": 1}}')],
    ['a plain JSON value', { id: 1, list: ['x', null, true, -0.5], nested: { ok: false } }],
  ])('%s', (_name, value) => {
    expect(difference(value, roundTrip(value))).toBeNull();
  });

  test('an object with a null prototype arrives as a plain object with the same properties', () => {
    const dict = Object.create(null) as Record<string, unknown>;
    dict.a = 1;
    dict.m = new Map([[1, 2]]);
    const out = roundTrip(dict) as Record<string, unknown>;
    expect(Object.getPrototypeOf(out)).not.toBeNull();
    expect(difference({ ...dict }, out)).toBeNull();
  });

  test('over 3,000 generated values (30 seeds), every value comes back equal', () => {
    for (let seed = 1; seed <= 30; seed++) {
      const gen = generator(seed);
      for (let i = 0; i < 100; i++) {
        const v = i % 3 === 0 ? gen.json() : gen.value();
        const d = difference(v, roundTrip(v));
        if (d) throw new Error(`seed ${seed}, value ${i}: ${d}`);
      }
    }
  });

  test('strings and plain JSON stay in their compact encodings (tags 1 and 2), extended values use tag 3', () => {
    expect(jsonMarshaller.objectToBuffer('hi')).toEqual(new Uint8Array([1, 0x68, 0x69]));
    expect(Array.from(jsonMarshaller.objectToBuffer({ a: [1] }))).toEqual([2, ...new TextEncoder().encode('{"a":[1]}')]);
    expect(jsonMarshaller.objectToBuffer({ a: [NaN] })[0]).toBe(3);
    expect(jsonMarshaller.objectToBuffer(undefined)).toEqual(new Uint8Array([0]));
  });

  test('short texts and numbers (written and read without Node encoder for ASCII) keep the same bytes and values', () => {
    const utf8 = (tag: number, text: string) => [tag, ...new TextEncoder().encode(text)];
    const texts = ['', 'ping', 'x'.repeat(64), 'x'.repeat(65), 'héllo', '日本', '😀', `${'a'.repeat(63)}é`, `é${'a'.repeat(70)}`];
    for (const s of texts) {
      expect(Array.from(jsonMarshaller.objectToBuffer(s))).toEqual(utf8(1, s));
      expect(roundTrip(s)).toBe(s);
      expect(Array.from(jsonMarshaller.objectToBuffer([s]))).toEqual(utf8(2, JSON.stringify([s])));
      expect(roundTrip({ s })).toEqual({ s });
    }
    for (const n of [0, 1, -1, 0.1, -2.5e-7, 1e21, 2 ** 53, Number.MAX_VALUE, Number.MIN_VALUE]) {
      expect(Array.from(jsonMarshaller.objectToBuffer(n))).toEqual(utf8(2, JSON.stringify(n)));
      expect(roundTrip(n)).toBe(n);
    }
    for (const n of [-0, NaN, Infinity]) expect(Object.is(roundTrip(n), n)).toBe(true);
    // Malformed UTF-8 is refused in a short payload as in a long one.
    for (const bytes of [[1, 0x61, 0xc3], [2, 0x22, 0xed, 0xa0, 0x80, 0x22], [1, ...Array(80).fill(0x61), 0xff]]) {
      expect(() => jsonMarshaller.objectFromBuffer(new Uint8Array(bytes), 0, bytes.length)).toThrow(expect.objectContaining({ code: 'ERR_MARSHALLING' }));
    }
  });
});

describe('the default marshaller refuses what it cannot carry, naming where it is', () => {
  class Point {
    constructor(readonly x = 1) {}
  }
  test.each<[string, unknown, string]>([
    ['a function', () => 1, 'value: a function'],
    ['a symbol', Symbol('s'), 'value: a symbol'],
    ['a class instance', { a: [0, 1, 2, new Point()] }, 'value.a[3]: an instance of Point'],
    ['a RegExp in a Map value', { m: new Map([['k', /x/]]) }, 'value.m.get("k"): a RegExp'],
    ['a function as a Map key', new Map([[() => 1, 1]]), 'value.keys()[0]: a function'],
    ['a Promise in a Set', new Set([1, Promise.resolve()]), 'value.values()[1]: a Promise'],
    ['an Error', { 'odd key': new Error('x') }, 'value["odd key"]: an Error'],
    ['a WeakMap', [new WeakMap()], 'value[0]: a WeakMap'],
    ['a SharedArrayBuffer', { s: new SharedArrayBuffer(4) }, 'value.s: a SharedArrayBuffer'],
    ['a boxed number', { n: new Number(1) }, 'value.n: a Number'], // eslint-disable-line no-new-wrappers
    ['an object with an inherited prototype', { o: Object.create({ inherited: 1 }) }, 'value.o: an object with a custom prototype'],
    ['a typed array subclass', { t: new (class Bytes extends Uint8Array {})(2) }, 'value.t: an instance of Bytes'],
    ['an Array subclass', { t: new (class List extends Array {})() }, 'value.t: an instance of List'],
  ])('%s', (_name, value, where) => {
    expect(refusal(value).message).toContain(`cannot marshal ${where}`);
  });

  test('a cyclic value is refused, not overflowing the stack', () => {
    const a: Record<string, unknown> = { n: 1 };
    a.self = { back: a };
    expect(refusal(a).message).toMatch(/cannot marshal value\.self\.back\.self.*: nested more than 1000 levels deep \(a cyclic value\?\)/);
    const list: unknown[] = [];
    list.push(list);
    expect(refusal(list).message).toMatch(/nested more than 1000 levels/);
  });

  test('a refusal leaves nothing behind: the next value is judged on its own', () => {
    refusal({ a: { b: () => 1 } });
    expect(refusal({ c: Symbol('x') }).message).toContain('cannot marshal value.c: a symbol');
    expect(roundTrip({ a: 1 })).toEqual({ a: 1 });
  });

  test('a payload that is not a marshalled value fails with ERR_MARSHALLING', () => {
    const bad = (bytes: number[]) => () => jsonMarshaller.objectFromBuffer(new Uint8Array(bytes), 0, bytes.length);
    for (const bytes of [[], [0, 1], [1, 0xff], [2, 0x7b], [3, 0xff, 0x0f], [3], [9]]) {
      expect(bad(bytes)).toThrow(expect.objectContaining({ code: 'ERR_MARSHALLING' }));
    }
  });
});

describe('Message with a value', () => {
  test('new Message(dest, value) keeps the value until its payload is read or it is sent', () => {
    const m = new Message(null, { when: new Date(5) });
    expect(m.toString()).toContain('a value not marshalled yet');
    expect(m.getLength()).toBeGreaterThan(1);
    expect(difference(m.getObject(), { when: new Date(5) })).toBeNull();
  });

  test('a value the marshaller refuses fails when the payload is needed, not at construction', () => {
    const m = new Message(null, { f: () => 1 });
    expect(() => m.getLength()).toThrow(expect.objectContaining({ code: 'ERR_MARSHALLING' }));
  });

  test('marshalWith marshals with the given marshaller once, then keeps only the bytes', () => {
    const calls: unknown[] = [];
    const upper = {
      objectToBuffer: (o: unknown) => (calls.push(o), new TextEncoder().encode(String(o).toUpperCase())),
      objectFromBuffer: (b: Uint8Array, off: number, len: number) => new TextDecoder().decode(b.subarray(off, off + len)),
    };
    const m = new Message(null, 'abc');
    m.getLength(); // marshalled with JSON for now
    expect(m.marshalWith(upper).getObject(upper)).toBe('ABC');
    m.marshalWith(upper);
    m.marshalWith(jsonMarshaller); // nothing left to re-marshal: the bytes stay
    expect(calls).toEqual(['abc']);
    expect(m.getObject(upper)).toBe('ABC');
    expect(new Message(null, 'abc').copy().marshalWith(upper).getObject(upper)).toBe('ABC');
  });
});
