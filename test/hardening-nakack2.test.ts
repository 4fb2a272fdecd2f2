// NAKACK2 without encryption (issue 12, hardening of the default stacks): a multicast from a
// sender outside the view is not delivered, and a forged seqno far beyond a member's window is
// dropped without a trace: it neither holds memory nor opens a gap that would be asked for
// forever. (A forged message with a member's next seqno cannot be told from the real one without
// SYM_ENCRYPT; see docs/security.md.)
import { Address, type Channel, type Digest, Event, EventType, Message, NAKACK2, type NakAckHeader } from 'tsgroups';
import { closeAll, loopbackStack, type Member, startCluster, waitUntil } from './helpers/cluster.js';

let members: Member[] = [];
afterEach(async () => {
  await closeAll(members.map((m) => m.channel));
  members = [];
});

const MSG = 1;
const HIGHEST_SEQNO = 4;

function nak(ch: Channel): NAKACK2 {
  return ch.getProtocolStack().findProtocol(NAKACK2)!;
}

/** Hands `to`'s NAKACK2 a multicast as if `from` had sent it with `seqno`. */
function forge(to: Channel, from: Address, type: number, seqno: number, payload: unknown = null): void {
  const msg = new Message(null, payload).putHeader(NAKACK2.id, { type, seqno, missing: null, sender: null } satisfies NakAckHeader);
  msg.src = from;
  nak(to).up(msg);
}

function digestOf(ch: Channel): Digest {
  return nak(ch).downEvent(new Event(EventType.GET_DIGEST, undefined)) as Digest;
}

function texts(m: Member, sender: Address): unknown[] {
  return m.rec.messages.filter((x) => x.src === sender).map((x) => x.getObject());
}

test('multicasts from outside the view, and seqnos far beyond a member\'s window, are dropped; the real ones all arrive', async () => {
  members = await startCluster(3, () => loopbackStack(() => [new NAKACK2().setValues({ xmit_interval: 50 })]));
  const [a, b] = members.map((m) => m.channel) as [Channel, Channel];
  for (let i = 0; i < 10; i++) await a.send(null, i);
  await waitUntil(() => texts(members[1]!, a.getAddress()!).length === 10, 5000, 'the first 10');
  const hd = digestOf(b).get(a.getAddress()!)!.highestDelivered;

  forge(b, Address.random(), MSG, 1, 'outsider');
  forge(b, a.getAddress()!, MSG, hd + 2 ** 30, 'far ahead');
  forge(b, a.getAddress()!, HIGHEST_SEQNO, hd + 2 ** 40);
  // Nothing noted: no gap opened above the real messages.
  expect(digestOf(b).get(a.getAddress()!)!.highestReceived).toBe(hd);
  expect(nak(b).stats.droppedNonMember).toBeGreaterThanOrEqual(1);
  expect(nak(b).stats.droppedTooFar).toBe(2);

  for (let i = 10; i < 200; i++) await a.send(null, i);
  await waitUntil(() => texts(members[1]!, a.getAddress()!).length >= 200, 5000, 'the next 190');
  expect(texts(members[1]!, a.getAddress()!)).toEqual(Array.from({ length: 200 }, (_, i) => i));
  const r = digestOf(b).get(a.getAddress()!)!;
  expect(r.highestReceived).toBe(r.highestDelivered);
  for (const m of members) expect(m.rec.objects()).not.toContain('outsider');
});
