import type { Address, PhysicalAddress } from '@tsgroups/core';

/** What {@link PhysicalAddresses.learn} did. */
export type LearnResult = 'added' | 'same' | 'replaced' | 'refused';

/**
 * How a transport reaches each member: its physical address, and whether that address was
 * *verified* (a datagram that member sent came from it) or only *claimed* (discovery data, a
 * MERGE3 INFO, a hello: anyone can write any address there). Against address poisoning:
 *
 * - a verified address of a view member is never replaced while it is in the view (on plain UDP
 *   a datagram's sender field can be forged, its source address cannot be chosen freely: the
 *   member keeps the address its own datagrams came from until it leaves);
 * - a claim never replaces a verified address (of anyone); a verified address replaces a claim,
 *   and the verified address of a member that is not in the view;
 * - bounded: at `max` entries the oldest entry of a non-member goes first.
 *
 * `map` is the plain table the send path reads (no wrapper per lookup).
 */
export class PhysicalAddresses {
  readonly map = new Map<Address, PhysicalAddress>();
  private readonly verified = new Set<Address>();

  constructor(
    private readonly max: number,
    /** Whether a member is in the current view (its verified address is pinned). */
    private readonly isMember: (a: Address) => boolean,
  ) {}

  get(a: Address): PhysicalAddress | undefined {
    return this.map.get(a);
  }

  has(a: Address): boolean {
    return this.map.has(a);
  }

  get size(): number {
    return this.map.size;
  }

  isVerified(a: Address): boolean {
    return this.verified.has(a);
  }

  /**
   * Learns `p` for `a`.
   * @param verified whether a datagram from `a` came from `p` (the datagram's source), not a claim
   */
  learn(a: Address, p: PhysicalAddress, verified: boolean): LearnResult {
    const old = this.map.get(a);
    if (old === undefined) {
      if (this.map.size >= this.max) this.evictOne();
      this.map.set(a, p);
      if (verified) this.verified.add(a);
      return 'added';
    }
    if (old.port === p.port && old.host === p.host) {
      if (verified) this.verified.add(a);
      return 'same';
    }
    if (this.verified.has(a) && (!verified || this.isMember(a))) return 'refused';
    this.map.set(a, p);
    if (verified) this.verified.add(a);
    return 'replaced';
  }

  delete(a: Address): void {
    this.map.delete(a);
    this.verified.delete(a);
  }

  clear(): void {
    this.map.clear();
    this.verified.clear();
  }

  /** Drops the oldest entry of a non-member (the oldest entry if all are members). */
  private evictOne(): void {
    let victim: Address | undefined;
    for (const a of this.map.keys()) {
      if (!this.isMember(a)) {
        victim = a;
        break;
      }
    }
    victim ??= this.map.keys().next().value;
    if (victim !== undefined) this.delete(victim);
  }
}
