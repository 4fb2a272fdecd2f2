import { type Address, Channel, ConsistentHash, ReplCache, RpcDispatcher } from 'tsgroups';
import { closeAll, uniqueCluster, waitForSameView, waitUntil } from './helpers/cluster.js';

// ReplCache in-process on loopback.xml: each key on exactly replCount members, chosen by the
// consistent hash of the view; reads from every member; after a member dies or joins, every key
// is again on exactly replCount live members.

interface Node {
  ch: Channel;
  cache: ReplCache<string | number, unknown>;
}

let nodes: Node[] = [];
afterEach(async () => {
  for (const n of nodes) n.cache?.stop(); // undefined when connect failed before a late cache was made
  await closeAll(nodes.map((n) => n.ch));
  nodes = [];
});

/** One member of `cluster`, its cache created before connect (or after, with `late`). */
async function join(cluster: string, name: string, late = false): Promise<Node> {
  const ch = new Channel('loopback.xml').setName(name);
  const node: Node = { ch, cache: late ? (null as never) : new ReplCache(ch) };
  nodes.push(node);
  await ch.connect(cluster);
  if (late) node.cache = new ReplCache(ch);
  return node;
}

async function cluster(n: number, late = false): Promise<{ name: string; members: Node[] }> {
  const name = uniqueCluster('repl-cache');
  const members: Node[] = [];
  for (let i = 0; i < n; i++) members.push(await join(name, String.fromCharCode(65 + i), late));
  await waitForSameView(members.map((m) => m.ch), 5000);
  return { name, members };
}

const live = (): Node[] => nodes.filter((n) => n.ch.isConnected());
const addr = (n: Node): Address => n.ch.getAddress()!;

/** For each key, the live members holding a copy. */
function holders(keys: readonly (string | number)[]): Map<string | number, Address[]> {
  const out = new Map<string | number, Address[]>(keys.map((k) => [k, []]));
  for (const n of live()) for (const k of n.cache.localKeys()) out.get(k)?.push(addr(n));
  return out;
}

/** True when every key is held by exactly the `count` owners the view's consistent hash names. */
function placedExactly(keys: readonly (string | number)[], count: number): boolean {
  const view = live()[0]!.ch.getView()!;
  const hash = new ConsistentHash(view.members);
  for (const [key, at] of holders(keys)) {
    const owners = hash.owners(key, count);
    if (at.length !== owners.length || !owners.every((o) => at.includes(o))) return false;
  }
  return true;
}

function describePlacement(keys: readonly (string | number)[]): string {
  const dist = new Map<number, number>();
  for (const at of holders(keys).values()) dist.set(at.length, (dist.get(at.length) ?? 0) + 1);
  const perMember = live().map((n) => `${n.ch.getName()}: ${n.cache.localKeys().length} ${JSON.stringify(n.cache.getStats())}`);
  return `keys by number of copies ${JSON.stringify([...dist])}; ${perMember.join('; ')}`;
}

/** Runs `fn` over `items`, `width` at a time. */
async function inBatches<T>(items: readonly T[], width: number, fn: (item: T, i: number) => Promise<void>): Promise<void> {
  for (let i = 0; i < items.length; i += width) await Promise.all(items.slice(i, i + width).map((it, j) => fn(it, i + j)));
}

const KEYS = Array.from({ length: 1000 }, (_, i) => `key-${i}`);
const valueOf = (key: string | number) => `value of ${key}`;

async function expectReadableEverywhere(keys: readonly (string | number)[], value = valueOf): Promise<void> {
  for (const n of live()) {
    const wrong: string[] = [];
    await inBatches(keys, 200, async (key) => {
      const v = await n.cache.get(key);
      if (v !== value(key)) wrong.push(`${key}: ${String(v)}`);
    });
    expect({ member: n.ch.getName(), wrong: wrong.slice(0, 5) }).toEqual({ member: n.ch.getName(), wrong: [] });
  }
}

