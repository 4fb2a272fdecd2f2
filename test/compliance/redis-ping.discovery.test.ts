// REDIS_PING over TCP (stacks/tcp-redis.xml) against the discovery compliance suite, on a real
// redis-server this file starts on a free loopback port, and REDIS_PING's own cases: its entry
// at connect and leave, garbage and stale entries, Redis unreachable at connect, Redis going
// away under a running cluster and coming back.
import { Redis } from 'ioredis';
import { Address, Channel, ConfigError, ConsoleLogger, type ProtocolStack, REDIS_PING, setLogger, stackFromXml } from 'tsgroups';
import { closeAll, stackXml, uniqueCluster, waitForSameView } from '../helpers/cluster.js';
import { RedisServer } from '../helpers/redis-server.js';
import { waitUntil } from '../helpers/wait.js';
import { discoveryCompliance, quickTimings } from './discovery-compliance.js';
import { reservePorts } from './reserve-ports.js';

/** stacks/tcp-redis.xml on `url`, quick timings; members listen on ports the system picks. */
function redisPingStack(url: string, extra: Record<string, string> = {}): ProtocolStack {
  return stackFromXml(stackXml('tcp-redis.xml'), {
    source: 'tcp-redis.xml',
    env: {
      ...quickTimings,
      TSGROUPS_BIND_PORT: '0',
      TSGROUPS_PORT_RANGE: '0',
      TSGROUPS_REDIS_URL: url,
      TSGROUPS_REDIS_PING_WRITE_INTERVAL: '500ms',
      TSGROUPS_REDIS_PING_STALE_LIMIT: '2s',
      TSGROUPS_REDIS_PING_TTL: '10s',
      ...extra,
    },
  });
}

let server: RedisServer | undefined;
beforeAll(async () => {
  server = await RedisServer.start();
});
afterAll(async () => {
  await server?.stop();
});

discoveryCompliance('REDIS_PING', async () => ({ stack: () => redisPingStack(server!.url) }));

