// SEQUENCER in-process: total order of concurrent multicasts (with and without loss), failover
// when the coordinator dies in the middle of a burst, a new sequencer that lags behind the
// others, and the messages SEQUENCER leaves alone.
import { setImmediate as nextTurn } from 'node:timers/promises';
import {
  Address,
  Channel,
  DISCARD,
  FD_ALL3,
  Flag,
  GMS,
  MERGE3,
  Message,
  NAKACK2,
  PING,
  ProtocolStack,
  Reader,
  SEQUENCER,
  SeqType,
  type SequencerHeader,
  sequencerHeaderCodec,
  SHARED_LOOPBACK,
  STABLE,
  UNICAST3,
  VERIFY_SUSPECT2,
  Writer,
} from 'tsgroups';
import { closeAll, discardOf, stackXml, uniqueCluster, waitForSameView, waitUntil } from './helpers/cluster.js';

function stack(seed: number, loss: number, merge = false, fdTimeout = 1500): ProtocolStack {
  return new ProtocolStack([
    new SHARED_LOOPBACK(),
    new DISCARD().setSeed(seed).setUpDiscardRate(loss).setDownDiscardRate(loss),
    new PING(),
    ...(merge ? [new MERGE3().setValues({ min_interval: 200, max_interval: 500 })] : []),
    new FD_ALL3().setValues({ interval: 100, timeout: fdTimeout }),
    new VERIFY_SUSPECT2().setValues({ timeout: 300 }),
    new NAKACK2().setValues({ xmit_interval: 50 }),
    new UNICAST3().setValues({ xmit_interval: 50 }),
    new STABLE().setValues({ desired_avg_gossip: 300, max_bytes: '100K' }),
    new GMS().setValues({ join_timeout: 500, view_ack_collection_timeout: 500, join_retry_delay: 20, leave_timeout: 300, merge_timeout: 1000 }),
    new SEQUENCER().setValues({ recovery_timeout: 3000 }),
  ]);
}

/** A member and the messages it delivered, in order, as "name:n". */
class Node {
  readonly delivered: string[] = [];
  sent = 0;
  alive = true;
  constructor(readonly channel: Channel) {
    channel.on('message', (msg) => this.delivered.push(msg.getObject<string>()));
  }
  get name(): string {
    return this.channel.getName()!;
  }
  get address(): Address {
    return this.channel.getAddress()!;
  }
  get seq(): SEQUENCER {
    return this.channel.getProtocolStack().findProtocol(SEQUENCER)!;
  }
  /** Multicasts `count` numbered messages, yielding now and then; stops when killed. */
  async burst(count: number): Promise<void> {
    for (let i = 0; i < count && this.alive; i++) {
      await this.channel.send(null, `${this.name}:${this.sent++}`);
      if (i % 8 === 7) await nextTurn();
    }
  }
  /** Isolated first, so that nothing more leaves it, then closed: a crash as the others see it. */
  async kill(): Promise<void> {
    this.alive = false;
    discardOf(this.channel).setDiscardAll(true);
    await this.channel.close();
  }
}

let nodes: Node[] = [];
afterEach(async () => {
  await closeAll(nodes.map((n) => n.channel).filter((c) => c.isOpen()));
  nodes = [];
});

/**
 * `n` members on one new cluster; the loss starts once they share a view (a joiner that loses
 * its join under loss founds a group of its own, which only MERGE3 would heal: not what these
 * tests are about). Tests in which nobody fails detect failures slowly (`fdTimeout`), so that a
 * busy machine cannot make a false suspicion.
 */
async function start(n: number, seed: number, loss: number, merge = false, fdTimeout = 1500): Promise<Node[]> {
  const cluster = uniqueCluster('seq');
  for (let i = 0; i < n; i++) {
    const node = new Node(new Channel(stack(seed * 10 + i, 0, merge, fdTimeout)).setName(String.fromCharCode(65 + i)));
    nodes.push(node);
    await node.channel.connect(cluster);
  }
  await waitForSameView(nodes.map((x) => x.channel), 10_000);
  for (const node of nodes) discardOf(node.channel).setUpDiscardRate(loss).setDownDiscardRate(loss);
  return [...nodes];
}

/**
 * Every node delivered the same sequence, each message once, each sender's in its send order,
 * and every message `expected` names (by sender, how many) is in it.
 */
