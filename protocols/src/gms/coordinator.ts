import { type Address, Collector, type EndOfTurnTask, type ScheduledTask, View } from '@tsgroups/core';
import { digestFromData, digestToData } from '../reliable/digest-codec.js';
import { type DigestData, GmsType, type ViewData } from './messages.js';
import { buildMergeDigest, buildMergeView, type Merger, type SubgroupState } from './merger.js';
import { GmsRole, type GmsHost } from './role.js';
import { viewToData } from './view-codec.js';

/** A membership change waiting for the coordinator. */
export interface MembershipRequest {
  kind: 'join' | 'leave' | 'suspect';
  member: Address;
}

/** What a batch of requests does to a view (see {@link planViewChange}). */
export interface ViewPlan {
  /** The members of the next view (oldest first); null if the requests change nothing. */
  members: Address[] | null;
  /** Members that asked to join and are in the next view: they get it in a JOIN_RSP. */
  joined: Address[];
  /** Members that asked to join but are in the current view already (their JOIN_RSP got lost): they get it again. */
  rejoined: Address[];
  /** Members that asked to leave: confirmed (LEAVE_RSP) once the next view is acknowledged. */
  leaving: Address[];
}

/**
 * Folds the requests queued in one turn into one view change: the members of `view` minus
 * those leaving or suspected, then the joiners in the order they asked. Null if `self` may not
 * install it: only the coordinator may, or the member that comes first once the leaving and
 * suspected members are gone (a takeover), or a coordinator removing itself.
 */
export function planViewChange(view: View, reqs: readonly MembershipRequest[], self: Address): ViewPlan | null {
  const gone = new Set<Address>();
  const leaving = new Set<Address>();
  for (const r of reqs) {
    if (r.kind === 'join') continue;
    gone.add(r.member);
    if (r.kind === 'leave') leaving.add(r.member);
  }
  const members = view.members.filter((m) => !gone.has(m));
  if (members[0] !== self && !(gone.has(self) && view.getCoord() === self)) return null;
  const rejoined = new Set<Address>();
  const joining = new Set<Address>();
  for (const r of reqs) {
    if (r.kind !== 'join') continue;
    joining.add(r.member);
    if (view.containsMember(r.member)) rejoined.add(r.member);
    else if (!gone.has(r.member) && !members.includes(r.member)) members.push(r.member);
  }
  const changed = members.length !== view.members.length || members.some((m) => !view.containsMember(m));
  return {
    members: changed ? members : null,
    joined: [...joining].filter((m) => members.includes(m)),
    rejoined: [...rejoined].filter((m) => !gone.has(m)),
    leaving: [...leaving],
  };
}

/**
 * The coordinator (JGroups' CoordGmsImpl): it serialises membership changes. Joins, leaves and
 * suspicions that arrive in the same turn of the event loop go into one view; a view is
 * multicast, installed here, and the next change waits until every member acknowledged it or
 * `viewAckCollectionTimeout` passed. Members that have not acknowledged get the view again, by
 * unicast, every quarter of that timeout (at most every 500 ms), also after the wait ended,
 * until they do or a newer view replaces it. Merges found by the {@link Merger} queue here too,
 * and wait for no other change.
 */
export class Coordinator extends GmsRole {
  readonly kind = 'coordinator';
  private queue: MembershipRequest[] = [];
  private readonly merges: SubgroupState[][] = [];
  private processing = false;
  private stopped = false;
  /** A view id someone acknowledged that we never made: the next view goes above it (see {@link reassert}). */
  private reassertAbove = 0;
  private readonly processTask: EndOfTurnTask;
  /** Waits out another leader's merge lock before our own changes go on. */
  private lockWait: ScheduledTask | null = null;
  private readonly resendTask: ScheduledTask;
  /** The acknowledgements of the view being installed. */
  private acks: { viewId: number; collector: Collector<void> } | null = null;
  /** The last view installed here, and who has not acknowledged it yet (they get it again). */
  private unacked: { viewId: number; missing: Set<Address>; data: ViewData; digest?: DigestData } | null = null;

