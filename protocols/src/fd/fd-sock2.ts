import { type Server, type Socket, createConnection, createServer } from 'node:net';
import {
  Address,
  type AnyEvent,
  Event,
  EventType,
  Flag,
  MergeView,
  Message,
  type PropertyDecls,
  Protocol,
  type ProtocolStack,
  type ScheduledTask,
  type View,
  RateLimitedLog,
} from '@tsgroups/core';
import { tsgroups } from '../generated/headers.js';
import { ProtocolId } from '../ids.js';

const FdSockHeader = tsgroups.protocols.FdSockHeader;
const T = FdSockHeader.Type;
type Header = tsgroups.protocols.FdSockHeader.$Properties;

const GET_PORT: Header = Object.freeze({ type: T.GET_PORT });

/** The one byte a member writes on the connections of its monitors when it leaves gracefully. */
const LEAVING = 0x4c; // 'L'
const LEAVING_BYTES = Uint8Array.of(LEAVING);
/** How long a leaver waits for its monitors to close after the LEAVING byte before it cuts them off. */
const GOODBYE_GRACE_MS = 200;
/** Bytes a monitor connection may send after its address (it sends none) before it is closed. */
const MAX_BYTES_AFTER_HANDSHAKE = 64;
/** The host used when the transport has no IP host (SHARED_LOOPBACK): every member is in this process. */
const LOOPBACK_HOST = '127.0.0.1';

/** The connection of this member (the monitor) to the neighbour it watches. */
interface ClientConn {
  readonly target: Address;
  readonly port: number;
  readonly socket: Socket;
  /** 1 for the first attempt, 2 for the retry. */
  readonly attempt: number;
  /** When the first attempt to reach `target` started (`performance.now()`). */
  readonly firstAttemptAt: number;
  connected: boolean;
  /** Closed by this member on purpose (view change, stop): no suspicion. */
  intentional: boolean;
  /** The neighbour said it is leaving: no suspicion. */
  leaving: boolean;
  /** The close was handled. */
  done: boolean;
  timeout: ScheduledTask | null;
  lastError: Error | null;
}

/**
 * Failure detection over a ring of TCP connections, after JGroups' FD_SOCK2. Every member runs
 * a TCP server on the transport's bind address and watches one neighbour, the next member in
 * the view after itself (wrapping around, skipping members already suspected): it learns the
 * neighbour's server port with a GET_PORT/PORT exchange over the stack (every member also
 * multicasts its port at each view change, so ports are usually known already) and connects to
 * it; a neighbour that cannot be reached (connection refused or timed out, twice) is suspected. A
 * connection that closes while the neighbour is still in the view, without the neighbour having
 * said it leaves (a LEAVING byte), means the neighbour's process is gone: the kernel closed its
 * sockets. The monitor then suspects it at once (no timeout to wait for), tells the other
 * members with a SUSPECT multicast (the coordinator, which removes members, is usually not
 * the monitor), passes `SUSPECT` up and watches the member after it.
 *
 * A crash of the whole host (no FIN, no RST) is not seen here: keep FD_ALL3 in the stack too.
 * Put VERIFY_SUSPECT2 above it to double-check suspicions.
 *
 * Only FD_SOCK2's own control messages are taken out of the stream; regular messages pass
 * through untouched.
 *
 * The server is bounded (issue 12): a connection must say who it is (the monitor's 16-byte
 * address) within `handshake_timeout`, and that monitor must be a member of the view by then;
 * otherwise it is closed (`handshakeTimeouts`, `nonMemberMonitors`). At most
 * `max_pending_conns` connections wait for that at once: over it the oldest is closed
 * (`connsRefused`; a real monitor sends its address at once). A monitor sends nothing after its
 * address: more than a few bytes close the connection (`badHandshakes`).
 */
