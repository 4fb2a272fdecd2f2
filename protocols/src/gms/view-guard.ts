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
  /**
   * The members this member suspects, on a stack with failure detection; null without it (then
   * nothing would ever be suspected, and a takeover is taken on the view's word).
   */
  suspected: ReadonlySet<Address> | null;
}

/**
 * Whether `from` may install `view` (newer than ours, with us in it) here. Without
 * authentication any sender can claim any address, so this keeps out what costs nothing to
 * forge: a view from an outsider, from a member that is not the coordinator, or a blind guess.
 *
 * - A joiner takes its first view only from a coordinator it asked to join.
 * - A member takes views from its coordinator, or from the next in line: the first member of
 *   its view once every member ahead of it is gone from the new view (the coordinator crashed
 *   or left, and the member that took over removed it) and, on a stack with failure detection,
 *   suspected here too; a takeover view that comes before this member's own suspicion is taken
 *   when the new coordinator sends it again.
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
  return isNextInLine(current, view, from, ctx.suspected);
}

/**
 * True if `from` is in `current` and every member ahead of it there is gone from `next` (and in
 * `suspected`, unless that is null).
 */
export function isNextInLine(current: View, next: View, from: Address, suspected: ReadonlySet<Address> | null = null): boolean {
  for (const m of current.members) {
    if (m === from) return true;
    if (next.containsMember(m) || (suspected !== null && !suspected.has(m))) return false;
  }
  return false;
}
