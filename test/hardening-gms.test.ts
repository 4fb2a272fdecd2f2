// GMS without encryption (issue 12, hardening of the default stacks): forged VIEW, LEAVE_REQ and
// JOIN_REQ messages, injected into members' stacks right below GMS as if they had come over the
// network, are dropped and counted; a flood of JOIN_REQs adds at most max_joins_per_interval.
import { Address, type Channel, GMS, Message, MergeView, ProtocolId, View, ViewId, viewToData } from 'tsgroups';
import { GmsType, type GmsHeaderData } from '../protocols/src/gms/messages.js';
import { mayInstallViewFrom, type ViewSenderContext } from '../protocols/src/gms/view-guard.js';
import { closeAll, discardOf, loopbackStack, type Member, Recorder, startCluster, waitForSameView, waitUntil } from './helpers/cluster.js';
import { DISCARD, FD_ALL3, MERGE3, VERIFY_SUSPECT2 } from 'tsgroups';
import { Channel as Ch } from 'tsgroups';

let members: Member[] = [];
let extra: Channel[] = [];
afterEach(async () => {
  await closeAll([...members.map((m) => m.channel), ...extra]);
  members = [];
  extra = [];
});

function gms(ch: Channel): GMS {
  return ch.getProtocolStack().findProtocol(GMS)!;
}

/** Hands `ch`'s GMS a message from `src`, as the protocol below it would. */
function inject(ch: Channel, src: Address, h: GmsHeaderData): void {
  const msg = new Message(ch.getAddress()).putHeader(ProtocolId.GMS, h);
  msg.src = src;
  gms(ch).up(msg);
}

function viewIds(): string[] {
  return members.map((m) => String(m.channel.getView()!.viewId));
}

/** Joins one more member D and waits until everyone has the view with it: every change before it is done. */
async function joinOneMore(cluster: string): Promise<Channel> {
  const d = new Ch(loopbackStack()).setName('D');
  extra.push(d);
  new Recorder(d);
  await d.connect(cluster);
  await waitForSameView([...members.map((m) => m.channel), d], 10_000);
  return d;
}

test('a forged VIEW from a member that is not the coordinator, or from an outsider, is installed by nobody', async () => {
  members = await startCluster(3);
  const [a, b, c] = members.map((m) => m.channel) as [Channel, Channel, Channel];
  const before = viewIds();
  const id = a.getView()!.viewId.id + 5;
  const outsider = Address.random();
  // C claims a view in which it leads; the outsider one in which it is a member (and the coordinator).
  const fromC = View.create(c.getAddress()!, id, [c.getAddress()!, a.getAddress()!, b.getAddress()!]);
  const fromOutsider = View.create(outsider, id + 1, [outsider, a.getAddress()!, b.getAddress()!, c.getAddress()!]);
  for (const ch of [a, b]) inject(ch, c.getAddress()!, { type: GmsType.VIEW, view: viewToData(fromC) });
  for (const ch of [a, b, c]) {
    inject(ch, outsider, { type: GmsType.VIEW, view: viewToData(fromOutsider) });
    inject(ch, outsider, { type: GmsType.JOIN_RSP, view: viewToData(fromOutsider) });
  }
  // A forged MergeView: the coordinator answered no MERGE_REQ of the outsider.
  const merged = new MergeView(new ViewId(outsider, id + 2), [outsider, a.getAddress()!, b.getAddress()!, c.getAddress()!], [a.getView()!, View.create(outsider, 1, [outsider])]);
  inject(a, outsider, { type: GmsType.VIEW, view: viewToData(merged) });
  expect(viewIds()).toEqual(before);
  expect(gms(a).stats.forgedViews).toBe(4);
  expect(gms(b).stats.forgedViews).toBe(3);
  expect(gms(c).stats.forgedViews).toBe(2);
  // The group still changes views as it should.
  await joinOneMore(a.getClusterName()!);
  for (const m of members) expect(m.channel.getView()!.members).not.toContain(outsider);
});

test('a LEAVE_REQ naming another member (sent by a member or an outsider) removes nobody', async () => {
  members = await startCluster(3);
  const [a, b, c] = members.map((m) => m.channel) as [Channel, Channel, Channel];
  inject(a, c.getAddress()!, { type: GmsType.LEAVE_REQ, member: b.getAddress()!.bytes });
  inject(a, Address.random(), { type: GmsType.LEAVE_REQ, member: b.getAddress()!.bytes });
  inject(a, c.getAddress()!, { type: GmsType.LEAVE_REQ }); // names nobody
  const d = await joinOneMore(a.getClusterName()!);
  expect(a.getView()!.members).toEqual([a, b, c, d].map((x) => x.getAddress()));
  expect(gms(a).stats.forgedLeaves).toBe(3);
});

