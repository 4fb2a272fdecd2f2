import type { RemoteInfo, Socket } from 'node:dgram';
import { isIPv4 } from 'node:net';
import { availableParallelism } from 'node:os';
import {
  type Address,
  ConfigError,
  PhysicalAddress,
  type PropertyDecls,
} from '@tsgroups/core';
import DgramAsPromised, { type SocketAsPromised } from 'dgram-as-promised';
import { MulticastReceiveThread } from './multicast-receive-thread.js';
import { NetworkTransport } from './network-transport.js';
import { resolveTransportBindAddr, Transport } from './transport.js';

/** The largest UDP payload over IPv4: 65,535 bytes less the IP (20) and UDP (8) headers. */
export const UDP_MAX_DATAGRAM = 65_507;
/** The largest socket buffer size Node accepts (a 32-bit int). */
const MAX_SOCKET_BUFFER = 2 ** 31 - 1;

/** Resolves UDP's `bind_addr` (see {@link resolveTransportBindAddr}). */
export function resolveBindAddr(value: string, source = 'code'): string {
  return resolveTransportBindAddr('UDP', value, source);
}

/**
 * The UDP transport: a unicast socket on `bind_addr:bind_port` for messages to one member, and a
 * multicast socket on `mcast_addr:mcast_port` for messages to all. By default everything stays
 * on the machine: `bind_addr` is 127.0.0.1, multicasts leave through the loopback interface only
 * and their TTL is 0.
 *
 * Multicasts are sent from the unicast socket, so the source of every datagram a member sends is
 * its unicast address. The multicast socket binds to the group address itself (not to a
 * wildcard address): on Linux a socket bound to 127.0.0.1 does not receive datagrams addressed
 * to a group, and binding to the group means it receives only that group's datagrams, on the
 * interface it joined on.
 *
 * Physical addresses of members are learned from discovery (the ADD_PHYSICAL_ADDRESS event)
 * and from the source of datagrams that arrive on the unicast socket. A message to a member
 * whose physical address is unknown is dropped and counted (`droppedNoPhysical`).
 *
 * With `ip_mcast="false"` no multicast socket is opened or joined: a multicast is sent as the
 * same datagram, unicast, to each member of the view and to members that left it in the last
 * 6 minutes (so that MERGE3 heals partitions), never to members gone longer; before the first view,
 * to every member discovery found. Discovery must then not rely on multicast either: PING is
 * refused (use TCPPING or FILE_PING).
 *
 * Sockets are created and bound, and closed, with dgram-as-promised (its Promises fit the
 * async lifecycle). The hot path uses the underlying `node:dgram` socket directly, with one
 * callback shared by all sends (no Promise or closure per datagram; dgram-as-promised's send
 * would allocate a Promise). Node reports a failed send only to that callback: each failure is
 * counted in `sendErrors` and per code (`sendErrors.EMSGSIZE` ...) and logged, rate-limited.
 * Nothing is retried here; a datagram too large for the socket (EMSGSIZE) never can be sent,
 * which the bundler prevents by never building one above `max_bundle_size` (at most 65,507).
 */
export class UDP extends NetworkTransport {
  static override readonly protocolName = 'UDP';
  static override readonly properties: PropertyDecls = {
    maxBundleSize: {
      type: 'size',
      min: 1024,
      max: UDP_MAX_DATAGRAM,
      description: 'Largest datagram the bundler builds (UDP carries at most 65,507 bytes over IPv4)',
    },
    bindAddr: { type: 'address', description: 'IPv4 address, interface name, localhost/loopback or site_local, of both sockets' },
    bindPort: { type: 'int', min: 0, max: 65535, description: 'Port of the unicast socket (0: any free port)' },
    mcastAddr: { type: 'multicast-address', description: 'Multicast group address (IPv4, 224.0.0.0/4)' },
    mcastPort: { type: 'int', min: 1, max: 65535, description: 'Port of the multicast socket' },
    ipTtl: { type: 'int', min: 0, max: 255, description: 'TTL of multicasts (0: they never leave the machine)' },
    ipMcast: { type: 'boolean', description: 'Multicast to all; if false, a unicast copy goes to each member (discovery by TCPPING or FILE_PING)' },
    // Node's setRecvBufferSize/setSendBufferSize take a 32-bit int; the kernel caps them lower.
    ucastRecvBufSize: { type: 'size', max: MAX_SOCKET_BUFFER, description: 'Receive buffer of the unicast socket (0: OS default)' },
    ucastSendBufSize: { type: 'size', max: MAX_SOCKET_BUFFER, description: 'Send buffer of the unicast socket (0: OS default)' },
    mcastRecvBufSize: { type: 'size', max: MAX_SOCKET_BUFFER, description: 'Receive buffer of the multicast socket (0: OS default)' },
    mcastSendBufSize: { type: 'size', max: MAX_SOCKET_BUFFER, description: 'Send buffer of the multicast socket (0: OS default)' },
    mcastReceiveThread: {
      type: 'enum',
      values: ['true', 'false', 'auto'],
      description:
        'Read the multicast socket on a thread of its own, so that a busy main thread does not make the kernel drop multicasts (auto: where the machine has at least 4 cores)',
    },
    mcastReceiveQueue: {
      type: 'size',
      min: 65_536,
      max: MAX_SOCKET_BUFFER,
      description: 'With mcast_receive_thread: bytes read by the thread and not yet processed, at most (beyond it datagrams are dropped and counted)',
    },
  };

