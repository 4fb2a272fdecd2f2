import { createHash, randomBytes } from 'node:crypto';
import { type Channel, Flag, Message, RSVP, type TsgroupsError } from 'tsgroups';
import { closeAll, discardOf, type Member, startCluster, waitForSameView, waitUntil } from './helpers/cluster.js';
import { fragRsvpStack } from './helpers/frag-rsvp-stack.js';

let members: Member[] = [];
afterEach(async () => {
  await closeAll(members.map((m) => m.channel));
  members = [];
});

const rsvp = (ch: Channel): RSVP => ch.getProtocolStack().findProtocol(RSVP)!;
const chans = (): Channel[] => members.map((m) => m.channel);
const rsvpMsg = (dest: Channel | null, value: unknown): Message =>
  new Message(dest === null ? null : dest.getAddress(), value).setFlag(Flag.RSVP);
/** How many times `m` delivered the value `v` (binary payloads skipped). */
const countOf = (m: Member, v: unknown): number =>
  m.rec.messages.filter((x) => {
    try {
      return x.getObject() === v;
    } catch {
      return false;
    }
  }).length;

/** Waits until every message `from` sent to `to` before now has arrived (the loopback network is FIFO per receiver). */
async function drain(from: Channel, to: Member, tag: string): Promise<void> {
  await from.send(to.channel.getAddress(), tag);
  await waitUntil(() => countOf(to, tag) === 1, 5000, `${tag} at ${to.channel.getName()}`);
}

