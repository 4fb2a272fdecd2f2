import { type Address, Collector, NameCache, SecurityError, TsgroupsError, View } from '@tsgroups/core';
import type { PingData } from '../discovery/ping-data.js';
import { GmsType } from './messages.js';
import { GmsRole } from './role.js';

/** What a joiner does after a discovery round. */
export type JoinStep =
  /** Ask `coord` to let us in. */
  | { action: 'join'; coord: Address }
  /** Nobody leads and we have the lowest address of those still looking: found the group. */
  | { action: 'found' }
  /**
   * No coordinator answered, but a group exists (a member with a view answered, or did lately) or
   * someone with a lower address is looking too: discover again.
   */
  | { action: 'wait' };

/** The coordinator most responders agree on (ties: the lowest address); undefined if none answered as one. */
export function pickCoordinator(found: readonly PingData[]): Address | undefined {
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

/**
 * The joiner's decision after a discovery round that returned `found`. `blockers` are members
 * that recent rounds saw in a group or still looking with a lower address (see {@link Blockers}):
 * under loss this round may have missed the coordinator or the founder, so their absence is no
 * reason to found another group.
 */
export function nextJoinStep(self: Address, found: readonly PingData[], blockers: readonly Address[] = []): JoinStep {
  const coord = pickCoordinator(found);
  if (coord !== undefined) return { action: 'join', coord };
  // A member with a view answered but its coordinator did not (lost, or taking over): a group
  // exists, so founding one would split the cluster (as JGroups, which never founds a group
  // when a member of one answered).
  for (const p of found) if (p.viewId !== undefined) return { action: 'wait' };
  // Nobody leads yet: of the members still looking (no view), the one with the lowest address
  // founds the group, so members started together end up in one group.
  for (const p of found) if (p.address.compareTo(self) < 0) return { action: 'wait' };
  if (blockers.length > 0) return { action: 'wait' };
  return { action: 'found' };
}

/** Rounds a blocker is remembered after the last round that heard from it. */
export const BLOCKER_ROUNDS = 3;

/**
 * The members that keep a joiner from founding a group: those that recent discovery rounds saw
 * with a view (a group exists) or looking with a lower address (it founds the group). One is
 * forgotten after {@link BLOCKER_ROUNDS} rounds that did not hear from it (it stopped or
 * crashed), so a joiner is never kept waiting by a member that is gone.
 */
export class Blockers {
  private readonly roundsLeft = new Map<Address, number>();

  constructor(private readonly self: Address) {}

  /** Takes in one round's answers. */
  update(found: readonly PingData[]): void {
    const seen = new Set<Address>();
    for (const p of found) {
      seen.add(p.address);
      if (p.viewId !== undefined || p.address.compareTo(this.self) < 0) this.roundsLeft.set(p.address, BLOCKER_ROUNDS);
    }
    for (const [a, n] of this.roundsLeft) {
      if (seen.has(a)) continue;
      if (n <= 1) this.roundsLeft.delete(a);
      else this.roundsLeft.set(a, n - 1);
    }
  }

  members(): Address[] {
    return [...this.roundsLeft.keys()];
  }
}

/**
 * The joiner (JGroups' ClientGmsImpl): discovers the members, asks the coordinator for a view
 * with it (JOIN_REQ, again every `joinTimeout`), founds a group of its own when nobody leads,
 * no member of a group answered and no member with a lower address is looking too (otherwise it
 * discovers again until a coordinator answers), and after `maxJoinAttempts` unanswered attempts founds one anyway (a
 * merge heals it later).
 * The join is done when a view with this member is installed; GMS then makes it a participant
 * or the coordinator.
 */
export class Joiner extends GmsRole {
  readonly kind = 'joiner';
  private joined = false;
  private stopped = false;
  /** The current wait: for the coordinator's answer, or the pause before discovering again. */
  private waiting: Collector<void> | null = null;
  /** Every coordinator a JOIN_REQ went to: the first view is taken only from one of them. */
  private readonly joinAsked = new Set<Address>();
  /** The coordinator the last JOIN_REQ went to, and why it refused us if it did (a JOIN_RSP with an error). */
  private asked: Address | null = null;
  private refusal: string | null = null;

  /** Joins (or founds) the group; rejects with ERR_ABORTED if the channel stops first. */
  async join(): Promise<void> {
    const { host } = this;
    const s = host.settings;
    const blockers = new Blockers(host.self);
    for (let attempt = 1; attempt <= s.maxJoinAttempts && this.running(); attempt++) {
      host.stats.joinAttempts++;
      const found = await host.findMembers();
      if (!this.running()) break;
      // A joiner remembers who was in a group or looking with it: under loss, one round may miss
      // the coordinator, or the member that has founded the group meanwhile (see nextJoinStep).
      blockers.update(found);
      const step = nextJoinStep(host.self, found, blockers.members());
      if (step.action === 'found') {
        this.found();
        return;
      }
      if (step.action === 'wait') {
        // Nobody is asked: the wait just ends after the delay (or when the channel stops).
        await this.wait([host.self], s.joinRetryDelay, 'the pause before discovering again');
        continue;
      }
      this.asked = step.coord;
      this.joinAsked.add(step.coord);
      host.send(step.coord, { type: GmsType.JOIN_REQ, member: host.self.bytes, name: NameCache.get(host.self) ?? '' });
      await this.wait([step.coord], s.joinTimeout, `JOIN_REQ to ${step.coord}`);
      // Refused (AUTH): asking again would only be refused again; connect fails now, not after the attempts.
      if (this.refusal !== null && !this.joined) throw new SecurityError('ERR_AUTH_REFUSED', `connect: ${step.coord} refused the join: ${this.refusal}`);
    }
    if (this.joined) return;
    if (this.stopped || !host.isActive()) throw new TsgroupsError('ERR_ABORTED', 'connect: the channel stopped while joining');
    // As JGroups does: after the last attempt, found a group of our own (a merge heals it later).
    host.log.warn(`${host.self}: no answer from a coordinator after ${s.maxJoinAttempts} attempts; founding a group alone`);
    this.found();
  }

  /** True if this joiner sent a JOIN_REQ to `coord`. */
  askedToJoin(coord: Address): boolean {
    return this.joinAsked.has(coord);
  }

  override viewInstalled(_view: View): void {
    this.joined = true;
    this.waiting?.complete();
  }

  override handleJoinRefused(from: Address, reason: string): void {
    if (from !== this.asked || this.joined) return; // only the coordinator we asked may refuse us
    this.refusal = reason.slice(0, 200);
    this.waiting?.complete();
  }

  override stop(): void {
    this.stopped = true;
    this.waiting?.complete();
  }

  private running(): boolean {
    return !this.joined && !this.stopped && this.host.isActive();
  }

  private found(): void {
    const self = this.host.self;
    this.host.install(View.create(self, 1, [self]));
  }

  /** Waits until the view arrives, the channel stops or `ms` pass (the wait never rejects). */
  private async wait(from: Address[], ms: number, what: string): Promise<void> {
    const c = new Collector<void>(from, { timer: this.host.timer, timeout: Math.max(1, ms), onTimeout: 'resolve', what });
    this.waiting = c;
    try {
      await c.done;
    } finally {
      if (this.waiting === c) this.waiting = null;
    }
  }
}
