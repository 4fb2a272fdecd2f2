import {
  type Address,
  type AnyEvent,
  Collector,
  type Digest,
  Event,
  EventType,
  MergeView,
  type Message,
  NameCache,
  Protocol,
  type PropertyDecls,
  type ScheduledTask,
  View,
  RateLimitedLog,
} from '@tsgroups/core';
import type { PingData } from '../discovery/ping-data.js';
import { ProtocolId } from '../ids.js';
import { digestFromData, digestToData } from '../reliable/digest-codec.js';
import { Coordinator } from './coordinator.js';
import { JoinLimiter } from './join-limiter.js';
import { Joiner } from './joiner.js';
import { Merger } from './merger.js';
import { type DigestData, GmsHeader, type GmsHeaderData, GmsType, gmsMessage } from './messages.js';
import { Participant } from './participant.js';
import type { GmsHost, GmsRole, RoleKind } from './role.js';
import { viewFromData } from './view-codec.js';
import { mayInstallViewFrom } from './view-guard.js';

/**
 * Group membership: joins and leaves, and view installation. The coordinator (the first,
 * oldest member) serialises membership changes; changes that arrive together go into one
 * view. A view is multicast to all members and the coordinator waits for their
 * acknowledgements (up to `viewAckCollectionTimeout`) before it installs the next one, so
 * every member sees the same sequence of views.
 *
 * This class owns the view, the messages and the leave; what a member does with them depends on
 * its role, each in its own file: {@link Joiner} while it connects, then {@link Participant} or
 * {@link Coordinator} according to the view it installed (a participant takes over explicitly
 * when every member ahead of it is suspected), and the {@link Merger} for merges.
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
    maxJoinsPerInterval: { type: 'int', min: 1, description: 'Most new members the coordinator admits per join_limit_interval; other joiners ask again later' },
    joinLimitInterval: { type: 'duration', min: 1, description: 'The interval max_joins_per_interval counts over' },
  };

  joinTimeout = 2000;
  maxJoinAttempts = 10;
  joinRetryDelay = 100;
  discoveryTimeout = 500;
  leaveTimeout = 2000;
  viewAckCollectionTimeout = 2000;
  mergeTimeout = 5000;
  maxJoinsPerInterval = 20;
  joinLimitInterval = 1000;

  readonly stats = {
    viewsInstalled: 0,
    joinAttempts: 0,
    viewAcksMissing: 0,
    viewsResent: 0,
    leaveRequestsResent: 0,
    mergesLed: 0,
    mergeViewsInstalled: 0,
    /** Views (VIEW, JOIN_RSP) from a sender that may not install them here: dropped, not acknowledged. */
    forgedViews: 0,
    /** LEAVE_REQs naming another member than their sender. */
    forgedLeaves: 0,
    /** JOIN_REQs naming another joiner than their sender. */
    forgedJoins: 0,
    /** JOIN_REQs of new members beyond max_joins_per_interval: not answered (real joiners ask again). */
    joinsLimited: 0,
    /** VIEW_ACKs for a view above ours while we coordinate (a view forged in our name): answered by a view above it. */
    foreignViewAcks: 0,
    /** Views from our coordinator without us, though we did not leave: we went on alone, to merge back. */
    excluded: 0,
  };

  private view: View | null = null;
  /** Members of the current view suspected of having crashed (cleared by the next view). */
  private readonly suspected = new Set<Address>();
  private active = false;
  /** A protocol below provides failure detection: a takeover view needs our own suspicion too. */
  private failureDetection = false;
  private leaving = false;
  /** The wait for the coordinator to confirm our leave (LEAVE_RSP). */
  private leaveWait: Collector<void> | null = null;
  private leaveAnswered = false;
  /** What this member does with membership traffic; null when it is not a member nor joining. */
  private role: GmsRole | null = null;
  private readonly host: GmsHost = this.createHost();
  private readonly merger = new Merger(this.host);
  private readonly joinLimiter = new JoinLimiter(
    () => this.maxJoinsPerInterval,
    () => this.joinLimitInterval,
  );
  /** Forged or refused membership messages, logged at most once per 10 s per kind. */
  private readonly rejections = new RateLimitedLog(this.log);
  /** After a view that left us out: goes on alone unless a view with us comes first. */
  private excludedCheck: ScheduledTask | null = null;

  getView(): View | null {
    return this.view;
  }

  isCoord(): boolean {
    return this.view !== null && this.view.getCoord() === this.localAddress;
  }

  /** The member's role now: joiner while it connects, then participant or coordinator; null when not connected. */
  getRole(): RoleKind | null {
    return this.role?.kind ?? null;
  }

  override start(): void {
    this.active = true;
    this.failureDetection = this.stack.getProtocols().some((p) => (p.constructor as typeof Protocol).provides.includes('failure-detection'));
  }

  override stop(): void {
    this.active = false;
    this.reset();
  }

  override getStats(): Record<string, number> {
    return { ...this.stats };
  }

  override downEvent(evt: AnyEvent): unknown {
    switch (evt.type) {
      case EventType.CONNECT:
        return this.join();
      case EventType.DISCONNECT:
        return this.leave().finally(() => this.downProt.downEvent(evt));
    }
    return this.downProt.downEvent(evt);
  }

  override upEvent(evt: AnyEvent): unknown {
    switch (evt.type) {
      case EventType.SUSPECT:
        for (const m of evt.arg) this.onSuspect(m);
        break;
      case EventType.MERGE:
        void this.merger.lead(evt.arg);
        return undefined;
    }
    return this.upProt.upEvent(evt);
  }

  protected override handleOwnMessage(msg: Message, header: unknown): void {
    const h = header as GmsHeaderData;
    const src = msg.src;
    if (src === null) return;
    try {
      switch (h.type) {
        case GmsType.JOIN_REQ:
          if (!this.admitJoin(src, h)) break;
          if (h.name) NameCache.add(src, h.name); // so the views we send name the joiner
          this.role?.handleJoinRequest(src);
          break;
        case GmsType.LEAVE_REQ:
          // A member leaves only by its own request: one naming another member is forged.
          if (!isAddressOf(h.member, src)) {
            this.stats.forgedLeaves++;
            this.logRejected('leave', `dropped a LEAVE_REQ from ${src} naming another member`);
            break;
          }
          this.role?.handleLeaveRequest(src);
          break;
        case GmsType.VIEW:
        case GmsType.JOIN_RSP:
          if (h.view) this.onView(viewFromData(h.view), src, h.type, h.digest?.length ? digestFromData(h.digest) : null);
          else if (h.type === GmsType.JOIN_RSP && h.error) this.role?.handleJoinRefused(src, h.error);
          break;
        case GmsType.VIEW_ACK:
          this.onViewAck(src, Number(h.viewId ?? 0));
          break;
        case GmsType.LEAVE_RSP:
          this.leaveConfirmed();
          break;
        case GmsType.MERGE_REQ:
          this.merger.handleRequest(src, h.mergeId ?? 0);
          break;
        case GmsType.MERGE_RSP:
          this.merger.handleResponse(src, h.mergeId ?? 0, h.view ? viewFromData(h.view) : null, h.digest);
          break;
      }
    } catch (err) {
      this.log.warn(`dropped a malformed GMS message from ${src}`, err);
    }
  }

  // ---- roles ----
  private switchRole(role: GmsRole | null): void {
    const old = this.role;
    this.role = role;
    old?.stop();
    if (role !== null && this.log.isEnabled('debug')) this.log.debug(`${this.localAddress}: now ${role.kind}`);
  }

  private becomeCoordinator(): Coordinator {
    const c = new Coordinator(this.host, this.merger);
    this.switchRole(c);
    return c;
  }

  private join(): Promise<void> {
    const joiner = new Joiner(this.host);
    this.switchRole(joiner);
    return joiner.join();
  }

  // ---- leaving ----
  private async leave(): Promise<void> {
    const view = this.view;
    const role = this.role;
    if (view === null || role === null || this.localAddress === null || !this.active) {
      this.reset();
      return;
    }
    this.leaving = true;
    if (view.size() > 1) {
      const wait = new Collector<void>([view.getCoord()!], {
        timer: this.timer,
        timeout: Math.max(1, this.leaveTimeout),
        onTimeout: 'resolve',
        what: 'the leave',
      });
      this.leaveWait = wait;
      this.leaveAnswered = false;
      // The request (or its answer) may be lost: ask again until answered or out of time.
      const every = Math.max(1, Math.min(500, Math.floor(this.leaveTimeout / 4)));
      const again = this.timer.scheduleWithFixedDelay(every, every, () => {
        this.stats.leaveRequestsResent++;
        this.role?.requestLeave();
      });
      role.requestLeave();
      await wait.done;
      again.cancel();
      if (!this.leaveAnswered && this.active) this.log.debug(`${this.localAddress}: no LEAVE_RSP within ${this.leaveTimeout} ms; leaving anyway`);
    }
    this.reset();
  }

  private leaveConfirmed(): void {
    if (this.leaveWait === null) return;
    this.leaveAnswered = true;
    this.leaveWait.complete();
  }

  /** No view, no role, nothing waited for (after leaving, or when the channel stops). */
  private reset(): void {
    this.excludedCheck?.cancel();
    this.excludedCheck = null;
    this.view = null;
    this.suspected.clear();
    this.leaving = false;
    this.switchRole(null);
    this.merger.reset();
    const lw = this.leaveWait;
    this.leaveWait = null;
    lw?.complete();
  }

  // ---- failure (SUSPECT comes from failure detection) ----
  private onSuspect(member: Address): void {
    const view = this.view;
    if (view !== null && view.containsMember(member) && member !== this.localAddress) this.suspected.add(member);
    this.role?.handleSuspect(member);
  }

  // ---- views ----
  /**
   * A view from VIEW or JOIN_RSP. With NAKACK2 in the stack, a JOIN_RSP carries the coordinator's
   * digest, and the VIEW of a MergeView the merge digest.
   */
  private onView(view: View, from: Address, type: number, digest: Digest | null): void {
    const self = this.localAddress;
    if (self === null) return;
    const current = this.view;
    // A member that is neither joining nor in a group (it left) installs nothing.
    if (this.role !== null && view.containsMember(self) && (current === null || view.viewId.compareTo(current.viewId) > 0)) {
      if (!mayInstallViewFrom(this.viewSenderContext(self, current), view, from)) {
        // Not acknowledged either: the sender learns nothing, a real coordinator resends.
        this.stats.forgedViews++;
        this.logRejected('view', `dropped view ${view.viewId} from ${from}: not our coordinator, its successor, a merge leader we answered, or a coordinator we asked to join`);
        return;
      }
      // The joiner learns where each sender's multicasts start before it is a member.
      if (type === GmsType.JOIN_RSP && digest !== null && current === null) this.downProt.downEvent(new Event(EventType.SET_DIGEST, digest));
      this.install(view, type === GmsType.VIEW && view instanceof MergeView && digest !== null ? digest : undefined);
    } else if (
      current !== null &&
      this.role !== null &&
      !this.leaving &&
      !view.containsMember(self) &&
      view.viewId.compareTo(current.viewId) > 0 &&
      mayInstallViewFrom(this.viewSenderContext(self, current), view, from)
    ) {
      this.onExcluded(current, view, from);
    }
    // Acknowledge VIEW and JOIN_RSP alike: a joiner may never see the multicast VIEW.
    this.send(from, { type: GmsType.VIEW_ACK, viewId: view.viewId.id });
  }

  private install(view: View, mergeDigest?: Digest): void {
    this.view = view;
    // Members of the other subgroups learn where each sender's multicasts start before the view.
    if (mergeDigest !== undefined) this.downProt.downEvent(new Event(EventType.MERGE_DIGEST, mergeDigest));
    if (view instanceof MergeView) {
      // Members that came back with the merge are no longer suspected; our view changes may go on.
      this.suspected.clear();
      this.merger.mergeViewInstalled();
      this.stats.mergeViewsInstalled++;
    }
    for (const m of this.suspected) if (!view.containsMember(m)) this.suspected.delete(m);
    this.stats.viewsInstalled++;
    if (this.log.isEnabled('debug')) this.log.debug(`${this.localAddress}: installed view ${view}`);
    const evt = new Event(EventType.VIEW_CHANGE, view);
    this.downProt.downEvent(evt);
    this.upProt.upEvent(evt);
    this.role?.viewInstalled(view);
    // The view decides the role: its coordinator coordinates, the others participate.
    if (view.getCoord() === this.localAddress) {
      if (this.role?.kind !== 'coordinator') this.becomeCoordinator();
    } else if (this.role?.kind !== 'participant') {
      this.switchRole(new Participant(this.host));
    }
    // A leaver whose coordinator changed meanwhile asks the new one (or, if it is now the
    // coordinator itself, removes itself).
    if (this.leaveWait !== null) this.role?.requestLeave();
  }

  private send(dest: Address | null, h: GmsHeaderData): void {
    this.downProt.down(gmsMessage(dest, h));
  }

  /**
   * Our coordinator sent a view without us, though we did not ask to leave (we were suspected
   * wrongly, or someone asked in our name). Unless a view with us follows (a coordinator undoing
   * a view forged in its name), we go on alone after twice view_ack_collection_timeout, so that
   * MERGE3 merges us back, rather than staying in a view nobody else has.
   */
  private onExcluded(stale: View, view: View, from: Address): void {
    if (this.excludedCheck !== null) return;
    this.stats.excluded++;
    this.log.warn(`${this.localAddress}: ${from}'s view ${view.viewId} leaves us out; going on alone unless a view with us follows`);
    const delay = Math.max(1, 2 * this.viewAckCollectionTimeout);
    this.excludedCheck = this.timer.schedule(delay, () => {
      this.excludedCheck = null;
      const self = this.localAddress;
      if (this.view !== stale || self === null || !this.active || this.leaving || this.role === null) return;
      this.install(View.create(self, Math.max(stale.viewId.id, view.viewId.id) + 1, [self]));
    });
  }

  /**
   * A VIEW_ACK for a view above ours, while we coordinate, acknowledges a view we never made:
   * someone sent it in our name (or a corrupted one got through). Our members get a view above it.
   */
  private onViewAck(from: Address, viewId: number): void {
    const view = this.view;
    const coordinator = this.host.coordinator();
    if (
      view !== null &&
      coordinator !== null &&
      viewId > view.viewId.id &&
      Number.isSafeInteger(viewId + 1) &&
      view.containsMember(from) &&
      !this.leaving &&
      this.isCoord()
    ) {
      this.stats.foreignViewAcks++;
      this.logRejected('foreign-ack', `${from} acknowledged view ${viewId} from us, a view we never made; installing our members in a view above it`);
      coordinator.reassert(viewId);
      return;
    }
    this.role?.handleViewAck(from, viewId);
  }

  private viewSenderContext(self: Address, current: View | null) {
    const role = this.role;
    return {
      self,
      current,
      askedToJoin: (coord: Address) => role instanceof Joiner && role.askedToJoin(coord),
      answeredMergeLeader: (leader: Address) => this.merger.answered(leader),
      suspected: this.failureDetection ? this.suspected : null,
    };
  }

  /**
   * A JOIN_REQ must name its sender as the joiner, and the coordinator handles at most
   * max_joins_per_interval new members per interval (a member asking again is always answered).
   */
  private admitJoin(src: Address, h: GmsHeaderData): boolean {
    if (!isAddressOf(h.member, src)) {
      this.stats.forgedJoins++;
      this.logRejected('join', `dropped a JOIN_REQ from ${src} naming another joiner`);
      return false;
    }
    const view = this.view;
    if (view === null || !this.isCoord() || view.containsMember(src)) return true;
    if (this.joinLimiter.admit(src)) return true;
    this.stats.joinsLimited++;
    this.logRejected('join-limit', `more than ${this.maxJoinsPerInterval} joiners within ${this.joinLimitInterval} ms; ${src} must ask again`);
    return false;
  }

  /** Logs a dropped message, at most once per 10 s for each kind (no log floods; the stats count all). */
  private logRejected(kind: string, text: string): void {
    this.rejections.warn(kind, `${this.localAddress}: ${text}`);
  }

  private createHost(): GmsHost {
    // The roles see this protocol through the host: no role touches the stack itself.
    const gms = this;
    return {
      get self(): Address {
        return gms.localAddress!;
      },
      get timer() {
        return gms.timer;
      },
      log: this.log,
      settings: this,
      stats: this.stats,
      suspected: this.suspected,
      view: () => gms.view,
      isCoord: () => gms.isCoord(),
      isActive: () => gms.active,
      isLeaving: () => gms.leaving,
      send: (dest, h) => gms.send(dest, h),
      findMembers: async (): Promise<PingData[]> =>
        (await gms.ask(new Event(EventType.FIND_MBRS, { timeout: gms.discoveryTimeout, breakOnCoord: true }))) ?? [],
      digest: (): DigestData | undefined => {
        const d = gms.ask(new Event(EventType.GET_DIGEST));
        return d === undefined ? undefined : digestToData(d);
      },
      install: (view, mergeDigest) => gms.install(view, mergeDigest),
      leaveConfirmed: () => gms.leaveConfirmed(),
      becomeCoordinator: () => gms.becomeCoordinator(),
      coordinator: () => (gms.role instanceof Coordinator ? gms.role : null),
    };
  }
}

/** True if `bytes` (a header's member field) is `addr`'s wire form. */
function isAddressOf(bytes: Uint8Array | null | undefined, addr: Address): boolean {
  const own = addr.bytes;
  if (bytes == null || bytes.length !== own.length) return false;
  for (let i = 0; i < own.length; i++) if (bytes[i] !== own[i]) return false;
  return true;
}