test('a JOIN_REQ whose joiner is not its sender is dropped', async () => {
  members = await startCluster(2);
  const [a, b] = members.map((m) => m.channel) as [Channel, Channel];
  const sender = Address.random();
  const named = Address.random();
  inject(a, sender, { type: GmsType.JOIN_REQ, member: named.bytes, name: 'phantom' });
  inject(a, sender, { type: GmsType.JOIN_REQ, name: 'phantom' });
  const d = await joinOneMore(a.getClusterName()!);
  expect(a.getView()!.members).toEqual([a, b, d].map((x) => x.getAddress()));
  expect(gms(a).stats.forgedJoins).toBe(2);
});

test('a flood of 1000 JOIN_REQs from made-up addresses adds at most max_joins_per_interval members; the group stays usable', async () => {
  members = await startCluster(3);
  const [a, b, c] = members.map((m) => m.channel) as [Channel, Channel, Channel];
  gms(a).setValues({ max_joins_per_interval: 10 });
  const before = a.getView()!;
  for (let i = 0; i < 1000; i++) {
    const p = Address.random();
    inject(a, p, { type: GmsType.JOIN_REQ, member: p.bytes, name: `p${i}` });
  }
  await waitUntil(() => a.getView()!.size() > before.size(), 5000, 'the admitted phantoms');
  const phantoms = a.getView()!.members.filter((m) => !before.containsMember(m));
  expect(phantoms.length).toBeLessThanOrEqual(10);
  // (B and C, admitted in this interval too, may have taken places.)
  expect(gms(a).stats.joinsLimited).toBeGreaterThanOrEqual(990);
  // Usable: the real members agree, a message goes around and a real joiner gets in.
  await waitUntil(() => b.getView()!.viewId.equals(a.getView()!.viewId) && c.getView()!.viewId.equals(a.getView()!.viewId), 5000, 'B and C on the new view');
  await a.send(null, 'still here');
  await waitUntil(() => members.every((m) => m.rec.objects().includes('still here')), 5000, 'the multicast');
  const d = new Ch(loopbackStack()).setName('D');
  extra.push(d);
  await d.connect(a.getClusterName()!);
  await waitUntil(() => a.getView()!.containsMember(d.getAddress()!) && d.getView()?.viewId.equals(a.getView()!.viewId) === true, 10_000, 'D joined');
  expect(a.getView()!.size()).toBeLessThanOrEqual(before.size() + 10 + 1);
});

describe('mayInstallViewFrom', () => {
  const [a, b, c, d, x] = Array.from({ length: 5 }, () => Address.random()) as [Address, Address, Address, Address, Address];
  const current = View.create(a, 4, [a, b, c, d]);
  const ctx = (self: Address, cur: View | null, asked: Address[] = [], answered: Address[] = [], suspected: Address[] | null = null): ViewSenderContext => ({
    self,
    current: cur,
    askedToJoin: (m) => asked.includes(m),
    answeredMergeLeader: (m) => answered.includes(m),
    suspected: suspected === null ? null : new Set(suspected),
  });

  test('a joiner takes a view only from a coordinator it asked', () => {
    const v = View.create(a, 5, [a, b, c, d, x]);
    expect(mayInstallViewFrom(ctx(x, null, [a]), v, a)).toBe(true);
    expect(mayInstallViewFrom(ctx(x, null, [a]), v, b)).toBe(false);
  });

  test('a member takes views from its coordinator, or from the next in line once those ahead are gone', () => {
    expect(mayInstallViewFrom(ctx(c, current), View.create(a, 5, [a, b, c]), a)).toBe(true);
    expect(mayInstallViewFrom(ctx(c, current), View.create(b, 5, [b, c, d]), b)).toBe(true);
    // C takes over from A and B (both crashed): D takes its view.
    expect(mayInstallViewFrom(ctx(d, current), View.create(c, 5, [c, d]), c)).toBe(true);
    // C is not next in line while B stays.
    expect(mayInstallViewFrom(ctx(d, current), View.create(c, 5, [c, b, d]), c)).toBe(false);
    expect(mayInstallViewFrom(ctx(d, current), View.create(x, 5, [x, d]), x)).toBe(false);
    // With failure detection, the members ahead must be suspected here too.
    expect(mayInstallViewFrom(ctx(d, current, [], [], []), View.create(c, 5, [c, d]), c)).toBe(false);
    expect(mayInstallViewFrom(ctx(d, current, [], [], [a]), View.create(c, 5, [c, d]), c)).toBe(false);
    expect(mayInstallViewFrom(ctx(d, current, [], [], [a, b]), View.create(c, 5, [c, d]), c)).toBe(true);
    // Its own coordinator needs no suspicion.
    expect(mayInstallViewFrom(ctx(d, current, [], [], []), View.create(a, 5, [a, d]), a)).toBe(true);
  });

  test('a MergeView: its leader, answered by the coordinator; for the other members a subgroup with them', () => {
    const other = View.create(x, 3, [x]);
    const mv = new MergeView(new ViewId(x, 5), [x, a, b, c, d], [other, current]);
    expect(mayInstallViewFrom(ctx(a, current), mv, x)).toBe(false);
    expect(mayInstallViewFrom(ctx(a, current, [], [x]), mv, x)).toBe(true);
    expect(mayInstallViewFrom(ctx(b, current), mv, x)).toBe(true);
    // Sent by another than its creator, or naming no subgroup with us.
    expect(mayInstallViewFrom(ctx(b, current), mv, c)).toBe(false);
    const elsewhere = new MergeView(new ViewId(x, 5), [x, b], [other, View.create(c, 2, [c])]);
    expect(mayInstallViewFrom(ctx(b, current), elsewhere, x)).toBe(false);
  });
});

