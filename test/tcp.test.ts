// The TCP transport and TCPPING over stacks/tcp.xml: clusters on 127.0.0.1 whose ports each test
// reserved (TCPPING's list is built from them), garbage on a member's port, simultaneous dials,
// and kill -9 / restart on the same port between `tsgroups member` processes.
import { existsSync } from 'node:fs';
import { connect, createServer, type Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { Address, Channel, Event, EventType, Flag, Message, PhysicalAddress, type ProtocolStack, stackFromXml, TCP, TCPPING, parseInitialHosts } from 'tsgroups';
import { agreeOn, killAll, MemberProcess, stopMember, waitForAll } from '../packages/cli/src/member-process.js';
import { introduce, startNode, type Node } from './helpers/bare-stack.js';
import { closeAll, Recorder, stackXml, uniqueCluster, waitForSameView } from './helpers/cluster.js';
import { waitUntil } from './helpers/wait.js';
import { reservePorts } from './compliance/reserve-ports.js';

const cli = fileURLToPath(new URL('../packages/cli/dist/main.js', import.meta.url));

/** The variables of stacks/tcp.xml for a member on `port` of a cluster on `ports`, quick timings. */
function tcpEnv(port: number, ports: number[]): Record<string, string> {
  return {
    TSGROUPS_BIND_ADDR: '127.0.0.1',
    TSGROUPS_BIND_PORT: String(port),
    TSGROUPS_PORT_RANGE: '0',
    TSGROUPS_INITIAL_HOSTS: ports.map((p) => `127.0.0.1[${p}]`).join(','),
    TSGROUPS_INITIAL_PORT_RANGE: '0',
    TSGROUPS_FD_INTERVAL: '500ms',
    TSGROUPS_FD_TIMEOUT: '3s',
    TSGROUPS_MERGE_MIN_INTERVAL: '1s',
    TSGROUPS_MERGE_MAX_INTERVAL: '2s',
    TSGROUPS_DISCOVERY_TIMEOUT: '500ms',
  };
}

function tcpStack(port: number, ports: number[]): ProtocolStack {
  return stackFromXml(stackXml('tcp.xml'), { source: 'tcp.xml', env: tcpEnv(port, ports) });
}

const channels: Channel[] = [];
const sockets: Socket[] = [];
const nodes: Node[] = [];
const procs: MemberProcess[] = [];
afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  await closeAll(channels.splice(0));
  for (const n of nodes.splice(0)) await n.stack.stop();
  await killAll(procs.splice(0));
});

/** A cluster of `names.length` channels over tcp.xml, each on its own reserved port. */
async function tcpCluster(names: string[]): Promise<{ chs: Channel[]; recs: Recorder[]; ports: number[] }> {
  const ports = await reservePorts(names.length);
  const cluster = uniqueCluster('tcp');
  const chs: Channel[] = [];
  const recs: Recorder[] = [];
  for (let i = 0; i < names.length; i++) {
    const ch = new Channel(tcpStack(ports[i]!, ports)).setName(names[i]!);
    channels.push(ch);
    chs.push(ch);
    recs.push(new Recorder(ch));
    await ch.connect(cluster);
  }
  await waitForSameView(chs, 10_000);
  return { chs, recs, ports };
}

const tcpOf = (ch: Channel) => ch.getProtocolStack().findProtocol(TCP)!;

test('initial_hosts parses host[port] lists and expands port_range; a bad list is a config error', async () => {
  expect(parseInitialHosts('127.0.0.1[7800], localhost[7900]', 1).map(String)).toEqual([
    '127.0.0.1:7800',
    '127.0.0.1:7801',
    '127.0.0.1:7900',
    '127.0.0.1:7901',
  ]);
  expect(() => parseInitialHosts('127.0.0.1', 0)).toThrow(/host\[port\]/);
  const bad = stackFromXml(stackXml('tcp.xml'), { source: 'tcp.xml', env: { TSGROUPS_INITIAL_HOSTS: 'nope[' } });
  await expect(bad.init()).rejects.toThrow(/initial_hosts/);
});

