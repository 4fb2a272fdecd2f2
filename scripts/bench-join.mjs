// Join time per discovery protocol, on 127.0.0.1, with each shipped stack's default timings
// (only ports, folders and server addresses are set, each run its own):
//   PING (udp.xml), TCPPING (tcp.xml), FILE_PING (tcp-file.xml), REDIS_PING (tcp-redis.xml,
//   against a redis-server this script starts), DNS_PING (tcp-dns.xml, against the tests' DNS
//   server, which this script starts).
// Per run a new cluster of 3 members in this process, one after another, timing each connect():
// the first founds the group after a whole discovery round that nobody answers; the second and
// third join the coordinator they find. Runs of the protocols alternate; medians and ranges.
// Needs a build (`pnpm build`); REDIS_PING needs redis-server on the PATH (skipped, and said, if not).
//   node scripts/bench-join.mjs [--runs 5] [--only PING,TCPPING,FILE_PING,REDIS_PING,DNS_PING]
import { mkdtemp, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

const root = fileURLToPath(new URL('..', import.meta.url));
const { Channel, stackFromXml } = await import(pathToFileURL(join(root, 'packages/tsgroups/dist/index.js')).href);
const { values } = parseArgs({ options: { runs: { type: 'string', default: '5' }, only: { type: 'string' } } });
const runs = Number(values.runs);

/** The tests' helpers (TypeScript, builtins only), transpiled into a temporary folder. */
const work = await mkdtemp(join(tmpdir(), 'tsgroups-bench-join-'));
async function testHelper(rel) {
  const { transform } = await import('@swc/core');
  const files = [rel, ...(rel.endsWith('redis-server.ts') ? ['test/compliance/reserve-ports.ts'] : [])];
  for (const f of files) {
    const src = await readFile(join(root, f), 'utf8');
    const { code } = await transform(src, { filename: f, jsc: { parser: { syntax: 'typescript' }, target: 'es2022' }, module: { type: 'es6' } });
    const out = join(work, f.replace(/\.ts$/, '.js'));
    await mkdir(join(out, '..'), { recursive: true });
    await writeFile(out, code);
  }
  return import(pathToFileURL(join(work, rel.replace(/\.ts$/, '.js'))).href);
}

const rnd = (n) => Math.floor(Math.random() * n);
const xml = (name) => readFile(join(root, 'stacks', name), 'utf8');
const { reservePorts } = await testHelper('test/compliance/reserve-ports.ts');

/** Per protocol: its stack file and how to make member i's environment for one run. */
const protocols = {
  PING: {
    file: 'udp.xml',
    async setup() {
      const env = { TSGROUPS_MCAST_ADDR: `239.${1 + rnd(200)}.${rnd(256)}.${1 + rnd(254)}`, TSGROUPS_MCAST_PORT: String(20_000 + rnd(40_000)) };
      return { env: () => env };
    },
  },
  TCPPING: {
    file: 'tcp.xml',
    async setup() {
      const ports = await reservePorts(3);
      const hosts = ports.map((p) => `127.0.0.1[${p}]`).join(',');
      return { env: (i) => ({ TSGROUPS_BIND_PORT: String(ports[i]), TSGROUPS_PORT_RANGE: '0', TSGROUPS_INITIAL_HOSTS: hosts, TSGROUPS_INITIAL_PORT_RANGE: '0' }) };
    },
  },
  FILE_PING: {
    file: 'tcp-file.xml',
    async setup() {
      const dir = await mkdtemp(join(work, 'file-ping-'));
      return { env: () => ({ TSGROUPS_BIND_PORT: '0', TSGROUPS_PORT_RANGE: '0', TSGROUPS_FILE_PING_LOCATION: dir }), teardown: () => rm(dir, { recursive: true, force: true }) };
    },
  },
  REDIS_PING: {
    file: 'tcp-redis.xml',
    async prepare() {
      const { RedisServer } = await testHelper('test/helpers/redis-server.ts');
      this.server = await RedisServer.start();
    },
    async setup() {
      return { env: () => ({ TSGROUPS_BIND_PORT: '0', TSGROUPS_PORT_RANGE: '0', TSGROUPS_REDIS_URL: this.server.url }) };
    },
    async finish() {
      await this.server?.stop();
    },
  },
  DNS_PING: {
    file: 'tcp-dns.xml',
    async prepare() {
      const { TestDnsServer } = await testHelper('test/helpers/dns-server.ts');
      this.server = await TestDnsServer.start();
    },
    async setup() {
      // As a Kubernetes headless service: one A record per member, every member on the same port.
      const [port] = await reservePorts(1);
      const name = `bench-${process.pid}-${rnd(1e9)}.svc.test`;
      this.server.set(name, { A: ['127.0.0.1', '127.0.0.2', '127.0.0.3'] });
      return {
        env: (i) => ({ TSGROUPS_BIND_ADDR: `127.0.0.${i + 1}`, TSGROUPS_BIND_PORT: String(port), TSGROUPS_PORT_RANGE: '0', TSGROUPS_DNS_QUERY: name, TSGROUPS_DNS_ADDRESS: this.server.address }),
      };
    },
    async finish() {
      await this.server?.close();
    },
  },
};

const chosen = values.only ? values.only.split(',') : Object.keys(protocols);
const times = {};
try {
  for (const p of [...chosen]) {
    try {
      await protocols[p].prepare?.call(protocols[p]);
      times[p] = { first: [], second: [], third: [] };
    } catch (err) {
      console.log(`${p}: not measured (${err.message})`);
      chosen.splice(chosen.indexOf(p), 1);
    }
  }
  for (let r = 0; r < runs; r++) {
    for (const p of chosen) {
      const proto = protocols[p];
      const text = await xml(proto.file);
      const { env, teardown } = await proto.setup.call(proto);
      const cluster = `bench-join-${process.pid}-${p}-${r}`;
      const chs = [0, 1, 2].map((i) => new Channel(stackFromXml(text, { source: proto.file, env: env(i) })).setName('ABC'[i]));
      try {
        for (const [i, ch] of chs.entries()) {
          const t0 = performance.now();
          await ch.connect(cluster);
          times[p][['first', 'second', 'third'][i]].push(performance.now() - t0);
        }
        if (chs[2].getView().size() !== 3) throw new Error(`${p}: C's view is ${chs[2].getView()}`);
      } finally {
        for (const ch of chs.reverse()) await ch.close();
        await teardown?.();
      }
    }
  }
} finally {
  for (const p of Object.keys(protocols)) await protocols[p].finish?.call(protocols[p]);
  await rm(work, { recursive: true, force: true });
}

const median = (a) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
const fmt = (a) => `${median(a).toFixed(0)} ms (${Math.min(...a).toFixed(0)}–${Math.max(...a).toFixed(0)})`;
console.log(`\nconnect() of each member, ${runs} runs, median (range):`);
console.log('| discovery (stack) | 1st member (founds the group) | 2nd member | 3rd member |');
console.log('|---|---|---|---|');
for (const p of chosen) console.log(`| ${p} (${protocols[p].file}) | ${fmt(times[p].first)} | ${fmt(times[p].second)} | ${fmt(times[p].third)} |`);
