// Several channels in one process over stacks/udp.xml: real UDP sockets on 127.0.0.1, each test
// with a multicast group and port of its own (TTL 0, loopback interface only).
import { createSocket, type Socket } from 'node:dgram';
import { networkInterfaces } from 'node:os';
import {
  Address,
  type Channel,
  ConfigError,
  encodeDatagram,
  Event,
  EventType,
  Message,
  PING,
  resolveBindAddr,
  UDP,
  utf8Encode,
} from 'tsgroups';
import { type Member, startCluster, uniqueCluster, waitForSameView, waitUntil } from '../helpers/cluster.js';
import { type McastGroup, randomGroup, udpStack } from './udp-helpers.js';

let members: Member[] = [];
let raw: Socket | null = null;
afterEach(async () => {
  // One at a time, the newest first: each leaver gets its LEAVE_RSP at once from a coordinator
  // that is still there (concurrent closes make leavers wait for leave_timeout).
  for (const m of members.slice().reverse()) await m.channel.close();
  members = [];
  if (raw) {
    const s = raw;
    raw = null;
    await new Promise<void>((resolve) => s.close(() => resolve()));
  }
});

const udpOf = (ch: Channel) => ch.getProtocolStack().getTransport() as UDP;
const channels = () => members.map((m) => m.channel);

async function cluster(n: number, group: McastGroup = randomGroup(), extra: Record<string, string> = {}): Promise<Member[]> {
  members = await startCluster(n, () => udpStack(group, extra), uniqueCluster('udp'));
  return members;
}

test('three channels that connect one after another share one view; the first is coordinator', async () => {
  await cluster(3);
  const [a, b, c] = channels() as [Channel, Channel, Channel];
  const view = await waitForSameView([a, b, c], 5000);
  expect(view.members).toEqual([a.getAddress(), b.getAddress(), c.getAddress()]);
  expect(view.getCoord()).toBe(a.getAddress());
  for (const ch of [a, b, c]) {
    const t = udpOf(ch);
    expect(t.boundAddress).toBe('127.0.0.1');
    expect(t.boundPort).toBeGreaterThan(0);
    expect(String(t.downEvent(new Event(EventType.GET_LOCAL_PHYSICAL_ADDRESS)))).toBe(`127.0.0.1:${t.boundPort}`);
  }
  // Discovery told each transport how to reach the others, and the names.
  expect(String(b.getAddress())).toBe('B');
  expect(udpOf(c).getStats().physicalAddresses).toBeGreaterThanOrEqual(2);
  expect(c.getProtocolStack().findProtocol(PING)!.stats.responsesReceived).toBeGreaterThanOrEqual(1);
});

test('a multicast reaches every member including the sender; a unicast only its target', async () => {
  await cluster(3);
  const [a, b, c] = channels() as [Channel, Channel, Channel];
  await a.send(null, 'to all');
  await c.send(b.getAddress(), 'to B');
  await b.send(a.getAddress(), 'to A');
  await waitUntil(
    () => members[0]!.rec.messages.length >= 2 && members[1]!.rec.messages.length >= 2 && members[2]!.rec.messages.length >= 1,
    3000,
    'deliveries',
  );
  // Let stray duplicates, if any, arrive before checking exact contents.
  await b.send(c.getAddress(), 'fence');
  await waitUntil(() => members[2]!.rec.objects().includes('fence'), 3000, 'the fence message');
  expect(members[0]!.rec.objects().sort()).toEqual(['to A', 'to all']);
  expect(members[1]!.rec.objects().sort()).toEqual(['to B', 'to all']);
  expect(members[2]!.rec.objects().sort()).toEqual(['fence', 'to all']);
  const fromC = members[1]!.rec.messages.find((m) => m.getObject() === 'to B')!;
  expect(fromC.src).toBe(c.getAddress());
  expect(fromC.dest).toBe(b.getAddress());
});

test('a member that disconnects disappears from every view', async () => {
  await cluster(3);
  const [a, b, c] = channels() as [Channel, Channel, Channel];
  const gone = b.getAddress()!;
  await b.disconnect();
  await waitUntil(
    () => [a, c].every((ch) => ch.getView()?.size() === 2 && !ch.getView()!.containsMember(gone)),
    3000,
    'views without B',
    () => [a, c].map((ch) => `${ch.getName()}: ${ch.getView()}`).join('; '),
  );
  await waitForSameView([a, c], 3000);
  expect(b.getView()).toBeNull();
  // The coordinator leaves too: the next in line takes over.
  await a.disconnect();
  await waitUntil(() => c.getView()?.size() === 1, 3000, 'C alone');
  expect(c.getView()!.getCoord()).toBe(c.getAddress());
});

test('a message to a member without a known physical address is dropped and counted', async () => {
  await cluster(2);
  const [a] = channels() as [Channel, Channel];
  const t = udpOf(a);
  const before = t.stats.droppedNoPhysical;
  await a.send(Address.random(), 'nobody');
  await waitUntil(() => t.stats.droppedNoPhysical === before + 1, 2000, 'the drop to be counted');
});

