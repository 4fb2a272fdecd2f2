import { createHash, randomBytes } from 'node:crypto';
import { type Channel, FRAG2, GMS, Message } from 'tsgroups';
import { closeAll, type Member, startCluster, waitForSameView, waitUntil } from './helpers/cluster.js';
import { CapturingLogger, fragRsvpStack } from './helpers/frag-rsvp-stack.js';

const FRAG_SIZE = 8000; // '8K'

let members: Member[] = [];
afterEach(async () => {
  await closeAll(members.map((m) => m.channel));
  members = [];
});

const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');
const frag = (ch: Channel): FRAG2 => ch.getProtocolStack().findProtocol(FRAG2)!;
const chans = (): Channel[] => members.map((m) => m.channel);
/** The short text messages `m` received (binary payloads skipped). */
const texts = (m: Member): unknown[] =>
  m.rec.messages.flatMap((x) => {
    try {
      return [x.getObject()];
    } catch {
      return [];
    }
  });
/** Hashes of the payloads `m` received from `from`, in delivery order. */
const hashesFrom = (m: Member, from: Channel): string[] =>
  m.rec.messages.filter((x) => x.src === from.getAddress()).map((x) => sha(x.getPayload()));

describe('FRAG2', () => {
  test('a 5 MB multicast reaches every member intact, in 8K fragments, with no partial messages left', async () => {
    members = await startCluster(3, () => fragRsvpStack());
    const [a] = chans() as [Channel];
    const data = randomBytes(5 * 1024 * 1024);
    const digest = sha(data);
    await a.send(null, new Uint8Array(data.buffer, data.byteOffset, data.length));
    await waitUntil(() => members.every((m) => m.rec.messages.length === 1), 10_000, 'the 5 MB message everywhere');
    for (const m of members) {
      const got = m.rec.messages[0]!;
      expect(got.getLength()).toBe(data.length);
      expect(sha(got.getPayload())).toBe(digest);
      expect(got.src).toBe(a.getAddress());
      expect(got.dest).toBeNull();
      expect(frag(m.channel).numPartialMessages()).toBe(0);
    }
    expect(frag(a).stats.fragmentsSent).toBe(Math.ceil(data.length / FRAG_SIZE));
    expect(frag(members[1]!.channel).stats.messagesReassembled).toBe(1);
  });

  test('large messages of several senders at once, interleaved, with small ones between: all intact, per-sender order kept', async () => {
    members = await startCluster(3, () => fragRsvpStack());
    const senders = chans();
    const rounds = 4;
    const expected = new Map<Channel, string[]>(senders.map((c) => [c, []]));
    // Whether another message was incomplete when one was delivered: the fragments did interleave.
    let sawInterleaving = false;
    for (const m of members) {
      m.channel.on('message', () => {
        if (frag(m.channel).numPartialMessages() > 0) sawInterleaving = true;
      });
    }
    const sends: Promise<void>[] = [];
    for (let r = 0; r < rounds; r++) {
      for (const [i, s] of senders.entries()) {
        const big = randomBytes(100_000 + r * 37_003 + i * 1_001);
        const small = randomBytes(10 + r + i);
        expected.get(s)!.push(sha(big), sha(small));
        sends.push(s.send(null, new Uint8Array(big)), s.send(null, new Uint8Array(small)));
      }
    }
    await Promise.all(sends);
    const total = rounds * 2 * senders.length;
    await waitUntil(() => members.every((m) => m.rec.messages.length === total), 10_000, `${total} messages everywhere`, () =>
      members.map((m) => `${m.channel.getName()}: ${m.rec.messages.length}`).join(', '),
    );
    for (const m of members) {
      for (const s of senders) expect(hashesFrom(m, s)).toEqual(expected.get(s));
      expect(frag(m.channel).numPartialMessages()).toBe(0);
    }
    expect(sawInterleaving).toBe(true);
  });

  test('a large unicast reaches only its destination, intact', async () => {
    members = await startCluster(3, () => fragRsvpStack());
    const [a, , c] = chans() as [Channel, Channel, Channel];
    const data = new Uint8Array(randomBytes(1_000_000));
    await a.send(c.getAddress(), data);
    await a.send(null, 'after');
    await waitUntil(
      () => members.every((m) => texts(m).includes('after')) && members[2]!.rec.messages.some((x) => x.getLength() === data.length),
      5000,
    );
    const got = members[2]!.rec.messages.filter((x) => x.src === a.getAddress() && x.getLength() === data.length);
    expect(got).toHaveLength(1);
    expect(sha(got[0]!.getPayload())).toBe(sha(data));
    expect(got[0]!.dest).toBe(c.getAddress());
    for (const m of members.slice(0, 2)) expect(m.rec.messages.some((x) => x.getLength() === data.length)).toBe(false);
  });

  test('a message of exactly frag_size is not fragmented; frag_size + 1 makes two fragments', async () => {
    members = await startCluster(2, () => fragRsvpStack());
    const [a] = chans() as [Channel];
    const exact = new Uint8Array(randomBytes(FRAG_SIZE));
    const plusOne = new Uint8Array(randomBytes(FRAG_SIZE + 1));
    await a.send(null, exact);
    expect(frag(a).stats.fragmentsSent).toBe(0);
    await a.send(null, plusOne);
    expect(frag(a).stats.fragmentsSent).toBe(2);
    expect(frag(a).stats.messagesFragmented).toBe(1);
    await waitUntil(() => members.every((m) => m.rec.messages.length === 2), 5000);
    for (const m of members) {
      expect(m.rec.messages.map((x) => sha(x.getPayload()))).toEqual([sha(exact), sha(plusOne)]);
    }
  });

  test('fragments with bad headers are dropped and logged; nothing breaks', async () => {
    members = await startCluster(3, () => fragRsvpStack());
    const [a, b, c] = chans() as [Channel, Channel, Channel];
    for (const ch of [b, c]) frag(ch).setValues({ max_message_size: 20_000, max_partials_per_sender: 3 });
    const log = new CapturingLogger('FRAG2').install();
    try {
      const gmsOfA = a.getProtocolStack().findProtocol(GMS)!;
      // Sent below FRAG2, so they travel (encoded and decoded) exactly as FRAG2 would send them.
      const inject = (id: number, index: number, count: number, size = 100) =>
        gmsOfA.down(new Message(null, new Uint8Array(size)).putHeader(FRAG2.id, { id, index, count }));
      inject(100_001, 5, 3); // index out of range
      inject(100_002, 0, 0); // no fragments at all
      inject(100_003, 0, 3); // count changes between fragments: the whole message goes
      inject(100_003, 1, 4);
      inject(100_004, 0, 2); // the same fragment twice: one is ignored
      inject(100_004, 0, 2);
      inject(100_005, 0, 3, 9000); // larger than max_message_size (20000) once the third arrives
      inject(100_005, 1, 3, 9000);
      inject(100_005, 2, 3, 9000);
      inject(4_000_000_000, 4_000_000_000, 4_294_967_295); // absurd, but in range: costs one entry
      await a.send(null, 'sync');
      await waitUntil(() => members.every((m) => texts(m).includes('sync')), 5000);
      for (const m of [members[1]!, members[2]!]) {
        const f = frag(m.channel);
        expect(f.stats.fragmentsDropped).toBe(5); // 100_001, 100_002, 100_003 #2, 100_004 dup, 100_005 #3
        // Open: 100_004 (waits for fragment 1) and the absurd one; 100_003 and 100_005 were dropped.
        expect(f.numPartialMessages(a.getAddress()!)).toBe(2);
        expect(m.rec.messages).toHaveLength(1);
      }
      expect(log.lines.some((l) => /index 5 of 3/.test(l))).toBe(true);
      expect(log.lines.some((l) => /index 0 of 0/.test(l))).toBe(true);
      expect(log.lines.some((l) => /count 4, but earlier fragments/.test(l))).toBe(true);
      expect(log.lines.some((l) => /max_message_size/.test(l))).toBe(true);

      // The missing fragment completes 100_004; more open messages than allowed push out the oldest.
      inject(100_004, 1, 2, 50);
      for (let id = 100_010; id < 100_013; id++) inject(id, 0, 2);
      await a.send(null, 'sync2');
      await waitUntil(() => members.every((m) => texts(m).includes('sync2')), 5000);
      for (const m of [members[1]!, members[2]!]) {
        const got = m.rec.messages.find((x) => x.getLength() === 150);
        expect(got).toBeDefined();
        expect(frag(m.channel).numPartialMessages(a.getAddress()!)).toBe(3);
      }
      expect(log.lines.some((l) => /incomplete messages from/.test(l))).toBe(true);

      // Real traffic still works.
      const data = new Uint8Array(randomBytes(50_000));
      frag(b).setValues({ max_message_size: '1G' });
      frag(c).setValues({ max_message_size: '1G' });
      await a.send(null, data);
      await waitUntil(() => members.every((m) => m.rec.messages.some((x) => x.getLength() === data.length)), 5000);
      for (const m of members) expect(sha(m.rec.messages.find((x) => x.getLength() === data.length)!.getPayload())).toBe(sha(data));
    } finally {
      log.uninstall();
    }
  });

  test('incomplete messages of a member that leaves are discarded', async () => {
    members = await startCluster(3, () => fragRsvpStack());
    const [a, b, c] = chans() as [Channel, Channel, Channel];
    const cAddr = c.getAddress()!;
    const gmsOfC = c.getProtocolStack().findProtocol(GMS)!;
    gmsOfC.down(new Message(null, new Uint8Array(100)).putHeader(FRAG2.id, { id: 7, index: 0, count: 3 }));
    gmsOfC.down(new Message(null, new Uint8Array(100)).putHeader(FRAG2.id, { id: 8, index: 2, count: 3 }));
    await waitUntil(() => frag(a).numPartialMessages(cAddr) === 2 && frag(b).numPartialMessages(cAddr) === 2, 5000);
    await c.close();
    await waitForSameView([a, b], 5000);
    expect(frag(a).numPartialMessages()).toBe(0);
    expect(frag(b).numPartialMessages()).toBe(0);
    expect(frag(a).stats.partialsDropped).toBe(2);
  });
});
