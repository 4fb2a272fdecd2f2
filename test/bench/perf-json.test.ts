import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { stackPath } from '../helpers/cluster.js';

// `perf --json` (what scripts/bench reads): the result as the one line of stdout, the progress on
// stderr; the process benchmark carries each member's peak RSS.

const built = fileURLToPath(new URL('../../packages/cli/dist/main.js', import.meta.url));
const run = (args: string[]) => promisify(execFile)(process.execPath, [built, ...args, '--json'], { timeout: 60_000 });

test('perf --members 2 --json: one JSON line on stdout with the rate and the peak RSS', async () => {
  const { stdout, stderr } = await run(['perf', '--members', '2', '--messages', '500', '--stack', stackPath('loopback.xml')]);
  expect(stdout.trim().split('\n')).toHaveLength(1);
  const r = JSON.parse(stdout);
  expect(r.delivered).toBe(r.expected);
  expect(r.msgsPerSecPerMember).toBeGreaterThan(0);
  expect(r.peakRssMB).toBeGreaterThan(0);
  expect(stderr).toMatch(/msgs\/s delivered per member/);
}, 70_000);

test('perf --processes 2 --json: every member reports its maxRSS, the result the largest', async () => {
  const { stdout, stderr } = await run(['perf', '--processes', '2', '--messages', '500', '--size', '100', '--timeout', '30000']);
  expect(stdout.trim().split('\n')).toHaveLength(1);
  const r = JSON.parse(stdout);
  expect(r.complete).toBe(true);
  expect(r.members).toHaveLength(2);
  for (const m of r.members) expect(m.maxRssKiB).toBeGreaterThan(1000);
  expect(r.peakRssMB).toBe(Math.round((Math.max(...r.members.map((m: { maxRssKiB: number }) => m.maxRssKiB)) * 1024) / 1e6));
  expect(stderr).toMatch(/peak RSS \d+ MB \(largest member\), every member received all/);
}, 70_000);
