import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { runDemo } from '../packages/cli/src/demo.js';
import { stackPath, uniqueCluster } from './helpers/cluster.js';

test('the demo forms a cluster, delivers every multicast once and reports agreement', async () => {
  const lines: string[] = [];
  const ok = await runDemo({ members: 3, messages: 10, stack: stackPath('loopback.xml'), cluster: uniqueCluster('demo'), out: (l) => lines.push(l) });
  expect(ok).toBe(true);
  expect(lines.filter((l) => /received 30 of 30 multicasts, each once/.test(l))).toHaveLength(3);
  expect(lines.some((l) => /all members agree on view/.test(l))).toBe(true);
});

const built = fileURLToPath(new URL('../packages/cli/dist/main.js', import.meta.url));

// `pnpm test` builds before it runs jest, so the compiled command exists.
test('the built `tsgroups demo` command runs member processes over UDP: a kill -9 is detected, a joiner joins, all agree; exits 0', async () => {
  expect(existsSync(built)).toBe(true);
  const { stdout } = await promisify(execFile)(process.execPath, [built, 'demo'], { timeout: 45_000 });
  expect(stdout).toMatch(/4 member processes over UDP \(127\.0\.0\.1, 239\.\d+\.\d+\.\d+:\d+, TTL 0\)/);
  expect(stdout).toMatch(/all 4 processes share one view/);
  const killed = /kill -9 ([A-Z]) /.exec(stdout)?.[1];
  expect(killed).toBeDefined();
  expect(stdout).toMatch(new RegExp(`the survivors installed a view without ${killed}`));
  expect(stdout).toMatch(/E joined after/);
  expect(stdout).toMatch(/all 4 members agree on view .*E/);
  expect(stdout).toMatch(/demo: OK\n$/);
}, 60_000);

test('the built `tsgroups demo --in-process` command runs and exits 0', async () => {
  const { stdout } = await promisify(execFile)(process.execPath, [built, 'demo', '--in-process', '--members', '3', '--messages', '3'], { timeout: 20_000 });
  expect(stdout).toMatch(/received 9 of 9 multicasts, each once/);
  expect(stdout).toMatch(/demo: OK/);
});

test('`tsgroups member` without --name and --cluster exits 2', async () => {
  await expect(promisify(execFile)(process.execPath, [built, 'member'], { timeout: 20_000 })).rejects.toMatchObject({ code: 2 });
});

test('an unknown command exits 2 with usage', async () => {
  await expect(promisify(execFile)(process.execPath, [built, 'nope'], { timeout: 20_000 })).rejects.toMatchObject({ code: 2 });
});

test('perf delivers every multicast to every member and reports a rate', async () => {
  const { runPerf } = await import('../packages/cli/src/perf.js');
  const lines: string[] = [];
  const r = await runPerf({
    members: 3,
    messages: 2000,
    size: 100,
    stack: stackPath('loopback.xml'),
    cluster: uniqueCluster('perf'),
    timeoutMs: 10_000,
    out: (l) => lines.push(l),
  });
  expect(r.delivered).toBe(r.expected);
  expect(r.expected).toBe(3 * 2000 * 3);
  expect(r.msgsPerSecPerMember).toBeGreaterThan(0);
  expect(lines[0]).toMatch(/msgs\/s delivered per member/);
});

test('the built `tsgroups perf --processes 2` runs member processes over UDP; every member receives N*M multicasts; exits 0', async () => {
  const { stdout } = await promisify(execFile)(process.execPath, [built, 'perf', '--processes', '2', '--messages', '2000', '--size', '1000', '--timeout', '30000'], {
    timeout: 60_000,
  });
  expect(stdout).toMatch(/2 member processes over UDP \(127\.0\.0\.1, 239\.\d+\.\d+\.\d+:\d+, TTL 0\)/);
  const members = [...stdout.matchAll(/^ {2}(P\d): (\d+) msgs\/s \((\d+)\/(\d+) in \d+ ms\)$/gm)];
  expect(members.map((m) => m[1]).sort()).toEqual(['P0', 'P1']);
  for (const m of members) {
    expect(Number(m[3])).toBe(2 * 2000);
    expect(Number(m[4])).toBe(2 * 2000);
    expect(Number(m[2])).toBeGreaterThan(0);
  }
  expect(stdout).toMatch(/msgs\/s delivered per member \(median; .*\), every member received all\n$/);
}, 70_000);
