import type { Message } from './message.js';

/** What {@link SeqnoTable.add} did with an element. */
export const SeqnoAdd = {
  /** Seen before (delivered, purged, or held): dropped. */
  DUPLICATE: 0,
  /**
   * The caller delivers it now: it was the next in order (`highestDelivered` moved to it), or it
   * is OOB (held and marked, so the in-order pass skips it).
   */
  DELIVER: 1,
  /** Held until the gap below it fills; a later {@link SeqnoTable.removeNext} returns it. */
  BUFFERED: 2,
  /** Further above `highestDelivered` than `maxAhead`: not held (it will be asked for again); `highestReceived` notes it. */
  TOO_FAR: 3,
} as const;
export type SeqnoAddResult = (typeof SeqnoAdd)[keyof typeof SeqnoAdd];

export interface SeqnoTableOptions {
  /**
   * Keep delivered elements until {@link SeqnoTable.purge} (default true): a multicast receiver
   * keeps them because other members may ask it for them, a sender because the receivers may.
   * false: an element is forgotten once delivered (a unicast receiver: only the sender resends).
   */
  retainDelivered?: boolean;
  /** Initial and smallest capacity (rounded up to a power of two; default 16). */
  capacity?: number;
  /** Elements further than this above `highestDelivered` are refused with TOO_FAR (default: no limit). */
  maxAhead?: number;
}

/** Flag of a held element that the caller delivered at arrival (OOB): the in-order pass skips it. */
const DELIVERED_AT_ARRIVAL = 1;
/** A table emptied with at least this capacity gives its arrays back at once. */
const SHRINK_WHEN_EMPTY = 1024;
/** Purges in a row that must find the table at most 1/8 full before it is compacted. */
const QUIET_PURGES_BEFORE_COMPACT = 16;
/** The largest capacity (a JavaScript array holds up to 2^32 - 1 elements; keep well below). */
const MAX_CAPACITY = 2 ** 30;

/**
 * One stream of sequence numbers (one sender's multicasts, one connection's unicasts, or what a
 * sender keeps for retransmission), after JGroups' `Table`: elements by seqno, with
 *
 * - `low`: everything at or below it was purged (or, without `retainDelivered`, delivered);
 * - `highestDelivered`: everything up to it was delivered in order (or skipped);
 * - `highestReceived`: the highest seqno received or announced; between it and
 *   `highestDelivered`, the seqnos not held are {@link missing};
 *
 * always `low <= highestDelivered <= highestReceived`. Elements live in a circular buffer whose
 * capacity is a power of two: seqno `s` sits in slot `s & mask`, and every held seqno lies in
 * `(low, low + capacity]`, so lookups, adds at the front and removals at the back are O(1). The
 * buffer doubles when an element lands beyond it (a gap wider than it holds) and shrinks again
 * when purges leave it mostly empty. Seqnos are exact integers up to 2^53 (`&` takes them
 * modulo 2^32, and every capacity divides 2^32).
 *
 * Receiving: {@link add} each element; deliver it at once if it answers DELIVER; then take what
 * became deliverable with {@link removeNext} / {@link removeDeliverable}, in order.
 * Sending: {@link add} each element (the next seqno is always "delivered"), {@link get} to resend,
 * {@link purge} once acknowledged.
 */
export class SeqnoTable<T extends object = Message> {
  private slots: (T | undefined)[];
  private flags: Uint8Array;
  private mask: number;
  private lowSeqno: number;
  private hd: number;
  private hr: number;
  /** Elements held (delivered-and-retained, waiting, or delivered at arrival). */
  private held = 0;
  /** Of those, the ones above highestDelivered. */
  private above = 0;
  private quietPurges = 0;
  private readonly minCapacity: number;
  private readonly retain: boolean;
  private readonly maxAhead: number;

  /** @param offset the seqno before the first one expected: everything up to it counts as delivered */
  constructor(offset = 0, options: SeqnoTableOptions = {}) {
    if (!Number.isSafeInteger(offset) || offset < 0) throw new RangeError(`a seqno table's offset must be a safe integer >= 0, got ${offset}`);
    this.minCapacity = powerOfTwoAtLeast(Math.max(1, options.capacity ?? 16));
    this.retain = options.retainDelivered ?? true;
    this.maxAhead = options.maxAhead ?? Infinity;
    this.slots = new Array<T | undefined>(this.minCapacity).fill(undefined);
    this.flags = new Uint8Array(this.minCapacity);
    this.mask = this.minCapacity - 1;
    this.lowSeqno = offset;
    this.hd = offset;
    this.hr = offset;
  }

