// SEQUENCER between processes over stacks/sequencer.xml: 4 members write the same keys at once
// and end with the same map and the same delivery order; the coordinator (the sequencer) gets
// SIGKILL in the middle of the burst, and the survivors still agree, none of their writes lost
// or applied twice.
import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { randomMcastGroup, udpMemberEnv } from '../../packages/cli/src/member-process.js';
import { killChildren } from '../helpers/children.js';
import { uniqueCluster, waitUntil } from '../helpers/cluster.js';

const fixture = fileURLToPath(new URL('./fixtures/sequencer-member.mjs', import.meta.url));

interface Line {
  name: string;
  event: string;
  delivered?: string[] | number;
  map?: Record<string, string>;
  view?: string[];
  stats?: Record<string, number>;
  message?: string;
}

class Member {
  readonly lines: Line[] = [];
  constructor(readonly name: string, readonly child: ChildProcess) {
    createInterface({ input: child.stdout! }).on('line', (text) => {
      try {
        this.lines.push(JSON.parse(text) as Line);
      } catch {
        // not ours
      }
    });
  }
  has(event: string): boolean {
    return this.lines.some((l) => l.event === event);
  }
  progress(): number {
    let n = 0;
    for (const l of this.lines) if (l.event === 'progress') n = Math.max(n, l.delivered as number);
    return n;
  }
  /** Asks for a report and waits for it. */
  async report(): Promise<Line> {
    const from = this.lines.length;
    this.child.stdin!.write('report\n');
    await waitUntil(() => this.lines.slice(from).some((l) => l.event === 'report'), 10_000, `${this.name}'s report`);
    return this.lines.slice(from).find((l) => l.event === 'report')!;
  }
}

const children: ChildProcess[] = [];
afterEach(async () => {
  await killChildren(children);
});

const KEYS = 100;

function start(name: string, cluster: string, env: Record<string, string>, members: number, writes: number, loss: number): Member {
  const child = spawn(process.execPath, [fixture, name, cluster, String(members), String(KEYS), String(writes), String(loss)], {
    env: { ...process.env, ...env },
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  children.push(child);
  return new Member(name, child);
}

/** Starts the members one after another (the first is the coordinator, so the sequencer). */
async function startAll(names: string[], writes: number, loss = 0): Promise<Member[]> {
  const env = { ...udpMemberEnv(randomMcastGroup()), TSGROUPS_XMIT_INTERVAL: '100ms' };
  const cluster = uniqueCluster('seqmp');
  const members: Member[] = [];
  for (const n of names) {
    const m = start(n, cluster, env, names.length, writes, loss);
    members.push(m);
    // The next one starts once this one is in (the first alone, the others joined).
    await waitUntil(() => m.has('connected') || m.has('error'), 30_000, `${n} connected`);
  }
  return members;
}

/**
 * Reports from every member, asked again until all are in a view of just them and delivered the
 * same number of writes, at least `min`.
 */
async function agreedReports(members: Member[], min: number, ms: number): Promise<Line[]> {
  const deadline = Date.now() + ms;
  for (;;) {
    const reports = await Promise.all(members.map((m) => m.report()));
    const counts = reports.map((r) => (r.delivered as string[]).length);
    const settled = reports.every((r) => r.view?.length === members.length) && counts.every((c) => c === counts[0]) && counts[0]! >= min;
    if (settled || Date.now() > deadline) return reports;
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** Each writer's writes, numbered from 0 without a gap or a repeat, in its order. */
function perWriter(order: string[]): Map<string, number> {
  const next = new Map<string, number>();
  for (const w of order) {
    const [writer, i] = w.split(':') as [string, string];
    expect(Number(i)).toBe(next.get(writer) ?? 0);
    next.set(writer, Number(i) + 1);
  }
  return next;
}

test('4 processes write the same 100 keys at once: the same order and the same map everywhere', async () => {
  const W = 1000;
  const members = await startAll(['A', 'B', 'C', 'D'], W);
  await waitUntil(() => members.every((m) => m.has('sent') || m.has('error')), 60_000, 'the writes sent');
  expect(members.flatMap((m) => m.lines.filter((l) => l.event === 'error'))).toEqual([]);
  const reports = await agreedReports(members, 4 * W, 30_000);
  const order = reports[0]!.delivered as string[];
  expect(order.length).toBe(4 * W);
  for (const r of reports) {
    expect({ name: r.name, delivered: r.delivered }).toEqual({ name: r.name, delivered: order });
    expect(r.map).toEqual(reports[0]!.map);
  }
  expect(Object.keys(reports[0]!.map!).length).toBe(KEYS);
  expect(Object.fromEntries(perWriter(order))).toEqual({ A: W, B: W, C: W, D: W });
  // The writes did interleave: the order is not one writer after another.
  const switches = order.filter((w, i) => i > 0 && w[0] !== order[i - 1]![0]).length;
  expect(switches).toBeGreaterThan(3);
}, 120_000);

test.each([
  ['', 0],
  [', with 5% loss each way', 0.05],
])('the sequencer process gets SIGKILL in the middle of the burst%s: the survivors agree, none lost, none twice', async (_what, loss) => {
  const W = 3000;
  const members = await startAll(['A', 'B', 'C', 'D'], W, loss);
  const [a, ...survivors] = members as [Member, ...Member[]];
  // Kill A once the burst is well under way, before anyone finished it.
  await waitUntil(() => survivors.some((m) => m.progress() >= 1000), 60_000, 'the burst under way');
  a.child.kill('SIGKILL');
  await waitUntil(() => survivors.every((m) => m.has('sent') || m.has('error')), 60_000, 'the survivors\' writes sent');
  expect(survivors.flatMap((m) => m.lines.filter((l) => l.event === 'error'))).toEqual([]);
  const reports = await agreedReports(survivors, 3 * W, 60_000);
  const order = reports[0]!.delivered as string[];
  for (const r of reports) {
    expect({ name: r.name, delivered: r.delivered }).toEqual({ name: r.name, delivered: order });
    expect(r.map).toEqual(reports[0]!.map);
    expect(r.view).toHaveLength(3);
  }
  const counts = perWriter(order);
  // Every survivor's write exactly once; the dead sequencer's only as far as any survivor had them.
  for (const m of survivors) expect(counts.get(m.name)).toBe(W);
  expect(order.length).toBe(3 * W + (counts.get('A') ?? 0));
  const recoveries = reports.reduce((n, r) => n + (r.stats?.recoveries ?? 0), 0);
  expect(recoveries).toBeGreaterThanOrEqual(1);
  // The kill did land in the middle: the survivors had writes the sequencer had not ordered yet.
  const resent = reports.reduce((n, r) => n + (r.stats?.resent ?? 0), 0);
  expect(resent).toBeGreaterThan(0);
}, 180_000);
