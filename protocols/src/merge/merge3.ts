import {
  Address,
  type AnyEvent,
  Event,
  EventType,
  Flag,
  Message,
  NameCache,
  PhysicalAddress,
  type PropertyDecls,
  Protocol,
  type ProtocolStack,
  type ScheduledTask,
  type View,
} from '@tsgroups/core';
import { tsgroups } from '../generated/headers.js';
import type { PingData } from '../discovery/ping-data.js';
import { ProtocolId } from '../ids.js';
import { Transport } from '../transport/transport.js';

/** The longest logical name (characters) and `host:port` an INFO may carry; longer: dropped (`droppedOversize`). */
const MAX_INFO_NAME = 256;
const MAX_INFO_PHYSICAL = 64;
/** Coordinators remembered at most between two checks (forged INFOs cannot grow the table). */
const MAX_COORDS = 1000;

const Merge3Header = tsgroups.protocols.Merge3Header;
type Header = tsgroups.protocols.Merge3Header.$Properties;

/**
 * Detects subgroups that must merge. Every member multicasts an INFO (its view id and
 * coordinator) at a random moment in each [`minInterval`, `maxInterval`]; every
 * `checkInterval` (by default half of `maxInterval`) a coordinator looks at the INFOs it got. If they name more than one
 * coordinator, the group has split and can talk again: the coordinator with the lowest address
 * among them is the merge leader, and passes MERGE up with the coordinators to merge (GMS does
 * the merge). Other coordinators stay quiet, so one merge runs at a time.
 *
 * Without IP multicast (TCP, UDP with ip_mcast off) an INFO reaches only the view and members
 * that left it lately (the transport's logical_addr_cache_expiration): after a longer partition
 * nobody on one side would hear of the other. So there a coordinator also runs a discovery round
 * (FIND_MBRS: TCPPING's list, FILE_PING's folder ...) each time it would send an INFO, and counts
 * every coordinator that answers from outside its view, as JGroups' MERGE3 does.
 */
export class MERGE3 extends Protocol {
  static override readonly protocolName = 'MERGE3';
  static override readonly id = ProtocolId.MERGE3;
  static override readonly headerCodec = Merge3Header;
  static override readonly provides: readonly string[] = ['merge-detection'];
  static override readonly requiresBelow: readonly string[] = ['transport'];
  static override readonly requiresAbove: readonly string[] = ['gms'];
  static override readonly properties: PropertyDecls = {
    minInterval: { type: 'duration', min: 1, description: 'Shortest time between two INFO messages of a member (not above max_interval)' },
    maxInterval: { type: 'duration', min: 1, description: 'Longest time between two INFO messages of a member' },
    checkInterval: { type: 'duration', description: 'How often a coordinator looks for subgroups (0: max_interval / 2)' },
  };

  minInterval = 10_000;
  maxInterval = 30_000;
  checkInterval = 0;

  private view: View | null = null;
  /** Coordinators named in the INFOs since the last check, with one of the view ids they lead. */
  private readonly coords = new Map<Address, string>();
  private infoTask: ScheduledTask | null = null;
  private checkTask: ScheduledTask | null = null;
  /** Whether a discovery round of this protocol is under way (one at a time). */
  private discovering = false;
  readonly stats = {
    infosSent: 0,
    infosReceived: 0,
    mergesTriggered: 0,
    discoveryRounds: 0,
    coordsDiscovered: 0,
    /** INFOs dropped: a name or address longer than any real member's, or over MAX_COORDS coordinators. */
    droppedOversize: 0,
  };

  override checkConfig(stack: ProtocolStack): void {
    if (this.minInterval > this.maxInterval) {
      throw this.configError(stack, 'min_interval', `min_interval (${this.minInterval} ms) must not be above max_interval (${this.maxInterval} ms)`);
    }
  }

  override start(): void {
    this.scheduleInfo();
    // Half of max_interval: an INFO from the other side (sent at most max_interval after a heal)
    // is looked at within 1.5 x max_interval, so a merge starts within that time.
    const every = this.checkInterval > 0 ? this.checkInterval : Math.max(1, Math.round(this.maxInterval / 2));
    this.checkTask = this.timer.scheduleWithFixedDelay(every, every, () => this.check());
  }

  override stop(): void {
    this.infoTask?.cancel();
    this.checkTask?.cancel();
    this.infoTask = this.checkTask = null;
    this.coords.clear();
    this.view = null;
  }

  override getStats(): Record<string, number> {
    return { ...this.stats };
  }

