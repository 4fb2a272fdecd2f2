import { type Address, type Channel, DELAY, DISCARD, Flag, GMS, Message, MFC, ProtocolStack, SHARED_LOOPBACK, SHARED_LOOPBACK_PING, UFC } from 'tsgroups';
import { closeAll, discardOf, type Member, startCluster, waitUntil } from './helpers/cluster.js';

const MAX = 200_000;
const SIZE = 1000;

let members: Member[] = [];
afterEach(async () => {
  await closeAll(members.map((m) => m.channel));
  members = [];
});

function makeStack(): ProtocolStack {
  const gms = new GMS();
  gms.joinRetryDelay = 20;
  gms.viewAckCollectionTimeout = 500;
  return new ProtocolStack([
    new SHARED_LOOPBACK(),
    new SHARED_LOOPBACK_PING(),
    new DISCARD(),
    new DELAY(),
    gms,
    new MFC().setValues({ max_credits: '200K' }),
    new UFC().setValues({ max_credits: '200K' }),
  ]);
}

const mfcOf = (ch: Channel): MFC => ch.getProtocolStack().findProtocol(MFC)!;
const ufcOf = (ch: Channel): UFC => ch.getProtocolStack().findProtocol(UFC)!;
const slowDown = (ch: Channel, ms = 30) => ch.getProtocolStack().findProtocol(DELAY)!.setValues({ in_delay: ms, constant_delay: true });

/** A SIZE-byte payload that starts with `i`. */
function payload(i: number): Uint8Array {
  const b = new Uint8Array(SIZE);
  new DataView(b.buffer).setUint32(0, i);
  return b;
}
const indexOf = (m: Message) => new DataView(m.getArray().buffer, m.getArray().byteOffset + m.getOffset()).getUint32(0);

/** The indices `rec` received from `from` with a SIZE-byte payload, in arrival order. */
function received(m: Member, from: Address): number[] {
  return m.rec.messages.filter((x) => x.src === from && x.getLength() === SIZE).map(indexOf);
}
const range = (n: number) => Array.from({ length: n }, (_, i) => i);

/** True if `p` has not settled yet (an already-resolved Promise wins the race). */
/**
 * Whether `p` still waits once the event loop had a turn: send() may settle a turn later without
 * being held by flow control (a loop awaiting each send() gets a break every 256 KiB).
 */
async function isPending(p: Promise<unknown>): Promise<boolean> {
  const marker = {};
  try {
    return (await Promise.race([p, new Promise((resolve) => setImmediate(() => resolve(marker)))])) === marker;
  } catch {
    return false;
  }
}

/**
 * Sends `n` messages without awaiting them and checks, on each completion and on every poll,
 * that the sender has no more than MAX bytes in flight and that its queue holds the rest.
 */
async function flood(
  sender: Channel,
  dest: Address | null,
  n: number,
  inFlight: () => number,
  queuedBytes: () => number,
): Promise<{ violations: string[]; promises: Promise<void>[] }> {
  const violations: string[] = [];
  let done = 0;
  const check = (exact: boolean) => {
    const f = inFlight();
    if (f > MAX) violations.push(`in flight ${f} > ${MAX}`);
    const q = queuedBytes();
    if (exact ? q + done * SIZE !== n * SIZE : q + done * SIZE > n * SIZE) violations.push(`queued ${q} + sent ${done * SIZE} != ${n * SIZE}`);
  };
  const promises: Promise<void>[] = [];
  for (let i = 0; i < n; i++) {
    const p = sender.send(dest, payload(i));
    promises.push(p);
    p.then(
      () => {
        done++;
        check(false);
      },
      () => undefined,
    );
  }
  check(false);
  await new Promise((r) => setTimeout(r, 0)); // let the completions of the sends that did not wait run
  await waitUntil(
    () => {
      check(true);
      return done === n;
    },
    20_000,
    'every send to complete',
    () => `${done}/${n} done, queued ${queuedBytes()} B`,
  );
  return { violations, promises };
}

