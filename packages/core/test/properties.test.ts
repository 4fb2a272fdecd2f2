import { networkInterfaces } from 'node:os';
import { MAX_DURATION_MS, camelToSnake, convertProperty, parseDuration, parseSize, snakeToCamel, type PropertyDecl } from '@tsgroups/core';

function ok(decl: PropertyDecl, value: unknown): unknown {
  const r = convertProperty(decl, value);
  if ('error' in r) throw new Error(`expected ${JSON.stringify(value)} to convert, got: ${r.error}`);
  return r.value;
}

function fails(decl: PropertyDecl, value: unknown): string {
  const r = convertProperty(decl, value);
  if (!('error' in r)) throw new Error(`expected ${JSON.stringify(value)} to be rejected, got ${JSON.stringify(r.value)}`);
  expect(typeof r.error).toBe('string');
  expect(r.error.length).toBeGreaterThan(0);
  return r.error;
}

describe('parseSize', () => {
  test.each<[string, number]>([
    ['100', 100],
    ['0', 0],
    ['100b', 100],
    ['64K', 64_000],
    ['64k', 64_000],
    ['64KB', 64_000],
    ['64KiB', 65_536],
    ['4M', 4_000_000],
    ['4mb', 4_000_000],
    ['4MiB', 4_194_304],
    ['1G', 1_000_000_000],
    ['2GiB', 2 * 1024 ** 3],
    ['1.5K', 1500],
    ['  8 KiB ', 8192],
  ])('%j = %d bytes', (text, bytes) => {
    expect(parseSize(text)).toBe(bytes);
  });

  test.each(['', 'abc', '4X', '4 M B', '-1', '-4M', 'K', '1e3', '4M4', '0x10', '1.2.3'])('%j is not a size', (text) => {
    expect(parseSize(text)).toBeUndefined();
  });

  test('fractions of a byte are rounded', () => {
    expect(parseSize('1.0005K')).toBe(1001);
  });
});

describe('parseDuration', () => {
  test.each<[string, number]>([
    ['250', 250],
    ['0', 0],
    ['500ms', 500],
    ['1.5s', 1500],
    ['3sec', 3000],
    ['2s', 2000],
    ['2m', 120_000],
    ['2min', 120_000],
    ['1h', 3_600_000],
    ['1500us', 1.5],
    [' 10 ms ', 10],
    ['5MS', 5],
  ])('%j = %d ms', (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });

  test.each(['', 'soon', '5d', '-5s', '1.5.5s', 's', '5 seconds'])('%j is not a duration', (text) => {
    expect(parseDuration(text)).toBeUndefined();
  });
});