function expectTotalOrder(live: Node[], expected: Map<string, number>): void {
  const first = live[0]!.delivered;
  for (const n of live) expect({ name: n.name, delivered: n.delivered }).toEqual({ name: n.name, delivered: first });
  expect(new Set(first).size).toBe(first.length);
  const next = new Map<string, number>();
  for (const m of first) {
    const [sender, k] = m.split(':') as [string, string];
    expect(Number(k)).toBe(next.get(sender) ?? 0);
    next.set(sender, Number(k) + 1);
  }
  for (const [sender, count] of expected) expect(next.get(sender) ?? 0).toBe(count);
}

/** Each sender's numbers in `order` run from `from` up without a gap or a repeat. */
function perSender(order: string[], from: number): void {
  const next = new Map<string, number>();
  for (const m of order) {
    const [sender, k] = m.split(':') as [string, string];
    expect(Number(k)).toBe(next.get(sender) ?? from);
    next.set(sender, Number(k) + 1);
  }
}

function allDelivered(live: Node[], total: number): () => boolean {
  return () => live.every((n) => n.delivered.length >= total);
}

function describe_(live: Node[]): () => string {
  return () => live.map((n) => `${n.name}: ${n.delivered.length} ${JSON.stringify(n.seq.getStats())}`).join('; ');
}

test.each([
  [1, 0],
  [2, 0.1],
  [3, 0.1],
])('4 members multicast at once: the same order everywhere, each message once (seed %i, loss %f)', async (seed, loss) => {
  const live = await start(4, seed, loss, false, 10_000);
  await Promise.all(live.map((n) => n.burst(300)));
  await waitUntil(allDelivered(live, 1200), 30_000, 'every message everywhere', describe_(live));
  expectTotalOrder(live, new Map(live.map((n) => [n.name, 300])));
  // Nothing pending, everything ordered by the coordinator.
  for (const n of live) expect(n.seq.numPending()).toBe(0);
  expect(live[0]!.seq.getStats().sequenced).toBe(1200);
}, 60_000);

test.each([
  [1, 0],
  [2, 0],
  [3, 0.05],
  [4, 0.05],
])('the coordinator dies in the middle of a burst: the survivors agree, none lost, none twice (seed %i, loss %f)', async (seed, loss) => {
  const live = await start(4, seed, loss);
  const [coord, ...survivors] = live as [Node, ...Node[]];
  const kill = async () => {
    await waitUntil(() => survivors.every((n) => n.delivered.length >= 100), 10_000, 'the burst under way');
    await coord.kill();
  };
  await Promise.all([...live.map((n) => n.burst(400)), kill()]);
  await waitForSameView(survivors.map((n) => n.channel), 15_000);
  // The survivors' messages all get through; the dead coordinator's only as far as any survivor had them.
  await waitUntil(
    () => survivors.every((n) => n.seq.numPending() === 0) && survivors.every((n) => n.delivered.length === survivors[0]!.delivered.length),
    20_000,
    'the survivors caught up',
    describe_(survivors),
  );
  await waitUntil(allDelivered(survivors, 1200), 20_000, 'the survivors\' messages everywhere', describe_(survivors));
  const got = survivors[0]!.delivered;
  const fromCoord = got.filter((m) => m.startsWith(`${coord.name}:`)).length;
  expectTotalOrder(survivors, new Map([...survivors.map((n) => [n.name, 400] as [string, number]), [coord.name, fromCoord]]));
  expect(got.length).toBe(1200 + fromCoord);
  expect(survivors[0]!.seq.getStats().recoveries).toBeGreaterThanOrEqual(1);
}, 90_000);

test.each([
  ['the coordinator leaves', 1],
  ['the coordinator and the next one die together', 2],
  ['a member that is not the coordinator dies', -1],
])('%s in the middle of a burst: the survivors agree, none of their messages lost or twice', async (_what, victims) => {
  const live = await start(5, 20 + victims, 0.02);
  const leave = victims === 1;
  const dead = victims === -1 ? [live[2]!] : live.slice(0, victims);
  const survivors = live.filter((n) => !dead.includes(n));
  const stop = async () => {
    await waitUntil(() => survivors.every((n) => n.delivered.length >= 150), 10_000, 'the burst under way');
    if (leave) {
      dead[0]!.alive = false;
      await dead[0]!.channel.close();
    } else {
      await Promise.all(dead.map((n) => n.kill()));
    }
  };
  await Promise.all([...live.map((n) => n.burst(300)), stop()]);
  await waitForSameView(survivors.map((n) => n.channel), 15_000);
  await waitUntil(
    () => survivors.every((n) => n.seq.numPending() === 0 && n.delivered.length === survivors[0]!.delivered.length) && survivors[0]!.delivered.length >= 300 * survivors.length,
    20_000,
    'the survivors caught up',
    describe_(survivors),
  );
  const got = survivors[0]!.delivered;
  const expected = new Map<string, number>(survivors.map((n) => [n.name, 300]));
  for (const d of dead) expected.set(d.name, got.filter((m) => m.startsWith(`${d.name}:`)).length);
  expectTotalOrder(survivors, expected);
}, 90_000);

