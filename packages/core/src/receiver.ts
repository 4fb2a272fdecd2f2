import type { Readable, Writable } from 'node:stream';
import type { Address } from './address.js';
import type { Channel } from './channel.js';
import type { Message } from './message.js';
import type { View } from './view.js';

/**
 * The callbacks of a channel's application, as JGroups' `Receiver`: implement only those you
 * need. Callbacks run on the event loop; an exception thrown by one is logged and does not
 * disturb the stack.
 */
export interface Receiver {
  /** A message arrived (also your own multicasts, unless discardOwnMessages is set). */
  receive?(msg: Message): void;
  /** A new view was installed; every member sees the same sequence of views. */
  viewAccepted?(view: View): void;
  /** A member is suspected of having crashed. */
  suspect?(member: Address): void;
  /** Stop sending until {@link unblock} (flush, state transfer). */
  block?(): void;
  unblock?(): void;
  /**
   * State provider: write the application state to `output` (do not end it), honouring
   * backpressure (`write()` false: wait for 'drain'); or return the state as bytes (or a Promise
   * of them). Incoming multicasts are held until this returns or its Promise settles, so the
   * state is the one after exactly the messages delivered before the call.
   */
  getState?(output: Writable): void | Uint8Array | Promise<void | Uint8Array>;
  /** State requester: read the application state from `input` until it ends (do not close it). */
  setState?(input: Readable): void | Promise<void>;
}

/** Notified of channel state changes, as JGroups' `ChannelListener`. */
export interface ChannelListener {
  channelConnected?(channel: Channel): void;
  channelDisconnected?(channel: Channel): void;
  channelClosed?(channel: Channel): void;
}
