// Discovery without encryption against an outsider on the same network (issue 12): real UDP
// members over stacks/udp.xml on 127.0.0.1 and a raw socket that forges PING and MERGE3
// messages. No reply goes to a host:port a request merely names (reflection), responses are
// rate-limited per source, 60 KB names are dropped, and a forged address for a member never
// redirects its unicasts (poisoning).
import { createSocket, type Socket } from 'node:dgram';
import {
  Address,
  type Channel,
  encodeDatagram,
  Event,
  EventType,
  Flag,
  MERGE3,
  Message,
  NameCache,
  PING,
  ProtocolId,
  type UDP,
  utf8Encode,
} from 'tsgroups';
import { type Member, startCluster, uniqueCluster, waitForSameView, waitUntil } from './helpers/cluster.js';
import { randomGroup, udpStack } from './udp/udp-helpers.js';

/** Figures for the docs, printed with TSGROUPS_FIGURES=1. */
const figure = (text: string) => {
  if (process.env.TSGROUPS_FIGURES) console.info(text);
};

const GET_MBRS_REQ = 1;
const GET_MBRS_RSP = 2;

let members: Member[] = [];
const sockets: Socket[] = [];
afterEach(async () => {
  for (const m of members.slice().reverse()) await m.channel.close();
  members = [];
  for (const s of sockets.splice(0)) await new Promise<void>((resolve) => s.close(() => resolve()));
});

/** A UDP socket on 127.0.0.1 that counts (and keeps) what arrives. */
async function openSocket(): Promise<{ sock: Socket; port: number; received: Buffer[] }> {
  const sock = createSocket('udp4');
  sockets.push(sock);
  const received: Buffer[] = [];
  sock.on('message', (m) => received.push(m));
  await new Promise<void>((resolve) => sock.bind(0, '127.0.0.1', () => resolve()));
  return { sock, port: sock.address().port, received };
}

const udpOf = (ch: Channel) => ch.getProtocolStack().getTransport() as UDP;
const physicalOf = (t: UDP, m: Address) => String(t.downEvent(new Event(EventType.GET_PHYSICAL_ADDRESS, m)));
const pingOf = (ch: Channel) => ch.getProtocolStack().findProtocol(PING)!;

async function cluster(n: number): Promise<{ chs: Channel[]; name: string }> {
  const group = randomGroup();
  const name = uniqueCluster('harden');
  members = await startCluster(n, () => udpStack(group), name);
  const chs = members.map((m) => m.channel);
  await waitForSameView(chs, 10_000);
  return { chs, name };
}

/** A forged PING message from `sender` describing `address` (by default the sender itself). */
function forgedPing(cluster: string, type: number, sender: Address, d: { address?: Address; name?: string; physical?: string }): Uint8Array {
  const data = { address: (d.address ?? sender).bytes, name: d.name ?? 'outsider', isCoord: false, physical: d.physical ?? '' };
  const msg = new Message(null).setFlag(Flag.OOB).putHeader(ProtocolId.PING, { type, data });
  return encodeDatagram(utf8Encode(cluster), sender, null, [msg], 0, 1, true); // an outsider computes the checksum too
}

function send(sock: Socket, data: Uint8Array, port: number): Promise<void> {
  return new Promise((resolve) => sock.send(data, port, '127.0.0.1', () => resolve()));
}

test('a forged request naming another host:port gets its reply at its source, none at the host:port named', async () => {
  const { chs, name } = await cluster(2);
  const [a] = chs as [Channel];
  const outsider = await openSocket();
  const sink = await openSocket();
  const before = pingOf(a).stats.responsesSent;
  for (let i = 0; i < 10; i++) {
    // Each from a new "member", claiming the sink's address as its own.
    await send(outsider.sock, forgedPing(name, GET_MBRS_REQ, Address.random(), { physical: `127.0.0.1:${sink.port}` }), udpOf(a).boundPort);
  }
  await waitUntil(() => pingOf(a).stats.responsesSent - before >= 10, 5000, 'the answers');
  await waitUntil(() => outsider.received.length >= 10, 5000, 'the answers at the requests\' source', () => `${outsider.received.length}`);
  // Something sent to the sink now arrives before anything sent earlier would have been lost in flight.
  await send(outsider.sock, Uint8Array.of(1), sink.port);
  await waitUntil(() => sink.received.length >= 1, 5000, 'the marker at the sink');
  expect(sink.received.length).toBe(1);
  expect(pingOf(a).stats.physicalNotSource).toBeGreaterThanOrEqual(10);
});

