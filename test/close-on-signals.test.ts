// closeOnSignals: a member sent SIGTERM or SIGINT leaves its cluster gracefully and then ends as
// the signal would have ended it. The members under signal run in processes of their own
// (test/fixtures/signal-member.mjs, on the built package).
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Channel, closeOnSignals } from 'tsgroups';
import { closeAll, loopbackStack, type Member, startCluster, uniqueCluster, Watch, waitUntil } from './helpers/cluster.js';
import { randomGroup, udpStack, udpStackText } from './udp/udp-helpers.js';

const fixture = fileURLToPath(new URL('./fixtures/signal-member.mjs', import.meta.url));

/** A fixture process, its JSON lines, and how it ended. */
class Child {
  readonly lines: Record<string, unknown>[] = [];
  stderr = '';
  exit: { code: number | null; signal: NodeJS.Signals | null } | null = null;
  readonly exited: Promise<void>;
  private readonly proc: ChildProcess;
  constructor(name: string, cluster: string, env: Record<string, string> = {}) {
    this.proc = spawn(process.execPath, [fixture, name, cluster], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let buf = '';
    this.proc.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      let i: number;
      while ((i = buf.indexOf('\n')) >= 0) {
        this.lines.push(JSON.parse(buf.slice(0, i)) as Record<string, unknown>);
        buf = buf.slice(i + 1);
      }
    });
    this.proc.stderr!.on('data', (d: Buffer) => (this.stderr += d.toString()));
    this.exited = new Promise((resolve) => this.proc.once('close', (code, signal) => ((this.exit = { code, signal }), resolve())));
  }
  saw(event: string): boolean {
    return this.lines.some((l) => l.event === event);
  }
  kill(signal: NodeJS.Signals): void {
    this.proc.kill(signal);
  }
  async stop(): Promise<void> {
    if (this.exit === null) this.proc.kill('SIGKILL');
    await this.exited;
  }
}

let members: Member[] = [];
const extra: Channel[] = [];
const children: Child[] = [];
afterEach(async () => {
  await Promise.all(children.splice(0).map((c) => c.stop()));
  await closeAll([...members.map((m) => m.channel), ...extra.splice(0)]);
  members = [];
});

test('SIGTERM: the member leaves (the others install a view without it and suspect nothing), then dies by SIGTERM', async () => {
  const group = randomGroup();
  const cluster = uniqueCluster('sig');
  members = await startCluster(1, () => udpStack(group), cluster);
  const a = members[0]!.channel;
  const watch = new Watch(a);
  const child = new Child('X', cluster, { TSGROUPS_STACK_XML: udpStackText(group) });
  children.push(child);
  await waitUntil(() => a.getView()!.size() === 2 && child.saw('connected'), 10_000, 'X joined', () => `${a.getView()} ${child.stderr}`);
  const x = a.getView()!.members[1]!;
  child.kill('SIGTERM');
  await child.exited;
  expect(child.exit).toEqual({ code: null, signal: 'SIGTERM' });
  expect(child.saw('closed')).toBe(true);
  // Its LEAVE reached the coordinator: no wait for failure detection.
  await waitUntil(() => a.getView()!.size() === 1, 3000, 'a view without X', () => String(a.getView()));
  expect(watch.suspects).not.toContain(x);
  expect(child.stderr).toBe('');
});

test('SIGINT: closes the channel, then dies by SIGINT', async () => {
  const child = new Child('Y', uniqueCluster('sig'));
  children.push(child);
  await waitUntil(() => child.saw('connected') || child.exit !== null, 10_000, 'Y connected', () => child.stderr);
  child.kill('SIGINT');
  await child.exited;
  expect(child.exit).toEqual({ code: null, signal: 'SIGINT' });
  expect(child.saw('closed')).toBe(true);
});

test('the handlers go when the channels are closed otherwise, or when the returned function is called', async () => {
  members = await startCluster(2, () => loopbackStack());
  const [a, b] = members.map((m) => m.channel) as [Channel, Channel];
  const count = () => [process.listenerCount('SIGTERM'), process.listenerCount('SIGINT')];
  const before = count();
  closeOnSignals([a, b]);
  expect(count()).toEqual(before.map((n) => n + 1));
  await a.close();
  expect(count()).toEqual(before.map((n) => n + 1)); // b is still open
  await b.close();
  expect(count()).toEqual(before);
  const c = new Channel(loopbackStack());
  extra.push(c);
  const off = closeOnSignals(c, { signals: ['SIGTERM'] });
  expect(count()).toEqual([before[0]! + 1, before[1]!]);
  off();
  off();
  expect(count()).toEqual(before);
  closeOnSignals(a); // already closed: nothing to do
  expect(count()).toEqual(before);
});