test('malformed and foreign datagrams, unicast and multicast, change no view, crash nothing and are counted', async () => {
  const group = randomGroup();
  // The decoder's own checks, without the checksum in front of them (test/checksum.test.ts covers that).
  await cluster(3, group, { TSGROUPS_CHECKSUM: 'false' });
  const [a, b, c] = channels() as [Channel, Channel, Channel];
  const viewBefore = a.getView()!;
  const cluster0 = a.getClusterName()!;
  const stranger = Address.random();
  const good = encodeDatagram(utf8Encode(cluster0), stranger, null, [new Message(null, 'x')]);
  const otherVersion = Uint8Array.prototype.slice.call(good);
  otherVersion[6] = 99; // the version varint follows the 5-byte magic field and its tag
  const otherCluster = encodeDatagram(utf8Encode(`${cluster0}-other`), stranger, null, [new Message(null, 'intruder')]);
  const garbage = Uint8Array.from({ length: 200 }, (_, i) => (i * 37 + 11) & 0xff); // does not start with the magic
  const truncated = good.subarray(0, good.length - 3);
  const inputs = [garbage, otherCluster, otherVersion, truncated];

  raw = createSocket('udp4');
  raw.on('error', () => undefined);
  await new Promise<void>((resolve) => raw!.bind({ port: 0, address: '127.0.0.1' }, resolve));
  raw.setMulticastInterface('127.0.0.1');
  raw.setMulticastTTL(0);
  raw.setMulticastLoopback(true);
  const send = (d: Uint8Array, port: number, host: string) =>
    new Promise<void>((resolve, reject) => raw!.send(d, port, host, (err) => (err ? reject(err) : resolve())));

  const tb = udpOf(b);
  const base = { ...tb.stats };
  // To B's unicast socket.
  for (const d of inputs) await send(d, tb.boundPort, '127.0.0.1');
  await waitUntil(() => tb.stats.dropped - base.dropped >= inputs.length, 3000, 'unicast drops', () => JSON.stringify(tb.stats));
  expect(tb.stats.droppedNotTsgroups - base.droppedNotTsgroups).toBe(1);
  expect(tb.stats.droppedCluster - base.droppedCluster).toBe(1);
  expect(tb.stats.droppedVersion - base.droppedVersion).toBe(1);
  expect(tb.stats.droppedMalformed - base.droppedMalformed).toBe(1);

  // To the multicast group: every member counts them.
  const bases = channels().map((ch) => ({ ...udpOf(ch).stats }));
  for (const d of inputs) await send(d, group.port, group.addr);
  await waitUntil(
    () => channels().every((ch, i) => udpOf(ch).stats.dropped - bases[i]!.dropped >= inputs.length),
    3000,
    'multicast drops on every member',
    () => channels().map((ch) => `${ch.getName()}: ${JSON.stringify(udpOf(ch).stats)}`).join('\n'),
  );
  channels().forEach((ch, i) => {
    const s = udpOf(ch).stats;
    expect(s.droppedCluster - bases[i]!.droppedCluster).toBe(1);
    expect(s.droppedVersion - bases[i]!.droppedVersion).toBe(1);
    expect(s.droppedNotTsgroups - bases[i]!.droppedNotTsgroups).toBe(1);
    expect(s.droppedMalformed - bases[i]!.droppedMalformed).toBe(1);
  });

  // A socket error is logged and counted, never thrown.
  const sock = (tb as unknown as { sock: Socket }).sock;
  sock.emit('error', new Error('injected socket error'));
  expect(tb.stats.socketErrors).toBe(1);

  // Nothing changed: same view everywhere, and the cluster still works.
  for (const ch of [a, b, c]) expect(ch.getView()!.viewId.equals(viewBefore.viewId)).toBe(true);
  await a.send(null, 'after');
  await waitUntil(() => members.every((m) => m.rec.objects().includes('after')), 3000, 'the message after the garbage');
  for (const m of members) expect(m.rec.objects()).toEqual(['after']);
});

test('bind_addr accepts an IPv4 address, loopback, or an interface name, and refuses anything else', () => {
  expect(resolveBindAddr('127.0.0.1')).toBe('127.0.0.1');
  expect(resolveBindAddr('loopback')).toBe('127.0.0.1');
  const loName = Object.entries(networkInterfaces()).find(([, as]) => as?.some((x) => x.address === '127.0.0.1'))?.[0];
  if (loName) expect(resolveBindAddr(loName)).toBe('127.0.0.1');
  expect(() => resolveBindAddr('no-such-interface0')).toThrow(ConfigError);
  const t = new UDP().setValues({ bind_addr: 'loopback', bind_port: '0', mcast_addr: '239.1.2.3', mcast_port: '40000', ip_ttl: '0', ip_mcast: 'true' });
  expect(t.mcastPort).toBe(40000);
  expect(t.ipTtl).toBe(0);
  expect(() => new UDP().setValue('ucast_recv_buf_size', '2M')).not.toThrow();
});
