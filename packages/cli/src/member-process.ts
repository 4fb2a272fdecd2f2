import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { RspLine } from './member-rpc.js';
import type { RpcPerfFigure } from './rpc-perf-calls.js';

/** A line printed by `tsgroups member` (see member.ts), with the time the parent received it. */
export interface MemberLine {
  name: string;
  t: number;
  event: string;
  /** When this process received the line (Date.now()). */
  at: number;
  address?: string;
  id?: string;
  coord?: string;
  members?: string[];
  addresses?: string[];
  merge?: boolean;
  member?: string;
  message?: string;
  cmd?: string;
  from?: string[];
  /** `report`: per sender, what arrived of its bursts. */
  streams?: Record<string, { multicasts: number; unicasts: number; duplicates: number; outOfOrder: number }>;
  /** `sent`: what a burst sent. */
  multicasts?: number;
  unicasts?: number;
  /** `report`: datagrams DISCARD dropped, messages NAKACK2/UNICAST3 resent. */
  dropped?: number;
  retransmitted?: number;
  /** `perf`: the view size, messages sent and their size, perf multicasts received of expected, and the rate. */
  viewSize?: number;
  sent?: number;
  size?: number;
  received?: number;
  expected?: number;
  elapsedMs?: number;
  rate?: number;
  /** `perf`: the member process's peak resident set so far (KiB). */
  maxRssKiB?: number;
  /** `handler`: a `work` call's tag, start or end, and whether this member was slow for it (see member-rpc.ts). */
  tag?: string;
  phase?: 'start' | 'end';
  slow?: boolean;
  /** `rsps`: the call's response mode, how many answered, and each destination's response by name (`id` names the call). */
  mode?: string;
  numReceived?: number;
  rsps?: Record<string, RspLine>;
  /** `rpcperf`: the member the unicast calls went to, each test's figures, whether all completed, and why not. */
  target?: string;
  figures?: RpcPerfFigure[];
  complete?: boolean;
  error?: string;
  /** `map`: what the map command did (start, put, show), `count` keys put, the map's digest (its size in `size`). */
  op?: string;
  count?: number;
  digest?: string;
  /** `stats`: every protocol's stats by protocol name, the process's memory, messages delivered per sender, the latest string messages. */
  stats?: Record<string, Record<string, number>>;
  memory?: { rss: number; heapUsed: number };
  delivered?: Record<string, number>;
  texts?: { from: string; text: string }[];
}

/** A view as a member printed it. */
export type ViewLine = MemberLine & { id: string; coord: string; members: string[]; addresses: string[]; merge: boolean };

/** A multicast group and port of a run's own, so parallel runs cannot cross-talk. */
export interface McastGroup {
  addr: string;
  port: number;
}

const rnd = (n: number) => Math.floor(Math.random() * n);

/** 239.x.y.z (x in 1..200, so well-known 239.255/16 groups are avoided) and a port in 20000-60000. */
export function randomMcastGroup(): McastGroup {
  return { addr: `239.${1 + rnd(200)}.${rnd(256)}.${1 + rnd(254)}`, port: 20_000 + rnd(40_001) };
}

/**
 * The environment for members over stacks/udp.xml: everything on 127.0.0.1, TTL 0, `group`,
 * and the given failure detection and merge timings.
 */
export function udpMemberEnv(
  group: McastGroup,
  t: { fdInterval?: string; fdTimeout?: string; mergeMin?: string; mergeMax?: string; discovery?: string } = {},
): Record<string, string> {
  return {
    TSGROUPS_BIND_ADDR: '127.0.0.1',
    TSGROUPS_BIND_PORT: '0',
    TSGROUPS_MCAST_ADDR: group.addr,
    TSGROUPS_MCAST_PORT: String(group.port),
    TSGROUPS_IP_TTL: '0',
    TSGROUPS_FD_INTERVAL: t.fdInterval ?? '500ms',
    TSGROUPS_FD_TIMEOUT: t.fdTimeout ?? '3s',
    TSGROUPS_MERGE_MIN_INTERVAL: t.mergeMin ?? '1s',
    TSGROUPS_MERGE_MAX_INTERVAL: t.mergeMax ?? '2s',
    ...(t.discovery ? { TSGROUPS_DISCOVERY_TIMEOUT: t.discovery } : {}),
  };
}

/** The compiled `tsgroups` command next to this module (dist/main.js). */
export const defaultCliPath = (): string => fileURLToPath(new URL('./main.js', import.meta.url));

export interface SpawnMemberOptions {
  name: string;
  cluster: string;
  /** Variables for the stack (see {@link udpMemberEnv}); added to this process's environment. */
  env: Record<string, string>;
  /** The stack file (default: the member command's default, stacks/udp.xml). */
  stack?: string;
  /** The compiled CLI (default: dist/main.js next to this module). */
  cli?: string;
  /** Called with every JSON line the member prints. */
  onLine?: (line: MemberLine) => void;
}

/**
 * A `tsgroups member` child process: send it commands, wait for the JSON lines it prints.
 * `kill()` and `exit` let the owner make sure it is gone.
 */
export class MemberProcess {
  readonly name: string;
  readonly child: ChildProcess;
  readonly lines: MemberLine[] = [];
  /** What the child wrote to stderr, and stdout lines that were not JSON. */
  readonly stderr: string[] = [];
  /** Resolves with the exit code (null if killed by a signal) once the child exited and its pipes closed. */
  readonly exit: Promise<number | null>;
  private closed = false;
  private readonly waiters = new Set<() => void>();

