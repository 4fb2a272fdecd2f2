// Benchmark of ReplicatedHashMap writes between processes over stacks/udp.xml (127.0.0.1, TTL 0,
// a multicast group and port of each run's own). Needs a build (`pnpm build`).
//   node scripts/bench-replicated-map.mjs [--members 4] [--keys 10000] [--in-flight 32] [--runs 3] [--modes sync,async]
//     [--value-size 0]   (0: each value is a number; N: a string of N characters)
// Each run starts fresh member processes; every member puts --keys distinct keys, --in-flight at a
// time, all members at once. sync: a put resolves once every member applied it, so the run ends
// when every member's puts resolved. async: a put resolves once sent, so the run ends when every
// member's map holds all members' keys. The figure is the cluster's writes per second: members x
// keys / the time from the start signal to the last member's end (measured by this process).
// Then one more member joins and starts its map (a state transfer of the whole map), and every
// member's map must be the same. Modes alternate run by run; medians and ranges are printed.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';

const facade = new URL('../packages/tsgroups/dist/index.js', import.meta.url).href;
const memberProcess = new URL('../packages/cli/dist/member-process.js', import.meta.url).href;

if (process.argv[2] === 'member') await member(...process.argv.slice(3));
else await bench();

/** One member process: JSON lines out, commands (`go`, `dump`, `exit`) in. */
async function member(name, cluster, mode, keys, inFlight, valueSize) {
  const { Channel, ReplicatedHashMap } = await import(facade);
  const out = (obj) => process.stdout.write(`${JSON.stringify({ name, ...obj })}\n`);
  const channel = new Channel('udp.xml').setName(name);
  const map = new ReplicatedHashMap(channel, { mode, timeout: 120_000 });
  channel.on('view', (v) => out({ event: 'view', size: v.size() }));
  await channel.connect(cluster);
  const t0 = performance.now();
  await map.start(120_000);
  const startMs = performance.now() - t0;
  // The state's size as the wire carried it (the marshalled entries).
  const stateBytes = map.size === 0 ? 0 : channel.getMarshaller().objectToBuffer([...map]).length;
  out({ event: 'ready', size: map.size, startMs, stateBytes });

  for await (const line of createInterface({ input: process.stdin })) {
    const [cmd, arg] = line.split(' ');
    if (cmd === 'go') {
      const total = Number(arg); // every member's keys together
      const all = new Promise((resolve) => {
        const check = () => {
          if (map.size < total) return;
          map.off('put', check);
          resolve();
        };
        map.on('put', check);
        check();
      });
      const value = Number(valueSize) > 0 ? 'v'.repeat(Number(valueSize)) : undefined;
      let next = 0;
      const writer = async () => {
        while (next < keys) {
          const i = next++;
          await map.put(`${name}-${i}`, value ?? i);
        }
      };
      await Promise.all(Array.from({ length: Number(inFlight) }, writer));
      // Sync: every put was applied everywhere. Async: wait until this map has every member's keys.
      if (mode === 'async') await all;
      out({ event: 'done' });
    } else if (cmd === 'dump') {
      const entries = [...map].sort(([a], [b]) => (a < b ? -1 : 1));
      const stat = (proto, name) => channel.getProtocolStack().findProtocol(proto)?.getStats()[name] ?? 0;
      const xmits = stat('NAKACK2', 'xmitsSent') + stat('UNICAST3', 'xmitsSent');
      out({ event: 'dump', size: map.size, digest: createHash('sha256').update(JSON.stringify(entries)).digest('hex').slice(0, 12), xmits });
    } else if (cmd === 'exit') break;
  }
  map.stop();
  await channel.close();
  process.exit(0);
}