describe('MFC', () => {
  test('a slow receiver holds the sender to max_credits in flight; everything arrives once, in order', async () => {
    members = await startCluster(3, makeStack);
    const [a, b] = members.map((m) => m.channel) as [Channel, Channel, Channel];
    slowDown(b);
    const mfc = mfcOf(a);
    const n = 2000;
    const { violations } = await flood(a, null, n, () => mfc.inFlightBytes(), () => mfc.stats.queuedBytes);
    expect(violations).toEqual([]);
    expect(mfc.stats.blockings).toBeGreaterThan(0);
    expect(mfc.stats.totalTimeBlockedMs).toBeGreaterThan(0);
    expect(mfc.stats.replenishmentsReceived).toBeGreaterThan(0);
    await waitUntil(() => members.every((m) => received(m, a.getAddress()!).length >= n), 20_000, 'delivery everywhere');
    for (const m of members) expect(received(m, a.getAddress()!)).toEqual(range(n));
    expect(mfc.stats.queuedBytes).toBe(0);
  });

  test('awaiting each send: some sends wait for credits', async () => {
    members = await startCluster(2, makeStack);
    const [a, b] = members.map((m) => m.channel) as [Channel, Channel];
    slowDown(b);
    const mfc = mfcOf(a);
    let pending = 0;
    for (let i = 0; i < 600; i++) {
      const p = a.send(null, payload(i));
      if (await isPending(p)) pending++;
      await p;
      expect(mfc.inFlightBytes()).toBeLessThanOrEqual(MAX);
    }
    expect(pending).toBeGreaterThan(0);
    expect(mfc.stats.blockings).toBeGreaterThan(0);
    await waitUntil(() => received(members[1]!, a.getAddress()!).length >= 600, 10_000, 'delivery');
    expect(received(members[1]!, a.getAddress()!)).toEqual(range(600));
  });

  test('alone in the view, nothing blocks', async () => {
    members = await startCluster(1, makeStack);
    const a = members[0]!.channel;
    for (let i = 0; i < 1000; i++) expect(await isPending(a.send(null, payload(i)))).toBe(false);
    expect(mfcOf(a).stats.blockings).toBe(0);
  });

  test('a blocked sender is released when the slow member leaves; NO_FC bypasses, OOB waits', async () => {
    members = await startCluster(3, makeStack);
    const [a, b, c] = members.map((m) => m.channel) as [Channel, Channel, Channel];
    // C never hears from B: B's credits never come back.
    discardOf(c).addIgnoreMember(b.getAddress()!);
    const mfc = mfcOf(c);
    const promises: Promise<void>[] = [];
    for (let i = 0; i < 400; i++) promises.push(c.send(null, payload(i)));
    for (const p of promises) p.catch(() => undefined);
    await waitUntil(() => mfc.inFlightBytes(b.getAddress()!) > MAX - SIZE && mfc.isBlocked(), 5000, 'C blocked on B');
    expect(mfc.inFlightBytes()).toBeLessThanOrEqual(MAX);

    // (Other lengths than SIZE, so that received() leaves them out.)
    const noFc = c.send(new Message(null, new Uint8Array(SIZE + 1)).setFlag(Flag.NO_FC));
    expect(await isPending(noFc)).toBe(false);
    const oob = c.send(new Message(null, new Uint8Array(SIZE + 1)).setFlag(Flag.OOB));
    oob.catch(() => undefined);
    expect(await isPending(oob)).toBe(true);
    expect(await isPending(promises[promises.length - 1]!)).toBe(true);

    await b.close();
    await Promise.all([...promises, oob]);
    expect(mfc.isBlocked()).toBe(false);
    await waitUntil(() => received(members[0]!, c.getAddress()!).length >= 400, 5000, 'delivery to A');
    expect(received(members[0]!, c.getAddress()!)).toEqual(range(400));
    expect(a.getView()!.size()).toBe(2);
  });

  test('lost replenishments: the blocked sender asks for credits after max_block_time and recovers', async () => {
    members = await startCluster(2, makeStack);
    const [a, b] = members.map((m) => m.channel) as [Channel, Channel];
    const mfc = mfcOf(a);
    mfc.maxBlockTime = 100;
    // B's unicasts to A (its REPLENISHes) are lost for a while.
    discardOf(b).addDropTo(a.getAddress()!);
    const n = 400;
    const promises: Promise<void>[] = [];
    for (let i = 0; i < n; i++) promises.push(a.send(null, payload(i)));
    for (const p of promises) p.catch(() => undefined);
    await waitUntil(() => mfc.isBlocked() && received(members[1]!, a.getAddress()!).length >= MAX / SIZE, 5000, 'A blocked, B caught up');
    await waitUntil(() => discardOf(b).stats.droppedDown >= 2, 5000, 'replenishments lost');
    discardOf(b).heal();
    await Promise.all(promises);
    expect(mfc.stats.creditRequestsSent).toBeGreaterThan(0);
    expect(mfcOf(b).stats.creditRequestsReceived).toBeGreaterThan(0);
    await waitUntil(() => received(members[1]!, a.getAddress()!).length >= n, 5000, 'delivery');
    expect(received(members[1]!, a.getAddress()!)).toEqual(range(n));
    expect(mfc.inFlightBytes()).toBeLessThanOrEqual(MAX);
  });

  test('unicasts are not subject to MFC', async () => {
    members = await startCluster(2, makeStack);
    const [a, b] = members.map((m) => m.channel) as [Channel, Channel];
    discardOf(a).addIgnoreMember(b.getAddress()!);
    const ps: Promise<void>[] = [];
    for (let i = 0; i < 300; i++) ps.push(a.send(null, payload(i)));
    for (const p of ps) p.catch(() => undefined);
    expect(mfcOf(a).isBlocked()).toBe(true);
    // A unicast to B (UFC has credits for it) and one to oneself pass MFC's queue.
    expect(await isPending(a.send(b.getAddress(), payload(0)))).toBe(false);
    expect(await isPending(a.send(a.getAddress(), payload(0)))).toBe(false);
  });
});

