import { type Address, type DownResult, Flag, type Message } from '@tsgroups/core';
import { ProtocolId } from '../ids.js';
import { CreditQueue, FlowControl } from './flow-control.js';

/**
 * Multicast flow control: a multicast of L bytes consumes L credits of every other member of
 * the view, so a sender gets ahead of its slowest receiver by at most `maxCredits` bytes.
 * Multicasts wait in one FIFO queue while the member with the fewest credits has fewer than
 * they need. Unicasts pass (see {@link UFC}). Place it above GMS.
 *
 * Consuming from every member would cost O(members) per multicast; instead each member's
 * credits are `granted - consumed`, with one running total `consumed` for all, and the smallest
 * `granted` is kept up to date (recomputed only when credits arrive or the view changes).
 */
export class MFC extends FlowControl {
  static override readonly protocolName = 'MFC';
  static override readonly id = ProtocolId.MFC;

  protected override readonly countsMulticasts = true;

  /** Per member: every credit it ever granted us (its first `maxCredits` included). */
  private readonly granted = new Map<Address, number>();
  /** Bytes multicast so far under flow control (the same for every member). */
  private consumed = 0;
  private minGranted = Infinity;
  private readonly queue = new CreditQueue(null);

  override down(msg: Message): DownResult {
    if (msg.dest !== null || (msg.flags & Flag.NO_FC) !== 0) return this.downProt.down(msg);
    const len = msg.getLength();
    if (this.queue.isEmpty() && this.minGranted - this.consumed >= this.needed(len)) {
      this.consumed += len;
      return this.downProt.down(msg);
    }
    return this.enqueue(this.queue, msg, len);
  }

  /** The fewest credits held for any member (Infinity when alone). */
  minCredits(): number {
    return this.minGranted - this.consumed;
  }

  /** The credits held for `member` (undefined if it is not a member). */
  creditsOf(member: Address): number | undefined {
    const g = this.granted.get(member);
    return g === undefined ? undefined : g - this.consumed;
  }

  override inFlightBytes(member?: Address): number {
    if (member === undefined) return this.granted.size === 0 ? 0 : this.maxCredits - this.minCredits();
    const c = this.creditsOf(member);
    return c === undefined ? 0 : this.maxCredits - c;
  }

  protected override tryConsume(_dest: Address | null, len: number): boolean {
    if (this.minGranted - this.consumed < this.needed(len)) return false;
    this.consumed += len;
    return true;
  }

  protected override addCredits(sender: Address, credits: number): void {
    const g = this.granted.get(sender);
    if (g === undefined) return;
    // Never more than maxCredits for one member (a CREDIT_REQUEST's answer may overlap a REPLENISH).
    this.granted.set(sender, Math.min(g + credits, this.consumed + this.maxCredits));
    this.updateMin();
    if (!this.queue.isEmpty()) this.drain(this.queue);
  }

  protected override setMembers(members: readonly Address[]): void {
    const keep = new Set(members);
    for (const m of this.granted.keys()) if (!keep.has(m)) this.granted.delete(m);
    for (const m of members) if (!this.granted.has(m)) this.granted.set(m, this.consumed + this.maxCredits);
    this.updateMin();
    if (!this.queue.isEmpty()) this.drain(this.queue);
  }

  protected override forEachQueue(fn: (q: CreditQueue) => void): void {
    fn(this.queue);
  }

  protected override blockers(q: CreditQueue, fn: (member: Address, owed: number) => void): void {
    const need = this.needed(q.headLength());
    for (const [m, g] of this.granted) {
      const credits = g - this.consumed;
      if (credits < need) fn(m, this.maxCredits - credits);
    }
  }

  protected override resetCredits(): void {
    this.granted.clear();
    this.consumed = 0;
    this.minGranted = Infinity;
  }

  private updateMin(): void {
    let min = Infinity;
    for (const g of this.granted.values()) if (g < min) min = g;
    this.minGranted = min;
  }
}
