import { type Address, type Channel, DISCARD, Flag, type HeaderCodec, Message, Reader, SHUFFLE, UNICAST3, type UnicastHeader, Writer } from 'tsgroups';
import { tsgroups } from '../protocols/src/generated/headers.js';
import { closeAll, discardOf, loopbackStack, type Member, startCluster, waitForSameView, waitUntil } from './helpers/cluster.js';
import { BatchCounter } from './helpers/batch-counter.js';

let members: Member[] = [];
afterEach(async () => {
  await closeAll(members.map((m) => m.channel));
  members = [];
});

const u3Stack = (values: Record<string, unknown> = {}, below: () => import('tsgroups').Protocol[] = () => []) => () =>
  loopbackStack(() => [...below(), new DISCARD(), new UNICAST3().setValues({ xmit_interval: 50, ...values })]);

function u3(ch: Channel): UNICAST3 {
  return ch.getProtocolStack().findProtocol(UNICAST3)!;
}

function chans(): Channel[] {
  return members.map((m) => m.channel);
}

/** Payloads (numbers) that `m` received from `sender`, in delivery order. */
function receivedFrom(m: Member, sender: Address): number[] {
  const out: number[] = [];
  for (const msg of m.rec.messages) {
    if (msg.src !== sender) continue;
    const o = msg.getObject();
    if (typeof o === 'number') out.push(o);
  }
  return out;
}

function range(from: number, to: number): number[] {
  return Array.from({ length: to - from }, (_, i) => from + i);
}

function setLoss(seed: number, rate = 0.1): void {
  members.forEach((m, i) => discardOf(m.channel).setSeed(seed * 100 + i + 1).setUpDiscardRate(rate).setDownDiscardRate(rate));
}

function sumStat(key: keyof UNICAST3['stats']): number {
  return chans().reduce((n, c) => n + u3(c).stats[key], 0);
}

/** Every member sends `n` numbered unicasts to every other member. */
function sendAllToAll(n: number, flags = (_i: number) => 0): void {
  const cs = chans();
  for (let i = 0; i < n; i++) {
    for (const from of cs) {
      for (const to of cs) if (to !== from) void from.send(new Message(to.getAddress(), i).setFlag(flags(i)));
    }
  }
}

async function waitAllDelivered(n: number, timeoutMs: number): Promise<void> {
  await waitUntil(
    () => members.every((r) => members.every((s) => s === r || receivedFrom(r, s.channel.getAddress()!).length >= n)),
    timeoutMs,
    `${n} messages from every sender at every receiver`,
    () => members.map((r) => `${r.channel.getName()}: ${members.map((s) => receivedFrom(r, s.channel.getAddress()!).length).join('/')}`).join('; '),
  );
  // Everything acknowledged: no retransmission is under way that could still deliver a duplicate.
  await waitUntil(() => chans().every((c) => u3(c).getUnackedCount() === 0), timeoutMs, 'all messages acknowledged');
}

function expectFifoExactlyOnce(n: number): void {
  for (const r of members) {
    for (const s of members) if (s !== r) expect(receivedFrom(r, s.channel.getAddress()!)).toEqual(range(0, n));
  }
}