describe('RSVP', () => {
  test('an RSVP multicast resolves only once every other member has delivered it', async () => {
    members = await startCluster(4, () => fragRsvpStack());
    const [a] = chans() as [Channel];
    for (let i = 0; i < 20; i++) {
      await a.send(rsvpMsg(null, `m${i}`));
      for (const m of members.slice(1)) expect(countOf(m, `m${i}`)).toBe(1);
    }
    expect(rsvp(a).stats.completed).toBe(20);
    expect(rsvp(a).numPending()).toBe(0);
    // Messages without the flag are not tracked.
    await a.send(null, 'plain');
    expect(rsvp(a).stats.sent).toBe(20);
  });

  test('a large RSVP multicast (fragmented below) resolves once it was reassembled everywhere', async () => {
    members = await startCluster(3, () => fragRsvpStack());
    const [a] = chans() as [Channel];
    const data = new Uint8Array(randomBytes(300_000));
    await a.send(new Message(null, data).setFlag(Flag.RSVP));
    const digest = createHash('sha256').update(data).digest('hex');
    for (const m of members.slice(1)) {
      expect(m.rec.messages).toHaveLength(1);
      expect(createHash('sha256').update(m.rec.messages[0]!.getPayload()).digest('hex')).toBe(digest);
    }
  });

  test('an RSVP unicast resolves once its destination delivered it', async () => {
    members = await startCluster(3, () => fragRsvpStack());
    const [a, , c] = chans() as [Channel, Channel, Channel];
    await a.send(rsvpMsg(c, 'to-c'));
    expect(countOf(members[2]!, 'to-c')).toBe(1);
    expect(members[2]!.rec.messages.find((x) => x.getObject() === 'to-c')!.dest).toBe(c.getAddress());
    expect(countOf(members[1]!, 'to-c')).toBe(0);
    // To oneself, or alone in the view: nothing to wait for.
    await a.send(rsvpMsg(a, 'to-self'));
    expect(rsvp(a).numPending()).toBe(0);
  });

  test('a member alone resolves at once', async () => {
    members = await startCluster(1, () => fragRsvpStack());
    await members[0]!.channel.send(rsvpMsg(null, 'alone'));
    expect(rsvp(members[0]!.channel).stats.sent).toBe(1);
    expect(rsvp(members[0]!.channel).numPending()).toBe(0);
  });

  test('with a deaf member the send rejects with ERR_TIMEOUT after the timeout', async () => {
    members = await startCluster(3, () => fragRsvpStack({ resend_interval: 200 }));
    const [, b, c] = chans() as [Channel, Channel, Channel];
    discardOf(c).setDiscardAll(true);
    const start = performance.now();
    const err = (await b.send(rsvpMsg(null, 'unheard')).then(
      () => null,
      (e: unknown) => e,
    )) as TsgroupsError | null;
    const elapsed = performance.now() - start;
    expect(err).not.toBeNull();
    expect(err!.code).toBe('ERR_TIMEOUT');
    expect(err!.message).toContain(c.getAddress()!.toString());
    expect(elapsed).toBeGreaterThanOrEqual(990); // timeout 1000 (timer granularity aside)
    expect(countOf(members[0]!, 'unheard')).toBe(1); // A got it once despite the resends
    expect(countOf(members[2]!, 'unheard')).toBe(0);
    expect(rsvp(b).stats.resent).toBeGreaterThan(0);
    expect(rsvp(b).numPending()).toBe(0);
  });

  test('a member that leaves while an RSVP waits for it releases the RSVP', async () => {
    members = await startCluster(3, () => fragRsvpStack({ timeout: 10_000, resend_interval: 100 }));
    const [a, b, c] = chans() as [Channel, Channel, Channel];
    // C hears everyone but B (the sender): it can still leave through the coordinator A.
    const cAddr = c.getAddress()!;
    discardOf(c).addIgnoreMember(b.getAddress()!);
    let settled: string | null = null;
    const p = b.send(rsvpMsg(null, 'waits-for-c')).then(
      () => (settled = 'resolved'),
      (e: TsgroupsError) => (settled = e.code),
    );
    await waitUntil(() => countOf(members[0]!, 'waits-for-c') === 1, 5000);
    expect(rsvp(b).numPending()).toBe(1);
    expect(settled).toBeNull();
    await c.close();
    await p;
    expect(settled).toBe('resolved');
    expect(b.getView()!.containsMember(cAddr)).toBe(false);
    await waitForSameView([a, b], 5000);
    expect(countOf(members[2]!, 'waits-for-c')).toBe(0);
  });

  test('the first REQ lost at a receiver: the resend delivers it, exactly once, as a multicast', async () => {
    members = await startCluster(3, () => fragRsvpStack({ timeout: 5000, resend_interval: 100 }));
    const [a, , c] = chans() as [Channel, Channel, Channel];
    const d = discardOf(c);
    d.setUpDiscardRate(1);
    const before = d.stats.droppedUp;
    const p = a.send(rsvpMsg(null, 'second-try'));
    await waitUntil(() => d.stats.droppedUp > before, 5000, 'the first REQ dropped at C');
    expect(countOf(members[2]!, 'second-try')).toBe(0);
    d.setUpDiscardRate(0);
    await p;
    expect(rsvp(a).stats.resent).toBeGreaterThan(0);
    await drain(a, members[2]!, 'drain');
    expect(countOf(members[2]!, 'second-try')).toBe(1);
    expect(countOf(members[1]!, 'second-try')).toBe(1);
    // The resend was a unicast to C; C delivers it with the original (multicast) destination.
    expect(members[2]!.rec.messages.find((x) => x.getObject() === 'second-try')!.dest).toBeNull();
  });

  test('a lost ACK: the receiver gets the resend, acknowledges it, and does not deliver it twice', async () => {
    members = await startCluster(3, () => fragRsvpStack({ timeout: 5000, resend_interval: 100 }));
    const [a, , c] = chans() as [Channel, Channel, Channel];
    const d = discardOf(c);
    d.addDropTo(a.getAddress()!); // C's unicasts to A (the ACKs) are lost
    const p = a.send(rsvpMsg(null, 'ack-lost'));
    await waitUntil(() => rsvp(c).stats.duplicatesDropped > 0, 5000, 'a resent REQ at C');
    d.heal();
    await p;
    await drain(a, members[2]!, 'drain');
    expect(countOf(members[2]!, 'ack-lost')).toBe(1);
    expect(rsvp(c).stats.acksSent).toBeGreaterThanOrEqual(2);
  });

  test('stopping the channel rejects a waiting RSVP with ERR_ABORTED', async () => {
    members = await startCluster(3, () => fragRsvpStack({ timeout: 10_000 }));
    const [, b, c] = chans() as [Channel, Channel, Channel];
    discardOf(c).addIgnoreMember(b.getAddress()!);
    const p = b.send(rsvpMsg(null, 'never-acked')).then(
      () => 'resolved',
      (e: TsgroupsError) => e.code,
    );
    await waitUntil(() => countOf(members[0]!, 'never-acked') === 1, 5000);
    await b.close();
    expect(await p).toBe('ERR_ABORTED');
  });
});
