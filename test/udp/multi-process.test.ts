// Five members in five `node` processes over stacks/udp.xml (127.0.0.1, TTL 0, a multicast group
// and port of this run's own). Each prints its views as JSON lines (fixtures/member.mjs).
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { uniqueCluster, waitUntil } from '../helpers/cluster.js';
import { randomGroup, udpStackText } from './udp-helpers.js';

const fixture = fileURLToPath(new URL('./fixtures/member.mjs', import.meta.url));
const facade = fileURLToPath(new URL('../../packages/tsgroups/dist/index.js', import.meta.url));

interface ViewLine {
  viewId: string;
  members: string[];
  names: string[];
  at: number; // when the test received the line
}

interface Proc {
  name: string;
  child: ChildProcess;
  address: string | null;
  views: ViewLine[];
  closed: boolean;
  exit: Promise<number | null>;
  stderr: string[];
}

let procs: Proc[] = [];

function startMember(name: string, cluster: string, xml: string): Proc {
  const child = spawn(process.execPath, [fixture, name, cluster], {
    env: { ...process.env, TSGROUPS_STACK_XML: xml, TSGROUPS_LOG: process.env.TSGROUPS_LOG ?? 'error' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const p: Proc = {
    name,
    child,
    address: null,
    views: [],
    closed: false,
    stderr: [],
    // 'close': the process exited and its stdout/stderr are drained and closed.
    exit: new Promise((resolve) => child.once('close', (code) => resolve(code))),
  };
  createInterface({ input: child.stdout! }).on('line', (line) => {
    let ev: { event: string; address?: string; viewId?: string; members?: string[]; names?: string[] };
    try {
      ev = JSON.parse(line);
    } catch {
      p.stderr.push(`stdout: ${line}`);
      return;
    }
    if (ev.event === 'connected') p.address = ev.address!;
    else if (ev.event === 'view') p.views.push({ viewId: ev.viewId!, members: ev.members!, names: ev.names!, at: Date.now() });
    else if (ev.event === 'closed') p.closed = true;
  });
  createInterface({ input: child.stderr! }).on('line', (line) => p.stderr.push(line));
  return p;
}

const lastView = (p: Proc) => p.views[p.views.length - 1];
const describe5 = () =>
  procs.map((p) => `${p.name}: ${lastView(p) ? `${lastView(p)!.viewId} ${lastView(p)!.names.join(',')}` : '-'} ${p.stderr.join(' | ')}`).join('\n');

afterEach(async () => {
  for (const p of procs) if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
  await Promise.all(procs.map((p) => p.exit));
  procs = [];
});

test('five processes started together form one view within 5 s; members that leave are gone from the survivors\' views within 1 s', async () => {
  expect(existsSync(facade)).toBe(true); // built by `pnpm test` before jest runs
  const xml = udpStackText(randomGroup());
  const cluster = uniqueCluster('mp');
  const t0 = Date.now();
  procs = ['M1', 'M2', 'M3', 'M4', 'M5'].map((n) => startMember(n, cluster, xml));

  // Every process reports the same view of all five.
  const sameView = (ps: Proc[], size: number) => {
    const v0 = lastView(ps[0]!);
    return (
      v0 !== undefined &&
      v0.members.length === size &&
      ps.every((p) => p.address !== null && lastView(p)?.viewId === v0.viewId && lastView(p)!.members.join() === v0.members.join()) &&
      ps.every((p) => v0.members.includes(p.address!))
    );
  };
  await waitUntil(() => sameView(procs, 5), 5000, 'one view of 5 members in every process', describe5);
  const formed = Math.max(...procs.map((p) => lastView(p)!.at)) - t0;
  const view = lastView(procs[0]!)!;
  const coord = view.members[0]!;
  // Every process names the same coordinator (the first member of the view) and the same members.
  for (const p of procs) expect(lastView(p)!.members[0]).toBe(coord);
  expect([...view.names].sort()).toEqual(['M1', 'M2', 'M3', 'M4', 'M5']);
  console.log(`udp multi-process: 5 processes formed view ${view.names.join(',')} ${formed} ms after spawn`);

  // A member that is not coordinator leaves (SIGTERM: it closes its channel and exits).
  const leave = async (victim: Proc): Promise<number> => {
    const survivors = procs.filter((p) => p !== victim && !p.closed && p.child.exitCode === null);
    const start = Date.now();
    victim.child.kill('SIGTERM');
    await waitUntil(
      () => survivors.every((p) => lastView(p) !== undefined && !lastView(p)!.members.includes(victim.address!)),
      1000,
      `the survivors' views without ${victim.name}`,
      describe5,
    );
    const took = Math.max(...survivors.map((p) => lastView(p)!.at)) - start;
    await waitUntil(() => sameView(survivors, survivors.length), 1000, 'the survivors to agree', describe5);
    expect(await victim.exit).toBe(0);
    expect(victim.closed).toBe(true);
    return took;
  };
  const nonCoord = procs.find((p) => p.address !== coord && p.address === view.members[2])!;
  const tookMember = await leave(nonCoord);
  console.log(`udp multi-process: ${nonCoord.name} (member) left; survivors' views dropped it in ${tookMember} ms`);
  // Then the coordinator: the next member takes over.
  const coordProc = procs.find((p) => p.address === coord)!;
  const tookCoord = await leave(coordProc);
  console.log(`udp multi-process: ${coordProc.name} (coordinator) left; survivors' views dropped it in ${tookCoord} ms`);
  const rest = procs.filter((p) => p !== nonCoord && p !== coordProc);
  expect(lastView(rest[0]!)!.members).toHaveLength(3);
  expect(lastView(rest[0]!)!.members[0]).toBe(view.members[1]);

  // The rest leave cleanly too.
  for (const p of rest) p.child.kill('SIGTERM');
  expect(await Promise.all(rest.map((p) => p.exit))).toEqual([0, 0, 0]);
}, 30_000);
