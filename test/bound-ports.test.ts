// Bound ports are public: Channel.getPhysicalAddress() and the transport's stats, over real UDP
// on 127.0.0.1 (each test with a multicast group and port of its own).
import { connect } from 'node:net';
import { type Channel, Event, EventType, FD_SOCK2, PhysicalAddress, UDP } from 'tsgroups';
import { loopbackStack, type Member, startCluster, uniqueCluster } from './helpers/cluster.js';
import { randomGroup, udpStack } from './udp/udp-helpers.js';

let members: Member[] = [];
const extra: Channel[] = [];
afterEach(async () => {
  // The newest first: each leaver gets its answer from a coordinator that is still there.
  for (const c of [...members.map((m) => m.channel), ...extra.splice(0)].reverse()) await c.close();
  members = [];
});

const udpOf = (ch: Channel) => ch.getProtocolStack().findProtocol(UDP)!;

test('getPhysicalAddress() is where the member receives unicasts: the bound host and port, as the others know it', async () => {
  const group = randomGroup();
  members = await startCluster(2, () => udpStack(group), uniqueCluster('phys'));
  const [a, b] = members.map((m) => m.channel) as [Channel, Channel];
  const pa = a.getPhysicalAddress()!;
  expect(pa).toBeInstanceOf(PhysicalAddress);
  expect(pa.host).toBe('127.0.0.1');
  expect(pa.port).toBeGreaterThan(0); // bind_port 0: the port the system chose
  expect(pa.port).toBe(udpOf(a).boundPort);
  expect(String(pa)).toBe(`127.0.0.1:${pa.port}`);
  // B reaches A there.
  const known = b.getProtocolStack().downEvent(new Event(EventType.GET_PHYSICAL_ADDRESS, a.getAddress()!)) as PhysicalAddress;
  expect(known.equals(pa)).toBe(true);
  expect(b.getPhysicalAddress()!.port).not.toBe(pa.port);
});

test('the stats report the bound ports: UDP unicast and multicast, the FD_SOCK2 server (which accepts connections)', async () => {
  const group = randomGroup();
  members = await startCluster(1, () => udpStack(group), uniqueCluster('phys'));
  const a = members[0]!.channel;
  const stats = udpOf(a).getStats();
  expect(stats.unicastPort).toBe(a.getPhysicalAddress()!.port);
  expect(stats.multicastPort).toBe(group.port);
  expect(udpOf(a).getBindings()).toEqual({ unicast: a.getPhysicalAddress(), multicast: { group: group.addr, port: group.port } });
  const fd = a.getProtocolStack().findProtocol(FD_SOCK2)!;
  const serverPort = fd.getStats().serverPort!;
  expect(serverPort).toBeGreaterThan(0);
  await new Promise<void>((resolve, reject) => {
    const sock = connect({ host: '127.0.0.1', port: serverPort }, () => {
      sock.destroy();
      resolve();
    });
    sock.once('error', reject);
  });
  await a.disconnect();
  expect(udpOf(a).getStats().unicastPort).toBe(0);
  expect(udpOf(a).getStats().multicastPort).toBe(0);
  expect(fd.getStats().serverPort).toBe(0);
});

test('null before connect, after disconnect, and on an in-process transport', async () => {
  const group = randomGroup();
  members = await startCluster(1, () => udpStack(group), uniqueCluster('phys'));
  const a = members[0]!.channel;
  expect(a.getPhysicalAddress()).not.toBeNull();
  await a.disconnect();
  expect(a.getPhysicalAddress()).toBeNull();
  const loop = (await startCluster(1, () => loopbackStack()))[0]!.channel;
  extra.push(loop);
  expect(loop.getPhysicalAddress()).toBeNull();
});
