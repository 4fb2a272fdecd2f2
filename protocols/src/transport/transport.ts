import {
  type Address,
  decodeDatagram,
  type DownResult,
  DropReason,
  encodeDatagram,
  type Event,
  EventType,
  Flag,
  type Message,
  MessageBatch,
  Protocol,
  type PropertyDecls,
  utf8Encode,
  type View,
} from '@tsgroups/core';

/** Per-destination queue of messages waiting for the end of the event-loop turn. */
class Bundle {
  msgs: Message[] = [];
  bytes = 0;
  constructor(readonly dest: Address | null) {}
}

/**
 * The base of every transport (the bottom protocol). It owns what all transports share:
 *
 * - **Bundling**: messages sent in the same turn of the event loop go out as one datagram per
 *   destination, up to `maxBundleSize` bytes, when the turn ends (`setImmediate`). No timer:
 *   a lone message leaves at once after the turn, so RPCs are never delayed.
 * - **Loopback**: a multicast is delivered to the sender too (unless DONT_LOOPBACK), and a
 *   message to oneself never touches the network.
 * - **Receiving**: a datagram is decoded into a {@link MessageBatch} and passed up whole.
 *   Malformed, foreign or misaddressed datagrams are dropped and counted, never thrown.
 *
 * Subclasses implement {@link sendDatagram} and call {@link receive} with what arrives.
 */
export abstract class Transport extends Protocol {
  static override readonly provides: readonly string[] = ['transport'];
  static override readonly properties: PropertyDecls = {
    // A transport with another limit redeclares maxBundleSize (UDP: the IPv4 datagram limit).
    maxBundleSize: { type: 'size', min: 1024, max: 65_507, description: 'Largest datagram the bundler builds' },
    loopback: { type: 'boolean', description: 'Deliver own multicasts locally instead of waiting for them from the network' },
  };

  maxBundleSize = 64_000;
  loopback = true;

  protected clusterName: string | null = null;
  protected clusterBytes: Uint8Array | null = null;
  protected view: View | null = null;

  private readonly bundles = new Map<string, Bundle>(); // dest key ('' = multicast) -> bundle
  private flushScheduled = false;
  private running = false;
  private loopbackQueue: Message[] = [];

  readonly stats = {
    msgsSent: 0,
    msgsReceived: 0,
    datagramsSent: 0,
    datagramsReceived: 0,
    bytesSent: 0,
    bytesReceived: 0,
    dropped: 0,
    droppedMalformed: 0,
    droppedNotTsgroups: 0,
    droppedVersion: 0,
    droppedCluster: 0,
    droppedUnknownHeader: 0,
    droppedNotForMe: 0,
    droppedOwnMulticast: 0,
  };

  /** Sends one encoded datagram to `dest`, or to every member when `dest` is null. */
  protected abstract sendDatagram(dest: Address | null, data: Uint8Array): void;

  override start(): void | Promise<void> {
    this.running = true;
  }

  override stop(): void | Promise<void> {
    this.flush();
    this.running = false;
    this.bundles.clear();
    this.loopbackQueue = [];
  }

  override down(msg: Message): DownResult {
    if (!this.running) return;
    const local = this.localAddress;
    if (msg.src === null) msg.src = local;
    const dest = msg.dest;
    if (dest !== null && dest === local) {
      this.queueLoopback(msg);
      return;
    }
    if (dest === null && this.loopback && (msg.flags & Flag.DONT_LOOPBACK) === 0) this.queueLoopback(msg.copy());
    if ((msg.flags & Flag.DONT_BUNDLE) !== 0) {
      this.sendMessages(dest, [msg]);
      return;
    }
    const key = dest === null ? '' : dest.key;
    let b = this.bundles.get(key);
    if (b === undefined) {
      b = new Bundle(dest);
      this.bundles.set(key, b);
    }
    const size = msg.size();
    if (b.bytes + size > this.maxBundleSize && b.msgs.length > 0) {
      this.sendMessages(dest, b.msgs);
      b.msgs = [];
      b.bytes = 0;
    }
    b.msgs.push(msg);
    b.bytes += size;
    this.scheduleFlush();
  }

  override downEvent(evt: Event): unknown {
    switch (evt.type) {
      case EventType.SET_CLUSTER_NAME:
        this.clusterName = evt.arg as string;
        this.clusterBytes = utf8Encode(this.clusterName);
        return undefined;
      case EventType.VIEW_CHANGE:
        this.view = evt.arg as View;
        return undefined;
      case EventType.DISCONNECT:
        this.flush();
        this.view = null;
        return undefined;
    }
    return this.handleDownEvent(evt);
  }

