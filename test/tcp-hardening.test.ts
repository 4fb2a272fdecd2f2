// The TCP transport's connections against an outsider (issue 12): connections that never send a
// hello are capped (max_pending_conns, the oldest goes) and closed after hello_timeout; a hello
// that names a member whose connection works cannot take that member's traffic over.
import { connect, type Socket } from 'node:net';
import { Address, Channel, encodeDatagram, Message, type ProtocolStack, stackFromXml, TCP, utf8Encode } from 'tsgroups';
import { closeAll, Recorder, stackXml, uniqueCluster, waitForSameView } from './helpers/cluster.js';
import { waitUntil } from './helpers/wait.js';
import { reservePorts } from './compliance/reserve-ports.js';

function tcpStack(port: number, ports: number[]): ProtocolStack {
  return stackFromXml(stackXml('tcp.xml'), {
    source: 'tcp.xml',
    env: {
      TSGROUPS_BIND_ADDR: '127.0.0.1',
      TSGROUPS_BIND_PORT: String(port),
      TSGROUPS_PORT_RANGE: '0',
      TSGROUPS_INITIAL_HOSTS: ports.map((p) => `127.0.0.1[${p}]`).join(','),
      TSGROUPS_INITIAL_PORT_RANGE: '0',
      TSGROUPS_DISCOVERY_TIMEOUT: '500ms',
    },
  });
}

const channels: Channel[] = [];
const sockets: Socket[] = [];
afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  await closeAll(channels.splice(0));
});

async function tcpCluster(n: number, cluster = uniqueCluster('tcph')): Promise<{ chs: Channel[]; recs: Recorder[]; ports: number[] }> {
  const ports = await reservePorts(n);
  const chs: Channel[] = [];
  const recs: Recorder[] = [];
  for (let i = 0; i < n; i++) {
    const ch = new Channel(tcpStack(ports[i]!, ports)).setName(String.fromCharCode(65 + i));
    channels.push(ch);
    chs.push(ch);
    recs.push(new Recorder(ch));
    await ch.connect(cluster);
  }
  await waitForSameView(chs, 10_000);
  return { chs, recs, ports };
}

const tcpOf = (ch: Channel) => ch.getProtocolStack().findProtocol(TCP)!;

function open(port: number, first?: (s: Socket) => void): Promise<Socket> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port }, () => {
      first?.(s);
      resolve(s);
    });
    sockets.push(s);
    s.on('error', () => resolve(s));
  });
}

const isClosed = (s: Socket) => s.destroyed || s.readableEnded;

function hello(peer: string): Buffer {
  const p = Buffer.from(peer);
  const h = Buffer.alloc(8);
  h.writeUInt32BE(4 + p.length, 0);
  h.writeUInt32BE(0x54534743, 4);
  return Buffer.concat([h, p]);
}

test('200 connections without a hello are capped at max_pending_conns and closed after hello_timeout; the cluster goes on', async () => {
  const { chs, recs } = await tcpCluster(2);
  const tcp = tcpOf(chs[1]!);
  tcp.helloTimeout = 300;
  tcp.maxPendingConns = 50;
  const base = { ...tcp.stats };
  const socks = await Promise.all(Array.from({ length: 200 }, () => open(tcp.boundPort)));
  await waitUntil(() => socks.every(isClosed), 10_000, 'the silent connections closed', () => `${socks.filter((s) => !isClosed(s)).length} open`);
  const refused = tcp.stats.connectionsRefused - base.connectionsRefused;
  const timedOut = tcp.stats.connectionsTimedOut - base.connectionsTimedOut;
  expect(refused).toBeGreaterThanOrEqual(150);
  expect(refused + timedOut).toBe(200);
  expect(tcp.connectionCount).toBeLessThanOrEqual(2);
  const before = recs.map((r) => r.messages.length);
  await chs[0]!.send(null, 'after');
  await waitUntil(() => recs.every((r, k) => r.messages.length === before[k]! + 1), 5000, 'traffic after the flood');
});

test('a hello naming a member whose connection works is refused: its traffic is not taken over', async () => {
  const { chs, recs, ports } = await tcpCluster(2);
  const [a, b] = chs as [Channel, Channel];
  const ta = tcpOf(a);
  // Traffic both ways, so each side's connection to the other has proven itself.
  await a.send(b.getAddress(), 'warm-up');
  await b.send(a.getAddress(), 'warm-up');
  await waitUntil(() => recs[0]!.objects().includes('warm-up') && recs[1]!.objects().includes('warm-up'), 5000, 'the warm-up');
  const base = ta.stats.connectionsRefused;
  let stolen = 0;
  const outsider = await open(ta.boundPort, (s) => s.write(hello(`127.0.0.1:${ports[1]}`)));
  outsider.on('data', (d: Buffer) => (stolen += d.length));
  await waitUntil(() => isClosed(outsider), 5000, 'the impostor closed');
  expect(ta.stats.connectionsRefused - base).toBe(1);
  await a.send(b.getAddress(), 'to B');
  await waitUntil(() => recs[1]!.objects().includes('to B'), 5000, 'the unicast at B');
  expect(stolen).toBe(0);
});

/** A frame: a 4-byte big-endian length, then the bytes. */
function frame(data: Uint8Array): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length, 0);
  return Buffer.concat([len, Buffer.from(data)]);
}

test('connections that prove themselves once and then idle are bounded by max_conns: strangers go first, members keep theirs', async () => {
  const cluster = uniqueCluster('tcpmax');
  const { chs, recs } = await tcpCluster(2, cluster);
  const [a, b] = chs as [Channel, Channel];
  const ta = tcpOf(a);
  ta.maxConns = 10;
  const base = ta.stats.connectionsEvicted;
  // Each: a hello with a made-up listening address, then one valid datagram of the cluster (to nobody here).
  const datagram = encodeDatagram(utf8Encode(cluster), Address.random(), Address.random(), [new Message(null).setString('x')]);
  const socks: Socket[] = [];
  for (let i = 0; i < 40; i++) {
    socks.push(await open(ta.boundPort, (s) => s.write(Buffer.concat([hello(`127.0.0.2:${10_000 + i}`), frame(datagram)]))));
  }
  await waitUntil(() => ta.stats.connectionsEvicted - base >= 30, 5000, 'idle strangers evicted', () => `${ta.stats.connectionsEvicted - base}; ${ta.connectionCount} open`);
  expect(ta.connectionCount).toBeLessThanOrEqual(10);
  // The members' traffic goes on.
  await b.send(a.getAddress(), 'from B');
  await a.send(b.getAddress(), 'from A');
  await waitUntil(() => recs[0]!.objects().includes('from B') && recs[1]!.objects().includes('from A'), 5000, 'member traffic');
});
