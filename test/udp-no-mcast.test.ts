// UDP with ip_mcast="false" and TCPPING: no multicast socket, a message to all goes as a unicast
// datagram to each member, discovery by a static list of the UDP ports the test reserved on
// 127.0.0.1. A cluster forms, multicasts arrive exactly once and in order, a leave is handled, a
// partition (DISCARD) heals into a MergeView (MERGE3's announcements reach the members that left
// the view), and PING with ip_mcast="false" is refused.
import { Channel, ConfigError, MergeView, type ProtocolStack, stackFromXml, TCPPING, UDP } from 'tsgroups';
import { closeAll, discardOf, partition, Recorder, stackXml, uniqueCluster, waitForSameView } from './helpers/cluster.js';
import { reserveUdpPorts } from './compliance/reserve-ports.js';
import { waitUntil } from './helpers/wait.js';

/** stacks/udp.xml with PING replaced by TCPPING (or kept), DISCARD above UDP, quick timings. */
function noMcastStack(port: number, ports: number[], discovery: 'TCPPING' | 'PING' = 'TCPPING', ipMcast = 'false'): ProtocolStack {
  let xml = stackXml('udp.xml').replace(/(<UDP [^>]*\/>)/, '$1\n  <DISCARD/>');
  if (discovery === 'TCPPING') {
    xml = xml.replace(/<PING [^>]*\/>/, '<TCPPING initial_hosts="${TSGROUPS_INITIAL_HOSTS}" port_range="0" timeout="${TSGROUPS_DISCOVERY_TIMEOUT:1s}"/>');
  }
  return stackFromXml(xml, {
    source: 'udp.xml (no multicast)',
    env: {
      TSGROUPS_BIND_ADDR: '127.0.0.1',
      TSGROUPS_BIND_PORT: String(port),
      TSGROUPS_IP_MCAST: ipMcast,
      TSGROUPS_INITIAL_HOSTS: ports.map((p) => `127.0.0.1[${p}]`).join(','),
      TSGROUPS_FD_INTERVAL: '500ms',
      TSGROUPS_FD_TIMEOUT: '3s',
      TSGROUPS_MERGE_MIN_INTERVAL: '1s',
      TSGROUPS_MERGE_MAX_INTERVAL: '2s',
      TSGROUPS_DISCOVERY_TIMEOUT: '500ms',
    },
  });
}

const channels: Channel[] = [];
afterEach(async () => {
  await closeAll(channels.splice(0));
});

async function cluster(names: string[]): Promise<{ chs: Channel[]; recs: Recorder[] }> {
  const ports = await reserveUdpPorts(names.length);
  const name = uniqueCluster('udpnomcast');
  const chs: Channel[] = [];
  const recs: Recorder[] = [];
  for (let i = 0; i < names.length; i++) {
    const ch = new Channel(noMcastStack(ports[i]!, ports)).setName(names[i]!);
    channels.push(ch);
    chs.push(ch);
    recs.push(new Recorder(ch));
    await ch.connect(name);
  }
  await waitForSameView(chs, 10_000);
  return { chs, recs };
}

const udpOf = (ch: Channel) => ch.getProtocolStack().findProtocol(UDP)!;

/** Every member sends `n` multicasts tagged `tag`; waits until each member got all of them, and checks each sender's are in order, once. */
async function multicastRound(chs: Channel[], recs: Recorder[], tag: string, n: number): Promise<void> {
  const marks = recs.map((r) => r.messages.length);
  for (let i = 0; i < n; i++) for (const ch of chs) void ch.send(null, `${tag}${ch.getName()}:${i}`);
  const got = (k: number) => recs[k]!.messages.slice(marks[k]).map((m) => m.getObject<string>());
  await waitUntil(() => recs.every((_, k) => got(k).length >= chs.length * n), 20_000, `the ${tag} multicasts`, () =>
    recs.map((_, k) => got(k).length).join(','),
  );
  for (let k = 0; k < recs.length; k++) {
    const texts = got(k);
    expect(texts).toHaveLength(chs.length * n);
    for (const ch of chs) {
      const prefix = `${tag}${ch.getName()}:`;
      expect(texts.filter((t) => t.startsWith(prefix))).toEqual(Array.from({ length: n }, (_, i) => `${prefix}${i}`));
    }
  }
}

test('3 members over UDP ip_mcast=false + TCPPING form a view; multicasts arrive exactly once, in order; a leave is handled', async () => {
  const { chs, recs } = await cluster(['A', 'B', 'C']);
  expect(chs[0]!.getProtocolStack().findProtocol(TCPPING)).toBeDefined();
  for (const ch of chs) {
    expect(udpOf(ch).getBindings().multicast).toBeNull();
    expect(udpOf(ch).getStats()['multicastPort']).toBe(0);
  }
  await multicastRound(chs, recs, 'm', 200);
  // C leaves: A and B go on as a view of two, their multicasts still exactly once.
  const [a, b, c] = chs as [Channel, Channel, Channel];
  await c.close();
  await waitForSameView([a, b], 10_000);
  await multicastRound([a, b], recs.slice(0, 2), 'after', 100);
  expect(udpOf(a).stats.sendErrors).toBe(0);
}, 60_000);

test('a partition A,B | C over UDP ip_mcast=false heals into a MergeView (announcements reach the members that left the view)', async () => {
  const { chs, recs } = await cluster(['A', 'B', 'C']);
  const [a, b, c] = chs as [Channel, Channel, Channel];
  await partition([[a, b], [c]], 20_000);
  const marks = recs.map((r) => r.views.length);
  for (const ch of chs) discardOf(ch).heal();
  await waitForSameView(chs, 30_000);
  for (const [k, r] of recs.entries()) expect(r.views.slice(marks[k]).some((v) => v instanceof MergeView)).toBe(true);
  await multicastRound(chs, recs, 'merged', 50);
}, 60_000);

test('PING with UDP ip_mcast="false" is refused at once with a config error naming UDP ip_mcast; TCPPING, or PING with multicast, is accepted', async () => {
  const ports = await reserveUdpPorts(1);
  let err: unknown;
  try {
    new Channel(noMcastStack(ports[0]!, ports, 'PING'));
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(ConfigError);
  expect(err).toMatchObject({ element: 'UDP', attribute: 'ip_mcast' });
  expect((err as Error).message).toMatch(/TCPPING/);
  expect(() => noMcastStack(ports[0]!, ports, 'TCPPING').validate()).not.toThrow();
  expect(() => noMcastStack(ports[0]!, ports, 'PING', 'true').validate()).not.toThrow();
});
