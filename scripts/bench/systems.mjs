// The systems the benchmarks run the workloads on: tsgroups (the CLI's perf commands, member
// processes over stacks/udp.xml), JGroups 5 and JGroups 2.12.2 (the anchors' harnesses) and raw
// Node datagrams (raw-dgram-member.mjs). Each `run(workload)` resolves with one run:
// `{ metrics, complete, error?, ... }` (see README.md); none throws for a failed run.
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { lastJsonLine, runChild, spawnTracked, tail } from './children.mjs';

export const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const cli = join(root, 'packages/cli/dist/main.js');
const MB = 1e6;
const rnd = (n) => Math.floor(Math.random() * n);
/** 239.x.y.z and a port of this run's own (as member-process.ts's randomMcastGroup). */
const randomGroup = () => ({ addr: `239.${1 + rnd(200)}.${rnd(256)}.${1 + rnd(254)}`, port: 20_000 + rnd(40_001) });
const medianOf = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length === 0 ? Number.NaN : s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const kibToMB = (kib) => Math.round((kib * 1024) / MB);
const failed = (error) => ({ metrics: {}, complete: false, error });

/** A temporary folder, removed when the benchmark exits. */
function tempDir(prefix) {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** The anchors' folder: $TSGROUPS_ANCHORS, or ../shared/anchors from the repository root. */
export const anchors = process.env.TSGROUPS_ANCHORS ?? resolve(root, '../shared/anchors');

// ---------------------------------------------------------------------------------------------
// tsgroups

async function tsgroupsCli(args, timeoutMs) {
  const r = await runChild(process.execPath, [cli, ...args, '--json'], { timeoutMs });
  const result = lastJsonLine(r.stdout);
  if (!result) return { error: `tsgroups ${args.join(' ')}: ${r.timedOut ? 'timed out' : `exit ${r.code ?? r.signal}`}: ${tail(r.stderr)}` };
  return { result, code: r.code };
}

export const tsgroups = {
  name: 'tsgroups',
  label: 'tsgroups',
  supports: () => true,
  async run(w) {
    if (w.kind === 'mcast') {
      const { result, error } = await tsgroupsCli(
        ['perf', '--processes', String(w.members), '--messages', String(w.messages), '--size', String(w.size), '--timeout', '300000'],
        420_000,
      );
      if (error) return failed(error);
      return {
        metrics: { msgsPerSec: result.medianRate, mbPerSec: (result.medianRate * w.size) / MB, peakRssMB: result.peakRssMB },
        complete: result.complete,
        members: result.members,
      };
    }
    if (w.kind === 'rpc') {
      const { result, error } = await tsgroupsCli(
        [
          'perf', 'rpc', '--processes', String(w.members), '--calls', String(w.calls), '--calls-all', String(w.callsAll),
          '--async-calls', String(Math.max(1, w.asyncCalls)), '--in-flight', String(w.inFlight), '--timeout', '300000',
        ],
        420_000,
      );
      if (error) return failed(error);
      const fig = (t) => result.figures.find((f) => f.test === t);
      const metrics = {};
      const put = (name, f, key) => {
        if (f && f[key] !== undefined) metrics[name] = f[key];
      };
      put('unicastCallsPerSec', fig('unicast_GET_ALL'), 'callsPerSec');
      put('unicastP50Us', fig('unicast_GET_ALL'), 'p50Us');
      put('unicastP99Us', fig('unicast_GET_ALL'), 'p99Us');
      put('allCallsPerSec', fig('all_GET_ALL'), 'callsPerSec');
      put('allP50Us', fig('all_GET_ALL'), 'p50Us');
      put('allP99Us', fig('all_GET_ALL'), 'p99Us');
      if (w.asyncCalls > 0) put('asyncCallsPerSec', fig('async'), 'callsPerSec');
      return { metrics, complete: result.complete, figures: result.figures };
    }
    if (w.kind === 'inproc') {
      const one = (stack) =>
        tsgroupsCli(['perf', '--members', String(w.members), '--messages', String(w.messages), '--size', String(w.size), '--stack', stack, '--timeout', '300000'], 420_000);
      const minimal = await one('loopback.xml');
      if (minimal.error) return failed(minimal.error);
      const reliable = await one('loopback-reliable.xml');
      if (reliable.error) return failed(reliable.error);
      const a = minimal.result.msgsPerSecPerMember;
      const b = reliable.result.msgsPerSecPerMember;
      return {
        metrics: { minimalMsgsPerSec: a, reliableMsgsPerSec: b, reliableToMinimal: a > 0 ? b / a : Number.NaN, reliablePeakRssMB: reliable.result.peakRssMB },
        complete: minimal.result.delivered === minimal.result.expected && reliable.result.delivered === reliable.result.expected,
        minimal: minimal.result,
        reliable: reliable.result,
      };
    }
    return failed(`no ${w.kind} workload`);
  },
};

// ---------------------------------------------------------------------------------------------
// JGroups (5 through the anchor's run5.sh, 2.12.2 through JgPerf.java and Debian's jar)

/** `key=value` pairs of a RESULT line. */
function resultFields(line) {
  return Object.fromEntries([...line.matchAll(/(\w+)=(\S+)/g)].map((m) => [m[1], m[2]]));
}
const resultLines = (text) => text.split('\n').filter((l) => l.startsWith('RESULT '));

/** Metrics of a JgPerf mcast run from its members' RESULT lines. */
function jgMcast(w, lines, peakRssKiB, label) {
  const results = lines.filter((l) => l.startsWith('RESULT mcast')).map(resultFields);
  if (results.length === 0) return null;
  const rate = medianOf(results.map((r) => Number(r.msgs_per_s)));
  const complete = results.length === w.members && results.every((r) => Number(r.recv) === w.members * w.messages);
  return {
    metrics: { msgsPerSec: Math.round(rate), mbPerSec: (rate * w.size) / MB, ...(peakRssKiB > 0 ? { peakRssMB: kibToMB(peakRssKiB) } : {}) },
    complete,
    ...(complete ? {} : { error: `${label}: ${results.length} of ${w.members} members reported` }),
    members: results,
  };
}

/** Metrics of JgPerf rpc / async RESULT lines (only the coordinator prints them). */
function jgRpcMetrics(lines) {
  const metrics = {};
  for (const l of lines) {
    const f = resultFields(l);
    if (l.includes(' unicast_GET_ALL ')) metrics.unicastCallsPerSec = Number(f.calls_per_s);
    else if (l.includes(' all_GET_ALL ')) metrics.allCallsPerSec = Number(f.calls_per_s);
    else if (l.startsWith('RESULT async')) metrics.asyncCallsPerSec = Number(f.calls_per_s);
  }
  return metrics;
}

function jgroups5System() {
  const run5 = join(anchors, 'jgroups5/run5.sh');
  let classes;
  const invoke = async (n, args, timeoutMs) => {
    // run5.sh prints the RESULT lines of every log in $WORK/logs: a fresh $WORK per run, with
    // JgPerf5 compiled once and copied in (run5.sh compiles only when $WORK has no JgPerf5.class).
    if (!classes) {
      classes = tempDir('tsgroups-bench-jg5-classes-');
      execFileSync('javac', ['-nowarn', '-cp', join(anchors, 'jgroups5/jgroups-5.6.0-SNAPSHOT.jar'), '-d', classes, join(anchors, 'jgroups5/JgPerf5.java')], { stdio: ['ignore', 'ignore', 'inherit'] });
    }
    const work = mkdtempSync(join(tmpdir(), 'tsgroups-bench-jg5-'));
    cpSync(classes, work, { recursive: true });
    const r = await runChild('bash', [run5, String(n), ...args.map(String)], {
      env: { ...process.env, WORK: work, JG_TIMEOUT: String(Math.round(timeoutMs / 1000)) },
      timeoutMs: timeoutMs + 30_000,
      sampleRss: true,
    });
    rmSync(work, { recursive: true, force: true });
    return { ...r, lines: resultLines(r.stdout), why: `run5.sh ${n} ${args.join(' ')}: ${r.timedOut ? 'timed out' : `exit ${r.code ?? r.signal}`}: ${tail(r.stdout + r.stderr)}` };
  };
  return {
    name: 'jgroups5',
    label: 'JGroups 5',
    missing: () => (existsSync(run5) ? (hasJava() ? null : 'no java/javac on the PATH (apt-get install -y openjdk-17-jdk-headless)') : `no ${run5} (set TSGROUPS_ANCHORS)`),
    supports: (w) => w.kind === 'mcast' || w.kind === 'rpc',
    async run(w) {
      if (w.kind === 'mcast') {
        const r = await invoke(w.members, ['mcast', w.members, w.messages, w.size], 300_000);
        return jgMcast(w, r.lines, r.peakRssKiB, 'JGroups 5') ?? failed(r.why);
      }
      const rpc = await invoke(w.members, ['rpc', w.members, w.calls, w.callsAll, 0], 300_000);
      if (rpc.lines.length === 0) return failed(rpc.why);
      const metrics = jgRpcMetrics(rpc.lines);
      if (w.asyncCalls > 0) {
        const a = await invoke(w.members, ['async', w.members, w.asyncCalls, w.inFlight], 300_000);
        if (a.lines.length === 0) return { metrics, complete: false, error: a.why };
        Object.assign(metrics, jgRpcMetrics(a.lines));
      }
      return { metrics, complete: rpc.code === 0 };
    },
  };
}

const JGROUPS2_JAR = '/usr/share/java/jgroups.jar';
/** The most sequential calls to all members JGroups 2.12.2 makes per run (see its rpc run). */
const JG2_CALLS_ALL = 300;

function hasJava() {
  try {
    execFileSync('javac', ['-version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/**
 * JGroups 2.12.2 needs Debian's libjgroups-java: installed here with apt-get when this runs as
 * root and it is missing; otherwise the system is left out and the reason said.
 */
function ensureJgroups2() {
  if (existsSync(JGROUPS2_JAR) && hasJava()) return null;
  if (process.getuid?.() !== 0) return `no ${JGROUPS2_JAR} or javac (as root: apt-get install -y libjgroups-java openjdk-17-jdk-headless)`;
  process.stderr.write('bench: installing libjgroups-java and openjdk-17-jdk-headless for JGroups 2.12.2 ...\n');
  try {
    execFileSync('apt-get', ['install', '-y', '-q', 'libjgroups-java', 'openjdk-17-jdk-headless'], { stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  } catch (err) {
    return `apt-get install -y libjgroups-java openjdk-17-jdk-headless failed: ${err.message}`;
  }
  return existsSync(JGROUPS2_JAR) && hasJava() ? null : `${JGROUPS2_JAR} or javac still missing after apt-get`;
}

function jgroups2System() {
  const src = join(anchors, 'jgroups');
  let work;
  let missing;
  /** JgPerf compiled in a folder of our own (the anchors are read-only). */
  const prepare = () => {
    if (work) return;
    work = tempDir('tsgroups-bench-jg2-');
    execFileSync('javac', ['-nowarn', '-cp', JGROUPS2_JAR, '-d', work, join(src, 'JgPerf.java')], { stdio: ['ignore', 'ignore', 'inherit'] });
  };
  /** udp-lo.xml with this run's own group (its mcast_addr is fixed; the port is a property). */
  const config = (group) => {
    const xml = readFileSync(join(src, 'udp-lo.xml'), 'utf8').replace(/mcast_addr="[^"]*"/, `mcast_addr="${group.addr}"`);
    const file = join(work, `udp-lo-${group.port}.xml`);
    writeFileSync(file, xml);
    return file;
  };
  /** N member JVMs (as the anchor's run.sh: 0.3 s apart), each's stdout and peak RSS. */
  const invoke = async (n, args, timeoutMs) => {
    prepare();
    const group = randomGroup();
    const cfg = config(group);
    const jopts = ['-Xms1g', '-Xmx2g', '-Djava.net.preferIPv4Stack=true', '-Djgroups.bind_addr=127.0.0.1', `-Djgroups.udp.mcast_port=${group.port}`];
    const runs = [];
    for (let i = 0; i < n; i++) {
      runs.push(runChild('java', [...jopts, '-cp', `${JGROUPS2_JAR}:${work}`, 'JgPerf', args[0], cfg, ...args.slice(1).map(String)], { timeoutMs, sampleRss: true }));
      await new Promise((r) => setTimeout(r, 300));
    }
    const rs = await Promise.all(runs);
    const lines = rs.flatMap((r) => resultLines(r.stdout));
    const bad = rs.find((r) => r.code !== 0);
    return {
      lines,
      peakRssKiB: Math.max(...rs.map((r) => r.peakRssKiB)),
      code: bad ? (bad.code ?? 1) : 0,
      why: `JgPerf ${args.join(' ')}: ${bad ? `${bad.timedOut ? 'timed out' : `exit ${bad.code ?? bad.signal}`}: ${tail(bad.stdout + bad.stderr)}` : 'no RESULT line'}`,
    };
  };
  return {
    name: 'jgroups2',
    label: 'JGroups 2.12.2',
    missing: () => (missing === undefined ? (missing = existsSync(join(src, 'JgPerf.java')) ? ensureJgroups2() : `no ${src}/JgPerf.java (set TSGROUPS_ANCHORS)`) : missing),
    supports: (w) => w.kind === 'mcast' || w.kind === 'rpc',
    async run(w) {
      if (w.kind === 'mcast') {
        const r = await invoke(w.members, ['mcast', w.members, w.messages, w.size], 300_000);
        return jgMcast(w, r.lines, r.peakRssKiB, 'JGroups 2.12.2') ?? failed(r.why);
      }
      // JgPerf (2.12.2) has no async mode. Its sequential calls to all run at ~30/s here (the
      // anchor's bench_all.sh makes 300 of them): at most JG2_CALLS_ALL, so that a run ends.
      const callsAll = Math.min(w.callsAll, JG2_CALLS_ALL);
      const r = await invoke(w.members, ['rpc', w.members, w.calls, callsAll, 0], 300_000);
      if (r.lines.length === 0) return failed(r.why);
      return { metrics: jgRpcMetrics(r.lines), complete: r.code === 0, callsAll };
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Raw Node datagrams

const rawMember = join(root, 'scripts/bench/raw-dgram-member.mjs');
/** The largest UDP payload over IPv4. */
const MAX_DATAGRAM = 65_507;

export const raw = {
  name: 'raw',
  label: 'raw Node dgram',
  supports: (w) => w.kind === 'mcast' && w.size <= MAX_DATAGRAM,
  async run(w) {
    const group = randomGroup();
    const procs = [];
    const timeoutMs = 120_000;
    try {
      const lines = [];
      for (let i = 0; i < w.members; i++) {
        const child = spawnTracked(process.execPath, [rawMember, group.addr, String(group.port), String(w.members), String(w.messages), String(w.size)]);
        const mine = [];
        lines.push(mine);
        let stderr = '';
        child.stderr.on('data', (d) => (stderr += d));
        createInterface({ input: child.stdout }).on('line', (l) => {
          try {
            mine.push(JSON.parse(l));
          } catch {
            // not ours
          }
        });
        procs.push({ child, lines: mine, stderr: () => stderr, exited: new Promise((r) => child.once('close', r)) });
      }
      const until = async (cond, what) => {
        const deadline = Date.now() + timeoutMs;
        while (!cond()) {
          if (Date.now() > deadline) throw new Error(`raw datagrams: timed out waiting for ${what}`);
          await new Promise((r) => setTimeout(r, 20));
        }
      };
      await until(() => procs.every((p) => p.lines.some((l) => l.event === 'ready') || p.child.exitCode !== null), 'ready');
      for (const p of procs) p.child.stdin.write('go\n');
      let timer;
      await Promise.race([Promise.all(procs.map((p) => p.exited)), new Promise((r) => (timer = setTimeout(r, timeoutMs)))]);
      clearTimeout(timer);
      const results = procs.map((p) => p.lines.find((l) => l.event === 'result'));
      if (results.some((r) => !r)) return failed(`raw datagrams: a member gave no result: ${procs.map((p) => tail(p.stderr(), 2)).join(' / ')}`);
      const rate = medianOf(results.map((r) => r.rate));
      return {
        metrics: {
          msgsPerSec: Math.round(rate),
          mbPerSec: (rate * w.size) / MB,
          peakRssMB: kibToMB(Math.max(...results.map((r) => r.maxRssKiB))),
          lossPct: medianOf(results.map((r) => r.loss * 100)),
        },
        // No reliability: losses are the measurement, not a failure.
        complete: true,
        members: results,
      };
    } catch (err) {
      return failed(String(err?.message ?? err));
    } finally {
      for (const p of procs) p.child.kill('SIGKILL');
      await Promise.all(procs.map((p) => p.exited));
    }
  },
};

/** Every system, in the order compare.mjs alternates them. */
export function allSystems() {
  return [tsgroups, jgroups5System(), jgroups2System(), raw];
}
