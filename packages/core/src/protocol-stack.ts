import type { Address } from './address.js';
import { ConfigError, MessageTooLargeError, TsgroupsError } from './errors.js';
import { camelToSnake, convertProperty, type PropertyType } from './properties.js';
import type { AnyEvent, Event, EventResult, EventTypeValue } from './event.js';
import { ScopedLogger } from './logger.js';
import type { Message } from './message.js';
import type { MessageBatch } from './message-batch.js';
import { type DownResult, Protocol, type ProtocolClass } from './protocol.js';
import { TimeScheduler } from './time-scheduler.js';

/** What a transport reports about the size of what it can send (see {@link ProtocolStack.setMessageSizeLimit}). */
export interface MessageSizeLimit {
  /**
   * The largest `msg.size()` that a message entering the stack at the top may have and still
   * fit one datagram to `dest` (null: a multicast), leaving room for the headers the protocols
   * below add; Infinity where there is no limit (a message to oneself).
   */
  maxMessageSize(dest: Address | null): number;
}

/** What sits above the stack (the channel): receives what the top protocol passes up. */
export interface UpHandler {
  up(msg: Message): void;
  upBatch(batch: MessageBatch): void;
  upEvent(evt: AnyEvent): unknown;
}

/** Adapter between the top protocol and the owner of the stack. */
class TopProtocol extends Protocol {
  static override readonly protocolName = 'TOP';
  constructor(private readonly owner: { handler: UpHandler | null }) {
    super();
  }
  override up(msg: Message): void {
    this.owner.handler?.up(msg);
  }
  override upBatch(batch: MessageBatch): void {
    this.owner.handler?.upBatch(batch);
  }
  override upEvent(evt: AnyEvent): unknown {
    return this.owner.handler?.upEvent(evt);
  }
}

export type ProtocolRef = string | ProtocolClass | Protocol;
export type Position = 'above' | 'below';

type Phase = 'created' | 'initialized' | 'started' | 'destroyed';

/**
 * An ordered list of protocols, the transport at the bottom. Built from XML by the
 * configurator or in code with {@link addProtocol} (bottom first, as in the XML).
 */
export class ProtocolStack {
  /** The channel's scheduler; closed when the stack is destroyed. */
  readonly timer = new TimeScheduler((err) => this.log.error('timer task failed', err));
  /** The member's address while connected. */
  localAddress: Address | null = null;
  /** The cluster name while connected. */
  clusterName: string | null = null;
  /** Where the configuration came from (for error messages). */
  source: string;
  private readonly protocols: Protocol[] = []; // bottom -> top
  private readonly owner: { handler: UpHandler | null } = { handler: null };
  private readonly top = new TopProtocol(this.owner);
  private phase: Phase = 'created';
  private readonly log = new ScopedLogger('ProtocolStack');
  /** What the transport can send (null: not started, or no limit). */
  private sizeLimit: MessageSizeLimit | null = null;
  /** Whether a protocol provides `fragmentation` (then nothing is too large at the top). */
  private fragmenting = false;

  constructor(protocols: Protocol[] = [], source = 'code') {
    this.source = source;
    this.top.stack = this;
    for (const p of protocols) this.addProtocol(p);
  }

  setUpHandler(handler: UpHandler | null): void {
    this.owner.handler = handler;
  }

  /** Adds `p` on top of the protocols added so far (the first one added is the transport). */
  addProtocol(p: Protocol): this {
    this.protocols.push(p);
    this.relink();
    return this;
  }

  addProtocols(...ps: Protocol[]): this {
    for (const p of ps) this.addProtocol(p);
    return this;
  }