  constructor(
    host: GmsHost,
    private readonly merger: Merger,
  ) {
    super(host);
    this.processTask = host.timer.endOfTurnTask(this.runQueue);
    const every = Math.max(1, Math.min(500, Math.floor(host.settings.viewAckCollectionTimeout / 4)));
    this.resendTask = host.timer.scheduleWithFixedDelay(every, every, () => this.resendView());
  }

  override handleJoinRequest(member: Address): void {
    if (this.host.isCoord() && !this.host.isLeaving()) this.enqueue({ kind: 'join', member });
  }

  override handleLeaveRequest(member: Address): void {
    if (this.host.isCoord()) this.enqueue({ kind: 'leave', member });
  }

  override handleSuspect(member: Address): void {
    // A suspected member will not acknowledge the view being installed: stop waiting for it.
    this.unacked?.missing.delete(member);
    this.acks?.collector.memberLeft(member);
    if (this.host.suspected.has(member)) this.enqueue({ kind: 'suspect', member });
  }

  override handleViewAck(from: Address, viewId: number): void {
    if (this.unacked?.viewId === viewId) this.unacked.missing.delete(from);
    if (this.acks?.viewId === viewId) this.acks.collector.add(from, undefined);
  }

  override requestLeave(): void {
    this.enqueue({ kind: 'leave', member: this.host.self });
  }

  /** A participant taking over: removes the suspected members ahead of it in one view. */
  takeOver(suspected: readonly Address[]): void {
    for (const member of suspected) this.enqueue({ kind: 'suspect', member });
  }

  /**
   * A member acknowledged view `viewId` as ours, a view we never made (forged in our name, or
   * corrupted on the way): we install our own members again in a view above it, so that members
   * that took it come back (and a phantom in it goes).
   */
  reassert(viewId: number): void {
    if (viewId <= this.reassertAbove) return;
    this.reassertAbove = viewId;
    this.processTask.request();
  }

  /** Queues a membership change; the changes of one turn become one view. */
  enqueue(req: MembershipRequest): void {
    this.queue.push(req);
    this.processTask.request();
  }

  /** Queues the merge of our subgroup with the subgroups whose views and digests are `views`. */
  enqueueMerge(views: SubgroupState[]): void {
    this.merges.push(views);
    this.processTask.request();
  }

  override stop(): void {
    this.stopped = true;
    this.processTask.cancel();
    this.lockWait?.cancel();
    this.lockWait = null;
    this.resendTask.cancel();
    this.acks?.collector.complete();
    this.acks = null;
    this.unacked = null;
    this.queue = [];
    this.merges.length = 0;
  }

  private readonly runQueue = (): void => {
    this.processQueue().catch((err: unknown) => this.host.log.error(`${this.host.self}: a view change failed`, err));
  };

  private async processQueue(): Promise<void> {
    if (this.processing || this.stopped || !this.host.isActive()) return;
    const wait = this.merger.lockRemaining();
    if (wait > 0 && this.merges.length === 0) {
      // Another coordinator is merging us: our changes wait for its merge view.
      this.lockWait?.cancel();
      this.lockWait = this.host.timer.schedule(wait, () => this.processTask.request());
      return;
    }
    this.processing = true;
    try {
      while ((this.queue.length > 0 || this.merges.length > 0 || this.reassertAbove > 0) && !this.stopped && this.host.isActive()) {
        const views = this.merges.shift();
        if (views !== undefined) {
          await this.applyMerge(views);
          continue;
        }
        const reqs = this.queue;
        this.queue = [];
        await this.applyChanges(reqs);
      }
    } finally {
      this.processing = false;
    }
  }