export class FD_SOCK2 extends Protocol {
  static override readonly protocolName = 'FD_SOCK2';
  static override readonly id = ProtocolId.FD_SOCK;
  static override readonly headerCodec = FdSockHeader;
  static override readonly provides: readonly string[] = ['failure-detection'];
  static override readonly requiresBelow: readonly string[] = ['transport'];
  static override readonly properties: PropertyDecls = {
    bindPort: { type: 'int', min: 0, max: 65535, description: 'Port of the TCP server (0: any free port)' },
    portRange: { type: 'int', min: 0, max: 1000, description: 'With bind_port > 0: how many ports above it are tried too (bind_port + port_range at most 65535)' },
    getPortInterval: { type: 'duration', min: 1, description: 'How often GET_PORT is resent to a neighbour that has not answered' },
    connectTimeout: { type: 'duration', min: 1, description: 'How long a connect to the neighbour may take (one retry, then it is suspected)' },
    keepAlive: { type: 'boolean', description: 'Enable TCP keepalive on the connection to the neighbour' },
    handshakeTimeout: {
      type: 'duration',
      min: 1,
      description: 'An accepted connection is closed unless it named a monitor that is a view member within this long',
    },
    maxPendingConns: { type: 'int', min: 1, description: 'Accepted connections waiting for their handshake at most; over it the oldest is closed' },
  };

  bindPort = 0;
  portRange = 10;
  getPortInterval = 500;
  connectTimeout = 1000;
  keepAlive = true;
  handshakeTimeout = 5000;
  maxPendingConns = 20;

  readonly stats = {
    suspicionsRaised: 0,
    connectsMade: 0,
    connectFailures: 0,
    getPortSent: 0,
    portReceived: 0,
    suspectMsgsReceived: 0,
    leavingReceived: 0,
    /** Accepted connections closed: over max_pending_conns (the oldest pending one). */
    connsRefused: 0,
    /** Accepted connections closed: no monitor address within handshake_timeout. */
    handshakeTimeouts: 0,
    /** Accepted connections closed: the monitor they named was not a view member after handshake_timeout. */
    nonMemberMonitors: 0,
    /** Accepted connections closed: bytes after the monitor's address. */
    badHandshakes: 0,
  };

  private running = false;
  /** Leaving gracefully: the LEAVING byte was (or is being) written; new monitors are told at once. */
  private leaving = false;
  /** simulateCrash() was called: nothing more happens until stop(). */
  private crashed = false;
  private server: Server | null = null;
  private serverPort = 0;
  private bindHost = LOOPBACK_HOST;
  /** Whether the transport has IP hosts at all (false for SHARED_LOOPBACK). */
  private ipTransport = false;
  /** Server side: connections of the members that watch this one -> the monitor (once it said who it is). */
  private readonly accepted = new Map<Socket, Address | null>();
  /** Accepted connections not yet accepted as a view member's monitor, oldest first, with their timers. */
  private readonly pendingConns = new Map<Socket, ScheduledTask>();
  private goodbye: Promise<void> | null = null;

  private view: View | null = null;
  /** Members of the view suspected of having crashed (skipped in the ring). */
  private readonly suspected = new Set<Address>();
  /** Members of the view that said they leave (skipped in the ring until the view drops them). */
  private readonly left = new Set<Address>();
  /** Server ports learned with GET_PORT/PORT. Addresses are new on every connect, so they stay valid. */
  private readonly ports = new Map<Address, number>();

  private neighbour: Address | null = null;
  private client: ClientConn | null = null;
  private getPortTask: ScheduledTask | null = null;
  private retryTask: ScheduledTask | null = null;

  override checkConfig(stack: ProtocolStack): void {
    if (this.bindPort > 0 && this.bindPort + this.portRange > 65535) {
      throw this.configError(stack, 'port_range', `bind_port + port_range (${this.bindPort} + ${this.portRange}) must not exceed 65535`);
    }
  }

  // ---- lifecycle ----
  override async start(): Promise<void> {
    const host = this.ask(new Event(EventType.GET_LOCAL_PHYSICAL_ADDRESS))?.host;
    this.ipTransport = host !== undefined;
    this.bindHost = host ?? LOOPBACK_HOST;
    this.server = await this.listen();
    const addr = this.server.address();
    this.serverPort = typeof addr === 'object' && addr !== null ? addr.port : 0;
    this.running = true;
    this.leaving = false;
    this.crashed = false;
    this.log.debug(`${this.localAddress}: FD_SOCK2 server on ${this.bindHost}:${this.serverPort}`);
  }

  override async stop(): Promise<void> {
    this.running = false;
    this.stopMonitoring();
    this.neighbour = null;
    await this.sayGoodbye();
    for (const s of this.accepted.keys()) s.destroy();
    this.accepted.clear();
    this.clearPending();
    const server = this.server;
    this.server = null;
    this.serverPort = 0;
    if (server !== null) await new Promise<void>((resolve) => server.close(() => resolve()));
    this.goodbye = null;
    this.leaving = false;
    this.crashed = false;
    this.view = null;
    this.suspected.clear();
    this.left.clear();
    this.ports.clear();
  }

