import { createHash, randomFillSync } from 'node:crypto';
import { Channel, DISCARD, FRAG2, GMS, MFC, NAKACK2, ProtocolStack, SHARED_LOOPBACK, SHARED_LOOPBACK_PING, STABLE, UFC, UNICAST3 } from 'tsgroups';
import { closeAll, discardOf, uniqueCluster, waitForSameView, waitUntil } from './helpers/cluster.js';

/** The reliable stack on the in-process transport, with DISCARD right above the transport. */
function fullStack(): ProtocolStack {
  const gms = new GMS().setValues({ join_retry_delay: 20, view_ack_collection_timeout: 1000 });
  return new ProtocolStack([
    new SHARED_LOOPBACK(),
    new SHARED_LOOPBACK_PING(),
    new DISCARD(),
    new NAKACK2().setValues({ xmit_interval: 50 }),
    new UNICAST3().setValues({ xmit_interval: 50 }),
    new STABLE().setValues({ desired_avg_gossip: 300, max_bytes: '2M' }),
    gms,
    new MFC().setValues({ max_credits: '4M' }),
    new UFC().setValues({ max_credits: '4M' }),
    new FRAG2().setValues({ frag_size: '60K' }),
  ]);
}

/** Counts, per sender, what arrives of its numbered streams; keeps no message. */
class StreamChecker {
  readonly m = new Map<string, { next: number; dup: number; ooo: number }>();
  readonly u = new Map<string, { next: number; dup: number; ooo: number }>();
  constructor(ch: Channel) {
    ch.setReceiver({
      receive: (msg) => {
        const v = msg.getObject<{ m?: number; u?: number }>();
        const [table, n] = typeof v.m === 'number' ? [this.m, v.m] : [this.u, v.u!];
        const key = String(msg.getSrc());
        let s = table.get(key);
        if (!s) table.set(key, (s = { next: 0, dup: 0, ooo: 0 }));
        if (n < s.next) s.dup++;
        else {
          if (n > s.next) s.ooo++;
          s.next = n + 1;
        }
      },
    });
  }
  count(table: 'm' | 'u', from: string): number {
    return this[table].get(from)?.next ?? 0;
  }
}

let chans: Channel[] = [];
afterEach(async () => {
  await closeAll(chans);
  chans = [];
});

async function cluster(n: number): Promise<{ chans: Channel[]; checkers: StreamChecker[] }> {
  const name = uniqueCluster('rel');
  chans = [];
  const checkers: StreamChecker[] = [];
  for (let i = 0; i < n; i++) {
    const ch = new Channel(fullStack()).setName(String.fromCharCode(65 + i));
    checkers.push(new StreamChecker(ch));
    chans.push(ch);
    await ch.connect(name);
  }
  await waitForSameView(chans, 5000);
  return { chans, checkers };
}

test.each([101, 202, 303])(
  'seed %i, 10%% loss each way: 5 members each multicast 20,000 and unicast 5,000 to every other member; all exactly once, in order',
  async (seed) => {
    const { chans: cs, checkers } = await cluster(5);
    cs.forEach((c, i) => discardOf(c).setSeed(seed * 10 + i).setUpDiscardRate(0.1).setDownDiscardRate(0.1));
    const M = 20_000;
    const U = 5000;
    // Every member sends at once; each awaits its sends, so flow control can hold it back.
    await Promise.all(
      cs.map(async (c) => {
        const others = c.getView()!.members.filter((a) => a !== c.getAddress());
        for (let i = 0; i < M; i++) {
          await c.send(null, { m: i });
          if (i < U) for (const o of others) await c.send(o, { u: i });
        }
      }),
    );
    const names = cs.map((c) => c.getName()!);
    const done = () =>
      checkers.every((k, i) => names.every((n) => k.count('m', n) === M && k.count('u', n) === (n === names[i] ? 0 : U)));
    await waitUntil(done, 60_000, 'every message everywhere', () =>
      checkers.map((k, i) => `${names[i]}: ${names.map((n) => `${n}=${k.count('m', n)}/${k.count('u', n)}`).join(' ')}`).join('; '),
    );
    for (const k of checkers) {
      for (const s of [...k.m.values(), ...k.u.values()]) expect({ dup: s.dup, ooo: s.ooo }).toEqual({ dup: 0, ooo: 0 });
    }
    const xmits = cs.reduce((n, c) => n + c.getProtocolStack().findProtocol(NAKACK2)!.stats.xmitsSent, 0);
    const dropped = cs.reduce((n, c) => n + discardOf(c).stats.droppedUp + discardOf(c).stats.droppedDown, 0);
    expect(dropped).toBeGreaterThan(0);
    expect(xmits).toBeGreaterThan(0);
    // Heal before closing: the members leave cleanly.
    for (const c of cs) discardOf(c).setUpDiscardRate(0).setDownDiscardRate(0);
    // Stability: once all is delivered, the retransmission tables drain.
    await waitUntil(() => cs.every((c) => c.getProtocolStack().findProtocol(NAKACK2)!.messagesHeld() === 0), 10_000, 'purged tables');
    if (process.env.TSGROUPS_REL_STATS) console.info(`seed ${seed}: ${dropped} dropped, ${xmits} multicast retransmissions`);
  },
  120_000,
);

test.each([0, 0.05])('a 50 MB message reaches each of 3 members intact (loss %p)', async (loss) => {
  const { chans: cs } = await cluster(3);
  const got: Array<Uint8Array | null> = cs.map(() => null);
  cs.forEach((c, i) =>
    c.setReceiver({
      receive: (msg) => {
        if (msg.getLength() > 1000) got[i] = msg.getPayload();
      },
    }),
  );
  cs.forEach((c, i) => discardOf(c).setSeed(7 + i).setUpDiscardRate(loss).setDownDiscardRate(loss));
  const big = new Uint8Array(50 * 1024 * 1024);
  for (let off = 0; off < big.length; off += 65536) randomFillSync(big, off, Math.min(65536, big.length - off));
  const sum = createHash('sha256').update(big).digest('hex');
  await cs[0]!.send(null, big);
  await waitUntil(() => got.every((g) => g !== null), 60_000, 'the 50 MB message at every member');
  for (const g of got) {
    expect(g!.length).toBe(big.length);
    expect(createHash('sha256').update(g!).digest('hex')).toBe(sum);
  }
  for (const c of cs) discardOf(c).setUpDiscardRate(0).setDownDiscardRate(0);
}, 120_000);
