// Joins and leaves, crashes (kill -9) and partitions between `tsgroups member` processes over
// stacks/udp.xml (127.0.0.1, TTL 0, a multicast group and port of each test's own). Members print
// JSON lines (packages/cli/src/member.ts); the tests wait on those lines with deadlines.
// Measured times are printed as `udp timing:` lines.
import { waitUntil } from '../helpers/wait.js';
import { existsSync } from 'node:fs';
import { stackXml } from '../helpers/cluster.js';
import { agreeOn, cli, median, MpCluster, type MemberProc, stopMember, waitForAll } from './mp-helpers.js';

/** Which failure detectors udp.xml has, for the timing lines. */
const detectors = ['FD_SOCK2', 'FD_ALL3'].filter((p) => new RegExp(`<${p}\\b`).test(stackXml('udp.xml'))).join('+');

let cluster: MpCluster | null = null;
afterEach(async () => {
  await cluster?.stopAll();
  cluster = null;
});

const viewHas = (p: MemberProc, address: string) => p.lastView()?.addresses.includes(address) ?? false;

test('20 rounds of join and leave: the stable members see the joiner come and go every round, and end with a view of just the two of them', async () => {
  expect(existsSync(cli)).toBe(true); // built by `pnpm test` before jest runs
  cluster = new MpCluster({ discovery: '500ms' });
  const stable = await cluster.startAll(['S1', 'S2']);
  const joiner = cluster.start('J');
  const joins: number[] = [];
  const leaves: number[] = [];
  for (let round = 1; round <= 20; round++) {
    const from = joiner.lines.length;
    const t0 = Date.now();
    if (round > 1) joiner.send('connect');
    const ready = await joiner.waitForLine((l) => l.event === 'ready' || l.event === 'error', 10_000, `J ready (round ${round})`, from);
    expect(ready.event).toBe('ready');
    const addr = ready.address!;
    await waitForAll(stable, () => stable.every((p) => viewHas(p, addr)), 10_000, `round ${round}: J in the stable members' views`);
    joins.push(Math.max(...stable.map((p) => p.lastView()!.at)) - t0);
    // Everyone, the joiner too, agrees on the view of three.
    await waitForAll([...stable, joiner], () => agreeOn([...stable, joiner], ['S1', 'S2', 'J']), 5000, `round ${round}: one view of 3`);

    const t1 = Date.now();
    const fromLeave = joiner.lines.length;
    joiner.send('disconnect');
    await waitForAll(stable, () => stable.every((p) => !viewHas(p, addr)), 10_000, `round ${round}: J gone from the stable members' views`);
    leaves.push(Math.max(...stable.map((p) => p.lastView()!.at)) - t1);
    const ack = await joiner.waitForLine((l) => l.event === 'disconnected' || l.event === 'error', 10_000, `J disconnected (round ${round})`, fromLeave);
    expect(ack.event).toBe('disconnected');
    await waitForAll(stable, () => agreeOn(stable, ['S1', 'S2']), 5000, `round ${round}: one view of S1,S2`);
  }
  // No stale member: exactly the two stable members, the same view in both.
  for (const p of stable) {
    expect([...p.lastView()!.members].sort()).toEqual(['S1', 'S2']);
    expect([...p.lastView()!.addresses].sort()).toEqual(stable.map((s) => s.address()!).sort());
  }
  // Each of the 20 incarnations of J (a new address every connect) was in both stable members' views.
  for (const p of stable) {
    const withJ = p.views().filter((v) => v.members.includes('J')).map((v) => v.addresses[v.members.indexOf('J')]);
    expect(new Set(withJ).size).toBe(20);
  }
  expect(joiner.lines.filter((l) => l.event === 'error')).toEqual([]);
  // Leaving is not failing: 20 departures raised no suspicion anywhere, and each took under 1 s.
  for (const p of [...stable, joiner]) expect(p.lines.filter((l) => l.event === 'suspect')).toEqual([]);
  expect(Math.max(...leaves)).toBeLessThan(1000);
  console.log(
    `udp timing: join (connect -> both stable views) median ${median(joins)} ms, max ${Math.max(...joins)} ms; ` +
      `leave (disconnect -> both stable views) median ${median(leaves)} ms, max ${Math.max(...leaves)} ms (20 rounds)`,
  );
  expect(await stopMember(joiner)).toBe(0);
  for (const p of stable) expect(await stopMember(p)).toBe(0);
}, 120_000);

// The configured detection time: FD_ALL3 timeout (3 s) + one check interval (500 ms) + the
// VERIFY_SUSPECT2 timeout of udp.xml (1 s); FD_SOCK2 usually detects a kill far sooner. The
// margin covers the view installation on a busy machine.
const DETECTION_MS = 3000 + 500 + 1000;
const MARGIN_MS = 1500;