  override getStats(): Record<string, number> {
    return {
      ...this.stats,
      monitors: this.accepted.size,
      pendingConns: this.pendingConns.size,
      connected: this.client?.connected === true ? 1 : 0,
      suspected: this.suspected.size,
      /** The bound port of the TCP server (0 while stopped). */
      serverPort: this.serverPort,
    };
  }

  // ---- for monitoring and tests ----
  /** The member this one watches, or null. */
  getNeighbour(): Address | null {
    return this.neighbour;
  }
  /** Whether the TCP connection to the neighbour is up. */
  isConnected(): boolean {
    return this.client !== null && this.client.connected && this.client.target === this.neighbour;
  }
  /** The port of this member's FD_SOCK2 server (0 while stopped). */
  getServerPort(): number {
    return this.serverPort;
  }
  /** How many members currently watch this one (connections accepted by the server). */
  getMonitorCount(): number {
    return this.accepted.size;
  }
  /** The members currently suspected. */
  getSuspected(): Address[] {
    return [...this.suspected];
  }

  /**
   * For tests only: behaves as if this member's process died. Every FD_SOCK2 socket (the
   * server, the connections of its monitors and its own connection) is destroyed at once,
   * without the LEAVING byte, and the member stops answering GET_PORT and watching anyone until
   * `stop()`. Combine it with DISCARD's discard-all, so the member is silent on the stack too.
   */
  simulateCrash(): void {
    if (!this.running) return;
    this.crashed = true;
    this.stopMonitoring();
    this.neighbour = null;
    for (const s of this.accepted.keys()) s.destroy();
    this.accepted.clear();
    this.clearPending();
    const server = this.server;
    this.server = null;
    server?.close();
  }

  // ---- events ----
  override downEvent(evt: AnyEvent): unknown {
    switch (evt.type) {
      case EventType.VIEW_CHANGE:
        this.setView(evt.arg);
        break;
      case EventType.UNSUSPECT:
        if (this.suspected.delete(evt.arg)) this.updateNeighbour();
        break;
      case EventType.DISCONNECT:
        // GMS passes DISCONNECT down once the member is out of the view: tell the monitors.
        this.stopMonitoring();
        this.neighbour = null;
        this.view = null;
        void this.sayGoodbye();
        break;
    }
    return this.downProt.downEvent(evt);
  }

  protected override handleOwnMessage(msg: Message, header: unknown): void {
    const h = header as Header;
    const from = msg.src;
    if (from === null || !this.running || this.crashed) return;
    switch (h.type) {
      case T.GET_PORT:
        if (this.serverPort > 0 && !this.leaving) this.send(from, { type: T.PORT, port: this.serverPort });
        break;
      case T.PORT:
        this.stats.portReceived++;
        if (h.port) this.onPort(from, h.port);
        break;
      case T.SUSPECT:
        this.stats.suspectMsgsReceived++;
        this.onSuspectMessage(from, h.members ?? []);
        break;
    }
  }

  // ---- the ring ----
  private setView(view: View): void {
    const prev = this.view;
    this.view = view;
    for (const sock of [...this.pendingConns.keys()]) {
      const m = this.accepted.get(sock);
      if (m !== undefined && m !== null && view.containsMember(m)) this.settle(sock);
    }
    // A merge view is the coordinators' verdict on who is alive: earlier suspicions are void.
    if (view instanceof MergeView) this.suspected.clear();
    for (const set of [this.suspected, this.left]) for (const a of set) if (!view.containsMember(a)) set.delete(a);
    // Ports of members that left are forgotten; a joiner's PORT may arrive before its view does, so keep those.
    if (prev !== null) for (const a of prev.members) if (!view.containsMember(a)) this.ports.delete(a);
    if (this.ports.size > 2 * view.size() + 100) for (const a of this.ports.keys()) if (!view.containsMember(a)) this.ports.delete(a);
    this.updateNeighbour();
    // Every member knows every member's port: a monitor whose neighbour died can then go on to the
    // next one even if that one is dead too (its connect fails) and would never answer GET_PORT.
    if (this.running && !this.crashed && !this.leaving && this.serverPort > 0 && view.size() > 1) {
      const msg = new Message(null).setFlag(Flag.OOB, Flag.DONT_LOOPBACK).putHeader(ProtocolId.FD_SOCK, { type: T.PORT, port: this.serverPort } satisfies Header);
      this.sendMsg(msg);
    }
  }

