// The outsider's ears: a socket that joins a cluster's multicast group on 127.0.0.1 (as any
// process on the host may) and keeps what it hears, and what an outsider learns from it by
// decoding with the datagram codec anyone can import: the cluster name, the members' UUIDs and
// physical addresses, and each member's latest NAKACK2 seqno (when headers travel in clear).
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { decodeDatagram, type MessageBatch, type NakAckHeader, ProtocolId, utf8Decode } from 'tsgroups';

/** One datagram as the sniffer heard it. */
export interface Heard {
  data: Buffer;
  /** Where it came from (a member's unicast socket: multicasts are sent from it too). */
  from: string;
}

/** What an outsider learns from the datagrams it heard. */
export interface Learned {
  /** Cluster names seen in envelopes. */
  clusters: Set<string>;
  /** Sender UUID -> its physical address (`host:port`, the datagram's source). */
  members: Map<string, string>;
  /** Sender UUID -> the highest NAKACK2 seqno seen in clear (none under encryption). */
  seqnos: Map<string, number>;
  /** Protocol header ids seen in clear, with how many messages carried each. */
  headers: Map<number, number>;
  /** Datagrams that decoded, and that did not. */
  decoded: number;
  undecodable: number;
}

/** Listens to a group (and optionally on a unicast port of its own) and keeps the latest `max` datagrams. */
export class Sniffer {
  readonly heard: Heard[] = [];
  private readonly sockets: Socket[] = [];

  private constructor(private readonly max: number) {}

  /** Joins `group` on 127.0.0.1 (the port shared with the members, SO_REUSEADDR). */
  static async listen(group: { addr: string; port: number }, max = 20_000): Promise<Sniffer> {
    const s = new Sniffer(max);
    const sock = createSocket({ type: 'udp4', reuseAddr: true });
    s.keep(sock);
    await new Promise<void>((resolve, reject) => {
      sock.once('error', reject);
      sock.bind(group.port, () => {
        sock.off('error', reject);
        resolve();
      });
    });
    sock.addMembership(group.addr, '127.0.0.1');
    return s;
  }

  private keep(sock: Socket): void {
    this.sockets.push(sock);
    sock.on('error', () => undefined); // an outsider's socket error is no test failure
    sock.on('message', (data: Buffer, rinfo: RemoteInfo) => {
      this.heard.push({ data, from: `${rinfo.address}:${rinfo.port}` });
      if (this.heard.length > this.max) this.heard.shift();
    });
  }

  /** Forgets what was heard so far. */
  clear(): void {
    this.heard.length = 0;
  }

  /** Decodes everything heard so far, as an outsider would. */
  learn(): Learned {
    const l: Learned = { clusters: new Set(), members: new Map(), seqnos: new Map(), headers: new Map(), decoded: 0, undecodable: 0 };
    for (const h of this.heard) {
      const d = decodeDatagram(h.data, null);
      if (typeof d === 'string') {
        l.undecodable++;
        continue;
      }
      l.decoded++;
      l.clusters.add(utf8Decode(d.cluster));
      l.members.set(d.batch.sender.toUUIDString(), h.from);
      noteHeaders(d.batch, l);
    }
    return l;
  }

  /** Whether `marker` (UTF-8) appears in any datagram heard. */
  heardInClear(marker: string): boolean {
    const m = Buffer.from(marker, 'utf8');
    return this.heard.some((h) => h.data.includes(m));
  }

  close(): void {
    for (const s of this.sockets.splice(0)) {
      try {
        s.close();
      } catch {
        // closed already
      }
    }
  }
}

function noteHeaders(batch: MessageBatch, l: Learned): void {
  for (const msg of batch.toArray()) {
    msg.forEachHeader((id) => l.headers.set(id, (l.headers.get(id) ?? 0) + 1));
    const nak = msg.getHeader<NakAckHeader>(ProtocolId.NAKACK2);
    if (nak !== undefined && nak.type === 1 && msg.src !== null) {
      const k = msg.src.toUUIDString();
      l.seqnos.set(k, Math.max(l.seqnos.get(k) ?? 0, nak.seqno));
    }
  }
}
