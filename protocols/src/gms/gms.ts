import {
  Address,
  type Digest,
  Event,
  EventType,
  Flag,
  MergeView,
  Message,
  type MessageBatch,
  NameCache,
  Protocol,
  type PropertyDecls,
  type ScheduledTask,
  TsgroupsError,
  View,
  ViewId,
} from '@tsgroups/core';
import type { FindMembersRequest, PingData } from '../discovery/ping-data.js';
import { tsgroups } from '../generated/headers.js';
import { ProtocolId } from '../ids.js';
import { digestFromData, digestToData } from '../reliable/digest-codec.js';
import { viewFromData, viewToData } from './view-codec.js';

const GmsHeader = tsgroups.protocols.GmsHeader;
const T = GmsHeader.Type;
type Header = tsgroups.protocols.GmsHeader.$Properties;
type ViewData = tsgroups.protocols.ViewData.$Properties;

/** A membership change waiting for the coordinator. */
interface Request {
  kind: 'join' | 'leave' | 'suspect';
  member: Address;
}

interface Pending<T> {
  resolve(v: T): void;
  reject(e: unknown): void;
}

/**
 * Group membership: joins and leaves, and view installation. The coordinator (the first,
 * oldest member) serialises membership changes; changes that arrive together go into one
 * view. A view is multicast to all members and the coordinator waits for their
 * acknowledgements (up to `viewAckCollectionTimeout`) before it installs the next one, so
 * every member sees the same sequence of views.
 */
export class GMS extends Protocol {
  static override readonly protocolName = 'GMS';
  static override readonly id = ProtocolId.GMS;
  static override readonly headerCodec = GmsHeader;
  static override readonly provides: readonly string[] = ['gms'];
  static override readonly requiresBelow: readonly string[] = ['transport', 'discovery'];
  static override readonly properties: PropertyDecls = {
    joinTimeout: { type: 'duration', min: 1, description: 'How long a joiner waits for the coordinator to answer one JOIN_REQ' },
    maxJoinAttempts: { type: 'int', min: 1, description: 'Join attempts before the joiner founds a group of its own' },
    joinRetryDelay: { type: 'duration', description: 'Pause before discovering again when no coordinator was found' },
    discoveryTimeout: { type: 'duration', min: 1, description: 'How long one discovery round waits' },
    leaveTimeout: { type: 'duration', description: 'How long a leaver waits for the coordinator to confirm' },
    viewAckCollectionTimeout: { type: 'duration', description: 'How long the coordinator waits for view acknowledgements' },
    mergeTimeout: { type: 'duration', min: 1, description: 'How long a merge leader waits for the other coordinators\' views' },
  };

  joinTimeout = 2000;
  maxJoinAttempts = 10;
  joinRetryDelay = 100;
  discoveryTimeout = 500;
  leaveTimeout = 2000;
  viewAckCollectionTimeout = 2000;
  mergeTimeout = 5000;

  private view: View | null = null;
  /** Members of the current view suspected of having crashed (cleared by the next view). */
  private readonly suspected = new Set<Address>();
  private leaving = false;
  private joinWaiter: Pending<void> | null = null;
  private leaveWaiter: Pending<void> | null = null;
  private active = false;

  // Coordinator state.
  private queue: Request[] = [];
  private processing = false;
  private processScheduled = false;
  private ackWaiter: { viewId: number; missing: Set<Address>; done: () => void; timer: ScheduledTask } | null = null;

  // Merge state: the leader collects views; a coordinator asked for its view holds back its
  // own view changes until the merge view arrives (or mergeTimeout passes).
  private mergeQueue: View[][] = [];
  private mergeInProgress = false;
  private mergeSeq = Math.floor(Math.random() * 1_000_000);
  private mergeCollector: { id: number; waiting: Set<Address>; views: View[]; done: () => void } | null = null;
  private mergeLockedUntil = 0;
  /** The last view this coordinator installed, and who has not acknowledged it yet. */
  private unacked: { viewId: number; missing: Set<Address>; view: ViewData } | null = null;
  private resendTask: ScheduledTask | null = null;

