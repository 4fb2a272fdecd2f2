import { Address, MergeView, ScopedLogger, TimeScheduler, View, ViewId } from 'tsgroups';
import type { PingData } from '../protocols/src/discovery/ping-data.js';
import { Coordinator, type MembershipRequest, planViewChange } from '../protocols/src/gms/coordinator.js';
import { BLOCKER_ROUNDS, Blockers, Joiner, nextJoinStep, pickCoordinator } from '../protocols/src/gms/joiner.js';
import { buildMergeView, Merger } from '../protocols/src/gms/merger.js';
import { GmsType, type GmsHeaderData } from '../protocols/src/gms/messages.js';
import { Participant } from '../protocols/src/gms/participant.js';
import type { GmsHost, GmsRole, GmsStats } from '../protocols/src/gms/role.js';
import { viewFromData } from '../protocols/src/gms/view-codec.js';
import { waitUntil } from './helpers/wait.js';

// GMS's roles driven alone: a fake host records what a role sends and installs, and the test
// drives the end of the turn (timer.runEndOfTurnTasks) and the answers of the other members.

/** `n` addresses in ascending order, so the oldest-first rules are easy to read. */
function addresses(n: number): Address[] {
  return Array.from({ length: n }, () => Address.random()).sort((a, b) => a.compareTo(b));
}

interface Sent {
  dest: Address | null;
  h: GmsHeaderData;
}

class FakeHost implements GmsHost {
  readonly timer = new TimeScheduler();
  readonly log = new ScopedLogger('GMS-test');
  readonly settings = {
    joinTimeout: 10_000,
    maxJoinAttempts: 3,
    joinRetryDelay: 1,
    discoveryTimeout: 10,
    leaveTimeout: 10_000,
    viewAckCollectionTimeout: 10_000,
    mergeTimeout: 10_000,
  };
  readonly stats: GmsStats = {
    viewsInstalled: 0,
    joinAttempts: 0,
    viewAcksMissing: 0,
    viewsResent: 0,
    leaveRequestsResent: 0,
    mergesLed: 0,
    mergeViewsInstalled: 0,
  };
  readonly suspected = new Set<Address>();
  readonly sent: Sent[] = [];
  readonly installed: View[] = [];
  readonly merger = new Merger(this);
  role: GmsRole | null = null;
  /** What each discovery round answers. */
  found: PingData[] = [];
  leavesConfirmed = 0;
  active = true;

  constructor(
    readonly self: Address,
    private current: View | null,
  ) {}

  view(): View | null {
    return this.current;
  }
  isCoord(): boolean {
    return this.current?.getCoord() === this.self;
  }
  isActive(): boolean {
    return this.active;
  }
  isLeaving(): boolean {
    return false;
  }
  send(dest: Address | null, h: GmsHeaderData): void {
    this.sent.push({ dest, h });
  }
  findMembers(): Promise<PingData[]> {
    return Promise.resolve(this.found);
  }
  digest(): undefined {
    return undefined;
  }
  install(view: View): void {
    this.current = view;
    this.installed.push(view);
    this.role?.viewInstalled(view);
  }
  leaveConfirmed(): void {
    this.leavesConfirmed++;
  }
  becomeCoordinator(): Coordinator {
    const c = new Coordinator(this, this.merger);
    this.role?.stop();
    this.role = c;
    return c;
  }
  coordinator(): Coordinator | null {
    return this.role instanceof Coordinator ? this.role : null;
  }

  /** The messages of type `type` sent so far. */
  ofType(type: number): Sent[] {
    return this.sent.filter((s) => s.h.type === type);
  }
  /** The members of every VIEW multicast so far. */
  viewsSent(): (readonly Address[])[] {
    return this.ofType(GmsType.VIEW).filter((s) => s.dest === null).map((s) => viewFromData(s.h.view!).members);
  }
  close(): void {
    this.role?.stop();
    this.merger.reset();
    this.timer.close();
  }
}

function ping(address: Address, isCoord: boolean, viewId?: ViewId): PingData {
  return { address, name: undefined, isCoord, viewId, physical: undefined };
}

const hosts: FakeHost[] = [];
function host(self: Address, view: View | null): FakeHost {
  const h = new FakeHost(self, view);
  hosts.push(h);
  return h;
}
afterEach(() => {
  for (const h of hosts.splice(0)) h.close();
});

/** Lets the promise continuations of a role run (its waits end in microtasks). */
async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await Promise.resolve();
}