test('kill -9 of a member: the survivors suspect it and install a view without it within the detection time; kill -9 of the coordinator: the next member takes over', async () => {
  cluster = new MpCluster({ fdInterval: '500ms', fdTimeout: '3s' });
  const all = await cluster.startAll(['A', 'B', 'C', 'D']);
  const view = all[0]!.lastView()!;

  // 1. A member that is not the coordinator.
  const victim = all.find((p) => p.name === view.members[2])!;
  const victimAddr = view.addresses[view.members.indexOf(victim.name)]!;
  expect(victim.address()).toBe(victimAddr);
  let survivors = all.filter((p) => p !== victim);
  const marks = survivors.map((p) => p.lines.length);
  const t0 = Date.now();
  victim.kill('SIGKILL');
  await waitForAll(
    survivors,
    () => survivors.every((p) => p.lastView() !== undefined && !p.lastView()!.addresses.includes(victimAddr)),
    10_000,
    `the survivors' views without ${victim.name}`,
  );
  const viewTook = Math.max(...survivors.map((p) => p.lastView()!.at)) - t0;
  await waitForAll(survivors, () => agreeOn(survivors, survivors.map((p) => p.name)), 5000, 'the survivors to agree');
  const suspects = survivors.flatMap((p, i) => p.lines.slice(marks[i]).filter((l) => l.event === 'suspect' && l.member === victim.name));
  expect(suspects.length).toBeGreaterThanOrEqual(1);
  const suspectTook = Math.min(...suspects.map((l) => l.at)) - t0;
  expect(viewTook).toBeLessThan(DETECTION_MS + MARGIN_MS);
  expect(await victim.exit).toBeNull(); // killed by the signal
  console.log(`udp timing: crash detection (kill -9 member ${victim.name}; ${detectors}, FD_ALL3 500ms/3s): suspect after ${suspectTook} ms, view without it after ${viewTook} ms`);

  // 2. The coordinator: the next member in the view becomes coordinator of the survivors.
  const v2 = survivors[0]!.lastView()!;
  const coord = survivors.find((p) => p.name === v2.coord)!;
  const next = v2.members[1]!;
  const coordAddr = v2.addresses[0]!;
  expect(coord.address()).toBe(coordAddr);
  survivors = survivors.filter((p) => p !== coord);
  const t1 = Date.now();
  coord.kill('SIGKILL');
  await waitForAll(
    survivors,
    () => agreeOn(survivors, survivors.map((p) => p.name)) && !survivors[0]!.lastView()!.addresses.includes(coordAddr),
    10_000,
    `the survivors' view without the coordinator ${coord.name}`,
  );
  const coordTook = Math.max(...survivors.map((p) => p.lastView()!.at)) - t1;
  for (const p of survivors) expect(p.lastView()!.coord).toBe(next);
  expect(coordTook).toBeLessThan(DETECTION_MS + MARGIN_MS);
  console.log(`udp timing: crash detection (kill -9 coordinator ${coord.name}): ${next} coordinator of the survivors' view after ${coordTook} ms`);
  for (const p of survivors) expect(await stopMember(p)).toBe(0);
}, 60_000);

test('a partition A,B | C,D: each side installs a view of its own two members; after healing, MERGE3 merges them into one view of all four', async () => {
  const mergeMaxMs = 2000;
  cluster = new MpCluster({ fdInterval: '500ms', fdTimeout: '3s', mergeMin: '1s', mergeMax: `${mergeMaxMs}ms` });
  const all = await cluster.startAll(['A', 'B', 'C', 'D']);
  const [a, b, c, d] = all as [MemberProc, MemberProc, MemberProc, MemberProc];
  const t0 = Date.now();
  for (const p of [a, b]) p.send('partition C,D');
  for (const p of [c, d]) p.send('partition A,B');
  for (const p of all) {
    const ack = await p.waitForLine((l) => l.event === 'partitioned' || l.event === 'error', 5000, `${p.name} partitioned`);
    expect(ack.event).toBe('partitioned');
    expect(ack.from!.sort()).toEqual(p === a || p === b ? ['C', 'D'] : ['A', 'B']);
  }
  // Failure detection removes the other side within the partition's 10 s.
  await waitForAll(all, () => agreeOn([a, b], ['A', 'B']) && agreeOn([c, d], ['C', 'D']), 10_000, 'the views A,B and C,D');
  const split = Math.max(...all.map((p) => p.lastView()!.at)) - t0;
  expect(a.lastView()!.coord).toBe(b.lastView()!.coord);
  expect(c.lastView()!.coord).toBe(d.lastView()!.coord);
  console.log(`udp timing: partition A,B | C,D split into two views after ${split} ms`);
  // Hold the partition for its whole 10 s (MERGE3 keeps announcing meanwhile, unheard).
  await waitUntil(() => Date.now() - t0 >= 10_000, 15_000, 'the end of the 10 s partition');
  for (const p of all) expect(p.lines.some((l) => l.event === 'view' && l.merge === true)).toBe(false);

  // Heal: every member installs one merge view of all four, within 2 x max_interval.
  const marks = all.map((p) => p.lines.length);
  const t1 = Date.now();
  for (const p of all) p.send('heal');
  const merged = (p: MemberProc, i: number) =>
    p.lines.slice(marks[i]).some((l) => l.event === 'view' && l.merge === true && l.members!.length === 4);
  const deadline = 2 * mergeMaxMs + 6000;
  await waitForAll(all, () => all.every(merged) && agreeOn(all, ['A', 'B', 'C', 'D']), deadline, 'one merge view of A,B,C,D in every member');
  const mergeTook = Math.max(...all.map((p) => p.lastView()!.at)) - t1;
  const mergeViews = all.map((p, i) => p.lines.slice(marks[i]).find((l) => l.event === 'view' && l.merge === true && l.members!.length === 4)!);
  expect(new Set(mergeViews.map((v) => v.id)).size).toBe(1); // the same merge view everywhere
  for (const [i, p] of all.entries()) expect(p.lines.slice(marks[i]).filter((l) => l.event === 'view' && l.merge === true)).toHaveLength(1);
  expect(mergeTook).toBeLessThan(2 * mergeMaxMs);
  expect(all.every((p) => p.lines.every((l) => l.event !== 'error'))).toBe(true);
  console.log(`udp timing: merge after heal (MERGE3 1s/${mergeMaxMs}ms): one view of all 4 after ${mergeTook} ms`);
  for (const p of all) expect(await stopMember(p)).toBe(0);
}, 60_000);
