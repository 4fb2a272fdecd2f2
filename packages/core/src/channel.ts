import type { Readable, Writable } from 'node:stream';
import { EventEmitter } from 'eventemitter3';
import { Address, generateLogicalName, NameCache } from './address.js';
import { AbortError, channelClosed, channelNotConnected, ChannelStateError, TsgroupsError } from './errors.js';
import { type AnyEvent, Event, EventType } from './event.js';
import { ScopedLogger } from './logger.js';
import { Flag } from './flags.js';
import { jsonMarshaller, type Marshaller } from './marshaller.js';
import { Message } from './message.js';
import { MessageIterator, type IteratorHost, type MessagesOptions } from './message-iterator.js';
import type { PhysicalAddress } from './physical-address.js';
import type { MessageBatch } from './message-batch.js';
import { ProtocolStack, type UpHandler } from './protocol-stack.js';
import type { Protocol } from './protocol.js';
import type { ChannelListener, Receiver } from './receiver.js';
import { View } from './view.js';
import { loadStackXml, stackFromXml } from './xml-config.js';

/** The typed events a channel emits (in addition to calling its {@link Receiver}). */
export interface ChannelEvents {
  message: [msg: Message];
  view: [view: View];
  suspect: [member: Address];
  block: [];
  unblock: [];
  connected: [channel: Channel];
  disconnected: [channel: Channel];
  closed: [channel: Channel];
}

export type ChannelState = 'unconnected' | 'connecting' | 'connected' | 'closed';

/**
 * What a channel is built from: the name of a shipped stack (`'udp.xml'`) or a path to a stack
 * file, a stack, or protocols (bottom first). XML text goes to {@link Channel.fromXml}.
 */
export type StackSpec = string | ProtocolStack | Protocol[];

export interface ConnectOptions {
  /** Aborting gives up the join (and the state transfer) and leaves the channel unconnected. */
  signal?: AbortSignal;
  /**
   * Join and fetch the state as one step: after the join, as {@link Channel.getState}`(target,
   * timeout)`. If the transfer fails, the channel leaves again and connect rejects with its error.
   * The first member of a cluster has nobody to fetch from and just connects.
   */
  state?: { target?: Address | null; timeout?: number };
}

/** Options of {@link Channel.getState} (the state transfer). */
export interface GetStateOptions {
  /** Aborting gives up the transfer: getState rejects with `ERR_ABORTED`. */
  signal?: AbortSignal;
}

/** The state transfer's timeout when none is given (ms). */
export const DEFAULT_STATE_TIMEOUT = 10_000;

const RESOLVED: Promise<void> = Promise.resolve();
/**
 * Bytes sent without a break before send() lets the event loop run (see send()). 256 KiB: about
 * four full datagrams, so the break rarely flushes a half-empty one, and well below what flow
 * control lets a sender have outstanding (MFC's 4 MB, credited back after 40%).
 */
const SEND_YIELD_BYTES = 256 * 1024;

interface MessageInterceptor {
  readonly headerId: number;
  readonly handler: (msg: Message) => void;
}

/**
 * A member's handle on a group: connect to a cluster by name, send to one member or to all,
 * receive messages and views. States: unconnected -> connected -> unconnected ... -> closed,
 * as in JGroups; a call that the state does not allow raises a {@link ChannelStateError}.
 */
export class Channel extends EventEmitter<ChannelEvents> implements UpHandler {
  /**
   * Used by `new Channel()` without a stack: a shipped stack's name or a path. The `tsgroups`
   * package sets it to `'udp.xml'`, as JGroups defaults to its udp.xml.
   */
  static defaultStack: string | undefined = undefined;

  /**
   * A channel on the stack that the XML text `xml` configures (`<config>...</config>`).
   * @param source names the text in error messages (default `<inline xml>`)
   * @throws ConfigError naming the source, element and attribute at fault
   */
  static fromXml(xml: string, source?: string): Channel {
    return new Channel(stackFromXml(xml, { source }));
  }

  readonly stack: ProtocolStack;
  private state: ChannelState = 'unconnected';
  /** Bytes sent since send() last let the event loop run, and the Promise of that break while it is pending. */
  private bytesThisTurn = 0;
  private sendYield: Promise<void> | null = null;
  private name: string | null = null;
  private address: Address | null = null;
  private cluster: string | null = null;
  private view: View | null = null;
  private receiver: Receiver | null = null;
  private discardOwn = false;
  private marshaller: Marshaller = jsonMarshaller;
  private readonly channelListeners = new Set<ChannelListener>();
  private readonly log = new ScopedLogger('Channel');
  private pending: Promise<void> | null = null;
  /** Handlers that take the messages carrying their header away from the application (building blocks). */
  private interceptors: readonly MessageInterceptor[] = [];
  /** The distinct header ids of `interceptors`: one header lookup per id and message, however many share it. */
  private interceptedIds: readonly number[] = [];

