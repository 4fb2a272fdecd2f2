import { Address, canonicalKey, ConsistentHash } from 'tsgroups';

// The placement ReplCache uses: the same owners on every member, balanced, and keys move only
// when they must (to or from the member that joined or left).

const members = (n: number): Address[] => Array.from({ length: n }, () => Address.random());
const KEYS: (string | number)[] = [...Array.from({ length: 1000 }, (_, i) => `key-${i}`), ...Array.from({ length: 1000 }, (_, i) => i * 7.5)];

describe('ConsistentHash', () => {
  test('owners are distinct members, as many as asked, and do not depend on the order of the members', () => {
    const ms = members(6);
    const h = new ConsistentHash(ms);
    const shuffled = new ConsistentHash([...ms].reverse());
    for (const key of KEYS) {
      const two = h.owners(key, 2);
      expect(two).toHaveLength(2);
      expect(new Set(two).size).toBe(2);
      expect(shuffled.owners(key, 2)).toEqual(two);
      // A smaller count is a prefix of a larger one: the key's ranking.
      const all = h.owners(key, -1);
      expect(all).toHaveLength(6);
      expect(all.slice(0, 2)).toEqual(two);
      expect(h.owners(key, 1)).toEqual([two[0]]);
      expect(h.owners(key, 10)).toEqual(all);
    }
  });

  test('placement is stable: a new hash over the same members places every key the same', () => {
    const ms = members(5);
    const a = new ConsistentHash(ms);
    const b = new ConsistentHash([ms[2]!, ms[0]!, ms[4]!, ms[1]!, ms[3]!, ms[0]!]); // order and duplicates do not matter
    for (const key of KEYS) expect(b.owners(key, 3)).toEqual(a.owners(key, 3));
  });

  test('keys spread evenly: each of 5 members is among the 2 owners of about 2/5 of the keys', () => {
    const ms = members(5);
    const h = new ConsistentHash(ms);
    const count = new Map<Address, number>(ms.map((m) => [m, 0]));
    for (const key of KEYS) for (const m of h.owners(key, 2)) count.set(m, count.get(m)! + 1);
    // 2000 keys x 2 copies / 5 members = 800 each.
    for (const n of count.values()) expect(Math.abs(n - 800)).toBeLessThan(150);
  });

  test('a member leaves: only its keys move, each to exactly one new owner', () => {
    const ms = members(5);
    const before = new ConsistentHash(ms);
    const gone = ms[2]!;
    const after = new ConsistentHash(ms.filter((m) => m !== gone));
    let moved = 0;
    for (const key of KEYS) {
      const old = before.owners(key, 2);
      const now = after.owners(key, 2);
      if (!old.includes(gone)) {
        expect(now).toEqual(old);
        continue;
      }
      moved++;
      const kept = old.filter((m) => m !== gone);
      expect(now.filter((m) => kept.includes(m))).toEqual(kept);
      expect(now.filter((m) => !old.includes(m))).toHaveLength(1);
    }
    expect(moved).toBeGreaterThan(0);
  });

  test('a member joins: only the keys it now owns move, each displacing one old owner', () => {
    const ms = members(5);
    const before = new ConsistentHash(ms);
    const joiner = Address.random();
    const after = new ConsistentHash([...ms, joiner]);
    let moved = 0;
    for (const key of KEYS) {
      const old = before.owners(key, 2);
      const now = after.owners(key, 2);
      if (!now.includes(joiner)) {
        expect(now).toEqual(old);
        continue;
      }
      moved++;
      expect(now.filter((m) => m !== joiner)).toHaveLength(1);
      expect(old).toContain(now.find((m) => m !== joiner));
    }
    // About 2/6 of the keys move to the joiner.
    expect(Math.abs(moved - KEYS.length / 3)).toBeLessThan(150);
  });

  test('keys: strings and finite numbers, -0 is 0, 1 and "1" differ; anything else is refused', () => {
    expect(canonicalKey(-0)).toBe(canonicalKey(0));
    expect(canonicalKey(1)).not.toBe(canonicalKey('1'));
    const h = new ConsistentHash(members(3));
    expect(h.owners(-0, 3)).toEqual(h.owners(0, 3));
    for (const bad of [NaN, Infinity, null, undefined, {}, [1], 1n, true]) {
      expect(() => canonicalKey(bad)).toThrow(expect.objectContaining({ code: 'ERR_BAD_ARGUMENT' }));
    }
  });

  test('no members: no owners', () => {
    expect(new ConsistentHash([]).owners('k', 2)).toEqual([]);
  });
});
