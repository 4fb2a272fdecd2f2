import type { Address, EventType, PhysicalAddress, ViewId } from '@tsgroups/core';

/** One member's answer to discovery. */
export interface PingData {
  address: Address;
  /** Logical name, for logs. */
  name: string | undefined;
  /** True if the member is coordinator of its view. */
  isCoord: boolean;
  /** The id of the member's current view, if it has one. */
  viewId: ViewId | undefined;
  /** Where the transport can reach the member, if it has a network address. */
  physical: PhysicalAddress | undefined;
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

// FIND_MBRS is the discovery protocols' event: its argument and answer are declared here.
declare module '@tsgroups/core' {
  interface EventArgs {
    [EventType.FIND_MBRS]: FindMembersRequest | undefined;
  }
  interface EventResults {
    [EventType.FIND_MBRS]: Promise<PingData[]>;
  }
}