describe('the coordinator folds the requests of one turn into one view', () => {
  const [a, b, c, d, e, f] = addresses(6) as [Address, Address, Address, Address, Address, Address];
  const view = View.create(a, 4, [a, b, c, d]);
  const req = (kind: MembershipRequest['kind'], member: Address): MembershipRequest => ({ kind, member });

  test('joins, leaves and suspicions together: one member list, joiners last in the order they asked', () => {
    const plan = planViewChange(view, [req('join', f), req('leave', c), req('suspect', d), req('join', e)], a)!;
    expect(plan.members).toEqual([a, b, f, e]);
    expect(plan.joined).toEqual([f, e]);
    expect(plan.leaving).toEqual([c]);
    expect(plan.rejoined).toEqual([]);
  });

  test('a JOIN_REQ repeated by a member already in the view changes nothing and gets the view again', () => {
    const plan = planViewChange(view, [req('join', c)], a)!;
    expect(plan.members).toBeNull();
    expect(plan.rejoined).toEqual([c]);
  });

  test('a repeated LEAVE_REQ of a member already gone changes nothing but is confirmed', () => {
    const plan = planViewChange(view, [req('leave', e)], a)!;
    expect(plan.members).toBeNull();
    expect(plan.leaving).toEqual([e]);
  });

  test('a joiner that is suspected in the same turn is not admitted', () => {
    const plan = planViewChange(view, [req('join', e), req('suspect', e), req('join', f)], a)!;
    expect(plan.members).toEqual([a, b, c, d, f]);
    expect(plan.joined).toEqual([f]);
  });

  test('only the coordinator, the next in line once those ahead are gone, or a leaving coordinator may install it', () => {
    expect(planViewChange(view, [req('join', e)], b)).toBeNull();
    expect(planViewChange(view, [req('suspect', a)], c)).toBeNull();
    expect(planViewChange(view, [req('suspect', a), req('suspect', b)], c)!.members).toEqual([c, d]);
    expect(planViewChange(view, [req('leave', a)], a)!.members).toEqual([b, c, d]);
  });

  test('requests of one turn go out as one VIEW; leavers are confirmed only after every remaining member acknowledged it', async () => {
    const h = host(a, view);
    const coord = h.becomeCoordinator();
    h.suspected.add(d);
    coord.handleJoinRequest(e);
    coord.handleLeaveRequest(b);
    coord.handleSuspect(d);
    coord.handleJoinRequest(f);
    expect(h.sent).toEqual([]); // nothing before the end of the turn
    h.timer.runEndOfTurnTasks();
    expect(h.viewsSent()).toEqual([[a, c, e, f]]);
    expect(h.installed.map((v) => v.members)).toEqual([[a, c, e, f]]);
    expect(h.installed[0]!.viewId.id).toBe(5);
    expect(h.ofType(GmsType.JOIN_RSP).map((s) => s.dest)).toEqual([e, f]);
    // B left and D is suspected: neither is waited for; C, E and F are.
    await settle();
    expect(h.ofType(GmsType.LEAVE_RSP)).toEqual([]);
    coord.handleViewAck(c, 5);
    coord.handleViewAck(e, 5);
    coord.handleViewAck(f, 4); // an ack of an older view does not count
    await settle();
    expect(h.ofType(GmsType.LEAVE_RSP)).toEqual([]);
    coord.handleViewAck(f, 5);
    await settle();
    expect(h.ofType(GmsType.LEAVE_RSP).map((s) => s.dest)).toEqual([b]);
    expect(h.stats.viewAcksMissing).toBe(0);
  });

  test('the next change waits for the acknowledgements of the view before it', async () => {
    const h = host(a, View.create(a, 1, [a, b]));
    const coord = h.becomeCoordinator();
    coord.handleJoinRequest(c);
    h.timer.runEndOfTurnTasks();
    coord.handleJoinRequest(d);
    h.timer.runEndOfTurnTasks();
    await settle();
    expect(h.viewsSent()).toEqual([[a, b, c]]);
    coord.handleViewAck(b, 2);
    await settle();
    expect(h.viewsSent()).toEqual([[a, b, c]]); // C has not acknowledged yet
    coord.handleSuspect(c); // suspected, though not yet removed: no longer waited for
    await settle();
    expect(h.viewsSent()).toEqual([[a, b, c], [a, b, c, d]]);
  });

  test('members that do not acknowledge get the view again, and the wait ends at the timeout', async () => {
    const h = host(a, View.create(a, 1, [a, b]));
    h.settings.viewAckCollectionTimeout = 40; // resends every 10 ms
    const coord = h.becomeCoordinator();
    coord.handleJoinRequest(c);
    h.timer.runEndOfTurnTasks();
    await waitUntil(() => h.stats.viewAcksMissing === 2, 5000, 'the ack wait to time out');
    expect(h.stats.viewsResent).toBeGreaterThan(0);
    expect(h.ofType(GmsType.VIEW).some((s) => s.dest === c)).toBe(true);
    coord.handleJoinRequest(d); // the queue goes on after the timeout
    h.timer.runEndOfTurnTasks();
    expect(h.viewsSent()).toEqual([
      [a, b, c],
      [a, b, c, d],
    ]);
  });

  test('a coordinator leaving installs nothing itself and is done once the others acknowledged the view without it', async () => {
    const h = host(a, View.create(a, 3, [a, b, c]));
    const coord = h.becomeCoordinator();
    coord.requestLeave();
    h.timer.runEndOfTurnTasks();
    expect(h.viewsSent()).toEqual([[b, c]]);
    expect(h.installed).toEqual([]);
    coord.handleViewAck(b, 4);
    coord.handleViewAck(c, 4);
    await settle();
    expect(h.leavesConfirmed).toBe(1);
  });
});

