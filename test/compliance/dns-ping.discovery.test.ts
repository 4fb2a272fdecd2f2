// DNS_PING over TCP (stacks/tcp-dns.xml) against the discovery compliance suite, set up as in
// Kubernetes: a name whose A records are the members' addresses (127.0.0.1 .. 127.0.0.4, all
// loopback on Linux), every member on the same port of its own address, answered by the test's
// own DNS server on 127.0.0.1. Then DNS_PING's own cases: SRV records, a DNS server down,
// NXDOMAIN and stale records, a record that changes between rounds, AAAA records, bad settings.
import { createServer, type Server } from 'node:net';
import { Channel, ConfigError, DNS_PING, type ProtocolStack, stackFromXml } from 'tsgroups';
import { TestDnsServer } from '../helpers/dns-server.js';
import { closeAll, stackXml, uniqueCluster, waitForSameView } from '../helpers/cluster.js';
import { waitUntil } from '../helpers/wait.js';
import { MAX_MEMBERS, discoveryCompliance, quickTimings } from './discovery-compliance.js';
import { reservePorts } from './reserve-ports.js';

/** The loopback address of member `i`: 127.0.0.1, 127.0.0.2 ... */
const hostOf = (i: number) => `127.0.0.${i + 1}`;

/** A port free on every one of `hosts` right now (listened on, then released). */
async function reserveSharedPort(hosts: string[]): Promise<number> {
  const listen = (host: string, port: number) =>
    new Promise<Server | undefined>((resolve) => {
      const s = createServer();
      s.once('error', () => resolve(undefined));
      s.listen({ port, host }, () => resolve(s));
    });
  const close = (s: Server) => new Promise<void>((r) => s.close(() => r()));
  for (let attempt = 0; attempt < 20; attempt++) {
    const first = await listen(hosts[0]!, 0);
    if (first === undefined) continue;
    const port = (first.address() as { port: number }).port;
    const rest = await Promise.all(hosts.slice(1).map((h) => listen(h, port)));
    await Promise.all([first, ...rest].filter((s) => s !== undefined).map(close));
    if (rest.every((s) => s !== undefined)) return port;
  }
  throw new Error(`no port free on all of ${hosts.join(', ')}`);
}

/** stacks/tcp-dns.xml with quick timings, asking `dns` about `query`. */
function dnsStack(dns: TestDnsServer, query: string, env: Record<string, string>): ProtocolStack {
  return stackFromXml(stackXml('tcp-dns.xml'), {
    source: 'tcp-dns.xml',
    env: { ...quickTimings, TSGROUPS_PORT_RANGE: '0', TSGROUPS_DNS_QUERY: query, TSGROUPS_DNS_ADDRESS: dns.address, ...env },
  });
}

let nameSeq = 0;
/** A DNS name no other test uses. */
const serviceName = () => `svc-${process.pid}-${++nameSeq}.tsgroups.test`;

discoveryCompliance('DNS_PING', async () => {
  const dns = await TestDnsServer.start();
  const hosts = Array.from({ length: MAX_MEMBERS }, (_, i) => hostOf(i));
  const port = await reserveSharedPort(hosts);
  const query = serviceName();
  dns.set(query, { A: hosts });
  return {
    stack: (i: number) => dnsStack(dns, query, { TSGROUPS_BIND_ADDR: hostOf(i), TSGROUPS_BIND_PORT: String(port) }),
    teardown: () => dns.close(),
  };
});