  /**
   * Inserts `p` above or below `neighbour`. On a running stack the new protocol is
   * initialised and started before it is linked in.
   */
  async insertProtocol(p: Protocol, position: Position, neighbour: ProtocolRef): Promise<void> {
    const i = this.indexOf(neighbour);
    if (i < 0) throw new TsgroupsError('ERR_STACK', `insertProtocol: no protocol ${refName(neighbour)} in the stack`);
    if (position === 'below' && i === 0) {
      throw new TsgroupsError('ERR_STACK', `insertProtocol: nothing can go below the transport ${this.protocols[0]!.name}`);
    }
    const at = position === 'above' ? i + 1 : i;
    // Validate with p in place before running its lifecycle: an invalid insert leaves the stack as it was.
    this.protocols.splice(at, 0, p);
    try {
      this.validate();
    } finally {
      this.protocols.splice(at, 1);
    }
    p.stack = this;
    if (this.phase === 'initialized' || this.phase === 'started') await p.init();
    if (this.phase === 'started') await p.start();
    this.protocols.splice(at, 0, p);
    this.relink();
  }

  /** Removes a protocol (stopping and destroying it if the stack runs); returns it, or undefined. */
  async removeProtocol(ref: ProtocolRef): Promise<Protocol | undefined> {
    const i = this.indexOf(ref);
    if (i < 0) return undefined;
    if (i === 0) throw new TsgroupsError('ERR_STACK', 'removeProtocol: the transport cannot be removed');
    const [p] = this.protocols.splice(i, 1);
    this.relink();
    try {
      this.validate();
    } catch (err) {
      this.protocols.splice(i, 0, p!);
      this.relink();
      throw err;
    }
    if (this.phase === 'started') await p!.stop();
    if (this.phase === 'started' || this.phase === 'initialized') await p!.destroy();
    return p;
  }

  findProtocol<P extends Protocol = Protocol>(ref: string | ProtocolClass<P>): P | undefined {
    const i = this.indexOf(ref);
    return i < 0 ? undefined : (this.protocols[i] as P);
  }

  /** The protocols from the top down, as JGroups lists them. */
  getProtocols(): Protocol[] {
    return this.protocols.slice().reverse();
  }
  getTransport(): Protocol {
    const t = this.protocols[0];
    if (!t) throw new TsgroupsError('ERR_STACK', 'the stack is empty');
    return t;
  }
  getTopProtocol(): Protocol | undefined {
    return this.protocols[this.protocols.length - 1];
  }

  /**
   * Services that at most one protocol of a stack may provide: two discovery protocols (PING
   * and SHARED_LOOPBACK_PING) or two retransmission protocols for multicasts would each act on
   * their own and confuse the other. Add the name of a service of your own if it must be unique
   * too. (`failure-detection` and `flow-control` are not here: FD_SOCK2 with FD_ALL3, and MFC
   * with UFC, are meant to be combined.)
   */
  static readonly uniqueServices = new Set<string>([
    'transport',
    'discovery',
    'gms',
    'reliable-multicast',
    'reliable-unicast',
    'stability',
    'fragmentation',
    'merge-detection',
    'rsvp',
  ]);