describe('the participant takes over when every member ahead of it is suspected', () => {
  const [a, b, c, d] = addresses(4) as [Address, Address, Address, Address];

  test('one suspected member ahead is not enough; when all are, it becomes coordinator and removes them in one view', () => {
    const h = host(c, View.create(a, 2, [a, b, c, d]));
    const p = new Participant(h);
    h.role = p;
    h.suspected.add(a);
    p.handleSuspect(a);
    expect(h.role).toBe(p);
    h.suspected.add(b);
    p.handleSuspect(b);
    expect(h.role).toBeInstanceOf(Coordinator);
    h.timer.runEndOfTurnTasks();
    expect(h.viewsSent()).toEqual([[c, d]]);
    expect(h.installed[0]!.viewId.creator).toBe(c);
  });

  test('its leave request goes to the coordinator of its view', () => {
    const h = host(c, View.create(a, 2, [a, b, c, d]));
    new Participant(h).requestLeave();
    expect(h.sent).toEqual([{ dest: a, h: { type: GmsType.LEAVE_REQ, member: c.bytes } }]);
  });
});

describe("the joiner's choice of coordinator", () => {
  const [a, b, c, d] = addresses(4) as [Address, Address, Address, Address];
  const vid = new ViewId(b, 3);

  test('the coordinator most responders name wins; a tie goes to the lowest address', () => {
    expect(pickCoordinator([ping(c, true, vid), ping(b, true, vid), ping(c, true, vid)])).toBe(c);
    expect(pickCoordinator([ping(c, true, vid), ping(b, true, vid)])).toBe(b);
    expect(pickCoordinator([ping(a, false, vid)])).toBeUndefined();
  });

  test('with no coordinator, the lowest address among those still looking founds the group', () => {
    expect(nextJoinStep(b, [ping(c, false), ping(d, false)])).toEqual({ action: 'found' });
    expect(nextJoinStep(c, [ping(b, false), ping(d, false)])).toEqual({ action: 'wait' });
    // A member of a group answered, its coordinator did not: a group exists, so look again.
    expect(nextJoinStep(b, [ping(a, false, vid)])).toEqual({ action: 'wait' });
    expect(nextJoinStep(a, [ping(d, false, vid)])).toEqual({ action: 'wait' });
    expect(nextJoinStep(d, [ping(a, false), ping(b, true, vid)])).toEqual({ action: 'join', coord: b });
  });

  test('a member seen lately in a group or looking with a lower address keeps it from founding until forgotten', () => {
    // b was looking in an earlier round; this round heard nothing from it (it may have founded the group).
    expect(nextJoinStep(c, [ping(d, false)], [b])).toEqual({ action: 'wait' });
    expect(nextJoinStep(c, [ping(d, false)], [])).toEqual({ action: 'found' });
    const blockers = new Blockers(c);
    blockers.update([ping(a, false), ping(d, false)]);
    expect(blockers.members()).toEqual([a]); // d has a higher address and no view
    blockers.update([ping(d, true, vid)]); // d is in a group now; a was not heard
    expect(blockers.members()).toEqual([a, d]);
    for (let i = 1; i < BLOCKER_ROUNDS; i++) blockers.update([ping(d, true, vid)]);
    expect(blockers.members()).toEqual([d]); // a is forgotten after BLOCKER_ROUNDS rounds without it
    for (let i = 0; i < BLOCKER_ROUNDS; i++) blockers.update([]);
    expect(blockers.members()).toEqual([]);
  });

  test('when a round misses the member that founded the group, it discovers again and joins that member', async () => {
    const h = host(c, null);
    // Round 1: b is looking too. Round 2: b's answer is lost. Round 3: b answers as coordinator.
    const rounds = [[ping(b, false)], [], [ping(b, true, vid)]];
    h.findMembers = () => Promise.resolve(rounds.shift() ?? []);
    const joiner = new Joiner(h);
    h.role = joiner;
    const joined = joiner.join();
    await waitUntil(() => h.sent.length > 0 || h.installed.length > 0, 5000, 'a JOIN_REQ or a view');
    expect(h.installed).toEqual([]);
    expect(h.sent.map((s) => [s.dest, s.h.type])).toEqual([[b, GmsType.JOIN_REQ]]);
    h.install(View.create(b, 4, [b, c]));
    await joined;
    expect(h.stats.joinAttempts).toBe(3);
  });

  test('it sends JOIN_REQ to the chosen coordinator and is done when a view with it is installed', async () => {
    const h = host(c, null);
    h.found = [ping(b, true, vid), ping(a, false, vid)];
    const joiner = new Joiner(h);
    h.role = joiner;
    const joined = joiner.join();
    await waitUntil(() => h.sent.length > 0, 5000, 'a JOIN_REQ');
    expect(h.sent.map((s) => [s.dest, s.h.type])).toEqual([[b, GmsType.JOIN_REQ]]);
    h.install(View.create(b, 4, [b, a, c]));
    await joined;
    expect(h.stats.joinAttempts).toBe(1);
  });

  test('with nobody there it founds a group of its own', async () => {
    const h = host(a, null);
    const joiner = new Joiner(h);
    h.role = joiner;
    await joiner.join();
    expect(h.installed.map((v) => [v.viewId.id, v.members])).toEqual([[1, [a]]]);
    expect(h.sent).toEqual([]);
  });

  test('stopping while it waits for an answer rejects the join with ERR_ABORTED', async () => {
    const h = host(c, null);
    h.found = [ping(b, true, vid)];
    const joiner = new Joiner(h);
    const joined = joiner.join();
    await waitUntil(() => h.sent.length > 0, 5000, 'a JOIN_REQ');
    h.active = false;
    joiner.stop();
    await expect(joined).rejects.toMatchObject({ code: 'ERR_ABORTED' });
    expect(h.installed).toEqual([]);
  });
});

