import { AbortError, type Address, Collector, Digest, MergeView, type View, ViewId } from '@tsgroups/core';
import { digestFromData } from '../reliable/digest-codec.js';
import { type DigestData, GmsType } from './messages.js';
import type { GmsHost } from './role.js';
import { viewToData } from './view-codec.js';

/**
 * The MergeView that merge leader `self` installs over its own view `own` and the views the other
 * subgroups' coordinators sent (`others`): the leader's members first, then each other subgroup's
 * (subgroups in the order of their coordinators' addresses), suspected members left out, with an
 * id above every subgroup's. Null if no other subgroup remains (e.g. they all answered with our
 * own view).
 */
export function buildMergeView(self: Address, own: View, others: readonly View[], suspected: ReadonlySet<Address>): MergeView | null {
  const rest = others.filter((v) => !v.viewId.equals(own.viewId)).sort((a, b) => a.getCoord()!.compareTo(b.getCoord()!));
  if (rest.length === 0) return null;
  const subgroups = [own, ...rest];
  const members: Address[] = [];
  const seen = new Set<Address>();
  for (const v of subgroups) {
    for (const m of v.members) {
      if (!seen.has(m) && !suspected.has(m)) {
        seen.add(m);
        members.push(m);
      }
    }
  }
  let id = 0;
  for (const v of subgroups) id = Math.max(id, v.viewId.id);
  return new MergeView(new ViewId(self, id + 1), members, subgroups);
}

/** How many merge leaders a subgroup's coordinator remembers having answered. */
const MAX_ANSWERED_LEADERS = 4;

/** What a subgroup's coordinator answers a merge leader: its view and its reliable-multicast digest. */
export interface SubgroupState {
  view: View;
  /** Null on a stack without NAKACK2. */
  digest: Digest | null;
}

/**
 * The digest installed with MergeView `merged`: for each member, where its multicasts stand in its
 * own subgroup, i.e. the entry for it in the digest of the subgroup whose view it is in (the
 * subgroup it coordinates if it is in several; otherwise the highest entry). Members of the other
 * subgroups start that sender's stream right after it, so every multicast it sends in the merged
 * view reaches them (see NAKACK2's MERGE_DIGEST). Null if no subgroup sent a digest.
 */
export function buildMergeDigest(merged: MergeView, states: readonly SubgroupState[]): Digest | null {
  if (states.every((s) => s.digest === null)) return null;
  const out = new Digest();
  for (const m of merged.members) {
    let best: { hd: number; hr: number; own: boolean } | null = null;
    for (const { view, digest } of states) {
      const r = digest?.get(m);
      if (r === undefined || !view.containsMember(m)) continue;
      const own = view.getCoord() === m;
      if (best === null || (own && !best.own) || (own === best.own && r.highestDelivered > best.hd)) {
        best = { hd: r.highestDelivered, hr: r.highestReceived, own };
      }
    }
    if (best !== null) out.set(m, best.hd, Math.max(best.hd, best.hr));
  }
  return out;
}

/**
 * The merge protocol (JGroups' Merger), run by coordinators. As the merge leader (MERGE from
 * MERGE3) it asks the other subgroups' coordinators for their views and digests (MERGE_REQ) and,
 * once they answered or `mergeTimeout` passed, hands them to the coordinator role, which installs
 * the MergeView, with the digest consolidated from the subgroups' (see {@link buildMergeDigest}),
 * and acknowledgements like any view. As a coordinator asked for its view, it answers with its
 * view and digest (MERGE_RSP) and holds back its own view changes until the MergeView arrives, at most
 * `mergeTimeout`.
 */
export class Merger {
  private seq = Math.floor(Math.random() * 1_000_000);
  /** The merge this member leads, while it collects the other coordinators' views. */
  private collecting: { id: number; views: Collector<SubgroupState | null> } | null = null;
  private lockedUntil = 0;
  /** The last merge leaders whose MERGE_REQ we answered with our view: only they may install a MergeView here. */
  private readonly answeredLeaders: Address[] = [];

  constructor(private readonly host: GmsHost) {}

  /** Leads a merge of this member's subgroup with those led by `coords` (which may include this member). */
  async lead(coords: readonly Address[]): Promise<void> {
    const { host } = this;
    const self = host.self;
    if (!host.isCoord() || host.isLeaving() || this.collecting !== null) return;
    const others = coords.filter((c) => c !== self);
    if (others.length === 0) return;
    const id = (this.seq = (this.seq + 1) >>> 0);
    const collector = new Collector<SubgroupState | null>(others, {
      timer: host.timer,
      timeout: host.settings.mergeTimeout,
      onTimeout: 'resolve',
      what: `merge ${id}`,
    });
    this.collecting = { id, views: collector };
    for (const c of others) host.send(c, { type: GmsType.MERGE_REQ, mergeId: id });
    let responses;
    try {
      responses = await collector.done;
    } catch {
      return; // the channel stopped
    } finally {
      if (this.collecting?.views === collector) this.collecting = null;
    }
    const views: SubgroupState[] = [];
    for (const r of responses.values()) if (r.value != null) views.push(r.value);
    const coordinator = host.coordinator();
    if (views.length === 0 || !host.isCoord() || coordinator === null) return;
    host.stats.mergesLed++;
    coordinator.enqueueMerge(views);
  }

  /** A MERGE_REQ from merge leader `leader`: answers with our view if we lead a subgroup. */
  handleRequest(leader: Address, mergeId: number): void {
    const { host } = this;
    const view = host.view();
    if (view === null || !host.isCoord() || host.isLeaving()) {
      host.send(leader, { type: GmsType.MERGE_RSP, mergeId });
      return;
    }
    this.lockedUntil = Date.now() + host.settings.mergeTimeout;
    if (!this.answeredLeaders.includes(leader)) {
      this.answeredLeaders.push(leader);
      if (this.answeredLeaders.length > MAX_ANSWERED_LEADERS) this.answeredLeaders.shift();
    }
    host.send(leader, { type: GmsType.MERGE_RSP, mergeId, view: viewToData(view), digest: host.digest() });
  }

  /** A MERGE_RSP: `view` counts only if it is the view `from` coordinates. Throws RangeError on a malformed digest. */
  handleResponse(from: Address, mergeId: number, view: View | null, digest?: DigestData | null): void {
    const c = this.collecting;
    if (c === null || c.id !== mergeId) return;
    const ok = view !== null && view.getCoord() === from;
    c.views.add(from, ok ? { view, digest: digest ? digestFromData(digest) : null } : null);
  }

  /** True if we answered a MERGE_REQ of `leader` with our view (a MergeView from it is expected). */
  answered(leader: Address): boolean {
    return this.answeredLeaders.includes(leader);
  }

  /** How long (ms) our own view changes still wait for another leader's MergeView; 0 if they need not. */
  lockRemaining(): number {
    return Math.max(0, this.lockedUntil - Date.now());
  }

  /** A MergeView was installed: our view changes may go on. */
  mergeViewInstalled(): void {
    this.lockedUntil = 0;
  }

  /** The channel stopped or the member left: the merge it leads ends, and nothing is held back. */
  reset(): void {
    this.collecting?.views.cancel(new AbortError('the channel stopped during a merge'));
    this.collecting = null;
    this.lockedUntil = 0;
    this.answeredLeaders.length = 0;
  }
}