test('a flood of 10,000 forged requests from one source gets at most the rate-limited number of answers', async () => {
  const { chs, name } = await cluster(2);
  const [a] = chs as [Channel];
  const ping = pingOf(a);
  const limit = ping.maxRspsPerSource;
  const interval = ping.rspLimitInterval;
  const outsider = await openSocket();
  const port = udpOf(a).boundPort;
  const start = Date.now();
  const received0 = ping.stats.requestsReceived;
  const senders: Address[] = [];
  for (let i = 0; i < 10_000; i++) {
    senders.push(Address.random());
    const d = forgedPing(name, GET_MBRS_REQ, senders[i]!, { name: `x${i}` });
    outsider.sock.send(d, port, '127.0.0.1', () => undefined);
    // Paced by what the member read, so the kernel's receive buffer drops none.
    if (i % 500 === 499) await waitUntil(() => ping.stats.requestsReceived - received0 >= i - 499, 10_000, 'the member to read');
  }
  await waitUntil(() => ping.stats.requestsReceived - received0 >= 10_000, 15_000, 'the flood to arrive', () => `${ping.stats.requestsReceived - received0}`);
  const windows = Math.ceil((Date.now() - start) / interval) + 1;
  await waitUntil(() => ping.stats.rspsLimited > 0, 5000, 'limited requests counted');
  const answered = ping.stats.requestsReceived - received0 - ping.stats.rspsLimited;
  expect(answered).toBeLessThanOrEqual(limit * windows);
  expect(ping.stats.responsesSent).toBeLessThanOrEqual(limit * windows + 10); // + the answers to B while the cluster formed
  // Requests over the limit are dropped whole: their names were not learned.
  let named = 0;
  for (let i = 0; i < 10_000; i++) if (NameCache.get(senders[i]!) !== undefined) named++;
  expect(named).toBeLessThanOrEqual(limit * windows);
  figure(`flood: ${ping.stats.requestsReceived - received0} forged requests read in ${windows - 1} s, ${answered} answered, ${ping.stats.rspsLimited} limited`);
});

test('requests with 60 KB names are dropped and counted; the name cache and memory stay bounded', async () => {
  const { chs, name } = await cluster(2);
  const [a] = chs as [Channel];
  const ping = pingOf(a);
  const outsider = await openSocket();
  const port = udpOf(a).boundPort;
  const big = 'n'.repeat(60_000);
  const heapBefore = process.memoryUsage().heapUsed;
  const senders: Address[] = [];
  for (let i = 0; i < 3000; i++) {
    const s = Address.random();
    senders.push(s);
    await send(outsider.sock, forgedPing(name, i % 2 === 0 ? GET_MBRS_REQ : GET_MBRS_RSP, s, { name: big }), port);
    // Paced, so the kernel's receive buffer does not drop them before the member sees them.
    if (i % 10 === 9) await waitUntil(() => ping.stats.droppedOversize >= i - 9, 5000, 'the member to read', () => `${ping.stats.droppedOversize}`);
  }
  await waitUntil(() => ping.stats.droppedOversize >= 2500, 20_000, 'oversized requests dropped', () => `${ping.stats.droppedOversize}`);
  for (const s of senders) expect(NameCache.get(s)).toBeUndefined();
  // 3000 x 60 KB names kept would take 180 MB; a generous bound (garbage not yet collected included) that proves they were not.
  const grown = process.memoryUsage().heapUsed - heapBefore;
  figure(`60 KB names: ${ping.stats.droppedOversize} dropped; heapUsed ${(heapBefore / 1e6).toFixed(1)} MB before, ${((heapBefore + grown) / 1e6).toFixed(1)} MB after`);
  expect(grown).toBeLessThan(90_000_000);
});

test('a forged PING response or MERGE3 INFO naming another address for member B does not redirect unicasts to B', async () => {
  const { chs, name } = await cluster(2);
  const [a, b] = chs as [Channel, Channel];
  const ta = udpOf(a);
  const realB = physicalOf(ta, b.getAddress()!);
  const outsider = await openSocket();
  const cl = utf8Encode(name);
  // A PING response "from B" (datagram sender B) announcing the outsider's port.
  await send(outsider.sock, forgedPing(name, GET_MBRS_RSP, b.getAddress()!, { physical: `127.0.0.1:${outsider.port}` }), ta.boundPort);
  // A MERGE3 INFO "from B" naming the outsider's port.
  const info = new Message(null).setFlag(Flag.OOB).putHeader(ProtocolId.MERGE3, {
    type: 1,
    viewId: { creator: a.getAddress()!.bytes, id: 99 },
    coord: b.getAddress()!.bytes,
    name: 'B',
    physical: `127.0.0.1:${outsider.port}`,
  });
  await send(outsider.sock, encodeDatagram(cl, b.getAddress()!, null, [info], 0, 1, true), ta.boundPort);
  // A plain unicast datagram "from B" sent from the outsider's socket.
  await send(outsider.sock, encodeDatagram(cl, b.getAddress()!, a.getAddress()!, [new Message(a.getAddress()).setFlag(Flag.OOB)], 0, 1, true), ta.boundPort);
  await waitUntil(() => (ta.getStats().physicalRefused ?? 0) >= 3, 5000, 'the forged addresses refused', () => JSON.stringify(ta.getStats()));
  expect(physicalOf(ta, b.getAddress()!)).toBe(realB);
  expect(a.getProtocolStack().findProtocol(MERGE3)!.stats.infosReceived).toBeGreaterThanOrEqual(1);
  // A's unicasts still reach B, and none reach the outsider.
  const got = outsider.received.length;
  await a.send(b.getAddress(), 'to B');
  await waitUntil(() => members[1]!.rec.objects().includes('to B'), 5000, 'the unicast at B');
  expect(outsider.received.length).toBe(got);
});
