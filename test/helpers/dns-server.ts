// A tiny authoritative DNS server for tests (RFC 1035 messages, RFC 2782 SRV records), over UDP
// on 127.0.0.1 and a port the system picks. It answers A, AAAA and SRV questions from a table the
// test sets and may change at any time; a name not in the table gets NXDOMAIN, a name without
// records of the asked type an empty answer (NODATA). Malformed packets are counted and ignored.
import { type Socket, createSocket } from 'node:dgram';
import { isIPv4, isIPv6 } from 'node:net';

export interface SrvRecord {
  /** The host name (or address) the service runs on. */
  target: string;
  port: number;
  priority?: number;
  weight?: number;
}

/** The records of one name. */
export interface DnsRecords {
  A?: string[];
  AAAA?: string[];
  SRV?: SrvRecord[];
}

const TYPE = { A: 1, AAAA: 28, SRV: 33 } as const;
const CLASS_IN = 1;
const RCODE_NXDOMAIN = 3;
const RCODE_NOTIMP = 4;
/** Answers live for a second: resolvers must ask again soon. */
const TTL = 1;

export class TestDnsServer {
  /** Questions answered, per `name/type` (e.g. `svc.test/A`), to wait on in tests. */
  readonly queries = new Map<string, number>();
  /** Packets dropped because they were not a query this server understands. */
  malformed = 0;

  private readonly records = new Map<string, DnsRecords>();

  private constructor(
    private readonly socket: Socket,
    /** `127.0.0.1:port`: the form DNS_PING's dns_address and `Resolver.setServers` take. */
    readonly address: string,
    readonly port: number,
  ) {}

  /** A server listening on 127.0.0.1, on a free port. */
  static async start(): Promise<TestDnsServer> {
    const socket = createSocket('udp4');
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind({ address: '127.0.0.1', port: 0 }, () => {
        socket.off('error', reject);
        resolve();
      });
    });
    const port = socket.address().port;
    const server = new TestDnsServer(socket, `127.0.0.1:${port}`, port);
    socket.on('message', (packet, rinfo) => {
      const reply = server.answer(packet);
      if (reply !== undefined) socket.send(reply, rinfo.port, rinfo.address, () => {});
    });
    socket.on('error', () => {});
    return server;
  }

  /** Sets (replaces) the records of `name`; `undefined` removes the name (NXDOMAIN then). */
  set(name: string, records: DnsRecords | undefined): this {
    const key = normalize(name);
    if (records === undefined) this.records.delete(key);
    else this.records.set(key, records);
    return this;
  }

  /** How many questions for `name` of `type` were answered. */
  queryCount(name: string, type: keyof typeof TYPE): number {
    return this.queries.get(`${normalize(name)}/${type}`) ?? 0;
  }

  async close(): Promise<void> {
    await new Promise<void>((resolve) => this.socket.close(() => resolve()));
  }

  /** The reply to a packet, or undefined for one that is not a well-formed query. */
  answer(packet: Uint8Array): Buffer | undefined {
    const q = parseQuery(Buffer.from(packet.buffer, packet.byteOffset, packet.byteLength));
    if (q === undefined) {
      this.malformed++;
      return undefined;
    }
    const typeName = (Object.keys(TYPE) as (keyof typeof TYPE)[]).find((k) => TYPE[k] === q.qtype);
    const key = `${normalize(q.name)}/${typeName ?? q.qtype}`;
    this.queries.set(key, (this.queries.get(key) ?? 0) + 1);
    const recs = this.records.get(normalize(q.name));
    const answers: Buffer[] = [];
    let rcode = 0;
    if (q.qclass !== CLASS_IN) rcode = RCODE_NOTIMP;
    else if (recs === undefined) rcode = RCODE_NXDOMAIN;
    else if (typeName === 'A') for (const ip of recs.A ?? []) answers.push(record(TYPE.A, ipv4Bytes(ip)));
    else if (typeName === 'AAAA') for (const ip of recs.AAAA ?? []) answers.push(record(TYPE.AAAA, ipv6Bytes(ip)));
    else if (typeName === 'SRV') for (const s of recs.SRV ?? []) answers.push(record(TYPE.SRV, srvData(s)));
    const header = Buffer.alloc(12);
    header.writeUInt16BE(q.id, 0);
    // QR=1, the query's opcode and RD, AA=1, RA=0, the rcode.
    header.writeUInt16BE(0x8000 | (q.flags & 0x7900) | 0x0400 | rcode, 2);
    header.writeUInt16BE(1, 4);
    header.writeUInt16BE(answers.length, 6);
    return Buffer.concat([header, q.question, ...answers]);
  }
}

