// The dispatchers between real processes: five `tsgroups member` processes over stacks/udp.xml
// (127.0.0.1, TTL 0, a multicast group and port of each test's own), each serving a MemberServer
// through an RpcDispatcher (packages/cli/src/member-rpc.ts). One of the five is the caller: it
// gets `rpc` commands on stdin and prints each RspList as an `rsps` line; every member prints the
// start and end of each `work` call it runs (`handler` lines), so the tests can tell when a call
// returned relative to the handlers.
import { existsSync } from 'node:fs';
import type { MemberLine } from '../../packages/cli/src/member-process.js';
import type { RpcCommand } from '../../packages/cli/src/member-rpc.js';
import { cli, MpCluster, type MemberProc, stopMember, waitForAll } from './mp-helpers.js';

let cluster: MpCluster | null = null;
afterEach(async () => {
  await cluster?.stopAll();
  cluster = null;
});

const NAMES = ['A', 'B', 'C', 'D', 'E'];

/** Sends `call` to `caller` and waits for its `rsps` (or `rpc-error`) line. */
async function rpc(caller: MemberProc, call: RpcCommand, timeoutMs = 10_000): Promise<MemberLine> {
  const from = caller.lines.length;
  caller.send(`rpc ${JSON.stringify(call)}`);
  const line = await caller.waitForLine((l) => (l.event === 'rsps' || l.event === 'rpc-error') && l.id === call.id, timeoutMs, `the result of ${call.id}`, from);
  if (line.event === 'rpc-error') throw new Error(`${call.id} failed: ${line.message}`);
  return line;
}

/** The `handler` line of `tag`'s `phase` that `p` printed, if any yet. */
const handlerLine = (p: MemberProc, tag: string, phase: 'start' | 'end') => p.lines.find((l) => l.event === 'handler' && l.tag === tag && l.phase === phase);

const received = (r: MemberLine) => Object.entries(r.rsps!).filter(([, x]) => x.received).map(([n]) => n).sort();

test('5 processes: GET_ALL returns 5 results; GET_MAJORITY returns with 3 while 2 members are inside a 3 s handler; GET_FIRST returns the first; GET_NONE returns at once and the call runs on every member', async () => {
  expect(existsSync(cli)).toBe(true); // built by `pnpm test` before jest runs
  cluster = new MpCluster();
  const all = await cluster.startAll(NAMES);
  const byName = new Map(all.map((p) => [p.name, p]));
  const caller = byName.get('A')!;

  // GET_ALL: every member's answer.
  const getAll = await rpc(caller, { id: 'all', mode: 'GET_ALL', method: 'ping' });
  expect(getAll.numReceived).toBe(5);
  expect(Object.keys(getAll.rsps!).sort()).toEqual(NAMES);
  for (const n of NAMES) expect(getAll.rsps![n]).toEqual({ received: true, suspected: false, value: n });

  // GET_MAJORITY: D and E take 3 s; the call returns with the 3 others' answers, before D and E finish.
  const slow = ['D', 'E'];
  const majority = await rpc(caller, { id: 'majority', mode: 'GET_MAJORITY', method: 'work', args: ['majority', 3000, slow] });
  // What the test has seen of the slow members when the caller's result came: no handler ended.
  for (const n of slow) expect(handlerLine(byName.get(n)!, 'majority', 'end')).toBeUndefined();
  expect(majority.numReceived).toBe(3);
  expect(received(majority)).toEqual(['A', 'B', 'C']);
  for (const n of ['A', 'B', 'C']) expect(majority.rsps![n]!.value).toBe(n);
  for (const n of slow) expect(majority.rsps![n]).toEqual({ received: false, suspected: false });

  // GET_FIRST: only C is quick; the call returns with its answer alone.
  const first = await rpc(caller, { id: 'first', mode: 'GET_FIRST', method: 'work', args: ['first', 3000, ['A', 'B', 'D', 'E']] });
  expect(first.numReceived).toBe(1);
  expect(first.rsps!.C).toEqual({ received: true, suspected: false, value: 'C' });
  for (const n of ['A', 'B', 'D', 'E']) expect(first.rsps![n]).toEqual({ received: false, suspected: false });

  // GET_NONE: every member takes 1 s; the call returns before any of them finished.
  const none = await rpc(caller, { id: 'none', mode: 'GET_NONE', method: 'work', args: ['none', 1000, '*'] });
  expect(none.numReceived).toBe(0);
  expect(Object.keys(none.rsps!).sort()).toEqual(NAMES);
  await waitForAll(all, () => all.every((p) => handlerLine(p, 'none', 'end') !== undefined), 10_000, 'the GET_NONE call to end on every member');

  // Every slow handler ran to its end after the caller had its result (the members' clocks are
  // the machine's): the calls did not wait for them.
  await waitForAll(
    all,
    () => slow.every((n) => handlerLine(byName.get(n)!, 'majority', 'end')) && all.every((p) => p.name === 'C' || handlerLine(p, 'first', 'end')),
    10_000,
    'the slow handlers to end',
  );
  for (const n of slow) {
    const p = byName.get(n)!;
    expect(handlerLine(p, 'majority', 'start')!.slow).toBe(true);
    expect(handlerLine(p, 'majority', 'end')!.t).toBeGreaterThan(majority.t);
  }
  for (const p of all) {
    if (p.name !== 'C') expect(handlerLine(p, 'first', 'end')!.t).toBeGreaterThan(first.t);
    expect(handlerLine(p, 'none', 'end')!.t).toBeGreaterThan(none.t);
  }

  // Each work call ran exactly once on every member: 3 each.
  const counts = await rpc(caller, { id: 'count', mode: 'GET_ALL', method: 'count' });
  for (const n of NAMES) expect(counts.rsps![n]).toEqual({ received: true, suspected: false, value: 3 });
  console.log(
    `rpc between processes: GET_ALL ${getAll.elapsedMs} ms; GET_MAJORITY ${majority.elapsedMs} ms with D,E inside 3 s handlers; ` +
      `GET_FIRST ${first.elapsedMs} ms (C); GET_NONE ${none.elapsedMs} ms`,
  );
  expect(all.flatMap((p) => p.lines.filter((l) => l.event === 'error' || l.event === 'rpc-error'))).toEqual([]);
  for (const p of all) expect(await stopMember(p)).toBe(0);
}, 40_000);