  readonly stats = {
    viewsInstalled: 0,
    joinAttempts: 0,
    viewAcksMissing: 0,
    viewsResent: 0,
    leaveRequestsResent: 0,
    mergesLed: 0,
    mergeViewsInstalled: 0,
  };

  getView(): View | null {
    return this.view;
  }

  isCoord(): boolean {
    return this.view !== null && this.view.getCoord() === this.localAddress;
  }

  override start(): void {
    this.active = true;
    const every = Math.max(1, Math.min(500, Math.floor(this.viewAckCollectionTimeout / 4)));
    this.resendTask = this.timer.scheduleWithFixedDelay(every, every, () => this.resendViews());
  }

  override stop(): void {
    this.active = false;
    this.resendTask?.cancel();
    this.resendTask = null;
    this.reset(new TsgroupsError('ERR_ABORTED', 'the channel stopped'));
  }

  override getStats(): Record<string, number> {
    return { ...this.stats };
  }

  override downEvent(evt: Event): unknown {
    switch (evt.type) {
      case EventType.CONNECT:
        return this.join();
      case EventType.DISCONNECT:
        return this.leave().finally(() => this.downProt.downEvent(evt));
    }
    return this.downProt.downEvent(evt);
  }

  override upEvent(evt: Event): unknown {
    if (evt.type === EventType.SUSPECT) {
      for (const m of evt.arg as Address[]) this.onSuspect(m);
    } else if (evt.type === EventType.MERGE) {
      void this.startMerge(evt.arg as Address[]);
      return undefined;
    }
    return this.upProt.upEvent(evt);
  }


  // ---- joining ----
  private async join(): Promise<void> {
    const self = this.localAddress!;
    for (let attempt = 1; attempt <= this.maxJoinAttempts && this.active; attempt++) {
      this.stats.joinAttempts++;
      const req: FindMembersRequest = { timeout: this.discoveryTimeout, breakOnCoord: true };
      const found = ((await this.downProt.downEvent(new Event(EventType.FIND_MBRS, req))) as PingData[] | undefined) ?? [];
      if (!this.active) break;
      const coord = pickCoordinator(found);
      if (coord === undefined) {
        // Nobody leads yet: of the members still looking, the one with the lowest address founds the group.
        const candidates = [self, ...found.filter((p) => p.viewId === undefined).map((p) => p.address)];
        candidates.sort((a, b) => a.compareTo(b));
        if (candidates[0] === self) {
          this.becomeSingleton();
          return;
        }
        await this.pause(this.joinRetryDelay);
        continue;
      }
      if (await this.askToJoin(coord)) return;
    }
    if (!this.active) throw new TsgroupsError('ERR_ABORTED', 'connect: the channel stopped while joining');
    // As JGroups does: after the last attempt, found a group of our own (a merge heals it later).
    this.log.warn(`${self}: no answer from a coordinator after ${this.maxJoinAttempts} attempts; founding a group alone`);
    this.becomeSingleton();
  }

  /** Sends JOIN_REQ to `coord`; true once a view with this member is installed. */
  private askToJoin(coord: Address): Promise<boolean> {
    return new Promise<boolean>((resolve) => {
      const timer = this.timer.schedule(this.joinTimeout, () => {
        this.joinWaiter = null;
        resolve(false);
      });
      this.joinWaiter = {
        resolve: () => {
          timer.cancel();
          this.joinWaiter = null;
          resolve(true);
        },
        reject: () => {
          timer.cancel();
          this.joinWaiter = null;
          resolve(false);
        },
      };
      this.send(coord, { type: T.JOIN_REQ, member: this.localAddress!.bytes, name: NameCache.get(this.localAddress!) ?? '' });
    });
  }

