import { type Channel, DELAY, DISCARD, Flag, Message, SHUFFLE } from 'tsgroups';
import { closeAll, discardOf, loopbackStack, type Member, startCluster, waitForSameView, waitUntil } from './helpers/cluster.js';

let members: Member[] = [];
afterEach(async () => {
  await closeAll(members.map((m) => m.channel));
  members = [];
});

const withDiscard = () => loopbackStack(() => [new DISCARD()]);

describe('DISCARD', () => {
  test('drops about the configured fraction of incoming messages, reproducibly for a seed', async () => {
    members = await startCluster(2, withDiscard);
    const [a, b] = members.map((m) => m.channel) as [Channel, Channel];
    discardOf(b).setSeed(7).setUpDiscardRate(0.1);
    const n = 2000;
    for (let i = 0; i < n; i++) void a.send(b.getAddress(), i);
    await a.send(b.getAddress(), 'end');
    // 'end' itself may be dropped: wait until everything has passed DISCARD.
    await waitUntil(() => members[1]!.rec.messages.length + discardOf(b).stats.droppedUp >= n, 3000);
    const dropped = discardOf(b).stats.droppedUp;
    expect(dropped).toBeGreaterThan(n * 0.07);
    expect(dropped).toBeLessThan(n * 0.13);
    // What got through is in order and without duplicates.
    const got = members[1]!.rec.objects().filter((o): o is number => typeof o === 'number');
    expect(got).toEqual([...new Set(got)].sort((x, y) => x - y));
  });

  test('outgoing drops apply to what this member sends only', async () => {
    members = await startCluster(3, withDiscard);
    const [a, b, c] = members.map((m) => m.channel) as [Channel, Channel, Channel];
    discardOf(a).setDownDiscardRate(1);
    await a.send(null, 'lost');
    await b.send(null, 'kept');
    await waitUntil(() => members.every((m) => m.rec.objects().includes('kept')), 2000);
    expect(members[2]!.rec.objects()).toEqual(['kept']);
    expect(c.getView()!.size()).toBe(3);
  });

  test('isolating two groups from each other is a partition; heal() restores traffic', async () => {
    members = await startCluster(4, withDiscard);
    const chans = members.map((m) => m.channel);
    const left = chans.slice(0, 2);
    const right = chans.slice(2);
    for (const l of left) discardOf(l).isolateFrom(...right.map((r) => r.getAddress()!));
    for (const r of right) discardOf(r).isolateFrom(...left.map((l) => l.getAddress()!));
    await chans[0]!.send(null, 'left-only');
    await chans[3]!.send(null, 'right-only');
    await chans[0]!.send(chans[3]!.getAddress(), 'across');
    await waitUntil(
      () => members.slice(0, 2).every((m) => m.rec.objects().includes('left-only')) && members.slice(2).every((m) => m.rec.objects().includes('right-only')),
      2000,
    );
    expect(members[2]!.rec.objects()).toEqual(['right-only']);
    expect(members[3]!.rec.objects()).toEqual(['right-only']);
    expect(members[1]!.rec.objects()).toEqual(['left-only']);
    for (const ch of chans) discardOf(ch).heal();
    await chans[0]!.send(null, 'healed');
    await waitUntil(() => members.every((m) => m.rec.objects().includes('healed')), 2000);
  });

  test('discard_all set in XML cuts a member off entirely', async () => {
    members = await startCluster(2, withDiscard);
    const [a, b] = members.map((m) => m.channel) as [Channel, Channel];
    discardOf(b).setValue('discard_all', 'true');
    await a.send(null, 'x');
    await waitUntil(() => members[0]!.rec.messages.length === 1, 2000);
    await waitUntil(() => discardOf(b).stats.droppedUp >= 1, 2000);
    expect(members[1]!.rec.messages).toHaveLength(0);
  });
});

describe('DELAY', () => {
  test('holds messages back by the configured delay and still delivers all of them', async () => {
    members = await startCluster(2, () => loopbackStack(() => [new DELAY()]));
    const [a, b] = members.map((m) => m.channel) as [Channel, Channel];
    const delay = b.getProtocolStack().findProtocol(DELAY)!;
    delay.setValues({ in_delay: '60ms', constant_delay: true });
    const sentAt = performance.now();
    let arrivedAt = 0;
    b.once('message', () => (arrivedAt = performance.now()));
    await a.send(b.getAddress(), 'late');
    await waitUntil(() => arrivedAt > 0, 2000);
    expect(arrivedAt - sentAt).toBeGreaterThanOrEqual(55);
  });

  test('random delays reorder messages, none is lost or duplicated', async () => {
    members = await startCluster(2, () => loopbackStack(() => [new DELAY()]));
    const [a, b] = members.map((m) => m.channel) as [Channel, Channel];
    b.getProtocolStack().findProtocol(DELAY)!.setValues({ in_delay: 20, seed: 3 });
    for (let i = 0; i < 200; i++) void a.send(new Message(b.getAddress(), i).setFlag(Flag.DONT_BUNDLE)); // one datagram each
    await waitUntil(() => members[1]!.rec.messages.length === 200, 3000);
    const got = members[1]!.rec.objects<number>();
    expect([...got].sort((x, y) => x - y)).toEqual(Array.from({ length: 200 }, (_, i) => i));
    expect(got).not.toEqual([...got].sort((x, y) => x - y));
  });
});

describe('SHUFFLE', () => {
  test('reorders incoming messages without losing or duplicating any', async () => {
    members = await startCluster(2, () => loopbackStack(() => [new SHUFFLE()]));
    const [a, b] = members.map((m) => m.channel) as [Channel, Channel];
    b.getProtocolStack().findProtocol(SHUFFLE)!.setValues({ max_size: 50, seed: 11 });
    for (let i = 0; i < 500; i++) void a.send(b.getAddress(), i);
    await waitUntil(() => members[1]!.rec.messages.length === 500, 3000);
    const got = members[1]!.rec.objects<number>();
    expect([...got].sort((x, y) => x - y)).toEqual(Array.from({ length: 500 }, (_, i) => i));
    expect(got).not.toEqual([...got].sort((x, y) => x - y));
  });

  test('with up=false and down=true, it reorders what this member sends', async () => {
    members = await startCluster(2, () => loopbackStack(() => [new SHUFFLE()]));
    const [a, b] = members.map((m) => m.channel) as [Channel, Channel];
    a.getProtocolStack().findProtocol(SHUFFLE)!.setValues({ up: false, down: true, max_size: 20, seed: 5 });
    b.getProtocolStack().findProtocol(SHUFFLE)!.setValues({ up: false });
    for (let i = 0; i < 100; i++) void a.send(b.getAddress(), i);
    await waitUntil(() => members[1]!.rec.messages.length === 100, 3000);
    const got = members[1]!.rec.objects<number>();
    expect(new Set(got).size).toBe(100);
    expect(got).not.toEqual([...got].sort((x, y) => x - y));
    await waitForSameView([a, b], 1000);
  });
});
