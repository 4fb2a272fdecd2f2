import { createConnection, createServer, type Server, type Socket } from 'node:net';
import {
  type Address,
  DropReason,
  PhysicalAddress,
  type PropertyDecls,
  utf8Decode,
  utf8Encode,
} from '@tsgroups/core';
import { NetworkTransport } from './network-transport.js';
import { resolveTransportBindAddr, Transport } from './transport.js';

/** The first frame of every connection names the dialer's listening address: this magic, then `host:port`. */
const HELLO_MAGIC = 0x54534743; // 'TSGC'
/** The longest hello frame taken (magic and `host:port`). */
const MAX_HELLO = 4 + 300;
/** One TCP connection to a peer, in either direction. */
interface Conn {
  readonly sock: Socket;
  /** Whether this member dialed it. */
  readonly outbound: boolean;
  /** The peer's listening address (`host:port`): known at once when dialing, from its hello when accepting. */
  peer: string | null;
  /** The peer's listening host and port (from `peer`), the source of what arrives on this connection. */
  peerHost: string | null;
  peerPort: number;
  /** Whether a valid datagram arrived on it: a later hello claiming the same peer does not displace it. */
  proven: boolean;
  /** When a datagram last arrived on it (the transport's activity counter). */
  lastActive: number;
  /** The sender of the last datagram delivered from it. */
  sender: Address | null;
  /** Bytes received and not yet framed. */
  pending: Buffer;
  /** Whether the peer's hello arrived (accepted connections) or was sent (dialed ones). */
  greeted: boolean;
  /** Whether the TCP handshake completed (always, for accepted connections). */
  connected: boolean;
  closed: boolean;
}


/**
 * The TCP transport: one connection per pair of members, carrying the same datagrams (bundles and
 * batches) as UDP, each framed by a 4-byte big-endian length. No multicast: a message to all is
 * sent to each member of the view, and to members that left it in the last 6 minutes (so that
 * MERGE3 heals partitions); before the first view, to every member discovery found.
 *
 * - **Connections**: a member listens on `bind_addr:bind_port` (the first free port of
 *   `bind_port .. bind_port + port_range`; 0: any). The dialer's first frame is a hello with its
 *   own listening address (`external_addr`/`external_port` where set, for NAT), so either side
 *   can use the connection. When both dial at once, the connection dialed by the lower listening
 *   address is kept, on both sides; the other is ended gracefully (what was written on it is
 *   still read).
 * - **Failures**: a dial that fails makes sends to that peer drop (counted) for a backoff that
 *   doubles from `reconnect_interval` up to 32 times it; the protocols above retransmit. A peer
 *   that restarted on the same port breaks the old connection, which is forgotten; the next send
 *   dials again.
 * - **Bounded**: a connection's unsent bytes never exceed `max_send_buffer`; a datagram that
 *   would go above it is dropped and counted (`droppedSendBuffer`), and flow control (MFC/UFC)
 *   keeps senders below it in a full stack. Connections idle for `conn_expire_time` are closed.
 *   At most `max_pending_conns` accepted connections wait for their first valid datagram (hello
 *   included) at once, each at most `hello_timeout`: over it the oldest goes (`connectionsRefused`).
 *   At most `max_conns` connections are open: over it the accepted connection idle the longest,
 *   of no view member first, is closed (`connectionsEvicted`). A hello naming a peer whose
 *   connection carried valid datagrams is refused (`connectionsRefused`; it would take that
 *   peer's traffic over).
 * - **Bad input**: a frame longer than `max_bundle_size`, a missing or bad hello,
 *   a datagram that is not a tsgroups datagram of this cluster and version, or a connection that
 *   sends no hello within `hello_timeout`: the connection is closed and counted (`badFrames`,
 *   `connectionsTimedOut`); the member goes on.
 */
