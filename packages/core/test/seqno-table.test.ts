import { SeqnoAdd, SeqnoTable, type SeqnoAddResult, seededRandom } from '@tsgroups/core';

/** An element: the seqno it was sent with, so a test sees which one came out. */
interface E {
  s: number;
}
const e = (s: number): E => ({ s });
const seqnos = (list: E[]) => list.map((x) => x.s);
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

/** Everything deliverable now, as seqnos. */
function drain(t: SeqnoTable<E>): number[] {
  const out: E[] = [];
  t.removeDeliverable(out);
  return seqnos(out);
}


describe('SeqnoTable', () => {
  test('in order: each element is delivered at once and nothing waits', () => {
    const t = new SeqnoTable<E>();
    for (let s = 1; s <= 100; s++) {
      expect(t.add(s, e(s))).toBe(SeqnoAdd.DELIVER);
      expect(t.removeNext()).toBeUndefined();
    }
    expect(t.highestDelivered).toBe(100);
    expect(t.highestReceived).toBe(100);
    expect(t.low).toBe(0);
    expect(t.size()).toBe(100); // retained for retransmission until purged
    expect(t.get(37)).toEqual(e(37));
    expect(t.missing()).toEqual([]);
    expect(t.numMissing()).toBe(0);
  });

  test('without retainDelivered, delivered elements are forgotten and low follows highestDelivered', () => {
    const t = new SeqnoTable<E>(0, { retainDelivered: false });
    for (let s = 1; s <= 50; s++) expect(t.add(s, e(s))).toBe(SeqnoAdd.DELIVER);
    expect(t.size()).toBe(0);
    expect(t.low).toBe(50);
    expect(t.get(50)).toBeUndefined();
    expect(t.add(53, e(53))).toBe(SeqnoAdd.BUFFERED);
    expect(t.add(52, e(52))).toBe(SeqnoAdd.BUFFERED);
    expect(t.add(51, e(51))).toBe(SeqnoAdd.DELIVER);
    expect(drain(t)).toEqual([52, 53]);
    expect(t.size()).toBe(0);
    expect(t.low).toBe(53);
  });

  test('out of order: later elements wait for the gap, then come out in order', () => {
    const t = new SeqnoTable<E>();
    expect(t.add(3, e(3))).toBe(SeqnoAdd.BUFFERED);
    expect(t.add(5, e(5))).toBe(SeqnoAdd.BUFFERED);
    expect(t.add(2, e(2))).toBe(SeqnoAdd.BUFFERED);
    expect(drain(t)).toEqual([]);
    expect(t.highestDelivered).toBe(0);
    expect(t.highestReceived).toBe(5);
    expect(t.add(1, e(1))).toBe(SeqnoAdd.DELIVER);
    expect(drain(t)).toEqual([2, 3]);
    expect(t.highestDelivered).toBe(3);
    expect(t.add(4, e(4))).toBe(SeqnoAdd.DELIVER);
    expect(drain(t)).toEqual([5]);
    expect(t.highestDelivered).toBe(5);
  });

  test('duplicates: delivered, waiting, purged and OOB-delivered seqnos are all refused', () => {
    const t = new SeqnoTable<E>();
    t.add(1, e(1));
    t.add(3, e(3));
    t.add(5, e(5), true);
    expect(t.add(1, e(1))).toBe(SeqnoAdd.DUPLICATE);
    expect(t.add(3, e(3))).toBe(SeqnoAdd.DUPLICATE);
    expect(t.add(5, e(5), true)).toBe(SeqnoAdd.DUPLICATE);
    expect(t.add(5, e(5))).toBe(SeqnoAdd.DUPLICATE);
    expect(t.add(0, e(0))).toBe(SeqnoAdd.DUPLICATE);
    expect(t.add(-4, e(-4))).toBe(SeqnoAdd.DUPLICATE);
    t.purge(1);
    expect(t.add(1, e(1))).toBe(SeqnoAdd.DUPLICATE);
    expect(t.size()).toBe(2);
  });

  test('OOB elements are delivered at arrival and passed over by the in-order pass', () => {
    const t = new SeqnoTable<E>();
    expect(t.add(3, e(3), true)).toBe(SeqnoAdd.DELIVER);
    expect(t.add(2, e(2))).toBe(SeqnoAdd.BUFFERED);
    expect(t.add(5, e(5), true)).toBe(SeqnoAdd.DELIVER);
    expect(t.add(1, e(1))).toBe(SeqnoAdd.DELIVER);
    expect(drain(t)).toEqual([2]); // 3 was delivered at arrival; 5 waits for 4
    expect(t.highestDelivered).toBe(3);
    expect(t.get(3)).toEqual(e(3)); // still held for retransmission
    expect(t.add(4, e(4), true)).toBe(SeqnoAdd.DELIVER);
    expect(drain(t)).toEqual([]);
    expect(t.highestDelivered).toBe(5);
    // An OOB element that is next in order is simply delivered.
    expect(t.add(6, e(6), true)).toBe(SeqnoAdd.DELIVER);
    expect(t.highestDelivered).toBe(6);
  });

  test('gaps: missing() lists what never arrived, up to highestReceived, at most max', () => {
    const t = new SeqnoTable<E>();
    for (const s of [1, 4, 7, 10]) t.add(s, e(s));
    expect(t.missing()).toEqual([2, 3, 5, 6, 8, 9]);
    expect(t.missing(3)).toEqual([2, 3, 5]);
    expect(t.numMissing()).toBe(6);
    t.raiseHighestReceived(12);
    t.raiseHighestReceived(11); // never lowers it
    expect(t.highestReceived).toBe(12);
    expect(t.missing()).toEqual([2, 3, 5, 6, 8, 9, 11, 12]);
    expect(t.add(2, e(2))).toBe(SeqnoAdd.DELIVER);
    expect(t.add(3, e(3))).toBe(SeqnoAdd.DELIVER);
    expect(drain(t)).toEqual([4]);
    expect(t.missing()).toEqual([5, 6, 8, 9, 11, 12]);
    expect(t.numMissing()).toBe(6);
  });

  test('purge drops delivered elements only, up to highestDelivered', () => {
    const t = new SeqnoTable<E>();
    for (let s = 1; s <= 10; s++) t.add(s, e(s));
    t.add(12, e(12));
    expect(t.purge(4)).toBe(4);
    expect(t.low).toBe(4);
    expect(t.get(4)).toBeUndefined();
    expect(t.get(5)).toEqual(e(5));
    expect(t.purge(3)).toBe(0); // below low: nothing
    expect(t.purge(100)).toBe(6); // stops at highestDelivered (10): 12 still waits
    expect(t.low).toBe(10);
    expect(t.size()).toBe(1);
    expect(t.get(12)).toEqual(e(12));
    t.add(11, e(11));
    expect(drain(t)).toEqual([12]);
  });

  test('skipTo gives up what the sender no longer has and resumes delivery at first', () => {
    const t = new SeqnoTable<E>();
    t.add(1, e(1));
    t.add(4, e(4));
    t.add(7, e(7));
    t.add(8, e(8));
    expect(t.skipTo(1)).toBe(false);
    expect(t.skipTo(2)).toBe(false); // nothing below 2 is still expected
    expect(t.skipTo(7)).toBe(true); // 2..6 are gone (4 with them)
    expect(t.highestDelivered).toBe(6);
    expect(t.low).toBe(6);
    expect(t.get(4)).toBeUndefined();
    expect(drain(t)).toEqual([7, 8]);
    expect(t.size()).toBe(2);
    // Skipping past everything received moves highestReceived too.
    expect(t.skipTo(101)).toBe(true);
    expect(t.highestReceived).toBe(100);
    expect(t.size()).toBe(0);
    expect(t.add(101, e(101))).toBe(SeqnoAdd.DELIVER);
  });

  test('starts at an offset: seqnos up to it count as delivered', () => {
    const t = new SeqnoTable<E>(1000);
    expect(t.add(1000, e(1000))).toBe(SeqnoAdd.DUPLICATE);
    expect(t.add(1002, e(1002))).toBe(SeqnoAdd.BUFFERED);
    expect(t.missing()).toEqual([1001]);
    expect(t.add(1001, e(1001))).toBe(SeqnoAdd.DELIVER);
    expect(drain(t)).toEqual([1002]);
    expect(() => new SeqnoTable(-1)).toThrow(RangeError);
    expect(() => new SeqnoTable(1.5)).toThrow(RangeError);
  });

  test('a gap wider than the buffer grows it, keeping every element; maxAhead refuses what is too far', () => {
    const t = new SeqnoTable<E>(0, { capacity: 16 });
    t.add(3, e(3));
    t.add(1000, e(1000));
    expect(t.capacity()).toBeGreaterThanOrEqual(1000);
    expect(t.get(3)).toEqual(e(3));
    expect(t.get(1000)).toEqual(e(1000));
    expect(t.numMissing()).toBe(998);
    const limited = new SeqnoTable<E>(0, { maxAhead: 100 });
    expect(limited.add(101, e(101))).toBe(SeqnoAdd.TOO_FAR);
    expect(limited.highestReceived).toBe(101); // noted, so it is asked for
    expect(limited.size()).toBe(0);
    expect(limited.add(100, e(100))).toBe(SeqnoAdd.BUFFERED);
    expect(limited.missing(3)).toEqual([1, 2, 3]);
  });

  test('wrap-around: a stream over a thousand ring capacities, reordered locally, never grows the ring', () => {
    for (const retainDelivered of [false, true]) {
      const t = new SeqnoTable<E>(0, { capacity: 16, retainDelivered });
      const random = seededRandom(retainDelivered ? 7 : 8);
      const delivered: number[] = [];
      const out: E[] = [];
      const N = 16 * 1000;
      // Blocks of 8 seqnos arrive shuffled; a retaining table is purged after each block.
      for (let base = 0; base < N; base += 8) {
        const block = range(base + 1, base + 8);
        for (let i = block.length - 1; i > 0; i--) {
          const j = Math.floor(random() * (i + 1));
          [block[i], block[j]] = [block[j]!, block[i]!];
        }
        for (const s of block) {
          const r: SeqnoAddResult = t.add(s, e(s));
          if (r === SeqnoAdd.DELIVER) delivered.push(s);
          out.length = 0;
          t.removeDeliverable(out);
          delivered.push(...seqnos(out));
        }
        if (retainDelivered) t.purge(t.highestDelivered);
        expect(t.capacity()).toBe(16);
      }
      expect(delivered).toEqual(range(1, N));
      expect(t.size()).toBe(0);
    }
  });

  test('seqnos beyond 2^32 and near 2^53 map onto the ring like small ones', () => {
    for (const offset of [2 ** 32 - 20, 2 ** 53 - 1000]) {
      const t = new SeqnoTable<E>(offset, { capacity: 16 });
      const got: number[] = [];
      for (let s = offset + 1; s <= offset + 200; s += 2) {
        t.add(s + 1, e(s + 1));
        if (t.add(s, e(s)) === SeqnoAdd.DELIVER) got.push(s);
        got.push(...drain(t));
        t.purge(t.highestDelivered - 5);
      }
      expect(got).toEqual(range(offset + 1, offset + 200));
      expect(t.get(offset + 196)).toEqual(e(offset + 196));
      expect(t.get(offset + 190)).toBeUndefined(); // purged
      expect(t.capacity()).toBe(16);
    }
  });

  test('memory is given back: emptied at once, or compacted after purges keep it mostly empty', () => {
    const t = new SeqnoTable<E>(0, { retainDelivered: false });
    t.add(100_000, e(100_000));
    expect(t.capacity()).toBeGreaterThanOrEqual(100_000);
    for (let s = 1; s < 100_000; s++) t.add(s, e(s));
    expect(drain(t)).toEqual([100_000]);
    expect(t.capacity()).toBe(16);

    const r = new SeqnoTable<E>(0, { capacity: 16 });
    for (let s = 1; s <= 5000; s++) r.add(s, e(s));
    const big = r.capacity();
    expect(big).toBeGreaterThanOrEqual(5000);
    // A sender's table: a few messages in flight, each ack purging the oldest.
    for (let s = 5001; s <= 5100; s++) {
      r.add(s, e(s));
      r.purge(s - 3);
    }
    expect(r.capacity()).toBeLessThan(big);
    expect(r.capacity()).toBeLessThanOrEqual(64);
    expect(r.size()).toBe(3);
    for (let s = 5098; s <= 5100; s++) expect(r.get(s)).toEqual(e(s));
    r.purge(5100);
    expect(r.size()).toBe(0);
  });

  /** The reference semantics, with a Map: what the ring must agree with after every operation. */
  class Model {
    low: number;
    hd: number;
    hr: number;
    readonly held = new Map<number, { el: E; oob: boolean }>();
    constructor(
      offset: number,
      readonly retain: boolean,
      readonly maxAhead: number,
    ) {
      this.low = this.hd = this.hr = offset;
    }
    add(s: number, el: E, oob: boolean): SeqnoAddResult {
      if (s <= this.hd) return SeqnoAdd.DUPLICATE;
      if (s - this.hd > this.maxAhead) {
        this.hr = Math.max(this.hr, s);
        return SeqnoAdd.TOO_FAR;
      }
      if (this.held.has(s)) return SeqnoAdd.DUPLICATE;
      this.hr = Math.max(this.hr, s);
      if (s === this.hd + 1) {
        this.hd = s;
        if (this.retain) this.held.set(s, { el, oob: false });
        else this.low = s;
        return SeqnoAdd.DELIVER;
      }
      this.held.set(s, { el, oob });
      return oob ? SeqnoAdd.DELIVER : SeqnoAdd.BUFFERED;
    }
    removeDeliverable(): number[] {
      const out: number[] = [];
      for (;;) {
        const s = this.hd + 1;
        const h = this.held.get(s);
        if (h === undefined) return out;
        this.hd = s;
        if (!this.retain) {
          this.held.delete(s);
          this.low = s;
        }
        if (!h.oob) out.push(h.el.s);
        h.oob = false;
      }
    }
    get(s: number): E | undefined {
      return s <= this.low ? undefined : this.held.get(s)?.el;
    }
    missing(max: number): number[] {
      const out: number[] = [];
      for (let s = this.hd + 1; s <= this.hr && out.length < max; s++) if (!this.held.has(s)) out.push(s);
      return out;
    }
    private dropUpTo(to: number): number {
      let n = 0;
      for (const s of [...this.held.keys()]) if (s <= to && this.held.delete(s)) n++;
      return n;
    }
    purge(upTo: number): number {
      const limit = Math.min(upTo, this.hd);
      if (limit <= this.low) return 0;
      const n = this.dropUpTo(limit);
      this.low = limit;
      return n;
    }
    skipTo(first: number): boolean {
      const to = first - 1;
      if (to <= this.hd) return false;
      this.dropUpTo(to);
      this.low = this.hd = to;
      this.hr = Math.max(this.hr, to);
      return true;
    }
  }

  test.each(Array.from({ length: 40 }, (_, i) => i + 1))('random operations agree with a Map model (seed %i)', (seed) => {
    const random = seededRandom(seed);
    const retain = seed % 2 === 0;
    const offset = seed % 5 === 0 ? 2 ** 32 - 3000 : Math.floor(random() * 100);
    const maxAhead = seed % 3 === 0 ? 500 : Infinity;
    const t = new SeqnoTable<E>(offset, { retainDelivered: retain, capacity: seed % 4 === 0 ? 1 : 8, maxAhead });
    const m = new Model(offset, retain, maxAhead);
    const int = (n: number) => Math.floor(random() * n);
    const log: string[] = [];
    let peak = 0;
    // Compared as text, and only handed to expect() when they differ (thousands of expect() calls are slow).
    const same = (what: string, actual: unknown, expected: unknown) => {
      if (JSON.stringify(actual) !== JSON.stringify(expected)) expect([seed, ...log.slice(-8), what, actual]).toEqual([seed, ...log.slice(-8), what, expected]);
    };
    for (let step = 0; step < 2000; step++) {
      const op = random();
      let what: string;
      if (op < 0.7) {
        // Mostly near the front; sometimes a duplicate below it, sometimes a wide gap.
        const r = random();
        const s = r < 0.1 ? m.hd - int(20) : r < 0.13 ? m.hd + 1 + int(3000) : m.hd + 1 + int(40);
        const oob = random() < 0.15;
        what = `add(${s}, oob ${oob})`;
        same(what, t.add(s, e(s), oob), m.add(s, e(s), oob));
        if (random() < 0.7) same(`${what}; removeDeliverable`, drain(t), m.removeDeliverable());
      } else if (op < 0.85) {
        const upTo = m.hd - int(30);
        what = `purge(${upTo})`;
        same(what, t.purge(upTo), m.purge(upTo));
      } else if (op < 0.88) {
        const first = m.hd + int(60) - 5;
        what = `skipTo(${first})`;
        same(what, t.skipTo(first), m.skipTo(first));
      } else if (op < 0.9) {
        const s = m.hr + int(50);
        what = `raiseHighestReceived(${s})`;
        t.raiseHighestReceived(s);
        m.hr = Math.max(m.hr, s);
      } else {
        what = 'removeDeliverable';
        same(what, drain(t), m.removeDeliverable());
      }
      log.push(what);
      same(`${what}: low, delivered, received, size`, [t.low, t.highestDelivered, t.highestReceived, t.size()], [m.low, m.hd, m.hr, m.held.size]);
      const missing = m.missing(Infinity);
      same(`${what}: missing(25)`, t.missing(25), missing.slice(0, 25));
      same(`${what}: numMissing`, t.numMissing(), missing.length);
      for (let k = 0; k < 5; k++) {
        const s = m.low - 2 + int(m.hr - m.low + 10);
        same(`${what}: get(${s})`, t.get(s), m.get(s));
      }
      // The ring grows only as far as a span it had to hold needed.
      peak = Math.max(peak, m.hr - m.low);
      const cap = t.capacity();
      if (cap > Math.max(16, 2 * peak)) same(`${what}: capacity within twice the widest span`, cap, `<= ${2 * peak}`);
    }
  });
});
