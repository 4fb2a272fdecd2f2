import {
  type Address,
  Channel,
  DISCARD,
  FD_ALL3,
  Flag,
  type HeaderCodec,
  Message,
  NAKACK2,
  type NakAckHeader,
  Protocol,
  Reader,
  STABLE,
  VERIFY_SUSPECT2,
  Writer,
} from 'tsgroups';
import { tsgroups } from '../protocols/src/generated/headers.js';
import { closeAll, discardOf, loopbackStack, type Member, Recorder, startCluster, waitForSameView, waitUntil } from './helpers/cluster.js';
import { BatchCounter } from './helpers/batch-counter.js';

const reliableStack = () =>
  loopbackStack(() => [new DISCARD(), new NAKACK2().setValues({ xmit_interval: 30 }), new STABLE().setValues({ desired_avg_gossip: 200, max_bytes: '100K' })]);

let members: Member[] = [];
afterEach(async () => {
  await closeAll(members.map((m) => m.channel));
  members = [];
});

const nak = (c: Channel) => c.getProtocolStack().findProtocol(NAKACK2)!;

/** Per sender, the numbers a member received (payload {n}), in delivery order. */
function bySender(m: Member): Map<Address, number[]> {
  const out = new Map<Address, number[]>();
  for (const msg of m.rec.messages) {
    const v = msg.getObject<{ n?: number }>();
    if (typeof v !== 'object' || v === null || typeof v.n !== 'number') continue;
    const list = out.get(msg.getSrc()!) ?? [];
    list.push(v.n);
    out.set(msg.getSrc()!, list);
  }
  return out;
}

const range = (n: number) => Array.from({ length: n }, (_, i) => i);

function lossy(chans: Channel[], seed: number, rate: number): void {
  chans.forEach((c, i) => discardOf(c).setSeed(seed * 100 + i + 1).setUpDiscardRate(rate).setDownDiscardRate(rate));
}

/** Below NAKACK2: counts the member's own multicasts coming up (it overrides only up(msg), so it sees batched ones too). */
class OwnCounter extends Protocol {
  own = 0;
  override up(msg: Message): void {
    if (msg.src === this.localAddress && msg.getHeader(NAKACK2.id) !== undefined) this.own++;
    super.up(msg);
  }
}

