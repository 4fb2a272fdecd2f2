// Join time over stacks/tcp-redis.xml with its default timings, on 127.0.0.1: starts its own
// redis-server (free loopback port, no persistence), then per run a new cluster of 3 members in
// this process, one after another, timing each connect(). Needs a build (`pnpm build`) and
// redis-server on the PATH.
//   node scripts/bench-redis-join.mjs [--runs 5]
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { once } from 'node:events';
import { createServer, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { parseArgs } from 'node:util';

const { Channel, stackFromXml } = await import(new URL('../packages/tsgroups/dist/index.js', import.meta.url).href);
const { values } = parseArgs({ options: { runs: { type: 'string', default: '5' } } });
const runs = Number(values.runs);

const freePort = async () => {
  const s = createServer().listen(0, '127.0.0.1');
  await once(s, 'listening');
  const { port } = s.address();
  await new Promise((r) => s.close(r));
  return port;
};
const answers = (port) =>
  new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port });
    s.on('error', () => resolve(false));
    s.on('connect', () => s.write('PING\r\n'));
    s.on('data', (d) => {
      s.destroy();
      resolve(d.toString().startsWith('+PONG'));
    });
  });

const port = await freePort();
const redis = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', tmpdir()], { cwd: tmpdir(), stdio: 'ignore' });
try {
  const deadline = Date.now() + 10_000;
  while (!(await answers(port))) {
    if (Date.now() > deadline) throw new Error('redis-server did not start');
    await new Promise((r) => setTimeout(r, 20));
  }
  const xml = readFileSync(new URL('../stacks/tcp-redis.xml', import.meta.url), 'utf8');
  // Only the ports differ from the defaults: any free one, so that nothing else on 7800.. matters.
  const env = { TSGROUPS_REDIS_URL: `redis://127.0.0.1:${port}`, TSGROUPS_BIND_PORT: '0', TSGROUPS_PORT_RANGE: '0' };
  const times = { first: [], second: [], third: [] };
  for (let r = 0; r < runs; r++) {
    const cluster = `bench-redis-join-${process.pid}-${r}`;
    const chs = ['A', 'B', 'C'].map((n) => new Channel(stackFromXml(xml, { source: 'tcp-redis.xml', env })).setName(n));
    try {
      for (const [i, ch] of chs.entries()) {
        const t0 = performance.now();
        await ch.connect(cluster);
        times[Object.keys(times)[i]].push(performance.now() - t0);
      }
      if (chs[2].getView().size() !== 3) throw new Error(`C's view: ${chs[2].getView()}`);
    } finally {
      for (const ch of chs.reverse()) await ch.close();
    }
  }
  const median = (a) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
  for (const [k, a] of Object.entries(times)) {
    console.log(`${k} member connect(): median ${median(a).toFixed(0)} ms, range ${Math.min(...a).toFixed(0)}–${Math.max(...a).toFixed(0)} ms (${a.map((x) => x.toFixed(0)).join(', ')})`);
  }
} finally {
  redis.kill('SIGTERM');
  await once(redis, 'exit');
}
