import type { Address } from './address.js';
import { ConfigError, TsgroupsError } from './errors.js';
import { type AnyEvent, type Event, type EventResult, EventType, type EventTypeValue } from './event.js';
import type { HeaderCodec } from './header.js';
import { ScopedLogger } from './logger.js';
import type { Message } from './message.js';
import type { MessageBatch } from './message-batch.js';
import { camelToSnake, convertProperty, type PropertyDecl, type PropertyDecls, snakeToCamel } from './properties.js';
import type { ProtocolStack } from './protocol-stack.js';
import type { TimeScheduler } from './time-scheduler.js';
import type { View } from './view.js';

/** What `down(msg)` returns: nothing, or a Promise when the send has to wait (flow control, RSVP). */
export type DownResult = void | Promise<void>;

/** The static side of a protocol class: what the registry and the XML configurator use. */
export interface ProtocolClass<P extends Protocol = Protocol> {
  new (): P;
  /**
   * The name used in XML, e.g. `UDP`, `NAKACK2`. A class that does not declare its own is
   * known by its class name (see {@link protocolNameOf}).
   */
  readonly protocolName: string;
  /** The protocol id: keys its header on the wire. 0 if the protocol has no header. */
  readonly id: number;
  /** Declared properties (merged along the class hierarchy). */
  readonly properties?: PropertyDecls;
  /** Encodes this protocol's header; required if the protocol puts headers on messages. */
  readonly headerCodec?: HeaderCodec;
  /** Services this protocol offers to the others, e.g. `transport`, `discovery`. */
  readonly provides?: readonly string[];
  /** Services that some protocol below this one must provide. */
  readonly requiresBelow?: readonly string[];
  /** Services that some protocol above this one must provide. */
  readonly requiresAbove?: readonly string[];
}

/**
 * The base of every protocol. Messages go down with {@link down} and come up with {@link up}
 * (one message) or {@link upBatch} (a datagram's worth); events travel with {@link downEvent}
 * and {@link upEvent}. Each default passes to the neighbour, so a protocol overrides only what
 * it handles. The hot path is synchronous: never await inside `up`/`down`.
 *
 * Lifecycle: `init` (once), `start` (at each connect), `stop` (at each disconnect), `destroy`
 * (at close). The stack calls `init`/`start` from the bottom up and `stop`/`destroy` from the
 * top down.
 */
export abstract class Protocol {
  static readonly protocolName: string = 'Protocol';
  static readonly id: number = 0;
  static readonly properties: PropertyDecls = {};
  static readonly headerCodec: HeaderCodec | undefined = undefined;
  static readonly provides: readonly string[] = [];
  static readonly requiresBelow: readonly string[] = [];
  static readonly requiresAbove: readonly string[] = [];

  /** The neighbour above (the stack's top adapter above the top protocol). */
  upProt!: Protocol;
  /** The neighbour below (unset on the transport). */
  downProt!: Protocol;
  /** The stack this protocol is part of. */
  stack!: ProtocolStack;
  protected readonly log: ScopedLogger;

  /**
   * The header id: the class's `static id`, copied at construction. A field, not a getter that
   * reads the constructor's static: protocols read it for every message (`getHeader(this.id)`),
   * and a lookup through `constructor` is megamorphic across protocol classes.
   */
  readonly id: number;

  constructor() {
    this.id = (this.constructor as ProtocolClass).id;
    this.log = new ScopedLogger(this.name);
  }

  /** The registered (XML) name: the class's own `static protocolName`, or else its class name. */
  get name(): string {
    return protocolNameOf(this.constructor as ProtocolClass);
  }
  /** The channel's scheduler: use it for every timer, it is closed with the channel. */
  get timer(): TimeScheduler {
    return this.stack.timer;
  }
  /** The channel's address (null before connect). */
  get localAddress(): Address | null {
    return this.stack.localAddress;
  }

  init(): void | Promise<void> {}
  start(): void | Promise<void> {}
  stop(): void | Promise<void> {}
  destroy(): void | Promise<void> {}