  /** Events a concrete transport handles (physical addresses and the like). */
  protected handleDownEvent(_evt: Event): unknown {
    return undefined;
  }

  /** Sends every queued bundle now. */
  flush(): void {
    for (const b of this.bundles.values()) {
      if (b.msgs.length === 0) continue;
      const msgs = b.msgs;
      b.msgs = [];
      b.bytes = 0;
      this.sendMessages(b.dest, msgs);
    }
    this.bundles.clear();
    if (this.loopbackQueue.length > 0) this.deliverLoopback();
  }

  /**
   * Entry point for a datagram that arrived from the network. Never throws.
   * @returns the batch that went up, or the drop reason
   */
  receive(data: Uint8Array): MessageBatch | DropReason | 'not_for_me' | 'own' | 'stopped' {
    if (!this.running) return 'stopped';
    this.stats.datagramsReceived++;
    this.stats.bytesReceived += data.length;
    const res = decodeDatagram(data, this.clusterBytes);
    if (typeof res === 'string') {
      this.countDrop(res);
      return res;
    }
    const batch = res.batch;
    const local = this.localAddress;
    if (batch.dest !== null && batch.dest !== local) {
      this.stats.dropped++;
      this.stats.droppedNotForMe++;
      return 'not_for_me';
    }
    if (batch.dest === null && batch.sender === local && this.loopback) {
      // Our own multicast came back over the network; it was already delivered locally.
      this.stats.droppedOwnMulticast++;
      return 'own';
    }
    this.stats.msgsReceived += batch.size();
    this.passUp(batch);
    return batch;
  }

  override getStats(): Record<string, number> {
    return { ...this.stats };
  }

  protected isRunning(): boolean {
    return this.running;
  }

  private passUp(batch: MessageBatch): void {
    try {
      this.upProt.upBatch(batch);
    } catch (err) {
      this.log.error(`a protocol failed on ${batch}`, err);
    }
  }

  private sendMessages(dest: Address | null, msgs: Message[]): void {
    const cluster = this.clusterBytes;
    const local = this.localAddress;
    if (cluster === null || local === null) return;
    let data: Uint8Array;
    try {
      data = encodeDatagram(cluster, local, dest, msgs);
    } catch (err) {
      this.log.error(`cannot encode ${msgs.length} message(s) to ${dest ?? 'all'}; dropped`, err);
      return;
    }
    this.stats.msgsSent += msgs.length;
    this.stats.datagramsSent++;
    this.stats.bytesSent += data.length;
    try {
      this.sendDatagram(dest, data);
    } catch (err) {
      this.log.warn(`sending to ${dest ?? 'all'} failed`, err);
    }
  }

  private queueLoopback(msg: Message): void {
    this.loopbackQueue.push(msg);
    this.scheduleFlush();
  }

  private deliverLoopback(): void {
    const local = this.localAddress;
    const msgs = this.loopbackQueue;
    this.loopbackQueue = [];
    if (local === null) return;
    // Group into batches by destination kind, keeping order.
    let batch: MessageBatch | null = null;
    for (const m of msgs) {
      const multicast = m.dest === null;
      if (batch === null || batch.multicast !== multicast) {
        if (batch !== null) this.passUp(batch);
        batch = new MessageBatch(local, multicast ? null : local, multicast);
      }
      batch.add(m);
    }
    if (batch !== null) this.passUp(batch);
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(this.onFlush);
  }

  private readonly onFlush = (): void => {
    this.flushScheduled = false;
    if (this.running) this.flush();
  };

  private countDrop(reason: DropReason): void {
    const s = this.stats;
    s.dropped++;
    switch (reason) {
      case DropReason.MALFORMED: s.droppedMalformed++; break;
      case DropReason.NOT_TSGROUPS: s.droppedNotTsgroups++; break;
      case DropReason.VERSION: s.droppedVersion++; break;
      case DropReason.CLUSTER: s.droppedCluster++; break;
      case DropReason.UNKNOWN_HEADER: s.droppedUnknownHeader++; break;
    }
    if (this.log.isEnabled('debug')) this.log.debug(`dropped a datagram: ${reason}`);
  }
}