describe('convertProperty', () => {
  test('boolean', () => {
    const d: PropertyDecl = { type: 'boolean' };
    expect(ok(d, 'true')).toBe(true);
    expect(ok(d, 'false')).toBe(false);
    expect(ok(d, ' TRUE ')).toBe(true);
    expect(ok(d, 'False')).toBe(false);
    expect(ok(d, true)).toBe(true);
    expect(ok(d, false)).toBe(false);
    expect(fails(d, 'yes')).toMatch(/true or false/);
    fails(d, '1');
    fails(d, 1);
    fails(d, '');
    fails(d, null);
  });

  test('int', () => {
    const d: PropertyDecl = { type: 'int' };
    expect(ok(d, '42')).toBe(42);
    expect(ok(d, ' -7 ')).toBe(-7);
    expect(ok(d, 12)).toBe(12);
    expect(fails(d, '1.5')).toMatch(/integer/);
    fails(d, 1.5);
    fails(d, '');
    fails(d, 'abc');
    fails(d, 'Infinity');
    fails(d, Number.NaN);
    fails(d, true);
  });

  test('number', () => {
    const d: PropertyDecl = { type: 'number' };
    expect(ok(d, '1.5')).toBe(1.5);
    expect(ok(d, '-0.25')).toBe(-0.25);
    expect(ok(d, 3)).toBe(3);
    expect(ok(d, '1e3')).toBe(1000);
    expect(fails(d, 'x')).toMatch(/number/);
    fails(d, '   ');
    fails(d, Number.POSITIVE_INFINITY);
  });

  test('size', () => {
    const d: PropertyDecl = { type: 'size' };
    expect(ok(d, '4M')).toBe(4_000_000);
    expect(ok(d, '64KiB')).toBe(65_536);
    expect(ok(d, 1234)).toBe(1234);
    expect(fails(d, '4X')).toMatch(/size/);
    fails(d, -1);
    fails(d, Number.NaN);
    fails(d, true);
  });

  test('duration', () => {
    const d: PropertyDecl = { type: 'duration' };
    expect(ok(d, '1.5s')).toBe(1500);
    expect(ok(d, '500')).toBe(500);
    expect(ok(d, 250)).toBe(250);
    expect(fails(d, 'later')).toMatch(/duration/);
    fails(d, -5);
    fails(d, Number.POSITIVE_INFINITY);
    fails(d, {});
  });

  test('string', () => {
    const d: PropertyDecl = { type: 'string' };
    expect(ok(d, 'abc')).toBe('abc');
    expect(ok(d, '  padded  ')).toBe('  padded  '); // strings are kept verbatim
    expect(ok(d, '')).toBe('');
    fails(d, 5);
    fails(d, null);
  });

  test('enum', () => {
    const d: PropertyDecl = { type: 'enum', values: ['fast', 'safe'] };
    expect(ok(d, 'fast')).toBe('fast');
    expect(ok(d, ' safe ')).toBe('safe');
    const err = fails(d, 'slow');
    expect(err).toContain('fast');
    expect(err).toContain('safe');
    fails(d, 'FAST');
    fails(d, 1);
  });

  test('list', () => {
    const d: PropertyDecl = { type: 'list' };
    expect(ok(d, 'a, b,,c ,')).toEqual(['a', 'b', 'c']);
    expect(ok(d, 'host1[7800],host2[7801]')).toEqual(['host1[7800]', 'host2[7801]']);
    expect(ok(d, '')).toEqual([]);
    expect(ok(d, ['x', 1])).toEqual(['x', '1']);
    fails(d, 5);
    fails(d, { a: 1 });
  });

  test('min and max bound numeric types after unit conversion', () => {
    const int: PropertyDecl = { type: 'int', min: 1, max: 65535 };
    expect(ok(int, '1')).toBe(1);
    expect(ok(int, '65535')).toBe(65535);
    expect(fails(int, '0')).toMatch(/at least 1/);
    expect(fails(int, '65536')).toMatch(/at most 65535/);

    const size: PropertyDecl = { type: 'size', min: 1000, max: 1_000_000 };
    expect(ok(size, '1K')).toBe(1000);
    expect(ok(size, '1M')).toBe(1_000_000);
    expect(fails(size, '1MiB')).toMatch(/at most 1000000/);
    expect(fails(size, '999')).toMatch(/at least 1000/);

    const dur: PropertyDecl = { type: 'duration', min: 10, max: 60_000 };
    expect(ok(dur, '1m')).toBe(60_000);
    expect(fails(dur, '2m')).toMatch(/at most 60000/);
    expect(fails(dur, '5ms')).toMatch(/at least 10/);

    const num: PropertyDecl = { type: 'number', min: 0, max: 1 };
    expect(ok(num, '0.5')).toBe(0.5);
    fails(num, '-0.1');
    fails(num, 1.01);
  });
});

