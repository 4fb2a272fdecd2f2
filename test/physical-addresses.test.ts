// The transports' table of physical addresses (verified vs claimed, pinned while a view member,
// bounded) and PING's per-source rate limiter, on their own.
import { Address, PhysicalAddress } from 'tsgroups';
import { SourceRateLimiter } from '../protocols/src/discovery/source-rate-limiter.js';
import { PhysicalAddresses } from '../protocols/src/transport/physical-addresses.js';

const p = (port: number) => PhysicalAddress.of('127.0.0.1', port);

describe('PhysicalAddresses', () => {
  test('a claim never replaces a verified address; a verified one replaces a claim, and a non-member\'s verified one', () => {
    const members = new Set<Address>();
    const t = new PhysicalAddresses(100, (a) => members.has(a));
    const b = Address.random();
    expect(t.learn(b, p(1), false)).toBe('added');
    expect(t.learn(b, p(2), false)).toBe('replaced'); // claim over claim
    expect(t.learn(b, p(3), true)).toBe('replaced'); // verified over claim
    expect(t.learn(b, p(4), false)).toBe('refused'); // claim over verified
    expect(t.learn(b, p(5), true)).toBe('replaced'); // not a member: its own datagrams move it
    members.add(b);
    expect(t.learn(b, p(6), true)).toBe('refused'); // a member's verified address is pinned
    expect(t.learn(b, p(5), false)).toBe('same');
    expect(t.get(b)!.port).toBe(5);
    members.delete(b); // it left
    expect(t.learn(b, p(7), true)).toBe('replaced');
  });

  test('bounded: at the limit the oldest non-member goes, members stay', () => {
    const members = new Set<Address>();
    const t = new PhysicalAddresses(10, (a) => members.has(a));
    const first = Array.from({ length: 3 }, () => Address.random());
    for (const [i, a] of first.entries()) {
      t.learn(a, p(100 + i), true);
      members.add(a);
    }
    const strangers = Array.from({ length: 100 }, () => Address.random());
    for (const [i, a] of strangers.entries()) t.learn(a, p(1000 + i), false);
    expect(t.size).toBe(10);
    for (const a of first) expect(t.has(a)).toBe(true);
    expect(t.has(strangers[99]!)).toBe(true);
    expect(t.has(strangers[0]!)).toBe(false);
  });
});

describe('SourceRateLimiter', () => {
  test('allows max per source per interval, each source on its own, and a new window after the interval', () => {
    const l = new SourceRateLimiter();
    let ok = 0;
    for (let i = 0; i < 100; i++) if (l.allow('a:1', 20, 1000, 5000)) ok++;
    expect(ok).toBe(20);
    expect(l.allow('b:1', 20, 1000, 5000)).toBe(true);
    expect(l.allow('a:1', 20, 1000, 5999)).toBe(false);
    expect(l.allow('a:1', 20, 1000, 6000)).toBe(true);
  });

  test('the table of sources is bounded', () => {
    const l = new SourceRateLimiter();
    for (let i = 0; i < 10_000; i++) l.allow(`h:${i}`, 1, 1000, 0);
    expect(l.size).toBeLessThanOrEqual(4096);
  });
});
