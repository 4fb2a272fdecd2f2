import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Channel, RpcDispatcher } from 'tsgroups';
import { rpcPerfServer, runRpcPerfCalls } from '../packages/cli/src/rpc-perf-calls.js';
import { closeAll, stackPath, uniqueCluster, waitForSameView } from './helpers/cluster.js';

const built = fileURLToPath(new URL('../packages/cli/dist/main.js', import.meta.url));
const run = (args: string[], timeout = 20_000) => promisify(execFile)(process.execPath, [built, ...args], { timeout });

// `pnpm test` builds before it runs jest, so the compiled command exists.
test('the built `tsgroups perf rpc --processes 2` prints calls/s and latencies of every test; exits 0', async () => {
  const { stdout } = await run(
    ['perf', 'rpc', '--processes', '2', '--calls', '40', '--calls-all', '30', '--async-calls', '200', '--in-flight', '10', '--timeout', '30000'],
    60_000,
  );
  expect(stdout).toMatch(/^perf rpc: 2 member processes over UDP \(127\.0\.0\.1, 239\.\d+\.\d+\.\d+:\d+, TTL 0\)/);
  expect(stdout).toMatch(/^ {2}test +calls +calls\/s +avg us +p50 us +p99 us$/m);
  const row = (label: string, calls: number, latencies: boolean) =>
    new RegExp(`^ {2}${label} +${calls} +\\d+ +\\d+\\.\\d +${latencies ? '\\d+ +\\d+' : '- +-'}$`, 'm');
  expect(stdout).toMatch(row('unicast, sequential, GET_ALL', 40, true));
  expect(stdout).toMatch(row('unicast, sequential, GET_FIRST', 40, true));
  expect(stdout).toMatch(row('all 2 members, sequential, GET_ALL', 30, true));
  expect(stdout).toMatch(row('unicast, 10 in flight, GET_ALL', 200, false));
  expect(stdout).toMatch(/perf rpc: every call answered\n$/);
}, 70_000);

test('help describes perf rpc and its ranges', async () => {
  const { stdout } = await run(['help']);
  expect(stdout).toMatch(/perf rpc/);
  expect(stdout).toMatch(/--in-flight N \(default 100, 1\.\.10000\)/);
});

describe('the calling side, in one process on loopback', () => {
  const channels: Channel[] = [];
  afterEach(() => closeAll(channels.splice(0)));

  async function twoMembers(): Promise<RpcDispatcher> {
    const cluster = uniqueCluster('rpc-perf');
    const disps: RpcDispatcher[] = [];
    for (const name of ['A', 'B']) {
      const ch = new Channel(stackPath('loopback.xml')).setName(name);
      channels.push(ch);
      disps.push(new RpcDispatcher(ch, rpcPerfServer));
      await ch.connect(cluster);
    }
    await waitForSameView(channels, 10_000);
    return disps[0]!;
  }

  test('every test completes its calls; percentiles are ordered', async () => {
    const r = await runRpcPerfCalls(await twoMembers(), { calls: 30, callsAll: 20, asyncCalls: 100, inFlight: 7, timeoutMs: 20_000 });
    expect(r.complete).toBe(true);
    expect(r.error).toBeUndefined();
    expect(r.viewSize).toBe(2);
    expect(r.target).toBe('B');
    expect(r.figures.map((f) => [f.test, f.calls, f.completed])).toEqual([
      ['unicast_GET_ALL', 30, 30],
      ['unicast_GET_FIRST', 30, 30],
      ['all_GET_ALL', 20, 20],
      ['async', 100, 100],
    ]);
    for (const f of r.figures.slice(0, 3)) {
      expect(f.p50Us).toBeGreaterThanOrEqual(0);
      expect(f.p99Us).toBeGreaterThanOrEqual(f.p50Us!);
      expect(f.callsPerSec).toBeGreaterThan(0);
    }
    expect(r.figures[3]!.inFlight).toBe(7);
    expect(r.figures[3]!.p50Us).toBeUndefined();
  });

  test('the timeout stops the calls and the result says so', async () => {
    const r = await runRpcPerfCalls(await twoMembers(), { calls: 50_000_000, callsAll: 1, asyncCalls: 1, inFlight: 1, timeoutMs: 200 });
    expect(r.complete).toBe(false);
    expect(r.error).toMatch(/the 200 ms timeout passed/);
    expect(r.figures[0]!.completed).toBeLessThan(50_000_000);
  });
});
