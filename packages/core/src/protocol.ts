import type { Address } from './address.js';
import { ConfigError, TsgroupsError } from './errors.js';
import { type Event, EventType } from './event.js';
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
  /** The name used in XML, e.g. `UDP`, `NAKACK2`. */
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

  constructor() {
    this.log = new ScopedLogger(this.name);
  }

  /** The registered (XML) name. */
  get name(): string {
    return (this.constructor as ProtocolClass).protocolName;
  }
  /** The header id. */
  get id(): number {
    return (this.constructor as ProtocolClass).id;
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
  up(msg: Message): void {
    this.upProt.up(msg);
  }
  upBatch(batch: MessageBatch): void {
    this.upProt.upBatch(batch);
  }
  downEvent(evt: Event): unknown {
    if (evt.type === EventType.VIEW_CHANGE) this.viewChanged(evt.arg as View);
    return this.downProt.downEvent(evt);
  }
  upEvent(evt: Event): unknown {
    if (evt.type === EventType.VIEW_CHANGE) this.viewChanged(evt.arg as View);
    return this.upProt.upEvent(evt);
  }

  /**
   * Called with every new view by the default `downEvent`/`upEvent`: GMS passes a view down to
   * the protocols below it and up to those above it, and this hook sees it either way. A
   * protocol that overrides those methods and needs the view handles VIEW_CHANGE itself.
   */
  protected viewChanged(_view: View): void {}

  /**
   * For protocols with control messages of their own: call from `up`. A message that carries
   * this protocol's header goes to {@link handleOwnMessage}; any other passes up.
   */
  protected upOrHandle(msg: Message): void {
    const h = msg.getHeader(this.id);
    if (h === undefined) this.upProt.up(msg);
    else this.handleOwnMessage(msg, h);
  }

  /** The batch form of {@link upOrHandle}: own messages are taken out, the rest pass up together. */
  protected upBatchOrHandle(batch: MessageBatch): void {
    batch.removeIf(this.takeOwnMessage);
    if (!batch.isEmpty()) this.upProt.upBatch(batch);
  }

  /** Handles a message that carries this protocol's header (see {@link upOrHandle}). */
  protected handleOwnMessage(_msg: Message, _header: unknown): void {}

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