interface Query {
  id: number;
  flags: number;
  name: string;
  qtype: number;
  qclass: number;
  /** The question section as it came (echoed in the reply; answers point at its name). */
  question: Buffer;
}

/** A query with one question and an uncompressed name, else undefined (additional records, such as EDNS's OPT, are ignored). */
function parseQuery(b: Buffer): Query | undefined {
  if (b.length < 12) return undefined;
  const flags = b.readUInt16BE(2);
  if ((flags & 0x8000) !== 0 || ((flags >> 11) & 0xf) !== 0) return undefined; // a response, or not a standard query
  if (b.readUInt16BE(4) !== 1) return undefined;
  const labels: string[] = [];
  let off = 12;
  for (;;) {
    if (off >= b.length) return undefined;
    const len = b[off]!;
    off++;
    if (len === 0) break;
    if (len > 63 || off + len > b.length) return undefined; // a pointer or a label past the end
    labels.push(b.toString('latin1', off, off + len));
    off += len;
  }
  if (off + 4 > b.length) return undefined;
  return {
    id: b.readUInt16BE(0),
    flags,
    name: labels.join('.'),
    qtype: b.readUInt16BE(off),
    qclass: b.readUInt16BE(off + 2),
    question: b.subarray(12, off + 4),
  };
}

/** A resource record for the question's name (a pointer to offset 12), class IN. */
function record(type: number, data: Buffer): Buffer {
  const rr = Buffer.alloc(12 + data.length);
  rr.writeUInt16BE(0xc00c, 0);
  rr.writeUInt16BE(type, 2);
  rr.writeUInt16BE(CLASS_IN, 4);
  rr.writeUInt32BE(TTL, 6);
  rr.writeUInt16BE(data.length, 10);
  data.copy(rr, 12);
  return rr;
}

function srvData(s: SrvRecord): Buffer {
  const head = Buffer.alloc(6);
  head.writeUInt16BE(s.priority ?? 0, 0);
  head.writeUInt16BE(s.weight ?? 0, 2);
  head.writeUInt16BE(s.port, 4);
  return Buffer.concat([head, encodeName(s.target)]);
}

function encodeName(name: string): Buffer {
  const parts = normalize(name).split('.').filter((l) => l !== '');
  return Buffer.concat([...parts.map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l, 'latin1')])), Buffer.from([0])]);
}

function ipv4Bytes(ip: string): Buffer {
  if (!isIPv4(ip)) throw new Error(`not an IPv4 address: ${ip}`);
  return Buffer.from(ip.split('.').map(Number));
}

/** The 16 bytes of an IPv6 literal (hex groups with at most one `::`; no embedded IPv4). */
function ipv6Bytes(ip: string): Buffer {
  if (!isIPv6(ip) || ip.includes('.')) throw new Error(`not a plain IPv6 address: ${ip}`);
  const [head, tail] = ip.split('::') as [string, string | undefined];
  const groups = (s: string | undefined) => (s ? s.split(':') : []);
  const h = groups(head);
  const t = groups(tail);
  const all = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  const out = Buffer.alloc(16);
  all.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16), i * 2));
  return out;
}

function normalize(name: string): string {
  return name.toLowerCase().replace(/\.$/, '');
}
