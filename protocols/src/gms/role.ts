import type { Address, Digest, ScopedLogger, TimeScheduler, View } from '@tsgroups/core';
import type { PingData } from '../discovery/ping-data.js';
import type { Coordinator } from './coordinator.js';
import type { DigestData, GmsHeaderData } from './messages.js';

/** GMS's properties, as the roles read them (the GMS protocol object itself). */
export interface GmsSettings {
  readonly joinTimeout: number;
  readonly maxJoinAttempts: number;
  readonly joinRetryDelay: number;
  readonly discoveryTimeout: number;
  readonly leaveTimeout: number;
  readonly viewAckCollectionTimeout: number;
  readonly mergeTimeout: number;
}

/** GMS's counters (`GMS.stats`); every role adds to the same object. */
export interface GmsStats {
  viewsInstalled: number;
  joinAttempts: number;
  viewAcksMissing: number;
  viewsResent: number;
  leaveRequestsResent: number;
  mergesLed: number;
  mergeViewsInstalled: number;
}

/**
 * What the GMS protocol offers its roles: the view it owns, the way to send, and the explicit
 * role switch. A test drives a role alone by handing it a fake of this.
 */
export interface GmsHost {
  /** This member (known once the channel connects). */
  readonly self: Address;
  /** The channel's scheduler: every wait of a role runs on it. */
  readonly timer: TimeScheduler;
  readonly log: ScopedLogger;
  readonly settings: GmsSettings;
  readonly stats: GmsStats;
  /** Members of the current view suspected of having crashed (the next view clears them). */
  readonly suspected: ReadonlySet<Address>;
  /** The installed view (null before the first one and after leaving). */
  view(): View | null;
  /** True if this member is the coordinator of the installed view. */
  isCoord(): boolean;
  /** False once the channel stopped. */
  isActive(): boolean;
  /** True while this member is leaving (no more joins are admitted by it). */
  isLeaving(): boolean;
  /** Sends a GMS message (dest null: every member). */
  send(dest: Address | null, h: GmsHeaderData): void;
  /** One discovery round (FIND_MBRS). */
  findMembers(): Promise<PingData[]>;
  /** The reliable-multicast digest to hand to joiners (undefined on a stack without NAKACK2). */
  digest(): DigestData | undefined;
  /**
   * Installs `view` here: passes it to the other protocols and switches role by its coordinator.
   * A MergeView comes with the merge digest, passed down (MERGE_DIGEST) just before the view.
   */
  install(view: View, mergeDigest?: Digest): void;
  /** The coordinator removed this member at its request: the leave is done. */
  leaveConfirmed(): void;
  /** Switches to the coordinator role now (a participant taking over from suspected members). */
  becomeCoordinator(): Coordinator;
  /** The current role if it is the coordinator's. */
  coordinator(): Coordinator | null;
}

export type RoleKind = 'joiner' | 'participant' | 'coordinator';

/**
 * What a member does with membership traffic depends on its role, as in JGroups (ClientGmsImpl,
 * ParticipantGmsImpl, CoordGmsImpl): the GMS protocol hands each event to its current role, and
 * by default a role ignores it. A member is a joiner while it connects, then a participant or
 * the coordinator according to each view it installs (or a participant takes over explicitly).
 */
export abstract class GmsRole {
  abstract readonly kind: RoleKind;

  constructor(protected readonly host: GmsHost) {}

  /** A JOIN_REQ from `member`. */
  handleJoinRequest(_member: Address): void {}
  /** A JOIN_RSP without a view from `from`: it refused our join (AUTH), saying why. */
  handleJoinRefused(_from: Address, _reason: string): void {}
  /** A LEAVE_REQ from `member`. */
  handleLeaveRequest(_member: Address): void {}
  /** `member` is suspected; `host.suspected` holds it if it is a member of the view. */
  handleSuspect(_member: Address): void {}
  /** A VIEW_ACK for view `viewId` from `from`. */
  handleViewAck(_from: Address, _viewId: number): void {}
  /** A view with this member was installed (before the role switch it may cause). */
  viewInstalled(_view: View): void {}
  /** Asks to be removed from the view; asked again while the leave waits (and when the coordinator changes). */
  requestLeave(): void {}
  /** The role ends (switch, leave or stop): it cancels its timers and releases its waits. */
  stop(): void {}
}