  /** Everything at or below it was purged (nothing there is held). */
  get low(): number {
    return this.lowSeqno;
  }
  /** Everything up to it was delivered in order (or skipped). */
  get highestDelivered(): number {
    return this.hd;
  }
  /** The highest seqno received (or announced with {@link raiseHighestReceived}). */
  get highestReceived(): number {
    return this.hr;
  }
  /** Elements held: delivered ones kept for retransmission, waiting ones, OOB ones delivered at arrival. */
  size(): number {
    return this.held;
  }
  /** Seqnos between highestDelivered and highestReceived that are not held. */
  numMissing(): number {
    return this.hr - this.hd - this.above;
  }
  /** Slots in the circular buffer (a power of two). */
  capacity(): number {
    return this.mask + 1;
  }

  /**
   * Files `elem` under `seqno`. `oob`: the caller delivers it at once whatever its place (it is
   * held, marked, until the in-order pass reaches it, so a second copy is still a duplicate).
   */
  add(seqno: number, elem: T, oob = false): SeqnoAddResult {
    const hd = this.hd;
    if (seqno <= hd) return SeqnoAdd.DUPLICATE;
    if (seqno - hd > this.maxAhead) {
      if (seqno > this.hr) this.hr = seqno;
      return SeqnoAdd.TOO_FAR;
    }
    if (seqno - this.lowSeqno > this.mask + 1) this.grow(seqno - this.lowSeqno);
    const i = seqno & this.mask;
    if (this.slots[i] !== undefined) return SeqnoAdd.DUPLICATE;
    if (seqno > this.hr) this.hr = seqno;
    if (seqno === hd + 1) {
      this.hd = seqno;
      if (this.retain) {
        this.slots[i] = elem;
        this.held++;
      } else this.lowSeqno = seqno;
      return SeqnoAdd.DELIVER;
    }
    this.slots[i] = elem;
    this.held++;
    this.above++;
    if (oob) {
      this.flags[i] = DELIVERED_AT_ARRIVAL;
      return SeqnoAdd.DELIVER;
    }
    return SeqnoAdd.BUFFERED;
  }

  /** The element held under `seqno` (delivered and retained, or waiting), if any. */
  get(seqno: number): T | undefined {
    if (seqno <= this.lowSeqno || seqno - this.lowSeqno > this.mask + 1) return undefined;
    return this.slots[seqno & this.mask];
  }

  /**
   * Moves highestDelivered over the next element if it is held and returns it; elements the
   * caller delivered at arrival (OOB) are passed over, not returned. undefined: nothing more is
   * deliverable now.
   */
  removeNext(): T | undefined {
    const slots = this.slots;
    const flags = this.flags;
    for (;;) {
      const s = this.hd + 1;
      if (s > this.hr || s - this.lowSeqno > this.mask + 1) break;
      const i = s & this.mask;
      const e = slots[i];
      if (e === undefined) break;
      this.hd = s;
      this.above--;
      const f = flags[i]!;
      if (f !== 0) flags[i] = 0;
      if (!this.retain) {
        slots[i] = undefined;
        this.held--;
        this.lowSeqno = s;
      }
      if (f === 0) return e;
    }
    if (this.held === 0 && this.mask >= SHRINK_WHEN_EMPTY) this.resize(this.minCapacity);
    return undefined;
  }

  /** Everything deliverable now, in order, appended to `out`; returns how many. */
  removeDeliverable(out: T[]): number {
    let n = 0;
    for (let e = this.removeNext(); e !== undefined; e = this.removeNext()) {
      out.push(e);
      n++;
    }
    return n;
  }

  /** The missing seqnos (above highestDelivered, up to highestReceived, not held), lowest first, at most `max`. */
  missing(max = Infinity): number[] {
    const out: number[] = [];
    if (this.hr === this.hd || max <= 0) return out;
    const lowPlusCap = this.lowSeqno + this.mask + 1;
    for (let s = this.hd + 1; s <= this.hr; s++) {
      if (s <= lowPlusCap && this.slots[s & this.mask] !== undefined) continue;
      out.push(s);
      if (out.length >= max) break;
    }
    return out;
  }