export class TCP extends NetworkTransport {
  static override readonly protocolName = 'TCP';
  static override readonly properties: PropertyDecls = {
    maxBundleSize: { type: 'size', min: 1024, max: 1_000_000, description: 'Largest datagram (frame) the bundler builds' },
    bindAddr: { type: 'address', description: 'IPv4 address, interface name, localhost/loopback or site_local to listen on' },
    bindPort: { type: 'int', min: 0, max: 65535, description: 'First port tried for listening (0: any free port)' },
    portRange: { type: 'int', min: 0, max: 1000, description: 'How many ports above bind_port are tried when it is taken' },
    externalAddr: { type: 'string', description: 'Address others reach this member at (NAT); empty: the bound address' },
    externalPort: { type: 'int', min: 0, max: 65535, description: 'Port others reach this member at (NAT); 0: the bound port' },
    maxSendBuffer: { type: 'size', min: 65_536, description: 'Unsent bytes a connection holds at most; more is dropped and counted' },
    connExpireTime: { type: 'duration', description: 'Idle connections are closed after this long (0: never)' },
    helloTimeout: { type: 'duration', description: 'An accepted connection that sends no hello within this long is closed' },
    maxConns: {
      type: 'int',
      min: 2,
      description: 'Open connections at most; a connection accepted over it closes the accepted one idle the longest (connectionsEvicted)',
    },
    maxPendingConns: {
      type: 'int',
      min: 1,
      description: 'Accepted connections without a hello kept at most; over it the oldest is closed (connectionsRefused)',
    },
    reconnectInterval: { type: 'duration', description: 'Backoff after a failed dial; doubles on each failure up to 32 times' },
  };

  override maxBundleSize = 64_000;
  bindAddr = '127.0.0.1';
  bindPort = 0;
  portRange = 0;
  externalAddr = '';
  externalPort = 0;
  maxSendBuffer = 4_000_000;
  connExpireTime = 0;
  helloTimeout = 5000;
  maxPendingConns = 50;
  maxConns = 1000;
  /** Counts datagrams received, to order accepted connections by activity (no clock read per datagram). */
  private activity = 0;
  reconnectInterval = 500;

  declare readonly stats: Transport['stats'] & {
    droppedNoPhysical: number;
    droppedSendBuffer: number;
    droppedNoConnection: number;
    badFrames: number;
    connectionsTimedOut: number;
    connectionsOpened: number;
    connectionsAccepted: number;
    connectionsClosed: number;
    duplicateConnections: number;
    socketErrors: number;
    connectionsRefused: number;
    connectionsEvicted: number;
  };

  private server: Server | null = null;
  private resolvedBindAddr = '127.0.0.1';
  /** `host:port` of this member as peers know it (the hello it sends, the key it compares). */
  private localKey = '';
  /** The connection used to send to each peer, by its listening `host:port`. */
  private readonly conns = new Map<string, Conn>();
  /** Every open connection (those in `conns`, accepted ones before their hello, losers draining). */
  private readonly all = new Set<Conn>();
  /** Accepted connections that sent no hello yet, oldest first (bounded by max_pending_conns). */
  private readonly pendingConns = new Set<Conn>();
  /** Per peer key: until when sends are dropped after a failed dial, and the next backoff. */
  private readonly backoff = new Map<string, { until: number; next: number }>();

  constructor() {
    super();
    Object.assign(this.stats, {
      droppedNoPhysical: 0,
      droppedSendBuffer: 0,
      droppedNoConnection: 0,
      badFrames: 0,
      connectionsTimedOut: 0,
      connectionsOpened: 0,
      connectionsAccepted: 0,
      connectionsClosed: 0,
      duplicateConnections: 0,
      socketErrors: 0,
      connectionsRefused: 0,
      connectionsEvicted: 0,
    });
  }

  /** The port this member listens on (0 while stopped). */
  get boundPort(): number {
    const a = this.server?.address();
    return a !== null && a !== undefined && typeof a === 'object' ? a.port : 0;
  }

  /** The address the server listens on, after resolving keywords and interface names. */
  get boundAddress(): string {
    return this.resolvedBindAddr;
  }

