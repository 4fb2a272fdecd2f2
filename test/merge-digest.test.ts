import {
  Address,
  type Channel,
  Digest,
  DISCARD,
  FD_ALL3,
  GMS,
  MERGE3,
  MergeView,
  NAKACK2,
  STABLE,
  UNICAST3,
  VERIFY_SUSPECT2,
  View,
} from 'tsgroups';
import { buildMergeDigest, buildMergeView } from '../protocols/src/gms/merger.js';
import { closeAll, discardOf, loopbackStack, type Member, startCluster, waitForSameView, waitUntil } from './helpers/cluster.js';

// A merge never costs a message inside a view: the MergeView comes with the digest of every
// subgroup, and each member starts the other subgroups' senders where they stand, so every
// multicast sent in the merged view is delivered everywhere, once and in order, whatever is lost.

const MAX_INTERVAL = 500;

/** The reliable loopback stack with DISCARD (partitions, loss), MERGE3 and failure detection that tolerates 20% loss. */
function mergeStack() {
  const stack = loopbackStack(() => [
    new DISCARD(),
    new MERGE3().setValues({ min_interval: 200, max_interval: MAX_INTERVAL }),
    new FD_ALL3().setValues({ interval: 100, timeout: 2000 }),
    new VERIFY_SUSPECT2().setValues({ timeout: 300 }),
    new NAKACK2().setValues({ xmit_interval: 50 }),
    new UNICAST3().setValues({ xmit_interval: 50 }),
    new STABLE().setValues({ desired_avg_gossip: 300, max_bytes: '200K' }),
  ]);
  stack.findProtocol(GMS)!.setValues({ merge_timeout: 1000, leave_timeout: 300 });
  return stack;
}

/** What a member multicasts or unicasts: its per-stream counter, counted across the partition and the merge. */
interface Numbered {
  m?: number;
  u?: number;
}

/** Per sender, the numbers delivered of its multicast stream and of its unicast stream to this member, in delivery order. */
class Streams {
  readonly m = new Map<Address, number[]>();
  readonly u = new Map<Address, number[]>();
  constructor(ch: Channel) {
    ch.on('message', (msg) => {
      const v = msg.getObject<Numbered>();
      const [table, n] = typeof v.m === 'number' ? [this.m, v.m] : [this.u, v.u!];
      const src = msg.getSrc()!;
      let list = table.get(src);
      if (list === undefined) table.set(src, (list = []));
      list.push(n);
    });
  }
  /** How many of `from`'s numbers in [lo, hi) were delivered. */
  count(table: 'm' | 'u', from: Address, lo: number, hi: number): number {
    let n = 0;
    for (const k of this[table].get(from) ?? []) if (k >= lo && k < hi) n++;
    return n;
  }
  /** Streams not strictly increasing (a duplicate or a message delivered before an earlier one). */
  disorder(): string[] {
    const bad: string[] = [];
    for (const [name, table] of [['m', this.m], ['u', this.u]] as const) {
      for (const [src, list] of table) {
        for (let i = 1; i < list.length; i++) {
          if (list[i]! <= list[i - 1]!) {
            bad.push(`${name} from ${src}: ${list[i]} after ${list[i - 1]}`);
            break;
          }
        }
      }
    }
    return bad;
  }
}

/** Cuts the members into groups that cannot reach each other. */
function partition(...groups: Channel[][]): void {
  for (const g of groups) {
    const others = groups.filter((o) => o !== g).flat().map((c) => c.getAddress()!);
    for (const c of g) discardOf(c).isolateFrom(...others);
  }
}

let members: Member[] = [];
afterEach(async () => {
  await closeAll(members.map((m) => m.channel));
  members = [];
});

/** Counters of each member's streams: next multicast number, next unicast number per destination. */
class Sender {
  m = 0;
  readonly u = new Map<Address, number>();
  constructor(readonly ch: Channel) {}
  async multicast(count: number): Promise<void> {
    for (let i = 0; i < count; i++) await this.ch.send(null, { m: this.m++ } satisfies Numbered);
  }
  async unicast(to: Address, count: number): Promise<void> {
    for (let i = 0; i < count; i++) {
      const n = this.u.get(to) ?? 0;
      this.u.set(to, n + 1);
      await this.ch.send(to, { u: n } satisfies Numbered);
    }
  }
}

/**
 * Starts `n` members, splits them into the first `cut` and the rest, lets each side send `pre`
 * multicasts (and unicasts within it), heals, and waits for the MergeView everywhere.
 */
