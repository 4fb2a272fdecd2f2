import { type Address, MergeView, type View } from '@tsgroups/core';

/** What a member knows when it decides whether the sender of a newer view may install it. */
export interface ViewSenderContext {
  self: Address;
  /** The installed view; null while joining. */
  current: View | null;
  /** While joining: true for a coordinator this member sent a JOIN_REQ to. */
  askedToJoin(coord: Address): boolean;
  /** True for a merge leader whose MERGE_REQ this member answered as a subgroup's coordinator. */
  answeredMergeLeader(leader: Address): boolean;
}

/**
 * Whether `from` may install `view` (newer than ours, with us in it) here. Without
 * authentication any sender can claim any address, so this keeps out what costs nothing to
 * forge: a view from an outsider, from a member that is not the coordinator, or a blind guess.
 *
 * - A joiner takes its first view only from a coordinator it asked to join.
 * - A member takes views from its coordinator (and its own), or from the next in line: the
 *   first member of its view once every member ahead of it is gone from the new view (the
 *   coordinator crashed or left, and the member that took over removed it). This needs no
 *   agreement on suspicions: the new view itself shows who is gone.
 * - A MergeView must come from its creator (the merge leader); a subgroup's coordinator takes it
 *   only from a leader whose MERGE_REQ it answered; another member only if one of the merged
 *   subgroups is a view with it (whoever listened to the group can still forge that one; with
 *   SYM_ENCRYPT nobody outside can).
 */
export function mayInstallViewFrom(ctx: ViewSenderContext, view: View, from: Address): boolean {
  const { self, current } = ctx;
  // (A member installs its own views directly; one "from" itself here was sent by someone else.)
  if (current === null) return ctx.askedToJoin(from);
  if (from === current.getCoord()) return true;
  if (view instanceof MergeView) {
    if (view.viewId.creator !== from) return false;
    if (current.getCoord() === self) return ctx.answeredMergeLeader(from);
    return view.subgroups.some((s) => s.containsMember(self));
  }
  return isNextInLine(current, view, from);
}

/** True if `from` is in `current` and every member ahead of it there is gone from `next`. */
export function isNextInLine(current: View, next: View, from: Address): boolean {
  for (const m of current.members) {
    if (m === from) return true;
    if (next.containsMember(m)) return false;
  }
  return false;
}
