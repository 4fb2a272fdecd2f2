import { Channel, type Message, ReplicatedHashMap } from 'tsgroups';
import { closeAll, uniqueCluster, waitForSameView, waitUntil } from './helpers/cluster.js';

// ReplicatedHashMap in-process on loopback-reliable.xml (which has STATE_TRANSFER and BARRIER):
// writes reach every member, joiners fetch the map with start(), notifications, the receiver kept.

interface Node {
  ch: Channel;
  map: ReplicatedHashMap<string, number>;
}

let nodes: Node[] = [];
afterEach(async () => {
  for (const n of nodes) n.map.stop();
  await closeAll(nodes.map((n) => n.ch));
  nodes = [];
});

async function join(cluster: string, name: string, opts: ConstructorParameters<typeof ReplicatedHashMap>[1] = {}): Promise<Node> {
  const ch = new Channel('loopback-reliable.xml').setName(name);
  const map = new ReplicatedHashMap<string, number>(ch, opts);
  const node = { ch, map };
  nodes.push(node);
  await ch.connect(cluster);
  await map.start(10_000);
  return node;
}

async function cluster(n: number, opts: ConstructorParameters<typeof ReplicatedHashMap>[1] = {}): Promise<Node[]> {
  const name = uniqueCluster('rhm');
  for (let i = 0; i < n; i++) await join(name, String.fromCharCode(65 + i), opts);
  await waitForSameView(nodes.map((x) => x.ch), 5000);
  return nodes;
}

const sorted = (m: ReplicatedHashMap<string, number>) => [...m.entries()].sort(([a], [b]) => (a < b ? -1 : 1));

test('writes reach every member and resolve with what the key had; the operations of a map', async () => {
  const [a, b, c] = await cluster(3);
  expect(await a!.map.put('x', 1)).toBeUndefined();
  // Synchronous: applied everywhere when the put resolves.
  for (const n of [a, b, c]) expect(n!.map.get('x')).toBe(1);
  expect(await b!.map.put('x', 2)).toBe(1);
  expect(await c!.map.putIfAbsent('x', 9)).toBe(2);
  expect(await c!.map.putIfAbsent('y', 3)).toBeUndefined();
  expect(await a!.map.replace('z', 5)).toBeUndefined();
  expect(a!.map.has('z')).toBe(false);
  expect(await a!.map.replace('y', 4)).toBe(3);
  expect(await b!.map.replaceIf('y', 3, 7)).toBe(false);
  expect(await b!.map.replaceIf('y', 4, 7)).toBe(true);
  expect(await c!.map.remove('x')).toBe(2);
  expect(await c!.map.remove('x')).toBeUndefined();
  for (const n of [a, b, c]) {
    expect(sorted(n!.map)).toEqual([['y', 7]]);
    expect(n!.map.size).toBe(1);
  }
  await a!.map.clear();
  for (const n of [a, b, c]) expect(n!.map.size).toBe(0);
  await expect(a!.map.put({} as unknown as string, 1)).rejects.toMatchObject({ code: 'ERR_BAD_ARGUMENT' });
});

test('typed notifications on every member as each write is applied there', async () => {
  const [a, b] = await cluster(2);
  const seen: string[] = [];
  b!.map.on('put', (k, v, prev) => seen.push(`put ${k}=${v} (was ${prev})`));
  b!.map.on('remove', (k, prev) => seen.push(`remove ${k} (was ${prev})`));
  b!.map.on('clear', () => seen.push('clear'));
  await a!.map.put('k', 1);
  await a!.map.put('k', 2);
  await a!.map.remove('k');
  await a!.map.clear();
  expect(seen).toEqual(['put k=1 (was undefined)', 'put k=2 (was 1)', 'remove k (was 2)', 'clear']);
});

test('4 members put 2,500 distinct keys each at once, and a fifth that joins and starts in the middle ends with the same map', async () => {
  const all = await cluster(4);
  const name = all[0]!.ch.getClusterName()!;
  const PER = 2500;
  let late: Promise<Node> | null = null;
  await Promise.all(
    all.map(async (n, i) => {
      for (let k = 0; k < PER; k++) {
        await n.map.put(`${n.ch.getName()}-${k}`, k);
        if (i === 0 && k === PER / 2) late = join(name, 'E');
      }
    }),
  );
  const e = await late!;
  await waitForSameView(nodes.map((n) => n.ch), 5000);
  const expected = sorted(all[0]!.map);
  expect(expected).toHaveLength(4 * PER);
  for (const n of nodes) expect(sorted(n.map)).toEqual(expected);
  expect(e.map.size).toBe(4 * PER);
});

test('async writes resolve once sent and are applied everywhere', async () => {
  const [a, b] = await cluster(2, { mode: 'async' });
  for (let k = 0; k < 100; k++) await a!.map.put(`k${k}`, k);
  await waitUntil(() => b!.map.size === 100, 5000, 'the async puts at B');
  expect(b!.map.get('k99')).toBe(99);
});

test("the map takes only the channel's state callbacks: the application's receiver still gets its messages and views; stop gives it back", async () => {
  const name = uniqueCluster('rhm-recv');
  const got: string[] = [];
  const views: number[] = [];
  const receiver = { receive: (m: Message) => got.push(m.getObject<string>()), viewAccepted: (v: { size(): number }) => views.push(v.size()) };
  const ch = new Channel('loopback-reliable.xml').setName('R').setReceiver(receiver);
  const map = new ReplicatedHashMap<string, number>(ch);
  nodes.push({ ch, map });
  await ch.connect(name);
  const other = await join(name, 'S');
  await other.map.put('a', 1);
  await other.ch.send(null, 'plain');
  await waitUntil(() => got.includes('plain'), 5000, 'the plain message at R');
  expect(got).toEqual(['plain']); // the map's requests never reach it
  expect(views).toEqual([1, 2]);
  expect(map.get('a')).toBe(1);
  map.stop();
  expect(ch.getReceiver()).toBe(receiver);
  await expect(map.put('b', 2)).rejects.toMatchObject({ code: 'ERR_CHANNEL_CLOSED' });
});

test('start on an unconnected channel is refused; the first member starts empty', async () => {
  const ch = new Channel('loopback-reliable.xml');
  const map = new ReplicatedHashMap<string, number>(ch);
  nodes.push({ ch, map });
  await expect(map.start()).rejects.toMatchObject({ code: 'ERR_CHANNEL_NOT_CONNECTED' });
  await ch.connect(uniqueCluster('rhm-first'));
  await map.start();
  expect(map.size).toBe(0);
});