  /** The next member after this one in the view that is neither suspected nor leaving. */
  private computeNeighbour(): Address | null {
    const view = this.view;
    const self = this.localAddress;
    if (view === null || self === null) return null;
    const mbrs = view.members;
    const i = mbrs.indexOf(self);
    if (i < 0) return null;
    for (let k = 1; k < mbrs.length; k++) {
      const m = mbrs[(i + k) % mbrs.length]!;
      if (!this.suspected.has(m) && !this.left.has(m)) return m;
    }
    return null;
  }

  private updateNeighbour(): void {
    const next = this.running && !this.crashed && !this.leaving ? this.computeNeighbour() : null;
    if (next === this.neighbour && (next === null || this.isMonitoring())) return;
    if (next !== this.neighbour) this.log.debug(`${this.localAddress}: neighbour ${this.neighbour ?? '-'} -> ${next ?? '-'}`);
    this.stopMonitoring();
    this.neighbour = next;
    if (next !== null) this.startMonitoring(next);
  }

  private isMonitoring(): boolean {
    return this.client !== null || this.getPortTask !== null || this.retryTask !== null;
  }

  private startMonitoring(target: Address): void {
    const port = this.ports.get(target);
    if (port !== undefined && this.hostFor(target) !== undefined) {
      this.connect(target, port, 1, performance.now());
      return;
    }
    this.sendGetPort(target);
    this.getPortTask = this.timer.scheduleWithFixedDelay(this.getPortInterval, this.getPortInterval, () => {
      if (this.neighbour === target && this.client === null) this.sendGetPort(target);
    });
  }

  /** Closes the connection to the neighbour on purpose and cancels what is pending for it. */
  private stopMonitoring(): void {
    this.getPortTask?.cancel();
    this.getPortTask = null;
    this.retryTask?.cancel();
    this.retryTask = null;
    const c = this.client;
    this.client = null;
    if (c !== null) {
      c.intentional = true;
      c.timeout?.cancel();
      c.socket.destroy();
    }
  }

  private sendGetPort(target: Address): void {
    this.stats.getPortSent++;
    this.send(target, GET_PORT);
  }

  private onPort(from: Address, port: number): void {
    this.ports.set(from, port);
    if (from !== this.neighbour || this.client !== null || this.retryTask !== null) return;
    if (this.hostFor(from) === undefined) return; // the transport cannot reach it yet: GET_PORT again later
    this.getPortTask?.cancel();
    this.getPortTask = null;
    this.connect(from, port, 1, performance.now());
  }

  // ---- client side: the connection to the neighbour ----
  private connect(target: Address, port: number, attempt: number, firstAttemptAt: number): void {
    const host = this.hostFor(target) ?? LOOPBACK_HOST;
    const socket = createConnection({ host, port, noDelay: true });
    const c: ClientConn = {
      target,
      port,
      socket,
      attempt,
      firstAttemptAt,
      connected: false,
      intentional: false,
      leaving: false,
      done: false,
      timeout: null,
      lastError: null,
    };
    this.client = c;
    c.timeout = this.timer.schedule(this.connectTimeout, () => {
      if (c.connected || c.done) return;
      c.lastError = new Error(`connect timed out after ${this.connectTimeout} ms`);
      socket.destroy();
    });
    socket.on('connect', () => {
      c.connected = true;
      c.timeout?.cancel();
      c.timeout = null;
      this.stats.connectsMade++;
      if (this.keepAlive) socket.setKeepAlive(true, 1000);
      const self = this.localAddress;
      if (self !== null) socket.write(self.bytes);
      this.log.debug(`${this.localAddress}: watching ${target} at ${host}:${port}`);
    });
    socket.on('data', (data: Buffer) => {
      if (data.includes(LEAVING)) c.leaving = true;
    });
    // 'close' always follows 'error'; the listener keeps an error from crashing the process.
    socket.on('error', (err) => {
      c.lastError = err;
    });
    socket.on('close', () => this.onClientClosed(c));
  }