test('a cluster of 3 forms over TCP via TCPPING; multicasts and unicasts arrive exactly once, in order', async () => {
  const { chs, recs } = await tcpCluster(['A', 'B', 'C']);
  expect(chs[0]!.getProtocolStack().findProtocol(TCPPING)).toBeDefined();
  const N = 200;
  for (let i = 0; i < N; i++) for (const ch of chs) void ch.send(null, `${ch.getName()}:${i}`);
  const b = chs[1]!.getAddress()!;
  for (let i = 0; i < N; i++) void chs[0]!.send(b, `u:${i}`);
  await waitUntil(() => recs.every((r, k) => r.messages.length === 3 * N + (k === 1 ? N : 0)), 20_000, 'every message', () => recs.map((r) => r.messages.length).join(','));
  for (const [k, r] of recs.entries()) {
    const texts = r.messages.map((m) => m.getObject<string>());
    for (const name of ['A', 'B', 'C']) expect(texts.filter((t) => t.startsWith(`${name}:`))).toEqual(Array.from({ length: N }, (_, i) => `${name}:${i}`));
    expect(texts.filter((t) => t.startsWith('u:'))).toEqual(k === 1 ? Array.from({ length: N }, (_, i) => `u:${i}`) : []);
  }
  // One connection per pair: each member holds two.
  await waitUntil(() => chs.every((c) => tcpOf(c).connectionCount === 2), 5000, 'one connection per pair', () => chs.map((c) => tcpOf(c).connectionCount).join(','));
}, 30_000);

test('garbage on the TCP port (random bytes, a 2 GB length prefix, a half-open connection) is counted and closed; the member keeps its view and traffic', async () => {
  const { chs, recs } = await tcpCluster(['A', 'B']);
  const tcp = tcpOf(chs[1]!);
  tcp.helloTimeout = 300; // the half-open connection is closed after this
  const viewBefore = chs[1]!.getView()!;
  const open = (): Promise<Socket> =>
    new Promise((resolve, reject) => {
      const s = connect({ host: '127.0.0.1', port: tcp.boundPort }, () => resolve(s));
      sockets.push(s);
      s.on('error', reject);
    });
  const closed = (s: Socket) => new Promise<void>((r) => (s.destroyed ? r() : s.once('close', () => r())));
  const base = { ...tcp.stats };
  // Random bytes.
  const r = await open();
  r.write(Buffer.from(Array.from({ length: 4096 }, () => Math.floor(Math.random() * 256))));
  // A 2 GB length prefix, after a valid hello.
  const big = await open();
  const hello = Buffer.from('127.0.0.1:1');
  const h = Buffer.alloc(8);
  h.writeUInt32BE(4 + hello.length, 0);
  h.writeUInt32BE(0x54534743, 4);
  const len = Buffer.alloc(4);
  len.writeUInt32BE(2 ** 31, 0);
  big.write(Buffer.concat([h, hello, len]));
  // A half-open connection that never sends.
  const silent = await open();
  await Promise.all([closed(r), closed(big), closed(silent)]);
  expect(tcp.stats.badFrames - base.badFrames).toBe(2);
  expect(tcp.stats.connectionsTimedOut - base.connectionsTimedOut).toBe(1);
  // The view is the same and traffic flows both ways.
  expect(chs[1]!.getView()!.viewId.equals(viewBefore.viewId)).toBe(true);
  const before = recs.map((x) => x.messages.length);
  await chs[0]!.send(null, 'after-a');
  await chs[1]!.send(null, 'after-b');
  await waitUntil(() => recs.every((x, k) => x.messages.length === before[k]! + 2), 5000, 'traffic after the garbage');
  expect(chs[1]!.getView()!.viewId.equals(viewBefore.viewId)).toBe(true);
}, 30_000);

