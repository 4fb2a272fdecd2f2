import type { Message } from '@tsgroups/core';

/**
 * One sender's multicasts as a receiver holds them: everything up to `highestDelivered` was
 * delivered in order; messages above it wait for the gaps below them to fill. Delivered
 * messages are kept (another member may ask for them) until {@link purge} says all members
 * have them. OOB messages are delivered on arrival and only marked here, so the in-order
 * pass skips them and a retransmitted copy is recognised as a duplicate.
 */
export class SeqnoWindow {
  highestDelivered: number;
  highestReceived: number;
  /** Lowest seqno still held (everything below was purged). */
  low: number;
  /** Retransmission bookkeeping: the first missing seqno last asked for, and for how many rounds. */
  lastMissing = 0;
  stuckRounds = 0;
  private readonly msgs = new Map<number, Message>();
  private oobDelivered: Set<number> | null = null;

  constructor(highestDelivered: number) {
    this.highestDelivered = highestDelivered;
    this.highestReceived = highestDelivered;
    this.low = highestDelivered + 1;
  }

  /** True if `seqno` was seen before (delivered, or received and waiting). */
  has(seqno: number): boolean {
    return seqno <= this.highestDelivered || this.msgs.has(seqno) || (this.oobDelivered?.has(seqno) ?? false);
  }

  /**
   * Adds a message; returns false for a duplicate. `oob`: the caller delivers it now, so it is
   * marked delivered out of order.
   */
  add(seqno: number, msg: Message, oob: boolean): boolean {
    if (this.has(seqno)) return false;
    this.msgs.set(seqno, msg);
    if (seqno > this.highestReceived) this.highestReceived = seqno;
    if (oob && seqno !== this.highestDelivered + 1) (this.oobDelivered ??= new Set()).add(seqno);
    return true;
  }

  /**
   * Moves `highestDelivered` over every message now in order and pushes those the caller must
   * still deliver (not the OOB ones, already delivered) onto `out`. `skipOob`: the message at
   * highestDelivered + 1 was just delivered as OOB by the caller.
   */
  removeDeliverable(out: Message[], skipFirst = false): void {
    let next = this.highestDelivered + 1;
    let first = skipFirst;
    for (;;) {
      const m = this.msgs.get(next);
      if (m === undefined) break;
      const oob = this.oobDelivered?.delete(next) ?? false;
      if (!oob && !first) out.push(m);
      first = false;
      this.highestDelivered = next++;
    }
  }

  /** The message with `seqno`, if still held (for retransmission). */
  get(seqno: number): Message | undefined {
    return this.msgs.get(seqno);
  }

  /** Seqnos between highestDelivered and highestReceived that never arrived (at most `max`). */
  missing(max: number): number[] {
    const out: number[] = [];
    for (let s = this.highestDelivered + 1; s <= this.highestReceived && out.length < max; s++) {
      if (!this.msgs.has(s)) out.push(s);
    }
    return out;
  }

  /** Forgets delivered messages up to `seqno` (they are stable: every member has them). */
  purge(seqno: number): number {
    const upTo = Math.min(seqno, this.highestDelivered);
    let n = 0;
    for (let s = this.low; s <= upTo; s++) if (this.msgs.delete(s)) n++;
    if (upTo >= this.low) this.low = upTo + 1;
    return n;
  }

  /**
   * Skips seqnos below `first` that can no longer be had (the sender purged them): moves
   * highestDelivered up to first - 1 if it is below, and returns what became deliverable.
   */
  skipTo(first: number, out: Message[]): void {
    if (first - 1 <= this.highestDelivered) return;
    for (let s = this.highestDelivered + 1; s < first; s++) {
      this.msgs.delete(s);
      this.oobDelivered?.delete(s);
    }
    this.highestDelivered = first - 1;
    if (this.highestReceived < this.highestDelivered) this.highestReceived = this.highestDelivered;
    if (this.low < first) this.low = first;
    this.removeDeliverable(out);
  }

  /** Messages held (delivered-but-not-stable plus waiting). */
  size(): number {
    return this.msgs.size;
  }
}
