import { Address, NameCache } from '@tsgroups/core';

const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe('Address.random', () => {
  test('produces RFC 4122 version-4 UUIDs', () => {
    for (let i = 0; i < 200; i++) {
      const a = Address.random();
      expect(a.bytes).toHaveLength(16);
      expect(a.bytes[6]! >> 4).toBe(4); // version
      expect(a.bytes[8]! & 0xc0).toBe(0x80); // variant 10xx
      expect(a.toUUIDString()).toMatch(UUID_V4);
    }
  });

  test('produces distinct addresses', () => {
    const addrs = Array.from({ length: 2000 }, () => Address.random());
    expect(new Set(addrs).size).toBe(2000);
    expect(new Set(addrs.map((a) => a.toUUIDString())).size).toBe(2000);
    expect(new Set(addrs.map((a) => a.key)).size).toBe(2000);
  });
});

describe('Address.fromBytes', () => {
  test('returns the same (interned) object for the same 16 bytes', () => {
    const a = Address.random();
    const copy = new Uint8Array(a.bytes);
    expect(Address.fromBytes(copy)).toBe(a);
    // From an offset inside a larger buffer.
    const big = new Uint8Array(40).fill(0xee);
    big.set(a.bytes, 7);
    expect(Address.fromBytes(big, 7)).toBe(a);
    // Two fresh decodes of bytes nobody interned yet agree with each other.
    const raw = new Uint8Array(16).map((_, i) => i * 7 + 3);
    const x = Address.fromBytes(raw);
    const y = Address.fromBytes(Uint8Array.from(raw));
    expect(x).toBe(y);
  });

  test('interned addresses work as Map and Set keys', () => {
    const a = Address.random();
    const b = Address.random();
    const map = new Map<Address, string>([
      [a, 'a'],
      [b, 'b'],
    ]);
    expect(map.get(Address.fromBytes(Uint8Array.from(a.bytes)))).toBe('a');
    expect(map.get(Address.parse(b.toUUIDString()))).toBe('b');
    const set = new Set([a, Address.fromBytes(Uint8Array.from(a.bytes))]);
    expect(set.size).toBe(1);
  });

  test('copies the bytes: changing the source buffer later does not change the address', () => {
    const src = new Uint8Array(16).map((_, i) => 0xa0 + i);
    const a = Address.fromBytes(src);
    const before = a.toUUIDString();
    src.fill(0);
    expect(a.toUUIDString()).toBe(before);
    expect(a.bytes).not.toBe(src);
  });

  test('copies the bytes of a Node Buffer too (Buffer#slice would share memory)', () => {
    const src = Buffer.alloc(32);
    for (let i = 0; i < 32; i++) src[i] = 0x50 + i;
    const a = Address.fromBytes(src, 8);
    const before = a.toUUIDString();
    src.fill(0);
    expect(a.toUUIDString()).toBe(before);
    expect(Address.parse(before)).toBe(a);
  });

  test('throws RangeError when fewer than 16 bytes are available', () => {
    expect(() => Address.fromBytes(new Uint8Array(0))).toThrow(RangeError);
    expect(() => Address.fromBytes(new Uint8Array(15))).toThrow(RangeError);
    expect(() => Address.fromBytes(new Uint8Array(20), 5)).toThrow(RangeError);
    expect(() => Address.fromBytes(new Uint8Array(20), 4)).not.toThrow();
  });
});

describe('Address.parse / toUUIDString', () => {
  test('round trips the canonical form', () => {
    const text = '6ba7b810-9dad-41d1-80b4-00c04fd430c8';
    const a = Address.parse(text);
    expect(a.toUUIDString()).toBe(text);
    expect(Array.from(a.bytes.subarray(0, 4))).toEqual([0x6b, 0xa7, 0xb8, 0x10]);
    expect(a.bytes[15]).toBe(0xc8);
  });

  test('round trips random addresses to the same object', () => {
    for (let i = 0; i < 100; i++) {
      const a = Address.random();
      expect(Address.parse(a.toUUIDString())).toBe(a);
    }
  });

  test('accepts upper case and returns lower-case canonical text', () => {
    const a = Address.parse('6BA7B810-9DAD-41D1-80B4-00C04FD430C8');
    expect(a.toUUIDString()).toBe('6ba7b810-9dad-41d1-80b4-00c04fd430c8');
    expect(a.toJSON()).toBe('6ba7b810-9dad-41d1-80b4-00c04fd430c8');
    expect(JSON.stringify({ a })).toBe('{"a":"6ba7b810-9dad-41d1-80b4-00c04fd430c8"}');
  });

  test('rejects text that is not a UUID', () => {
    expect(() => Address.parse('not-a-uuid')).toThrow(RangeError);
    expect(() => Address.parse('6ba7b810-9dad-41d1-80b4-00c04fd430c')).toThrow(RangeError);
    expect(() => Address.parse('6ba7b810-9dad-41d1-80b4-00c04fd430c8a')).toThrow(RangeError);
    expect(() => Address.parse('zba7b810-9dad-41d1-80b4-00c04fd430c8')).toThrow(RangeError);
  });
});

