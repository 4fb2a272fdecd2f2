import {
  AbortError,
  type Address,
  type Channel,
  ChannelStateError,
  Collector,
  Flag,
  HeaderRegistry,
  Message,
  type Response,
  ScopedLogger,
  TsgroupsError,
  type View,
} from '@tsgroups/core';
import { remoteError, remoteErrorData } from './errors.js';
import { REQUEST_HEADER_ID, type RequestHeader, requestHeaderCodec, RequestType } from './request-header.js';
import type { RequestOptions } from './request-options.js';
import { ResponseMode } from './response-mode.js';
import type { RspFilter } from './rsp-filter.js';

/** What a dispatcher runs for each request: a value (or a Promise of one) goes back to the caller. */
export type RequestHandlerFn = (msg: Message) => unknown;

interface Call {
  readonly collector: Collector<unknown>;
  readonly filter: RspFilter | null;
}

/**
 * Matches responses to requests, as JGroups' RequestCorrelator: every request gets an id, its
 * waiter (a {@link Collector}) is kept until it completes, times out or is aborted, and each
 * response is handed to the waiter of its id. Requests that arrive go to the handler in the
 * order the channel delivers them (per sender, the order they were sent; OOB ones at once); an
 * async handler's answer goes back when it settles, without holding up the next request.
 *
 * Requests and responses are ordinary messages with a header of {@link REQUEST_HEADER_ID}: the
 * channel hands them to the correlator and never to the application.
 */
export class RequestCorrelator {
  private nextId = 0;
  private readonly pending = new Map<number, Call>();
  private removeInterceptor: (() => void) | null = null;
  /** Answers to requests that arrived while this member was still joining, and the address they are from. */
  private joiningReplies: (() => void)[] = [];
  private joiningAs: Address | null = null;
  private readonly log = new ScopedLogger('RequestCorrelator');
  readonly stats = {
    requestsSent: 0,
    requestsReceived: 0,
    responsesSent: 0,
    errorsSent: 0,
    responsesReceived: 0,
    /** Responses to calls that were over (completed, timed out, aborted) when they arrived. */
    lateResponses: 0,
    /** Requests whose effect was already in the state this member fetched (answered ERR_IN_STATE, not run). */
    requestsInState: 0,
    /** Responses that could not be sent (the channel disconnected meanwhile). */
    responsesDropped: 0,
  };

  constructor(
    readonly channel: Channel,
    private readonly handler: RequestHandlerFn,
    private readonly corrId: number,
    private readonly exposeStackTraces: boolean,
  ) {}

  start(): void {
    if (this.removeInterceptor !== null) return;
    HeaderRegistry.register(REQUEST_HEADER_ID, 'RequestCorrelator', requestHeaderCodec);
    this.removeInterceptor = this.channel.addMessageInterceptor(REQUEST_HEADER_ID, this.onMessage);
    this.channel.on('view', this.onView);
    this.channel.on('suspect', this.onSuspect);
    this.channel.on('connected', this.onConnected);
    this.channel.on('disconnected', this.onDisconnected);
    this.channel.on('closed', this.onDisconnected);
  }

  /** Stops taking requests and ends every waiting call with `ERR_CHANNEL_CLOSED`. */
  stop(): void {
    if (this.removeInterceptor === null) return;
    this.removeInterceptor();
    this.removeInterceptor = null;
    this.channel.off('view', this.onView);
    this.channel.off('suspect', this.onSuspect);
    this.channel.off('connected', this.onConnected);
    this.channel.off('disconnected', this.onDisconnected);
    this.channel.off('closed', this.onDisconnected);
    this.joiningReplies = [];
    this.cancelAll(new ChannelStateError('ERR_CHANNEL_CLOSED', 'the dispatcher was stopped while the call was waiting'));
  }

  /** Calls waiting for responses. */
  numPending(): number {
    return this.pending.size;
  }

