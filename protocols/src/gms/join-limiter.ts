import type { Address } from '@tsgroups/core';

/**
 * Bounds how many new members a coordinator admits per interval, so that a flood of JOIN_REQs
 * from made-up addresses adds a few phantom members, not thousands. A joiner refused here is not
 * answered; it asks again after its join timeout. A joiner admitted in the current interval may
 * ask again (its JOIN_RSP was lost) without using up another place.
 */
export class JoinLimiter {
  private readonly admitted = new Set<Address>();
  private intervalStart = 0;

  constructor(
    private readonly maxPerInterval: () => number,
    private readonly intervalMs: () => number,
  ) {}

  /** True if `joiner` may be handled now (and counts it). */
  admit(joiner: Address, now = performance.now()): boolean {
    if (now - this.intervalStart >= this.intervalMs()) {
      this.intervalStart = now;
      this.admitted.clear();
    }
    if (this.admitted.has(joiner)) return true;
    if (this.admitted.size >= this.maxPerInterval()) return false;
    this.admitted.add(joiner);
    return true;
  }

  reset(): void {
    this.admitted.clear();
    this.intervalStart = 0;
  }
}