  private onClientClosed(c: ClientConn): void {
    if (c.done) return;
    c.done = true;
    c.timeout?.cancel();
    c.timeout = null;
    if (this.client === c) this.client = null;
    if (c.intentional || !this.running || this.crashed || c.target !== this.neighbour) return;
    const target = c.target;
    if (!c.connected) {
      this.stats.connectFailures++;
      const why = c.lastError?.message ?? 'closed';
      if (c.attempt === 1) {
        // Once more, no earlier than connectTimeout after the first attempt began.
        const delay = Math.max(0, c.firstAttemptAt + this.connectTimeout - performance.now());
        this.log.debug(`${this.localAddress}: connecting to ${target} failed (${why}); retrying in ${delay.toFixed(0)} ms`);
        this.retryTask = this.timer.schedule(delay, () => {
          this.retryTask = null;
          if (this.running && !this.crashed && this.neighbour === target && this.client === null) {
            this.connect(target, c.port, 2, c.firstAttemptAt);
          }
        });
        return;
      }
      this.suspect(target, `cannot connect (${why})`);
      return;
    }
    if (c.leaving) {
      this.stats.leavingReceived++;
      this.log.debug(`${this.localAddress}: ${target} is leaving`);
      this.left.add(target);
      this.updateNeighbour();
      return;
    }
    this.suspect(target, `connection closed${c.lastError ? ` (${c.lastError.message})` : ''}`);
  }

  private suspect(member: Address, why: string): void {
    const view = this.view;
    if (view === null || !view.containsMember(member) || this.suspected.has(member)) {
      this.updateNeighbour();
      return;
    }
    this.suspected.add(member);
    this.stats.suspicionsRaised++;
    this.log.debug(`${this.localAddress}: suspecting ${member}: ${why}`);
    this.updateNeighbour();
    // Only the monitor sees the connection break: tell everyone (GMS acts on the coordinator).
    const msg = new Message(null)
      .setFlag(Flag.OOB, Flag.DONT_LOOPBACK)
      .putHeader(ProtocolId.FD_SOCK, { type: T.SUSPECT, members: [member.bytes] } satisfies Header);
    this.sendMsg(msg);
    this.upProt.upEvent(new Event(EventType.SUSPECT, [member]));
  }

  private onSuspectMessage(from: Address, members: Uint8Array[]): void {
    const view = this.view;
    const self = this.localAddress;
    if (view === null || !view.containsMember(from)) return;
    let fresh: Address[] | null = null;
    for (const bytes of members) {
      let a: Address;
      try {
        a = Address.fromBytes(bytes);
      } catch {
        continue;
      }
      if (a === self || !view.containsMember(a) || this.suspected.has(a)) continue;
      this.suspected.add(a);
      (fresh ??= []).push(a);
    }
    if (fresh === null) return;
    this.log.debug(`${self}: ${from} suspects ${fresh.join(', ')}`);
    this.updateNeighbour();
    this.upProt.upEvent(new Event(EventType.SUSPECT, fresh));
  }

  // ---- server side: the connections of the members watching this one ----
  private async listen(): Promise<Server> {
    const first = this.bindPort;
    const last = first === 0 ? 0 : Math.min(65535, first + this.portRange);
    let lastErr: unknown;
    for (let port = first; port <= last; port++) {
      const server = createServer({ noDelay: true }, this.onAccept);
      try {
        await new Promise<void>((resolve, reject) => {
          server.once('error', reject);
          server.listen({ host: this.bindHost, port, exclusive: true }, () => {
            server.off('error', reject);
            resolve();
          });
        });
        server.on('error', (err) => this.log.warn('server socket error', err));
        return server;
      } catch (err) {
        lastErr = err;
        server.close();
        if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE') break;
      }
    }
    throw lastErr;
  }

  private readonly onAccept = (sock: Socket): void => {
    if (!this.running || this.crashed) {
      sock.destroy();
      return;
    }
    if (this.pendingConns.size >= this.maxPendingConns) {
      // A flood of connections that say nothing: the oldest goes (a real monitor names itself at once).
      const oldest = this.pendingConns.keys().next().value;
      if (oldest !== undefined) {
        this.stats.connsRefused++;
        this.logRateLimited('refused', `more than max_pending_conns (${this.maxPendingConns}) connections without a handshake: closed the oldest`);
        this.dropConn(oldest);
      }
    }
    this.accepted.set(sock, null);
    this.pendingConns.set(
      sock,
      this.timer.schedule(this.handshakeTimeout, () => this.onHandshakeTimeout(sock)),
    );
    sock.on('error', () => {
      // 'close' follows; a monitor going away is none of our business.
    });
    sock.on('close', () => {
      this.accepted.delete(sock);
      this.pendingConns.get(sock)?.cancel();
      this.pendingConns.delete(sock);
    });
    if (this.leaving) {
      sock.end(LEAVING_BYTES);
      return;
    }
    let head: Buffer | null = null;
    let extra = 0;
    sock.on('data', (data: Buffer) => {
      if (this.accepted.get(sock) !== null) {
        extra += data.length;
        this.checkExtraBytes(sock, extra);
        return;
      }
      head = head === null ? data : Buffer.concat([head, data]);
      if (head.length >= 16) {
        const monitor = Address.fromBytes(head, 0);
        extra = head.length - 16;
        if (this.checkExtraBytes(sock, extra)) return;
        this.accepted.set(sock, monitor);
        head = null;
        this.log.debug(`${this.localAddress}: watched by ${monitor}`);
        // A view member's monitor is settled; anyone else waits for the view (or the timeout).
        if (this.view?.containsMember(monitor)) this.settle(sock);
      }
    });
  };

