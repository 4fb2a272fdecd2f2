import type { Address } from '@tsgroups/core';

/**
 * Looks at each response of a group request as it arrives, as JGroups' `RspFilter`: whether it
 * counts, and whether the call needs more. A response it does not accept leaves that member's
 * `Rsp` not received and is not waited for again. Error responses are recorded without it.
 */
export interface RspFilter {
  /** Whether `value` from `sender` is added to the RspList (and counts for GET_FIRST / GET_MAJORITY). */
  isAcceptable(value: unknown, sender: Address): boolean;
  /** Asked when the call starts and after every answer or departure: false ends the call with what it has. */
  needMoreResponses(): boolean;
}