  private becomeSingleton(): void {
    const self = this.localAddress!;
    this.install(View.create(self, 1, [self]));
  }

  // ---- leaving ----
  private async leave(): Promise<void> {
    const view = this.view;
    const self = this.localAddress;
    if (view === null || self === null || !this.active) return this.reset(null);
    this.leaving = true;
    if (view.size() > 1) {
      const done = new Promise<void>((resolve) => {
        // The request (or its answer) may be lost: ask again until answered or out of time.
        const every = Math.max(1, Math.min(500, Math.floor(this.leaveTimeout / 4)));
        const again = this.timer.scheduleWithFixedDelay(every, every, () => {
          this.stats.leaveRequestsResent++;
          this.requestLeave();
        });
        const timer = this.timer.schedule(this.leaveTimeout, () => {
          again.cancel();
          this.log.debug(`${self}: no LEAVE_RSP within ${this.leaveTimeout} ms; leaving anyway`);
          resolve();
        });
        const finish = () => {
          again.cancel();
          timer.cancel();
          resolve();
        };
        this.leaveWaiter = { resolve: finish, reject: finish };
      });
      this.requestLeave();
      await done;
    }
    this.reset(null);
  }

  private reset(err: unknown): void {
    this.view = null;
    this.unacked = null;
    this.suspected.clear();
    this.leaving = false;
    this.queue = [];
    this.processing = false;
    if (this.ackWaiter) {
      this.ackWaiter.timer.cancel();
      this.ackWaiter = null;
    }
    const jw = this.joinWaiter;
    const lw = this.leaveWaiter;
    this.joinWaiter = null;
    this.leaveWaiter = null;
    if (err) jw?.reject(err);
    lw?.resolve();
  }

  // ---- failure (SUSPECT comes from failure detection) ----
  private onSuspect(member: Address): void {
    // A suspected member will not acknowledge the view being installed: stop waiting for it.
    // (The waiter's set is the same as `unacked.missing`: one delete serves both.)
    const w = this.ackWaiter;
    if (w !== null && w.missing.delete(member) && w.missing.size === 0) w.done();
    this.unacked?.missing.delete(member);
    const view = this.view;
    if (view === null || !view.containsMember(member) || member === this.localAddress) return;
    this.suspected.add(member);
    if (this.isCoord()) {
      this.enqueue({ kind: 'suspect', member });
      return;
    }
    // If every member ahead of us is suspected (the coordinator, and maybe the next ones too),
    // we take over and remove them all.
    const survivors = view.members.filter((m) => !this.suspected.has(m));
    if (survivors[0] === this.localAddress) {
      this.log.info(`${this.localAddress}: coordinator ${view.getCoord()} suspected; taking over`);
      for (const m of this.suspected) this.enqueue({ kind: 'suspect', member: m });
    }
  }

  // ---- message handling ----
  protected override handleOwnMessage(msg: Message, header: unknown): void {
    const h = header as Header;
    try {
      switch (h.type) {
        case T.JOIN_REQ:
          if (h.name) NameCache.add(msg.src!, h.name); // so the views we send name the joiner
          if (this.isCoord() && !this.leaving) this.enqueue({ kind: 'join', member: msg.src! });
          break;
        case T.LEAVE_REQ:
          if (this.isCoord()) this.enqueue({ kind: 'leave', member: msg.src! });
          break;
        case T.VIEW:
        case T.JOIN_RSP:
          if (h.view) this.onView(viewFromData(h.view), msg.src!, h.type === T.JOIN_RSP && h.digest ? digestFromData(h.digest) : null);
          break;
        case T.VIEW_ACK:
          this.onViewAck(msg.src!, Number(h.viewId ?? 0));
          break;
        case T.LEAVE_RSP:
          this.leaveWaiter?.resolve();
          break;
        case T.MERGE_REQ:
          this.onMergeRequest(msg.src!, h.mergeId ?? 0);
          break;
        case T.MERGE_RSP:
          this.onMergeResponse(msg.src!, h.mergeId ?? 0, h.view ? viewFromData(h.view) : null);
          break;
      }
    } catch (err) {
      this.log.warn(`dropped a malformed GMS message from ${msg.src}`, err);
    }
  }

