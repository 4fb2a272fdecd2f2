import { runMajorityCall } from './demo-majority.js';
import { runMapJoiner, runReplicatedMap } from './demo-map.js';
import { agreeOn, killAll, type MemberLine, MemberProcess, randomMcastGroup, stopMember, udpMemberEnv, waitForAll } from './member-process.js';

export interface MultiProcessDemoOptions {
  members: number;
  cluster: string;
  /** The stack file (default: stacks/udp.xml). */
  stack?: string;
  /** The compiled CLI that runs `member` (default: dist/main.js next to this module). */
  cli?: string;
  out: (line: string) => void;
}

/**
 * The multi-process demo: `members` `tsgroups member` processes over stacks/udp.xml (127.0.0.1,
 * TTL 0, a multicast group and port of this run's own, short failure detection timings) form a
 * cluster; one calls a method on all through their RpcDispatchers with GET_MAJORITY while some
 * are slow, and it must return with the quick members' answers before the slow ones finish (see
 * demo-majority.ts); a few put keys into the ReplicatedHashMap every member has, and every
 * member must hold the same map (see demo-map.ts); one is killed with SIGKILL and the survivors
 * detect it; a new member joins and fetches the map by state transfer, which must be the same;
 * at the end every member must agree on the final view. Every child is gone when it returns.
 * @returns true if every check held
 */
export async function runMultiProcessDemo(o: MultiProcessDemoOptions): Promise<boolean> {
  const group = randomMcastGroup();
  const env = udpMemberEnv(group, { fdInterval: '500ms', fdTimeout: '3s' });
  const names = Array.from({ length: o.members + 1 }, (_, i) => String.fromCharCode(65 + i));
  const procs: MemberProcess[] = [];
  const show = (l: MemberLine) => {
    if (l.event === 'view') o.out(`  ${l.name.padEnd(2)} view ${l.id} [${l.members!.join(', ')}]${l.merge ? ' (merge)' : ''}`);
    else if (l.event === 'suspect') o.out(`  ${l.name.padEnd(2)} suspects ${l.member}`);
    else if (l.event === 'error') o.out(`  ${l.name.padEnd(2)} error: ${l.message}`);
  };
  const start = (name: string) => {
    const p = new MemberProcess({ name, cluster: o.cluster, env, stack: o.stack, cli: o.cli, onLine: show });
    procs.push(p);
    return p;
  };
  const elapsed = (t0: number) => `${((Date.now() - t0) / 1000).toFixed(1)} s`;
  try {
    o.out(`cluster "${o.cluster}": ${o.members} member processes over UDP (127.0.0.1, ${group.addr}:${group.port}, TTL 0)`);
    const t0 = Date.now();
    const first = names.slice(0, o.members).map(start);
    await waitForAll(first, () => agreeOn(first, names.slice(0, o.members)), 20_000, `one view of all ${o.members} members`);
    o.out(`all ${o.members} processes share one view after ${elapsed(t0)}`);
    const majorityOk = await runMajorityCall(first, o.out);
    const map = await runReplicatedMap(first, o.out);

    // Kill a member that is not the coordinator, without letting it say goodbye.
    const view = first[0]!.lastView()!;
    const victim = first.find((p) => p.name !== view.coord)!;
    const survivors = first.filter((p) => p !== victim);
    o.out(`kill -9 ${victim.name} (pid ${victim.child.pid}); the survivors must detect it (FD_ALL3 here: heartbeat 500 ms, timeout 3 s)`);
    const t1 = Date.now();
    victim.kill('SIGKILL');
    await victim.exit;
    const survivorNames = survivors.map((p) => p.name);
    await waitForAll(survivors, () => agreeOn(survivors, survivorNames), 20_000, `the survivors' view without ${victim.name}`);
    o.out(`the survivors installed a view without ${victim.name} after ${elapsed(t1)}`);

    const joinerName = names[o.members]!;
    o.out(`${joinerName} starts and joins`);
    const t2 = Date.now();
    const joiner = start(joinerName);
    const final = [...survivors, joiner];
    await waitForAll(final, () => agreeOn(final, [...survivorNames, joinerName]), 20_000, `a view with ${joinerName}`);
    o.out(`${joinerName} joined after ${elapsed(t2)}`);
    const mapOk = map !== null && (await runMapJoiner(joiner, survivors, map, o.out));

    const v = final[0]!.lastView()!;
    const agree = agreeOn(final, v.members);
    o.out(agree ? `all ${final.length} members agree on view ${v.id} [${v.members.join(', ')}]` : 'members disagree on the view');

    // Leave cleanly, newest first.
    o.out('the members leave, newest first');
    const codes: (number | null)[] = [];
    for (const p of [...final].reverse()) codes.push(await stopMember(p));
    const clean = codes.every((c) => c === 0);
    if (!clean) o.out(`members did not exit cleanly: exit codes ${codes.join(', ')}`);
    return majorityOk && mapOk && agree && clean;
  } catch (err) {
    o.out(`error: ${err instanceof Error ? err.message : String(err)}`);
    return false;
  } finally {
    await killAll(procs);
  }
}