test('kill -9 of a member during a GET_ALL with a 30 s timeout: the call returns within the failure detection time, with that member suspected and the 4 others\' results', async () => {
  cluster = new MpCluster({ fdInterval: '500ms', fdTimeout: '3s' });
  const all = await cluster.startAll(NAMES);
  const view = all[0]!.lastView()!;
  // Neither the coordinator nor the caller: the view change comes from a member that stays.
  const caller = all.find((p) => p.name === view.members[1])!;
  const victim = all.find((p) => p.name === view.members[3])!;
  const others = all.filter((p) => p !== victim);

  const from = caller.lines.length;
  caller.send(`rpc ${JSON.stringify({ id: 'kill', mode: 'GET_ALL', timeout: 30_000, method: 'work', args: ['kill', 60_000, [victim.name]] } satisfies RpcCommand)}`);
  // The victim is inside the call (blocked for 60 s), the others answered.
  await waitForAll(all, () => handlerLine(victim, 'kill', 'start') !== undefined && others.every((p) => handlerLine(p, 'kill', 'end')), 10_000, `${victim.name} inside the call`);
  expect(caller.lines.slice(from).some((l) => l.event === 'rsps' || l.event === 'rpc-error')).toBe(false);
  const t0 = Date.now();
  victim.kill('SIGKILL');
  // Well under the call's 30 s: it did not wait for its timeout.
  const r = await caller.waitForLine((l) => (l.event === 'rsps' || l.event === 'rpc-error') && l.id === 'kill', 15_000, 'the GET_ALL to return', from);
  const took = r.at - t0;
  expect(r.event).toBe('rsps');
  expect(r.elapsedMs).toBeLessThan(30_000);
  expect(r.rsps![victim.name]).toEqual({ received: false, suspected: true });
  expect(r.numReceived).toBe(4);
  for (const p of others) expect(r.rsps![p.name]).toEqual({ received: true, suspected: false, value: p.name });
  expect(await victim.exit).toBeNull(); // killed by the signal
  console.log(`rpc between processes: GET_ALL (30 s timeout) returned ${took} ms after kill -9 of ${victim.name}, which is suspected; 4 results`);
  for (const p of others) expect(await stopMember(p)).toBe(0);
}, 40_000);
