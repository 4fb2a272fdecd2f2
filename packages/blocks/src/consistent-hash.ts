import { type Address, TsgroupsError } from '@tsgroups/core';

/** What a {@link ConsistentHash} places: strings and finite numbers (`1` and `'1'` are different keys). */
export type CacheKey = string | number;

/**
 * The canonical text of a key, which every member hashes the same way: a type tag and the value
 * (`-0` is `0`, as a `Map` treats it).
 * @throws TsgroupsError `ERR_BAD_ARGUMENT` for anything but a string or a finite number
 */
export function canonicalKey(key: unknown): string {
  if (typeof key === 'string') return `s${key}`;
  if (typeof key === 'number' && Number.isFinite(key)) return `n${key === 0 ? 0 : key}`;
  const what = typeof key === 'number' ? String(key) : key === null ? 'null' : typeof key;
  throw new TsgroupsError('ERR_BAD_ARGUMENT', `a cache key is a string or a finite number, got ${what}`);
}

/**
 * Places keys on members by rendezvous hashing (highest random weight): every member gets a
 * pseudo-random score for a key, and the key's owners are the members with the highest scores.
 * A key's placement depends only on the set of members, not on their order in the view, so
 * every member that sees the same members computes the same owners. When a member leaves, only
 * the keys it owned move, each to one new owner (the next in that key's ranking); when a member
 * joins, only the keys it now owns move, each displacing one owner. Costs O(members) per key.
 */
export class ConsistentHash {
  private readonly members: readonly Address[];
  private readonly memberHashes: Uint32Array;

  constructor(members: Iterable<Address>) {
    this.members = [...new Set(members)];
    this.memberHashes = Uint32Array.from(this.members, (m) => fmix32(fnv1a(m.key)));
  }

  /** The members keys are placed on. */
  getMembers(): readonly Address[] {
    return this.members;
  }

  /**
   * The `count` owners of `key`, best first (the first is the key's primary). `count` -1, or at
   * least the number of members, gives every member, in the key's ranking.
   */
  owners(key: CacheKey, count: number): Address[] {
    const h = fmix32(fnv1a(canonicalKey(key)));
    const n = this.members.length;
    const want = count < 0 || count >= n ? n : count;
    // Insertion into the top `want` so far: want is small (the replication count) in the common case.
    const top: number[] = [];
    const scores: number[] = [];
    for (let i = 0; i < n; i++) {
      const s = fmix32((h ^ this.memberHashes[i]!) >>> 0);
      let at = top.length;
      while (at > 0 && this.before(s, i, scores[at - 1]!, top[at - 1]!)) at--;
      if (at >= want) continue;
      top.splice(at, 0, i);
      scores.splice(at, 0, s);
      if (top.length > want) {
        top.pop();
        scores.pop();
      }
    }
    return top.map((i) => this.members[i]!);
  }

  /** Whether member `i` with score `s` ranks above member `j` with score `t` (ties by UUID). */
  private before(s: number, i: number, t: number, j: number): boolean {
    if (s !== t) return s > t;
    return this.members[i]!.compareTo(this.members[j]!) < 0;
  }
}

/** 32-bit FNV-1a over UTF-16 code units. */
function fnv1a(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** MurmurHash3's finalizer: spreads every input bit over the whole word. */
function fmix32(x: number): number {
  x ^= x >>> 16;
  x = Math.imul(x, 0x85ebca6b);
  x ^= x >>> 13;
  x = Math.imul(x, 0xc2b2ae35);
  x ^= x >>> 16;
  return x >>> 0;
}