describe('DNS_PING', () => {
  let dns: TestDnsServer;
  const channels: Channel[] = [];
  beforeEach(async () => {
    dns = await TestDnsServer.start();
  });
  afterEach(async () => {
    await closeAll(channels.splice(0));
    await dns.close();
  });
  const open = (name: string, stack: ProtocolStack) => {
    const ch = new Channel(stack).setName(name);
    channels.push(ch);
    return ch;
  };
  const dp = (ch: Channel) => ch.getProtocolStack().findProtocol(DNS_PING)!;

  test('SRV records: each member on its own port; a target without an address is counted and skipped', async () => {
    const query = serviceName();
    const ports = await reservePorts(3);
    dns.set(query, {
      SRV: [
        ...ports.map((port, i) => ({ target: `m${i}.${query}`, port })),
        { target: `gone.${query}`, port: 1 },
      ],
    });
    ports.forEach((_, i) => dns.set(`m${i}.${query}`, { A: ['127.0.0.1'] }));
    const cluster = uniqueCluster('dns-srv');
    const chs = ['A', 'B', 'C'].map((n, i) =>
      open(n, dnsStack(dns, query, { TSGROUPS_DNS_RECORD_TYPE: 'srv', TSGROUPS_BIND_PORT: String(ports[i]) })),
    );
    for (const ch of chs) await ch.connect(cluster);
    const view = await waitForSameView(chs, 10_000);
    expect(view.getCoord()).toBe(chs[0]!.getAddress());
    expect(dp(chs[2]!).targets.map(String).sort()).toEqual(ports.map((p) => `127.0.0.1:${p}`).sort());
    expect(dp(chs[2]!).getStats().dnsFailures).toBeGreaterThan(0); // gone.<name> has no A record
    expect(dns.queryCount(query, 'SRV')).toBeGreaterThanOrEqual(3);
  });

  test('a DNS server that is down is counted; a lone member founds its group anyway', async () => {
    const down = await TestDnsServer.start();
    await down.close(); // its port now answers nothing
    const port = await reserveSharedPort([hostOf(0)]);
    const a = open('A', dnsStack(down, serviceName(), { TSGROUPS_BIND_ADDR: hostOf(0), TSGROUPS_BIND_PORT: String(port) }));
    await a.connect(uniqueCluster('dns-down'));
    expect(a.getView()!.size()).toBe(1);
    expect(dp(a).getStats().dnsLookups).toBeGreaterThan(0);
    expect(dp(a).getStats().dnsFailures).toBeGreaterThan(0);
    expect(dp(a).targets).toEqual([]);
  });

  test('NXDOMAIN and a stale record find nobody; once the record lists the member, a later joiner finds the group', async () => {
    const query = serviceName();
    const hosts = [hostOf(0), hostOf(1), hostOf(2)];
    const port = await reserveSharedPort(hosts);
    const cluster = uniqueCluster('dns-nx');
    const member = (name: string, i: number) => open(name, dnsStack(dns, query, { TSGROUPS_BIND_ADDR: hosts[i]!, TSGROUPS_BIND_PORT: String(port) }));

    const a = member('A', 0);
    await a.connect(cluster); // NXDOMAIN
    expect(a.getView()!.size()).toBe(1);
    expect(dp(a).getStats().dnsFailures).toBeGreaterThan(0);
    expect(dns.queryCount(query, 'A')).toBeGreaterThan(0);

    dns.set(query, { A: [hostOf(2)] }); // stale: nobody listens there
    const b = member('B', 1);
    await b.connect(cluster);
    expect(b.getView()!.getCoord()).toBe(b.getAddress());
    expect(dp(b).targets.map(String)).toEqual([`${hostOf(2)}:${port}`]);
    await b.disconnect();

    dns.set(query, { A: hosts });
    const c = member('C', 2);
    await c.connect(cluster);
    const view = await waitForSameView([a, c], 10_000);
    expect(view.getCoord()).toBe(a.getAddress());
  });

  test('a record that changes between rounds: two groups a stale record kept apart merge once it lists them', async () => {
    const query = serviceName();
    const hosts = [hostOf(0), hostOf(1), hostOf(2)];
    const port = await reserveSharedPort(hosts);
    const cluster = uniqueCluster('dns-change');
    const [a, b] = ['A', 'B'].map((n, i) => open(n, dnsStack(dns, query, { TSGROUPS_BIND_ADDR: hosts[i]!, TSGROUPS_BIND_PORT: String(port) })));
    dns.set(query, { A: [hosts[2]!] }); // nobody there
    await a!.connect(cluster);
    await b!.connect(cluster);
    expect(a!.getView()!.size()).toBe(1);
    expect(b!.getView()!.size()).toBe(1);
    // MERGE3's discovery rounds (every 1-2 s here) resolve the name again and find the other coordinator.
    dns.set(query, { A: hosts.slice(0, 2) });
    const view = await waitForSameView([a!, b!], 15_000);
    expect(view.size()).toBe(2);
    // Each round asks where its own lookup points (MERGE3's rounds run on the coordinator).
    const coord = view.getCoord() === a!.getAddress() ? a! : b!;
    dns.set(query, { A: [hosts[2]!] });
    await waitUntil(() => dp(coord).targets.map(String).join() === `${hosts[2]}:${port}`, 10_000, 'a round on the changed record');
  });

  test('AAAA records give IPv6 addresses on the transport\'s port (resolution only: the transports listen on IPv4)', async () => {
    const query = serviceName();
    dns.set(query, { AAAA: ['::1', 'fd00::7'] });
    const port = await reserveSharedPort([hostOf(0)]);
    const a = open('A', dnsStack(dns, query, { TSGROUPS_DNS_RECORD_TYPE: 'aaaa', TSGROUPS_BIND_PORT: String(port), TSGROUPS_DNS_PORT_RANGE: '1' }));
    await a.connect(uniqueCluster('dns-aaaa'));
    await waitUntil(() => dp(a).targets.length > 0, 5000, 'the AAAA lookup done');
    expect(dp(a).targets.map(String)).toEqual([`[::1]:${port}`, `[::1]:${port + 1}`, `[fd00::7]:${port}`, `[fd00::7]:${port + 1}`]);
    expect(dns.queryCount(query, 'AAAA')).toBeGreaterThan(0);
    expect(dp(a).getStats().dnsFailures).toBe(0);
  });

  test('a bad dns_record_type, an empty dns_query, a bad dns_address and A records without a bind_port are config errors naming the attribute', () => {
    const refuse = (env: Record<string, string>): ConfigError => {
      try {
        new Channel(dnsStack(dns, serviceName(), { TSGROUPS_BIND_PORT: '7800', ...env })).close();
      } catch (err) {
        expect(err).toBeInstanceOf(ConfigError);
        return err as ConfigError;
      }
      throw new Error(`accepted ${JSON.stringify(env)}`);
    };
    expect(refuse({ TSGROUPS_DNS_RECORD_TYPE: 'MX' })).toMatchObject({ element: 'DNS_PING', attribute: 'dns_record_type', message: expect.stringMatching(/A, AAAA or SRV.*"MX"/) });
    expect(refuse({ TSGROUPS_DNS_QUERY: '' })).toMatchObject({ element: 'DNS_PING', attribute: 'dns_query' });
    expect(refuse({ TSGROUPS_DNS_ADDRESS: 'not a server' })).toMatchObject({ element: 'DNS_PING', attribute: 'dns_address' });
    expect(refuse({ TSGROUPS_BIND_PORT: '0' })).toMatchObject({ element: 'TCP', attribute: 'bind_port', message: expect.stringMatching(/SRV/) });
    // SRV records carry their ports: any bind_port will do.
    void new Channel(dnsStack(dns, serviceName(), { TSGROUPS_BIND_PORT: '0', TSGROUPS_DNS_RECORD_TYPE: 'SRV' })).close();
  });

  test('stacks/tcp-dns.xml is tcp.xml with DNS_PING in place of TCPPING', () => {
    const names = (xml: string) => [...xml.replace(/<!--[\s\S]*?-->/g, '').matchAll(/<([A-Z][A-Z0-9_]*)\b/g)].map((m) => m[1]);
    expect(names(stackXml('tcp-dns.xml'))).toEqual(names(stackXml('tcp.xml')).map((n) => (n === 'TCPPING' ? 'DNS_PING' : n)));
  });
});
