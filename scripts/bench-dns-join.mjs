// Join time over stacks/tcp-dns.xml with its default timings, on loopback, set up as in
// Kubernetes: the tests' DNS server (test/helpers/dns-server.ts, compiled here with swc as jest
// does) answers A records 127.0.0.1, 127.0.0.2, 127.0.0.3, and member i listens on the same port
// of 127.0.0.(i+1). Per run a new cluster of 3 members in this process, one after another,
// timing each connect(). Needs a build (`pnpm build`); Linux (the whole 127/8 is loopback).
//   node scripts/bench-dns-join.mjs [--runs 5]
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { transformFileSync } from '@swc/core';

const { Channel, stackFromXml } = await import(new URL('../packages/tsgroups/dist/index.js', import.meta.url).href);
const { values } = parseArgs({ options: { runs: { type: 'string', default: '5' } } });
const runs = Number(values.runs);

const tmp = mkdtempSync(join(tmpdir(), 'bench-dns-join-'));
const helper = join(tmp, 'dns-server.mjs');
writeFileSync(
  helper,
  transformFileSync(fileURLToPath(new URL('../test/helpers/dns-server.ts', import.meta.url)), {
    jsc: { target: 'es2022', parser: { syntax: 'typescript' } },
    module: { type: 'es6' },
  }).code,
);
const { TestDnsServer } = await import(helper);

const hosts = ['127.0.0.1', '127.0.0.2', '127.0.0.3'];
/** A port free on all three addresses (listened on, then released). */
async function sharedPort() {
  const listen = (host, port) =>
    new Promise((resolve) => {
      const s = createServer();
      s.once('error', () => resolve(undefined));
      s.listen({ host, port }, () => resolve(s));
    });
  for (;;) {
    const first = await listen(hosts[0], 0);
    const port = first.address().port;
    const rest = await Promise.all(hosts.slice(1).map((h) => listen(h, port)));
    await Promise.all([first, ...rest].filter(Boolean).map((s) => new Promise((r) => s.close(r))));
    if (rest.every(Boolean)) return port;
  }
}

const dns = await TestDnsServer.start();
try {
  const xml = readFileSync(new URL('../stacks/tcp-dns.xml', import.meta.url), 'utf8');
  const query = 'my-app.default.svc.cluster.local';
  dns.set(query, { A: hosts });
  const times = { second: [], third: [], first: [] };
  for (let r = 0; r < runs; r++) {
    const cluster = `bench-dns-join-${process.pid}-${r}`;
    // Only the port differs from the defaults: one free on all three addresses, so that nothing else on 7800 matters.
    const port = String(await sharedPort());
    const chs = ['A', 'B', 'C'].map((n, i) =>
      new Channel(
        stackFromXml(xml, {
          source: 'tcp-dns.xml',
          env: { TSGROUPS_BIND_ADDR: hosts[i], TSGROUPS_BIND_PORT: port, TSGROUPS_DNS_QUERY: query, TSGROUPS_DNS_ADDRESS: dns.address },
        }),
      ).setName(n),
    );
    try {
      for (const [i, ch] of chs.entries()) {
        const t0 = performance.now();
        await ch.connect(cluster);
        times[['first', 'second', 'third'][i]].push(performance.now() - t0);
      }
      if (chs[2].getView().size() !== 3) throw new Error(`C's view: ${chs[2].getView()}`);
    } finally {
      for (const ch of chs.reverse()) await ch.close();
    }
  }
  const median = (a) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
  for (const k of ['first', 'second', 'third']) {
    const a = times[k];
    console.log(`${k} member connect(): median ${median(a).toFixed(0)} ms, range ${Math.min(...a).toFixed(0)}–${Math.max(...a).toFixed(0)} ms (${a.map((x) => x.toFixed(0)).join(', ')})`);
  }
} finally {
  await dns.close();
  rmSync(tmp, { recursive: true, force: true });
}
