// UNICAST3 without encryption (issue 12, hardening of the default stacks): a message on a new
// conn id, injected into B's stack right below UNICAST3 as if A had sent it, no longer replaces
// A's open connection: B asks A (CONN_CHECK), A answers which connection is its own (CONN_ID),
// and A's later unicasts keep arriving. A real new connection of A, and a restart of A, still work.
import { Address, Channel as Ch, type Channel, DISCARD, Message, UNICAST3, type UnicastHeader } from 'tsgroups';
import { closeAll, loopbackStack, type Member, Recorder, startCluster, waitForSameView, waitUntil } from './helpers/cluster.js';

let members: Member[] = [];
afterEach(async () => {
  await closeAll(members.map((m) => m.channel));
  members = [];
});

const DATA = 1;
const u3Stack = () => loopbackStack(() => [new DISCARD(), new UNICAST3().setValues({ xmit_interval: 50 })]);

function u3(ch: Channel): UNICAST3 {
  return ch.getProtocolStack().findProtocol(UNICAST3)!;
}

/** Hands `to`'s UNICAST3 a DATA message as if `from` had sent it on connection `connId`. */
function forgeData(to: Channel, from: Address, connId: number, seqno: number, payload: unknown): void {
  const msg = new Message(to.getAddress(), payload).putHeader(UNICAST3.id, { type: DATA, seqno, connId, missing: null } satisfies UnicastHeader);
  msg.src = from;
  u3(to).up(msg);
}

/** Payloads (numbers and strings) that `m` received from `sender`, in delivery order. */
function receivedFrom(m: Member, sender: Address): unknown[] {
  return m.rec.messages.filter((x) => x.src === sender && x.getObject() !== undefined).map((x) => x.getObject());
}

const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i);

/** A connection id that is neither of `ids`. */
function otherConnId(...ids: number[]): number {
  let id = 12345;
  while (ids.includes(id)) id++;
  return id;
}

function sendNumbers(from: Channel, to: Channel, lo: number, hi: number): void {
  for (let i = lo; i < hi; i++) void from.send(to.getAddress(), i);
}

test('a forged DATA on a new conn id does not cut A off from B: A\'s later unicasts all arrive, in order; the forged one never', async () => {
  members = await startCluster(2, u3Stack);
  const [a, b] = members.map((m) => m.channel) as [Channel, Channel];
  const fromA = () => receivedFrom(members[1]!, a.getAddress()!);
  sendNumbers(a, b, 0, 100);
  await waitUntil(() => fromA().length === 100 && u3(a).getUnackedCount() === 0, 5000, 'the first 100');
  // The outsider guesses nothing: any conn id other than A's will do, with the next seqnos.
  const forged = otherConnId();
  for (let s = 1; s <= 5; s++) forgeData(b, a.getAddress()!, forged, s, `forged-${s}`);
  sendNumbers(a, b, 100, 400);
  await waitUntil(() => fromA().length >= 400 && u3(a).getUnackedCount() === 0, 10_000, 'the next 300', () => `got ${fromA().length}`);
  await waitUntil(() => u3(b).stats.connIdRejected === 1, 5000, 'the forged connection refused');
  expect(fromA()).toEqual(range(0, 400));
  expect(u3(b).stats.connChecksSent).toBeGreaterThanOrEqual(1);
  expect(u3(a).stats.connChecksReceived).toBeGreaterThanOrEqual(1);
  expect(u3(b).stats.connectionsReplaced).toBe(0);
});

