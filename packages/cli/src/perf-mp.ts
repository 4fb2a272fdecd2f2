import { startBenchCluster } from './bench-cluster.js';
import { mediumLabel } from './tcp-member-env.js';
import { killAll, type MemberProcess, stopMember } from './member-process.js';

export interface ProcessPerfOptions {
  /** Member processes. */
  processes: number;
  /** Multicasts each member sends. */
  messages: number;
  /** Bytes per multicast. */
  size: number;
  cluster: string;
  /** The stack file (default: the member command's, stacks/udp.xml). */
  stack?: string;
  /** The compiled CLI that runs `member` (default: dist/main.js next to this module). */
  cli?: string;
  /** How long each member may take to send and receive everything after the start (ms). */
  timeoutMs: number;
  out: (line: string) => void;
}

export interface ProcessPerfResult {
  /** Per member, in start order. */
  members: { name: string; sent: number; received: number; expected: number; elapsedMs: number; rate: number; maxRssKiB: number }[];
  /** Median over the members of their rates (msgs/s delivered, own included). */
  medianRate: number;
  /** The largest peak resident set of the members (MB, 10^6 bytes) when they reported. */
  peakRssMB: number;
  /** True if every member received processes * messages multicasts. */
  complete: boolean;
}

/**
 * The multicast benchmark of the JGroups anchor (shared/anchors/jgroups, JgPerf mcast), one
 * process per member as there: `processes` `tsgroups member` processes over stacks/udp.xml
 * (127.0.0.1, TTL 0, a multicast group and port of this run's own) form a cluster; once all
 * share one view, each is told at the same moment to multicast `messages` messages of `size`
 * bytes (`perf` command) and counts what it receives, its own included, until it has them all.
 * Every child is gone when it returns.
 */
export async function runProcessPerf(o: ProcessPerfOptions): Promise<ProcessPerfResult> {
  const procs: MemberProcess[] = [];
  try {
    await startBenchCluster(
      o,
      procs,
      (group) =>
        `perf: ${o.processes} member processes over ${mediumLabel(o.stack, group)}` +
        `${o.stack ? ` with ${o.stack}` : ''}, each multicasting ${o.messages} msgs of ${o.size} B`,
    );

    const from = procs.map((p) => p.lines.length);
    for (const p of procs) p.send(`perf ${o.messages} ${o.size} ${o.timeoutMs}`);
    const results = await Promise.all(
      procs.map((p, i) => p.waitForLine((l) => l.event === 'perf', Math.min(2 ** 31 - 1, o.timeoutMs + 30_000), `${p.name}'s perf result`, from[i])),
    );
    const members = results.map((l, i) => ({
      name: procs[i]!.name,
      sent: l.sent ?? 0,
      received: l.received ?? 0,
      expected: l.expected ?? 0,
      elapsedMs: l.elapsedMs ?? 0,
      rate: l.rate ?? 0,
      maxRssKiB: l.maxRssKiB ?? 0,
    }));
    const sorted = members.map((m) => m.rate).sort((a, b) => a - b);
    const mid = sorted.length >> 1;
    const medianRate = Math.round(sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2);
    const peakRssMB = Math.round((Math.max(...members.map((m) => m.maxRssKiB)) * 1024) / 1e6);
    const complete = members.every(
      (m) => m.sent === o.messages && m.received === o.processes * o.messages && m.expected === o.processes * o.messages,
    );
    for (const m of members) {
      const cut = m.sent < o.messages ? `; the timeout stopped its sending after ${m.sent} of ${o.messages}` : '';
      o.out(`  ${m.name}: ${m.rate} msgs/s (${m.received}/${m.expected} in ${m.elapsedMs} ms${cut})`);
    }
    o.out(
      `perf: ${o.processes} processes x ${o.messages} msgs of ${o.size} B: ${medianRate} msgs/s delivered per member (median; ` +
        `${sorted[0]}–${sorted[sorted.length - 1]}), peak RSS ${peakRssMB} MB (largest member), ${complete ? 'every member received all' : 'INCOMPLETE'}`,
    );
    for (const p of [...procs].reverse()) await stopMember(p);
    return { members, medianRate, peakRssMB, complete };
  } finally {
    await killAll(procs);
  }
}