  /**
   * Checks the stack: it is not empty, names are unique, a service of
   * {@link ProtocolStack.uniqueServices} is provided once at most, what each protocol requires
   * below or above is provided there, and each protocol's {@link Protocol.checkConfig} passes.
   * With `forChannel` (what the Channel constructor asks), the stack must also contain a
   * membership protocol (one that provides `gms`, such as GMS): without one a channel would
   * "connect" without ever installing a view. A stack without GMS is still fine for unit tests
   * of protocols that drive it directly.
   * @throws ConfigError `ERR_STACK_DEPENDENCY` naming the protocol and the missing service,
   *   `ERR_STACK` for an empty stack or a protocol listed twice, or the error of a protocol's
   *   configuration check (`ERR_CONFIG_BAD_VALUE` naming its element and attribute)
   */
  validate(options: { forChannel?: boolean } = {}): void {
    const source = this.source;
    const fail = (code: 'ERR_STACK' | 'ERR_STACK_DEPENDENCY', element: string, detail: string): never => {
      throw new ConfigError(code, detail, { source, element });
    };
    if (this.protocols.length === 0) fail('ERR_STACK', 'config', 'the stack has no protocols');
    const t = this.protocols[0]!;
    if (!providesOf(t).includes('transport')) fail('ERR_STACK_DEPENDENCY', t.name, `the bottom protocol ${t.name} is not a transport`);
    const seen = new Set<string>();
    const providers = new Map<string, Protocol>();
    this.protocols.forEach((p, i) => {
      if (seen.has(p.name)) fail('ERR_STACK', p.name, `protocol ${p.name} appears twice`);
      seen.add(p.name);
      if (i > 0 && providesOf(p).includes('transport')) fail('ERR_STACK_DEPENDENCY', p.name, `transport ${p.name} must be the bottom protocol`);
      for (const service of providesOf(p)) {
        const other = providers.get(service);
        if (other && ProtocolStack.uniqueServices.has(service)) {
          fail('ERR_STACK_DEPENDENCY', p.name, `${p.name} and ${other.name} both provide "${service}"; a stack takes one of them`);
        }
        providers.set(service, p);
      }
      const cls = p.constructor as ProtocolClass;
      for (const need of cls.requiresBelow ?? []) {
        if (!this.protocols.slice(0, i).some((q) => providesOf(q).includes(need))) {
          fail('ERR_STACK_DEPENDENCY', p.name, `${p.name} requires "${need}" below it, and no protocol below provides it`);
        }
      }
      for (const need of cls.requiresAbove ?? []) {
        if (!this.protocols.slice(i + 1).some((q) => providesOf(q).includes(need))) {
          fail('ERR_STACK_DEPENDENCY', p.name, `${p.name} requires "${need}" above it, and no protocol above provides it`);
        }
      }
    });
    if (options.forChannel && !providers.has('gms')) {
      fail(
        'ERR_STACK_DEPENDENCY',
        'config',
        `a channel's stack needs a membership protocol (one that provides "gms", such as GMS); found ${this.printProtocolSpec()}`,
      );
    }
    for (const p of this.protocols) {
      checkDeclaredValues(p, source);
      p.checkConfig(this);
    }
  }

  /** Initialises every protocol, bottom up. */
  async init(): Promise<void> {
    if (this.phase !== 'created') return;
    this.validate();
    for (const p of this.protocols) await p.init();
    this.phase = 'initialized';
  }

  /** Starts every protocol, bottom up; on failure stops those already started. */
  async start(): Promise<void> {
    if (this.phase === 'started') return;
    if (this.phase !== 'initialized') throw new TsgroupsError('ERR_STACK', `cannot start a stack that is ${this.phase}`);
    const started: Protocol[] = [];
    try {
      for (const p of this.protocols) {
        await p.start();
        started.push(p);
      }
    } catch (err) {
      for (const p of started.reverse()) await safely(() => p.stop(), (e) => this.log.warn(`stop of ${p.name} failed`, e));
      throw err;
    }
    this.phase = 'started';
  }

  /** Stops every protocol, top down. Never throws: a failing protocol is logged. */
  async stop(): Promise<void> {
    if (this.phase !== 'started') return;
    for (const p of this.getProtocols()) await safely(() => p.stop(), (e) => this.log.warn(`stop of ${p.name} failed`, e));
    this.phase = 'initialized';
  }

  /** Destroys every protocol, top down, and closes the timer. */
  async destroy(): Promise<void> {
    if (this.phase === 'destroyed') return;
    await this.stop();
    if (this.phase === 'initialized') {
      for (const p of this.getProtocols()) {
        await safely(() => p.destroy(), (e) => this.log.warn(`destroy of ${p.name} failed`, e));
      }
    }
    this.timer.close();
    this.phase = 'destroyed';
  }

  isStarted(): boolean {
    return this.phase === 'started';
  }

