import { type Address, type DownResult, Flag, type Message } from '@tsgroups/core';
import { ProtocolId } from '../ids.js';
import { CreditQueue, FlowControl } from './flow-control.js';

/** What the sender holds for one destination. */
class Account {
  readonly queue: CreditQueue;
  constructor(
    dest: Address,
    public credits: number,
  ) {
    this.queue = new CreditQueue(dest);
  }
}

/**
 * Unicast flow control: credits per destination, so a unicast of L bytes consumes L credits of
 * its destination only, and a slow receiver holds back only the messages sent to it. Each
 * destination has its own FIFO queue. Multicasts and unicasts to members outside the view pass
 * (see {@link MFC}). Place it above GMS.
 */
export class UFC extends FlowControl {
  static override readonly protocolName = 'UFC';
  static override readonly id = ProtocolId.UFC;

  protected override readonly countsMulticasts = false;

  private readonly accounts = new Map<Address, Account>();

  override down(msg: Message): DownResult {
    const dest = msg.dest;
    if (dest === null || (msg.flags & Flag.NO_FC) !== 0) return this.downProt.down(msg);
    const acct = this.accounts.get(dest);
    if (acct === undefined) return this.downProt.down(msg); // oneself, or not a member
    const len = msg.getLength();
    if (acct.queue.isEmpty() && acct.credits >= this.needed(len)) {
      acct.credits -= len;
      return this.downProt.down(msg);
    }
    return this.enqueue(acct.queue, msg, len);
  }

  /** The credits held for `member` (undefined if it is not a member). */
  creditsOf(member: Address): number | undefined {
    return this.accounts.get(member)?.credits;
  }

  override inFlightBytes(member?: Address): number {
    if (member !== undefined) {
      const a = this.accounts.get(member);
      return a === undefined ? 0 : this.maxCredits - a.credits;
    }
    let most = 0;
    for (const a of this.accounts.values()) most = Math.max(most, this.maxCredits - a.credits);
    return most;
  }

  protected override tryConsume(dest: Address | null, len: number): boolean {
    const a = dest === null ? undefined : this.accounts.get(dest);
    if (a === undefined) return true;
    if (a.credits < this.needed(len)) return false;
    a.credits -= len;
    return true;
  }

  protected override addCredits(sender: Address, credits: number): void {
    const a = this.accounts.get(sender);
    if (a === undefined) return;
    a.credits = Math.min(a.credits + credits, this.maxCredits);
    if (!a.queue.isEmpty()) this.drain(a.queue);
  }

  protected override setMembers(members: readonly Address[]): void {
    const keep = new Set(members);
    for (const [m, a] of this.accounts) {
      if (keep.has(m)) continue;
      this.accounts.delete(m);
      // Nobody to wait for any more: what was queued for it goes now.
      if (!a.queue.isEmpty()) this.drain(a.queue, true);
    }
    for (const m of members) if (!this.accounts.has(m)) this.accounts.set(m, new Account(m, this.maxCredits));
  }

  protected override forEachQueue(fn: (q: CreditQueue) => void): void {
    for (const a of this.accounts.values()) fn(a.queue);
  }

  protected override blockers(q: CreditQueue, fn: (member: Address, owed: number) => void): void {
    const a = q.dest === null ? undefined : this.accounts.get(q.dest);
    if (a !== undefined && a.credits < this.needed(q.headLength())) fn(q.dest!, this.maxCredits - a.credits);
  }

  protected override resetCredits(): void {
    this.accounts.clear();
  }
}
