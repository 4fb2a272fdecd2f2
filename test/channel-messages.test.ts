import {
  type Address,
  Channel,
  ConsoleLogger,
  GMS,
  type Message,
  type MessageIterator,
  MFC,
  NAKACK2,
  ProtocolStack,
  setLogger,
  SHARED_LOOPBACK,
  SHARED_LOOPBACK_PING,
  STABLE,
  UFC,
  UNICAST3,
} from 'tsgroups';
import { closeAll, loopbackStack, startCluster, uniqueCluster, waitForSameView, waitUntil } from './helpers/cluster.js';

const MAX_CREDITS = 20_000;
const SIZE = 1000; // payload bytes: what flow control counts
const HIGH = 100;
const LOW = 50;

let chans: Channel[] = [];
afterEach(async () => {
  await closeAll(chans);
  chans = [];
});

/** Reliable loopback stack with small credits, so that flow control bites early. */
function reliableStack(): ProtocolStack {
  const gms = new GMS().setValues({ join_retry_delay: 20, view_ack_collection_timeout: 1000 });
  return new ProtocolStack([
    new SHARED_LOOPBACK(),
    new SHARED_LOOPBACK_PING(),
    new NAKACK2().setValues({ xmit_interval: 100 }),
    new UNICAST3().setValues({ xmit_interval: 100 }),
    new STABLE().setValues({ desired_avg_gossip: 300, max_bytes: '1M' }),
    gms,
    new MFC().setValues({ max_credits: MAX_CREDITS }),
    new UFC().setValues({ max_credits: MAX_CREDITS }),
  ]);
}

async function cluster(n: number, makeStack: () => ProtocolStack = reliableStack): Promise<Channel[]> {
  const name = uniqueCluster('iter');
  for (let i = 0; i < n; i++) {
    const ch = new Channel(makeStack()).setName(String.fromCharCode(65 + i));
    chans.push(ch);
    await ch.connect(name);
  }
  await waitForSameView(chans, 5000);
  return chans.slice();
}

/** A SIZE-byte payload that carries `i`. */
function payload(i: number): Uint8Array {
  const b = new Uint8Array(SIZE);
  new DataView(b.buffer).setUint32(0, i);
  return b;
}
const indexOf = (m: Message) => new DataView(m.getArray().buffer, m.getArray().byteOffset + m.getOffset()).getUint32(0);

/** The application's work on one message: about a millisecond (a timer, not a busy loop). */
const work = () => new Promise<void>((resolve) => setTimeout(resolve, 1));

/** Watches an iterator's buffer: the largest `pending` seen right after each arrival. */
function watchPending(ch: Channel, it: MessageIterator): { max: number } {
  const seen = { max: 0 };
  // Listeners added after the iterator run after it was fed.
  ch.on('message', () => (seen.max = Math.max(seen.max, it.pending)));
  return seen;
}