  /** A view from VIEW or JOIN_RSP (with the coordinator's digest, when the stack has NAKACK2). */
  private onView(view: View, from: Address, digest: Digest | null): void {
    const self = this.localAddress;
    if (self === null) return;
    const current = this.view;
    if (view.containsMember(self)) {
      if (current === null || view.viewId.compareTo(current.viewId) > 0) {
        // The joiner learns where each sender's multicasts start before it is a member.
        if (digest !== null && current === null) this.downProt.downEvent(new Event(EventType.SET_DIGEST, digest));
        this.install(view);
      }
      this.joinWaiter?.resolve();
    }
    // Acknowledge VIEW and JOIN_RSP alike: a joiner may never see the multicast VIEW.
    this.send(from, { type: T.VIEW_ACK, viewId: view.viewId.id });
  }

  private install(view: View): void {
    this.view = view;
    if (view instanceof MergeView) {
      // Members that came back with the merge are no longer suspected; our view changes may go on.
      this.suspected.clear();
      this.mergeLockedUntil = 0;
      this.stats.mergeViewsInstalled++;
    }
    for (const m of this.suspected) if (!view.containsMember(m)) this.suspected.delete(m);
    this.stats.viewsInstalled++;
    if (this.log.isEnabled('debug')) this.log.debug(`${this.localAddress}: installed view ${view}`);
    const evt = new Event(EventType.VIEW_CHANGE, view);
    this.downProt.downEvent(evt);
    this.upProt.upEvent(evt);
    // A leaver whose coordinator changed meanwhile asks the new one (or, if it is now the
    // coordinator itself, removes itself).
    if (this.leaving && this.leaveWaiter !== null) this.requestLeave();
  }

  private requestLeave(): void {
    const self = this.localAddress!;
    if (this.isCoord()) this.enqueue({ kind: 'leave', member: self });
    else this.send(this.view!.getCoord()!, { type: T.LEAVE_REQ, member: self.bytes });
  }

  /** Sends the current view again to the members that have not acknowledged it. */
  private resendViews(): void {
    const u = this.unacked;
    if (u === null || u.missing.size === 0 || !this.active || !this.isCoord()) return;
    for (const m of u.missing) this.send(m, { type: T.VIEW, view: u.view });
    this.stats.viewsResent += u.missing.size;
  }

  private onViewAck(from: Address, viewId: number): void {
    if (this.unacked?.viewId === viewId) this.unacked.missing.delete(from);
    const w = this.ackWaiter;
    if (w === null || w.viewId !== viewId) return;
    w.missing.delete(from);
    if (w.missing.size === 0) w.done();
  }

  // ---- coordinator: one view change at a time ----
  private enqueue(req: Request): void {
    this.queue.push(req);
    if (!this.processScheduled) {
      this.processScheduled = true;
      // Requests that arrive in the same turn end up in one view.
      setImmediate(() => {
        this.processScheduled = false;
        void this.processQueue();
      });
    }
  }

