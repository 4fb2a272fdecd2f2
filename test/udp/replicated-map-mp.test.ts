// ReplicatedHashMap between processes: 4 members over stacks/udp.xml each put 10,000 distinct
// keys at once and a fifth that connects and starts in the middle ends with the same map; over
// stacks/sequencer.xml, 4 members write the same 100 keys at once and end with equal maps and the
// same order of writes, also when the sequencer (the coordinator) gets SIGKILL mid-burst.
import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { randomMcastGroup, udpMemberEnv } from '../../packages/cli/src/member-process.js';
import { killChildren } from '../helpers/children.js';
import { uniqueCluster, waitUntil } from '../helpers/cluster.js';

const fixture = fileURLToPath(new URL('./fixtures/map-member.mjs', import.meta.url));

interface Line {
  name: string;
  event: string;
  size?: number;
  done?: number;
  ms?: number;
  mapHash?: string;
  log?: number;
  logHash?: string;
  logDuplicates?: number;
  code?: string;
  message?: string;
}

class Member {
  readonly lines: Line[] = [];
  constructor(
    readonly name: string,
    readonly child: ChildProcess,
  ) {
    createInterface({ input: child.stdout! }).on('line', (text) => {
      try {
        this.lines.push(JSON.parse(text) as Line);
      } catch {
        // not ours
      }
    });
  }
  last(event: string): Line | undefined {
    return this.lines.findLast((l) => l.event === event);
  }
  send(cmd: object): void {
    this.child.stdin!.write(`${JSON.stringify(cmd)}\n`);
  }
  progress(): number {
    return this.last('progress')?.done ?? 0;
  }
  errors(): Line[] {
    return this.lines.filter((l) => l.event === 'error');
  }
  async dump(): Promise<Line> {
    const from = this.lines.length;
    this.send({ cmd: 'dump' });
    await waitUntil(() => this.lines.slice(from).some((l) => l.event === 'dump'), 15_000, `${this.name}'s dump`);
    return this.lines.slice(from).find((l) => l.event === 'dump')!;
  }
}

const children: ChildProcess[] = [];
afterEach(async () => {
  await killChildren(children);
});

function start(name: string, cluster: string, stack: string, env: Record<string, string>): Member {
  const child = spawn(process.execPath, [fixture, name, cluster, stack], { env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'inherit'] });
  children.push(child);
  return new Member(name, child);
}

async function startAll(names: string[], cluster: string, stack: string, env: Record<string, string>): Promise<Member[]> {
  const members: Member[] = [];
  // One after the other: the first founds the cluster, the others join it.
  for (const n of names) {
    const m = start(n, cluster, stack, env);
    members.push(m);
    await waitUntil(() => m.last('ready') !== undefined, 30_000, `${n} ready`);
  }
  return members;
}

test('over udp.xml, 4 members put 10,000 distinct keys each at once; a fifth that connects and starts in the middle ends with the same map', async () => {
  const env = udpMemberEnv(randomMcastGroup());
  const cluster = uniqueCluster('map-mp');
  const members = await startAll(['A', 'B', 'C', 'D'], cluster, 'udp.xml', env);
  const N = 10_000;
  for (const m of members) m.send({ cmd: 'distinct', n: N });
  // The fifth joins while the writes are under way.
  await waitUntil(() => members.some((m) => m.progress() >= 2000), 60_000, 'the writes under way');
  const e = start('E', cluster, 'udp.xml', env);
  await waitUntil(() => e.last('ready') !== undefined || e.errors().length > 0, 60_000, 'E ready');
  expect(e.errors()).toEqual([]);
  await waitUntil(() => members.every((m) => m.last('done') || m.errors().length > 0), 120_000, 'every member done');
  for (const m of members) expect(m.errors()).toEqual([]);
  const dumps = await Promise.all([...members, e].map((m) => m.dump()));
  for (const d of dumps) {
    expect(d.size).toBe(4 * N);
    expect(d.mapHash).toBe(dumps[0]!.mapHash);
  }
  console.log(`replicated map over udp.xml: 4 x ${N} sync puts, 32 in flight each, in ${members.map((m) => m.last('done')!.ms).join(', ')} ms; E started with ${e.last('ready')!.size} entries`);
}, 200_000);

test('over sequencer.xml, 4 members write the same 100 keys at once: equal maps and the same order of writes, also when the sequencer gets SIGKILL mid-burst', async () => {
  const env = udpMemberEnv(randomMcastGroup());
  const cluster = uniqueCluster('map-seq');
  const members = await startAll(['A', 'B', 'C', 'D'], cluster, 'sequencer.xml', env);
  // Round 1: all four, to the end.
  for (const m of members) m.send({ cmd: 'same', keys: 100, rounds: 5, tag: 1 });
  await waitUntil(() => members.every((m) => m.last('done') || m.errors().length > 0), 120_000, 'round 1 done');
  for (const m of members) expect(m.errors()).toEqual([]);
  const first = await Promise.all(members.map((m) => m.dump()));
  for (const d of first) {
    expect(d.size).toBe(100);
    expect([d.mapHash, d.logHash, d.log, d.logDuplicates]).toEqual([first[0]!.mapHash, first[0]!.logHash, 4 * 500, 0]);
  }
  // Round 2: A (the coordinator, hence the sequencer) dies in the middle of the burst.
  const [a, ...survivors] = members as [Member, ...Member[]];
  for (const m of members) m.lines.length = 0;
  for (const m of members) m.send({ cmd: 'same', keys: 100, rounds: 20, tag: 2 });
  await waitUntil(() => survivors.every((m) => m.progress() >= 400), 120_000, 'the burst under way');
  a.child.kill('SIGKILL');
  await waitUntil(() => survivors.every((m) => m.last('done') || m.errors().length > 0), 120_000, 'the survivors done');
  for (const m of survivors) expect(m.errors()).toEqual([]);
  const after = await Promise.all(survivors.map((m) => m.dump()));
  for (const d of after) {
    expect(d.size).toBe(100);
    // Same map, same order of writes, nothing applied twice; each survivor's 2000 writes are in it.
    expect([d.mapHash, d.logHash, d.log, d.logDuplicates]).toEqual([after[0]!.mapHash, after[0]!.logHash, after[0]!.log, 0]);
    expect(d.log! - 2000).toBeGreaterThanOrEqual(3 * 2000);
  }
  console.log(`replicated map over sequencer.xml: after the sequencer's SIGKILL the 3 survivors applied ${after[0]!.log! - 2000} writes of round 2 in the same order (${3 * 2000} theirs)`);
}, 300_000);
