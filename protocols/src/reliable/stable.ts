import {
  type Address,
  type AnyEvent,
  Digest,
  type EndOfTurnTask,
  Event,
  EventType,
  Flag,
  Message,
  type MessageBatch,
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
 * messages, so retransmission tables stay bounded however long the run.
 *
 * A member keeps the latest report of each member (a report stays true: delivered seqnos only
 * grow) and works out the stable digest again at every report, and passes it down at once:
 * purging follows the fastest gossiper, not the slowest pair of reports. A member also gossips
 * as soon as `maxBytes` of multicasts came up through it from all senders (its own included, as
 * they come back), so that under load the tables are purged every few `maxBytes` whoever sends.
 */
export class STABLE extends Protocol {
  static override readonly protocolName = 'STABLE';
  static override readonly id = ProtocolId.STABLE;
  static override readonly headerCodec = StableHeader;
  static override readonly provides: readonly string[] = ['stability'];
  static override readonly requiresBelow: readonly string[] = ['reliable-multicast'];
  static override readonly properties: PropertyDecls = {
    desiredAvgGossip: { type: 'duration', min: 1, description: 'Average time between two gossips of a member' },
    maxBytes: { type: 'size', min: 1, description: 'Gossip at once after this many bytes of multicasts from all senders came up' },
  };

  desiredAvgGossip = 5000;
  maxBytes = 1_000_000;

  private view: View | null = null;
  /** The latest report of each member of the view. */
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

  override up(msg: Message): void {
    if (!this.takeOrCount(msg)) this.upProt.up(msg);
  }

  override upBatch(batch: MessageBatch): void {
    if (batch.mayHaveHeader(this.id)) {
      if (batch.removeIf(this.takeOrCount) > 0 && batch.isEmpty()) return;
    } else if (batch.multicast) {
      // No gossip in the batch (nearly always): only the bytes to count.
      this.countReceived(batch.payloadBytes(Flag.NO_RELIABILITY));
    }
    this.upProt.upBatch(batch);
  }

  /** true: a gossip, handled here; otherwise counts the bytes of a reliable multicast passing up. */
  private readonly takeOrCount = (msg: Message): boolean => {
    const h = msg.getHeader(this.id);
    if (h !== undefined) {
      this.handleOwnMessage(msg, h);
      return true;
    }
    if (msg.dest === null && (msg.flags & Flag.NO_RELIABILITY) === 0) this.countReceived(msg.getLength());
    return false;
  };

  private countReceived(bytes: number): void {
    this.bytesSinceGossip += bytes;
    if (this.bytesSinceGossip >= this.maxBytes) this.gossipSoon?.request();
  }

  protected override viewChanged(view: View): void {
    this.view = view;
    // Reports of members that left go; the others' stay true.
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
    // Every member reported: the minimum per sender is stable (passed down in full each time, so
    // that NAKACK2 purges what it could not purge before, e.g. own multicasts not back yet).
    const stable = new Digest();
    for (const sender of view.members) {
      let min = Infinity;
      for (const m of view.members) {
        const r = this.reports.get(m)!.get(sender);
        min = Math.min(min, r === undefined ? 0 : r.highestDelivered);
      }
      if (min > 0 && min !== Infinity) stable.set(sender, min, min);
    }
    this.stats.stableRounds++;
    if (stable.size() > 0) this.downProt.downEvent(new Event(EventType.STABLE, stable));
  }
}