describe('the merger', () => {
  const [a, b, c, d, e] = addresses(5) as [Address, Address, Address, Address, Address];

  test('the merge view: the leader’s members first, then each subgroup by coordinator, above every view id', () => {
    const own = View.create(a, 5, [a, b]);
    const merged = buildMergeView(a, own, [View.create(e, 2, [e]), View.create(c, 7, [c, d, b])], new Set([d]))!;
    expect(merged).toBeInstanceOf(MergeView);
    expect(merged.members).toEqual([a, b, c, e]);
    expect(merged.viewId.id).toBe(8);
    expect(merged.viewId.creator).toBe(a);
    expect(merged.subgroups.map((v) => v.getCoord())).toEqual([a, c, e]);
    expect(buildMergeView(a, own, [own], new Set())).toBeNull();
  });

  test('the leader asks the other coordinators and queues the merge of the views they sent', async () => {
    const h = host(a, View.create(a, 2, [a, b]));
    const coord = h.becomeCoordinator();
    const led = h.merger.lead([a, c, e]);
    const reqs = h.ofType(GmsType.MERGE_REQ);
    expect(reqs.map((s) => s.dest)).toEqual([c, e]);
    const id = reqs[0]!.h.mergeId!;
    h.merger.handleResponse(c, id, View.create(c, 6, [c, d]));
    h.merger.handleResponse(e, id, View.create(a, 9, [a, e])); // not E's own view: ignored
    await led;
    expect(h.stats.mergesLed).toBe(1);
    h.timer.runEndOfTurnTasks();
    expect(h.viewsSent()).toEqual([[a, b, c, d]]);
    expect(h.installed[0]).toBeInstanceOf(MergeView);
    expect(h.role).toBe(coord);
  });

  test('a coordinator asked for its view holds its own changes until the merge view arrives', async () => {
    const h = host(c, View.create(c, 3, [c, d]));
    const coord = h.becomeCoordinator();
    h.merger.handleRequest(a, 42);
    expect(h.ofType(GmsType.MERGE_RSP).map((s) => [s.dest, s.h.mergeId, viewFromData(s.h.view!).members])).toEqual([[a, 42, [c, d]]]);
    coord.handleJoinRequest(e);
    h.timer.runEndOfTurnTasks();
    expect(h.viewsSent()).toEqual([]);
    h.merger.mergeViewInstalled();
    expect(h.merger.lockRemaining()).toBe(0);
  });
});