test('a VIEW spoofing the coordinator is taken (nothing tells it apart), but its acknowledgements reach the coordinator, whose next view puts everyone back', async () => {
  members = await startCluster(3);
  const [a, b, c] = members.map((m) => m.channel) as [Channel, Channel, Channel];
  const phantom = Address.random();
  const forgedId = a.getView()!.viewId.id + 1;
  // C dropped, a phantom added, "from" A; B takes it (A is its coordinator), C is not in it.
  const forged = View.create(a.getAddress()!, forgedId, [a.getAddress()!, b.getAddress()!, phantom]);
  for (const ch of [b, c]) inject(ch, a.getAddress()!, { type: GmsType.VIEW, view: viewToData(forged) });
  expect(b.getView()!.containsMember(phantom)).toBe(true);
  await waitUntil(
    () => members.every((m) => m.channel.getView()!.viewId.id > forgedId && m.channel.getView()!.viewId.equals(a.getView()!.viewId)),
    5000,
    'a view above the forged one everywhere',
    () => members.map((m) => `${m.channel.getName()}: ${m.channel.getView()}`).join('; '),
  );
  for (const m of members) expect(m.channel.getView()!.members).toEqual([a, b, c].map((x) => x.getAddress()));
  expect(gms(a).stats.foreignViewAcks).toBeGreaterThanOrEqual(1);
});

test('with failure detection, a takeover VIEW from the member after a live coordinator is refused; a real takeover still happens', async () => {
  const fdStack = () =>
    loopbackStack(() => [new DISCARD(), new FD_ALL3().setValues({ interval: 100, timeout: 500 }), new VERIFY_SUSPECT2().setValues({ timeout: 200 })]);
  members = await startCluster(3, fdStack);
  const [a, b, c] = members.map((m) => m.channel) as [Channel, Channel, Channel];
  const before = c.getView()!;
  // B "takes over" from A, which is alive and suspected by nobody.
  const takeover = View.create(b.getAddress()!, before.viewId.id + 1, [b.getAddress()!, c.getAddress()!, Address.random()]);
  inject(c, b.getAddress()!, { type: GmsType.VIEW, view: viewToData(takeover) });
  expect(c.getView()!.viewId.equals(before.viewId)).toBe(true);
  expect(gms(c).stats.forgedViews).toBe(1);
  // A really goes silent: B takes over, and C takes B's view once it suspects A too.
  discardOf(a).setDiscardAll(true);
  await waitUntil(
    () => [b, c].every((ch) => ch.getView()!.getCoord() === b.getAddress() && ch.getView()!.size() === 2) && b.getView()!.viewId.equals(c.getView()!.viewId),
    10_000,
    'B coordinating B and C',
    () => [b, c].map((ch) => `${ch.getName()}: ${ch.getView()}`).join('; '),
  );
});

test('a member left out by a LEAVE_REQ sent in its name goes on alone and merges back (no split for good)', async () => {
  const mergeStack = () => {
    const stack = loopbackStack(() => [
      new DISCARD(),
      new MERGE3().setValues({ min_interval: 200, max_interval: 500 }),
      new FD_ALL3().setValues({ interval: 100, timeout: 1000 }),
      new VERIFY_SUSPECT2().setValues({ timeout: 200 }),
    ]);
    stack.findProtocol(GMS)!.setValues({ merge_timeout: 1000 });
    return stack;
  };
  members = await startCluster(3, mergeStack);
  const [a, b] = members.map((m) => m.channel) as [Channel, Channel];
  const before = a.getView()!;
  // Nothing tells this one apart from B's own request: A removes B.
  inject(a, b.getAddress()!, { type: GmsType.LEAVE_REQ, member: b.getAddress()!.bytes });
  await waitUntil(() => !a.getView()!.containsMember(b.getAddress()!), 5000, 'B removed by A');
  await waitUntil(
    () => {
      const v = a.getView()!;
      return v.size() === 3 && members.every((m) => m.channel.getView()!.viewId.equals(v.viewId));
    },
    15_000,
    'B merged back',
    () => members.map((m) => `${m.channel.getName()}: ${m.channel.getView()}`).join('; '),
  );
  expect(gms(b).stats.excluded).toBe(1);
  expect(a.getView()!.viewId.id).toBeGreaterThan(before.viewId.id);
});