test('a flood of forged conn ids holds at most one unconfirmed connection; A\'s unicasts go on', async () => {
  members = await startCluster(2, u3Stack);
  const [a, b] = members.map((m) => m.channel) as [Channel, Channel];
  const fromA = () => receivedFrom(members[1]!, a.getAddress()!);
  sendNumbers(a, b, 0, 10);
  await waitUntil(() => fromA().length === 10, 5000, 'the first 10');
  for (let i = 0; i < 1000; i++) forgeData(b, a.getAddress()!, 100_000 + i, 1 + (i % 600), 'forged');
  const checks = u3(b).stats.connChecksSent;
  sendNumbers(a, b, 10, 200);
  await waitUntil(() => fromA().length >= 200 && u3(a).getUnackedCount() === 0, 10_000, 'the next 190', () => `got ${fromA().length}`);
  expect(fromA()).toEqual(range(0, 200));
  // One CONN_CHECK for the first, the others wait their turn (dropped): no answer storm.
  expect(checks).toBeLessThanOrEqual(2);
});

test('a real new connection of A (same address) is confirmed and replaces the window; a restarted A (new address) gets through at once', async () => {
  members = await startCluster(3, u3Stack);
  const [a, b] = members.map((m) => m.channel) as [Channel, Channel];
  const fromA = () => receivedFrom(members[1]!, a.getAddress()!);
  sendNumbers(a, b, 0, 100);
  await waitUntil(() => fromA().length === 100 && u3(a).getUnackedCount() === 0, 5000, 'the first 100');
  expect(u3(a).removeSendConnection(b.getAddress()!)).toBe(true);
  sendNumbers(a, b, 100, 1100); // more than B holds while it asks
  await waitUntil(() => fromA().length >= 1100 && u3(a).getUnackedCount() === 0, 10_000, 'the new connection', () => `got ${fromA().length}`);
  expect(fromA()).toEqual(range(0, 1100));
  expect(u3(b).stats.connectionsReplaced).toBe(1);
  expect(u3(b).stats.connIdRejected).toBe(0);

  const oldA = a.getAddress()!;
  await a.disconnect();
  await a.connect(b.getClusterName()!);
  expect(a.getAddress()).not.toBe(oldA);
  await waitForSameView(members.map((m) => m.channel), 5000);
  sendNumbers(a, b, 0, 100);
  await waitUntil(() => receivedFrom(members[1]!, a.getAddress()!).length >= 100, 5000, 'the restarted A');
  expect(receivedFrom(members[1]!, a.getAddress()!)).toEqual(range(0, 100));
});

test('unicasts from 1000 made-up senders keep at most 256 windows of strangers; one far ahead is only noted; members and joiners go on', async () => {
  members = await startCluster(2, u3Stack);
  const [a, b] = members.map((m) => m.channel) as [Channel, Channel];
  for (let i = 0; i < 1000; i++) forgeData(b, Address.random(), 777, 1 + (i % 3), 'stranger');
  forgeData(b, Address.random(), 778, 200_000, 'far');
  expect(u3(b).getReceiveWindows().length).toBeLessThanOrEqual(256 + 1);
  expect(u3(b).stats.strangerWindowsEvicted).toBeGreaterThanOrEqual(1000 - 256);
  expect(u3(b).stats.strangerTooFar).toBe(1);
  expect(members[1]!.rec.objects()).not.toContain('far');
  sendNumbers(a, b, 0, 100);
  await waitUntil(() => receivedFrom(members[1]!, a.getAddress()!).length >= 100, 5000, 'A\'s unicasts');
  expect(receivedFrom(members[1]!, a.getAddress()!)).toEqual(range(0, 100));
  // A joiner's window is a stranger's until the view has it; then it is kept.
  const c = new Ch(u3Stack()).setName('C');
  members.push({ channel: c, rec: new Recorder(c) });
  await c.connect(a.getClusterName()!);
  await waitForSameView(members.map((m) => m.channel), 5000);
  for (let i = 0; i < 300; i++) forgeData(b, Address.random(), 779, 1, 'stranger');
  sendNumbers(c, b, 0, 50);
  await waitUntil(() => receivedFrom(members[1]!, c.getAddress()!).length >= 50, 5000, 'C\'s unicasts');
  expect(receivedFrom(members[1]!, c.getAddress()!)).toEqual(range(0, 50));
});
