import { type McastGroup, type MemberLine, MemberProcess, randomMcastGroup, udpMemberEnv, waitForAll } from './member-process.js';
import { freePorts, isTcpStack, tcpMemberEnv } from './tcp-member-env.js';

export interface BenchClusterOptions {
  /** Member processes, named P0, P1 ... */
  processes: number;
  cluster: string;
  /** The stack file (default: the member command's, stacks/udp.xml). */
  stack?: string | undefined;
  /** The compiled CLI that runs `member` (default: dist/main.js next to this module). */
  cli?: string | undefined;
  out: (line: string) => void;
}

/**
 * Starts the member processes of a benchmark (`perf --processes`, `perf rpc`) and waits until
 * they share one view: over stacks/udp.xml on 127.0.0.1 with a multicast group and port of this
 * run's own, the first as coordinator, the others joining it. Failure detection is loose enough
 * for members busy for seconds on a small machine, merges quick so that members started together
 * soon share one view. `header(group)` is printed first; errors and suspicions of the members as
 * they come. The processes are pushed to `procs` as they start, so that the caller's `finally`
 * can kill them whatever happens.
 */
export async function startBenchCluster(o: BenchClusterOptions, procs: MemberProcess[], header: (group: McastGroup) => string): Promise<void> {
  const group = randomMcastGroup();
  const env = udpMemberEnv(group, { fdInterval: '2s', fdTimeout: '30s', mergeMin: '1s', mergeMax: '2s' });
  const showError = (l: MemberLine) => {
    if (l.event === 'error') o.out(`  ${l.name} error: ${l.message}`);
    else if (l.event === 'suspect') o.out(`  ${l.name} suspects ${l.member}`);
  };
  // Over TCP each member listens on a port of this run's own, and TCPPING lists them all.
  const tcpPorts = isTcpStack(o.stack) ? await freePorts(o.processes) : null;
  const start = (name: string) => {
    const memberEnv = tcpPorts === null ? env : { ...env, ...tcpMemberEnv(tcpPorts, procs.length) };
    const p = new MemberProcess({ name, cluster: o.cluster, env: memberEnv, stack: o.stack, cli: o.cli, onLine: showError });
    procs.push(p);
    return p;
  };
  o.out(header(group));
  if (tcpPorts !== null) o.out(`  over TCP: members on 127.0.0.1 ports ${tcpPorts.join(', ')} (TCPPING lists them all)`);
  const first = start('P0');
  await first.waitForLine((l) => l.event === 'ready', 20_000, `${first.name} ready`);
  for (let i = 1; i < o.processes; i++) start(`P${i}`);
  await waitForAll(procs, () => oneView(procs, o.processes), 30_000, `one view of all ${o.processes} members`);
}

/**
 * True if every one of `procs` has installed the same view, of exactly their addresses. Compares
 * addresses, not names: a member may print a view before it learnt another's logical name.
 */
export function oneView(procs: MemberProcess[], n: number): boolean {
  const want = procs.map((p) => p.address()).sort().join();
  const first = procs[0]?.lastView();
  if (!first || first.addresses.length !== n || [...first.addresses].sort().join() !== want) return false;
  return procs.every((p) => {
    const v = p.lastView();
    return v !== undefined && v.id === first.id && v.addresses.join() === first.addresses.join();
  });
}
