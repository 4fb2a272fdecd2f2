/** Message flags; they travel with the message. Combine with `|`. */
export const Flag = {
  /** Deliver as soon as it arrives, possibly ahead of earlier regular messages from the same sender. */
  OOB: 1 << 0,
  /** Send at once in its own datagram instead of waiting for the end of the event-loop turn. */
  DONT_BUNDLE: 1 << 1,
  /** Bypass flow control. */
  NO_FC: 1 << 2,
  /** Bypass retransmission and ordering. */
  NO_RELIABILITY: 1 << 3,
  /** Bypass total-order protocols. */
  NO_TOTAL_ORDER: 1 << 4,
  /** The send completes only when every member has acknowledged the message (needs RSVP). */
  RSVP: 1 << 5,
  /** Not delivered to the sender itself (a multicast otherwise loops back to its sender). */
  DONT_LOOPBACK: 1 << 6,
  /**
   * Set by STATE_TRANSFER on a multicast that arrives at a member whose fetched state already
   * contains it: the application never sees it; the building blocks answer a request it carries
   * without running it again. Never sent.
   */
  IN_STATE: 1 << 7,
} as const;

export type FlagName = keyof typeof Flag;

/** Flags that never leave the member. */
export const TRANSIENT_FLAGS = Flag.DONT_LOOPBACK | Flag.IN_STATE;

export function flagsToString(flags: number): string {
  const names: string[] = [];
  for (const [name, bit] of Object.entries(Flag)) if (flags & bit) names.push(name);
  return names.join('|');
}
