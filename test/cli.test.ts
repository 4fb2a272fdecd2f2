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
test('the built `tsgroups demo` command runs member processes over UDP: a GET_MAJORITY call returns before the slow member, equal replicated maps, a kill -9 is detected, a joiner joins and fetches the same map, all agree; exits 0', async () => {
  expect(existsSync(built)).toBe(true);
  const { stdout } = await promisify(execFile)(process.execPath, [built, 'demo'], { timeout: 45_000 });
  expect(stdout).toMatch(/4 member processes over UDP \(127\.0\.0\.1, 239\.\d+\.\d+\.\d+:\d+, TTL 0\)/);
  expect(stdout).toMatch(/all 4 processes share one view/);
  // GET_MAJORITY through the members' RpcDispatchers: D is slow, the call returns with A, B and C.
  expect(stdout).toMatch(/GET_MAJORITY: A calls work\(\) on all 4 members through their RpcDispatchers; a majority is 3; D takes 2 s\n/);
  const majority = /A {2}GET_MAJORITY returned after \d+ ms with 3 of 4 results: (.*); not waited for: D\n/.exec(stdout)?.[1];
  expect(majority?.split(', ').sort()).toEqual(['A answered "A"', 'B answered "B"', 'C answered "C"']);
  expect(stdout).toMatch(/D {2}finished its slow work\(\) \d+\.\d s after the call had returned: GET_MAJORITY did not wait for it\n/);
  // The replicated map: A, B and C put 100 keys each; all 4 members hold the same 300 entries.
  expect(stdout).toMatch(/replicated map: A, B, C each put 100 keys at once into the ReplicatedHashMap every member has \(sync writes\)\n/);
  expect(stdout.match(/^ {2}[ABC] {2}put 100 keys in \d+ ms$/gm)).toHaveLength(3);
  const digest = /all 4 members hold the same map: 300 entries, digest ([0-9a-f]{12})\n/.exec(stdout)?.[1];
  expect(digest).toBeDefined();
  expect(stdout.match(new RegExp(`^ {2}[A-E] {2}map: 300 entries, digest ${digest}$`, 'gm'))).toHaveLength(8);
  const killed = /kill -9 ([A-Z]) /.exec(stdout)?.[1];
  expect(killed).toBeDefined();
  expect(stdout).toMatch(new RegExp(`the survivors installed a view without ${killed}`));
  expect(stdout).toMatch(/E joined after/);
  // E fetches the map by state transfer and holds the same one.
  expect(stdout).toMatch(/E starts its replicated map: it fetches the map from the coordinator \(state transfer\)\n {2}E {2}fetched 300 entries in \d+ ms\n/);
  expect(stdout).toContain(`E holds the same map as the others: 300 entries, digest ${digest}\n`);
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

test('the built `tsgroups perf --processes 2 --stack stacks/tcp.xml` runs member processes over TCP, found by TCPPING on ports of the run\'s own; exits 0', async () => {
  const { stdout } = await promisify(execFile)(
    process.execPath,
    [built, 'perf', '--processes', '2', '--stack', stackPath('tcp.xml'), '--messages', '200', '--size', '100', '--timeout', '30000'],
    { timeout: 60_000 },
  );
  expect(stdout).toMatch(/2 member processes over TCP \(127\.0\.0\.1\)/);
  expect(stdout).toMatch(/over TCP: members on 127\.0\.0\.1 ports \d+, \d+/);
  const members = [...stdout.matchAll(/^ {2}(P\d): (\d+) msgs\/s \((\d+)\/(\d+) in \d+ ms\)$/gm)];
  expect(members.map((m) => m[1]).sort()).toEqual(['P0', 'P1']);
  for (const m of members) expect(Number(m[3])).toBe(2 * 200);
  expect(stdout).toMatch(/every member received all\n$/);
}, 70_000);

describe('the CLI refuses bad numbers instead of replacing them', () => {
  const run = (args: string[]) => promisify(execFile)(process.execPath, [built, ...args], { timeout: 20_000 });

  test.each<[string[], RegExp]>([
    [['demo', '--members', 'abc'], /--members must be an integer from 2 to 25, got "abc"/],
    [['demo', '--members', '1'], /--members must be an integer from 2 to 25, got "1"/],
    [['demo', '--members', '26'], /--members must be an integer from 2 to 25/],
    [['demo', '--messages', '3'], /--messages applies to demo --in-process only/],
    [['demo', '--in-process', '--members', '27'], /--members must be an integer from 2 to 26/],
    [['demo', '--in-process', '--messages', '0'], /--messages must be an integer from 1 to 100000/],
    [['perf', '--members', '0x10'], /--members must be an integer from 1 to 100, got "0x10"/],
    [['perf', '--messages', '1e3'], /--messages must be an integer/],
    [['perf', '--size', '10K'], /--size must be an integer from 0 to 10000000/],
    [['perf', '--timeout', '30s'], /--timeout must be an integer from 1 to 2147483647/],
    [['perf', '--timeout', '0'], /--timeout must be an integer/],
    [['perf', '--processes', '26'], /--processes must be an integer from 1 to 25/],
    [['perf', '--processes', '2', '--size', '1'], /--size must be an integer from 2 to/],
    [['perf', '--processes', '2', '--members', '3'], /--members does not go with --processes/],
    [['perf', '--bogus', '1'], /Unknown option '--bogus'/],
    [['perf', '--members'], /argument missing/],
    [['perf', 'rpc', '--processes', '1'], /--processes must be an integer from 2 to 25, got "1"/],
    [['perf', 'rpc', '--calls', '0'], /--calls must be an integer from 1 to 100000000/],
    [['perf', 'rpc', '--calls-all', '1e3'], /--calls-all must be an integer/],
    [['perf', 'rpc', '--async-calls=-5'], /--async-calls must be an integer from 1 to 100000000, got "-5"/],
    [['perf', 'rpc', '--in-flight', '10001'], /--in-flight must be an integer from 1 to 10000/],
    [['perf', 'rpc', '--timeout', '5s'], /--timeout must be an integer from 1 to 2147483647/],
    [['perf', 'rpc', '--members', '2'], /Unknown option '--members'/],
    [['perf', 'rpc', 'extra'], /positional/i],
    [['member', '--name', 'a', '--cluster', 'b', 'extra'], /positional/i],
  ])('tsgroups %j exits 2 and says why', async (args, why) => {
    const err = await run(args).then(
      () => undefined,
      (e: { code: number; stdout: string; stderr: string }) => e,
    );
    expect(err).toBeDefined();
    expect(err!.code).toBe(2);
    expect(err!.stderr).toMatch(why);
    expect(err!.stdout).toBe(''); // nothing ran
  });

  test('help states the ranges', async () => {
    const { stdout } = await run(['help']);
    expect(stdout).toMatch(/--members N \(default 4, 2\.\.25\)/);
    expect(stdout).toMatch(/--timeout MS \(default 30000, 1\.\.2147483647\): bounds sending and delivery together/);
    expect(stdout).toMatch(/exits with status 2/);
  });
});

test('perf --timeout bounds the sending too: the run stops sending at the deadline and says so', async () => {
  const { runPerf } = await import('../packages/cli/src/perf.js');
  const lines: string[] = [];
  const messages = 50_000_000; // far more than a 300 ms run can send
  const r = await runPerf({
    members: 2,
    messages,
    size: 10,
    stack: stackPath('loopback.xml'),
    cluster: uniqueCluster('perf-timeout'),
    timeoutMs: 300,
    out: (l) => lines.push(l),
  });
  expect(r.sent).toBeGreaterThan(0);
  expect(r.sent).toBeLessThan(messages);
  expect(r.delivered).toBeLessThan(r.expected);
  expect(lines[0]).toMatch(new RegExp(`the 300 ms timeout stopped the sending after ${r.sent} msgs per member`));
});

test('the built `tsgroups perf --processes 2` with a short --timeout stops each member\'s sending and exits 1', async () => {
  const err = await promisify(execFile)(
    process.execPath,
    [built, 'perf', '--processes', '2', '--messages', '50000000', '--size', '100', '--timeout', '1500'],
    { timeout: 60_000 },
  ).then(
    () => undefined,
    (e: { code: number; stdout: string }) => e,
  );
  expect(err).toBeDefined();
  expect(err!.code).toBe(1);
  const cut = [...err!.stdout.matchAll(/^ {2}(P\d): \d+ msgs\/s \(\d+\/\d+ in \d+ ms; the timeout stopped its sending after (\d+) of 50000000\)$/gm)];
  expect(cut.map((m) => m[1]).sort()).toEqual(['P0', 'P1']);
  expect(err!.stdout).toMatch(/INCOMPLETE\n$/);
}, 70_000);