  /**
   * Sends `msg` as a request to `targets` (one multicast, or a unicast to each with `anycast`)
   * and settles with every target's response once `opts.mode` (and the filter) is satisfied, a
   * target that left or is suspected counting as answered. The timeout resolves with what
   * arrived (`onTimeout: 'resolve'`) or rejects with a TimeoutError.
   */
  sendRequest(
    targets: readonly Address[],
    msg: Message,
    opts: RequestOptions,
    anycast: boolean,
    onTimeout: 'resolve' | 'reject',
  ): Promise<Map<Address, Response<unknown>>> {
    const view = this.channel.getView();
    if (view === null || !this.channel.isConnected()) return Promise.reject(new ChannelStateError('ERR_CHANNEL_NOT_CONNECTED', 'a request needs a connected channel'));
    if (this.removeInterceptor === null) return Promise.reject(new ChannelStateError('ERR_CHANNEL_CLOSED', 'the dispatcher is stopped'));
    const id = (this.nextId = (this.nextId + 1) >>> 0 || 1);
    const filter = opts.rspFilter;
    const collector = new Collector<unknown>(targets, {
      timer: this.channel.getProtocolStack().timer,
      timeout: opts.timeout,
      signal: opts.signal,
      onTimeout,
      doneWhen: completion(opts.mode, filter, targets.length),
      what: `request ${id}`,
    });
    if (collector.isDone()) return collector.done;
    this.pending.set(id, { collector, filter });
    const release = () => {
      this.pending.delete(id);
    };
    collector.done.then(release, release);
    // A target that is not a member now will never answer.
    for (const t of targets) if (!view.containsMember(t)) collector.memberLeft(t);
    if (collector.isDone()) return collector.done;
    try {
      this.send(msg, id, true, opts.flags, targets, anycast, collector);
    } catch (err) {
      // Refused before it went out (the marshaller): the call ends now and its state is freed.
      collector.cancel(err);
    }
    return collector.done;
  }