test('simultaneous dials keep one connection, on both sides, and lose nothing', async () => {
  const cluster = uniqueCluster('dial');
  const mk = () => {
    const t = new TCP();
    t.bindAddr = '127.0.0.1';
    return t;
  };
  const a = await startNode(mk(), cluster, 'A');
  nodes.push(a);
  const b = await startNode(mk(), cluster, 'B');
  nodes.push(b);
  introduce([a, b]);
  // Both send in the same turn: each dials the other before either hello arrived.
  a.stack.down(new Message(b.address, 'a->b'));
  b.stack.down(new Message(a.address, 'b->a'));
  await waitUntil(() => a.messages.length === 1 && b.messages.length === 1, 5000, 'both messages');
  const ta = a.transport as TCP;
  const tb = b.transport as TCP;
  await waitUntil(() => ta.connectionCount === 1 && tb.connectionCount === 1, 5000, 'one connection each', () => `${ta.connectionCount},${tb.connectionCount}`);
  expect(ta.stats.duplicateConnections + tb.stats.duplicateConnections).toBeGreaterThanOrEqual(1);
  a.stack.down(new Message(b.address, 'again'));
  b.stack.down(new Message(a.address, 'again'));
  await waitUntil(() => a.messages.length === 2 && b.messages.length === 2, 5000, 'the second messages');
  expect(ta.connectionCount + tb.connectionCount).toBe(2);
});

test('a dial that fails backs off (sends dropped and counted, no dial storm), then dials again and delivers', async () => {
  const cluster = uniqueCluster('backoff');
  const [port] = await reservePorts(1);
  const t = new TCP();
  t.bindAddr = '127.0.0.1';
  t.reconnectInterval = 1000; // long enough that the sends below all fall inside it, on a busy machine too
  const a = await startNode(t, cluster, 'A');
  nodes.push(a);
  const peer = Address.random();
  a.stack.downEvent(new Event(EventType.ADD_PHYSICAL_ADDRESS, { address: peer, physical: PhysicalAddress.of('127.0.0.1', port!), name: 'P' }));
  a.stack.down(new Message(peer, 'first'));
  await waitUntil(() => t.stats.socketErrors >= 1 && t.connectionCount === 0, 5000, 'the refused dial');
  const opened = t.stats.connectionsOpened;
  for (let i = 0; i < 20; i++) a.stack.down(new Message(peer, `x${i}`).setFlag(Flag.DONT_BUNDLE));
  expect(t.stats.droppedNoConnection).toBe(20);
  expect(t.stats.connectionsOpened).toBe(opened); // no dial during the backoff
  // The peer comes up on that port: after the backoff the next send dials it.
  const b = new TCP();
  b.bindAddr = '127.0.0.1';
  b.bindPort = port!;
  const bn = await startNode(b, cluster, 'B');
  nodes.push(bn);
  a.stack.downEvent(new Event(EventType.ADD_PHYSICAL_ADDRESS, { address: bn.address, physical: PhysicalAddress.of('127.0.0.1', port!), name: 'B' }));
  await waitUntil(
    () => {
      a.stack.down(new Message(bn.address, 'hello'));
      return bn.messages.length > 0;
    },
    5000,
    'a message after the backoff',
  );
});

test('send buffers are bounded: a peer that stops reading makes datagrams drop (counted), never an unbounded queue', async () => {
  const cluster = uniqueCluster('bounded');
  // A peer that accepts and never reads.
  const stalled: Socket[] = [];
  const server = createServer((s) => {
    s.pause();
    stalled.push(s);
    sockets.push(s);
  });
  await new Promise<void>((r) => server.listen({ port: 0, host: '127.0.0.1' }, () => r()));
  try {
    const t = new TCP();
    t.bindAddr = '127.0.0.1';
    t.maxSendBuffer = 256_000;
    const a = await startNode(t, cluster, 'A');
    nodes.push(a);
    const peer = Address.random();
    const port = (server.address() as { port: number }).port;
    a.stack.downEvent(new Event(EventType.ADD_PHYSICAL_ADDRESS, { address: peer, physical: PhysicalAddress.of('127.0.0.1', port), name: 'P' }));
    const payload = new Uint8Array(30_000);
    await waitUntil(
      () => {
        for (let i = 0; i < 50; i++) a.stack.down(new Message(peer, payload).setFlag(Flag.DONT_BUNDLE));
        return t.stats.droppedSendBuffer > 0;
      },
      10_000,
      'drops at the bound',
    );
    expect(t.connectionCount).toBe(1);
  } finally {
    for (const s of stalled) s.destroy();
    await new Promise<void>((r) => server.close(() => r()));
  }
});