async function splitTrafficHeal(n: number, cut: number, pre: number) {
  members = await startCluster(n, mergeStack);
  const chans = members.map((m) => m.channel);
  const streams = chans.map((c) => new Streams(c));
  const senders = chans.map((c) => new Sender(c));
  const left = chans.slice(0, cut);
  const right = chans.slice(cut);
  partition(left, right);
  if (left.length > 1) await waitForSameView(left, 8000);
  else await waitUntil(() => left[0]!.getView()!.size() === 1, 8000, `${left[0]!.getName()} alone`);
  await waitForSameView(right, 8000);
  // Traffic on both sides while they are apart.
  await Promise.all(
    senders.map(async (s, i) => {
      await s.multicast(pre);
      // Unicasts within the side, and a few into the cut (UNICAST3 resends them after the heal).
      const side = i < cut ? left : right;
      for (const o of chans) if (o !== s.ch) await s.unicast(o.getAddress()!, side.includes(o) ? pre / 5 : 3);
    }),
  );
  const healedAt = performance.now();
  for (const c of chans) discardOf(c).heal();
  const view = await waitForSameView(chans, 2 * MAX_INTERVAL + 8000);
  const mergeMs = performance.now() - healedAt;
  expect(view).toBeInstanceOf(MergeView);
  if (process.env.TSGROUPS_MERGE_TIMING) console.info(`merge of ${n} (${cut}+${n - cut}) after heal: ${mergeMs.toFixed(0)} ms`);
  return { chans, streams, senders, view };
}

function nakack(ch: Channel): NAKACK2 {
  return ch.getProtocolStack().findProtocol(NAKACK2)!;
}

test.each([
  [1, 4, 2, 0.1],
  [2, 5, 3, 0.15],
  [3, 5, 2, 0.2],
  [4, 3, 1, 0.2],
  [5, 5, 1, 0.15],
  [6, 4, 3, 0.1],
])(
  'seed %i: %i members split at %i and merged; under %p loss each way every multicast and unicast sent in the MergeView reaches every member once, in order',
  async (seed, n, cut, loss) => {
    const PRE = 50;
    const BURST = 500;
    const UNI = 100;
    const { chans, streams, senders, view } = await splitTrafficHeal(n, cut, PRE);
    // The MergeView is installed everywhere: loss starts, and every member sends at once.
    chans.forEach((c, i) => discardOf(c).setSeed(seed * 100 + i + 1).setUpDiscardRate(loss).setDownDiscardRate(loss));
    const start = senders.map((s) => ({ m: s.m }));
    await Promise.all(
      senders.map(async (s) => {
        await s.multicast(BURST);
        for (const o of chans) if (o !== s.ch) await s.unicast(o.getAddress()!, UNI);
      }),
    );
    const addrs = chans.map((c) => c.getAddress()!);
    const complete = () =>
      streams.every((k, r) =>
        addrs.every(
          (a, s) =>
            k.count('m', a, start[s]!.m, start[s]!.m + BURST) === BURST &&
            // Unicasts: all of them, also those sent into the cut before the heal.
            (r === s || k.count('u', a, 0, senders[s]!.u.get(addrs[r]!)!) === senders[s]!.u.get(addrs[r]!)),
        ),
      );
    await waitUntil(complete, 30_000, 'every message of the merged view at every member', () =>
      streams
        .map((k, r) => `${chans[r]!.getName()}: ${addrs.map((a, s) => `${chans[s]!.getName()}=${k.count('m', a, start[s]!.m, start[s]!.m + BURST)}`).join(' ')}`)
        .join('; '),
    );
    for (const k of streams) expect(k.disorder()).toEqual([]);
    // Nothing changed the view meanwhile: all of it happened in the merged view.
    for (const c of chans) expect(c.getView()!.viewId.equals(view.viewId)).toBe(true);
    const dropped = chans.reduce((s, c) => s + discardOf(c).stats.droppedUp + discardOf(c).stats.droppedDown, 0);
    expect(dropped).toBeGreaterThan(0);
    // Each member started the other side's senders from the merge digest.
    chans.forEach((c, i) => expect(nakack(c).stats.mergeWindows).toBe(i < cut ? n - cut : cut));
    for (const c of chans) expect(nakack(c).stats.messagesSkipped).toBe(0);
    for (const c of chans) discardOf(c).setUpDiscardRate(0).setDownDiscardRate(0);
  },
  60_000,
);

