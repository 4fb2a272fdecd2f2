import type { Address, View } from '@tsgroups/core';

/**
 * Members that left the view lately, with when they left. A transport without IP multicast (TCP,
 * UDP with ip_mcast off) keeps sending multicasts to them and keeps their physical addresses for
 * `expiration` ms: after a partition heals, MERGE3's announcements must reach the other side,
 * which no view of ours holds. Once their time is up they are forgotten (see {@link expire}).
 */
export class DepartedMembers {
  private readonly leftAt = new Map<Address, number>();

  constructor(public expiration: number) {}

  /** Records the members of `prev` missing from `next`; members back in `next` are departed no more. */
  viewChanged(prev: View | null, next: View, now: number): void {
    if (prev !== null) for (const m of prev.members) if (!next.containsMember(m)) this.leftAt.set(m, now);
    for (const m of this.leftAt.keys()) if (next.containsMember(m)) this.leftAt.delete(m);
  }

  /** Removes and returns the members that left more than `expiration` ms before `now`. */
  expire(now: number): Address[] {
    const gone: Address[] = [];
    for (const [m, t] of this.leftAt) {
      if (now - t > this.expiration) {
        this.leftAt.delete(m);
        gone.push(m);
      }
    }
    return gone;
  }

  /** The departed members, oldest first. */
  members(): IterableIterator<Address> {
    return this.leftAt.keys();
  }

  get size(): number {
    return this.leftAt.size;
  }

  clear(): void {
    this.leftAt.clear();
  }
}