  /**
   * Sends a message down from the top of the stack.
   * @throws MessageTooLargeError (`ERR_MESSAGE_TOO_LARGE`) if no protocol in the stack fragments
   *   and the message cannot fit one datagram of the transport: refused here, before any
   *   protocol numbered it (a numbered message that can never be sent would be retransmitted
   *   for ever, and hold up every later message of its sender)
   */
  down(msg: Message): DownResult {
    const limit = this.sizeLimit;
    if (limit !== null && !this.fragmenting) {
      const max = limit.maxMessageSize(msg.dest);
      if (max < Infinity) {
        const size = msg.size();
        if (size > max) {
          throw new MessageTooLargeError(size, max, `${this.protocols[0]?.name} sends in one datagram, and no protocol in the stack fragments messages (add FRAG2)`);
        }
      }
    }
    return this.top.downProt.down(msg);
  }

  /**
   * Tells the stack what the transport can send, so that {@link down} refuses a message that
   * cannot fit when no protocol fragments. A transport calls it when it starts, and with null
   * when it stops.
   */
  setMessageSizeLimit(limit: MessageSizeLimit | null): void {
    this.sizeLimit = limit;
  }
  downEvent(evt: AnyEvent): unknown {
    return this.top.downProt.downEvent(evt);
  }
  /** Sends `evt` down from the top and returns the answer, typed (see `Protocol.ask`). */
  ask<K extends EventTypeValue>(evt: Event<K>): EventResult<K> {
    return this.top.downProt.downEvent(evt as AnyEvent) as EventResult<K>;
  }

  /** `UDP(bind_port=7800) -> PING -> ...` bottom up, for logs and errors. */
  printProtocolSpec(): string {
    return this.protocols.map((p) => p.name).join(' -> ');
  }

  private relink(): void {
    const ps = this.protocols;
    this.fragmenting = ps.some((p) => providesOf(p).includes('fragmentation'));
    for (let i = 0; i < ps.length; i++) {
      const p = ps[i]!;
      p.stack = this;
      p.upProt = i + 1 < ps.length ? ps[i + 1]! : this.top;
      if (i > 0) p.downProt = ps[i - 1]!;
    }
    if (ps.length > 0) this.top.downProt = ps[ps.length - 1]!;
  }

  private indexOf(ref: ProtocolRef): number {
    return this.protocols.findIndex((p) =>
      typeof ref === 'string' ? p.name === ref : ref instanceof Protocol ? p === ref : p instanceof ref,
    );
  }
}

/**
 * Checks the current value of each declared property of `p` against its declaration, as
 * `setValue` does: a value assigned to the field directly in code (`gms.joinTimeout = -1`)
 * is refused here, at construction, rather than misbehaving at connect.
 */
function checkDeclaredValues(p: Protocol, source: string): void {
  for (const [field, decl] of Protocol.allProperties(p.constructor as ProtocolClass)) {
    const value = (p as unknown as Record<string, unknown>)[decl.field ?? field];
    const want = decl.type === 'list' ? 'array' : (FIELD_TYPES[decl.type] ?? 'string');
    const has = Array.isArray(value) ? 'array' : typeof value;
    const result: { error: string } | { value: unknown } =
      has === want ? convertProperty(decl, value) : { error: `the field holds a ${has} (${JSON.stringify(value)}), not a ${want}` };
    if ('error' in result) {
      throw new ConfigError('ERR_CONFIG_BAD_VALUE', result.error, { source, element: p.name, attribute: camelToSnake(field) });
    }
  }
}

/** The JavaScript type of the field behind each property type (lists are arrays). */
const FIELD_TYPES: Partial<Record<PropertyType, string>> = { boolean: 'boolean', int: 'number', number: 'number', size: 'number', duration: 'number' };

function providesOf(p: Protocol): readonly string[] {
  return (p.constructor as ProtocolClass).provides ?? [];
}

function refName(ref: ProtocolRef): string {
  return typeof ref === 'string' ? ref : ref instanceof Protocol ? ref.name : ref.protocolName;
}

async function safely(fn: () => void | Promise<void>, onError: (err: unknown) => void): Promise<void> {
  try {
    await fn();
  } catch (err) {
    onError(err);
  }
}
