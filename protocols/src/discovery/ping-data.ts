import type { Address, ViewId } from '@tsgroups/core';

/** One member's answer to discovery. */
export interface PingData {
  address: Address;
  /** Logical name, for logs. */
  name: string | undefined;
  /** True if the member is coordinator of its view. */
  isCoord: boolean;
  /** The id of the member's current view, if it has one. */
  viewId: ViewId | undefined;
  /** The transport's physical address (host:port), if it has one. */
  physical: string | undefined;
}

/** The argument of FIND_MBRS. */
export interface FindMembersRequest {
  /** How long to wait for responses (ms). */
  timeout: number;
  /** Return early once this many members answered (0: wait the whole timeout). */
  numMembers?: number;
  /** Return early as soon as a coordinator answered. */
  breakOnCoord?: boolean;
}