describe('NAKACK2', () => {
  test('the hand-written header codec writes the same bytes as the code generated from headers.proto', () => {
    const codec = NAKACK2.headerCodec as HeaderCodec<NakAckHeader>;
    const Pb = tsgroups.protocols.NakAckHeader;
    const sender = Uint8Array.from({ length: 16 }, (_, i) => i * 17);
    const headers: NakAckHeader[] = [
      { type: 1, seqno: 1, missing: null, sender: null },
      { type: 1, seqno: 300, missing: null, sender: null },
      { type: 1, seqno: 0xffffffff, missing: null, sender: null },
      { type: 1, seqno: 2 ** 32 + 5, missing: null, sender: null },
      { type: 1, seqno: 2 ** 52 + 1, missing: null, sender: null },
      { type: 3, seqno: 2 ** 40 + 3, missing: null, sender: null },
      { type: 2, seqno: 0, missing: [1, 2, 300, 2 ** 32, 2 ** 33 + 1, 2 ** 52 + 1], sender },
      { type: 2, seqno: 0, missing: Array.from({ length: 200 }, (_, i) => 1000 + 2 * i), sender },
      { type: 4, seqno: 77, missing: null, sender: null },
      { type: 5, seqno: 2 ** 35, missing: null, sender },
    ];
    for (const h of headers) {
      const pb = { type: h.type, seqno: h.seqno, missing: h.missing ?? [], ...(h.sender ? { sender: h.sender } : {}) };
      const mine = (codec.encode(h, Writer.create()) as Writer).finish();
      const theirs = Pb.encode(pb).finish();
      expect(Buffer.from(mine).toString('hex')).toBe(Buffer.from(theirs).toString('hex'));
      // decode(encode(h)) round trips, and the generated decoder reads the hand-encoded bytes.
      const back = codec.decode(Reader.create(mine), mine.length);
      expect({ ...back, sender: back.sender && Array.from(back.sender) }).toEqual({ ...h, sender: h.sender && Array.from(h.sender) });
      const gen = Pb.decode(mine);
      expect(Number(gen.seqno ?? 0)).toBe(h.seqno);
      expect((gen.missing ?? []).map(Number)).toEqual(h.missing ?? []);
      expect(gen.type ?? 0).toBe(h.type);
      expect(Array.from(gen.sender ?? [])).toEqual(Array.from(h.sender ?? []));
      expect(codec.size!(h)).toBe(theirs.length);
    }
    // The generated encoder's unpacked form of `missing` (wire type 0) is read too.
    const w = Writer.create();
    w.uint32(8).int32(2).uint32(24).uint64(7).uint32(24).uint64(2 ** 33);
    const unpacked = w.finish();
    expect(codec.decode(Reader.create(unpacked), unpacked.length).missing).toEqual([7, 2 ** 33]);
  });

  test.each([11, 22, 33, 44])('with 10%% loss each way (seed %i), every member delivers every multicast exactly once in per-sender order', async (seed) => {
    members = await startCluster(5, reliableStack);
    const chans = members.map((m) => m.channel);
    lossy(chans, seed, 0.1);
    const N = 1000;
    for (let i = 0; i < N; i++) for (const c of chans) void c.send(null, { n: i });
    const total = N * chans.length;
    await waitUntil(
      () => members.every((m) => m.rec.messages.length >= total),
      20_000,
      'every multicast everywhere',
      () => members.map((m) => `${m.channel.getName()}: ${m.rec.messages.length}`).join(', '),
    );
    for (const m of members) {
      const got = bySender(m);
      expect(got.size).toBe(chans.length);
      for (const c of chans) expect(got.get(c.getAddress()!)).toEqual(range(N));
    }
    const xmits = chans.reduce((n, c) => n + nak(c).stats.xmitsSent, 0);
    expect(xmits).toBeGreaterThan(0);
  }, 40_000);

  test('OOB multicasts under loss arrive exactly once', async () => {
    members = await startCluster(3, reliableStack);
    const chans = members.map((m) => m.channel);
    lossy(chans, 5, 0.2);
    const N = 500;
    for (let i = 0; i < N; i++) void chans[0]!.send(new Message(null, { n: i }).setFlag(Flag.OOB));
    await waitUntil(() => members.every((m) => m.rec.messages.length >= N), 10_000, 'all OOB messages');
    for (const m of members) {
      const got = bySender(m).get(chans[0]!.getAddress()!)!;
      expect([...got].sort((a, b) => a - b)).toEqual(range(N));
    }
  });

  test('a new gap is asked for after xmit_first_delay, without waiting for the xmit_interval round', async () => {
    // Rounds a minute apart: only the early look at a new gap can fill these gaps within the test.
    const stack = () =>
      loopbackStack(() => [
        new DISCARD(),
        new NAKACK2().setValues({ xmit_interval: '60s', xmit_first_delay: '20ms' }),
        new STABLE().setValues({ desired_avg_gossip: 200, max_bytes: '100K' }),
      ]);
    members = await startCluster(2, stack);
    const [a, b] = members.map((m) => m.channel) as [Channel, Channel];
    discardOf(b).setSeed(7).setUpDiscardRate(0.1);
    for (let i = 0; i < 300; i++) await a.send(null, { n: i });
    await waitUntil(() => discardOf(b).stats.droppedUp > 0, 5000, 'some multicasts dropped at B');
    // The last one gets through, so that B sees every gap (a lost tail waits for the round's announcement).
    discardOf(b).setUpDiscardRate(0);
    await a.send(null, { n: 300 });
    await waitUntil(() => members[1]!.rec.messages.length === 301, 10_000, 'every multicast at B', () => `${members[1]!.rec.messages.length} of 301`);
    expect(bySender(members[1]!).get(a.getAddress()!)).toEqual(range(301));
    expect(nak(b).stats.xmitReqsSent).toBeGreaterThan(0);
    expect(nak(a).stats.xmitsSent).toBeGreaterThan(0);
  });

  test('a lost tail is noticed through the highest-seqno announcement and fetched', async () => {
    members = await startCluster(2, reliableStack);
    const [a, b] = members.map((m) => m.channel) as [Channel, Channel];
    for (let i = 0; i < 10; i++) await a.send(null, { n: i });
    await waitUntil(() => members[1]!.rec.messages.length === 10, 2000);
    discardOf(b).setDiscardAll(true);
    for (let i = 10; i < 20; i++) await a.send(null, { n: i });
    await waitUntil(() => discardOf(b).stats.droppedUp >= 10, 2000, 'the tail to be dropped');
    discardOf(b).heal();
    await waitUntil(() => members[1]!.rec.messages.length === 20, 5000, 'the tail');
    expect(bySender(members[1]!).get(a.getAddress()!)).toEqual(range(20));
    expect(nak(a).stats.highestSeqnoSent).toBeGreaterThan(0);
  });

  test('a joiner starts at the digest: it gets what is sent after it joined, and nothing from before', async () => {
    members = await startCluster(2, reliableStack);
    const [a] = members.map((m) => m.channel) as [Channel, Channel];
    for (let i = 0; i < 50; i++) void a.send(null, { n: i });
    await waitUntil(() => members.every((m) => m.rec.messages.length === 50), 2000);
    const joiner = new Channel(reliableStack()).setName('J');
    members.push({ channel: joiner, rec: new Recorder(joiner) });
    await joiner.connect(a.getClusterName()!);
    await waitForSameView(members.map((m) => m.channel), 3000);
    for (let i = 50; i < 100; i++) void a.send(null, { n: i });
    await waitUntil(() => members[2]!.rec.messages.length >= 50, 3000, 'the joiner to get the new messages');
    expect(bySender(members[2]!).get(a.getAddress()!)).toEqual(range(100).slice(50));
    expect(nak(joiner).stats.xmitReqsSent).toBe(0);
  });

  test('STABLE purges what every member delivered, so the tables stay bounded', async () => {
    members = await startCluster(3, reliableStack);
    const chans = members.map((m) => m.channel);
    for (let r = 0; r < 5; r++) {
      for (let i = 0; i < 1000; i++) for (const c of chans) void c.send(null, { n: r * 1000 + i });
      await waitUntil(() => members.every((m) => m.rec.messages.length >= (r + 1) * 3000), 5000);
    }
    await waitUntil(() => chans.every((c) => nak(c).messagesHeld() === 0), 5000, 'the tables to be purged', () =>
      chans.map((c) => `${c.getName()}: ${nak(c).messagesHeld()}`).join(', '),
    );
    expect(chans.every((c) => c.getProtocolStack().findProtocol(STABLE)!.stats.stableRounds > 0)).toBe(true);
  });

  test('when a member crashes during a burst, each survivor delivered a gap-free prefix of its messages', async () => {
    const fdStack = () =>
      loopbackStack(() => [
        new DISCARD(),
        new FD_ALL3().setValues({ interval: 100, timeout: 600 }),
        new VERIFY_SUSPECT2().setValues({ timeout: 200 }),
        new NAKACK2().setValues({ xmit_interval: 30 }),
        new STABLE().setValues({ desired_avg_gossip: 200 }),
      ]);
    for (const seed of [3, 4, 5]) {
      members = await startCluster(4, fdStack);
      const chans = members.map((m) => m.channel);
      const [a] = chans as [Channel];
      const aAddr = a.getAddress()!;
      lossy(chans.slice(1), seed, 0.2);
      for (let i = 0; i < 300; i++) void a.send(null, { n: i });
      // A crashes right after its burst left: it falls silent, and the survivors remove it.
      await new Promise<void>((resolve) => setImmediate(resolve));
      discardOf(a).setDiscardAll(true);
      const survivors = members.slice(1);
      for (const m of survivors) discardOf(m.channel).setUpDiscardRate(0).setDownDiscardRate(0);
      await waitForSameView(survivors.map((m) => m.channel), 5000);
      for (const m of survivors) {
        const got = bySender(m).get(aAddr) ?? [];
        expect(got).toEqual(range(got.length)); // never message k without all before it
      }
      await closeAll(chans);
      members = [];
    }
  }, 30_000);
  test('own multicasts take the one path back, through the transport: once each, in order, also when some are lost below NAKACK2', async () => {
    const stack = () =>
      loopbackStack(() => [new DISCARD(), new OwnCounter(), new NAKACK2().setValues({ xmit_interval: 30 }), new STABLE().setValues({ desired_avg_gossip: 200 })]);
    members = await startCluster(2, stack);
    const a = members[0]!.channel;
    // A loses 30% of what it sends before the transport sees it: those copies never loop back.
    discardOf(a).setSeed(9).setDownDiscardRate(0.3);
    const N = 300;
    const dontLoopback = (i: number) => i % 10 === 3;
    for (let i = 0; i < N; i++) {
      const msg = new Message(null, { n: i });
      if (dontLoopback(i)) msg.setFlag(Flag.DONT_LOOPBACK);
      void a.send(msg);
    }
    const mine = range(N).filter((i) => !dontLoopback(i));
    await waitUntil(
      () => (bySender(members[0]!).get(a.getAddress()!)?.length ?? 0) >= mine.length && (bySender(members[1]!).get(a.getAddress()!)?.length ?? 0) >= N,
      10_000,
      "A's multicasts at A and B",
      () => `A: ${bySender(members[0]!).get(a.getAddress()!)?.length}, B: ${bySender(members[1]!).get(a.getAddress()!)?.length}`,
    );
    expect(bySender(members[0]!).get(a.getAddress()!)).toEqual(mine);
    expect(bySender(members[1]!).get(a.getAddress()!)).toEqual(range(N));
    // They came up through the protocols below NAKACK2 (the transport's loopback), not around them.
    expect(a.getProtocolStack().findProtocol(OwnCounter)!.own).toBeGreaterThanOrEqual(mine.length / 2);
    // What was lost below was fetched from A's own retransmission table.
    expect(nak(a).stats.xmitReqsSent).toBeGreaterThan(0);
  });

  test('a burst of multicasts reaches the protocol above NAKACK2 as batches, in order', async () => {
    members = await startCluster(2, () => loopbackStack(() => [new NAKACK2(), new BatchCounter()]));
    const [a, b] = members.map((m) => m.channel) as [Channel, Channel];
    const counter = b.getProtocolStack().findProtocol(BatchCounter)!;
    const before = { batches: counter.batches, inBatches: counter.inBatches, singles: counter.singles };
    const N = 200;
    for (let i = 0; i < N; i++) void a.send(null, { n: i });
    await waitUntil(() => (bySender(members[1]!).get(a.getAddress()!)?.length ?? 0) >= N, 5000, 'the burst');
    expect(bySender(members[1]!).get(a.getAddress()!)).toEqual(range(N));
    expect(counter.inBatches - before.inBatches).toBe(N);
    expect(counter.singles - before.singles).toBe(0);
    expect(counter.batches - before.batches).toBeLessThanOrEqual(10);
  });
});