test('idle connections are closed after conn_expire_time, on both sides; the next send dials again', async () => {
  const cluster = uniqueCluster('idle');
  const mk = () => {
    const t = new TCP();
    t.bindAddr = '127.0.0.1';
    t.connExpireTime = 300;
    return t;
  };
  const a = await startNode(mk(), cluster, 'A');
  nodes.push(a);
  const b = await startNode(mk(), cluster, 'B');
  nodes.push(b);
  introduce([a, b]);
  const [ta, tb] = [a.transport as TCP, b.transport as TCP];
  a.stack.down(new Message(b.address, 'one'));
  await waitUntil(() => b.messages.length === 1, 5000, 'the first message');
  await waitUntil(() => ta.connectionCount === 0 && tb.connectionCount === 0, 5000, 'the idle connection closed', () => `${ta.connectionCount},${tb.connectionCount}`);
  a.stack.down(new Message(b.address, 'two'));
  await waitUntil(() => b.messages.length === 2, 5000, 'the message after the close');
  expect(b.messages.map((m) => m.getObject<string>())).toEqual(['one', 'two']);
});

test('member processes over tcp.xml: kill -9 of a member is detected; a member restarted on the same port rejoins', async () => {
  expect(existsSync(cli)).toBe(true);
  const ports = await reservePorts(3);
  const cluster = uniqueCluster('tcpmp');
  const names = ['P1', 'P2', 'P3'];
  const start = (i: number) => {
    const p = new MemberProcess({ name: names[i]!, cluster, env: tcpEnv(ports[i]!, ports), stack: tcpStackPath, cli });
    procs.push(p);
    return p;
  };
  const ps = [start(0), start(1), start(2)];
  await waitForAll(ps, () => ps.every((p) => p.address() !== undefined) && agreeOn(ps, names), 20_000, 'one view of 3');
  ps[2]!.kill('SIGKILL');
  expect(await ps[2]!.exit).toBeNull();
  const survivors = ps.slice(0, 2);
  await waitForAll(survivors, () => agreeOn(survivors, ['P1', 'P2']), 15_000, 'the survivors without P3');
  const again = start(2);
  const all = [ps[0]!, ps[1]!, again];
  await waitForAll(all, () => again.address() !== undefined && agreeOn(all, names), 20_000, 'P3 back in one view of 3');
  for (const p of all) expect(await stopMember(p)).toBe(0);
}, 60_000);

const tcpStackPath = fileURLToPath(new URL('../stacks/tcp.xml', import.meta.url));

test('member processes over tcp.xml: a partition A,B | C,D splits into two views; after healing, MERGE3 merges them into one', async () => {
  const ports = await reservePorts(4);
  const cluster = uniqueCluster('tcpmerge');
  const names = ['A', 'B', 'C', 'D'];
  const all = names.map((name, i) => {
    const p = new MemberProcess({ name, cluster, env: tcpEnv(ports[i]!, ports), stack: tcpStackPath, cli });
    procs.push(p);
    return p;
  });
  await waitForAll(all, () => all.every((p) => p.address() !== undefined) && agreeOn(all, names), 20_000, 'one view of 4');
  const [a, b, c, d] = all as [MemberProcess, MemberProcess, MemberProcess, MemberProcess];
  for (const p of [a, b]) p.send('partition C,D');
  for (const p of [c, d]) p.send('partition A,B');
  await waitForAll(all, () => agreeOn([a, b], ['A', 'B']) && agreeOn([c, d], ['C', 'D']), 15_000, 'the views A,B and C,D');
  const marks = all.map((p) => p.lines.length);
  for (const p of all) p.send('heal');
  const merged = (p: MemberProcess, i: number) => p.lines.slice(marks[i]).some((l) => l.event === 'view' && l.merge === true && l.members!.length === 4);
  await waitForAll(all, () => all.every(merged) && agreeOn(all, names), 20_000, 'one merge view of A,B,C,D');
  for (const p of all) expect(await stopMember(p)).toBe(0);
}, 60_000);
