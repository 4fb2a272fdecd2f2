import {
  type Address,
  datagramEnvelopeSize,
  decodeDatagram,
  type DownResult,
  DropReason,
  encodeDatagram,
  type AnyEvent,
  type EndOfTurnTask,
  EventType,
  Flag,
  HeaderRegistry,
  measureHeader,
  type Message,
  MessageBatch,
  type MessageSizeLimit,
  PhysicalAddress,
  Protocol,
  type PropertyDecls,
  type ScheduledTask,
  utf8Encode,
  type View,
  bindAddressError,
  ConfigError,
  resolveBindAddress,
  CHECKSUM_TRAILER_SIZE,
  ChecksumResult,
  checkDatagramChecksum,
  RateLimitedLog,
} from '@tsgroups/core';
import { DepartedMembers } from './departed-members.js';

/** Per-destination queue of messages waiting for the end of the event-loop turn. */
class Bundle {
  msgs: Message[] = [];
  /** The exact size of the datagram these messages make (envelope included). */
  bytes: number;
  constructor(
    readonly dest: Address | null,
    readonly envelope: number,
  ) {
    this.bytes = envelope;
  }
}

/**
 * Bytes a transport keeps free, below `maxBundleSize`, for the headers that protocols below the
 * top of the stack add to a message after `send` checked its size (NAKACK2's or UNICAST3's
 * seqno header, RSVP's: under 50 bytes together). See {@link Transport.maxMessageSize}.
 */
export const HEADER_RESERVE = 128;


/**
 * Resolves a transport's `bind_addr` value to an IPv4 address: an IPv4 literal,
 * `loopback`/`localhost` (127.0.0.1), `site_local` (the first private IPv4 of a non-internal
 * interface), or the name of a network interface (its first IPv4 address).
 * @throws ConfigError naming `element` (UDP, TCP ...) and its `bind_addr` if nothing matches
 */
export function resolveTransportBindAddr(element: string, value: string, source = 'code'): string {
  const ip = resolveBindAddress(value);
  if (ip !== undefined) return ip;
  throw new ConfigError('ERR_CONFIG_BAD_VALUE', `${element} bind_addr: ${bindAddressError(value)}`, { source, element, attribute: 'bind_addr' });
}

/**
 * The base of every transport (the bottom protocol). It owns what all transports share:
 *
 * - **Bundling**: messages sent in the same turn of the event loop go out as one datagram per
 *   destination, up to `maxBundleSize` bytes, when the turn ends (an end-of-turn task on the channel's scheduler, run as
 *   soon as the turn's microtasks are done, with the other end-of-turn tasks such as acks). No timer:
 *   a lone message leaves at once after the turn, so RPCs are never delayed. Sizes are exact
 *   (each header codec reports its size): no datagram is ever larger than `maxBundleSize`.
 * - **Too large**: a message that cannot fit one datagram on its own is dropped, counted
 *   (`droppedTooLarge`) and logged. It should never get here: while the transport runs, the
 *   stack refuses such a message at `send` unless a protocol (FRAG2) fragments.
 * - **Send errors** (a socket refusing a datagram) are counted (`sendErrors`, and per error
 *   code) and logged, at most once per code every 10 s; never retried here.
 * - **Loopback**: a multicast is delivered to the sender too (unless DONT_LOOPBACK), and a
 *   message to oneself never touches the network.
 * - **Receiving**: a datagram is decoded into a {@link MessageBatch} and passed up whole.
 *   Malformed, foreign or misaddressed datagrams are dropped and counted, never thrown.
 *
 * Subclasses implement {@link sendDatagram} and call {@link receive} with what arrives.
 */