describe('UNICAST3', () => {
  test('the hand-written header codec agrees with the code generated from headers.proto', () => {
    const codec = UNICAST3.headerCodec as HeaderCodec<UnicastHeader>;
    const Pb = tsgroups.protocols.UnicastHeader;
    const headers: UnicastHeader[] = [
      { type: 1, seqno: 1, connId: 0xfffffffe, missing: null },
      { type: 2, seqno: 2 ** 40 + 3, connId: 7, missing: null },
      { type: 3, seqno: 0, connId: 1, missing: [1, 2, 300, 2 ** 33, 2 ** 52 + 1] },
      { type: 4, seqno: 0xffffffff, connId: 12345, missing: null },
    ];
    for (const h of headers) {
      const mine = (codec.encode(h, Writer.create()) as Writer).finish();
      const theirs = Pb.encode(h as unknown as tsgroups.protocols.UnicastHeader.$Properties).finish();
      expect(Buffer.from(mine).toString('hex')).toBe(Buffer.from(theirs).toString('hex'));
      expect(codec.decode(Reader.create(theirs), theirs.length)).toEqual(h);
      expect(codec.size!(h)).toBe(theirs.length);
    }
  });

  test.each([1, 2, 3, 4])('exactly once, FIFO per sender, all-to-all unicasts with 10%% loss up and down (seed %i)', async (seed) => {
    const size = 3 + (seed % 3);
    members = await startCluster(size, u3Stack());
    setLoss(seed);
    const n = size === 5 ? 1000 : 2000;
    sendAllToAll(n);
    await waitAllDelivered(n, 25_000);
    expectFifoExactlyOnce(n);
    expect(sumStat('xmitsSent')).toBeGreaterThan(0);
    expect(sumStat('xmitReqsSent')).toBeGreaterThan(0);
    expect(sumStat('duplicatesDropped')).toBeGreaterThanOrEqual(0);
    const dropped = chans().reduce((x, c) => x + discardOf(c).stats.droppedUp + discardOf(c).stats.droppedDown, 0);
    expect(dropped).toBeGreaterThan(0);
  });

  test('reordering below UNICAST3 (SHUFFLE up and down, 5% loss): still FIFO per sender and exactly once', async () => {
    members = await startCluster(3, u3Stack({}, () => [new SHUFFLE().setValues({ up: true, down: true, seed: 11 })]));
    setLoss(5, 0.05);
    const n = 1000;
    sendAllToAll(n);
    await waitAllDelivered(n, 25_000);
    expectFifoExactlyOnce(n);
    expect(chans().reduce((x, c) => x + c.getProtocolStack().findProtocol(SHUFFLE)!.stats.shuffledUp, 0)).toBeGreaterThan(0);
  });

  test('OOB unicasts under loss are delivered exactly once; regular ones mixed in stay in order', async () => {
    members = await startCluster(3, u3Stack());
    setLoss(21);
    const n = 2000;
    sendAllToAll(n, (i) => (i % 2 === 0 ? Flag.OOB : 0));
    await waitAllDelivered(n, 25_000);
    for (const r of members) {
      for (const s of members) {
        if (s === r) continue;
        const got = receivedFrom(r, s.channel.getAddress()!);
        expect(got.slice().sort((x, y) => x - y)).toEqual(range(0, n));
        expect(got.filter((x) => x % 2 === 1)).toEqual(range(0, n).filter((x) => x % 2 === 1));
      }
    }
    expect(sumStat('xmitsSent')).toBeGreaterThan(0);
  });

  test('a lost tail arrives: the sender resends its highest unacknowledged message', async () => {
    members = await startCluster(2, u3Stack());
    const [a, b] = chans() as [Channel, Channel];
    for (let i = 0; i < 90; i++) void a.send(b.getAddress(), i);
    await waitUntil(() => receivedFrom(members[1]!, a.getAddress()!).length === 90, 5000, 'the first 90');
    await waitUntil(() => u3(a).getUnackedCount() === 0, 5000, 'acks for the first 90');
    discardOf(b).setDiscardAll(true);
    for (let i = 90; i < 100; i++) void a.send(b.getAddress(), i);
    await waitUntil(() => discardOf(b).stats.droppedUp >= 10, 5000, 'the tail dropped');
    expect(receivedFrom(members[1]!, a.getAddress()!)).toHaveLength(90);
    const xmitsBefore = u3(a).stats.xmitsSent;
    discardOf(b).heal();
    await waitUntil(() => receivedFrom(members[1]!, a.getAddress()!).length === 100, 5000, 'the tail');
    await waitUntil(() => u3(a).getUnackedCount() === 0, 5000, 'the tail acknowledged');
    expect(receivedFrom(members[1]!, a.getAddress()!)).toEqual(range(0, 100));
    expect(u3(a).stats.xmitsSent).toBeGreaterThan(xmitsBefore);
    expect(u3(b).stats.xmitReqsSent).toBeGreaterThan(0);
  });

  test('memory stays bounded: after a burst under loss every sent message is acknowledged and purged', async () => {
    members = await startCluster(2, u3Stack());
    const [a, b] = chans() as [Channel, Channel];
    setLoss(33);
    for (let i = 0; i < 5000; i++) void a.send(b.getAddress(), i);
    // (plus, maybe, a GMS message or two)
    expect(u3(a).getUnackedCount()).toBeGreaterThanOrEqual(5000);
    await waitUntil(() => u3(a).getUnackedCount() === 0, 20_000, 'no unacked messages', () => `unacked ${u3(a).getUnackedCount()}`);
    expect(u3(a).getStats().unacked).toBe(0);
    expect(receivedFrom(members[1]!, a.getAddress()!)).toEqual(range(0, 5000));
  });

  test('acks: a trickle of messages, one per turn, shares a delayed ack; a burst is acknowledged too; nothing stays unacknowledged', async () => {
    members = await startCluster(2, u3Stack({ xmit_interval: 2000 }));
    const [a, b] = chans() as [Channel, Channel];
    await waitUntil(() => u3(a).getUnackedCount() === 0 && u3(b).getUnackedCount() === 0, 5000, 'the join acknowledged');
    const acksBefore = u3(b).stats.acksSent;
    for (let i = 0; i < 10; i++) {
      void a.send(b.getAddress(), i);
      // Each arrives in a turn of its own.
      await waitUntil(() => receivedFrom(members[1]!, a.getAddress()!).length === i + 1, 5000, `message ${i}`);
    }
    await waitUntil(() => u3(a).getUnackedCount() === 0, 5000, 'the trickle acknowledged');
    // Not an ack per message (it was before): the delay gathers them.
    expect(u3(b).stats.acksSent - acksBefore).toBeLessThan(10);
    for (let i = 10; i < 60; i++) void a.send(b.getAddress(), i);
    await waitUntil(() => receivedFrom(members[1]!, a.getAddress()!).length === 60 && u3(a).getUnackedCount() === 0, 5000, 'the burst acknowledged');
    expect(receivedFrom(members[1]!, a.getAddress()!)).toEqual(range(0, 60));
    expect(u3(a).stats.xmitsSent).toBe(0); // no sender resent for want of an ack
  });

  test("acks: a new connection's first message is acknowledged at the end of its turn, ahead of what the receiver sends then; the next waits for the delay", async () => {
    // B and C never unicast each other while joining: B's first send to C opens a connection.
    members = await startCluster(3, u3Stack({ xmit_interval: 2000 })); // ack delay: 50 ms
    const [, b, c] = chans() as [Channel, Channel, Channel];
    await waitUntil(() => chans().every((ch) => u3(ch).getUnackedCount() === 0), 5000, 'the joins acknowledged');
    expect(u3(c).getReceiveWindows()).not.toContain(b.getAddress());
    // The acks C sent by the next immediate after it delivered each message: an ack requested
    // for the end of the turn is out by then (a JOIN_RSP sent in that turn follows it), a delayed one is not.
    const acksByNextImmediate: number[] = [];
    c.on('message', (msg) => {
      if (msg.src !== b.getAddress()) return;
      const before = u3(c).stats.acksSent;
      setImmediate(() => acksByNextImmediate.push(u3(c).stats.acksSent - before));
    });
    void b.send(c.getAddress(), 0);
    await waitUntil(() => acksByNextImmediate.length === 1 && u3(b).getUnackedCount() === 0, 5000, 'the first message acknowledged');
    void b.send(c.getAddress(), 1);
    await waitUntil(() => acksByNextImmediate.length === 2 && u3(b).getUnackedCount() === 0, 5000, 'the second message acknowledged');
    expect(acksByNextImmediate).toEqual([1, 0]);
    expect(receivedFrom(members[2]!, b.getAddress()!)).toEqual([0, 1]);
  });

  test('multicasts, NO_RELIABILITY unicasts and messages to oneself pass through untouched', async () => {
    members = await startCluster(2, u3Stack());
    const [a, b] = chans() as [Channel, Channel];
    const sent = u3(a).stats.msgsSent;
    await a.send(null, 'mcast');
    await a.send(new Message(b.getAddress(), 'unreliable').setFlag(Flag.NO_RELIABILITY));
    await a.send(a.getAddress(), 'self');
    await waitUntil(() => members[1]!.rec.objects().includes('unreliable') && members[1]!.rec.objects().includes('mcast'), 2000);
    await waitUntil(() => members[0]!.rec.objects().includes('self') && members[0]!.rec.objects().includes('mcast'), 2000);
    expect(u3(a).stats.msgsSent).toBe(sent);
    for (const m of [...members[0]!.rec.messages, ...members[1]!.rec.messages]) expect(m.getHeader(UNICAST3.id)).toBeUndefined();
  });

  test('a restarted peer (new address) gets new unicasts cleanly; the old connection is closed after conn_close_timeout', async () => {
    members = await startCluster(3, u3Stack({ conn_close_timeout: 200 }));
    const [a, b, c] = chans() as [Channel, Channel, Channel];
    setLoss(44);
    for (let i = 0; i < 200; i++) {
      void a.send(c.getAddress(), i);
      void c.send(a.getAddress(), i);
    }
    await waitUntil(() => receivedFrom(members[2]!, a.getAddress()!).length === 200 && receivedFrom(members[0]!, c.getAddress()!).length === 200, 10_000);
    const oldC = c.getAddress()!;
    expect(u3(a).getSendConnections()).toContain(oldC);
    expect(u3(a).getReceiveWindows()).toContain(oldC);
    for (const ch of chans()) discardOf(ch).setUpDiscardRate(0).setDownDiscardRate(0);
    await c.disconnect();
    const cluster = a.getClusterName()!;
    await c.connect(cluster);
    expect(c.getAddress()).not.toBe(oldC);
    await waitForSameView(chans(), 5000);
    setLoss(45);
    for (let i = 0; i < 300; i++) void a.send(c.getAddress(), i);
    // The recorder kept what C received before the restart (200 messages).
    await waitUntil(() => receivedFrom(members[2]!, a.getAddress()!).length >= 500, 10_000, 'the new unicasts');
    expect(receivedFrom(members[2]!, a.getAddress()!)).toEqual([...range(0, 200), ...range(0, 300)]);
    await waitUntil(
      () => !u3(a).getSendConnections().includes(oldC) && !u3(a).getReceiveWindows().includes(oldC) && !u3(b).getReceiveWindows().includes(oldC),
      5000,
      'the old connections closed',
    );
    expect(u3(a).stats.connectionsClosed).toBeGreaterThanOrEqual(2);
    const view = a.getView()!;
    for (const ch of chans()) {
      for (const peer of [...u3(ch).getSendConnections(), ...u3(ch).getReceiveWindows()]) expect(view.containsMember(peer)).toBe(true);
    }
    await waitUntil(() => u3(a).getUnackedCount() === 0, 10_000, 'all acknowledged');
  });

  test('a receiver that lost its window resynchronizes via FIRST_SEQNO without duplicates; a new conn id resets the window', async () => {
    members = await startCluster(2, u3Stack());
    const [a, b] = chans() as [Channel, Channel];
    const fromA = () => receivedFrom(members[1]!, a.getAddress()!);
    for (let i = 0; i < 100; i++) void a.send(b.getAddress(), i);
    await waitUntil(() => fromA().length === 100 && u3(a).getUnackedCount() === 0, 5000, 'first 100 delivered and acknowledged');

    // B forgets A's window: A's next seqnos (101...) look like a gap above 0 to B, and A, asked
    // for seqnos it purged, answers FIRST_SEQNO.
    expect(u3(b).removeReceiveWindow(a.getAddress()!)).toBe(true);
    setLoss(55);
    for (let i = 100; i < 400; i++) void a.send(b.getAddress(), i);
    await waitUntil(() => fromA().length >= 400 && u3(a).getUnackedCount() === 0, 10_000, 'resynchronized', () => `got ${fromA().length}`);
    expect(fromA()).toEqual(range(0, 400));
    expect(u3(a).stats.firstSeqnosSent).toBeGreaterThan(0);
    expect(u3(b).stats.firstSeqnosReceived).toBeGreaterThan(0);

    // A drops its connection: the next unicast opens one with a new conn id, B replaces its window.
    expect(u3(a).removeSendConnection(b.getAddress()!)).toBe(true);
    for (let i = 400; i < 700; i++) void a.send(b.getAddress(), i);
    await waitUntil(() => fromA().length >= 700 && u3(a).getUnackedCount() === 0, 10_000, 'new connection', () => `got ${fromA().length}`);
    expect(fromA()).toEqual(range(0, 700));
    expect(u3(b).stats.connectionsReplaced).toBeGreaterThanOrEqual(1);
  });
  test('a burst of unicasts reaches the protocol above UNICAST3 as batches, in order; a gap filled late releases the rest in order', async () => {
    members = await startCluster(2, () => loopbackStack(() => [new DISCARD(), new UNICAST3().setValues({ xmit_interval: 50 }), new BatchCounter()]));
    const [a, b] = chans() as [Channel, Channel];
    const counter = b.getProtocolStack().findProtocol(BatchCounter)!;
    const before = { batches: counter.batches, inBatches: counter.inBatches, singles: counter.singles };
    for (let i = 0; i < 200; i++) void a.send(b.getAddress(), i);
    await waitUntil(() => receivedFrom(members[1]!, a.getAddress()!).length >= 200, 5000, 'the burst');
    expect(receivedFrom(members[1]!, a.getAddress()!)).toEqual(range(0, 200));
    expect(counter.inBatches - before.inBatches).toBe(200);
    expect(counter.singles - before.singles).toBe(0);
    expect(counter.batches - before.batches).toBeLessThanOrEqual(10);
    // Under loss, what waited behind a gap comes up in order once the gap is resent.
    setLoss(66, 0.2);
    for (let i = 200; i < 1200; i++) void a.send(b.getAddress(), i);
    await waitUntil(() => receivedFrom(members[1]!, a.getAddress()!).length >= 1200, 10_000, 'the lossy burst');
    expect(receivedFrom(members[1]!, a.getAddress()!)).toEqual(range(0, 1200));
  });
});
