// Issue 8's scenario between real processes: 3 members over stacks/udp.xml in a network
// namespace of the test's own whose loopback drops 5% of UDP datagrams at random (iptables).
// Each waits for a view of 3, multicasts M messages, and every member must deliver all 3*M exactly
// once, in per-sender order. Some runs force the split start (all traffic dropped while the
// members start, so each founds a group alone, then merged by MERGE3) to exercise the merge.
import type { ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { randomMcastGroup, udpMemberEnv } from '../../packages/cli/src/member-process.js';
import { killChildren } from '../helpers/children.js';
import { uniqueCluster, waitUntil } from '../helpers/cluster.js';
import { NetNs } from './netns.js';
import { netnsTest } from './requirement.js';
import type { Line } from './burst-lines.js';

const fixture = fileURLToPath(new URL('./fixtures/burst-member.mjs', import.meta.url));
const M = 20_000;
const NAMES = ['A', 'B', 'C'];


let ns: NetNs | null = null;
const children: ChildProcess[] = [];

const nsTest = netnsTest('test/netns/loss-scenario');

afterEach(async () => {
  await killChildren(children);
  ns?.delete();
  ns = null;
});

/** Starts the members in `space`; returns each one's lines as they come. */
function startMembers(
  space: NetNs,
  env: Record<string, string>,
  cluster: string,
): { lines: Map<string, Line[]>; exits: Promise<number | null>[]; procs: ChildProcess[] } {
  const lines = new Map<string, Line[]>();
  const procs: ChildProcess[] = [];
  const exits = NAMES.map((name) => {
    const child = space.spawnNode([fixture, name, cluster, String(NAMES.length), String(M)], env);
    children.push(child);
    procs.push(child);
    const mine: Line[] = [];
    lines.set(name, mine);
    createInterface({ input: child.stdout! }).on('line', (text) => {
      try {
        mine.push(JSON.parse(text) as Line);
      } catch {
        // not a JSON line
      }
    });
    return new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  });
  return { lines, exits, procs };
}

async function scenario(forceSplit: boolean): Promise<{ joinMs: number[]; merges: number }> {
  ns = new NetNs();
  const env = udpMemberEnv(randomMcastGroup(), { mergeMin: '1s', mergeMax: '2s' });
  env.TSGROUPS_XMIT_INTERVAL = '100ms';
  ns.setLoss(forceSplit ? 1 : 0.05);
  const { lines, exits, procs } = startMembers(ns, env, uniqueCluster('netns'));
  if (forceSplit) {
    // Nobody hears anybody: each member founds a group of its own. Then the network comes back.
    await waitUntil(() => NAMES.every((n) => lines.get(n)!.some((l) => l.event === 'view' && l.size === 1)), 30_000, 'three singleton views');
    ns.setLoss(0.05);
  }
  // Every member reports once it has everyone's messages; only then do they leave together.
  const finished = (n: string) => lines.get(n)!.some((l) => l.event === 'done' || l.event === 'error');
  await waitUntil(() => NAMES.every(finished), 100_000, 'every member done');
  for (const p of procs) p.stdin!.end('close\n');
  const codes = await Promise.all(exits);
  const last = NAMES.map((n) => lines.get(n)!.find((l) => l.event === 'done' || l.event === 'error'));
  for (const [i, l] of last.entries()) {
    // On failure, say what the member had (views, per-sender counts) to tell a split from a gap.
    if (l?.event !== 'done') throw new Error(`${NAMES[i]} did not finish: ${JSON.stringify(lines.get(NAMES[i]!)!.slice(-6))}`);
    for (const sender of NAMES) {
      expect({ member: NAMES[i], sender, ...l!.streams![sender] }).toEqual({
        member: NAMES[i],
        sender,
        next: M,
        received: M,
        duplicates: 0,
        outOfOrder: 0,
        ended: true,
      });
    }
  }
  expect(codes).toEqual([0, 0, 0]);
  const joinMs = NAMES.map((n) => lines.get(n)!.find((l) => l.event === 'ready')!.joinMs!);
  return { joinMs, merges: Math.max(...last.map((l) => l!.merges ?? 0)) };
}

nsTest.each(Array.from({ length: 8 }, (_, i) => i + 1))('run %i: 3 processes start together under 5% loss; 3 x 20,000 multicasts all delivered exactly once, in order', async (run) => {
  const { joinMs, merges } = await scenario(false);
  console.log(`netns run ${run}: joined in ${joinMs.join(', ')} ms; merge views: ${merges}`);
}, 120_000);

nsTest.each([1, 2])('split start %i: every member founds a group alone, MERGE3 merges them under 5% loss, then every multicast arrives', async (run) => {
  const { joinMs, merges } = await scenario(true);
  expect(merges).toBeGreaterThan(0);
  console.log(`netns split run ${run}: ready after ${joinMs.join(', ')} ms; merge views: ${merges}`);
}, 120_000);