  /**
   * @param stack the name of a shipped stack (`'udp.xml'`, `'loopback.xml'`: see
   *   `shippedStackNames()`), a path to an XML stack file, a {@link ProtocolStack}, or protocol
   *   instances from the bottom (transport) up; default {@link Channel.defaultStack}. A string is
   *   never read as XML text: that is {@link Channel.fromXml}.
   * @throws ConfigError naming the source, element and attribute at fault, for every
   *   configuration error: a name or path not found (`ERR_CONFIG_STACK_NOT_FOUND`), malformed
   *   XML or an element nested in a protocol element (`ERR_CONFIG_XML`), an unknown protocol or
   *   attribute, a value of the wrong type or out of its bounds, values that do not fit
   *   together (a protocol's `checkConfig`, `ERR_CONFIG_BAD_VALUE`), a requirement unmet, a
   *   unique service provided twice or no membership protocol (GMS) (`ERR_STACK_DEPENDENCY`).
   *   A stack the constructor accepts does not fail at `connect` for a configuration reason,
   *   only for what the machine decides (a port in use).
   */
  constructor(stack?: StackSpec) {
    super();
    const spec = stack ?? Channel.defaultStack;
    if (spec === undefined) {
      throw new TsgroupsError(
        'ERR_BAD_ARGUMENT',
        'new Channel(): no stack given and no Channel.defaultStack set (the tsgroups package sets it to udp.xml)',
      );
    }
    if (typeof spec === 'string') this.stack = loadStackXml(spec);
    else if (spec instanceof ProtocolStack) this.stack = spec;
    else this.stack = new ProtocolStack(spec);
    // Every configuration error surfaces here, not at connect: structure, services, each
    // protocol's checkConfig, and a membership protocol (a channel without GMS gets no view).
    this.stack.validate({ forChannel: true });
    this.stack.setUpHandler(this);
  }

  // ---- configuration ----
  /** Sets the logical name; takes effect at the next connect. */
  setName(name: string): this {
    this.assertNotClosed('setName');
    this.name = name;
    return this;
  }
  /** The logical name (generated at connect if none was set). */
  getName(): string | null {
    return this.name;
  }
  setReceiver(receiver: Receiver | null): this {
    this.receiver = receiver;
    return this;
  }
  getReceiver(): Receiver | null {
    return this.receiver;
  }
  /** If true, this member's own multicasts are not delivered back to it. */
  setDiscardOwnMessages(flag: boolean): this {
    this.discardOwn = flag;
    return this;
  }
  getDiscardOwnMessages(): boolean {
    return this.discardOwn;
  }
  /** The marshaller used by `send(dest, value)` and by `getObject()` on received messages. */
  setMarshaller(m: Marshaller): this {
    this.marshaller = m;
    return this;
  }
  getMarshaller(): Marshaller {
    return this.marshaller;
  }
  addChannelListener(l: ChannelListener): this {
    this.channelListeners.add(l);
    return this;
  }
  removeChannelListener(l: ChannelListener): this {
    this.channelListeners.delete(l);
    return this;
  }
  getProtocolStack(): ProtocolStack {
    return this.stack;
  }