  /** Open connections, to peers or from them (for tests and stats). */
  get connectionCount(): number {
    return this.all.size;
  }

  override init(): void {
    this.resolvedBindAddr = resolveTransportBindAddr('TCP', this.bindAddr, this.stack.source);
  }

  override async start(): Promise<void> {
    const host = (this.resolvedBindAddr = resolveTransportBindAddr('TCP', this.bindAddr, this.stack.source));
    const last = this.bindPort === 0 ? 0 : Math.min(65535, this.bindPort + this.portRange);
    let lastErr: unknown;
    for (let port = this.bindPort; port <= last; port++) {
      const server = createServer({ noDelay: true }, this.onAccept);
      try {
        await new Promise<void>((resolve, reject) => {
          server.once('error', reject);
          server.listen({ port, host, exclusive: true }, () => {
            server.off('error', reject);
            resolve();
          });
        });
      } catch (err) {
        lastErr = err;
        continue;
      }
      server.on('error', (err) => {
        this.stats.socketErrors++;
        this.log.warn('TCP server error', err);
      });
      this.server = server;
      break;
    }
    if (this.server === null) throw lastErr instanceof Error ? lastErr : new Error(`TCP: no free port in ${this.bindPort}..${last}`);
    const port = this.boundPort;
    this.localPhysical = PhysicalAddress.of(this.externalAddr || host, this.externalPort || port);
    this.localKey = this.localPhysical.toString();
    super.start();
  }