  /** Sends `msg` as a request that nobody answers (GET_NONE). */
  sendOneWay(targets: readonly Address[], msg: Message, opts: RequestOptions, anycast: boolean): Promise<void> {
    if (!this.channel.isConnected()) return Promise.reject(new ChannelStateError('ERR_CHANNEL_NOT_CONNECTED', 'a request needs a connected channel'));
    if (this.removeInterceptor === null) return Promise.reject(new ChannelStateError('ERR_CHANNEL_CLOSED', 'the dispatcher is stopped'));
    if (opts.signal?.aborted === true) return Promise.reject(new AbortError('the request was aborted before it was sent', opts.signal.reason));
    try {
      return this.send(msg, 0, false, opts.flags, targets, anycast, null);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  private send(
    msg: Message,
    id: number,
    rspExpected: boolean,
    flags: number,
    targets: readonly Address[],
    anycast: boolean,
    collector: Collector<unknown> | null,
  ): Promise<void> {
    msg.putHeader(REQUEST_HEADER_ID, { type: RequestType.REQ, id, corrId: this.corrId, rspExpected } satisfies RequestHeader);
    if (flags !== 0) msg.flags |= flags;
    // Marshalled once: the copies of an anycast share the bytes.
    msg.marshalWith(this.channel.getMarshaller());
    const sends: Promise<void>[] = [];
    if (anycast) {
      for (let i = 0; i < targets.length; i++) {
        const m = i === targets.length - 1 ? msg : msg.copy();
        m.dest = targets[i]!;
        sends.push(this.channel.send(m));
      }
    } else {
      msg.dest = null;
      sends.push(this.channel.send(msg));
    }
    this.stats.requestsSent += sends.length;
    const all = sends.length === 1 ? sends[0]! : Promise.all(sends).then(() => undefined);
    // A send the stack refuses (too large, marshalling, disconnected) ends the call with its error.
    if (collector !== null) all.then(undefined, (err) => collector.cancel(err));
    return all;
  }

  private readonly onMessage = (msg: Message): void => {
    const h = msg.getHeader<RequestHeader>(REQUEST_HEADER_ID)!;
    if (h.corrId !== this.corrId || msg.src === null) return;
    switch (h.type) {
      case RequestType.REQ:
        this.handleRequest(msg, msg.src, h);
        break;
      case RequestType.RSP:
      case RequestType.EXC:
        this.handleResponse(msg, msg.src, h);
        break;
      default:
        this.log.warn(`dropped a dispatcher message of unknown type ${h.type} from ${msg.src}`);
    }
  };

  private handleRequest(msg: Message, src: Address, h: RequestHeader): void {
    this.stats.requestsReceived++;
    if ((msg.flags & Flag.IN_STATE) !== 0) {
      // The state this member fetched already holds the request's effect: not run again, and
      // the caller learns why there is no result (instead of waiting for its timeout).
      this.stats.requestsInState++;
      if (h.rspExpected) this.reply(src, h.id, new TsgroupsError('ERR_IN_STATE', 'the request is contained in the state this member fetched; not run again'), true);
      return;
    }
    let result: unknown;
    try {
      result = this.handler(msg);
    } catch (err) {
      if (h.rspExpected) this.reply(src, h.id, err, true);
      else this.log.debug(`a one-way request from ${src} failed: ${errorText(err)}`);
      return;
    }
    if (isThenable(result)) {
      if (h.rspExpected) {
        result.then(
          (v) => this.reply(src, h.id, v, false),
          (e) => this.reply(src, h.id, e, true),
        );
      } else {
        result.then(undefined, (e) => this.log.debug(`a one-way request from ${src} failed: ${errorText(e)}`));
      }
    } else if (h.rspExpected) {
      this.reply(src, h.id, result, false);
    }
  }

  private reply(dest: Address, id: number, value: unknown, isError: boolean): void {
    if (this.channel.isConnecting() && this.removeInterceptor !== null) {
      // A joiner gets requests once the others installed the view with it, before its own
      // connect() has finished and it may send: the answer goes when it has.
      const me = this.channel.getAddress();
      if (this.joiningAs !== me) this.joiningReplies = [];
      this.joiningAs = me;
      this.joiningReplies.push(() => this.reply(dest, id, value, isError));
      return;
    }
    if (!this.channel.isConnected() || this.removeInterceptor === null) {
      this.stats.responsesDropped++;
      return;
    }
    const rsp = new Message(dest).setFlag(Flag.OOB);
    rsp.putHeader(REQUEST_HEADER_ID, { type: isError ? RequestType.EXC : RequestType.RSP, id, corrId: this.corrId, rspExpected: false } satisfies RequestHeader);
    try {
      // Always marshalled: `undefined` and a Uint8Array are results like any other.
      rsp.setArray(this.channel.getMarshaller().objectToBuffer(isError ? remoteErrorData(value, this.exposeStackTraces) : value));
    } catch (err) {
      // A result the marshaller refuses goes back as that error.
      if (!isError) this.reply(dest, id, err, true);
      else this.log.warn(`could not send an error response to ${dest}`, err);
      return;
    }
    if (isError) this.stats.errorsSent++;
    else this.stats.responsesSent++;
    this.channel.send(rsp).then(undefined, (err) => {
      this.stats.responsesDropped++;
      this.log.debug(`a response to ${dest} was not sent: ${errorText(err)}`);
    });
  }

  private handleResponse(msg: Message, src: Address, h: RequestHeader): void {
    const call = this.pending.get(h.id);
    if (call === undefined) {
      this.stats.lateResponses++;
      return;
    }
    this.stats.responsesReceived++;
    const c = call.collector;
    let value: unknown;
    try {
      value = msg.getObject();
    } catch (err) {
      c.addError(src, new TsgroupsError('ERR_MARSHALLING', `the response of ${src} could not be read: ${(err as Error).message}`, { cause: err }));
      return;
    }
    if (h.type === RequestType.EXC) {
      c.addError(src, remoteError(src, value));
      return;
    }
    const filter = call.filter;
    if (filter === null) {
      c.add(src, value);
      return;
    }
    let accepted: boolean;
    try {
      accepted = filter.isAcceptable(value, src);
    } catch (err) {
      c.addError(src, err);
      return;
    }
    if (accepted) c.add(src, value);
    else c.discard(src);
  }

  private readonly onView = (view: View): void => {
    if (this.pending.size === 0) return;
    for (const call of [...this.pending.values()]) call.collector.retainMembers(view.members);
  };

  private readonly onSuspect = (member: Address): void => {
    for (const call of [...this.pending.values()]) call.collector.memberLeft(member);
  };

  private readonly onConnected = (): void => {
    const due = this.joiningReplies;
    const from = this.joiningAs;
    this.joiningReplies = [];
    this.joiningAs = null;
    // Only answers of this connection: one that failed leaves answers for its old address behind.
    if (from === this.channel.getAddress()) for (const send of due) send();
  };

  private readonly onDisconnected = (): void => {
    this.cancelAll(new ChannelStateError('ERR_CHANNEL_NOT_CONNECTED', 'the channel disconnected while the call was waiting'));
  };

  private cancelAll(err: Error): void {
    for (const call of [...this.pending.values()]) call.collector.cancel(err);
    this.pending.clear();
  }
}

/** When a call is complete before every target answered or left (undefined: only then). */
function completion(mode: ResponseMode, filter: RspFilter | null, n: number): ((c: Collector<unknown>) => boolean) | undefined {
  const enough = filter === null ? null : () => !filter.needMoreResponses();
  switch (mode) {
    case ResponseMode.GET_FIRST:
      return (c) => c.numReceived() >= 1 || (enough !== null && enough());
    case ResponseMode.GET_MAJORITY: {
      const majority = (n >> 1) + 1;
      // Also done once a majority can no longer be reached.
      return (c) => c.numReceived() >= majority || c.numReceived() + c.numAwaited() < majority || (enough !== null && enough());
    }
    default:
      return enough ?? undefined;
  }
}

function isThenable(v: unknown): v is PromiseLike<unknown> {
  return v !== null && (typeof v === 'object' || typeof v === 'function') && typeof (v as { then?: unknown }).then === 'function';
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
