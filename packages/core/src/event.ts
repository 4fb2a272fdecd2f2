import type { Readable, Writable } from 'node:stream';
import type { Address } from './address.js';
import type { Digest } from './digest.js';
import type { Message } from './message.js';
import type { PhysicalAddress } from './physical-address.js';
import type { View } from './view.js';

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
  /** down, arg: a discovery request (declared by the discovery protocols). Returns a Promise of discovery responses. */
  FIND_MBRS: 8,
  /** down, arg: Address. Returns the {@link PhysicalAddress} the transport knows for it, if any. */
  GET_PHYSICAL_ADDRESS: 9,
  /** down. Returns the transport's own {@link PhysicalAddress} (undefined on an in-process transport). */
  GET_LOCAL_PHYSICAL_ADDRESS: 10,
  /** down, arg: {@link PhysicalAddressMapping}. Tells the transport how to reach a member. */
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
  /** up, arg: Address[]. The coordinators of subgroups that a merge-detection protocol found able to see each other. */
  MERGE: 18,
  /** down, arg: Digest. Everything up to each member's highestDelivered is stable (delivered everywhere) and may be purged. */
  STABLE: 19,
  /**
   * down, no arg (Channel.messages()). The application holds more received messages than it
   * asked to buffer: flow control stops crediting senders back until CONSUMER_CAUGHT_UP.
   * Returns true if a protocol below withholds credits.
   */
  CONSUMER_BEHIND: 20,
  /** down, no arg. The application caught up: flow control sends the credits it withheld. */
  CONSUMER_CAUGHT_UP: 21,
  /** down, no arg (STATE_TRANSFER to BARRIER). Hold incoming multicasts until OPEN_BARRIER; closes nest. */
  CLOSE_BARRIER: 22,
  /** down, no arg. Undoes one CLOSE_BARRIER; the last one passes the held multicasts up, in order. */
  OPEN_BARRIER: 23,
  /** down, arg: {@link StateRequest} (Channel.getState). Returns a Promise that settles when the state is set. */
  GET_STATE: 24,
  /**
   * up, arg: Writable (STATE_TRANSFER at the provider). The application writes its state; returns
   * a Promise of the bytes it returned instead (or of nothing), or undefined if it has no getState.
   */
  GET_APPLSTATE: 25,
  /** up, arg: Readable (STATE_TRANSFER at the requester). Returns a Promise that settles when the application has read its state, or undefined if it has no setState. */
  SET_APPLSTATE: 26,
  /**
   * down, arg: {@link PhysicalSend}. Sends a message to a physical address that names no member
   * yet (TCPPING's list, DNS_PING's records). It travels down the stack like a message, so the
   * protocols below the sender (SYM_ENCRYPT ...) treat it as one; the transport sends it.
   */
  SEND_TO_PHYSICAL: 27,
  /** Types from 1000 on are free for user protocols (declare them in {@link EventArgs}). */
  USER_DEFINED: 1000,
} as const;

/** What {@link EventType.GET_STATE} carries. */
export interface StateRequest {
  /** The member to fetch the state from; null: the first other member of the view (the coordinator if that is not us). */
  target: Address | null;
  /** Milliseconds for the whole transfer; 0: no limit. */
  timeout: number;
  signal?: AbortSignal | undefined;
}

/** What {@link EventType.SEND_TO_PHYSICAL} carries. */
export interface PhysicalSend {
  to: PhysicalAddress;
  msg: Message;
}

/** What {@link EventType.ADD_PHYSICAL_ADDRESS} carries. */
export interface PhysicalAddressMapping {
  address: Address;
  physical: PhysicalAddress;
  /** The member's logical name, if known. */
  name?: string | undefined;
}

/**
 * The argument each event type carries. Protocols that define events of their own declare them
 * here by module augmentation, so that `new Event(type, arg)` and `switch (evt.type)` are typed
 * without casts:
 *
 * ```ts
 * declare module '@tsgroups/core' {
 *   interface EventArgs { 1001: { reason: string } }
 * }
 * ```
 */
export interface EventArgs {
  [EventType.CONNECT]: string;
  [EventType.DISCONNECT]: undefined;
  [EventType.SET_LOCAL_ADDRESS]: Address;
  [EventType.VIEW_CHANGE]: View;
  [EventType.TMP_VIEW]: View;
  [EventType.SUSPECT]: Address[];
  [EventType.UNSUSPECT]: Address;
  [EventType.GET_PHYSICAL_ADDRESS]: Address;
  [EventType.GET_LOCAL_PHYSICAL_ADDRESS]: undefined;
  [EventType.ADD_PHYSICAL_ADDRESS]: PhysicalAddressMapping;
  [EventType.BLOCK]: undefined;
  [EventType.UNBLOCK]: undefined;
  [EventType.GET_DIGEST]: undefined;
  [EventType.SET_DIGEST]: Digest;
  [EventType.MERGE_DIGEST]: Digest;
  [EventType.SET_CLUSTER_NAME]: string;
  [EventType.MERGE]: Address[];
  [EventType.STABLE]: Digest;
  [EventType.CONSUMER_BEHIND]: undefined;
  [EventType.CONSUMER_CAUGHT_UP]: undefined;
  [EventType.CLOSE_BARRIER]: undefined;
  [EventType.OPEN_BARRIER]: undefined;
  [EventType.GET_STATE]: StateRequest;
  [EventType.GET_APPLSTATE]: Writable;
  [EventType.SET_APPLSTATE]: Readable;
  [EventType.SEND_TO_PHYSICAL]: PhysicalSend;
}

/**
 * What a protocol below answers to an event sent down, for the event types that answer
 * (augmentable like {@link EventArgs}). {@link Protocol.ask} returns it typed.
 */
export interface EventResults {
  [EventType.CONNECT]: Promise<void> | void;
  [EventType.DISCONNECT]: Promise<void> | void;
  [EventType.GET_PHYSICAL_ADDRESS]: PhysicalAddress | undefined;
  [EventType.GET_LOCAL_PHYSICAL_ADDRESS]: PhysicalAddress | undefined;
  [EventType.GET_DIGEST]: Digest | undefined;
  [EventType.CONSUMER_BEHIND]: boolean | undefined;
  [EventType.GET_STATE]: Promise<void> | undefined;
}

/** Every declared event type. */
export type EventTypeValue = keyof EventArgs;

/** The arguments of `new Event(type, ...)`: none for an event type whose arg is `undefined`. */
type ArgOf<K extends EventTypeValue> = EventArgs[K] extends undefined ? [arg?: undefined] : [arg: EventArgs[K]];

/**
 * One event of type `K`. Code that receives events takes {@link AnyEvent}, the union of all
 * declared types, and narrows it with `switch (evt.type)`.
 */
export class Event<K extends EventTypeValue = EventTypeValue> {
  readonly type: K;
  readonly arg: EventArgs[K];
  constructor(type: K, ...arg: ArgOf<K>) {
    this.type = type;
    this.arg = arg[0] as EventArgs[K];
  }
  toString(): string {
    const name = Object.entries(EventType).find(([, v]) => v === this.type)?.[0] ?? `event ${this.type}`;
    return this.arg === undefined ? name : `${name}(${String(this.arg)})`;
  }
}

/** An event of any declared type: a discriminated union on `type`. */
export type AnyEvent = { [K in EventTypeValue]: Event<K> }[EventTypeValue];

/** The answer to event type `K` (unknown for types that declare none). */
export type EventResult<K extends EventTypeValue> = K extends keyof EventResults ? EventResults[K] : unknown;