  constructor(o: SpawnMemberOptions) {
    this.name = o.name;
    const args = [o.cli ?? defaultCliPath(), 'member', '--name', o.name, '--cluster', o.cluster];
    if (o.stack) args.push('--stack', o.stack);
    // TSGROUPS_MEMBER_NODE_ARGS: node flags for the members only (e.g. --cpu-prof), which NODE_OPTIONS refuses.
    const nodeArgs = (process.env.TSGROUPS_MEMBER_NODE_ARGS ?? '').split(/\s+/).filter(Boolean);
    this.child = spawn(process.execPath, [...nodeArgs, ...args], {
      env: { ...process.env, TSGROUPS_LOG: process.env.TSGROUPS_LOG ?? 'error', ...o.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    this.child.stdin!.on('error', () => undefined); // EPIPE after the child died
    this.exit = new Promise((resolve) =>
      this.child.once('close', (code) => {
        this.closed = true;
        this.wake();
        resolve(code);
      }),
    );
    createInterface({ input: this.child.stdout! }).on('line', (text) => {
      let line: MemberLine;
      try {
        line = { ...JSON.parse(text), at: Date.now() };
      } catch {
        this.stderr.push(`stdout: ${text}`);
        return;
      }
      this.lines.push(line);
      o.onLine?.(line);
      this.wake();
    });
    createInterface({ input: this.child.stderr! }).on('line', (l) => this.stderr.push(l));
  }

  /** True until the child has exited. */
  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null && !this.closed;
  }

  /** Sends one command line (connect, disconnect, partition A,B, heal, exit). */
  send(command: string): void {
    if (this.child.stdin?.writable) this.child.stdin.write(`${command}\n`);
  }

  kill(signal: NodeJS.Signals = 'SIGKILL'): void {
    if (this.running) this.child.kill(signal);
  }

  /** Every view line so far. */
  views(): ViewLine[] {
    return this.lines.filter((l): l is ViewLine => l.event === 'view');
  }
  lastView(): ViewLine | undefined {
    const v = this.views();
    return v[v.length - 1];
  }
  /** The address of the latest `ready` line. */
  address(): string | undefined {
    for (let i = this.lines.length - 1; i >= 0; i--) if (this.lines[i]!.event === 'ready') return this.lines[i]!.address;
    return undefined;
  }

  /**
   * Waits for the first line from index `from` on that satisfies `pred`.
   * @throws Error after `timeoutMs`, or if the child exits first
   */
  async waitForLine(pred: (l: MemberLine) => boolean, timeoutMs: number, what: string, from = 0): Promise<MemberLine> {
    let found: MemberLine | undefined;
    await this.waitUntil(
      () => {
        for (let i = from; i < this.lines.length; i++) {
          if (pred(this.lines[i]!)) {
            found = this.lines[i]!;
            return true;
          }
        }
        return false;
      },
      timeoutMs,
      what,
    );
    return found!;
  }

  /** Waits until `cond()` holds, re-checked whenever this child prints a line. */
  waitUntil(cond: () => boolean, timeoutMs: number, what: string): Promise<void> {
    return waitForAll([this], cond, timeoutMs, what);
  }

  private wake(): void {
    for (const w of [...this.waiters]) w();
  }

  /** @internal */
  addWaiter(w: () => void): () => void {
    this.waiters.add(w);
    return () => this.waiters.delete(w);
  }

  describe(): string {
    const v = this.lastView();
    const err = this.stderr.length ? ` stderr: ${this.stderr.slice(-5).join(' | ')}` : '';
    return `${this.name}${this.running ? '' : ' (exited)'}: ${v ? `${v.id} [${v.members.join(',')}]` : 'no view'}${err}`;
  }
}

/**
 * Waits until `cond()` holds; re-checked whenever one of `procs` prints a line or exits.
 * @throws Error after `timeoutMs`, naming `what` and each process's last view
 */
export function waitForAll(procs: MemberProcess[], cond: () => boolean, timeoutMs: number, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const removers: (() => void)[] = [];
    const finish = (err?: Error) => {
      clearTimeout(timer);
      for (const r of removers) r();
      if (err) reject(err);
      else resolve();
    };
    const check = () => {
      let ok = false;
      try {
        ok = cond();
      } catch (err) {
        finish(err as Error);
        return;
      }
      if (ok) finish();
    };
    const timer = setTimeout(
      () => finish(new Error(`timed out after ${timeoutMs} ms waiting for ${what}:\n  ${procs.map((p) => p.describe()).join('\n  ')}`)),
      timeoutMs,
    );
    for (const p of procs) removers.push(p.addWaiter(check));
    check();
  });
}

/**
 * Asks a member to leave and exit (`exit` command), and SIGKILLs it if it has not exited after
 * `timeoutMs`. Resolves with its exit code (null if it had to be killed).
 */
export async function stopMember(p: MemberProcess, timeoutMs = 5000): Promise<number | null> {
  p.send('exit');
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'late'>((r) => (timer = setTimeout(() => r('late'), timeoutMs)));
  const r = await Promise.race([p.exit, late]);
  clearTimeout(timer);
  if (r === 'late') p.kill('SIGKILL');
  return p.exit;
}

/** SIGKILLs every member still running and waits until all have exited. */
export async function killAll(procs: MemberProcess[]): Promise<void> {
  for (const p of procs) p.kill('SIGKILL');
  await Promise.all(procs.map((p) => p.exit));
}

/** True if the latest view of every one of `procs` has the same id and exactly `names` (any order). */
export function agreeOn(procs: MemberProcess[], names: string[]): boolean {
  const want = [...names].sort().join();
  const first = procs[0]?.lastView();
  if (!first) return false;
  return procs.every((p) => {
    const v = p.lastView();
    return v !== undefined && v.id === first.id && [...v.members].sort().join() === want && v.addresses.join() === first.addresses.join();
  });
}