describe('messages() is bounded by flow control when its consumer is slow', () => {
  test.each(['multicast', 'unicast'] as const)(
    '5 senders, %s, a consumer taking ~1 ms per message: the buffer stays under high water + what credits allow; nothing lost, duplicated or reordered',
    async (mode) => {
      const all = await cluster(6);
      const consumer = all[5]!;
      const senders = all.slice(0, 5);
      const N = 200; // per sender
      const it = consumer.messages({ highWaterMark: HIGH, lowWaterMark: LOW });
      const pending = watchPending(consumer, it);
      const got = new Map<Address, number[]>();
      const consuming = (async () => {
        let n = 0;
        for await (const m of it) {
          if (m.getLength() !== SIZE) continue;
          let list = got.get(m.src!);
          if (!list) got.set(m.src!, (list = []));
          list.push(indexOf(m));
          await work();
          if (++n === senders.length * N) break;
        }
      })();
      const dest = mode === 'multicast' ? null : consumer.getAddress();
      await Promise.all(
        senders.map(async (s) => {
          for (let i = 0; i < N; i++) await s.send(dest, payload(i));
        }),
      );
      await consuming;
      // Once behind, each sender can send at most the credits it holds: MAX_CREDITS bytes.
      const bound = HIGH + senders.length * Math.ceil(MAX_CREDITS / SIZE);
      expect(pending.max).toBeGreaterThanOrEqual(HIGH); // the consumer did fall behind
      expect(pending.max).toBeLessThanOrEqual(bound);
      for (const s of senders) expect(got.get(s.getAddress()!)).toEqual(Array.from({ length: N }, (_, i) => i));
      const stack = consumer.getProtocolStack();
      const fc = mode === 'multicast' ? stack.findProtocol(MFC)! : stack.findProtocol(UFC)!;
      expect(fc.getStats().consumerBehindPeriods).toBeGreaterThan(0);
      expect(fc.isWithholdingCredits()).toBe(false); // break released it
    },
  );

  test('breaking out of the loop while behind releases the withheld credits: blocked senders finish', async () => {
    const all = await cluster(3);
    const [s1, s2, consumer] = all as [Channel, Channel, Channel];
    const it = consumer.messages({ highWaterMark: 10, lowWaterMark: 5 });
    const N = 100; // 100 KB each: five times the credits
    const sending = Promise.all([s1, s2].map(async (s) => {
      for (let i = 0; i < N; i++) await s.send(null, payload(i));
    }));
    const mfc = consumer.getProtocolStack().findProtocol(MFC)!;
    // Take nothing until the senders are held back, then leave.
    await waitUntil(() => mfc.isWithholdingCredits() && s1.getProtocolStack().findProtocol(MFC)!.isBlocked(), 5000, 'the senders blocked');
    const first = await it.next();
    expect(first.done).toBe(false);
    await it.return();
    expect(it.pending).toBe(0);
    expect(mfc.isWithholdingCredits()).toBe(false);
    await sending; // would wait for ever if the credits stayed withheld
  });

  test('without flow control the iterator still loses nothing; it buffers without bound and says so once', async () => {
    const warnings: string[] = [];
    setLogger({ isEnabled: () => true, log: (level, _scope, message) => void (level === 'warn' && warnings.push(message)) });
    try {
      const [a, b] = (await cluster(2, () => loopbackStack())) as [Channel, Channel];
      const it = b.messages({ highWaterMark: 10 });
      for (let i = 0; i < 50; i++) await a.send(null, i);
      await waitUntil(() => it.pending === 50, 2000, '50 buffered messages');
      expect(warnings.filter((w) => w.includes('buffers without bound'))).toHaveLength(1);
      const values: unknown[] = [];
      for await (const m of it) {
        values.push(m.getObject());
        if (values.length === 50) break;
      }
      expect(values).toEqual(Array.from({ length: 50 }, (_, i) => i));
    } finally {
      setLogger(new ConsoleLogger());
    }
  });
});

describe('messages() lifecycle', () => {
  test('on a closed channel it ends at once', async () => {
    const ch = new Channel(loopbackStack());
    chans.push(ch);
    await ch.close();
    const it = ch.messages();
    await expect(it.next()).resolves.toEqual({ value: undefined, done: true });
    const seen: Message[] = [];
    for await (const m of ch.messages()) seen.push(m);
    expect(seen).toEqual([]);
  });

  test('an iterator that is waiting ends when the channel closes', async () => {
    const [a] = await cluster(1, () => loopbackStack());
    const next = a!.messages().next();
    await a!.close();
    await expect(next).resolves.toEqual({ value: undefined, done: true });
  });

  test('made before connect, it sees the messages of the connection and ends at disconnect, after what it buffered', async () => {
    const members = await startCluster(1);
    chans.push(members[0]!.channel);
    const a = members[0]!.channel;
    const b = new Channel(loopbackStack()).setName('B');
    chans.push(b);
    const it = b.messages();
    await b.connect(a.getClusterName()!);
    await waitForSameView([a, b], 2000);
    for (const v of ['x', 'y', 'z']) await a.send(null, v);
    await waitUntil(() => it.pending === 3, 2000, '3 buffered');
    await b.disconnect();
    const values: unknown[] = [];
    for await (const m of it) values.push(m.getObject());
    expect(values).toEqual(['x', 'y', 'z']);
  });

  test('one consumer: a next() while another waits is refused', async () => {
    const [a] = await cluster(1, () => loopbackStack());
    const it = a!.messages();
    const first = it.next();
    await expect(it.next()).rejects.toMatchObject({ code: 'ERR_BAD_ARGUMENT' });
    await a!.send(null, 'one');
    await expect(first.then((r) => (r.value as Message).getObject())).resolves.toBe('one');
  });

  test('an abort ends it at once and drops what it buffered', async () => {
    const [a] = await cluster(1, () => loopbackStack());
    const ac = new AbortController();
    const it = a!.messages({ signal: ac.signal });
    await a!.send(null, 1);
    await waitUntil(() => it.pending === 1, 2000);
    ac.abort();
    expect(it.pending).toBe(0);
    await expect(it.next()).resolves.toEqual({ value: undefined, done: true });
    await a!.send(null, 2); // no longer fed
    expect(it.pending).toBe(0);
  });

  test('bad water marks are refused', () => {
    const ch = new Channel(loopbackStack());
    chans.push(ch);
    for (const opts of [{ highWaterMark: 0 }, { highWaterMark: 1.5 }, { highWaterMark: 10, lowWaterMark: 10 }, { lowWaterMark: -1 }]) {
      expect(() => ch.messages(opts)).toThrow(expect.objectContaining({ code: 'ERR_BAD_ARGUMENT' }));
    }
  });
});
