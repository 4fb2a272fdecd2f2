import type { Address } from './address.js';

/** What a member has of one sender's multicasts. */
export interface SeqnoRange {
  /** Highest seqno delivered to the application (everything up to it is delivered). */
  readonly highestDelivered: number;
  /** Highest seqno received (possibly with gaps below it). */
  readonly highestReceived: number;
}

/**
 * Per-member sequence numbers: passed to a joiner so it knows where each sender's stream
 * starts, and exchanged by stability and merge protocols.
 */
export class Digest implements Iterable<[Address, SeqnoRange]> {
  private readonly entries = new Map<Address, SeqnoRange>();

  constructor(entries?: Iterable<[Address, SeqnoRange]>) {
    if (entries) for (const [a, r] of entries) this.entries.set(a, r);
  }
  set(member: Address, highestDelivered: number, highestReceived = highestDelivered): this {
    this.entries.set(member, { highestDelivered, highestReceived });
    return this;
  }
  get(member: Address): SeqnoRange | undefined {
    return this.entries.get(member);
  }
  contains(member: Address): boolean {
    return this.entries.has(member);
  }
  members(): Address[] {
    return [...this.entries.keys()];
  }
  size(): number {
    return this.entries.size;
  }
  [Symbol.iterator](): Iterator<[Address, SeqnoRange]> {
    return this.entries[Symbol.iterator]();
  }
  /** A new digest with, for each member, the higher of both entries. */
  merge(other: Digest): Digest {
    const out = new Digest(this);
    for (const [a, r] of other) {
      const mine = out.get(a);
      out.entries.set(
        a,
        mine
          ? {
              highestDelivered: Math.max(mine.highestDelivered, r.highestDelivered),
              highestReceived: Math.max(mine.highestReceived, r.highestReceived),
            }
          : r,
      );
    }
    return out;
  }
  toString(): string {
    return [...this.entries].map(([a, r]) => `${a}: [${r.highestDelivered} (${r.highestReceived})]`).join(', ');
  }
}
