// Helpers for the tests that run members as `tsgroups member` processes (packages/cli/dist, built
// by `pnpm test` before jest runs) over stacks/udp.xml: 127.0.0.1, TTL 0, a multicast group and
// port of each test's own.
import { fileURLToPath } from 'node:url';
import {
  agreeOn,
  killAll,
  type MemberProcess as MP,
  MemberProcess,
  randomMcastGroup,
  udpMemberEnv,
  waitForAll,
} from '../../packages/cli/src/member-process.js';
import { uniqueCluster } from '../helpers/cluster.js';

export { agreeOn, stopMember, waitForAll } from '../../packages/cli/src/member-process.js';
export type { MemberLine, ViewLine } from '../../packages/cli/src/member-process.js';
export type MemberProc = MP;

/** The compiled CLI the members run. */
export const cli = fileURLToPath(new URL('../../packages/cli/dist/main.js', import.meta.url));

/** Members over udp.xml in one cluster of their own; `stopAll()` in afterEach kills what is left. */
export class MpCluster {
  readonly cluster = uniqueCluster('mp');
  readonly group = randomMcastGroup();
  readonly procs: MemberProcess[] = [];
  readonly env: Record<string, string>;
  /** @param timings failure detection and merge timings (see udpMemberEnv; default FD 500 ms / 3 s, merge 1 s / 2 s) */
  constructor(timings: Parameters<typeof udpMemberEnv>[1] = {}) {
    this.env = udpMemberEnv(this.group, timings);
  }

  start(name: string): MemberProcess {
    const p = new MemberProcess({ name, cluster: this.cluster, env: this.env, cli });
    this.procs.push(p);
    return p;
  }

  /** Starts `names` together and waits until all are connected (`ready`) and share one view of exactly them. */
  async startAll(names: string[], timeoutMs = 10_000): Promise<MemberProcess[]> {
    const ps = names.map((n) => this.start(n));
    await waitForAll(ps, () => ps.every((p) => p.address() !== undefined) && agreeOn(ps, names), timeoutMs, `one view of ${names.join(',')}`);
    return ps;
  }

  /** SIGKILLs every member still running and waits for each to exit. */
  async stopAll(): Promise<void> {
    await killAll(this.procs);
  }
}

/** The median of some numbers. */
export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : Math.round((s[m - 1]! + s[m]!) / 2);
}
