// The driver both benchmarks share: parses the options, runs every workload on every system
// `--runs` times, alternated (run 1 of each workload on each system in turn, then run 2 ...), and
// writes bench-results/<date-time>[-compare].json and .md and prints the table.
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, release } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { resultsTable, summarizeResults, summarizeRuns, formatSummary } from './report.mjs';
import { root } from './systems.mjs';
import { CATEGORIES, workloads } from './workloads.mjs';

/** The JSON files' shape, see README.md. */
export const SCHEMA = 'tsgroups-bench/1';

function usage(kind, systems) {
  return `usage: node scripts/bench/${kind === 'compare' ? 'compare' : 'run'}.mjs [options]   (pnpm ${kind === 'compare' ? 'bench:compare' : 'bench'} -- [options])
  --runs N            runs of each workload (default 3), alternated
  --quick             small counts: a smoke run of the whole suite (runs default to 1)
  --only LIST         categories, comma-separated: ${CATEGORIES.join(',')} (default all)
  --members LIST      member processes of the 1000 B multicast (default 2,4,8)${
    kind === 'compare' ? `\n  --systems LIST      ${systems.map((s) => s.name).join(',')} (default all)` : ''
  }
  --out DIR           where the .json and .md go (default bench-results/)
`;
}

const list = (text) => text.split(',').map((s) => s.trim()).filter(Boolean);

/** Parses `argv`; prints the usage and exits 2 on a bad option. */
export function parseOptions(argv, kind, systems) {
  let values;
  try {
    ({ values } = parseArgs({
      // pnpm passes the `--` of `pnpm bench -- --quick` on.
      args: argv[0] === '--' ? argv.slice(1) : argv,
      options: {
        runs: { type: 'string' },
        quick: { type: 'boolean', default: false },
        only: { type: 'string' },
        members: { type: 'string' },
        systems: { type: 'string' },
        out: { type: 'string' },
        help: { type: 'boolean', default: false },
      },
    }));
  } catch (err) {
    process.stderr.write(`${err.message}\n${usage(kind, systems)}`);
    process.exit(2);
  }
  if (values.help) {
    process.stdout.write(usage(kind, systems));
    process.exit(0);
  }
  const bad = (why) => {
    process.stderr.write(`${why}\n${usage(kind, systems)}`);
    process.exit(2);
  };
  const runs = values.runs === undefined ? (values.quick ? 1 : 3) : Number(values.runs);
  if (!Number.isInteger(runs) || runs < 1 || !/^\d+$/.test(values.runs ?? '1')) bad(`--runs must be a positive integer, got ${values.runs}`);
  const only = values.only === undefined ? CATEGORIES : list(values.only);
  for (const c of only) if (!CATEGORIES.includes(c)) bad(`--only: no category ${c} (${CATEGORIES.join(', ')})`);
  const members = values.members === undefined ? [2, 4, 8] : list(values.members).map(Number);
  for (const n of members) if (!Number.isInteger(n) || n < 2 || n > 25) bad(`--members: each count must be an integer from 2 to 25, got ${values.members}`);
  if (kind !== 'compare' && values.systems !== undefined) bad('--systems applies to bench:compare only');
  const names = values.systems === undefined ? systems.map((s) => s.name) : list(values.systems);
  for (const n of names) if (!systems.some((s) => s.name === n)) bad(`--systems: no system ${n} (${systems.map((s) => s.name).join(', ')})`);
  return { runs, quick: values.quick, only, members, systems: names, out: values.out ?? join(root, 'bench-results') };
}

const stamp = (d) => d.toISOString().replace(/\.\d+Z$/, 'Z').replace(/:/g, '-');

/** The checkout's short commit, `+dirty` when tracked files differ from it (what was built). */
function gitCommit() {
  try {
    const head = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: root, encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], { cwd: root, encoding: 'utf8' }).trim() !== '';
    return dirty ? `${head}+dirty` : head;
  } catch {
    return null;
  }
}

/**
 * Runs the suite: `kind` 'bench' (tsgroups only) or 'compare' (every system in `opts.systems`,
 * with `baseline` for the ratios). Resolves with the exit code: 0 when every tsgroups run completed.
 */