  bindAddr = '127.0.0.1';
  bindPort = 0;
  mcastAddr = '239.8.8.8';
  mcastPort = 45588;
  ipTtl = 0;
  ipMcast = true;
  ucastRecvBufSize = 5_000_000;
  ucastSendBufSize = 1_000_000;
  mcastRecvBufSize = 5_000_000;
  mcastSendBufSize = 1_000_000;
  /** `'auto'`: a thread where os.availableParallelism() is at least 4. */
  mcastReceiveThread: 'true' | 'false' | 'auto' = 'false';
  mcastReceiveQueue = 32 * 1024 * 1024;

  /** The base counters, plus messages dropped for want of a physical address and socket errors. */
  declare readonly stats: Transport['stats'] & { droppedNoPhysical: number; socketErrors: number };

  private mcastThread: MulticastReceiveThread | null = null;

  private ucast: SocketAsPromised | null = null;
  private mcast: SocketAsPromised | null = null;
  /** The raw unicast socket (hot path). */
  private sock: Socket | null = null;
  private resolvedBindAddr = '127.0.0.1';

  constructor() {
    super();
    Object.assign(this.stats, { droppedNoPhysical: 0, socketErrors: 0 });
  }

  /** The port the unicast socket is bound to (0 while not started). */
  get boundPort(): number {
    return this.sock === null ? 0 : this.sock.address().port;
  }

  /** The address the sockets bind to, after resolving keywords and interface names. */
  get boundAddress(): string {
    return this.resolvedBindAddr;
  }

  override init(): void {
    this.resolvedBindAddr = resolveBindAddr(this.bindAddr, this.stack.source);
    if (this.ipMcast && !isMulticast(this.mcastAddr)) {
      throw new ConfigError('ERR_CONFIG_BAD_VALUE', `UDP mcast_addr=${this.mcastAddr} is not an IPv4 multicast address`, {
        source: this.stack.source,
        element: 'UDP',
        attribute: 'mcast_addr',
      });
    }
  }

  override async start(): Promise<void> {
    // Resolved again at each connect: properties may have changed, and interfaces too.
    const host = (this.resolvedBindAddr = resolveBindAddr(this.bindAddr, this.stack.source));
    const ucast = DgramAsPromised.createSocket({ type: 'udp4' });
    this.attach(ucast.socket, 'unicast', this.onUnicast);
    try {
      await ucast.bind({ port: this.bindPort, address: host });
      this.configureMulticastSending(ucast.socket);
      setBufferSizes(ucast.socket, this.ucastRecvBufSize, this.ucastSendBufSize, (e) => this.log.debug(`unicast buffer sizes: ${e}`));
      if (this.ipMcast && this.usesReceiveThread()) {
        await this.startMulticastThread(host, ucast.socket.address().port);
      } else if (this.ipMcast) {
        const mcast = DgramAsPromised.createSocket({ type: 'udp4', reuseAddr: true });
        this.attach(mcast.socket, 'multicast', this.onMulticast);
        this.mcast = mcast;
        await mcast.bind({ port: this.mcastPort, address: this.mcastAddr });
        mcast.addMembership(this.mcastAddr, host);
        this.configureMulticastSending(mcast.socket);
        setBufferSizes(mcast.socket, this.mcastRecvBufSize, this.mcastSendBufSize, (e) => this.log.debug(`multicast buffer sizes: ${e}`));
      }
    } catch (err) {
      await closeQuietly(ucast);
      if (this.mcast) await closeQuietly(this.mcast);
      this.mcast = null;
      await this.mcastThread?.stop();
      this.mcastThread = null;
      throw err;
    }
    this.ucast = ucast;
    this.sock = ucast.socket;
    this.localPhysical = PhysicalAddress.of(host, ucast.socket.address().port);
    super.start();
    if (this.log.isEnabled('debug')) {
      this.log.debug(`${this.localAddress}: unicast ${this.localPhysical}, multicast ${this.ipMcast ? `${this.mcastAddr}:${this.mcastPort}` : 'off'}`);
    }
  }

