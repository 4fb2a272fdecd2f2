import { AbortError, type Address, Collector, MergeView, type View, ViewId } from '@tsgroups/core';
import { GmsType } from './messages.js';
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

/**
 * The merge protocol (JGroups' Merger), run by coordinators. As the merge leader (MERGE from
 * MERGE3) it asks the other subgroups' coordinators for their views (MERGE_REQ) and, once they
 * answered or `mergeTimeout` passed, hands the views to the coordinator role, which installs the
 * MergeView with acknowledgements like any view. As a coordinator asked for its view, it answers
 * (MERGE_RSP) and holds back its own view changes until the MergeView arrives, at most
 * `mergeTimeout`.
 */
export class Merger {
  private seq = Math.floor(Math.random() * 1_000_000);
  /** The merge this member leads, while it collects the other coordinators' views. */
  private collecting: { id: number; views: Collector<View | null> } | null = null;
  private lockedUntil = 0;

  constructor(private readonly host: GmsHost) {}

  /** Leads a merge of this member's subgroup with those led by `coords` (which may include this member). */
  async lead(coords: readonly Address[]): Promise<void> {
    const { host } = this;
    const self = host.self;
    if (!host.isCoord() || host.isLeaving() || this.collecting !== null) return;
    const others = coords.filter((c) => c !== self);
    if (others.length === 0) return;
    const id = (this.seq = (this.seq + 1) >>> 0);
    const collector = new Collector<View | null>(others, {
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
    const views: View[] = [];
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
    host.send(leader, { type: GmsType.MERGE_RSP, mergeId, view: viewToData(view) });
  }

  /** A MERGE_RSP: `view` counts only if it is the view `from` coordinates. */
  handleResponse(from: Address, mergeId: number, view: View | null): void {
    const c = this.collecting;
    if (c === null || c.id !== mergeId) return;
    c.views.add(from, view !== null && view.getCoord() === from ? view : null);
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
  }
}