describe('ReplCache', () => {
  test('replCount 2 on 5 members: each key on exactly its 2 owners, readable from every member; again so after a member dies and after one joins; remove works everywhere', async () => {
    const { name, members } = await cluster(5);
    await inBatches(KEYS, 100, (key, i) => members[i % 5]!.cache.put(key, valueOf(key), 2));
    // put resolved once both owners stored it: no waiting needed.
    expect(placedExactly(KEYS, 2)).toBe(true);
    expect(members.reduce((sum, n) => sum + n.cache.localKeys().length, 0)).toBe(2000);
    for (const n of members) expect(n.cache.localKeys().length).toBeGreaterThan(250); // ~400 each
    await expectReadableEverywhere(KEYS);

    // C dies: its keys are copied from their other owner to a new one.
    await members[2]!.ch.close();
    await waitForSameView(live().map((n) => n.ch), 5000);
    await waitUntil(() => placedExactly(KEYS, 2), 10_000, 'every key on exactly 2 live members after C died', () => describePlacement(KEYS));
    await expectReadableEverywhere(KEYS);

    // F joins: it takes over its share, and the members it displaced drop their copies.
    const f = await join(name, 'F');
    await waitForSameView(live().map((n) => n.ch), 5000);
    await waitUntil(() => placedExactly(KEYS, 2), 10_000, 'every key on exactly 2 live members after F joined', () => describePlacement(KEYS));
    expect(f.cache.localKeys().length).toBeGreaterThan(250);
    expect(live().reduce((sum, n) => sum + n.cache.localKeys().length, 0)).toBe(2000);
    await expectReadableEverywhere(KEYS);

    // remove: from any member, every copy goes.
    const gone = KEYS.slice(0, 100);
    await inBatches(gone, 50, async (key, i) => {
      expect(await live()[i % 5]!.cache.remove(key)).toBe(true);
    });
    for (const at of holders(gone).values()) expect(at).toEqual([]);
    for (const n of live()) for (const key of gone.slice(0, 10)) expect(await n.cache.get(key)).toBeUndefined();
    expect(await f.cache.remove(gone[0]!)).toBe(false);
    expect(placedExactly(KEYS.slice(100), 2)).toBe(true);
  });

  test('replCount -1: on every member, a joiner gets them all, and they stay on all after a member leaves', async () => {
    const { name, members } = await cluster(5);
    const keys = KEYS.slice(0, 200);
    await inBatches(keys, 100, (key, i) => members[i % 5]!.cache.put(key, valueOf(key), -1));
    for (const n of members) expect(n.cache.localKeys().sort()).toEqual([...keys].sort());
    await join(name, 'F');
    await waitForSameView(live().map((n) => n.ch), 5000);
    await waitUntil(() => placedExactly(keys, -1), 10_000, 'every key on all 6', () => describePlacement(keys));
    await members[0]!.ch.close(); // the coordinator
    await waitForSameView(live().map((n) => n.ch), 5000);
    expect(placedExactly(keys, -1)).toBe(true);
    await expectReadableEverywhere(keys.slice(0, 20));
  });

  test('puts while a member dies and another joins: every put resolves, and every key ends on exactly 2 live members with its value', async () => {
    const { name, members } = await cluster(5);
    const keys = KEYS.slice(0, 600);
    const putters = [members[0]!, members[1]!, members[3]!];
    const puts = inBatches(keys, 20, (key, i) => putters[i % 3]!.cache.put(key, valueOf(key)));
    await waitUntil(() => members[0]!.cache.getStats().localKeys > 50, 5000, 'some puts done');
    await members[4]!.ch.close();
    await waitUntil(() => members[0]!.cache.getStats().localKeys > 150, 5000, 'more puts done');
    const f = join(name, 'F');
    await puts;
    await f;
    await waitForSameView(live().map((n) => n.ch), 5000);
    await waitUntil(() => placedExactly(keys, 2), 10_000, 'every key on exactly 2 live members', () => describePlacement(keys));
    await expectReadableEverywhere(keys);
  });

  test('replCount 3: two members die together, then two join at once; every key is again on exactly 3', async () => {
    const { name, members } = await cluster(6);
    const keys = KEYS.slice(0, 500);
    await inBatches(keys, 100, (key, i) => members[i % 6]!.cache.put(key, valueOf(key), 3));
    expect(placedExactly(keys, 3)).toBe(true);
    await Promise.all([members[1]!.ch.close(), members[4]!.ch.close()]);
    await waitForSameView(live().map((n) => n.ch), 5000);
    await waitUntil(() => placedExactly(keys, 3), 10_000, 'every key on exactly 3 of the 4 left', () => describePlacement(keys));
    // Two joiners, and no waiting between the views: rebalancings overlap.
    await Promise.all([join(name, 'G'), join(name, 'H')]);
    await waitForSameView(live().map((n) => n.ch), 5000);
    await waitUntil(() => placedExactly(keys, 3), 10_000, 'every key on exactly 3 of 6', () => describePlacement(keys));
    await expectReadableEverywhere(keys);
  });

  test('a member dies and another joins right after, without waiting for the first rebalancing', async () => {
    const { name, members } = await cluster(5);
    await inBatches(KEYS, 100, (key, i) => members[i % 5]!.cache.put(key, valueOf(key)));
    // Not the coordinator, which would hold up the join until its leave is over.
    await Promise.all([members[2]!.ch.close(), join(name, 'F')]);
    await waitForSameView(live().map((n) => n.ch), 5000);
    await waitUntil(() => placedExactly(KEYS, 2), 10_000, 'every key on exactly 2 live members', () => describePlacement(KEYS));
    await expectReadableEverywhere(KEYS.slice(0, 200));
  });

  test('a joiner that makes its cache only after connect gets its share when the senders try again', async () => {
    const name = uniqueCluster('repl-cache-late-joiner');
    const options = { timeout: 300 };
    for (const n of ['A', 'B', 'C']) {
      const ch = new Channel('loopback.xml').setName(n);
      nodes.push({ ch, cache: new ReplCache(ch, options) });
      await ch.connect(name);
    }
    const senders = [...nodes];
    const keys = KEYS.slice(0, 300);
    await inBatches(keys, 100, (key, i) => senders[i % 3]!.cache.put(key, valueOf(key)));
    const d: Node = { ch: new Channel('loopback.xml').setName('D'), cache: undefined as never };
    nodes.push(d);
    await d.ch.connect(name);
    await waitForSameView(live().map((n) => n.ch), 5000);
    // The first messages to D found no cache there, and timed out.
    await waitUntil(() => senders.some((n) => n.cache.getStats().pushFailures > 0), 5000, 'a rebalancing message to D timed out');
    d.cache = new ReplCache(d.ch, options);
    await waitUntil(() => placedExactly(keys, 2), 10_000, 'every key on exactly 2 of 4', () => describePlacement(keys));
    expect(d.cache.localKeys().length).toBeGreaterThan(0);
    await expectReadableEverywhere(keys);
  });

  test('created after connect; keys may be numbers; values are what the marshaller carries; the later of two puts wins on every owner', async () => {
    const { members } = await cluster(3, true);
    const [a, b, c] = members as [Node, Node, Node];
    const value = { when: new Date(0), bytes: new Uint8Array([1, 2, 3]), tags: new Set(['x']) };
    await a.cache.put(42, value);
    expect(await c.cache.get(42)).toEqual(value);
    expect(await b.cache.get('42')).toBeUndefined(); // another key
    await a.cache.put('k', 'first', 3);
    await b.cache.put('k', 'second', 3);
    for (const n of members) expect(await n.cache.get('k')).toBe('second');
    // Concurrent writes of one key: whichever wins, every owner holds the same one.
    await Promise.all([a.cache.put('race', 'from A', 3), b.cache.put('race', 'from B', 3), c.cache.put('race', 'from C', 3)]);
    const seen = await Promise.all(members.map((n) => n.cache.get('race')));
    expect(new Set(seen).size).toBe(1);
  });

  test('two caches on one channel, told apart by id, and an RpcDispatcher beside them', async () => {
    const name = uniqueCluster('repl-cache-ids');
    const chs = ['A', 'B', 'C'].map((n) => new Channel('loopback.xml').setName(n));
    const second = chs.map((ch) => new ReplCache<string, number>(ch, { id: 7, defaultReplCount: 1 }));
    const disps = chs.map((ch) => new RpcDispatcher(ch, { ping: () => 'pong' }));
    try {
      for (const ch of chs) {
        nodes.push({ ch, cache: new ReplCache(ch) });
        await ch.connect(name);
      }
      await waitForSameView(chs, 5000);
      await nodes[0]!.cache.put('k', 'in the first');
      await second[1]!.put('k', 1);
      expect(await nodes[2]!.cache.get('k')).toBe('in the first');
      expect(await second[2]!.get('k')).toBe(1);
      expect(second.reduce((n, c) => n + c.localKeys().length, 0)).toBe(1);
      expect(nodes.reduce((n, x) => n + x.cache.localKeys().length, 0)).toBe(2);
      expect((await disps[0]!.callRemoteMethods(null, 'ping')).getResults()).toEqual(['pong', 'pong', 'pong']);
    } finally {
      for (const c of second) c.stop();
      for (const d of disps) d.stop();
    }
  });

  test('bad arguments, an unconnected channel, a stopped cache', async () => {
    const ch = new Channel('loopback.xml').setName('A');
    const cache = new ReplCache<string | number, string>(ch);
    nodes.push({ ch, cache: cache as ReplCache<string | number, unknown> });
    await expect(cache.put('k', 'v')).rejects.toMatchObject({ code: 'ERR_CHANNEL_NOT_CONNECTED' });
    expect(await cache.get('k')).toBeUndefined();
    expect(() => new ReplCache(ch, { defaultReplCount: 0 })).toThrow(expect.objectContaining({ code: 'ERR_BAD_ARGUMENT' }));
    await ch.connect(uniqueCluster('repl-cache-args'));
    await expect(cache.put(NaN, 'v')).rejects.toMatchObject({ code: 'ERR_BAD_ARGUMENT' });
    await expect(cache.put('k', 'v', 0)).rejects.toMatchObject({ code: 'ERR_BAD_ARGUMENT' });
    await expect(cache.put('k', 'v', 1.5)).rejects.toMatchObject({ code: 'ERR_BAD_ARGUMENT' });
    await expect(cache.get({} as never)).rejects.toMatchObject({ code: 'ERR_BAD_ARGUMENT' });
    await cache.put('k', 'v', 3); // more copies than members: on every member (one here)
    expect(cache.localKeys()).toEqual(['k']);
    cache.stop();
    expect(cache.localKeys()).toEqual([]);
    await expect(cache.put('k', 'v')).rejects.toMatchObject({ code: 'ERR_CHANNEL_CLOSED' });
  });
});