export abstract class Transport extends Protocol implements MessageSizeLimit {
  static override readonly provides: readonly string[] = ['transport'];
  static override readonly properties: PropertyDecls = {
    // A transport with another limit redeclares maxBundleSize (UDP: the IPv4 datagram limit).
    maxBundleSize: { type: 'size', min: 1024, max: 65_507, description: 'Largest datagram the bundler builds' },
    loopback: { type: 'boolean', description: 'Deliver own multicasts locally instead of waiting for them from the network' },
    checksum: {
      type: 'boolean',
      description: 'End every datagram with a CRC32C of its bytes, checked before decoding: corrupted datagrams (and those without one) are dropped; every member must agree',
    },
    logicalAddrCacheExpiration: {
      type: 'duration',
      min: 1,
      description: 'How long the physical address of a member that left the view is kept (without IP multicast, it still gets multicasts meanwhile)',
    },
  };

  maxBundleSize = 64_000;
  loopback = true;
  /**
   * Whether datagrams carry (and must carry) a CRC32C trailer (see docs/wire-format.md). The
   * shipped UDP and TCP stacks turn it on (TSGROUPS_CHECKSUM, default true): a corrupting path
   * must not become a phantom member or a corrupted delivery, and the native CRC32C costs no
   * measurable throughput.
   */
  checksum = false;
  /** 360 s, as JGroups' logical address cache. */
  logicalAddrCacheExpiration = 360_000;

  /** Members that left the view lately (see {@link DepartedMembers}). */
  protected readonly departed = new DepartedMembers(this.logicalAddrCacheExpiration);
  private expireTask: ScheduledTask | null = null;

  protected clusterName: string | null = null;
  protected clusterBytes: Uint8Array | null = null;
  protected view: View | null = null;

