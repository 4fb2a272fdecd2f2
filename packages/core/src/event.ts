/**
 * Events travel between protocols (never over the network). A protocol handles the types it
 * knows in `downEvent`/`upEvent` and passes the rest to its neighbour.
 */
export const EventType = {
  /** down, arg: cluster name. Resolves when the member has joined (or formed) the group. */
  CONNECT: 1,
  /** down. Resolves when the member has left the group. */
  DISCONNECT: 2,
  /** down, arg: Address. The channel's address, sent before the stack starts. */
  SET_LOCAL_ADDRESS: 3,
  /** down and up, arg: View. A new view was installed. */
  VIEW_CHANGE: 4,
  /** down, arg: View. A view that protocols below should know of before it is installed. */
  TMP_VIEW: 5,
  /** up, arg: Address[]. Members suspected of having crashed. */
  SUSPECT: 6,
  /** up/down, arg: Address. A suspicion was withdrawn. */
  UNSUSPECT: 7,
  /** down, arg: FindMembersRequest. Returns a Promise of discovery responses. */
  FIND_MBRS: 8,
  /** down, arg: Address. Returns the physical address the transport knows for it, if any. */
  GET_PHYSICAL_ADDRESS: 9,
  /** down. Returns the transport's own physical address. */
  GET_LOCAL_PHYSICAL_ADDRESS: 10,
  /** down, arg: { address, physical, name }. Tells the transport how to reach a member. */
  ADD_PHYSICAL_ADDRESS: 11,
  /** up. The application should stop sending (for a flush or a state transfer). */
  BLOCK: 12,
  /** up. Sending may resume. */
  UNBLOCK: 13,
  /** down. Returns the digest of the reliable-multicast protocol. */
  GET_DIGEST: 14,
  /** down, arg: Digest. Sets where each sender's stream starts (after a join). */
  SET_DIGEST: 15,
  /** down, arg: Digest. Merges a digest into the current one (after a merge). */
  MERGE_DIGEST: 16,
  /** down, arg: string. The cluster name, sent before CONNECT so the transport can filter. */
  SET_CLUSTER_NAME: 17,
  /** up, arg: Map<Address, View>. Subgroups detected by a merge-detection protocol. */
  MERGE: 18,
  /** down, arg: Digest. Everything up to each member's highestDelivered is stable (delivered everywhere) and may be purged. */
  STABLE: 19,
  /** Types from 1000 on are free for user protocols. */
  USER_DEFINED: 1000,
} as const;

export type EventTypeValue = (typeof EventType)[keyof typeof EventType] | number;

export class Event<A = unknown> {
  constructor(
    readonly type: EventTypeValue,
    readonly arg?: A,
  ) {}
  toString(): string {
    const name = Object.entries(EventType).find(([, v]) => v === this.type)?.[0] ?? `event ${this.type}`;
    return this.arg === undefined ? name : `${name}(${String(this.arg)})`;
  }
}