  override async stop(): Promise<void> {
    super.stop();
    const ucast = this.ucast;
    const mcast = this.mcast;
    const thread = this.mcastThread;
    this.ucast = null;
    this.mcast = null;
    this.mcastThread = null;
    this.sock = null;
    this.clearPhysical();
    if (mcast) {
      try {
        mcast.dropMembership(this.mcastAddr, this.resolvedBindAddr);
      } catch {
        // closing drops the membership anyway
      }
    }
    await Promise.all([ucast && closeQuietly(ucast), mcast && closeQuietly(mcast), thread?.stop()]);
  }

  override get supportsMulticasting(): boolean {
    return this.ipMcast;
  }

  /** Only IPv4 unicast addresses can be reached from our IPv4 sockets. */
  protected override usablePhysical(p: PhysicalAddress): boolean {
    return super.usablePhysical(p) && !isMulticast(p.host);
  }

  protected override sendDatagram(dest: Address | null, data: Uint8Array): void {
    const sock = this.sock;
    if (sock === null) return;
    if (dest === null) {
      if (this.ipMcast) {
        sock.send(data, this.mcastPort, this.mcastAddr, this.onSent);
        return;
      }
      // No IP multicast: the same bytes to each member (and recently departed one) as a unicast.
      this.stats.droppedNoPhysical += this.forEachMulticastTarget(this.physical.map, this.localPhysical, (p) =>
        sock.send(data, p.port, p.host, this.onSent),
      );
      return;
    }
    const p = this.physical.get(dest);
    if (p === undefined) {
      this.stats.droppedNoPhysical++;
      if (this.log.isEnabled('debug')) this.log.debug(`no physical address for ${dest}; dropped a datagram of ${data.length} bytes`);
      return;
    }
    sock.send(data, p.port, p.host, this.onSent);
  }

  protected override canSendToPhysical(to: PhysicalAddress): boolean {
    return this.localPhysical !== undefined && to.toString() !== this.localPhysical.toString();
  }

  protected override writeToPhysical(to: PhysicalAddress, data: Uint8Array): void {
    this.sock?.send(data, to.port, to.host, this.onSent);
  }

  /**
   * The bound ports (0 while stopped): `unicastPort` is the port of the unicast socket (the one
   * the system chose with bind_port="0"), `multicastPort` that of the multicast socket (0 with
   * ip_mcast off); {@link getBindings} gives the addresses too.
   */
  override getStats(): Record<string, number> {
    return {
      ...super.getStats(),
      physicalAddresses: this.physical.size,
      unicastPort: this.localPhysical?.port ?? 0,
      multicastPort: this.mcast !== null || this.mcastThread !== null ? this.mcastPort : 0,
      droppedOwnMulticast: this.stats.droppedOwnMulticast + (this.mcastThread?.droppedOwn ?? 0),
      droppedReceiveQueueFull: this.mcastThread?.droppedQueueFull ?? 0,
      receiveQueueBytes: this.mcastThread?.queuedBytes ?? 0,
    };
  }

  /** Where the sockets are bound: the unicast address and the multicast group (null while stopped, or with ip_mcast off). */
  getBindings(): { unicast: PhysicalAddress | null; multicast: { group: string; port: number } | null } {
    return {
      unicast: this.localPhysical ?? null,
      multicast: this.mcast !== null || this.mcastThread !== null ? { group: this.mcastAddr, port: this.mcastPort } : null,
    };
  }