  // ---- state ----
  /** The channel's lifecycle state. */
  getState(): ChannelState;
  /**
   * Fetches the application state from `target` (null: the coordinator, or the first other
   * member if we are the coordinator), as JGroups' `getState(target, timeout)`: the provider's
   * `receiver.getState(output)` writes it, this channel's `receiver.setState(input)` reads it,
   * streamed in chunks with backpressure. Multicasts that arrive meanwhile are held and passed
   * on after `setState`, so each update is in the state or delivered after it, exactly once.
   * Needs STATE_TRANSFER and BARRIER in the stack (udp.xml and loopback-reliable.xml have them).
   * @param timeout ms for the whole transfer (default 10 s; 0: no limit)
   * @throws TsgroupsError `ERR_STATE_NO_PROVIDER` (no other member, or the provider has no
   *   getState), `ERR_STATE_PROVIDER_FAILED` (its getState threw, or it left), `ERR_STATE_BAD_TARGET`
   *   (not a member, or ourselves), `ERR_STATE_SET_FAILED` (our setState threw), `ERR_TIMEOUT`,
   *   `ERR_ABORTED`, `ERR_STATE_BUSY` (a transfer is under way), `ERR_STACK` (no STATE_TRANSFER)
   */
  getState(target: Address | null, timeout?: number, options?: GetStateOptions): Promise<void>;
  getState(...args: [] | [Address | null, number?, GetStateOptions?]): ChannelState | Promise<void> {
    if (args.length === 0) return this.state;
    try {
      return this.fetchState(args[0], args[1] ?? DEFAULT_STATE_TIMEOUT, args[2]?.signal);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  private fetchState(target: Address | null, timeout: number, signal: AbortSignal | undefined): Promise<void> {
    if (this.state !== 'connected') throw this.state === 'closed' ? channelClosed('getState') : channelNotConnected('getState');
    if (target !== null && !(target instanceof Address)) throw new TsgroupsError('ERR_BAD_ARGUMENT', 'getState: the target must be an Address or null');
    if (typeof timeout !== 'number' || !(timeout >= 0)) throw new TsgroupsError('ERR_BAD_ARGUMENT', `getState: bad timeout ${String(timeout)}`);
    if (!this.receiver?.setState) throw new TsgroupsError('ERR_BAD_ARGUMENT', 'getState: the receiver has no setState to take the state');
    if (signal?.aborted) throw new AbortError('getState aborted', signal.reason);
    const run = this.stack.downEvent(new Event(EventType.GET_STATE, { target, timeout, signal }));
    if (!(run instanceof Promise)) {
      throw new TsgroupsError('ERR_STACK', 'getState: the stack has no STATE_TRANSFER protocol (udp.xml and loopback-reliable.xml have one)');
    }
    return run as Promise<void>;
  }
  isConnected(): boolean {
    return this.state === 'connected';
  }
  isConnecting(): boolean {
    return this.state === 'connecting';
  }
  isOpen(): boolean {
    return this.state !== 'closed';
  }
  isClosed(): boolean {
    return this.state === 'closed';
  }
  /** The address while connected (or connecting), else null. A reconnect yields a new address. */
  getAddress(): Address | null {
    return this.isAttached() ? this.address : null;
  }
  getAddressAsString(): string {
    return this.address?.toString() ?? 'n/a';
  }
  getClusterName(): string | null {
    return this.isAttached() ? this.cluster : null;
  }
  /** The current view while connected, else null (inside the first `viewAccepted`, that view). */
  getView(): View | null {
    return this.isAttached() ? this.view : null;
  }
  /**
   * Where this member receives unicasts: the host and bound port of the transport's socket
   * (with `bind_port="0"`, the port the system chose). Null while not connected, and on an
   * in-process transport (SHARED_LOOPBACK), which has no socket.
   */
  getPhysicalAddress(): PhysicalAddress | null {
    if (!this.isAttached()) return null;
    return this.stack.ask(new Event(EventType.GET_LOCAL_PHYSICAL_ADDRESS)) ?? null;
  }
  private isAttached(): boolean {
    return this.state === 'connected' || this.state === 'connecting';
  }

  // ---- lifecycle ----
  /**
   * Joins `cluster`, or founds it if nobody else is there. Resolves once the first view that
   * contains this member is installed. Does nothing if already connected.
   * @throws ChannelStateError if the channel is closed or a connect/disconnect is under way
   */
  async connect(cluster: string, options: ConnectOptions = {}): Promise<void> {
    this.assertNotClosed('connect');
    if (this.state === 'connected') {
      if (cluster !== this.cluster) {
        throw new TsgroupsError('ERR_BAD_ARGUMENT', `connect(${cluster}): already connected to ${this.cluster}`);
      }
      return;
    }
    if (this.pending) throw new ChannelStateError('ERR_CHANNEL_CONNECTING', 'connect: a connect or disconnect is under way');
    if (typeof cluster !== 'string' || cluster === '') throw new TsgroupsError('ERR_BAD_ARGUMENT', 'connect: a cluster name is required');
    const signal = options.signal;
    if (signal?.aborted) throw new AbortError('connect aborted', signal.reason);
    const state = options.state;
    if (state !== undefined && !this.receiver?.setState) {
      throw new TsgroupsError('ERR_BAD_ARGUMENT', 'connect with state: the receiver has no setState to take the state');
    }
    const run = this.doConnect(cluster, signal);
    this.pending = run;
    try {
      await run;
    } finally {
      this.pending = null;
    }
    if (state === undefined) return;
    const target = state.target ?? null;
    // The founder of a cluster has nobody to ask.
    if (target === null && (this.view?.size() ?? 1) <= 1) return;
    try {
      await this.fetchState(target, state.timeout ?? DEFAULT_STATE_TIMEOUT, signal);
    } catch (err) {
      await this.disconnect();
      throw err;
    }
  }

  private async doConnect(cluster: string, signal: AbortSignal | undefined): Promise<void> {
    this.state = 'connecting';
    this.address = Address.random();
    this.name ??= generateLogicalName();
    NameCache.add(this.address, this.name);
    this.cluster = cluster;
    this.view = null;
    const stack = this.stack;
    stack.localAddress = this.address;
    stack.clusterName = cluster;
    let started = false;
    try {
      await stack.init();
      throwIfAborted(signal);
      stack.downEvent(new Event(EventType.SET_LOCAL_ADDRESS, this.address));
      stack.downEvent(new Event(EventType.SET_CLUSTER_NAME, cluster));
      await stack.start();
      started = true;
      throwIfAborted(signal);
      const joined = Promise.resolve(stack.downEvent(new Event(EventType.CONNECT, cluster)));
      if (signal) {
        // Once aborted, the join's own outcome (it fails when the stack stops) concerns nobody:
        // it must not surface as an unhandled rejection.
        joined.catch(ignore);
        await raceAbort(joined, signal);
      } else {
        await joined;
      }
      if (this.state !== 'connecting') throw channelClosed('connect');
    } catch (err) {
      if (started) await stack.stop();
      this.resetConnection();
      if (this.state === 'connecting') this.state = 'unconnected';
      throw err;
    }
    this.state = 'connected';
    this.notify('connected');
  }

  /** Leaves the cluster; the channel can connect again later (with a new address). */
  async disconnect(): Promise<void> {
    if (this.state === 'closed' || this.state === 'unconnected') return;
    if (this.pending) {
      await this.pending.catch(() => undefined);
      if (this.state !== 'connected') return;
    }
    const run = this.doDisconnect();
    this.pending = run;
    try {
      await run;
    } finally {
      this.pending = null;
    }
  }

  private async doDisconnect(): Promise<void> {
    try {
      await this.stack.downEvent(new Event(EventType.DISCONNECT));
    } catch (err) {
      this.log.warn('leaving the cluster failed; stopping anyway', err);
    }
    await this.stack.stop();
    this.resetConnection();
    this.state = 'unconnected';
    this.notify('disconnected');
  }

  /** Disconnects if needed and releases every resource; the channel cannot be used again. */
  async close(): Promise<void> {
    if (this.state === 'closed') return;
    await this.disconnect();
    await this.stack.destroy();
    this.state = 'closed';
    this.notify('closed');
    this.removeAllListeners();
  }

  // ---- sending ----
  /**
   * Sends a message. `send(dest, data)`: `dest` null = every member; `data` is bytes (sent as
   * they are) or a value for the marshaller. `send(msg)` sends a prepared {@link Message}.
   * The Promise settles when the stack has taken the message (after flow control or RSVP
   * when those apply), not when it is delivered. When the stack takes it at once the Promise is
   * settled already, except after every 256 KiB sent without a break: then it settles in the
   * next turn of the event loop, so that a loop awaiting each send() lets the member receive
   * (and credit the other senders) between its bursts instead of keeping the thread until its
   * credits run out.
   */
  send(msg: Message): Promise<void>;
  send(dest: Address | null, data?: unknown): Promise<void>;
  send(destOrMsg: Message | Address | null, data?: unknown): Promise<void> {
    if (this.state !== 'connected') {
      return Promise.reject(this.state === 'closed' ? channelClosed('send') : channelNotConnected('send'));
    }
    let msg: Message;
    try {
      if (destOrMsg instanceof Message) msg = destOrMsg.marshalWith(this.marshaller);
      else if (destOrMsg === null || destOrMsg instanceof Address) {
        msg = new Message(destOrMsg);
        if (data instanceof Uint8Array) msg.setArray(data);
        // send(dest, undefined) carries undefined; only send(dest) sends an empty payload.
        else if (data !== undefined || arguments.length > 1) msg.setObject(data, this.marshaller);
      } else {
        throw new TsgroupsError('ERR_BAD_ARGUMENT', 'send: the destination must be an Address or null');
      }
      if (msg.src === null) msg.src = this.address;
      const res = this.stack.down(msg);
      if (res !== undefined) return res;
      // A sender awaiting each send() in a loop would keep the thread to itself while credits
      // last: let the event loop run (receive, credit the other senders) every so many bytes.
      if ((this.bytesThisTurn += msg.getLength()) < SEND_YIELD_BYTES) return RESOLVED;
      return (this.sendYield ??= new Promise<void>((resolve) =>
        setImmediate(() => {
          this.bytesThisTurn = 0;
          this.sendYield = null;
          resolve();
        }),
      ));
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /**
   * An async iterator over received messages (an alternative to a receiver), for one consumer:
   * `for await (const msg of ch.messages()) ...`. It sees the messages that arrive from the
   * moment it is made; one made before `connect` sees those of the next connection. It ends
   * when the channel disconnects or closes (after handing out what it buffered), when `signal`
   * aborts or the loop breaks (dropping what it buffered), and at once on a closed channel.
   *
   * It buffers what the consumer has not taken yet ({@link MessageIterator.pending}). From
   * `highWaterMark` buffered messages (default 1000) until it is down to `lowWaterMark`
   * (default half of that), the channel tells the stack that the application is behind: MFC and
   * UFC then stop crediting senders back, so that each sender can send this member at most its
   * `max_credits` more bytes until the consumer catches up. Nothing is dropped. Without flow
   * control in the stack nothing holds senders back and the buffer grows without bound (a
   * warning is logged the first time).
   * @throws TsgroupsError `ERR_BAD_ARGUMENT` for a bad high- or low-water mark
   */
  messages(options: MessagesOptions = {}): MessageIterator {
    const it = new MessageIterator(this.iteratorHost, options, this.state !== 'closed');
    if (!it.isEnded) this.iterators.push(it);
    return it;
  }

  private readonly iterators: MessageIterator[] = [];
  /** Iterators between their high- and low-water marks. */
  private iteratorsBehind = 0;
  private warnedUnboundedIterator = false;
  private readonly iteratorHost: IteratorHost = {
    consumerBehind: (it, behind) => {
      if (behind ? this.iteratorsBehind++ > 0 : --this.iteratorsBehind > 0) return;
      if (this.state !== 'connected' && this.state !== 'connecting') return;
      let held: unknown;
      try {
        held = this.stack.downEvent(new Event(behind ? EventType.CONSUMER_BEHIND : EventType.CONSUMER_CAUGHT_UP));
      } catch (err) {
        this.log.warn(`telling the stack that the application ${behind ? 'is behind' : 'caught up'} failed`, err);
      }
      if (behind && held !== true && !this.warnedUnboundedIterator) {
        this.warnedUnboundedIterator = true;
        this.log.warn(
          `messages(): ${it.pending} messages wait for the consumer and no flow control protocol (MFC, UFC) in the ` +
            'stack holds senders back: the iterator buffers without bound',
        );
      }
    },
    detach: (it) => {
      const i = this.iterators.indexOf(it);
      if (i >= 0) this.iterators.splice(i, 1);
    },
  };

  // ---- from the stack (UpHandler) ----
  /**
   * Routes every message that carries a header of `headerId` to `handler` instead of the
   * application (receiver, 'message' listeners, `messages()`), own multicasts included whatever
   * `setDiscardOwnMessages` says. The building blocks use it: the dispatchers' requests and
   * responses never reach your receiver. Several handlers may share a header id; each sees every
   * such message. Returns a function that removes the handler.
   */
  addMessageInterceptor(headerId: number, handler: (msg: Message) => void): () => void {
    const entry: MessageInterceptor = { headerId, handler };
    this.setInterceptors([...this.interceptors, entry]);
    return () => this.setInterceptors(this.interceptors.filter((e) => e !== entry));
  }

  private setInterceptors(list: readonly MessageInterceptor[]): void {
    this.interceptors = list;
    this.interceptedIds = [...new Set(list.map((e) => e.headerId))];
  }

  /** @internal */
  up(msg: Message): void {
    if (this.marshaller !== jsonMarshaller) msg.marshaller = this.marshaller;
    if (this.interceptedIds.length > 0 && this.intercept(msg)) return;
    // Contained in the state we fetched: for the building blocks' eyes only.
    if ((msg.flags & Flag.IN_STATE) !== 0) return;
    if (this.discardOwn && msg.src === this.address) return;
    const r = this.receiver;
    if (r?.receive) {
      try {
        r.receive(msg);
      } catch (err) {
        this.log.error(`receiver.receive threw for ${msg}`, err);
      }
    }
    if (this.listenerCount('message') > 0) this.safeEmit('message', msg);
    const its = this.iterators;
    for (let i = 0; i < its.length; i++) its[i]!.push(msg);
  }

  /** @internal */
  upBatch(batch: MessageBatch): void {
    batch.forEach((m) => this.up(m));
  }

  /** @internal */
  upEvent(evt: AnyEvent): unknown {
    switch (evt.type) {
      case EventType.VIEW_CHANGE: {
        const view = evt.arg;
        this.view = view;
        this.callReceiver('viewAccepted', view);
        this.safeEmit('view', view);
        break;
      }
      case EventType.SUSPECT:
        for (const a of evt.arg) {
          this.callReceiver('suspect', a);
          this.safeEmit('suspect', a);
        }
        break;
      case EventType.BLOCK:
        this.callReceiver('block');
        this.safeEmit('block');
        break;
      case EventType.UNBLOCK:
        this.callReceiver('unblock');
        this.safeEmit('unblock');
        break;
      case EventType.GET_APPLSTATE:
        return this.callStateCallback('getState', evt.arg);
      case EventType.SET_APPLSTATE:
        return this.callStateCallback('setState', evt.arg);
    }
    return undefined;
  }

  override toString(): string {
    return `Channel(${this.name ?? '?'}, ${this.state}${this.cluster ? `, ${this.cluster}` : ''})`;
  }

  // ---- internals ----
  /** Hands `msg` to the interceptors of a header it carries; true if there were any. */
  private intercept(msg: Message): boolean {
    const ids = this.interceptedIds;
    let taken = false;
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i]!;
      if (msg.getHeader(id) === undefined) continue;
      taken = true;
      for (const ic of this.interceptors) {
        if (ic.headerId !== id) continue;
        try {
          ic.handler(msg);
        } catch (err) {
          this.log.error(`a message interceptor threw for ${msg}`, err);
        }
      }
    }
    return taken;
  }


  private assertNotClosed(op: string): void {
    if (this.state === 'closed') throw channelClosed(op);
  }

  private resetConnection(): void {
    if (this.address) NameCache.remove(this.address);
    this.view = null;
    this.stack.localAddress = null;
    this.stack.clusterName = null;
  }

  private callReceiver(cb: 'viewAccepted' | 'suspect' | 'block' | 'unblock', arg?: unknown): void {
    const fn = this.receiver?.[cb] as ((a?: unknown) => void) | undefined;
    if (!fn) return;
    try {
      fn.call(this.receiver, arg);
    } catch (err) {
      this.log.error(`receiver.${cb} threw`, err);
    }
  }

  /** The receiver's getState/setState as a Promise (a throw becomes a rejection); undefined if it has none. */
  private callStateCallback(cb: 'getState' | 'setState', stream: Writable | Readable): Promise<unknown> | undefined {
    const r = this.receiver;
    const fn = r?.[cb] as ((s: unknown) => unknown) | undefined;
    if (!fn) return undefined;
    try {
      return Promise.resolve(fn.call(r, stream));
    } catch (err) {
      return Promise.reject(err);
    }
  }

  private safeEmit<K extends keyof ChannelEvents>(event: K, ...args: ChannelEvents[K]): void {
    try {
      (this.emit as (e: K, ...a: ChannelEvents[K]) => boolean)(event, ...args);
    } catch (err) {
      this.log.error(`a '${event}' listener threw`, err);
    }
  }

  private notify(what: 'connected' | 'disconnected' | 'closed'): void {
    if (what !== 'connected') for (const it of this.iterators.slice()) it.end(false);
    const method = what === 'connected' ? 'channelConnected' : what === 'disconnected' ? 'channelDisconnected' : 'channelClosed';
    for (const l of this.channelListeners) {
      try {
        l[method]?.(this);
      } catch (err) {
        this.log.error(`channel listener ${method} threw`, err);
      }
    }
    this.safeEmit(what, this);
  }
}

function ignore(): void {}

function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new AbortError('connect aborted', signal.reason);
}

function raceAbort<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(new AbortError('connect aborted', signal.reason));
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(new AbortError('connect aborted', signal.reason));
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e) => {
        signal.removeEventListener('abort', onAbort);
        reject(e);
      },
    );
  });
}
