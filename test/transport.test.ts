import { Address, Channel, encodeDatagram, Flag, Message, SHARED_LOOPBACK, SharedLoopbackNetwork, utf8Encode } from 'tsgroups';
import { closeAll, type Member, startCluster, waitUntil } from './helpers/cluster.js';
import { seededRandom } from 'tsgroups';

let members: Member[] = [];
afterEach(async () => {
  await closeAll(members.map((m) => m.channel));
  members = [];
});

const transportOf = (ch: Channel) => ch.getProtocolStack().getTransport() as SHARED_LOOPBACK;

test('messages sent in one turn of the event loop leave as one datagram per destination', async () => {
  members = await startCluster(2);
  const [a, b] = members.map((m) => m.channel) as [Channel, Channel];
  const t = transportOf(a);
  const before = t.stats.datagramsSent;
  for (let i = 0; i < 50; i++) void a.send(null, i);
  for (let i = 0; i < 50; i++) void a.send(b.getAddress(), -i);
  await waitUntil(() => members[1]!.rec.messages.length === 100, 2000);
  expect(t.stats.datagramsSent - before).toBe(2);
  // Order per destination is kept inside the bundle.
  const got = members[1]!.rec.objects<number>();
  expect(got.filter((n) => n > 0)).toEqual(Array.from({ length: 49 }, (_, i) => i + 1));
});

test("the bundle leaves once the turn's microtasks are done: sends from promise continuations join it, and it is out before the next immediate", async () => {
  members = await startCluster(2);
  const [a, b] = members.map((m) => m.channel) as [Channel, Channel];
  const t = transportOf(a);
  // A turn of our own: nothing of the cluster's start is waiting for its end.
  await new Promise((r) => setTimeout(r, 5));
  const before = t.stats.datagramsSent;
  let atImmediate = -1;
  const immediate = new Promise<void>((resolve) =>
    setImmediate(() => {
      atImmediate = t.stats.datagramsSent - before;
      resolve();
    }),
  );
  void a.send(b.getAddress(), 1);
  await Promise.resolve();
  void a.send(b.getAddress(), 2); // a continuation, as an RPC's next request after an answer
  await immediate;
  expect(atImmediate).toBe(1);
  await waitUntil(() => members[1]!.rec.messages.length === 2, 2000);
  expect(t.stats.datagramsSent - before).toBe(1);
  expect(members[1]!.rec.objects<number>()).toEqual([1, 2]);
});

test('a bundle never exceeds max_bundle_size: big bursts are split', async () => {
  members = await startCluster(2);
  const [a] = members.map((m) => m.channel) as [Channel, Channel];
  const t = transportOf(a);
  t.setValue('max_bundle_size', '8K');
  const before = t.stats.datagramsSent;
  const payload = new Uint8Array(1000);
  for (let i = 0; i < 40; i++) void a.send(null, payload);
  await waitUntil(() => members[1]!.rec.messages.length === 40, 2000);
  const datagrams = t.stats.datagramsSent - before;
  expect(datagrams).toBeGreaterThanOrEqual(5); // 40 KB of payload in 8 KB bundles
  expect(t.stats.bytesSent / t.stats.datagramsSent).toBeLessThanOrEqual(8192);
});

test('DONT_BUNDLE sends at once, in its own datagram', async () => {
  members = await startCluster(2);
  const [a, b] = members.map((m) => m.channel) as [Channel, Channel];
  const t = transportOf(a);
  const before = t.stats.datagramsSent;
  void a.send(new Message(b.getAddress(), 1).setFlag(Flag.DONT_BUNDLE));
  expect(t.stats.datagramsSent - before).toBe(1); // synchronously, before the turn ends
  await waitUntil(() => members[1]!.rec.messages.length === 1, 2000);
});

describe('bad input from the network', () => {
  const valid = (cluster: string, sender: Address, payload: string) =>
    encodeDatagram(utf8Encode(cluster), sender, null, [new Message(null, payload)]);

  test('datagrams from another cluster, another version, garbage or truncations change nothing and are counted', async () => {
    members = await startCluster(3);
    const [a, b] = members.map((m) => m.channel) as [Channel, Channel, Channel];
    const cluster = a.getClusterName()!;
    const target = SharedLoopbackNetwork.find(cluster, b.getAddress()!)!;
    const viewBefore = b.getView()!;
    const stranger = Address.random();
    const good = valid(cluster, stranger, 'x');
    const otherVersion = Uint8Array.prototype.slice.call(good);
    otherVersion[6] = 99; // the version varint follows the 5-byte magic field and its tag
    const rnd = seededRandom(42);
    const inputs: Uint8Array[] = [
      valid('another-cluster', stranger, 'intruder'),
      otherVersion,
      new Uint8Array(0),
      Uint8Array.from({ length: 300 }, () => Math.floor(rnd() * 256)),
      ...Array.from({ length: good.length - 1 }, (_, n) => good.subarray(0, n)),
    ];
    for (const d of inputs) target.enqueue(d);
    await a.send(null, 'after');
    await waitUntil(() => members[1]!.rec.messages.some((m) => m.getObject() === 'after'), 2000);
    const t = transportOf(b);
    expect(t.stats.droppedCluster).toBe(1);
    expect(t.stats.droppedVersion).toBe(1);
    expect(t.stats.dropped).toBeGreaterThanOrEqual(inputs.length - 1);
    expect(members[1]!.rec.objects()).toEqual(['after']);
    expect(b.getView()!.viewId.equals(viewBefore.viewId)).toBe(true);
  });

  test('a unicast datagram addressed to someone else is dropped', async () => {
    members = await startCluster(2);
    const [a, b] = members.map((m) => m.channel) as [Channel, Channel];
    const cluster = a.getClusterName()!;
    const d = encodeDatagram(utf8Encode(cluster), a.getAddress()!, Address.random(), [new Message(null, 'misaddressed')]);
    SharedLoopbackNetwork.find(cluster, b.getAddress()!)!.enqueue(d);
    await a.send(b.getAddress(), 'ok');
    await waitUntil(() => members[1]!.rec.messages.length === 1, 2000);
    expect(members[1]!.rec.objects()).toEqual(['ok']);
    expect(transportOf(b).stats.droppedNotForMe).toBe(1);
  });
});
