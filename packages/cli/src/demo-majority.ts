import { type MemberProcess, waitForAll } from './member-process.js';
import type { RpcCommand } from './member-rpc.js';

/** How long the slow members' handlers take in the demo's GET_MAJORITY call. */
export const DEMO_SLOW_MS = 2000;

/**
 * The demo's GET_MAJORITY part: the first of `procs` calls `work` on every member through the
 * members' RpcDispatchers (`rpc` command, see member-rpc.ts), with as many members slow as can be
 * while a majority stays quick (2 of 5, 1 of 4); prints who answered, then waits for the slow
 * handlers to end and prints that they ended after the call had returned.
 * @returns true if the call returned with the quick members' answers alone, before the slow ones ended
 */
export async function runMajorityCall(procs: MemberProcess[], out: (line: string) => void): Promise<boolean> {
  const n = procs.length;
  const majority = (n >> 1) + 1;
  const caller = procs[0]!;
  // The last members are the slow ones: never the caller, which answers itself at once.
  const slow = procs.slice(majority);
  const quick = procs.filter((p) => !slow.includes(p));
  const slowNames = slow.map((p) => p.name);
  out(
    `GET_MAJORITY: ${caller.name} calls work() on all ${n} members through their RpcDispatchers; a majority is ${majority}; ` +
      (slow.length > 0 ? `${slowNames.join(' and ')} ${slow.length === 1 ? 'takes' : 'take'} ${DEMO_SLOW_MS / 1000} s` : 'no member can be slow'),
  );
  const call: RpcCommand = { id: 'demo-majority', mode: 'GET_MAJORITY', timeout: 10_000, method: 'work', args: ['demo-majority', DEMO_SLOW_MS, slowNames] };
  const from = caller.lines.length;
  caller.send(`rpc ${JSON.stringify(call)}`);
  const r = await caller.waitForLine((l) => (l.event === 'rsps' || l.event === 'rpc-error') && l.id === call.id, 10_000, 'the GET_MAJORITY call', from);
  if (r.event === 'rpc-error') {
    out(`  ${caller.name.padEnd(2)} GET_MAJORITY failed: ${r.message}`);
    return false;
  }
  const rsps = r.rsps!;
  const answered = Object.keys(rsps).filter((m) => rsps[m]!.received);
  const waiting = Object.keys(rsps).filter((m) => !rsps[m]!.received);
  out(
    `  ${caller.name.padEnd(2)} GET_MAJORITY returned after ${r.elapsedMs} ms with ${r.numReceived} of ${n} results: ` +
      `${answered.map((m) => `${m} answered ${JSON.stringify(rsps[m]!.value)}`).join(', ')}` +
      (waiting.length > 0 ? `; not waited for: ${waiting.join(', ')}` : ''),
  );

  // The slow handlers run on after the call returned.
  const endOf = (p: MemberProcess) => p.lines.find((l) => l.event === 'handler' && l.tag === call.id && l.phase === 'end');
  await waitForAll(slow, () => slow.every((p) => endOf(p) !== undefined), DEMO_SLOW_MS + 10_000, 'the slow handlers to end');
  let ok = answered.sort().join() === quick.map((p) => p.name).sort().join();
  for (const p of slow) {
    const after = endOf(p)!.t - r.t;
    ok &&= after > 0;
    out(`  ${p.name.padEnd(2)} finished its slow work() ${(after / 1000).toFixed(1)} s after the call had returned: GET_MAJORITY did not wait for it`);
  }
  return ok;
}