  down(msg: Message): DownResult {
    return this.downProt.down(msg);
  }
  /**
   * One message coming up. Override it to see every message that reaches this protocol, batched
   * or not: the default {@link upBatch} hands each message of a batch to this method when it is
   * overridden. Pass a message on with `super.up(msg)` (or `this.upProt.up(msg)`).
   */
  up(msg: Message): void {
    if (this.takesOwnMessages) {
      const h = msg.getHeader(this.id);
      if (h !== undefined) {
        this.handleOwnMessage(msg, h);
        return;
      }
    }
    this.upProt.up(msg);
  }

  /**
   * A datagram's worth of messages from one sender coming up. The contract, as JGroups'
   * `up(MessageBatch)`:
   * - a protocol that overrides neither `up` nor `upBatch` passes the batch on untouched, at
   *   no cost per message;
   * - a protocol that overrides only `up(msg)` gets every message of the batch there, one by
   *   one (what it passes on then travels up one message at a time);
   * - a protocol that overrides `upBatch` owns batches: it handles them whole, and should
   *   write its per-message rule once and call it from both methods.
   */
  upBatch(batch: MessageBatch): void {
    if (this.up !== Protocol.prototype.up) {
      batch.drain(this.upOne);
      return;
    }
    this.passUpBatch(batch);
  }

  /**
   * What the default `upBatch` does for a protocol that does not override `up`: hands its own
   * messages to {@link handleOwnMessage} and passes the rest up as one batch. A protocol that
   * overrides `upBatch` to look at the batch as a whole (FD_ALL3 notes the sender) ends with it.
   */
  protected passUpBatch(batch: MessageBatch): void {
    if (this.takesOwnMessages && batch.mayHaveHeader(this.id) && batch.removeIf(this.takeOwnMessage) > 0 && batch.isEmpty()) return;
    this.upProt.upBatch(batch);
  }

  // Bound once per protocol, so handing a batch to up(msg) allocates no closure. A message
  // that makes up() throw is logged and skipped: the rest of the batch still goes up.
  private readonly upOne = (msg: Message): void => {
    try {
      this.up(msg);
    } catch (err) {
      this.log.error(`up(${msg}) failed`, err);
    }
  };
  downEvent(evt: AnyEvent): unknown {
    if (evt.type === EventType.VIEW_CHANGE) this.viewChanged(evt.arg);
    return this.downProt.downEvent(evt);
  }
  upEvent(evt: AnyEvent): unknown {
    if (evt.type === EventType.VIEW_CHANGE) this.viewChanged(evt.arg);
    return this.upProt.upEvent(evt);
  }

  /**
   * Sends `evt` down and returns the answer of the protocol that handles it, typed by
   * `EventResults` (e.g. `this.ask(new Event(EventType.GET_LOCAL_PHYSICAL_ADDRESS))`).
   */
  protected ask<K extends EventTypeValue>(evt: Event<K>): EventResult<K> {
    return this.downProt.downEvent(evt as AnyEvent) as EventResult<K>;
  }

  /**
   * Called with every new view by the default `downEvent`/`upEvent`: GMS passes a view down to
   * the protocols below it and up to those above it, and this hook sees it either way. A
   * protocol that overrides those methods and needs the view handles VIEW_CHANGE itself.
   */
  protected viewChanged(_view: View): void {}

  /**
   * For protocols with control messages of their own: override it, and the default `up` and
   * `upBatch` hand it every message that carries this protocol's header (taking it out of its
   * batch), while every other message passes up, batches staying batches. The rule is written
   * once, here, for both paths.
   */
  protected handleOwnMessage(_msg: Message, _header: unknown): void {}

  /** True if this class overrides {@link handleOwnMessage} (looked up once, at construction). */
  private readonly takesOwnMessages: boolean = this.handleOwnMessage !== Protocol.prototype.handleOwnMessage;

  // Bound once per protocol, so the batch path allocates no closure.
  private readonly takeOwnMessage = (msg: Message): boolean => {
    const h = msg.getHeader(this.id);
    if (h === undefined) return false;
    this.handleOwnMessage(msg, h);
    return true;
  };