describe('REDIS_PING', () => {
  const channels: Channel[] = [];
  const clients: Redis[] = [];
  const servers: RedisServer[] = [];
  afterEach(async () => {
    setLogger(new ConsoleLogger());
    await closeAll(channels.splice(0));
    for (const c of clients.splice(0)) c.disconnect();
    for (const s of servers.splice(0)) await s.stop();
  });
  const open = (name: string, url = server!.url, extra: Record<string, string> = {}) => {
    const ch = new Channel(redisPingStack(url, extra)).setName(name);
    channels.push(ch);
    return ch;
  };
  const rp = (ch: Channel) => ch.getProtocolStack().findProtocol(REDIS_PING)!;
  /** A plain client of the server at `url`, closed after the test. */
  const client = (url = server!.url) => {
    const c = new Redis(url, { maxRetriesPerRequest: 1 });
    clients.push(c);
    return c;
  };
  const key = (cluster: string) => `tsgroups:${cluster}`;

  test('a member registers in the cluster\'s hash at connect (with an expiry) and is removed when it leaves', async () => {
    const cluster = uniqueCluster('rp');
    const a = open('A');
    await a.connect(cluster);
    expect(rp(a).clusterKey).toBe(key(cluster));
    const redis = client();
    const self = a.getAddress()!.toUUIDString();
    await waitUntil(() => rp(a).getStats().entriesWritten >= 2, 5000, 'the coordinator flag written');
    const hash = await redis.hgetall(key(cluster));
    expect(Object.keys(hash)).toEqual([self]);
    const entry = JSON.parse(hash[self]!) as Record<string, unknown>;
    expect(entry).toMatchObject({ name: 'A', address: self, coord: true });
    expect(entry.physical).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(Math.abs(Date.now() - (entry.time as number))).toBeLessThan(60_000);
    const ttl = await redis.pttl(key(cluster));
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(10_000);
    await a.disconnect();
    expect(await redis.hexists(key(cluster), self)).toBe(0);
  });

  test('garbage entries are counted and ignored; the coordinator removes stale entries of members outside its view', async () => {
    const cluster = uniqueCluster('rp');
    const redis = client();
    const ghost = Address.random();
    await redis.hset(key(cluster), 'garbage', 'not json');
    await redis.hset(
      key(cluster),
      ghost.toUUIDString(),
      JSON.stringify({ name: 'ghost', address: ghost.toUUIDString(), physical: '127.0.0.1:1', coord: true, time: Date.now() - 60_000 }),
    );
    const a = open('A');
    await a.connect(cluster);
    expect(a.getView()!.getCoord()).toBe(a.getAddress());
    expect(rp(a).getStats().garbageEntries).toBeGreaterThan(0);
    await waitUntil(() => rp(a).getStats().staleRemoved >= 1, 5000, 'the stale entry removed');
    expect(await redis.hexists(key(cluster), ghost.toUUIDString())).toBe(0);
    expect(await redis.hget(key(cluster), 'garbage')).toBe('not json');
    const b = open('B');
    await b.connect(cluster);
    await waitForSameView([a, b], 10_000);
  });

  test('Redis unreachable at connect fails connect with a ConfigError naming the url without its password (no retries left behind)', async () => {
    const [port] = await reservePorts(1);
    const url = `redis://127.0.0.1:${port}`;
    const a = open('A', url);
    const err = (await a.connect(uniqueCluster('rp')).catch((e: unknown) => e)) as ConfigError;
    expect(err).toBeInstanceOf(ConfigError);
    expect(err.message).toContain(`REDIS_PING cannot register in ${url}`);
    expect(err.message).toMatch(/ECONNREFUSED/);
    expect(err.attribute).toBe('url');
    // A password in the url stays out of the error.
    const b = open('B', `redis://user:secret@127.0.0.1:${port}`);
    const err2 = (await b.connect(uniqueCluster('rp')).catch((e: unknown) => e)) as ConfigError;
    expect(err2.message).toContain(`redis://user:***@127.0.0.1:${port}`);
    expect(err2.message).not.toContain('secret');
  });

  test('ttl not above write_interval and a url that is not redis:// are refused', async () => {
    const a = open('A', server!.url, { TSGROUPS_REDIS_PING_TTL: '500ms' });
    await expect(a.connect(uniqueCluster('rp'))).rejects.toThrow(/ttl .* must be longer than write_interval/);
    const b = open('B', 'http://127.0.0.1:6379');
    await expect(b.connect(uniqueCluster('rp'))).rejects.toThrow(/is not a redis:\/\/host:port url/);
  });

  test('Redis going away keeps the view and traffic of a running cluster (errors counted, one warning each); back, members register again and a joiner finds them', async () => {
    const own = await RedisServer.start();
    servers.push(own);
    const cluster = uniqueCluster('rp');
    const [a, b] = [open('A', own.url), open('B', own.url)];
    await a.connect(cluster);
    await b.connect(cluster);
    await waitForSameView([a, b], 10_000);

    const warnings: string[] = [];
    setLogger({ isEnabled: () => true, log: (level, _scope, message) => void (level === 'warn' && warnings.push(message)) });
    await own.stop();
    await waitUntil(() => rp(a).getStats().redisErrors >= 3 && rp(b).getStats().redisErrors >= 3, 10_000, 'failures counted');
    expect(warnings.filter((w) => w.startsWith('REDIS_PING')).length).toBe(2); // one per member, not one per failure
    const got: string[] = [];
    b.on('message', (m) => got.push(m.getObject<string>()));
    await a.send(null, 'without redis');
    await waitUntil(() => got.includes('without redis'), 5000, 'traffic without Redis');
    expect(a.getView()!.size()).toBe(2);
    expect(b.getView()!.getMembers()).toEqual(a.getView()!.getMembers());

    await own.start(); // the same port, empty: every entry is gone
    const redis = client(own.url);
    const registered = async () => Object.keys(await redis.hgetall(key(cluster))).sort();
    const both = [a, b].map((ch) => ch.getAddress()!.toUUIDString()).sort();
    const deadline = Date.now() + 10_000;
    while ((await registered()).join() !== both.join()) {
      if (Date.now() > deadline) throw new Error(`A and B did not register again: ${(await registered()).join()}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    const c = open('C', own.url);
    await c.connect(cluster);
    const view = await waitForSameView([a, b, c], 10_000);
    expect(view.getCoord()).toBe(a.getAddress());
  });

  test('stacks/tcp-redis.xml is tcp.xml with REDIS_PING in place of TCPPING', () => {
    const names = (xml: string) => [...xml.replace(/<!--[\s\S]*?-->/g, '').matchAll(/<([A-Z][A-Z0-9_]*)\b/g)].map((m) => m[1]);
    expect(names(stackXml('tcp-redis.xml'))).toEqual(names(stackXml('tcp.xml')).map((n) => (n === 'TCPPING' ? 'REDIS_PING' : n)));
  });
});