  private readonly bundles = new Map<string, Bundle>(); // dest key ('' = multicast) -> bundle
  /** Datagram envelope sizes for this cluster name and address: multicast, unicast. */
  private envelopeMcast = 0;
  private envelopeUcast = 0;
  /** Send failures by error code (EMSGSIZE, ENOBUFS ...); `stats.sendErrors` is their sum. */
  readonly sendErrorsByCode: Record<string, number> = {};
  /** Send failures and refusals, logged at most once per 10 s per kind. */
  private readonly failureLog = new RateLimitedLog(this.log);
  private flushTask: EndOfTurnTask | null = null;
  private running = false;
  private loopbackQueue: Message[] = [];
  /** Where the datagram being passed up came from (its sender and source host:port), while it is; see {@link datagramSource}. */
  private srcSender: Address | null = null;
  private srcHost: string | null = null;
  private srcPort = 0;
  private srcPhysical: PhysicalAddress | undefined = undefined;

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
    /** Messages that could not fit one datagram on their own (never sent). */
    droppedTooLarge: 0,
    /** Messages that could not be encoded (a header without a codec, or a codec that failed). */
    droppedEncoding: 0,
    /** Datagrams the network layer refused (see `sendErrorsByCode`). */
    sendErrors: 0,
    /** Datagrams whose encoded length differed from the computed one (a header codec's size() is wrong). */
    sizeMismatches: 0,
    /** Members that left the view and whose physical address was forgotten (logical_addr_cache_expiration). */
    departedForgotten: 0,
    /** Datagrams dropped by the checksum (checksum="true"): corrupted, or without a checksum. */
    droppedChecksum: 0,
    /** Of droppedChecksum: datagrams without a checksum trailer (a member without checksum="true"?). */
    droppedNoChecksum: 0,
    /** Physical addresses refused for a member whose address is verified (see PhysicalAddresses). */
    physicalRefused: 0,
  };

  /** Sends one encoded datagram to `dest`, or to every member when `dest` is null. */
  protected abstract sendDatagram(dest: Address | null, data: Uint8Array): void;

  override start(): void | Promise<void> {
    this.running = true;
    this.departed.expiration = this.logicalAddrCacheExpiration;
    // Departed members are forgotten on time even when no view change comes to do it.
    const every = Math.max(100, Math.min(60_000, Math.round(this.logicalAddrCacheExpiration / 4)));
    this.expireTask = this.timer.scheduleWithFixedDelay(every, every, () => this.expireDeparted());
    this.computeEnvelopes();
    this.stack.setMessageSizeLimit(this);
  }

  override stop(): void | Promise<void> {
    this.stack.setMessageSizeLimit(null);
    this.flush();
    this.running = false;
    this.bundles.clear();
    this.loopbackQueue = [];
    this.flushTask?.cancel();
    this.expireTask?.cancel();
    this.expireTask = null;
    this.departed.clear();
  }

  /**
   * Whether a message to all goes out as one IP multicast reaching every member, also those of
   * other subgroups (true here and for UDP with ip_mcast). When false (TCP, UDP without
   * ip_mcast) it reaches only the view and lately departed members, so MERGE3 also looks for
   * other subgroups through discovery.
   */
  get supportsMulticasting(): boolean {
    return true;
  }

  /** Forgets how to reach a member that left the view longer than logical_addr_cache_expiration ago. */
  protected forgetPhysical(_member: Address): void {}

  private expireDeparted(): void {
    for (const m of this.departed.expire(Date.now())) {
      this.stats.departedForgotten++;
      this.forgetPhysical(m);
    }
  }

  /**
   * The largest `msg.size()` a message may have at the top of the stack and still fit one
   * datagram to `dest`: `maxBundleSize` less the datagram's envelope and {@link HEADER_RESERVE}.
   * Infinity for a message to this member (it never touches the network).
   */
  maxMessageSize(dest: Address | null): number {
    if (dest !== null && dest === this.localAddress) return Infinity;
    return this.maxBundleSize - (dest === null ? this.envelopeMcast : this.envelopeUcast) - HEADER_RESERVE;
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
    let size: number;
    try {
      size = msg.size(local);
    } catch (err) {
      this.stats.droppedEncoding++;
      this.log.error(`cannot encode ${msg}; dropped`, err);
      return;
    }
    const envelope = dest === null ? this.envelopeMcast : this.envelopeUcast;
    if (envelope + size > this.maxBundleSize) {
      this.dropTooLarge(msg, envelope + size);
      return;
    }
    if (dest === null && this.loopback && (msg.flags & Flag.DONT_LOOPBACK) === 0) this.queueLoopback(msg.copy());
    if ((msg.flags & Flag.DONT_BUNDLE) !== 0) {
      this.sendMessages(dest, [msg], envelope + size);
      return;
    }
    const key = dest === null ? '' : dest.key;
    let b = this.bundles.get(key);
    if (b === undefined) {
      b = new Bundle(dest, envelope);
      this.bundles.set(key, b);
    }
    if (b.bytes + size > this.maxBundleSize && b.msgs.length > 0) {
      this.sendMessages(dest, b.msgs, b.bytes);
      b.msgs = [];
      b.bytes = b.envelope;
    }
    b.msgs.push(msg);
    b.bytes += size;
    this.scheduleFlush();
  }

  override downEvent(evt: AnyEvent): unknown {
    switch (evt.type) {
      case EventType.SET_CLUSTER_NAME:
        this.clusterName = evt.arg;
        this.clusterBytes = utf8Encode(this.clusterName);
        this.computeEnvelopes();
        return undefined;
      case EventType.VIEW_CHANGE:
        // Not at once: a leaver still has to receive its LEAVE_RSP and view acknowledgements.
        this.departed.viewChanged(this.view, evt.arg, Date.now());
        this.view = evt.arg;
        this.expireDeparted();
        return undefined;
      case EventType.DISCONNECT:
        this.flush();
        this.view = null;
        return undefined;
      case EventType.SEND_TO_PHYSICAL:
        this.sendToPhysical(evt.arg.to, evt.arg.msg);
        return undefined;
    }
    return this.handleDownEvent(evt);
  }

  /** Events a concrete transport handles (physical addresses and the like). */
  protected handleDownEvent(_evt: AnyEvent): unknown {
    return undefined;
  }

  /** Sends every queued bundle now. */
  flush(): void {
    for (const b of this.bundles.values()) {
      if (b.msgs.length === 0) continue;
      const msgs = b.msgs;
      const bytes = b.bytes;
      b.msgs = [];
      b.bytes = b.envelope;
      this.sendMessages(b.dest, msgs, bytes);
    }
    this.bundles.clear();
    if (this.loopbackQueue.length > 0) this.deliverLoopback();
  }

  /**
   * Entry point for a datagram that arrived from the network. Never throws.
   * @param checksumVerified the checksum was verified already (by a receive thread)
   * @returns the batch that went up, or the drop reason
   */
  receive(
    data: Uint8Array,
    srcHost: string | null = null,
    srcPort = 0,
    checksumVerified = false,
  ): MessageBatch | DropReason | 'not_for_me' | 'own' | 'stopped' | 'checksum' {
    if (!this.running) return 'stopped';
    this.stats.datagramsReceived++;
    this.stats.bytesReceived += data.length;
    if (this.checksum && !checksumVerified) {
      const c = checkDatagramChecksum(data);
      if (c !== ChecksumResult.OK) {
        this.dropChecksum(c, srcHost, srcPort);
        return 'checksum';
      }
    }
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
    if (srcHost === null) {
      this.passUp(batch);
      return batch;
    }
    this.srcSender = batch.sender;
    this.srcHost = srcHost;
    this.srcPort = srcPort;
    try {
      this.passUp(batch);
    } finally {
      this.srcSender = null;
      this.srcHost = null;
      this.srcPhysical = undefined;
    }
    return batch;
  }

  /**
   * Where the datagram of `sender` that is being passed up came from (the UDP source, the TCP
   * connection's peer): valid only while {@link receive} passes that datagram up, synchronously.
   * Discovery answers and learns this address, never one a message merely claims. Undefined
   * otherwise (a transport that does not know, another sender, a message a protocol held back).
   */
  datagramSource(sender: Address | null): PhysicalAddress | undefined {
    if (this.srcHost === null || sender === null || sender !== this.srcSender) return undefined;
    return (this.srcPhysical ??= PhysicalAddress.tryOf(this.srcHost, this.srcPort));
  }

  private dropChecksum(c: ChecksumResult, host: string | null, port: number): void {
    this.stats.dropped++;
    this.stats.droppedChecksum++;
    if (c === ChecksumResult.MISSING) {
      this.stats.droppedNoChecksum++;
      this.logRateLimited(
        'no-checksum',
        `dropped a datagram without a checksum${host === null ? '' : ` from ${host}:${port}`}: checksum="true" here, so every member must set it`,
      );
    } else if (this.log.isEnabled('debug')) {
      this.log.debug(`dropped a corrupted datagram (checksum mismatch)${host === null ? '' : ` from ${host}:${port}`}`);
    }
  }

  override getStats(): Record<string, number> {
    const out: Record<string, number> = { ...this.stats };
    for (const code in this.sendErrorsByCode) out[`sendErrors.${code}`] = this.sendErrorsByCode[code]!;
    return out;
  }

  protected isRunning(): boolean {
    return this.running;
  }

  /**
   * Sends a message, as a multicast datagram of its own, straight to a physical address (discovery
   * by a static list, TCPPING, before the member there is known by its logical address). Does
   * nothing on a transport that cannot address a physical address ({@link canSendToPhysical}).
   */
  sendToPhysical(to: PhysicalAddress, msg: Message): void {
    const cluster = this.clusterBytes;
    const local = this.localAddress;
    if (!this.running || cluster === null || local === null || !this.canSendToPhysical(to)) return;
    if (msg.src === null) msg.src = local;
    let data: Uint8Array;
    try {
      data = encodeDatagram(cluster, local, null, [msg], 0, 1, this.checksum);
    } catch (err) {
      this.stats.droppedEncoding++;
      this.log.error(`cannot encode ${msg}; dropped`, err);
      return;
    }
    this.stats.msgsSent++;
    this.stats.datagramsSent++;
    this.stats.bytesSent += data.length;
    this.writeToPhysical(to, data);
  }

  /** Whether {@link sendToPhysical} can reach `to` (false by default; never this member's own address). */
  protected canSendToPhysical(_to: PhysicalAddress): boolean {
    return false;
  }

  /** Sends an encoded datagram to a physical address; transports that can override it with {@link canSendToPhysical}. */
  protected writeToPhysical(_to: PhysicalAddress, _data: Uint8Array): void {}

  /**
   * Where a multicast goes on a network without multicast (TCP; UDP with ip_mcast off): one copy
   * per distinct physical address, never this member's own (an old and a new incarnation on one
   * address are one process). Before the first view, to every member discovery found; then to the
   * members of the view, and to members that left it lately (`departed`): after a partition heals,
   * MERGE3's announcements must reach the other side, which no view of ours holds. Members long
   * gone are not in `departed`, so nothing goes to them.
   * @returns how many view members had no known physical address (their copy was not sent)
   */
  protected forEachMulticastTarget(
    physical: ReadonlyMap<Address, PhysicalAddress>,
    own: PhysicalAddress | undefined,
    send: (to: PhysicalAddress) => void,
  ): number {
    const seen = new Set<string>();
    if (own !== undefined) seen.add(own.toString());
    const sendOnce = (p: PhysicalAddress) => {
      const key = p.toString();
      if (seen.has(key)) return;
      seen.add(key);
      send(p);
    };
    const view = this.view;
    if (view === null) {
      for (const p of physical.values()) sendOnce(p);
      return 0;
    }
    let unknown = 0;
    const self = this.localAddress;
    for (const m of view.members) {
      if (m === self) continue;
      const p = physical.get(m);
      if (p === undefined) unknown++;
      else sendOnce(p);
    }
    for (const m of this.departed.members()) {
      const p = physical.get(m);
      if (p !== undefined) sendOnce(p);
    }
    return unknown;
  }

  private passUp(batch: MessageBatch): void {
    try {
      this.upProt.upBatch(batch);
    } catch (err) {
      this.log.error(`a protocol failed on ${batch}`, err);
    }
  }

  /** @param expected the datagram's size as the bundler computed it */
  private sendMessages(dest: Address | null, msgs: Message[], expected: number): void {
    const cluster = this.clusterBytes;
    const local = this.localAddress;
    if (cluster === null || local === null) return;
    let data: Uint8Array;
    try {
      data = encodeDatagram(cluster, local, dest, msgs, 0, msgs.length, this.checksum);
    } catch (err) {
      this.stats.droppedEncoding += msgs.length;
      this.log.error(`cannot encode ${msgs.length} message(s) to ${dest ?? 'all'}; dropped`, err);
      return;
    }
    if (data.length !== expected && !this.sizeMismatch(dest, msgs, data.length, expected)) return;
    this.stats.msgsSent += msgs.length;
    this.stats.datagramsSent++;
    this.stats.bytesSent += data.length;
    try {
      this.sendDatagram(dest, data);
    } catch (err) {
      this.sendFailed(err, dest ?? 'all', data.length);
    }
  }

  /**
   * A datagram came out another size than computed: some header codec's `size()` is wrong.
   * Says which, and lets the datagram go only if it still fits `maxBundleSize`.
   */
  private sizeMismatch(dest: Address | null, msgs: Message[], actual: number, expected: number): boolean {
    this.stats.sizeMismatches++;
    const culprits = new Set<string>();
    for (const m of msgs) {
      m.forEachHeader((id, h) => {
        const codec = HeaderRegistry.get(id);
        if (codec !== undefined && HeaderRegistry.sizeOf(id, h) !== measureHeader(codec, h)) culprits.add(HeaderRegistry.nameOf(id) ?? String(id));
      });
    }
    const fits = actual <= this.maxBundleSize;
    this.logRateLimited(
      'size-mismatch',
      `a datagram to ${dest ?? 'all'} encoded to ${actual} bytes, not the ${expected} computed: the size() of the header codec of ` +
        `${culprits.size > 0 ? [...culprits].join(', ') : 'some protocol'} is wrong` +
        (fits ? '' : `; dropped (above max_bundle_size ${this.maxBundleSize})`),
    );
    if (!fits) this.stats.droppedTooLarge += msgs.length;
    return fits;
  }

  private dropTooLarge(msg: Message, size: number): void {
    this.stats.droppedTooLarge++;
    this.logRateLimited(
      'too-large',
      `${msg} takes ${size} bytes in a datagram, more than max_bundle_size (${this.maxBundleSize}): it can never be sent, ` +
        'dropped (add FRAG2 to the stack, or send smaller messages)',
    );
  }

  /**
   * Counts and logs a datagram the network layer refused: subclasses call it from their send
   * callbacks (a `sendDatagram` that throws comes here too). Nothing is retried here; the
   * protocols above retransmit what they must. EMSGSIZE (a datagram larger than the socket
   * takes) can never succeed, and the log says so.
   * @param to where the datagram went (an address, `host:port`, or `all`)
   */
  protected sendFailed(err: unknown, to: string | Address, bytes?: number): void {
    const code = (err as { code?: unknown } | null)?.code;
    const key = typeof code === 'string' ? code : 'unknown';
    this.stats.sendErrors++;
    this.sendErrorsByCode[key] = (this.sendErrorsByCode[key] ?? 0) + 1;
    const what = `a datagram${bytes === undefined ? '' : ` of ${bytes} bytes`} to ${to}`;
    this.logRateLimited(
      `send:${key}`,
      key === 'EMSGSIZE'
        ? `${what} is larger than the socket can send (EMSGSIZE): the messages in it can never be sent; lower max_bundle_size`
        : `sending ${what} failed (${key}): ${err instanceof Error ? err.message : String(err)}`,
    );
  }

  /** Whether `a` is a member of the current view (its verified physical address is pinned: see PhysicalAddresses). */
  protected readonly isViewMember = (a: Address): boolean => this.view !== null && this.view.containsMember(a);

  /**
   * Counts a refused physical address (`physicalRefused`): a claim or a datagram naming another
   * address for a member whose address is verified. Logged at most every 10 s.
   */
  protected physicalRefused(member: Address, claimed: PhysicalAddress | string, known: PhysicalAddress | undefined): void {
    this.stats.physicalRefused++;
    this.logRateLimited(
      'physical-refused',
      `refused ${claimed} as the physical address of ${member}: its address ${known ?? ''} is verified (address poisoning, or a member behind a changing NAT)`,
    );
  }

  /** Logs `text` at most once per 10 s per `kind`, saying how many were not logged. */
  protected logRateLimited(kind: string, text: string): void {
    this.failureLog.error(kind, text);
  }

  private computeEnvelopes(): void {
    const n = this.clusterBytes?.length ?? 0;
    const trailer = this.checksum ? CHECKSUM_TRAILER_SIZE : 0;
    this.envelopeMcast = datagramEnvelopeSize(n, false) + trailer;
    this.envelopeUcast = datagramEnvelopeSize(n, true) + trailer;
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
    const task = (this.flushTask ??= this.timer.endOfTurnTask(this.onFlush));
    if (task.pending) return;
    task.request();
    // The turn's work is over once its microtasks are (an answer's continuations send the next
    // request): flush then, with the acks requested before, instead of one loop phase later.
    if (!this.flushSoonQueued) {
      this.flushSoonQueued = true;
      queueMicrotask(this.afterMicrotasks);
    }
  }

  private flushSoonQueued = false;
  /** A tick queued from a microtask runs once the microtask queue is empty. */
  private readonly afterMicrotasks = (): void => {
    process.nextTick(this.flushSoon);
  };
  private readonly flushSoon = (): void => {
    this.flushSoonQueued = false;
    if (this.flushTask?.pending === true) this.timer.runEndOfTurnTasks();
  };

  private readonly onFlush = (): void => {
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