  /** Counters for monitoring (`tsgroups probe`, benchmarks). */
  getStats(): Record<string, number> {
    return {};
  }

  /**
   * The configuration check hook: throws a {@link ConfigError} (see {@link configError}) if this
   * protocol's property values do not fit together or with the rest of `stack` (a minimum above
   * its maximum, a fragment size above the transport's bundle size). `ProtocolStack.validate`
   * calls it for every protocol, bottom up, after the structural checks; so the Channel
   * constructor (and `stack.init()` at connect, for values set later) refuses such a stack.
   * Single values are checked by their declarations (type, min, max) when they are set; this
   * hook is for what depends on more than one value. It must not touch the network or timers.
   */
  checkConfig(_stack: ProtocolStack): void {}

  /** A {@link ConfigError} (`ERR_CONFIG_BAD_VALUE`) naming this protocol and `attribute`, for {@link checkConfig}. */
  protected configError(stack: ProtocolStack, attribute: string | undefined, detail: string): ConfigError {
    return new ConfigError('ERR_CONFIG_BAD_VALUE', detail, { source: stack.source, element: this.name, attribute });
  }

  /** All declared properties of this protocol's class and its ancestors, by field name. */
  static allProperties(cls: ProtocolClass): Map<string, PropertyDecl> {
    const chain: PropertyDecls[] = [];
    for (let c: unknown = cls; c && c !== Function.prototype; c = Object.getPrototypeOf(c)) {
      if (Object.prototype.hasOwnProperty.call(c, 'properties')) chain.unshift((c as ProtocolClass).properties!);
    }
    const out = new Map<string, PropertyDecl>();
    for (const decls of chain) for (const [k, v] of Object.entries(decls)) out.set(k, v);
    return out;
  }

  /**
   * Sets a declared property from text (as in XML: `"4M"`, `"1.5s"`) or a typed value.
   * `name` may be the field name (`mcastPort`) or the XML name (`mcast_port`).
   * @throws ConfigError if the property is unknown or the value does not fit
   */
  setValue(name: string, value: unknown, source = 'code'): this {
    const decls = Protocol.allProperties(this.constructor as ProtocolClass);
    const field = decls.has(name) ? name : snakeToCamel(name);
    const decl = decls.get(field);
    if (!decl) {
      const known = [...decls.keys()].map(camelToSnake).join(', ') || '(none)';
      throw new ConfigError('ERR_CONFIG_UNKNOWN_ATTRIBUTE', `${this.name} has no property "${name}"; known: ${known}`, {
        source,
        element: this.name,
        attribute: name,
      });
    }
    const result = convertProperty(decl, value);
    if ('error' in result) {
      throw new ConfigError('ERR_CONFIG_BAD_VALUE', result.error, { source, element: this.name, attribute: name });
    }
    (this as unknown as Record<string, unknown>)[decl.field ?? field] = result.value;
    return this;
  }

  setValues(values: Record<string, unknown>, source = 'code'): this {
    for (const [k, v] of Object.entries(values)) this.setValue(k, v, source);
    return this;
  }

  /** The current value of a declared property. */
  getValue(name: string): unknown {
    const decls = Protocol.allProperties(this.constructor as ProtocolClass);
    const field = decls.has(name) ? name : snakeToCamel(name);
    const decl = decls.get(field);
    if (!decl) throw new TsgroupsError('ERR_BAD_ARGUMENT', `${this.name} has no property "${name}"`);
    return (this as unknown as Record<string, unknown>)[decl.field ?? field];
  }

  toString(): string {
    return this.name;
  }
}

/**
 * The name a protocol class is known by: its own `static protocolName` if it declares one,
 * otherwise its class name (so `class Counter extends Protocol {}` is `Counter` in XML).
 */
export function protocolNameOf(cls: ProtocolClass): string {
  return Object.prototype.hasOwnProperty.call(cls, 'protocolName') ? cls.protocolName : cls.name;
}
