import { PhysicalAddress } from '@tsgroups/core';

describe('PhysicalAddress', () => {
  test('parses and prints IPv4 and IPv6 forms', () => {
    const v4 = PhysicalAddress.parse('127.0.0.1:7800')!;
    expect(v4.host).toBe('127.0.0.1');
    expect(v4.port).toBe(7800);
    expect(String(v4)).toBe('127.0.0.1:7800');
    const v6 = PhysicalAddress.parse('[::1]:45588')!;
    expect(v6.host).toBe('::1');
    expect(String(v6)).toBe('[::1]:45588');
    expect(PhysicalAddress.parse(String(v6))!.equals(v6)).toBe(true);
    expect(JSON.stringify({ p: v4 })).toBe('{"p":"127.0.0.1:7800"}');
  });

  test.each(['', 'banana', 'banana:80', '127.0.0.1', '127.0.0.1:', '127.0.0.1:65536', '127.0.0.1:-1', '127.0.0.1:8x', ':80', 42, null])(
    'refuses %p',
    (text) => {
      expect(PhysicalAddress.parse(text)).toBeUndefined();
    },
  );

  test('of() checks its arguments', () => {
    expect(() => PhysicalAddress.of('nope', 1)).toThrow(RangeError);
    expect(() => PhysicalAddress.of('127.0.0.1', 1.5)).toThrow(RangeError);
    expect(PhysicalAddress.of('127.0.0.1', 0).equals(PhysicalAddress.parse('127.0.0.1:0'))).toBe(true);
  });
});