  /** Notes that seqnos up to `seqno` exist (a sender announced its highest): those not held become missing. */
  raiseHighestReceived(seqno: number): void {
    if (seqno > this.hr) this.hr = seqno;
  }

  /**
   * Forgets delivered elements up to `upTo` (never above highestDelivered): they are stable
   * (every member has them) or acknowledged. Returns how many were dropped.
   */
  purge(upTo: number): number {
    const limit = Math.min(upTo, this.hd);
    if (limit <= this.lowSeqno) return 0;
    const n = this.clearUpTo(limit);
    this.lowSeqno = limit;
    this.afterPurge();
    return n;
  }

  /**
   * Seqnos below `first` can no longer be had (their sender purged them): everything below it is
   * dropped (held ones too) and counted as delivered, so delivery resumes at `first`. Returns
   * false if nothing below `first` was still expected.
   */
  skipTo(first: number): boolean {
    const to = first - 1;
    if (to <= this.hd) return false;
    this.clearUpTo(to);
    this.lowSeqno = to;
    this.hd = to;
    if (this.hr < to) this.hr = to;
    this.afterPurge();
    return true;
  }

  toString(): string {
    return `[low ${this.lowSeqno}, delivered ${this.hd}, received ${this.hr}; ${this.held} held, capacity ${this.mask + 1}]`;
  }

  /** Drops every held element in (low, to]; returns how many. */
  private clearUpTo(to: number): number {
    const slots = this.slots;
    const flags = this.flags;
    if (this.held === 0) return 0;
    const end = Math.min(to, this.hr, this.lowSeqno + this.mask + 1);
    let n = 0;
    if (this.hr <= to && (end - this.lowSeqno) * 2 > this.mask) {
      // Everything goes, and it fills much of the buffer: clear it whole.
      n = this.held;
      slots.fill(undefined);
      flags.fill(0);
      this.held = 0;
      this.above = 0;
      return n;
    }
    for (let s = this.lowSeqno + 1; s <= end; s++) {
      const i = s & this.mask;
      if (slots[i] === undefined) continue;
      slots[i] = undefined;
      flags[i] = 0;
      n++;
      if (s > this.hd) this.above--;
    }
    this.held -= n;
    return n;
  }

  /** Gives memory back after a burst: at once when empty and large, or after purges keep finding it mostly empty. */
  private afterPurge(): void {
    const cap = this.mask + 1;
    if (cap <= this.minCapacity) return;
    if (this.held === 0) {
      if (cap > SHRINK_WHEN_EMPTY) this.resize(this.minCapacity);
      return;
    }
    const span = Math.min(this.hr, this.lowSeqno + cap) - this.lowSeqno;
    if (span * 8 > cap) {
      this.quietPurges = 0;
      return;
    }
    if (++this.quietPurges >= QUIET_PURGES_BEFORE_COMPACT) this.resize(Math.max(this.minCapacity, powerOfTwoAtLeast(span * 2)));
  }

  private grow(span: number): void {
    const cap = powerOfTwoAtLeast(Math.max(span, (this.mask + 1) * 2));
    if (cap > MAX_CAPACITY) throw new RangeError(`a seqno table cannot span ${span} seqnos (low ${this.lowSeqno})`);
    this.resize(cap);
  }

  /** Moves every held element into arrays of `cap` slots (which must cover the held span). */
  private resize(cap: number): void {
    const oldSlots = this.slots;
    const oldFlags = this.flags;
    const oldMask = this.mask;
    const slots = new Array<T | undefined>(cap).fill(undefined);
    const flags = new Uint8Array(cap);
    const mask = cap - 1;
    if (this.held > 0) {
      const end = Math.min(this.hr, this.lowSeqno + oldMask + 1);
      for (let s = this.lowSeqno + 1; s <= end; s++) {
        const e = oldSlots[s & oldMask];
        if (e === undefined) continue;
        slots[s & mask] = e;
        flags[s & mask] = oldFlags[s & oldMask]!;
      }
    }
    this.slots = slots;
    this.flags = flags;
    this.mask = mask;
    this.quietPurges = 0;
  }
}

function powerOfTwoAtLeast(n: number): number {
  let p = 1;
  while (p < n) p *= 2;
  return p;
}
