// Without IP multicast (TCP; UDP with ip_mcast="false") an INFO of MERGE3 reaches only the view
// and the members that left it lately. After a partition longer than the transport's
// logical_addr_cache_expiration both sides have forgotten each other's addresses; the
// coordinators must still find each other (MERGE3's discovery rounds: TCPPING's list) and merge.
// The expiration is cut to 1 s here, so "longer" takes seconds, not 6 minutes.
import { Channel, MergeView, MERGE3, type ProtocolStack, stackFromXml, TCP, UDP } from 'tsgroups';
import { reservePorts, reserveUdpPorts } from './compliance/reserve-ports.js';
import { closeAll, discardOf, partition, Recorder, stackXml, uniqueCluster, waitForSameView } from './helpers/cluster.js';
import { waitUntil } from './helpers/wait.js';

const quick = {
  TSGROUPS_FD_INTERVAL: '500ms',
  TSGROUPS_FD_TIMEOUT: '3s',
  TSGROUPS_MERGE_MIN_INTERVAL: '1s',
  TSGROUPS_MERGE_MAX_INTERVAL: '2s',
  TSGROUPS_DISCOVERY_TIMEOUT: '500ms',
};

interface Medium {
  name: string;
  reserve(n: number): Promise<number[]>;
  stack(port: number, ports: number[]): ProtocolStack;
  transport(ch: Channel): TCP | UDP;
}

const hosts = (ports: number[]) => ports.map((p) => `127.0.0.1[${p}]`).join(',');

const media: Medium[] = [
  {
    name: 'TCP + TCPPING',
    reserve: reservePorts,
    stack: (port, ports) =>
      stackFromXml(stackXml('tcp.xml').replace(/(<TCP )([^>]*\/>)/, '$1logical_addr_cache_expiration="1s" $2\n  <DISCARD/>'), {
        source: 'tcp.xml (short address cache)',
        env: { ...quick, TSGROUPS_BIND_PORT: String(port), TSGROUPS_PORT_RANGE: '0', TSGROUPS_INITIAL_HOSTS: hosts(ports), TSGROUPS_INITIAL_PORT_RANGE: '0' },
      }),
    transport: (ch) => ch.getProtocolStack().findProtocol(TCP)!,
  },
  {
    name: 'UDP ip_mcast=false + TCPPING',
    reserve: reserveUdpPorts,
    stack: (port, ports) =>
      stackFromXml(
        stackXml('udp.xml')
          .replace(/(<UDP )([^>]*\/>)/, '$1logical_addr_cache_expiration="1s" $2\n  <DISCARD/>')
          .replace(/<PING [^>]*\/>/, '<TCPPING initial_hosts="${TSGROUPS_INITIAL_HOSTS}" port_range="0" timeout="${TSGROUPS_DISCOVERY_TIMEOUT:1s}"/>'),
        { source: 'udp.xml (no multicast, short address cache)', env: { ...quick, TSGROUPS_BIND_PORT: String(port), TSGROUPS_IP_MCAST: 'false', TSGROUPS_INITIAL_HOSTS: hosts(ports) } },
      ),
    transport: (ch) => ch.getProtocolStack().findProtocol(UDP)!,
  },
];

const channels: Channel[] = [];
afterEach(async () => {
  await closeAll(channels.splice(0));
});

test.each(media)('$name: a partition that outlasts logical_addr_cache_expiration still heals into a MergeView', async (medium) => {
  const ports = await medium.reserve(3);
  const cluster = uniqueCluster('longsplit');
  const chs: Channel[] = [];
  const recs: Recorder[] = [];
  for (const [i, name] of ['A', 'B', 'C'].entries()) {
    const ch = new Channel(medium.stack(ports[i]!, ports)).setName(name);
    channels.push(ch);
    chs.push(ch);
    recs.push(new Recorder(ch));
    await ch.connect(cluster);
  }
  await waitForSameView(chs, 10_000);
  const [a, b, c] = chs as [Channel, Channel, Channel];
  await partition([[a, b], [c]], 20_000);
  // Both sides forget the other's physical addresses: no INFO crosses the healed network by itself.
  await waitUntil(() => medium.transport(c).stats.departedForgotten >= 2 && [a, b].every((ch) => medium.transport(ch).stats.departedForgotten >= 1), 10_000, 'the departed forgotten');
  const marks = recs.map((r) => r.views.length);
  for (const ch of chs) discardOf(ch).heal();
  await waitForSameView(chs, 30_000);
  for (const [k, r] of recs.entries()) expect(r.views.slice(marks[k]).some((v) => v instanceof MergeView)).toBe(true);
  const merge3 = (ch: Channel) => ch.getProtocolStack().findProtocol(MERGE3)!.getStats();
  expect(merge3(a)['coordsDiscovered']! + merge3(c)['coordsDiscovered']!).toBeGreaterThan(0);
}, 60_000);