test('after a partition each side keeps its own order, and after the merge all members deliver the same order', async () => {
  const live = await start(4, 31, 0, true);
  const left = live.slice(0, 2);
  const right = live.slice(2);
  for (const n of left) discardOf(n.channel).isolateFrom(...right.map((o) => o.address));
  for (const n of right) discardOf(n.channel).isolateFrom(...left.map((o) => o.address));
  await waitForSameView(left.map((n) => n.channel), 15_000);
  await waitForSameView(right.map((n) => n.channel), 15_000);
  await Promise.all(live.map((n) => n.burst(100)));
  await waitUntil(allDelivered(live, 200), 10_000, 'each side\'s burst on its side', describe_(live));
  for (const side of [left, right]) expect(side[1]!.delivered).toEqual(side[0]!.delivered);
  for (const n of live) discardOf(n.channel).heal();
  await waitForSameView(live.map((n) => n.channel), 20_000);
  const before = live.map((n) => n.delivered.length);
  await Promise.all(live.map((n) => n.burst(100)));
  const after = (n: Node) => n.delivered.filter((m) => Number(m.split(':')[1]) >= 100);
  await waitUntil(() => live.every((n) => after(n).length === 400), 15_000, 'the burst after the merge everywhere', describe_(live));
  const order = after(live[0]!);
  for (const n of live) expect({ name: n.name, delivered: after(n) }).toEqual({ name: n.name, delivered: order });
  // Nothing delivered twice, each sender's messages in order, none of the earlier ones again.
  for (const n of live) {
    expect(new Set(n.delivered).size).toBe(n.delivered.length);
    expect(n.delivered.length).toBe(before[live.indexOf(n)]! + 400);
  }
  perSender(order, 100);
}, 60_000);

test('a new sequencer that missed the last places fetches them from a member that has them and replays them', async () => {
  const live = await start(4, 7, 0);
  const [a, b, c, d] = live as [Node, Node, Node, Node];
  // Cut only once B knows where the order stands (the START may come after the view, even by retransmission).
  await waitUntil(() => live.every((n) => n.seq.getStats().synced === 1), 5000, 'every member synced with the sequencer');
  // B hears nothing from A: A's ordered multicasts reach C and D only.
  discardOf(b.channel).addIgnoreMember(a.address);
  await c.burst(30);
  await waitUntil(() => c.delivered.length === 30 && d.delivered.length === 30, 10_000, 'C and D delivered the burst');
  expect(b.delivered).toEqual([]);
  await a.kill();
  const survivors = [b, c, d];
  await waitForSameView(survivors.map((n) => n.channel), 15_000);
  await waitUntil(allDelivered(survivors, 30), 10_000, 'B caught up', describe_(survivors));
  await Promise.all(survivors.map((n) => n.burst(20)));
  await waitUntil(allDelivered(survivors, 90), 10_000, 'the next burst everywhere', describe_(survivors));
  expectTotalOrder(survivors, new Map([['B', 20], ['C', 50], ['D', 20]]));
  const stats = b.seq.getStats();
  expect(stats.fetched).toBeGreaterThanOrEqual(30);
  expect(stats.replayed).toBeGreaterThanOrEqual(30);
  expect(c.seq.getStats().duplicatesDropped).toBeGreaterThanOrEqual(30);
}, 60_000);

test('unicasts, NO_TOTAL_ORDER and OOB multicasts pass through; DONT_LOOPBACK keeps the place but is not delivered to the sender', async () => {
  const live = await start(3, 9, 0, false, 10_000);
  const [a, b, c] = live as [Node, Node, Node];
  await b.channel.send(new Message(null, 'B:0').setFlag(Flag.DONT_LOOPBACK));
  await b.channel.send(new Message(null, 'free').setFlag(Flag.NO_TOTAL_ORDER));
  await b.channel.send(new Message(null, 'oob').setFlag(Flag.OOB));
  await b.channel.send(c.address, 'unicast');
  await b.channel.send(null, 'B:1');
  await waitUntil(() => a.delivered.length === 4 && c.delivered.length === 5 && b.delivered.includes('B:1'), 10_000, 'all delivered', describe_(live));
  expect(b.delivered.filter((m) => m.startsWith('B:'))).toEqual(['B:1']);
  expect(a.delivered.filter((m) => m.startsWith('B:'))).toEqual(['B:0', 'B:1']);
  expect(a.delivered).toEqual(expect.arrayContaining(['free', 'oob']));
  expect(c.delivered).toEqual(expect.arrayContaining(['unicast']));
  // Only the two ordered ones went through the sequencer.
  expect(a.seq.getStats().sequenced).toBe(2);
  expect(b.seq.numPending()).toBe(0);
}, 30_000);