  override async stop(): Promise<void> {
    super.stop();
    const server = this.server;
    this.server = null;
    for (const c of [...this.all]) this.close(c, true);
    this.conns.clear();
    this.clearPhysical();
    this.backoff.clear();
    if (server !== null) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  override get supportsMulticasting(): boolean {
    return false;
  }

  override getStats(): Record<string, number> {
    return { ...super.getStats(), physicalAddresses: this.physical.size, connections: this.all.size, boundPort: this.boundPort };
  }

  protected override canSendToPhysical(to: PhysicalAddress): boolean {
    return to.toString() !== this.localKey;
  }

  protected override writeToPhysical(to: PhysicalAddress, data: Uint8Array): void {
    this.write(to, data);
  }

  protected override sendDatagram(dest: Address | null, data: Uint8Array): void {
    if (dest !== null) {
      const p = this.physical.get(dest);
      if (p === undefined) {
        this.stats.droppedNoPhysical++;
        return;
      }
      this.write(p, data);
      return;
    }
    this.stats.droppedNoPhysical += this.forEachMulticastTarget(this.physical.map, this.localPhysical, (p) => this.write(p, data));
  }

  // ---- internals ----
  private write(to: PhysicalAddress, data: Uint8Array): void {
    const key = to.toString();
    let c = this.conns.get(key);
    if (c === undefined) {
      const b = this.backoff.get(key);
      if (b !== undefined && Date.now() < b.until) {
        this.stats.droppedNoConnection++;
        return;
      }
      c = this.dial(to, key);
    }
    if (c.sock.writableLength + data.length + 4 > this.maxSendBuffer) {
      this.stats.droppedSendBuffer++;
      return;
    }
    const len = Buffer.allocUnsafe(4);
    len.writeUInt32BE(data.length, 0);
    c.sock.cork();
    c.sock.write(len);
    c.sock.write(data);
    c.sock.uncork();
  }

  private dial(to: PhysicalAddress, key: string): Conn {
    const sock = createConnection({ host: to.host, port: to.port, noDelay: true });
    const c = this.track(sock, true, key);
    this.conns.set(key, c);
    this.stats.connectionsOpened++;
    sock.once('connect', () => {
      c.connected = true;
      this.backoff.delete(key);
    });
    // The hello goes first: written now, it leaves once connected.
    const hello = utf8Encode(this.localKey);
    const frame = Buffer.allocUnsafe(8 + hello.length);
    frame.writeUInt32BE(4 + hello.length, 0);
    frame.writeUInt32BE(HELLO_MAGIC, 4);
    frame.set(hello, 8);
    sock.write(frame);
    return c;
  }

  private readonly onAccept = (sock: Socket): void => {
    if (!this.isRunning()) {
      sock.destroy();
      return;
    }
    this.stats.connectionsAccepted++;
    // Connections that never say who they are (half-open, a port scanner, a flood) are bounded:
    // over max_pending_conns the oldest goes (a real peer sends its hello at once).
    if (this.pendingConns.size >= this.maxPendingConns) {
      const oldest = this.pendingConns.values().next().value;
      if (oldest !== undefined) {
        this.stats.connectionsRefused++;
        this.logRateLimited('pending-conns', `more than max_pending_conns (${this.maxPendingConns}) connections without a hello: closed the oldest`);
        this.close(oldest, true);
      }
    }
    // Connections that proved themselves once and then idle (an outsider that knows the cluster
    // name) are bounded too: over max_conns the accepted connection idle the longest goes; members
    // talk all the time (heartbeats), so it is not theirs.
    if (this.all.size >= this.maxConns) this.evictIdlest();
    const c = this.track(sock, false, null);
    this.pendingConns.add(c);
    sock.setTimeout(this.helloTimeout);
  };

  /** Closes the accepted connection idle the longest, among those of no view member if there are any. */
  private evictIdlest(): void {
    let idlest: Conn | undefined;
    let idlestStranger: Conn | undefined;
    for (const c of this.all) {
      if (c.outbound) continue;
      if (idlest === undefined || c.lastActive < idlest.lastActive) idlest = c;
      const stranger = c.sender === null || !this.isViewMember(c.sender);
      if (stranger && (idlestStranger === undefined || c.lastActive < idlestStranger.lastActive)) idlestStranger = c;
    }
    idlest = idlestStranger ?? idlest;
    if (idlest === undefined) return;
    this.stats.connectionsEvicted++;
    this.logRateLimited('max-conns', `more than max_conns (${this.maxConns}) connections: closed the accepted one idle the longest`);
    this.close(idlest, true);
  }

  private track(sock: Socket, outbound: boolean, peer: string | null): Conn {
    const p = peer === null ? undefined : PhysicalAddress.parse(peer);
    const c: Conn = {
      sock,
      outbound,
      peer,
      peerHost: p?.host ?? null,
      peerPort: p?.port ?? 0,
      proven: false,
      lastActive: this.activity,
      sender: null,
      pending: Buffer.alloc(0),
      greeted: outbound,
      connected: !outbound,
      closed: false,
    };
    this.all.add(c);
    if (outbound && this.connExpireTime > 0) sock.setTimeout(this.connExpireTime);
    sock.on('data', (chunk: Buffer) => this.onData(c, chunk));
    sock.on('timeout', () => {
      if (!c.outbound && !c.proven) this.stats.connectionsTimedOut++;
      this.close(c, true);
    });
    sock.on('error', (err: NodeJS.ErrnoException) => {
      this.stats.socketErrors++;
      if (c.outbound && !c.connected) this.failedDial(c);
      if (this.log.isEnabled('debug')) this.log.debug(`connection ${c.peer ?? '?'}: ${err.code ?? err.message}`);
    });
    sock.on('close', () => this.forget(c));
    return c;
  }

  private failedDial(c: Conn): void {
    const key = c.peer;
    if (key === null) return;
    const prev = this.backoff.get(key);
    const next = prev === undefined ? this.reconnectInterval : Math.min(prev.next * 2, this.reconnectInterval * 32);
    this.backoff.set(key, { until: Date.now() + next, next });
  }

  private onData(c: Conn, chunk: Buffer): void {
    if (c.closed) return;
    const buf = c.pending.length === 0 ? chunk : Buffer.concat([c.pending, chunk]);
    let off = 0;
    while (buf.length - off >= 4) {
      const len = buf.readUInt32BE(off);
      const limit = c.greeted ? this.maxBundleSize : MAX_HELLO;
      // An empty frame goes on to be dropped (and counted) as not a tsgroups datagram.
      if (len > limit) {
        this.badFrame(c, `a frame length of ${len}`);
        return;
      }
      if (buf.length - off - 4 < len) break;
      const frame = buf.subarray(off + 4, off + 4 + len);
      off += 4 + len;
      if (!c.greeted) {
        if (!this.onHello(c, frame)) return;
        continue;
      }
      if (!this.onFrame(c, frame)) return;
    }
    c.pending = off === buf.length ? Buffer.alloc(0) : Buffer.from(buf.subarray(off));
  }

  /** @returns false if the connection was closed */
  private onHello(c: Conn, frame: Buffer): boolean {
    const p = frame.length > 4 && frame.readUInt32BE(0) === HELLO_MAGIC ? PhysicalAddress.parse(utf8Decode(frame.subarray(4))) : undefined;
    if (p === undefined) {
      this.badFrame(c, 'no valid hello');
      return false;
    }
    c.greeted = true;
    // Still pending (and under hello_timeout) until a valid datagram proves it: a hello is cheap.
    c.peer = p.toString();
    c.peerHost = p.host;
    c.peerPort = p.port;
    const existing = this.conns.get(c.peer);
    if (existing === undefined || existing.closed) {
      this.conns.set(c.peer, c);
      return true;
    }
    if (existing.proven) {
      // The peer's connection works (datagrams came on it): a second hello naming the same peer is
      // someone else claiming its address (to receive its traffic), not the peer. Kept out.
      this.stats.connectionsRefused++;
      this.logRateLimited(
        'hello-taken',
        `closed a connection from ${c.sock.remoteAddress ?? '?'}:${c.sock.remotePort ?? '?'} whose hello names ${c.peer}, which has a working connection`,
      );
      this.close(c, true);
      return false;
    }
    // Both dialed: keep the connection the lower address dialed, on both sides.
    this.stats.duplicateConnections++;
    const weDialLower = this.localKey < c.peer;
    if (weDialLower && existing.outbound) {
      c.sock.end(); // theirs loses; still read what they wrote on it
    } else {
      this.conns.set(c.peer, c);
      existing.sock.end();
    }
    return true;
  }

  /** @returns false if the connection was closed */
  private onFrame(c: Conn, frame: Buffer): boolean {
    c.lastActive = ++this.activity;
    const res = this.receive(frame, c.peerHost, c.peerPort);
    if (res === DropReason.MALFORMED || res === DropReason.NOT_TSGROUPS || res === DropReason.VERSION || res === DropReason.CLUSTER) {
      this.badFrame(c, `a datagram dropped as ${res}`);
      return false;
    }
    if (!c.proven && res !== 'checksum') {
      c.proven = true;
      if (this.pendingConns.delete(c)) c.sock.setTimeout(this.connExpireTime);
    }
    if (typeof res === 'object' && c.peer !== null) {
      const sender = res.sender;
      c.sender = sender;
      if (sender !== this.localAddress && !this.physical.isVerified(sender)) {
        const p = PhysicalAddress.parse(c.peer);
        if (p !== undefined) this.learnSource(sender, p);
      }
    }
    return true;
  }

  private badFrame(c: Conn, what: string): void {
    this.stats.badFrames++;
    this.logRateLimited('bad-frame', `closed a connection from ${c.sock.remoteAddress ?? '?'}:${c.sock.remotePort ?? '?'}: ${what}`);
    this.close(c, true);
  }

  private close(c: Conn, destroy: boolean): void {
    if (c.closed) return;
    if (destroy) c.sock.destroy();
    else c.sock.end();
    this.forget(c);
  }

  private forget(c: Conn): void {
    this.pendingConns.delete(c);
    if (!c.closed) {
      c.closed = true;
      this.stats.connectionsClosed++;
    }
    this.all.delete(c);
    if (c.peer !== null && this.conns.get(c.peer) === c) this.conns.delete(c.peer);
  }

}
