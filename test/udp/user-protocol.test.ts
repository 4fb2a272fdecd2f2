// The batch contract between real processes: a user protocol that overrides only up(msg), at the
// top of stacks/udp.xml, sees every message, although UDP and NAKACK2 pass them up in batches.
import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { randomMcastGroup, udpMemberEnv } from '../../packages/cli/src/member-process.js';
import { killChildren } from '../helpers/children.js';
import { uniqueCluster } from '../helpers/cluster.js';

const fixture = fileURLToPath(new URL('./fixtures/counting-member.mjs', import.meta.url));

interface Line {
  name: string;
  event: string;
  counted?: number;
  delivered?: number;
  fromEach?: Record<string, number>;
  message?: string;
}

const children: ChildProcess[] = [];
afterEach(async () => {
  await killChildren(children);
});

/** Runs one member to its end; resolves with its last JSON line. */
function runMember(name: string, cluster: string, env: Record<string, string>, members: number, messages: number): Promise<Line> {
  const child = spawn(process.execPath, [fixture, name, cluster, String(members), String(messages)], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  children.push(child);
  let last: Line | undefined;
  createInterface({ input: child.stdout! }).on('line', (text) => {
    try {
      last = JSON.parse(text) as Line;
    } catch {
      // not ours
    }
  });
  return new Promise((resolve, reject) => {
    child.once('exit', (code) => {
      if (last !== undefined) resolve(last);
      else reject(new Error(`${name} exited with ${code} before reporting`));
    });
  });
}

test('a protocol overriding only up(msg) counts every message, between processes over udp.xml', async () => {
  const env = udpMemberEnv(randomMcastGroup());
  const cluster = uniqueCluster('upcount');
  const names = ['A', 'B', 'C'];
  const M = 3000;
  const results = await Promise.all(names.map((n) => runMember(n, cluster, env, names.length, M)));
  for (const r of results) {
    expect(r.event).toBe('done');
    // Every multicast of every member (own ones included, and each one's 'end') passed the
    // counter exactly once ...
    expect(r.counted).toBe(names.length * (M + 1));
    // ... and reached the application: nothing lost, nothing twice.
    expect(r.delivered).toBe(names.length * M);
    expect(r.fromEach).toEqual(Object.fromEntries(names.map((n) => [n, M])));
  }
}, 90_000);
