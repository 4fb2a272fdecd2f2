import { startBenchCluster } from './bench-cluster.js';
import { mediumLabel } from './tcp-member-env.js';
import { killAll, type MemberProcess, stopMember } from './member-process.js';
import type { RpcPerfFigure, RpcPerfTest } from './rpc-perf-calls.js';

export interface RpcPerfOptions {
  /** Member processes (at least 2: one calls, the others answer). */
  processes: number;
  /** Sequential unicast calls, for each of GET_ALL and GET_FIRST. */
  calls: number;
  /** Sequential calls to all members (GET_ALL). */
  callsAll: number;
  /** Unicast calls made with `inFlight` of them outstanding. */
  asyncCalls: number;
  inFlight: number;
  cluster: string;
  /** The stack file (default: the member command's, stacks/udp.xml). */
  stack?: string;
  /** The compiled CLI that runs `member` (default: dist/main.js next to this module). */
  cli?: string;
  /** Bounds the calling member's whole benchmark, warm-up included (ms). */
  timeoutMs: number;
  out: (line: string) => void;
}

export interface RpcPerfRunResult {
  figures: RpcPerfFigure[];
  /** Every test completed all of its calls. */
  complete: boolean;
}

/** How the table names each test. */
const LABELS: Record<RpcPerfTest, (n: number, f: RpcPerfFigure) => string> = {
  unicast_GET_ALL: () => 'unicast, sequential, GET_ALL',
  unicast_GET_FIRST: () => 'unicast, sequential, GET_FIRST',
  all_GET_ALL: (n) => `all ${n} members, sequential, GET_ALL`,
  async: (_, f) => `unicast, ${f.inFlight} in flight, GET_ALL`,
};

/**
 * The RPC benchmark of the JGroups 5 anchor (shared/anchors/jgroups5, JgPerf5 `rpc` and
 * `async`), one process per member as there: `processes` `tsgroups member` processes over
 * stacks/udp.xml (127.0.0.1, TTL 0, a multicast group and port of this run's own) form a
 * cluster, each serving `ping(int)` through an RpcDispatcher; once all share one view the first
 * (the coordinator) runs every test (`rpcperf` command, see rpc-perf-calls.ts) and the table of
 * its figures is printed. Every child is gone when it returns.
 */
export async function runRpcPerf(o: RpcPerfOptions): Promise<RpcPerfRunResult> {
  const procs: MemberProcess[] = [];
  try {
    await startBenchCluster(
      o,
      procs,
      (group) =>
        `perf rpc: ${o.processes} member processes over ${mediumLabel(o.stack, group)}` +
        `${o.stack ? ` with ${o.stack}` : ''}; P0 calls ping(int) (GET_ALL/GET_FIRST, 10 s per call), a warm-up of 1/4 of each test first`,
    );
    const first = procs[0]!;

    const from = first.lines.length;
    first.send(`rpcperf ${o.calls} ${o.callsAll} ${o.asyncCalls} ${o.inFlight} ${o.timeoutMs}`);
    // The calling member stops at its timeout, plus at most one call's 10 s timeout.
    const r = await first.waitForLine((l) => l.event === 'rpcperf', Math.min(2 ** 31 - 1, o.timeoutMs + 30_000), `${first.name}'s rpcperf result`, from);
    const figures = r.figures ?? [];
    const complete = r.complete === true;
    for (const line of table(figures, r.viewSize ?? o.processes)) o.out(line);
    o.out(`perf rpc: ${complete ? 'every call answered' : `INCOMPLETE (${r.error ?? 'no reason given'})`}`);
    for (const p of [...procs].reverse()) await stopMember(p);
    return { figures, complete };
  } finally {
    await killAll(procs);
  }
}

/** The figures as an aligned table; `-` where a test has no latencies. */
function table(figures: RpcPerfFigure[], n: number): string[] {
  const rows = [
    ['test', 'calls', 'calls/s', 'avg us', 'p50 us', 'p99 us'],
    ...figures.map((f) => [
      LABELS[f.test](n, f),
      f.completed === f.calls ? String(f.calls) : `${f.completed}/${f.calls}`,
      String(f.callsPerSec),
      f.avgUs.toFixed(1),
      f.p50Us === undefined ? '-' : String(f.p50Us),
      f.p99Us === undefined ? '-' : String(f.p99Us),
    ]),
  ];
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  return rows.map((r) => `  ${r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join('  ')}`);
}