  /**
   * A monitor sends nothing after its 16-byte address: a connection that sends more than a few
   * bytes is not one, and is closed.
   * @returns whether it was closed
   */
  private checkExtraBytes(sock: Socket, extra: number): boolean {
    if (extra <= MAX_BYTES_AFTER_HANDSHAKE) return false;
    this.stats.badHandshakes++;
    this.logRateLimited('bytes', 'closed a connection that sent bytes after the monitor address');
    this.dropConn(sock);
    return true;
  }

  /** The connection belongs to a view member's monitor: no more handshake timeout for it. */
  private settle(sock: Socket): void {
    this.pendingConns.get(sock)?.cancel();
    this.pendingConns.delete(sock);
  }

  private onHandshakeTimeout(sock: Socket): void {
    if (!this.pendingConns.delete(sock)) return;
    const monitor = this.accepted.get(sock);
    if (monitor !== undefined && monitor !== null && this.view?.containsMember(monitor)) return;
    if (monitor === null || monitor === undefined) this.stats.handshakeTimeouts++;
    else this.stats.nonMemberMonitors++;
    this.logRateLimited('handshake', `closed a connection that named no view member within handshake_timeout (${this.handshakeTimeout} ms)`);
    this.dropConn(sock);
  }

  private dropConn(sock: Socket): void {
    this.pendingConns.get(sock)?.cancel();
    this.pendingConns.delete(sock);
    this.accepted.delete(sock);
    sock.destroy();
  }

  private clearPending(): void {
    for (const t of this.pendingConns.values()) t.cancel();
    this.pendingConns.clear();
  }

  /** Rejections are logged at most once per 10 s per kind (the stats count them all). */
  private readonly rejections = new RateLimitedLog(this.log);

  private logRateLimited(kind: string, text: string): void {
    this.rejections.warn(kind, text);
  }

  /**
   * Writes the LEAVING byte on every monitor's connection and closes it, so the monitors do not
   * suspect this member. Resolves once they closed, or after a short grace period.
   */
  private sayGoodbye(): Promise<void> {
    if (this.crashed) return Promise.resolve();
    if (this.goodbye !== null) return this.goodbye;
    this.leaving = true;
    const live = [...this.accepted.keys()].filter((s) => !s.destroyed);
    if (live.length === 0) return (this.goodbye = Promise.resolve());
    this.goodbye = new Promise<void>((resolve) => {
      let open = live.length;
      const grace = this.timer.schedule(GOODBYE_GRACE_MS, () => {
        for (const s of live) s.destroy();
        resolve();
      });
      for (const s of live) {
        s.once('close', () => {
          if (--open > 0) return;
          grace.cancel();
          resolve();
        });
        s.end(LEAVING_BYTES);
      }
    });
    return this.goodbye;
  }

  // ---- helpers ----
  /** The host of `member`'s FD_SOCK2 server: its transport host, or loopback for an in-process transport. */
  private hostFor(member: Address): string | undefined {
    if (!this.ipTransport) return LOOPBACK_HOST;
    return this.ask(new Event(EventType.GET_PHYSICAL_ADDRESS, member))?.host;
  }

  private send(dest: Address, h: Header): void {
    this.sendMsg(new Message(dest).setFlag(Flag.OOB).putHeader(ProtocolId.FD_SOCK, h));
  }

  private sendMsg(msg: Message): void {
    try {
      void this.downProt.down(msg);
    } catch (err) {
      this.log.warn(`sending to ${msg.dest ?? 'all'} failed`, err);
    }
  }
}