  private async applyChanges(reqs: MembershipRequest[]): Promise<void> {
    const { host } = this;
    const view = host.view();
    const self = host.self;
    if (view === null) return;
    const plan = planViewChange(view, reqs, self);
    if (plan === null) return;
    // A JOIN_REQ resent after its view went out: answer with the current view.
    if (plan.rejoined.length > 0) {
      const data = viewToData(view);
      const digest = host.digest();
      for (const j of plan.rejoined) host.send(j, { type: GmsType.JOIN_RSP, view: data, digest });
    }
    const above = this.reassertAbove;
    this.reassertAbove = 0;
    if (plan.members === null && above === 0) {
      // Nothing changes (e.g. a repeated LEAVE_REQ of a member already gone): just confirm.
      for (const m of plan.leaving) if (m !== self) host.send(m, { type: GmsType.LEAVE_RSP });
      return;
    }
    const members = plan.members ?? [...view.members];
    const next = View.create(self, Math.max(view.viewId.id, above) + 1, members);
    const data = viewToData(next);
    const acked = this.collectAcks(next.viewId.id, members.filter((m) => m !== self), data);
    // Members that are leaving get the view too, so they know they are out.
    host.send(null, { type: GmsType.VIEW, view: data });
    // The digest is taken after the view went out: joiners start right after it (they get the
    // view in JOIN_RSP, and the multicast VIEW cannot reach them before they have the digest).
    const digest = plan.joined.length > 0 ? host.digest() : undefined;
    if (next.containsMember(self)) host.install(next);
    for (const j of plan.joined) host.send(j, { type: GmsType.JOIN_RSP, view: data, digest });
    await acked;
    if (!host.isActive()) return; // the channel stopped meanwhile
    for (const m of plan.leaving) {
      if (m === self) host.leaveConfirmed();
      else host.send(m, { type: GmsType.LEAVE_RSP });
    }
  }

  /**
   * Installs one MergeView over our view and the other subgroups' views; we lead it. It goes out
   * with the digest consolidated from the subgroups' digests (ours taken now), so that every
   * member starts the streams of the other subgroups' senders where they stand.
   */
  private async applyMerge(others: SubgroupState[]): Promise<void> {
    const { host } = this;
    const view = host.view();
    const self = host.self;
    if (view === null || view.getCoord() !== self) return;
    const merged = buildMergeView(
      self,
      view,
      others.map((s) => s.view),
      host.suspected,
    );
    if (merged === null) return;
    const ownDigest = host.digest();
    const states: SubgroupState[] = [{ view, digest: ownDigest === undefined ? null : digestFromData(ownDigest) }, ...others];
    const mergeDigest = buildMergeDigest(merged, states);
    host.log.info(`${self}: installing ${merged}`);
    const data = viewToData(merged);
    const digest = mergeDigest === null ? undefined : digestToData(mergeDigest);
    const acked = this.collectAcks(merged.viewId.id, merged.members.filter((m) => m !== self), data, digest);
    host.send(null, { type: GmsType.VIEW, view: data, digest });
    host.install(merged, mergeDigest ?? undefined);
    await acked;
  }

  /**
   * Waits until every member in `members` acknowledged view `viewId`, left, or the ack timeout
   * passed (the wait then goes on without them; they still get the view again now and then).
   */
  private async collectAcks(viewId: number, members: Address[], data: ViewData, digest?: DigestData): Promise<void> {
    const { host } = this;
    this.unacked = { viewId, missing: new Set(members), data, digest };
    const timeout = Math.max(1, host.settings.viewAckCollectionTimeout);
    const collector = new Collector<void>(members, { timer: host.timer, timeout, onTimeout: 'resolve', what: `view ${viewId} acks` });
    this.acks = { viewId, collector };
    await collector.done;
    if (this.acks?.collector === collector) this.acks = null;
    const missing = collector.missing();
    if (missing.length > 0 && !this.stopped) {
      host.stats.viewAcksMissing += missing.length;
      host.log.warn(`view ${viewId}: no acknowledgement from ${missing.join(', ')}`);
    }
  }

  /** Sends the last view again to the members that have not acknowledged it. */
  private resendView(): void {
    const u = this.unacked;
    if (u === null || u.missing.size === 0 || !this.host.isActive() || !this.host.isCoord()) return;
    for (const m of u.missing) this.host.send(m, { type: GmsType.VIEW, view: u.data, digest: u.digest });
    this.host.stats.viewsResent += u.missing.size;
  }
}
