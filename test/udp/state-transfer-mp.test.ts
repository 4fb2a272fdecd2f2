// State transfer between processes over stacks/udp.xml: a 200 MB state streams from a provider to
// a joiner (connect with state) without the provider ever holding it: its RSS grows by far less
// than the state. Prints the transfer rate (not asserted).
import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { randomMcastGroup, udpMemberEnv } from '../../packages/cli/src/member-process.js';
import { killChildren } from '../helpers/children.js';
import { uniqueCluster, waitUntil } from '../helpers/cluster.js';

const fixture = fileURLToPath(new URL('./fixtures/state-member.mjs', import.meta.url));
const MB = 1024 * 1024;

interface Line {
  role: string;
  event: string;
  bytes?: number;
  sha256?: string;
  ms?: number;
  transferMs?: number;
  rssBefore?: number;
  rssPeak?: number;
  code?: string;
  message?: string;
}

const children: ChildProcess[] = [];
afterEach(async () => {
  await killChildren(children);
});

function spawnMember(args: string[], env: Record<string, string>, lines: Line[]): ChildProcess {
  const child = spawn(process.execPath, ['--expose-gc', fixture, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(child);
  createInterface({ input: child.stdout! }).on('line', (text) => {
    try {
      lines.push(JSON.parse(text) as Line);
    } catch {
      // not ours
    }
  });
  return child;
}

test('a 200 MB state streams to a joiner over udp.xml; the provider never holds it (RSS grows < 100 MB)', async () => {
  const env = udpMemberEnv(randomMcastGroup());
  const cluster = uniqueCluster('state-mp');
  const size = 200;
  const lines: Line[] = [];
  const find = (role: string, event: string) => lines.find((l) => l.role === role && l.event === event);
  spawnMember(['provider', cluster, String(size)], env, lines);
  await waitUntil(() => find('provider', 'ready') !== undefined, 20_000, 'the provider connected');
  spawnMember(['requester', cluster, '110000'], env, lines);
  await waitUntil(
    () => find('requester', 'error') !== undefined || (find('requester', 'done') !== undefined && find('provider', 'provided') !== undefined),
    120_000,
    'the transfer',
  );
  expect(find('requester', 'error')).toBeUndefined();
  const done = find('requester', 'done')!;
  const provided = find('provider', 'provided')!;
  expect(done.bytes).toBe(size * MB);
  expect(done.sha256).toBe(provided.sha256);
  const growth = (provided.rssPeak! - provided.rssBefore!) / MB;
  const rate = size / (Math.max(1, done.transferMs!) / 1000);
  console.log(
    `state transfer over udp.xml: ${size} MB in ${done.transferMs} ms = ${rate.toFixed(1)} MB/s ` +
      `(connect with state: ${done.ms} ms); provider RSS +${growth.toFixed(1)} MB`,
  );
  expect(growth).toBeLessThan(100);
}, 150_000);
