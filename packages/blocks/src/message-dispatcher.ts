import { type Address, type Channel, ChannelStateError, Flag, type Message, type Response, TsgroupsError, type View } from '@tsgroups/core';
import { SuspectedError } from './errors.js';
import { RequestCorrelator } from './request-correlator.js';
import { RequestOptions, type RequestOptionsInit } from './request-options.js';
import { ResponseMode } from './response-mode.js';
import { RspList } from './rsp.js';

/** The server side of a {@link MessageDispatcher}: what it returns (or resolves to) goes back to the caller. */
export interface RequestHandler {
  handle(msg: Message): unknown;
}

export interface DispatcherOptions {
  /**
   * Tells dispatchers on the same channel apart (JGroups' correlator id): requests reach the
   * dispatcher of the same id on each member. Default 0.
   */
  id?: number;
  /** Send a failing handler's stack to the caller (in `RemoteError.remoteStack`). Default false. */
  exposeStackTraces?: boolean;
}

/**
 * Request/response over the group, as JGroups' MessageDispatcher: `castMessage` sends a message
 * to several members and collects their answers in an {@link RspList}; `sendMessage` asks one
 * member and returns its answer. On the server side, every request is given to the handler's
 * `handle(msg)`; its return value (or what its Promise resolves to) is the answer, an exception
 * (or a rejection) goes back as the caller's {@link RemoteError}.
 *
 * A dispatcher can be created before or after `connect`. Create it on every member (with the
 * same `id`): a member without one hands requests to its application like any message, and the
 * caller waits until its timeout. Requests and responses never reach the channel's receiver.
 */
export class MessageDispatcher {
  protected readonly correlator: RequestCorrelator;

  constructor(
    readonly channel: Channel,
    handler: RequestHandler | ((msg: Message) => unknown) | null = null,
    options: DispatcherOptions = {},
  ) {
    const id = options.id ?? 0;
    if (!Number.isInteger(id) || id < 0 || id > 0xffffffff) throw new TsgroupsError('ERR_BAD_ARGUMENT', `dispatcher id must be an integer 0..2^32-1, got ${id}`);
    const fn = typeof handler === 'function' ? handler : handler === null ? null : (msg: Message) => handler.handle(msg);
    this.correlator = new RequestCorrelator(channel, (msg) => this.handleRequest(msg, fn), id, options.exposeStackTraces ?? false);
    this.correlator.start();
  }

  /**
   * Sends `msg` to `dests` (null: every member of the view, this one included unless the request is flagged DONT_LOOPBACK) and resolves with
   * their responses, as `opts.mode` says: GET_ALL (default), GET_FIRST, GET_MAJORITY, or GET_NONE
   * (resolves once sent, with nothing received). A destination that leaves or is suspected counts
   * as answered (`isSuspected`); the timeout resolves with what arrived (`isReceived` false for the
   * rest). One multicast reaches the whole view; a subset of it, or `anycast`, gets a unicast each.
   * @throws ChannelStateError when the channel is not connected, or disconnects meanwhile
   * @throws AbortError when `opts.signal` aborts
   */
  async castMessage<T = unknown>(dests: Iterable<Address> | null, msg: Message, opts?: RequestOptions | RequestOptionsInit): Promise<RspList<T>> {
    const o = RequestOptions.from(opts);
    const view = this.viewOrThrow();
    const targets = destinations(dests, view, o, this.channel.getAddress(), msg.flags);
    if (targets.length === 0) return new RspList<T>();
    const anycast = o.anycast || (dests !== null && targets.length < view.size()) || targets.some((t) => !view.containsMember(t));
    if (o.mode === ResponseMode.GET_NONE) {
      await this.correlator.sendOneWay(targets, msg, o, anycast);
      return RspList.fromResponses<T>(new Map(targets.map((t) => [t, { value: undefined, error: undefined, received: false, suspected: false }])));
    }
    return RspList.fromResponses<T>(await this.correlator.sendRequest(targets, msg, o, anycast, 'resolve'));
  }

  /**
   * Sends `msg` to its destination and resolves with the answer (GET_NONE: resolves once sent,
   * with undefined).
   * @throws RemoteError when the handler there threw or rejected (`ERR_REMOTE`, `ERR_NO_SUCH_METHOD`)
   * @throws TimeoutError when no answer came within `opts.timeout`
   * @throws SuspectedError when the destination left or was suspected first
   * @throws TsgroupsError `ERR_BAD_ARGUMENT` when `msg` has no destination
   */
  sendMessage<T = unknown>(msg: Message, opts?: RequestOptions | RequestOptionsInit): Promise<T> {
    // Not async: a sequential caller's every call goes through here, and each await is a turn
    // of the microtask queue between the answer and the next request. Errors still reject.
    try {
      const dest = msg.dest;
      if (dest === null) throw new TsgroupsError('ERR_BAD_ARGUMENT', 'sendMessage: the message needs a destination (castMessage sends to several)');
      const o = RequestOptions.from(opts);
      this.viewOrThrow();
      if (o.mode === ResponseMode.GET_NONE) return this.correlator.sendOneWay([dest], msg, o, true).then(nothing<T>);
      return this.correlator.sendRequest([dest], msg, o, true, 'reject').then(onlyResult<T>);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** Calls waiting for answers now (each is freed when it completes, times out or is aborted). */
  numPendingRequests(): number {
    return this.correlator.numPending();
  }

  getStats(): Record<string, number> {
    return { ...this.correlator.stats, pending: this.correlator.numPending() };
  }

  /** Stops serving and calling: waiting calls reject with `ERR_CHANNEL_CLOSED`. The channel stays as it is. */
  stop(): void {
    this.correlator.stop();
  }

  close(): void {
    this.stop();
  }

  /** Runs the handler for one request (RpcDispatcher overrides it to call a method). */
  protected handleRequest(msg: Message, handler: ((msg: Message) => unknown) | null): unknown {
    if (handler === null) throw new TsgroupsError('ERR_BAD_ARGUMENT', 'this member has no request handler');
    return handler(msg);
  }

  private viewOrThrow(): View {
    const view = this.channel.getView();
    if (view === null || !this.channel.isConnected()) {
      throw new ChannelStateError('ERR_CHANNEL_NOT_CONNECTED', 'a request needs a connected channel');
    }
    return view;
  }
}

function nothing<T>(): T {
  return undefined as T;
}

/** The result of a call to one member: its value, or what it failed with. */
function onlyResult<T>(responses: Map<Address, Response<unknown>>): T {
  for (const [dest, r] of responses) {
    if (r.error !== undefined) throw r.error;
    if (r.suspected) throw new SuspectedError(dest, 'sendMessage');
    return r.value as T;
  }
  throw new TsgroupsError('ERR_BAD_ARGUMENT', 'sendMessage: no response entry'); // never: the call had one destination
}

/** The members to send to: `dests` (or the view), without duplicates and the exclusion list. */
function destinations(dests: Iterable<Address> | null, view: View, o: RequestOptions, self: Address | null, flags: number): Address[] {
  const out: Address[] = [];
  const seen = new Set<Address>();
  // A request that does not loop back never reaches this member: it is no destination.
  const skipSelf = ((o.flags | flags) & Flag.DONT_LOOPBACK) !== 0;
  for (const a of dests ?? view.members) {
    if (seen.has(a) || o.exclusionList.has(a) || (skipSelf && a === self)) continue;
    seen.add(a);
    out.push(a);
  }
  return out;
}