export async function runSuite(kind, allSystems, opts, baseline) {
  const started = new Date();
  const log = (l) => process.stderr.write(`${l}\n`);
  const chosen = allSystems.filter((s) => opts.systems.includes(s.name));
  const missing = {};
  const systems = [];
  for (const s of chosen) {
    const why = s.missing?.() ?? null;
    if (why) {
      missing[s.name] = why;
      log(`bench: ${s.label} LEFT OUT: ${why}`);
    } else systems.push(s);
  }
  const todo = workloads(opts);
  const results = {
    schema: SCHEMA,
    kind,
    startedAt: started.toISOString(),
    finishedAt: null,
    durationS: null,
    git: gitCommit(),
    host: { cpus: cpus().length, cpuModel: cpus()[0]?.model ?? '', node: process.version, kernel: release(), loadavgAtStart: loadavg().map((x) => Math.round(x * 100) / 100) },
    options: { runs: opts.runs, quick: opts.quick, only: opts.only, members: opts.members, systems: opts.systems },
    systems: systems.map((s) => s.name),
    systemLabels: Object.fromEntries(chosen.map((s) => [s.name, s.label])),
    missing,
    baseline: baseline && systems.some((s) => s.name === baseline) ? baseline : null,
    workloads: todo.map(({ figures, ...w }) => ({ ...w, figures, results: {} })),
  };
  log(`bench: ${todo.length} workloads x ${systems.map((s) => s.label).join(', ')}, ${opts.runs} run(s) each, alternated${opts.quick ? ' (quick)' : ''}`);
  let ok = true;
  for (let r = 1; r <= opts.runs; r++) {
    for (const w of results.workloads) {
      for (const s of systems) {
        if (!s.supports(w)) continue;
        const t0 = Date.now();
        const run = await s.run(w);
        run.seconds = Math.round((Date.now() - t0) / 100) / 10;
        (w.results[s.name] ??= { runs: [] }).runs.push(run);
        if (s.name === 'tsgroups' && (run.error || run.complete === false)) ok = false;
        const shown = w.figures
          .filter((f) => run.metrics[f.metric] !== undefined)
          .map((f) => `${f.label} ${formatSummary(summarizeRuns([run])[f.metric], f.unit ?? '')}`)
          .join(', ');
        log(`  [${r}/${opts.runs}] ${w.id} ${s.label}: ${shown || '-'}${run.error ? `  FAILED: ${run.error}` : run.complete === false ? '  INCOMPLETE' : ''} (${run.seconds} s)`);
      }
    }
  }
  const finished = new Date();
  results.finishedAt = finished.toISOString();
  results.durationS = Math.round((finished - started) / 1000);
  summarizeResults(results, results.baseline ?? undefined);
  const md = markdown(results);
  mkdirSync(opts.out, { recursive: true });
  const base = join(opts.out, `${stamp(started)}${kind === 'compare' ? '-compare' : ''}`);
  writeFileSync(`${base}.json`, `${JSON.stringify(results, null, 2)}\n`);
  writeFileSync(`${base}.md`, md);
  process.stdout.write(`${md}\n`);
  log(`bench: wrote ${base}.json and ${base}.md (${results.durationS} s)${ok ? '' : '; some tsgroups runs FAILED or were INCOMPLETE (marked *)'}`);
  return ok ? 0 : 1;
}

function markdown(results) {
  const o = results.options;
  const lines = [
    `# tsgroups ${results.kind === 'compare' ? 'benchmark comparison' : 'benchmarks'}, ${results.startedAt}`,
    '',
    `${results.host.cpus} CPUs (${results.host.cpuModel}), Node ${results.host.node}, Linux ${results.host.kernel}, load at start ${results.host.loadavgAtStart.join(' ')}; ` +
      `commit ${results.git ?? '?'}; ${o.runs} run(s) per workload, alternated${o.quick ? ', --quick counts' : ''}; ${results.durationS} s in all.`,
    '',
    'Median over the runs (min–max). Multicast: msgs/s and MB/s delivered per member (own messages included), median of the members; ' +
      'peak RSS: the largest member process (JVM or Node) of a run. RPC: calls/s and per-call latency (p50/p99) of the calling member. ' +
      '`*`: a run failed or was incomplete; `n/a`: not measured for that system. See scripts/bench/README.md.',
    '',
  ];
  for (const [name, why] of Object.entries(results.missing)) lines.push(`**${results.systemLabels[name] ?? name} left out:** ${why}`, '');
  lines.push(resultsTable(results, results.baseline ?? undefined), '');
  const failures = [];
  for (const w of results.workloads)
    for (const [s, r] of Object.entries(w.results))
      r.runs.forEach((run, i) => {
        if (run.error) failures.push(`- ${w.id}, ${results.systemLabels[s] ?? s}, run ${i + 1}: ${run.error}`);
      });
  if (failures.length) lines.push('Failed runs:', '', ...failures, '');
  return lines.join('\n');
}