describe('strict parsing: a typo fails when the stack is built', () => {
  test.each(['0x10', '1e3', '10abc', '1.0', '0b1', '1_000', '--1', '12 3', 'true', '9007199254740993'])('int refuses %j', (text) => {
    expect(fails({ type: 'int' }, text)).toMatch(/integer/);
  });

  test('int takes plain decimal digits, with a sign and surrounding whitespace', () => {
    const d: PropertyDecl = { type: 'int' };
    expect(ok(d, '+3')).toBe(3);
    expect(ok(d, ' 16\n')).toBe(16);
    expect(ok(d, '007')).toBe(7);
  });

  test.each(['0x10', 'Infinity', '-Infinity', 'NaN', '1e', '.', '1.5.2', '5%', '0.5f'])('number refuses %j', (text) => {
    fails({ type: 'number' }, text);
  });

  test('number takes decimals with an optional exponent', () => {
    const d: PropertyDecl = { type: 'number' };
    expect(ok(d, '.5')).toBe(0.5);
    expect(ok(d, '2.5e-1')).toBe(0.25);
    expect(ok(d, '-3')).toBe(-3);
  });

  test('size: whole bytes within the safe integer range', () => {
    const d: PropertyDecl = { type: 'size' };
    fails(d, 1.5);
    fails(d, '0x10');
    fails(d, '99999999999999999G');
    expect(ok(d, '1.5K')).toBe(1500);
  });

  test('boolean: true or false only', () => {
    const d: PropertyDecl = { type: 'boolean' };
    for (const t of ['yes', 'no', 'on', '0', 'truee', 't']) fails(d, t);
    expect(ok(d, 'true ')).toBe(true);
  });

  test(`a duration is at most ${MAX_DURATION_MS} ms, the longest timer Node runs`, () => {
    const d: PropertyDecl = { type: 'duration' };
    expect(ok(d, String(MAX_DURATION_MS))).toBe(MAX_DURATION_MS);
    expect(ok(d, '596h')).toBe(596 * 3_600_000);
    expect(fails(d, '600h')).toMatch(/at most 2147483647/);
    fails(d, MAX_DURATION_MS + 1);
    // A smaller declared max still applies.
    expect(fails({ type: 'duration', max: 1000 }, '2s')).toMatch(/at most 1000/);
  });
});

describe('address types', () => {
  test.each(['127.0.0.1', '192.0.2.3', 'localhost', 'loopback', 'LOOPBACK', 'LocalHost', ' 127.0.0.1 '])('address takes %j', (text) => {
    expect(ok({ type: 'address' }, text)).toBe(text.trim());
  });

  test.each(['banana', '', '256.0.0.1', '127.0.0', '127.0.0.1:7800', 'no-such-interface0', '::1', 'http://x'])('address refuses %j', (text) => {
    expect(fails({ type: 'address' }, text)).toMatch(/IPv4 address|site_local/);
  });

  test('address refuses what is not text', () => {
    fails({ type: 'address' }, 127);
    fails({ type: 'address' }, null);
  });

  test('an interface of this machine is an address; its name is kept as written', () => {
    const [name] = Object.entries(networkInterfaces()).find(([, addrs]) => addrs?.some((a) => a.family === 'IPv4')) ?? [];
    expect(name).toBeDefined();
    expect(ok({ type: 'address' }, name)).toBe(name);
  });

  test('multicast-address takes IPv4 literals in 224.0.0.0/4 only', () => {
    const d: PropertyDecl = { type: 'multicast-address' };
    expect(ok(d, '239.8.8.8')).toBe('239.8.8.8');
    expect(ok(d, '224.0.0.1')).toBe('224.0.0.1');
    for (const t of ['192.0.2.1', '240.0.0.1', '223.255.255.255', 'loopback', 'banana', '']) {
      expect(fails(d, t)).toMatch(/multicast/);
    }
  });
});

describe('name conversion', () => {
  test.each<[string, string]>([
    ['mcast_port', 'mcastPort'],
    ['max_bundle_size', 'maxBundleSize'],
    ['ip_ttl', 'ipTtl'],
    ['timeout', 'timeout'],
    ['use_ipv6', 'useIpv6'],
  ])('%s <-> %s', (snake, camel) => {
    expect(snakeToCamel(snake)).toBe(camel);
    expect(camelToSnake(camel)).toBe(snake);
    expect(snakeToCamel(camelToSnake(camel))).toBe(camel);
  });

  test('camelCase input passes snakeToCamel unchanged', () => {
    expect(snakeToCamel('mcastPort')).toBe('mcastPort');
    expect(camelToSnake('mcast_port')).toBe('mcast_port');
  });
});