describe('Address.compareTo / equals', () => {
  const mk = (last: number, first = 0) => {
    const b = new Uint8Array(16);
    b[0] = first;
    b[15] = last;
    return Address.fromBytes(b);
  };

  test('orders by the UUID bytes', () => {
    const a1 = mk(1);
    const a2 = mk(2);
    const high = mk(0, 0xff);
    expect(a1.compareTo(a2)).toBeLessThan(0);
    expect(a2.compareTo(a1)).toBeGreaterThan(0);
    expect(a2.compareTo(high)).toBeLessThan(0);
    expect(high.compareTo(a1)).toBeGreaterThan(0);
    expect(a1.compareTo(mk(1))).toBe(0);
  });

  test('is a total order consistent with the UUID text and equals', () => {
    const addrs = Array.from({ length: 300 }, () => Address.random());
    const sorted = addrs.slice().sort((x, y) => x.compareTo(y));
    const byText = addrs.slice().sort((x, y) => (x.toUUIDString() < y.toUUIDString() ? -1 : 1));
    expect(sorted).toEqual(byText);
    for (let i = 0; i < 100; i++) {
      const x = addrs[i]!;
      const y = addrs[(i * 7 + 1) % addrs.length]!;
      const z = addrs[(i * 13 + 2) % addrs.length]!;
      expect(x.compareTo(x)).toBe(0);
      expect(Math.sign(x.compareTo(y))).toBe(-Math.sign(y.compareTo(x)));
      expect(x.compareTo(y) === 0).toBe(x.equals(y));
      if (x.compareTo(y) < 0 && y.compareTo(z) < 0) expect(x.compareTo(z)).toBeLessThan(0);
    }
  });

  test('equals compares the UUID and tolerates null/undefined', () => {
    const a = Address.random();
    const b = Address.random();
    expect(a.equals(a)).toBe(true);
    expect(a.equals(Address.fromBytes(Uint8Array.from(a.bytes)))).toBe(true);
    expect(a.equals(b)).toBe(false);
    expect(a.equals(null)).toBe(false);
    expect(a.equals(undefined)).toBe(false);
  });
});

describe('NameCache', () => {
  test('toString shows the logical name while one is known, else the UUID', () => {
    const a = Address.random();
    expect(a.toString()).toBe(a.toUUIDString());
    NameCache.add(a, 'node-A');
    try {
      expect(a.toString()).toBe('node-A');
      expect(`${a}`).toBe('node-A');
      expect(NameCache.get(a)).toBe('node-A');
      // Another decode of the same bytes is the same member and shows the same name.
      expect(Address.fromBytes(Uint8Array.from(a.bytes)).toString()).toBe('node-A');
      NameCache.add(a, 'node-A2');
      expect(a.toString()).toBe('node-A2');
      // toJSON stays the UUID: names are for display only.
      expect(a.toJSON()).toBe(a.toUUIDString());
    } finally {
      NameCache.remove(a);
    }
    expect(NameCache.get(a)).toBeUndefined();
    expect(a.toString()).toBe(a.toUUIDString());
  });

  test('is bounded: beyond maxSize the oldest name is dropped', () => {
    const first = Address.random();
    NameCache.add(first, 'first');
    const others = Array.from({ length: NameCache.maxSize }, () => Address.random());
    try {
      others.forEach((a, i) => NameCache.add(a, `n${i}`));
      expect(NameCache.get(first)).toBeUndefined();
      expect(NameCache.get(others[others.length - 1]!)).toBe(`n${others.length - 1}`);
      expect(NameCache.get(others[0]!)).toBe('n0');
    } finally {
      NameCache.remove(first);
      for (const a of others) NameCache.remove(a);
    }
  });
});