async function bench() {
  const { values: o } = parseArgs({
    options: {
      members: { type: 'string', default: '4' },
      keys: { type: 'string', default: '10000' },
      'in-flight': { type: 'string', default: '32' },
      runs: { type: 'string', default: '3' },
      modes: { type: 'string', default: 'sync,async' },
      'value-size': { type: 'string', default: '0' },
    },
  });
  const members = Number(o.members);
  const keys = Number(o.keys);
  const inFlight = Number(o['in-flight']);
  const modes = o.modes.split(',');
  const valueSize = Number(o['value-size']);
  const { randomMcastGroup, udpMemberEnv } = await import(memberProcess);
  console.log(`${members} member processes over udp.xml, ${keys} distinct keys each, ${inFlight} puts in flight per member, ${valueSize > 0 ? `${valueSize}-character values` : 'numbers as values'}, ${o.runs} runs per mode`);
  const mbps = (r) => (r.stateBytes / 1e6 / (r.startMs / 1000)).toFixed(1);
  const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
  const results = Object.fromEntries(modes.map((m) => [m, { rate: [], start: [] }]));
  for (let run = 1; run <= Number(o.runs); run++) {
    for (const mode of modes) {
      const r = await oneRun(mode, members, keys, inFlight, valueSize, udpMemberEnv(randomMcastGroup()));
      results[mode].rate.push(r.rate);
      results[mode].start.push(r);
      console.log(
        `  run ${run} ${mode.padEnd(5)}: ${Math.round(r.rate)} writes/s (${members * keys} in ${r.ms} ms); ` +
          `a joiner fetched ${r.size} entries (${(r.stateBytes / 1e6).toFixed(2)} MB) in ${r.startMs} ms (${mbps(r)} MB/s); ${r.xmits} messages retransmitted`,
      );
    }
  }
  for (const mode of modes) {
    const rates = results[mode].rate;
    const starts = results[mode].start.map((r) => r.startMs);
    const rateOfStart = results[mode].start.map((r) => Number(mbps(r)));
    console.log(
      `${mode}: ${Math.round(median(rates))} writes/s (${Math.round(Math.min(...rates))}-${Math.round(Math.max(...rates))}); ` +
        `state transfer of the map to a joiner: ${median(starts)} ms (${Math.min(...starts)}-${Math.max(...starts)}), ` +
        `${median(rateOfStart)} MB/s (${Math.min(...rateOfStart)}-${Math.max(...rateOfStart)})`,
    );
  }
}

/** Starts `members` processes, lets them write, times it, adds a joiner, checks the maps; every child is gone when it returns. */
async function oneRun(mode, members, keys, inFlight, valueSize, env) {
  const cluster = `bench-map-${process.pid}-${Date.now()}`;
  const procs = [];
  const start = (name) => {
    const child = spawn(process.execPath, [new URL(import.meta.url).pathname, 'member', name, cluster, mode, String(keys), String(inFlight), String(valueSize)], {
      env: { ...process.env, TSGROUPS_LOG: 'error', ...env },
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    const p = { name, child, lines: [], waiters: new Set() };
    child.exited = new Promise((r) => child.once('close', r));
    createInterface({ input: child.stdout }).on('line', (text) => {
      p.lines.push({ ...JSON.parse(text), at: performance.now() });
      for (const w of p.waiters) w();
    });
    procs.push(p);
    return p;
  };
  /** Waits until `cond()` holds, re-checked on every line; gives up after 300 s. */
  const until = (ps, cond, what) =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), 300_000);
      const check = () => {
        if (!cond()) return;
        clearTimeout(timer);
        for (const p of ps) p.waiters.delete(check);
        resolve();
      };
      for (const p of ps) p.waiters.add(check);
      check();
    });
  const last = (p, event) => p.lines.findLast((l) => l.event === event);
  try {
    const names = Array.from({ length: members }, (_, i) => String.fromCharCode(65 + i));
    const writers = [];
    for (const n of names) {
      const p = start(n);
      writers.push(p);
      await until([p], () => last(p, 'ready') !== undefined, `${n} ready`);
    }
    await until(writers, () => writers.every((p) => last(p, 'view')?.size === members), 'one view of all');
    const total = members * keys;
    const t0 = performance.now();
    for (const p of writers) p.child.stdin.write(`go ${total}\n`);
    await until(writers, () => writers.every((p) => last(p, 'done') !== undefined), 'every member done');
    const ms = Math.round(Math.max(...writers.map((p) => last(p, 'done').at)) - t0);

    const joiner = start(String.fromCharCode(65 + members));
    await until([joiner], () => last(joiner, 'ready') !== undefined, 'the joiner ready');
    const ready = last(joiner, 'ready');
    const all = [...writers, joiner];
    for (const p of all) p.child.stdin.write('dump\n');
    await until(all, () => all.every((p) => last(p, 'dump') !== undefined), 'the dumps');
    const dumps = all.map((p) => last(p, 'dump'));
    if (!dumps.every((d) => d.size === total && d.digest === dumps[0].digest)) {
      throw new Error(`the maps differ: ${dumps.map((d) => `${d.name} ${d.size} ${d.digest}`).join(', ')}`);
    }
    for (const p of all) p.child.stdin.write('exit\n');
    await Promise.all(all.map((p) => p.child.exited));
    const xmits = dumps.reduce((sum, d) => sum + d.xmits, 0);
    return { rate: (total / ms) * 1000, ms, size: ready.size, startMs: Math.round(ready.startMs), stateBytes: ready.stateBytes, xmits };
  } finally {
    for (const p of procs) if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
    await Promise.all(procs.map((p) => p.child.exited));
  }
}
