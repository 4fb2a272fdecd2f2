// The outsider's mouth: a UDP socket on 127.0.0.1 of its own that sends forged, replayed or
// bit-flipped datagrams to a group or a member's port at a bounded rate (a flood that overflows
// the loopback's socket buffers would test the kernel, not the members), and counts what it sent
// and what came back to it.
import { createSocket, type Socket } from 'node:dgram';
import { seededRandom } from 'tsgroups';

/** Where datagrams go: a member's unicast socket or the group. */
export interface Target {
  host: string;
  port: number;
}

/** `host:port` as a Target. */
export function target(hostPort: string): Target {
  const i = hostPort.lastIndexOf(':');
  return { host: hostPort.slice(0, i), port: Number(hostPort.slice(i + 1)) };
}

export class Outsider {
  /** Datagrams sent, and those the socket refused. */
  sent = 0;
  failed = 0;
  /** Datagrams that arrived at this socket (answers a member sent to the address the outsider claimed). */
  received = 0;
  /** The latest 1000 of them. */
  readonly receivedData: Buffer[] = [];
  private constructor(private readonly sock: Socket) {}

  static async open(): Promise<Outsider> {
    const sock = createSocket('udp4');
    sock.on('error', () => undefined);
    await new Promise<void>((resolve) => sock.bind(0, '127.0.0.1', resolve));
    const o = new Outsider(sock);
    sock.on('message', (data: Buffer) => {
      o.received++;
      o.receivedData.push(data);
      if (o.receivedData.length > 1000) o.receivedData.shift();
    });
    return o;
  }

  /** This socket's `host:port`. */
  address(): string {
    const a = this.sock.address();
    return `${a.address}:${a.port}`;
  }

  /** Sends one datagram; resolves once the kernel took it. */
  send(data: Uint8Array, to: Target): Promise<void> {
    return new Promise((resolve) =>
      this.sock.send(data, to.port, to.host, (err) => {
        if (err) this.failed++;
        else this.sent++;
        resolve();
      }),
    );
  }

  /**
   * Sends each datagram `datagrams()` yields to `to`, at most `perMs` per millisecond on average
   * (bursts of 64, then a pause of the time they should have taken).
   */
  async sendAll(datagrams: Iterable<Uint8Array>, to: Target, perMs = 20): Promise<number> {
    let n = 0;
    const t0 = Date.now();
    let burst: Promise<void>[] = [];
    for (const d of datagrams) {
      burst.push(this.send(d, to));
      if (++n % 64 === 0) {
        await Promise.all(burst);
        burst = [];
        const ahead = n / perMs - (Date.now() - t0);
        if (ahead > 0) await new Promise((r) => setTimeout(r, ahead));
      }
    }
    await Promise.all(burst);
    return n;
  }

  close(): void {
    try {
      this.sock.close();
    } catch {
      // closed already
    }
  }
}

/**
 * `n` copies of datagrams picked from `captured`, each with 1 to `maxBits` random bits flipped
 * (what a corrupting network path does), from a seeded generator so a failure can be replayed.
 */
export function* bitFlips(captured: readonly Uint8Array[], n: number, seed: number, maxBits = 3): Generator<Uint8Array> {
  if (captured.length === 0) return;
  const rnd = seededRandom(seed);
  for (let i = 0; i < n; i++) {
    const orig = captured[Math.floor(rnd() * captured.length)]!;
    const copy = Uint8Array.prototype.slice.call(orig);
    const bits = 1 + Math.floor(rnd() * maxBits);
    for (let b = 0; b < bits; b++) {
      const bit = Math.floor(rnd() * copy.length * 8);
      copy[bit >> 3]! ^= 1 << (bit & 7);
    }
    yield copy;
  }
}

/** The datagrams of `captured`, `times` times over (a replay). */
export function* replay(captured: readonly Uint8Array[], times = 1): Generator<Uint8Array> {
  for (let t = 0; t < times; t++) yield* captured;
}
