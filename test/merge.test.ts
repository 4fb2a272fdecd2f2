import { type Channel, DISCARD, FD_ALL3, GMS, MERGE3, MergeView, VERIFY_SUSPECT2, type View } from 'tsgroups';
import { closeAll, discardOf, loopbackStack, type Member, startCluster, waitForSameView, waitUntil } from './helpers/cluster.js';

const MAX_INTERVAL = 500;

/** Loopback with DISCARD (to partition), MERGE3 and fast failure detection. */
function mergeStack() {
  return () => {
    const stack = loopbackStack(() => [
      new DISCARD(),
      new MERGE3().setValues({ min_interval: 200, max_interval: MAX_INTERVAL }),
      new FD_ALL3().setValues({ interval: 100, timeout: 500 }),
      new VERIFY_SUSPECT2().setValues({ timeout: 200 }),
    ]);
    stack.findProtocol(GMS)!.setValues({ merge_timeout: 1000, leave_timeout: 300 });
    return stack;
  };
}

/** Cuts the members into groups that cannot reach each other. */
function partition(...groups: Channel[][]): void {
  for (const g of groups) {
    const others = groups.filter((o) => o !== g).flat().map((c) => c.getAddress()!);
    for (const c of g) discardOf(c).isolateFrom(...others);
  }
}

function heal(chans: Channel[]): void {
  for (const c of chans) discardOf(c).heal();
}

let members: Member[] = [];
afterEach(async () => {
  await closeAll(members.map((m) => m.channel));
  members = [];
});

const mergeViews = (m: Member) => m.rec.views.filter((v): v is MergeView => v instanceof MergeView);

async function splitAndHeal(n: number, cut: number, partitionMs: number): Promise<{ view: View; healedAt: number; mergedAt: number }> {
  members = await startCluster(n, mergeStack());
  const chans = members.map((m) => m.channel);
  const left = chans.slice(0, cut);
  const right = chans.slice(cut);
  partition(left, right);
  const partitionedAt = performance.now();
  // Each side notices the other is gone and installs a view of its own.
  await waitForSameView(left, 5000);
  await waitForSameView(right, 5000);
  // Hold the partition for its whole period; MERGE3 keeps announcing meanwhile, unheard.
  await waitUntil(() => performance.now() - partitionedAt >= partitionMs, partitionMs + 5000, 'the end of the partition');
  const merge3 = chans[0]!.getProtocolStack().findProtocol(MERGE3)!;
  expect(merge3.stats.infosSent).toBeGreaterThan(0);
  expect(mergeViews(members[0]!)).toHaveLength(0);
  const healedAt = performance.now();
  heal(chans);
  const view = await waitForSameView(chans, 2 * MAX_INTERVAL + 5000);
  return { view, healedAt, mergedAt: performance.now() };
}

test('after a partition heals, every member installs one MergeView with all members', async () => {
  const { view, healedAt, mergedAt } = await splitAndHeal(4, 2, 1500);
  expect(view).toBeInstanceOf(MergeView);
  const mv = view as MergeView;
  expect(new Set(mv.getMembers()).size).toBe(4);
  expect(mv.getSubgroups()).toHaveLength(2);
  expect(mv.getSubgroups().map((v) => v.size()).sort()).toEqual([2, 2]);
  for (const m of members) expect(mergeViews(m)).toHaveLength(1);
  // The merge leader (lowest-addressed coordinator of the two sides) is the new coordinator.
  const coords = mv.getSubgroups().map((v) => v.getCoord()!).sort((a, b) => a.compareTo(b));
  expect(mv.getCoord()).toBe(coords[0]);
  if (process.env.TSGROUPS_MERGE_TIMING) console.info(`merge after heal: ${(mergedAt - healedAt).toFixed(0)} ms`);
});

test('a 10 s partition of five members into three and two heals into one MergeView within twice the max merge interval', async () => {
  const { view, healedAt, mergedAt } = await splitAndHeal(5, 3, 10_000);
  expect(view).toBeInstanceOf(MergeView);
  expect(view.size()).toBe(5);
  for (const m of members) expect(mergeViews(m)).toHaveLength(1);
  // An INFO from the other side within max_interval, a check within max_interval / 2 after it.
  if (process.env.TSGROUPS_MERGE_TIMING) console.info(`merge after a 10 s partition: ${(mergedAt - healedAt).toFixed(0)} ms`);
  expect(mergedAt - healedAt).toBeLessThan(2 * MAX_INTERVAL);
}, 60_000);

test('messages flow between former subgroups after the merge', async () => {
  await splitAndHeal(4, 2, 500);
  const chans = members.map((m) => m.channel);
  await chans[0]!.send(null, 'after-merge');
  await chans[3]!.send(chans[0]!.getAddress(), 'to-first');
  await waitUntil(() => members.every((m) => m.rec.objects().includes('after-merge')), 2000);
  await waitUntil(() => members[0]!.rec.objects().includes('to-first'), 2000);
});

test('a member isolated alone rejoins through a merge', async () => {
  members = await startCluster(3, mergeStack());
  const chans = members.map((m) => m.channel);
  partition([chans[2]!], chans.slice(0, 2));
  await waitUntil(() => chans[2]!.getView()!.size() === 1, 5000, 'C alone');
  await waitForSameView(chans.slice(0, 2), 5000);
  heal(chans);
  const view = await waitForSameView(chans, 7000);
  expect(view).toBeInstanceOf(MergeView);
  expect(view.size()).toBe(3);
});
