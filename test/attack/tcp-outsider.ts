// The outsider over TCP: a fresh connection to a member's TCP transport that greets it as the
// transport's dialers do (a length-framed hello: magic 'TSGC' and a `host:port`, here one that
// claims to be another member), then writes length-framed datagrams.
import { createConnection, type Socket } from 'node:net';

const HELLO_MAGIC = 0x54534743;

/** A 4-byte big-endian length, then `body`. */
export function frame(body: Uint8Array): Buffer {
  const f = Buffer.allocUnsafe(4 + body.length);
  f.writeUInt32BE(body.length, 0);
  f.set(body, 4);
  return f;
}

/** The hello frame a dialer sends first, claiming to listen at `hostPort`. */
export function helloFrame(hostPort: string): Buffer {
  const text = Buffer.from(hostPort, 'utf8');
  const body = Buffer.allocUnsafe(4 + text.length);
  body.writeUInt32BE(HELLO_MAGIC, 0);
  body.set(text, 4);
  return frame(body);
}

export class TcpOutsider {
  /** Frames written; whether the member closed the connection. */
  sent = 0;
  closedByPeer = false;
  private constructor(private readonly sock: Socket) {
    sock.on('close', () => (this.closedByPeer = true));
  }

  /** Connects to `port` on 127.0.0.1 and sends a hello claiming `claim` (`host:port`). */
  static async connect(port: number, claim: string): Promise<TcpOutsider> {
    const sock = createConnection({ host: '127.0.0.1', port });
    sock.on('error', () => undefined); // a reset by the member is an expected outcome
    sock.on('data', () => undefined); // whatever the member answers is not read
    await new Promise<void>((resolve, reject) => {
      sock.once('connect', resolve);
      sock.once('error', reject);
    });
    const o = new TcpOutsider(sock);
    await o.write(helloFrame(claim));
    return o;
  }

  /** Writes each datagram as a frame; resolves once written (or the connection is gone). */
  async sendAll(datagrams: Iterable<Uint8Array>): Promise<number> {
    let n = 0;
    for (const d of datagrams) {
      if (this.sock.destroyed) break;
      await this.write(frame(d));
      this.sent++;
      n++;
    }
    return n;
  }

  private write(buf: Buffer): Promise<void> {
    return new Promise((resolve) => {
      if (this.sock.destroyed) return resolve();
      this.sock.write(buf, () => resolve());
    });
  }

  close(): void {
    this.sock.destroy();
  }
}