test('the first multicasts after a merge, lost at the member that was alone, are still delivered to it, in order', async () => {
  const K = 10;
  const { chans, streams, senders } = await splitTrafficHeal(3, 2, 20);
  const [a, , c] = chans as [Channel, Channel, Channel];
  const [sa] = senders as [Sender];
  const first = sa.m;
  // C misses A's first K multicasts of the merged view (B gets them).
  discardOf(c).addIgnoreMember(a.getAddress()!);
  await sa.multicast(K);
  await waitUntil(() => streams[1]!.count('m', a.getAddress()!, first, first + K) === K, 5000, `A's first ${K} at B`);
  discardOf(c).removeIgnoreMember(a.getAddress()!);
  await sa.multicast(K);
  await waitUntil(() => streams[2]!.count('m', a.getAddress()!, first, first + 2 * K) === 2 * K, 10_000, `A's ${2 * K} at C`, () =>
    `C got ${streams[2]!.m.get(a.getAddress()!)?.join(',')}`,
  );
  const atC = streams[2]!.m.get(a.getAddress()!)!;
  expect(atC.slice(atC.indexOf(first))).toEqual(Array.from({ length: 2 * K }, (_, i) => first + i));
  for (const k of streams) expect(k.disorder()).toEqual([]);
  expect(nakack(c).stats.xmitReqsSent).toBeGreaterThan(0);
  expect(nakack(c).stats.messagesSkipped).toBe(0);
});

test('the merge digest takes each member’s entry from its own subgroup (the one it coordinates if in several)', () => {
  const [a, b, c, d] = Array.from({ length: 4 }, () => Address.random()).sort((x, y) => x.compareTo(y)) as [Address, Address, Address, Address];
  const left = View.create(a, 4, [a, b]);
  const right = View.create(c, 6, [c, d, b]); // B is in both: its entry comes from the higher one
  const merged = buildMergeView(a, left, [right], new Set())!;
  const leftDigest = new Digest().set(a, 10, 10).set(b, 3, 5).set(c, 99, 99);
  const rightDigest = new Digest().set(c, 20, 22).set(d, 7, 7).set(b, 4, 4).set(a, 1, 1);
  const digest = buildMergeDigest(merged, [
    { view: left, digest: leftDigest },
    { view: right, digest: rightDigest },
  ])!;
  expect(digest.get(a)).toEqual({ highestDelivered: 10, highestReceived: 10 });
  expect(digest.get(c)).toEqual({ highestDelivered: 20, highestReceived: 22 });
  expect(digest.get(d)).toEqual({ highestDelivered: 7, highestReceived: 7 });
  expect(digest.get(b)).toEqual({ highestDelivered: 4, highestReceived: 4 });
  // A member coordinating a subgroup takes that subgroup's entry, even if another's is higher.
  const cAlso = View.create(c, 6, [c, d]);
  const aToo = View.create(b, 3, [b, c]);
  const m2 = buildMergeView(b, aToo, [cAlso], new Set())!;
  const d2 = buildMergeDigest(m2, [
    { view: aToo, digest: new Digest().set(b, 5, 5).set(c, 50, 50) },
    { view: cAlso, digest: new Digest().set(c, 30, 30).set(d, 2, 2) },
  ])!;
  expect(d2.get(c)!.highestDelivered).toBe(30);
  expect(buildMergeDigest(m2, [{ view: aToo, digest: null }, { view: cAlso, digest: null }])).toBeNull();
});

test('a sender gone with a gap open: what it sent past the gap is never delivered, and the view change counts it', async () => {
  members = await startCluster(3, mergeStack);
  const [a, b, c] = members.map((m) => m.channel) as [Channel, Channel, Channel];
  const streams = [b, c].map((ch) => new Streams(ch));
  const own = new Streams(a);
  const sa = new Sender(a);
  // A's first multicast reaches nobody else; its second does, and then A is cut off for good.
  const dropped = () => discardOf(b).stats.droppedUp + discardOf(c).stats.droppedUp;
  for (const ch of [b, c]) discardOf(ch).addIgnoreMember(a.getAddress()!);
  const before = dropped();
  await sa.multicast(1);
  await waitUntil(() => own.count('m', a.getAddress()!, 0, 1) === 1 && dropped() >= before + 2, 5000, 'A’s first multicast dropped at B and C');
  for (const ch of [b, c]) discardOf(ch).removeIgnoreMember(a.getAddress()!);
  await sa.multicast(1);
  discardOf(a).setDiscardAll(true);
  await waitUntil(() => [b, c].every((ch) => !ch.getView()!.containsMember(a.getAddress()!)), 10_000, 'A removed');
  for (const [i, ch] of [b, c].entries()) {
    expect(streams[i]!.m.get(a.getAddress()!) ?? []).toEqual([]);
    expect(nakack(ch).stats.leftWithGaps).toBe(1);
    expect(nakack(ch).stats.undeliveredOfLeft).toBe(2);
  }
});
