import { type Address, Collector, NameCache, TsgroupsError, View } from '@tsgroups/core';
import type { PingData } from '../discovery/ping-data.js';
import { GmsType } from './messages.js';
import { GmsRole } from './role.js';

/** What a joiner does after a discovery round. */
export type JoinStep =
  /** Ask `coord` to let us in. */
  | { action: 'join'; coord: Address }
  /** Nobody leads and we have the lowest address of those still looking: found the group. */
  | { action: 'found' }
  /** Nobody leads and someone with a lower address is looking too: let it found the group. */
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

/** The joiner's decision after a discovery round that returned `found`. */
export function nextJoinStep(self: Address, found: readonly PingData[]): JoinStep {
  const coord = pickCoordinator(found);
  if (coord !== undefined) return { action: 'join', coord };
  // Nobody leads yet: of the members still looking (no view), the one with the lowest address
  // founds the group, so members started together end up in one group.
  for (const p of found) if (p.viewId === undefined && p.address.compareTo(self) < 0) return { action: 'wait' };
  return { action: 'found' };
}

/**
 * The joiner (JGroups' ClientGmsImpl): discovers the members, asks the coordinator for a view
 * with it (JOIN_REQ, again every `joinTimeout`), founds a group of its own when nobody leads,
 * and after `maxJoinAttempts` unanswered attempts founds one anyway (a merge heals it later).
 * The join is done when a view with this member is installed; GMS then makes it a participant
 * or the coordinator.
 */
export class Joiner extends GmsRole {
  readonly kind = 'joiner';
  private joined = false;
  private stopped = false;
  /** The current wait: for the coordinator's answer, or the pause before discovering again. */
  private waiting: Collector<void> | null = null;

  /** Joins (or founds) the group; rejects with ERR_ABORTED if the channel stops first. */
  async join(): Promise<void> {
    const { host } = this;
    const s = host.settings;
    for (let attempt = 1; attempt <= s.maxJoinAttempts && this.running(); attempt++) {
      host.stats.joinAttempts++;
      const found = await host.findMembers();
      if (!this.running()) break;
      const step = nextJoinStep(host.self, found);
      if (step.action === 'found') {
        this.found();
        return;
      }
      if (step.action === 'wait') {
        // Nobody is asked: the wait just ends after the delay (or when the channel stops).
        await this.wait([host.self], s.joinRetryDelay, 'the pause before discovering again');
        continue;
      }
      host.send(step.coord, { type: GmsType.JOIN_REQ, member: host.self.bytes, name: NameCache.get(host.self) ?? '' });
      await this.wait([step.coord], s.joinTimeout, `JOIN_REQ to ${step.coord}`);
    }
    if (this.joined) return;
    if (this.stopped || !host.isActive()) throw new TsgroupsError('ERR_ABORTED', 'connect: the channel stopped while joining');
    // As JGroups does: after the last attempt, found a group of our own (a merge heals it later).
    host.log.warn(`${host.self}: no answer from a coordinator after ${s.maxJoinAttempts} attempts; founding a group alone`);
    this.found();
  }

  override viewInstalled(_view: View): void {
    this.joined = true;
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