describe('UFC', () => {
  test('a slow destination holds back only the unicasts to it', async () => {
    members = await startCluster(3, makeStack);
    const [a, b, c] = members.map((m) => m.channel) as [Channel, Channel, Channel];
    slowDown(b);
    const ufc = ufcOf(a);
    const n = 2000;
    const bAddr = b.getAddress()!;
    const flooding = flood(a, bAddr, n, () => ufc.inFlightBytes(bAddr), () => ufc.stats.queuedBytes);
    // B's queue is full now; unicasts to C do not wait for it.
    expect(ufc.isBlocked()).toBe(true);
    for (let i = 0; i < 100; i++) {
      const p = a.send(c.getAddress(), payload(i));
      expect(await isPending(p)).toBe(false);
      await p;
    }
    expect(ufc.isBlocked()).toBe(true);
    expect(ufc.inFlightBytes(c.getAddress()!)).toBe(100 * SIZE);
    expect(ufc.stats.queuedBytes).toBeGreaterThan(0);

    const { violations } = await flooding;
    expect(violations).toEqual([]);
    expect(ufc.stats.blockings).toBeGreaterThan(0);
    expect(mfcOf(a).stats.blockings).toBe(0);
    await waitUntil(() => received(members[1]!, a.getAddress()!).length >= n, 20_000, 'delivery to B');
    expect(received(members[1]!, a.getAddress()!)).toEqual(range(n));
    await waitUntil(() => received(members[2]!, a.getAddress()!).length >= 100, 5000, 'delivery to C');
    expect(received(members[2]!, a.getAddress()!)).toEqual(range(100));
  });

  test('awaiting each unicast: some sends wait; a member that leaves releases its queue', async () => {
    members = await startCluster(3, makeStack);
    // A coordinates; B sends; C is the slow destination.
    const [, b, c] = members.map((m) => m.channel) as [Channel, Channel, Channel];
    slowDown(c);
    const ufc = ufcOf(b);
    let pending = 0;
    for (let i = 0; i < 500; i++) {
      const p = b.send(c.getAddress(), payload(i));
      if (await isPending(p)) pending++;
      await p;
      expect(ufc.inFlightBytes(c.getAddress()!)).toBeLessThanOrEqual(MAX);
    }
    expect(pending).toBeGreaterThan(0);
    expect(ufc.stats.blockings).toBeGreaterThan(0);
    await waitUntil(() => received(members[2]!, b.getAddress()!).length >= 500, 10_000, 'delivery to C');
    expect(received(members[2]!, b.getAddress()!)).toEqual(range(500));

    // B stops hearing from C (no more credits): B's unicasts to C block until C leaves.
    discardOf(b).addIgnoreMember(c.getAddress()!);
    const ps: Promise<void>[] = [];
    for (let i = 0; i < 300; i++) ps.push(b.send(c.getAddress(), payload(i)));
    for (const p of ps) p.catch(() => undefined);
    await waitUntil(() => ufc.isBlocked(), 2000, 'B blocked on C');
    expect(ufc.inFlightBytes(c.getAddress()!)).toBeLessThanOrEqual(MAX);
    expect(await isPending(b.send(new Message(c.getAddress(), payload(0)).setFlag(Flag.NO_FC)))).toBe(false);
    await c.close();
    await Promise.all(ps);
    expect(ufc.isBlocked()).toBe(false);
    expect(b.getView()!.size()).toBe(2);
  });
});