  // ---- internals ----
  /**
   * The callback of every socket send (one function for all: no closure per datagram). Without
   * a callback Node drops a failed send silently; with it, a failure is counted and logged.
   */
  private readonly onSent = (err: Error | null): void => {
    if (err === null || err === undefined) return;
    const e = err as Error & { address?: string; port?: number };
    this.sendFailed(err, e.address === undefined ? 'a socket' : `${e.address}:${e.port}`);
  };

  private readonly onUnicast = (msg: Buffer, rinfo: RemoteInfo): void => {
    const res = this.receive(msg, rinfo.address, rinfo.port);
    // The source of a datagram is the sender's unicast socket: remember how to answer it.
    if (typeof res === 'object') {
      const sender = res.sender;
      if (sender !== this.localAddress) {
        const old = this.physical.get(sender);
        // Most datagrams come from where the member is known to be: no new object for those.
        if (old === undefined || old.port !== rinfo.port || old.host !== rinfo.address || !this.physical.isVerified(sender)) {
          const p = old !== undefined && old.port === rinfo.port && old.host === rinfo.address ? old : PhysicalAddress.tryOf(rinfo.address, rinfo.port);
          if (p !== undefined) this.learnSource(sender, p);
        }
      }
    }
  };

  private readonly onMulticast = (msg: Buffer, rinfo: RemoteInfo): void => {
    // Multicasts leave from the sender's unicast socket: the source is its unicast address. Our
    // own were delivered locally (loopback): drop them before the checksum and the decoding.
    const own = this.localPhysical;
    if (this.loopback && own !== undefined && rinfo.port === own.port && rinfo.address === own.host) {
      this.stats.datagramsReceived++;
      this.stats.droppedOwnMulticast++;
      return;
    }
    this.receive(msg, rinfo.address, rinfo.port);
  };

  /**
   * Whether the multicast socket gets a thread of its own. `auto`: only with a core to spare for
   * it: on 2 cores shared by members the hop to the main thread costs more latency than it saves.
   */
  usesReceiveThread(): boolean {
    const v = this.mcastReceiveThread;
    return v === 'auto' ? availableParallelism() >= 4 : v === 'true';
  }

  /** Reads the multicast socket on a thread of its own (mcast_receive_thread). */
  private async startMulticastThread(host: string, ownPort: number): Promise<void> {
    const thread = new MulticastReceiveThread({
      group: this.mcastAddr,
      port: this.mcastPort,
      iface: host,
      recvBufSize: this.mcastRecvBufSize,
      ownHost: host,
      ownPort,
      dropOwn: this.loopback,
      maxQueued: this.mcastReceiveQueue,
      checksum: this.checksum,
      onDatagram: (data, srcHost, srcPort, verified) => {
        try {
          this.receive(data, srcHost, srcPort, verified);
        } catch (err) {
          this.log.error(`multicast receive thread: a datagram from ${srcHost}:${srcPort} failed`, err);
        }
      },
      onError: (err) => {
        this.stats.socketErrors++;
        this.log.warn('multicast socket error', err);
      },
    });
    this.mcastThread = thread;
    await thread.start();
  }

  private attach(sock: Socket, kind: string, onMessage: (msg: Buffer, rinfo: RemoteInfo) => void): void {
    sock.on('message', (msg, rinfo) => {
      try {
        onMessage(msg, rinfo);
      } catch (err) {
        this.log.error(`${kind} socket: a datagram from ${rinfo.address}:${rinfo.port} failed`, err);
      }
    });
    // An 'error' event without a listener would crash the process: log it instead.
    sock.on('error', (err) => {
      this.stats.socketErrors++;
      this.log.warn(`${kind} socket error`, err);
    });
  }

  private configureMulticastSending(sock: Socket): void {
    sock.setMulticastInterface(this.resolvedBindAddr);
    sock.setMulticastTTL(this.ipTtl);
    sock.setMulticastLoopback(true);
  }


}

function isMulticast(ip: string): boolean {
  if (!isIPv4(ip)) return false;
  const first = Number(ip.split('.')[0]);
  return first >= 224 && first <= 239;
}

function setBufferSizes(sock: Socket, recv: number, send: number, onError: (e: unknown) => void): void {
  try {
    if (recv > 0) sock.setRecvBufferSize(recv);
    if (send > 0) sock.setSendBufferSize(send);
  } catch (err) {
    // The OS may refuse (or cap) large buffers; the defaults still work.
    onError(err);
  }
}

async function closeQuietly(s: SocketAsPromised): Promise<void> {
  try {
    await s.close();
  } catch {
    // already closed
  }
}