  private async processQueue(): Promise<void> {
    if (this.processing || !this.active) return;
    const wait = this.mergeLockedUntil - Date.now();
    if (wait > 0 && this.mergeQueue.length === 0) {
      // Another coordinator is merging us: our changes wait for its merge view.
      this.timer.schedule(wait, () => void this.processQueue());
      return;
    }
    this.processing = true;
    try {
      while ((this.queue.length > 0 || this.mergeQueue.length > 0) && this.active) {
        const views = this.mergeQueue.shift();
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

  // ---- merging (MERGE comes from MERGE3 on the merge leader) ----
  private async startMerge(coords: Address[]): Promise<void> {
    const self = this.localAddress;
    if (self === null || !this.isCoord() || this.leaving || this.mergeInProgress) return;
    const others = coords.filter((c) => c !== self);
    if (others.length === 0) return;
    this.mergeInProgress = true;
    try {
      const views = await this.collectMergeViews(others);
      if (views.length === 0 || !this.isCoord()) return;
      this.stats.mergesLed++;
      this.mergeQueue.push(views);
      if (!this.processScheduled) {
        this.processScheduled = true;
        setImmediate(() => {
          this.processScheduled = false;
          void this.processQueue();
        });
      }
    } finally {
      this.mergeInProgress = false;
    }
  }

  private collectMergeViews(coords: Address[]): Promise<View[]> {
    const id = ++this.mergeSeq >>> 0;
    return new Promise<View[]>((resolve) => {
      const views: View[] = [];
      const timer = this.timer.schedule(this.mergeTimeout, () => done());
      const done = () => {
        timer.cancel();
        if (this.mergeCollector?.id === id) this.mergeCollector = null;
        resolve(views);
      };
      this.mergeCollector = { id, waiting: new Set(coords), views, done };
      for (const c of coords) this.send(c, { type: T.MERGE_REQ, mergeId: id });
    });
  }

  private onMergeRequest(leader: Address, mergeId: number): void {
    const view = this.view;
    if (view === null || !this.isCoord() || this.leaving) {
      this.send(leader, { type: T.MERGE_RSP, mergeId });
      return;
    }
    this.mergeLockedUntil = Date.now() + this.mergeTimeout;
    this.send(leader, { type: T.MERGE_RSP, mergeId, view: viewToData(view) });
  }

  private onMergeResponse(from: Address, mergeId: number, view: View | null): void {
    const c = this.mergeCollector;
    if (c === null || c.id !== mergeId || !c.waiting.delete(from)) return;
    if (view !== null && view.getCoord() === from) c.views.push(view);
    if (c.waiting.size === 0) c.done();
  }

  /** Installs one MergeView over our view and the other subgroups' views; we lead it. */
  private async applyMerge(otherViews: View[]): Promise<void> {
    const view = this.view;
    const self = this.localAddress;
    if (view === null || self === null || view.getCoord() !== self) return;
    const others = otherViews.filter((v) => !v.viewId.equals(view.viewId)).sort((a, b) => a.getCoord()!.compareTo(b.getCoord()!));
    if (others.length === 0) return;
    const subgroups = [view, ...others];
    const members: Address[] = [];
    const seen = new Set<Address>();
    for (const v of subgroups) {
      for (const m of v.members) {
        if (!seen.has(m) && !this.suspected.has(m)) {
          seen.add(m);
          members.push(m);
        }
      }
    }
    const id = Math.max(...subgroups.map((v) => v.viewId.id)) + 1;
    const merged = new MergeView(new ViewId(self, id), members, subgroups);
    this.log.info(`${self}: installing ${merged}`);
    const data = viewToData(merged);
    const acked = this.collectAcks(id, new Set(members.filter((m) => m !== self)), data);
    this.send(null, { type: T.VIEW, view: data });
    this.install(merged);
    await acked;
  }

  private async applyChanges(reqs: Request[]): Promise<void> {
    const view = this.view;
    const self = this.localAddress;
    if (view === null || self === null) return;
    const leavers = new Set(reqs.filter((r) => r.kind !== 'join').map((r) => r.member));
    const joiners = reqs.filter((r) => r.kind === 'join').map((r) => r.member);
    // Take over only if we are coordinator, or the coordinator is among those leaving and we are next.
    const remaining = view.members.filter((m) => !leavers.has(m));
    if (remaining[0] !== self && !(leavers.has(self) && view.getCoord() === self)) return;
    const newMembers = remaining.slice();
    const alreadyIn: Address[] = [];
    for (const j of joiners) {
      if (newMembers.includes(j)) alreadyIn.push(j);
      else if (!leavers.has(j)) newMembers.push(j);
    }
    // A JOIN_REQ resent after its view went out: answer with the current view.
    for (const j of alreadyIn) if (view.containsMember(j)) this.send(j, { type: T.JOIN_RSP, view: viewToData(view), digest: this.digestData() });
    const leftMembers = view.members.filter((m) => !newMembers.includes(m));
    if (leftMembers.length === 0 && newMembers.length === view.members.length) {
      // Nothing changes (e.g. a repeated LEAVE_REQ of a member already gone): just confirm.
      for (const r of reqs) if (r.kind === 'leave' && r.member !== self) this.send(r.member, { type: T.LEAVE_RSP });
      return;
    }

    const next = View.create(self, view.viewId.id + 1, newMembers);
    const data = viewToData(next);
    const ackers = new Set(newMembers.filter((m) => m !== self));
    const acked = this.collectAcks(next.viewId.id, ackers, data);
    // Members that are leaving get the view too, so they know they are out.
    this.send(null, { type: T.VIEW, view: data });
    // The digest is taken after the view went out: joiners start right after it (they get the
    // view in JOIN_RSP, and the multicast VIEW cannot reach them before they have the digest).
    const digest = joiners.length > 0 ? this.digestData() : undefined;
    if (!leavers.has(self)) this.install(next);
    for (const j of joiners) if (next.containsMember(j)) this.send(j, { type: T.JOIN_RSP, view: data, digest });
    await acked;
    for (const r of reqs) {
      if (r.kind !== 'leave') continue;
      if (r.member === self) this.leaveWaiter?.resolve();
      else this.send(r.member, { type: T.LEAVE_RSP });
    }
  }

  /**
   * Waits until every member in `missing` acknowledged view `viewId`, or the ack timeout.
   * Datagrams get lost: the view is sent again, by unicast, to those that have not answered.
   */
  private collectAcks(viewId: number, missing: Set<Address>, view: ViewData): Promise<void> {
    // Until they acknowledge (or a newer view replaces this one), the members in `missing` get
    // the view again now and then, also after we stopped waiting for them (see resendViews).
    this.unacked = { viewId, missing, view };
    if (missing.size === 0) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const done = () => {
        if (this.ackWaiter?.viewId === viewId) {
          this.ackWaiter.timer.cancel();
          this.ackWaiter = null;
        }
        resolve();
      };
      const timer = this.timer.schedule(this.viewAckCollectionTimeout, () => {
        this.stats.viewAcksMissing += this.ackWaiter?.missing.size ?? 0;
        this.log.warn(`view ${viewId}: no acknowledgement from ${[...missing].join(', ')}`);
        done();
      });
      this.ackWaiter = { viewId, missing, done, timer };
    });
  }

  /** The reliable-multicast digest (undefined on a stack without NAKACK2). */
  private digestData(): ReturnType<typeof digestToData> | undefined {
    const d = this.downProt.downEvent(new Event(EventType.GET_DIGEST)) as Digest | undefined;
    return d === undefined ? undefined : digestToData(d);
  }

  private send(dest: Address | null, h: Header): void {
    const msg = new Message(dest).setFlag(Flag.OOB).putHeader(ProtocolId.GMS, h);
    this.downProt.down(msg);
  }

  private pause(ms: number): Promise<void> {
    return new Promise<void>((resolve) => this.timer.schedule(ms, resolve));
  }
}

/** The coordinator most responders agree on (ties: the lowest address). */
function pickCoordinator(found: PingData[]): Address | undefined {
  const votes = new Map<Address, number>();
  for (const p of found) if (p.isCoord) votes.set(p.address, (votes.get(p.address) ?? 0) + 1);
  let best: Address | undefined;
  let bestVotes = 0;
  for (const [a, n] of votes) {
    if (n > bestVotes || (n === bestVotes && best !== undefined && a.compareTo(best) < 0)) {
      best = a;
      bestVotes = n;
    }
  }
  return best;
}