test('a member that joins later starts with the order after its join', async () => {
  const live = await start(2, 11, 0, false, 10_000);
  await Promise.all(live.map((n) => n.burst(50)));
  await waitUntil(allDelivered(live, 100), 10_000, 'the first burst');
  const joiner = new Node(new Channel(stack(119, 0)).setName('C'));
  nodes.push(joiner);
  await joiner.channel.connect(live[0]!.channel.getClusterName()!);
  const all = [...live, joiner];
  await waitForSameView(all.map((n) => n.channel), 10_000);
  await Promise.all(all.map((n) => n.burst(50)));
  await waitUntil(() => joiner.delivered.length >= 150 && live.every((n) => n.delivered.length >= 250), 10_000, 'the second burst', describe_(all));
  expect(joiner.delivered).toEqual(live[0]!.delivered.slice(100));
  expect(live[1]!.delivered).toEqual(live[0]!.delivered);
}, 30_000);

test('stacks/sequencer.xml is udp.xml with SEQUENCER right above GMS', () => {
  // The protocol elements with their attributes, comments left out.
  const elements = (xml: string) => xml.replace(/<!--[\s\S]*?-->/g, '').match(/<[A-Z][A-Z0-9_]*\b[^>]*>/g)!.map((e) => e.replace(/\s+/g, ' '));
  // STATE_TRANSFER may sit right below SEQUENCER instead of at the top: it then sees the
  // sequencer's multicasts as NAKACK2 numbered them.
  const isState = (e: string) => e.startsWith('<STATE_TRANSFER');
  const udp = elements(stackXml('udp.xml'));
  const seq = elements(stackXml('sequencer.xml'));
  expect(seq.filter(isState)).toEqual(udp.filter(isState));
  const udpRest = udp.filter((e) => !isState(e));
  const gms = udpRest.findIndex((e) => e.startsWith('<GMS '));
  expect(seq.filter((e) => !isState(e))).toEqual([...udpRest.slice(0, gms + 1), '<SEQUENCER/>', ...udpRest.slice(gms + 1)]);
  const ch = new Channel('sequencer.xml');
  const names = ch.getProtocolStack().getProtocols().map((p) => p.name).filter((n) => n !== 'STATE_TRANSFER');
  expect(names[names.indexOf('SEQUENCER') + 1]).toBe('GMS');
  void ch.close();
});

test('a stack with SEQUENCER but without reliable multicast below it is refused', () => {
  const xml = `<config xmlns="urn:org:tsgroups"><SHARED_LOOPBACK/><SHARED_LOOPBACK_PING/><GMS/><SEQUENCER/></config>`;
  expect(() => Channel.fromXml(xml)).toThrow(/reliable-multicast/);
});

test('the header codec: size() is what encode writes, and decode gives the header back', () => {
  // More senders than the decoder's cache of recent ones holds.
  const addrs = Array.from({ length: 12 }, () => Address.random());
  const headers: SequencerHeader[] = [
    { type: SeqType.FORWARD, gseq: 0, sender: null, seqno: 1, flag: false },
    { type: SeqType.REPORT, gseq: 2 ** 40 + 7, sender: null, seqno: 300, flag: true },
    { type: SeqType.START, gseq: 0, sender: null, seqno: 0, flag: false },
    ...addrs.map((a, i) => ({ type: SeqType.DATA, gseq: 1000 + i, sender: a, seqno: 2 ** 33 + i, flag: i % 2 === 0 })),
    ...addrs.map((a, i) => ({ type: SeqType.XFER, gseq: 5 + i, sender: a, seqno: i + 1, flag: false })),
  ];
  for (const h of headers) {
    const bytes = (sequencerHeaderCodec.encode(h, Writer.create()) as Writer).finish();
    expect(sequencerHeaderCodec.size!(h)).toBe(bytes.length);
    expect(sequencerHeaderCodec.decode(Reader.create(bytes), bytes.length)).toEqual(h);
    expect(sequencerHeaderCodec.decode(Reader.create(bytes), bytes.length).sender).toBe(h.sender);
  }
});