  override downEvent(evt: AnyEvent): unknown {
    if (evt.type === EventType.VIEW_CHANGE) this.view = evt.arg;
    else if (evt.type === EventType.DISCONNECT) this.view = null;
    return this.downProt.downEvent(evt);
  }

  protected override handleOwnMessage(msg: Message, header: unknown): void {
    const h = header as Header;
    if (h.type !== Merge3Header.Type.INFO || !h.coord || !h.viewId?.creator) return;
    this.stats.infosReceived++;
    if ((h.name && h.name.length > MAX_INFO_NAME) || (h.physical && h.physical.length > MAX_INFO_PHYSICAL) || this.coords.size >= MAX_COORDS) {
      this.stats.droppedOversize++;
      return;
    }
    try {
      const sender = msg.src!;
      if (h.name && NameCache.get(sender) === undefined) NameCache.add(sender, h.name);
      // The address the INFO came from, where the transport knows it (not what it claims: see PING).
      const transport = this.stack.getTransport();
      const physical = (transport instanceof Transport ? transport.datagramSource(sender) : undefined) ?? PhysicalAddress.parse(h.physical);
      if (physical !== undefined) {
        // After a partition the transport may have forgotten the other side: teach it again.
        this.downProt.downEvent(new Event(EventType.ADD_PHYSICAL_ADDRESS, { address: sender, physical, name: h.name ?? undefined }));
      }
      const coord = Address.fromBytes(h.coord);
      this.coords.set(coord, `${Address.fromBytes(h.viewId.creator)}|${Number(h.viewId.id ?? 0)}`);
    } catch (err) {
      this.log.debug(`dropped a malformed INFO from ${msg.src}: ${(err as Error).message}`);
    }
  }

  private scheduleInfo(): void {
    const span = this.maxInterval - this.minInterval;
    const delay = this.minInterval + Math.floor(Math.random() * (span + 1));
    this.infoTask = this.timer.schedule(delay, () => {
      this.sendInfo();
      this.scheduleInfo();
    });
  }

  private sendInfo(): void {
    const view = this.view;
    const self = this.localAddress;
    if (view === null || self === null) return;
    const physical = this.ask(new Event(EventType.GET_LOCAL_PHYSICAL_ADDRESS));
    const h: Header = {
      type: Merge3Header.Type.INFO,
      viewId: { creator: view.viewId.creator.bytes, id: view.viewId.id },
      coord: view.getCoord()!.bytes,
      name: NameCache.get(self) ?? '',
      physical: physical?.toString() ?? '',
    };
    this.stats.infosSent++;
    // DONT_LOOPBACK: a member needs no INFO from itself; it adds its own view at the check.
    void this.downProt.down(new Message(null).setFlag(Flag.OOB, Flag.DONT_LOOPBACK).putHeader(this.id, h));
    const transport = this.stack.getTransport();
    if (view.getCoord() === self && transport instanceof Transport && !transport.supportsMulticasting) this.discoverCoords();
  }

  /** Counts the coordinators outside the view that a discovery round finds (see the class comment). */
  private discoverCoords(): void {
    if (this.discovering) return;
    const found = this.downProt.downEvent(new Event(EventType.FIND_MBRS, undefined)) as Promise<PingData[]> | undefined;
    if (found === undefined) return; // no discovery protocol below
    this.discovering = true;
    this.stats.discoveryRounds++;
    found.then(
      (list) => {
        this.discovering = false;
        const view = this.view;
        if (view === null) return;
        for (const d of list) {
          if (!d.isCoord || view.containsMember(d.address)) continue;
          this.stats.coordsDiscovered++;
          this.coords.set(d.address, d.viewId === undefined ? '?' : `${d.viewId.creator}|${d.viewId.id}`);
        }
      },
      (err: unknown) => {
        this.discovering = false;
        this.log.debug(`MERGE3: a discovery round failed: ${String(err)}`);
      },
    );
  }

  private check(): void {
    const view = this.view;
    const self = this.localAddress;
    const seen = [...this.coords.keys()];
    this.coords.clear();
    if (view === null || self === null || view.getCoord() !== self) return;
    const coords = new Set<Address>([self, ...seen]);
    if (coords.size < 2) return;
    const sorted = [...coords].sort((a, b) => a.compareTo(b));
    if (sorted[0] !== self) return; // another coordinator leads the merge
    this.stats.mergesTriggered++;
    this.log.info(`${self}: subgroups led by ${sorted.join(', ')} can see each other; merging`);
    this.upProt.upEvent(new Event(EventType.MERGE, sorted));
  }

  /** Runs one INFO round and one check now (for tests and tools). */
  triggerNow(): void {
    this.sendInfo();
  }
}
