import {
  type Address,
  type AnyEvent,
  Digest,
  type DownResult,
  type EndOfTurnTask,
  Event,
  EventType,
  Flag,
  Message,
  Protocol,
  type PropertyDecls,
  type ScheduledTask,
  type View,
} from '@tsgroups/core';
import { tsgroups } from '../generated/headers.js';
import { ProtocolId } from '../ids.js';
import { digestFromData, digestToData } from './digest-codec.js';

const StableHeader = tsgroups.protocols.StableHeader;
type Header = tsgroups.protocols.StableHeader.$Properties;

/**
 * Stability: every member now and then multicasts what it has delivered of each sender (its
 * NAKACK2 digest). Once a member has the reports of every member of the view, the minimum per
 * sender was delivered everywhere: it passes that stable digest down and NAKACK2 purges those
 * messages, so retransmission tables stay bounded however long the run. A member also gossips
 * after it sent `maxBytes` of multicasts, so fast senders purge early.
 */
export class STABLE extends Protocol {
  static override readonly protocolName = 'STABLE';
  static override readonly id = ProtocolId.STABLE;
  static override readonly headerCodec = StableHeader;
  static override readonly provides: readonly string[] = ['stability'];
  static override readonly requiresBelow: readonly string[] = ['reliable-multicast'];
  static override readonly properties: PropertyDecls = {
    desiredAvgGossip: { type: 'duration', min: 1, description: 'Average time between two gossips of a member' },
    maxBytes: { type: 'size', min: 1, description: 'Gossip at once after multicasting this many bytes' },
  };

  desiredAvgGossip = 5000;
  maxBytes = 1_000_000;

  private view: View | null = null;
  private readonly reports = new Map<Address, Digest>();
  private bytesSinceGossip = 0;
  private task: ScheduledTask | null = null;
  /** Gossips at the end of the turn in which maxBytes was reached (after that turn's sends). */
  private gossipSoon: EndOfTurnTask | null = null;
  readonly stats = { gossipsSent: 0, gossipsReceived: 0, stableRounds: 0 };

  override start(): void {
    this.gossipSoon = this.timer.endOfTurnTask(this.gossipNow);
    this.scheduleNext();
  }

  override stop(): void {
    this.task?.cancel();
    this.task = null;
    this.gossipSoon?.cancel();
    this.reports.clear();
    this.view = null;
  }

  override getStats(): Record<string, number> {
    return { ...this.stats };
  }

  override down(msg: Message): DownResult {
    if (msg.dest === null && (msg.flags & Flag.NO_RELIABILITY) === 0) {
      this.bytesSinceGossip += msg.getLength();
      if (this.bytesSinceGossip >= this.maxBytes) this.gossipSoon?.request();
    }
    return this.downProt.down(msg);
  }

  protected override viewChanged(view: View): void {
    this.view = view;
    // A round covers one view's members: drop reports of those that left.
    for (const m of [...this.reports.keys()]) if (!view.containsMember(m)) this.reports.delete(m);
  }

  override downEvent(evt: AnyEvent): unknown {
    if (evt.type === EventType.DISCONNECT) {
      this.view = null;
      this.reports.clear();
    }
    return super.downEvent(evt);
  }

  protected override handleOwnMessage(msg: Message, header: unknown): void {
    const h = header as Header;
    if (h.type !== StableHeader.Type.GOSSIP || msg.src === null) return;
    try {
      this.stats.gossipsReceived++;
      this.addReport(msg.src, digestFromData(h.digest ?? []));
    } catch (err) {
      this.log.warn(`dropped a malformed STABLE gossip from ${msg.src}`, err);
    }
  }

  /** Sends this member's digest to all now. */
  gossip(): void {
    const view = this.view;
    const self = this.localAddress;
    if (view === null || self === null) return;
    this.bytesSinceGossip = 0;
    const digest = this.ask(new Event(EventType.GET_DIGEST));
    if (digest === undefined) return;
    this.stats.gossipsSent++;
    const msg = new Message(null).setFlag(Flag.OOB, Flag.NO_RELIABILITY, Flag.DONT_LOOPBACK);
    msg.putHeader(this.id, { type: StableHeader.Type.GOSSIP, digest: digestToData(digest) });
    void this.downProt.down(msg);
    this.addReport(self, digest);
  }

  private readonly gossipNow = (): void => this.gossip();

  private scheduleNext(): void {
    // Uniform in [0.5, 1.5] x desiredAvgGossip, so members do not gossip in lockstep.
    const delay = Math.round(this.desiredAvgGossip * (0.5 + Math.random()));
    this.task = this.timer.schedule(delay, () => {
      this.gossip();
      this.scheduleNext();
    });
  }

  private addReport(from: Address, digest: Digest): void {
    const view = this.view;
    if (view === null || !view.containsMember(from)) return;
    this.reports.set(from, digest);
    if (!view.members.every((m) => this.reports.has(m))) return;
    // Every member reported: the minimum per sender is stable.
    const stable = new Digest();
    for (const sender of view.members) {
      let min = Infinity;
      for (const m of view.members) {
        const r = this.reports.get(m)!.get(sender);
        min = Math.min(min, r === undefined ? 0 : r.highestDelivered);
      }
      if (min > 0 && min !== Infinity) stable.set(sender, min, min);
    }
    this.reports.clear();
    this.stats.stableRounds++;
    if (stable.size() > 0) this.downProt.downEvent(new Event(EventType.STABLE, stable));
  }
}
