import {
  type AnyEvent,
  EventType,
  type Message,
  type MessageBatch,
  Protocol,
  type PropertyDecls,
  type ScheduledTask,
} from '@tsgroups/core';
import { ProtocolId } from '../ids.js';

/**
 * Holds incoming multicast traffic while closed, as JGroups' BARRIER: STATE_TRANSFER closes it
 * at the provider while the application writes its state, so that no update is applied in the
 * middle of a snapshot. It sits below NAKACK2, so a held message is not yet delivered as far as
 * NAKACK2's digest is concerned: the digest taken when it closed says exactly which multicasts
 * the snapshot contains. Held are multicasts and everything NAKACK2 carries (retransmissions come
 * by unicast); other unicasts (state chunks, acks, credits) pass. Closes nest; the last open
 * passes the held messages up in arrival order. A barrier closed longer than `maxCloseTime`
 * opens by itself (logged), so a stuck provider never holds the group's messages forever.
 */
export class BARRIER extends Protocol {
  static override readonly protocolName = 'BARRIER';
  static override readonly id = ProtocolId.BARRIER;
  static override readonly provides: readonly string[] = ['barrier'];
  static override readonly properties: PropertyDecls = {
    maxCloseTime: { type: 'duration', min: 1, description: 'Longest time the barrier stays closed before it opens by itself' },
  };

  maxCloseTime = 60_000;

  private closes = 0;
  private held: Message[] = [];
  private forceOpen: ScheduledTask | null = null;
  readonly stats = { closed: 0, held: 0, forcedOpen: 0 };

  override stop(): void {
    this.forceOpen?.cancel();
    this.forceOpen = null;
    this.closes = 0;
    this.held = [];
  }

  override getStats(): Record<string, number> {
    return { ...this.stats, holding: this.held.length };
  }

  /** True while incoming multicasts are held. */
  isClosed(): boolean {
    return this.closes > 0;
  }

  override downEvent(evt: AnyEvent): unknown {
    switch (evt.type) {
      case EventType.CLOSE_BARRIER:
        this.close();
        return undefined;
      case EventType.OPEN_BARRIER:
        this.open(false);
        return undefined;
    }
    return super.downEvent(evt);
  }

  override up(msg: Message): void {
    if (this.closes > 0 && this.holds(msg)) {
      this.held.push(msg);
      this.stats.held++;
      return;
    }
    this.upProt.up(msg);
  }

  override upBatch(batch: MessageBatch): void {
    if (this.closes > 0) batch.removeIf(this.hold);
    if (!batch.isEmpty()) this.upProt.upBatch(batch);
  }

  private readonly hold = (msg: Message): boolean => {
    if (!this.holds(msg)) return false;
    this.held.push(msg);
    this.stats.held++;
    return true;
  };

  private holds(msg: Message): boolean {
    return msg.dest === null || msg.getHeader(ProtocolId.NAKACK2) !== undefined;
  }

  private close(): void {
    if (this.closes++ > 0) return;
    this.stats.closed++;
    this.forceOpen = this.timer.schedule(this.maxCloseTime, () => {
      this.forceOpen = null;
      this.stats.forcedOpen++;
      this.log.warn(`closed for longer than max_close_time (${this.maxCloseTime} ms): opening`);
      this.open(true);
    });
  }

  private open(all: boolean): void {
    if (this.closes === 0) return;
    this.closes = all ? 0 : this.closes - 1;
    if (this.closes > 0) return;
    this.forceOpen?.cancel();
    this.forceOpen = null;
    const held = this.held;
    this.held = [];
    for (let i = 0; i < held.length; i++) {
      // A message passed up may lead to a new close: the rest waits for that one's open.
      if (this.closes > 0) {
        this.held = held.slice(i).concat(this.held);
        return;
      }
      const m = held[i]!;
      try {
        this.upProt.up(m);
      } catch (err) {
        this.log.error(`up(${m}) failed`, err);
      }
    }
  }
}
