import {
  ConfigError,
  Event,
  EventType,
  Message,
  MessageBatch,
  Protocol,
  ProtocolStack,
  TsgroupsError,
  Address,
  getLogger,
  setLogger,
  type DownResult,
  type Logger,
  type PropertyDecls,
  type AnyEvent,
  type UpHandler,
} from '@tsgroups/core';

// A user-defined event type, declared as a protocol of one's own would declare it.
const USER_EVENT = 1001;
declare module '@tsgroups/core' {
  interface EventArgs {
    [USER_EVENT]: string;
  }
}

// ---- test protocols ----

/** Lifecycle calls (`NAME:phase`) of every protocol, in order. */
const log: string[] = [];
/** Message passes (`down:NAME`, `up:NAME`), in order. */
const trace: string[] = [];

class Rec extends Protocol {
  override init(): void {
    log.push(`${this.name}:init`);
  }
  override start(): void | Promise<void> {
    log.push(`${this.name}:start`);
  }
  override stop(): void | Promise<void> {
    log.push(`${this.name}:stop`);
  }
  override destroy(): void {
    log.push(`${this.name}:destroy`);
  }
  override down(msg: Message): DownResult {
    trace.push(`down:${this.name}`);
    return super.down(msg);
  }
  override up(msg: Message): void {
    trace.push(`up:${this.name}`);
    super.up(msg);
  }
}

class FakeTransport extends Rec {
  static override readonly protocolName: string = 'TP';
  static override readonly provides = ['transport'];
  readonly sent: Message[] = [];
  readonly events: AnyEvent[] = [];
  override down(msg: Message): DownResult {
    trace.push('down:TP');
    this.sent.push(msg);
  }
  override downEvent(evt: AnyEvent): unknown {
    this.events.push(evt);
    return `TP handled ${evt.type}`;
  }
  /** Simulates a received message. */
  inject(msg: Message): void {
    this.up(msg);
  }
  injectBatch(batch: MessageBatch): void {
    this.upProt.upBatch(batch);
  }
  injectEvent(evt: AnyEvent): unknown {
    return this.upProt.upEvent(evt);
  }
}

class OtherTransport extends FakeTransport {
  static override readonly protocolName = 'TP2';
}

class A extends Rec {
  static override readonly protocolName = 'A';
}
class B extends Rec {
  static override readonly protocolName = 'B';
}
class C extends Rec {
  static override readonly protocolName = 'C';
}

class Disc extends Rec {
  static override readonly protocolName = 'DISC';
  static override readonly provides = ['discovery'];
}

/** Needs discovery somewhere below it. */
class Memb extends Rec {
  static override readonly protocolName = 'MEMB';
  static override readonly id = 1500;
  static override readonly provides = ['membership'];
  static override readonly requiresBelow = ['discovery'];
}

/** Needs membership somewhere above it. */
class Rel extends Rec {
  static override readonly protocolName = 'REL';
  static override readonly requiresAbove = ['membership'];
}

/** Async lifecycle: the stack must await each step before the next protocol. */
class Slow extends Rec {
  static override readonly protocolName = 'SLOW';
  override async init(): Promise<void> {
    for (let i = 0; i < 5; i++) await Promise.resolve();
    super.init();
  }
  override async start(): Promise<void> {
    for (let i = 0; i < 5; i++) await Promise.resolve();
    await super.start();
  }
  override async stop(): Promise<void> {
    for (let i = 0; i < 5; i++) await Promise.resolve();
    await super.stop();
  }
}

class FailStart extends Rec {
  static override readonly protocolName = 'FAIL_START';
  override async start(): Promise<void> {
    await super.start();
    throw new Error('start failed');
  }
}

class FailStop extends Rec {
  static override readonly protocolName = 'FAIL_STOP';
  override stop(): void {
    log.push('FAIL_STOP:stop');
    throw new Error('stop failed');
  }
}

/** Consumes messages whose payload is "drop" on the way down, and everything on the way up when closed. */
class Gate extends Rec {
  static override readonly protocolName = 'GATE';
  closed = false;
  override down(msg: Message): DownResult {
    trace.push('down:GATE');
    if (msg.hasPayload() && msg.getString() === 'drop') return;
    return this.downProt.down(msg);
  }
  override up(msg: Message): void {
    trace.push('up:GATE');
    if (!this.closed) this.upProt.up(msg);
  }
}

class Recorder implements UpHandler {
  readonly msgs: Message[] = [];
  readonly batches: MessageBatch[] = [];
  readonly events: AnyEvent[] = [];
  up(msg: Message): void {
    this.msgs.push(msg);
  }
  upBatch(batch: MessageBatch): void {
    this.batches.push(batch);
  }
  upEvent(evt: AnyEvent): unknown {
    this.events.push(evt);
    return 'app result';
  }
}

const names = (s: ProtocolStack): string[] => s.getProtocols().map((p) => p.name);

function stackError(fn: () => unknown): TsgroupsError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(TsgroupsError);
    return err as TsgroupsError;
  }
  throw new Error('expected an error, nothing was thrown');
}

async function rejection(p: Promise<unknown>): Promise<TsgroupsError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(TsgroupsError);
    return err as TsgroupsError;
  }
  throw new Error('expected a rejection');
}

const stacks: ProtocolStack[] = [];
function mkStack(...ps: Protocol[]): ProtocolStack {
  const s = new ProtocolStack(ps, 'test-stack');
  stacks.push(s);
  return s;
}

const warnings: string[] = [];
let savedLogger: Logger;
beforeEach(() => {
  log.length = 0;
  trace.length = 0;
  warnings.length = 0;
  savedLogger = getLogger();
  setLogger({
    isEnabled: () => true,
    log: (level, scope, message) => {
      if (level === 'warn' || level === 'error') warnings.push(`${scope}: ${message}`);
    },
  });
});
afterEach(async () => {
  for (const s of stacks.splice(0)) await s.destroy();
  setLogger(savedLogger);
});

// ---- wiring ----

describe('message and event paths', () => {
  test('down passes every protocol from the top to the transport', () => {
    const tp = new FakeTransport();
    const s = mkStack(tp, new A(), new B(), new C());
    const msg = new Message(null, 'x');
    s.down(msg);
    expect(trace).toEqual(['down:C', 'down:B', 'down:A', 'down:TP']);
    expect(tp.sent).toEqual([msg]);
    expect(tp.sent[0]).toBe(msg);
  });

  test('up passes every protocol from the transport to the top and reaches the UpHandler', () => {
    const tp = new FakeTransport();
    const s = mkStack(tp, new A(), new B(), new C());
    const app = new Recorder();
    s.setUpHandler(app);
    const msg = new Message(null, 'y');
    tp.inject(msg);
    expect(trace).toEqual(['up:TP', 'up:A', 'up:B', 'up:C']);
    expect(app.msgs).toEqual([msg]);
    expect(app.msgs[0]).toBe(msg);
  });

  test('without an UpHandler, messages reaching the top are dropped quietly', () => {
    const tp = new FakeTransport();
    const s = mkStack(tp, new A());
    const app = new Recorder();
    s.setUpHandler(app);
    s.setUpHandler(null);
    expect(() => tp.inject(new Message())).not.toThrow();
    expect(app.msgs).toEqual([]);
  });

  test('a protocol can consume messages in either direction', () => {
    const tp = new FakeTransport();
    const gate = new Gate();
    const s = mkStack(tp, gate, new A());
    const app = new Recorder();
    s.setUpHandler(app);
    s.down(new Message(null).setString('drop'));
    expect(tp.sent).toHaveLength(0);
    s.down(new Message(null).setString('keep'));
    expect(tp.sent).toHaveLength(1);
    gate.closed = true;
    tp.inject(new Message());
    expect(app.msgs).toHaveLength(0);
    expect(trace).toEqual(['down:A', 'down:GATE', 'down:A', 'down:GATE', 'down:TP', 'up:TP', 'up:GATE']);
  });

  test('batches and events travel the stack; return values come back', () => {
    // Protocols that override neither up() nor upBatch() pass a batch on as it is (Rec
    // overrides up(), so it would see the batch's messages one by one).
    class PassA extends Protocol {
      static override readonly protocolName: string = 'PASS_A';
    }
    class PassB extends Protocol {
      static override readonly protocolName: string = 'PASS_B';
    }
    const tp = new FakeTransport();
    const s = mkStack(tp, new PassA(), new PassB());
    const app = new Recorder();
    s.setUpHandler(app);
    const sender = Address.random();
    const batch = new MessageBatch(sender, null, true, [new Message(), new Message()]);
    tp.injectBatch(batch);
    expect(app.batches).toEqual([batch]);
    const evt = new Event(USER_EVENT, 'arg');
    expect(s.downEvent(evt)).toBe(`TP handled ${USER_EVENT}`);
    expect(tp.events).toEqual([evt]);
    const upEvt = new Event(EventType.SUSPECT, [sender]);
    expect(tp.injectEvent(upEvt)).toBe('app result');
    expect(app.events).toEqual([upEvt]);
  });

  test('protocols know their neighbours, stack, timer and local address', () => {
    const tp = new FakeTransport();
    const a = new A();
    const b = new B();
    const s = mkStack(tp, a, b);
    expect(a.downProt).toBe(tp);
    expect(a.upProt).toBe(b);
    expect(b.downProt).toBe(a);
    expect(tp.upProt).toBe(a);
    expect(b.upProt).toBeInstanceOf(Protocol); // the adapter to the UpHandler
    for (const p of [tp, a, b]) {
      expect(p.stack).toBe(s);
      expect(p.timer).toBe(s.timer);
    }
    expect(a.localAddress).toBeNull();
    const me = Address.random();
    s.localAddress = me;
    expect(a.localAddress).toBe(me);
    expect(a.name).toBe('A');
    expect(String(a)).toBe('A');
    expect(new Memb().id).toBe(1500);
    expect(a.id).toBe(0);
  });

  test('addProtocol / addProtocols add on top; getProtocols lists top first', () => {
    const tp = new FakeTransport();
    const s = mkStack(tp);
    s.addProtocol(new A()).addProtocols(new B(), new C());
    expect(names(s)).toEqual(['C', 'B', 'A', 'TP']);
    expect(s.getTransport()).toBe(tp);
    expect(s.getTopProtocol()?.name).toBe('C');
    expect(s.printProtocolSpec()).toBe('TP -> A -> B -> C');
    // getProtocols returns a copy.
    s.getProtocols().pop();
    expect(names(s)).toEqual(['C', 'B', 'A', 'TP']);
  });

  test('an empty stack has no transport', () => {
    const s = mkStack();
    expect(stackError(() => s.getTransport()).code).toBe('ERR_STACK');
    expect(s.getTopProtocol()).toBeUndefined();
  });
});

// ---- lifecycle ----

describe('lifecycle', () => {
  test('init and start run bottom up, stop and destroy top down, each awaited', async () => {
    const s = mkStack(new FakeTransport(), new Slow(), new A());
    await s.init();
    expect(log).toEqual(['TP:init', 'SLOW:init', 'A:init']);
    log.length = 0;
    await s.start();
    expect(s.isStarted()).toBe(true);
    expect(log).toEqual(['TP:start', 'SLOW:start', 'A:start']);
    log.length = 0;
    await s.stop();
    expect(s.isStarted()).toBe(false);
    expect(log).toEqual(['A:stop', 'SLOW:stop', 'TP:stop']);
    log.length = 0;
    await s.destroy();
    expect(log).toEqual(['A:destroy', 'SLOW:destroy', 'TP:destroy']);
    expect(s.timer.isClosed()).toBe(true);
  });

  test('a stack can be stopped and started again', async () => {
    const s = mkStack(new FakeTransport(), new A());
    await s.init();
    await s.start();
    await s.stop();
    log.length = 0;
    await s.start();
    expect(log).toEqual(['TP:start', 'A:start']);
    expect(s.isStarted()).toBe(true);
  });

  test('destroy of a started stack stops it first', async () => {
    const s = mkStack(new FakeTransport(), new A(), new B());
    await s.init();
    await s.start();
    log.length = 0;
    await s.destroy();
    expect(log).toEqual(['B:stop', 'A:stop', 'TP:stop', 'B:destroy', 'A:destroy', 'TP:destroy']);
  });

  test('repeated lifecycle calls are no-ops', async () => {
    const s = mkStack(new FakeTransport(), new A());
    await s.stop(); // not started
    await s.init();
    await s.init();
    await s.start();
    await s.start();
    await s.stop();
    await s.stop();
    await s.destroy();
    await s.destroy();
    expect(log).toEqual(['TP:init', 'A:init', 'TP:start', 'A:start', 'A:stop', 'TP:stop', 'A:destroy', 'TP:destroy']);
  });

  test('start before init is refused', async () => {
    const s = mkStack(new FakeTransport());
    expect((await rejection(s.start())).code).toBe('ERR_STACK');
    expect(log).toEqual([]);
  });

  test('destroy of a stack that was never initialised only closes the timer', async () => {
    const s = mkStack(new FakeTransport(), new A());
    await s.destroy();
    expect(log).toEqual([]);
    expect(s.timer.isClosed()).toBe(true);
  });

  test('a start failure stops the protocols already started, in reverse order, and rejects', async () => {
    const s = mkStack(new FakeTransport(), new A(), new FailStart(), new B());
    await s.init();
    log.length = 0;
    await expect(s.start()).rejects.toThrow('start failed');
    expect(log).toEqual(['TP:start', 'A:start', 'FAIL_START:start', 'A:stop', 'TP:stop']);
    expect(s.isStarted()).toBe(false);
  });

  test('stop never throws: a failing protocol is logged and the others still stop', async () => {
    const s = mkStack(new FakeTransport(), new A(), new FailStop(), new B());
    await s.init();
    await s.start();
    log.length = 0;
    await expect(s.stop()).resolves.toBeUndefined();
    expect(log).toEqual(['B:stop', 'FAIL_STOP:stop', 'A:stop', 'TP:stop']);
    expect(warnings.some((w) => w.includes('FAIL_STOP'))).toBe(true);
    expect(s.isStarted()).toBe(false);
  });

  test('init validates the stack first and initialises nothing if it is invalid', async () => {
    const s = mkStack(new FakeTransport(), new Memb());
    expect((await rejection(s.init())).code).toBe('ERR_STACK_DEPENDENCY');
    expect(log).toEqual([]);
  });
});

// ---- validation ----

describe('validate', () => {
  test('a valid stack passes', () => {
    expect(() => mkStack(new FakeTransport(), new Disc(), new Rel(), new Memb()).validate()).not.toThrow();
  });

  test('the bottom protocol must be a transport', () => {
    const err = stackError(() => mkStack(new A(), new FakeTransport()).validate());
    expect(err.code).toBe('ERR_STACK_DEPENDENCY');
    expect(err.message).toContain('A');
    expect(err.message).toContain('not a transport');
    expect(err.message).toContain('test-stack');
  });

  test('a transport anywhere but the bottom is refused', () => {
    const err = stackError(() => mkStack(new FakeTransport(), new A(), new OtherTransport()).validate());
    expect(err.code).toBe('ERR_STACK_DEPENDENCY');
    expect(err.message).toContain('TP2');
  });

  test('requiresBelow must be provided by a protocol below', () => {
    const err = stackError(() => mkStack(new FakeTransport(), new Memb()).validate());
    expect(err.code).toBe('ERR_STACK_DEPENDENCY');
    expect(err.message).toContain('MEMB');
    expect(err.message).toContain('"discovery"');
    expect(err.message).toContain('below');
    // Provided above does not count.
    expect(stackError(() => mkStack(new FakeTransport(), new Memb(), new Disc()).validate()).code).toBe('ERR_STACK_DEPENDENCY');
    // Anywhere below counts, not only directly below.
    expect(() => mkStack(new FakeTransport(), new Disc(), new A(), new Memb()).validate()).not.toThrow();
  });

  test('requiresAbove must be provided by a protocol above', () => {
    const err = stackError(() => mkStack(new FakeTransport(), new Disc(), new Rel()).validate());
    expect(err.code).toBe('ERR_STACK_DEPENDENCY');
    expect(err.message).toContain('REL');
    expect(err.message).toContain('"membership"');
    expect(err.message).toContain('above');
    expect(stackError(() => mkStack(new FakeTransport(), new Disc(), new Memb(), new Rel()).validate()).code).toBe(
      'ERR_STACK_DEPENDENCY',
    );
  });

  test('an empty stack and duplicate protocols are refused', () => {
    expect(stackError(() => mkStack().validate()).code).toBe('ERR_STACK');
    const dup = stackError(() => mkStack(new FakeTransport(), new A(), new A()).validate());
    expect(dup.code).toBe('ERR_STACK');
    expect(dup.message).toContain('A appears twice');
  });

  test('errors are ConfigErrors naming the source and the protocol element', () => {
    const err = stackError(() => mkStack(new FakeTransport(), new Memb()).validate());
    expect(err).toBeInstanceOf(ConfigError);
    expect(err).toMatchObject({ source: 'test-stack', element: 'MEMB' });
  });

  test('a unique service (discovery, gms, ...) may be provided by one protocol only', () => {
    class Disc2 extends Rec {
      static override readonly protocolName: string = 'DISC2';
      static override readonly provides = ['discovery'];
    }
    const err = stackError(() => mkStack(new FakeTransport(), new Disc(), new Disc2()).validate());
    expect(err).toMatchObject({ code: 'ERR_STACK_DEPENDENCY', element: 'DISC2' });
    expect(err.message).toMatch(/DISC2 and DISC both provide "discovery"/);
    // A service that is not unique may be provided twice (FD_SOCK2 with FD_ALL3, MFC with UFC).
    class Fd1 extends Rec {
      static override readonly protocolName: string = 'FD1';
      static override readonly provides = ['failure-detection'];
    }
    class Fd2 extends Rec {
      static override readonly protocolName: string = 'FD2';
      static override readonly provides = ['failure-detection'];
    }
    expect(() => mkStack(new FakeTransport(), new Fd1(), new Fd2()).validate()).not.toThrow();
  });

  test('for a channel the stack must contain a membership protocol (one that provides "gms")', () => {
    expect(() => mkStack(new FakeTransport(), new Disc()).validate()).not.toThrow(); // fine for unit tests of protocols
    const err = stackError(() => mkStack(new FakeTransport(), new Disc()).validate({ forChannel: true }));
    expect(err).toMatchObject({ code: 'ERR_STACK_DEPENDENCY', element: 'config' });
    expect(err.message).toMatch(/membership protocol.*"gms"/);
    class G extends Rec {
      static override readonly protocolName: string = 'G';
      static override readonly provides = ['gms'];
    }
    expect(() => mkStack(new FakeTransport(), new Disc(), new G()).validate({ forChannel: true })).not.toThrow();
  });

  /** lo must not be above hi, and hi not above the transport's limit: a checkConfig hook. */
  class Ranged extends Rec {
    static override readonly protocolName: string = 'RANGED';
    static override readonly properties: PropertyDecls = { lo: { type: 'int', min: 0 }, hi: { type: 'int', min: 0 } };
    lo = 1;
    hi = 10;
    checks = 0;
    override checkConfig(stack: ProtocolStack): void {
      this.checks++;
      if (this.lo > this.hi) throw this.configError(stack, 'lo', `lo (${this.lo}) must not be above hi (${this.hi})`);
      const limit = (stack.getTransport() as FakeTransport & { limit?: number }).limit;
      if (limit !== undefined && this.hi > limit) throw this.configError(stack, 'hi', `hi must not exceed the transport's limit ${limit}`);
    }
  }

  test('validate runs each protocol\'s checkConfig hook, which sees the whole stack', () => {
    const r = new Ranged().setValues({ lo: 5, hi: 4 });
    const err = stackError(() => mkStack(new FakeTransport(), r).validate());
    expect(err).toMatchObject({ code: 'ERR_CONFIG_BAD_VALUE', source: 'test-stack', element: 'RANGED', attribute: 'lo' });
    expect(r.checks).toBe(1);
    const tp = Object.assign(new FakeTransport(), { limit: 8 });
    const ok = new Ranged().setValues({ hi: 8 });
    expect(() => mkStack(tp, ok).validate()).not.toThrow();
    ok.hi = 9;
    expect(stackError(() => ok.stack.validate())).toMatchObject({ element: 'RANGED', attribute: 'hi' });
  });

  test('a value set later is checked again at init (connect), before any protocol starts', async () => {
    const r = new Ranged();
    const s = mkStack(new FakeTransport(), r);
    s.validate();
    r.lo = 20;
    expect(await rejection(s.init())).toMatchObject({ code: 'ERR_CONFIG_BAD_VALUE', attribute: 'lo' });
    expect(log).toEqual([]);
  });

  test('inserting a protocol whose configuration does not fit is refused and leaves the stack as it was', async () => {
    const s = mkStack(new FakeTransport(), new A());
    await expect(s.insertProtocol(new Ranged().setValues({ lo: 3, hi: 2 }), 'above', 'A')).rejects.toMatchObject({ attribute: 'lo' });
    expect(names(s)).toEqual(['A', 'TP']);
  });

  test('declared values assigned to fields directly (bypassing setValue) are checked against their declarations', () => {
    const r = new Ranged();
    r.hi = -1;
    expect(stackError(() => mkStack(new FakeTransport(), r).validate())).toMatchObject({
      code: 'ERR_CONFIG_BAD_VALUE',
      element: 'RANGED',
      attribute: 'hi',
    });
    const r2 = new Ranged();
    (r2 as unknown as { lo: unknown }).lo = '3';
    expect(stackError(() => mkStack(new FakeTransport(), r2).validate())).toMatchObject({ attribute: 'lo' });
  });
});

// ---- dynamic changes ----

describe('insertProtocol / removeProtocol', () => {
  test('insert above and below a protocol named by name, class or instance', async () => {
    const tp = new FakeTransport();
    const a = new A();
    const s = mkStack(tp, a);
    await s.insertProtocol(new C(), 'above', 'A');
    expect(names(s)).toEqual(['C', 'A', 'TP']);
    await s.insertProtocol(new B(), 'below', C);
    expect(names(s)).toEqual(['C', 'B', 'A', 'TP']);
    await s.insertProtocol(new Disc(), 'below', a);
    expect(names(s)).toEqual(['C', 'B', 'A', 'DISC', 'TP']);
    s.down(new Message());
    expect(trace).toEqual(['down:C', 'down:B', 'down:A', 'down:DISC', 'down:TP']);
    const app = new Recorder();
    s.setUpHandler(app);
    trace.length = 0;
    tp.inject(new Message());
    expect(trace).toEqual(['up:TP', 'up:DISC', 'up:A', 'up:B', 'up:C']);
    expect(app.msgs).toHaveLength(1);
    expect(log).toEqual([]); // the stack was not initialised: nothing to init or start
  });

  test('insert on top of the top protocol becomes the new top', async () => {
    const s = mkStack(new FakeTransport(), new A());
    await s.insertProtocol(new B(), 'above', 'A');
    expect(s.getTopProtocol()?.name).toBe('B');
    s.down(new Message());
    expect(trace[0]).toBe('down:B');
  });

  test('insert next to an unknown protocol or below the transport is refused', async () => {
    const s = mkStack(new FakeTransport(), new A());
    const unknown = await rejection(s.insertProtocol(new B(), 'above', 'NOPE'));
    expect(unknown.code).toBe('ERR_STACK');
    expect(unknown.message).toContain('NOPE');
    expect((await rejection(s.insertProtocol(new B(), 'below', 'TP'))).code).toBe('ERR_STACK');
    expect(names(s)).toEqual(['A', 'TP']);
  });

  test('on a started stack an inserted protocol is initialised and started, a removed one stopped and destroyed', async () => {
    const tp = new FakeTransport();
    const s = mkStack(tp, new A(), new C());
    await s.init();
    await s.start();
    log.length = 0;
    const b = new B();
    await s.insertProtocol(b, 'above', 'A');
    expect(log).toEqual(['B:init', 'B:start']);
    expect(b.stack).toBe(s);
    s.down(new Message());
    expect(trace).toEqual(['down:C', 'down:B', 'down:A', 'down:TP']);

    log.length = 0;
    trace.length = 0;
    await expect(s.removeProtocol('B')).resolves.toBe(b);
    expect(log).toEqual(['B:stop', 'B:destroy']);
    expect(names(s)).toEqual(['C', 'A', 'TP']);
    s.down(new Message());
    tp.inject(new Message());
    expect(trace).toEqual(['down:C', 'down:A', 'down:TP', 'up:TP', 'up:A', 'up:C']);

    // A protocol added at runtime is stopped and destroyed with the stack.
    await s.insertProtocol(new B(), 'below', 'C');
    log.length = 0;
    await s.destroy();
    expect(log).toEqual(['C:stop', 'B:stop', 'A:stop', 'TP:stop', 'C:destroy', 'B:destroy', 'A:destroy', 'TP:destroy']);
  });

  test('on an initialised (not started) stack insert only initialises and remove only destroys', async () => {
    const s = mkStack(new FakeTransport(), new A());
    await s.init();
    log.length = 0;
    await s.insertProtocol(new B(), 'above', 'A');
    expect(log).toEqual(['B:init']);
    log.length = 0;
    await s.removeProtocol(B);
    expect(log).toEqual(['B:destroy']);
  });

  test('removeProtocol by class or instance; unknown returns undefined; the transport stays', async () => {
    const a = new A();
    const s = mkStack(new FakeTransport(), a, new B());
    await expect(s.removeProtocol(a)).resolves.toBe(a);
    expect(names(s)).toEqual(['B', 'TP']);
    await expect(s.removeProtocol(B)).resolves.toBeInstanceOf(B);
    await expect(s.removeProtocol('A')).resolves.toBeUndefined();
    expect((await rejection(s.removeProtocol('TP'))).code).toBe('ERR_STACK');
    expect(names(s)).toEqual(['TP']);
  });

  test('removing a protocol another one depends on is refused and leaves the stack as it was', async () => {
    const tp = new FakeTransport();
    const s = mkStack(tp, new Disc(), new Memb());
    await s.init();
    await s.start();
    log.length = 0;
    const err = await rejection(s.removeProtocol('DISC'));
    expect(err.code).toBe('ERR_STACK_DEPENDENCY');
    expect(names(s)).toEqual(['MEMB', 'DISC', 'TP']);
    expect(log).toEqual([]);
    s.down(new Message());
    expect(trace).toEqual(['down:MEMB', 'down:DISC', 'down:TP']);
  });

  test('inserting a protocol whose dependencies are missing is refused and leaves the stack as it was', async () => {
    const s = mkStack(new FakeTransport(), new A());
    await s.init();
    await s.start();
    log.length = 0;
    const memb = new Memb();
    const err = await rejection(s.insertProtocol(memb, 'above', 'A'));
    expect(err.code).toBe('ERR_STACK_DEPENDENCY');
    expect(names(s)).toEqual(['A', 'TP']);
    expect(s.findProtocol('MEMB')).toBeUndefined();
    s.down(new Message());
    expect(trace).toEqual(['down:A', 'down:TP']);
    // It is not left running either.
    const count = (phase: string): number => log.filter((l) => l === `MEMB:${phase}`).length;
    expect(count('start')).toBe(count('stop'));
    expect(count('init')).toBe(count('destroy'));
  });
});

describe('findProtocol', () => {
  test('by name and by class (subclasses match); missing gives undefined', () => {
    const tp = new FakeTransport();
    const memb = new Memb();
    const s = mkStack(tp, new Disc(), memb);
    expect(s.findProtocol('MEMB')).toBe(memb);
    const found: Memb | undefined = s.findProtocol(Memb);
    expect(found).toBe(memb);
    expect(s.findProtocol(FakeTransport)).toBe(tp);
    expect(s.findProtocol(Rec)).toBe(tp); // the bottom-most instance of the class
    expect(s.findProtocol('NOPE')).toBeUndefined();
    expect(s.findProtocol(A)).toBeUndefined();
  });
});

// ---- properties ----

class Props extends Protocol {
  static override readonly protocolName: string = 'PROPS';
  static override readonly properties: PropertyDecls = {
    timeout: { type: 'duration' },
    maxBytes: { type: 'size', min: 1 },
    mode: { type: 'enum', values: ['fast', 'safe'] },
    hosts: { type: 'list' },
    enabled: { type: 'boolean' },
    alias: { type: 'int', field: 'internalValue' },
  };
  timeout = 1000;
  maxBytes = 65536;
  mode = 'fast';
  hosts: string[] = [];
  enabled = false;
  internalValue = 0;
}

class ChildProps extends Props {
  static override readonly protocolName = 'CHILD_PROPS';
  static override readonly properties: PropertyDecls = {
    level: { type: 'int', min: 0, max: 9 },
    maxBytes: { type: 'size', min: 1000 }, // tightens the parent's declaration
  };
  level = 0;
}

/** Inherits the properties of Props without declaring any of its own. */
class PlainChild extends Props {
  static override readonly protocolName = 'PLAIN_CHILD';
}

function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error('expected a ConfigError');
}

describe('Protocol.setValue', () => {
  test('converts text values to the declared types', () => {
    const p = new Props();
    expect(p.setValue('timeout', '1.5s')).toBe(p);
    expect(p.timeout).toBe(1500);
    p.setValue('maxBytes', '4M');
    expect(p.maxBytes).toBe(4_000_000);
    p.setValue('mode', 'safe');
    expect(p.mode).toBe('safe');
    p.setValue('hosts', 'a, b');
    expect(p.hosts).toEqual(['a', 'b']);
    p.setValue('enabled', 'true');
    expect(p.enabled).toBe(true);
  });

  test('accepts typed values', () => {
    const p = new Props().setValue('timeout', 250).setValue('maxBytes', 100).setValue('enabled', true);
    expect(p.timeout).toBe(250);
    expect(p.maxBytes).toBe(100);
    expect(p.enabled).toBe(true);
  });

  test('accepts snake_case and camelCase names', () => {
    const p = new Props();
    p.setValue('max_bytes', '64KiB');
    expect(p.maxBytes).toBe(65536);
    p.setValue('maxBytes', '2K');
    expect(p.maxBytes).toBe(2000);
    expect(p.getValue('max_bytes')).toBe(2000);
    expect(p.getValue('maxBytes')).toBe(2000);
  });

  test('a declaration with `field` sets that field', () => {
    const p = new Props().setValue('alias', '7');
    expect(p.internalValue).toBe(7);
    expect(p.getValue('alias')).toBe(7);
  });

  test('setValues sets several and stops at the first bad one', () => {
    const p = new Props().setValues({ timeout: '2s', max_bytes: '1K' });
    expect(p.timeout).toBe(2000);
    expect(p.maxBytes).toBe(1000);
    expect(configError(() => p.setValues({ timeout: '3s', mode: 'slow' })).code).toBe('ERR_CONFIG_BAD_VALUE');
    expect(p.timeout).toBe(3000);
    expect(p.mode).toBe('fast');
  });

  test('an unknown property is ERR_CONFIG_UNKNOWN_ATTRIBUTE naming the protocol and the attribute', () => {
    const p = new Props();
    const err = configError(() => p.setValue('no_such_thing', '1'));
    expect(err.code).toBe('ERR_CONFIG_UNKNOWN_ATTRIBUTE');
    expect(err).toBeInstanceOf(TsgroupsError);
    expect(err.element).toBe('PROPS');
    expect(err.attribute).toBe('no_such_thing');
    expect(err.source).toBe('code');
    expect(err.message).toContain('PROPS');
    expect(err.message).toContain('no_such_thing');
    expect(err.message).toContain('max_bytes'); // lists what is known
    const src = configError(() => p.setValue('bogus', 1, 'my-stack.xml'));
    expect(src.source).toBe('my-stack.xml');
    expect(src.message).toContain('my-stack.xml');
  });

  test('a bad value is ERR_CONFIG_BAD_VALUE and leaves the field unchanged', () => {
    const p = new Props();
    for (const [name, value] of [
      ['timeout', 'soon'],
      ['max_bytes', '0'], // below min 1
      ['maxBytes', 'lots'],
      ['mode', 'slow'],
      ['enabled', 'yes'],
      ['hosts', 42],
    ] as const) {
      const err = configError(() => p.setValue(name, value));
      expect(err.code).toBe('ERR_CONFIG_BAD_VALUE');
      expect(err.element).toBe('PROPS');
      expect(err.attribute).toBe(name);
      expect(err.message).toContain(name);
    }
    expect(p.timeout).toBe(1000);
    expect(p.maxBytes).toBe(65536);
    expect(p.mode).toBe('fast');
  });

  test('properties inherited from a parent class are accepted', () => {
    const c = new ChildProps();
    c.setValue('timeout', '2m').setValue('level', '5').setValue('mode', 'safe');
    expect(c.timeout).toBe(120_000);
    expect(c.level).toBe(5);
    expect(c.mode).toBe('safe');
    expect(configError(() => c.setValue('level', '10')).code).toBe('ERR_CONFIG_BAD_VALUE');
    // The child's own declaration wins over the parent's.
    expect(configError(() => c.setValue('max_bytes', '999')).code).toBe('ERR_CONFIG_BAD_VALUE');
    expect(new Props().setValue('max_bytes', '999').maxBytes).toBe(999);
    // A parent does not accept its child's properties.
    expect(configError(() => new Props().setValue('level', '1')).code).toBe('ERR_CONFIG_UNKNOWN_ATTRIBUTE');
    // A subclass without declarations of its own has all of its parent's.
    expect(new PlainChild().setValue('max_bytes', '3K').maxBytes).toBe(3000);
    const all = Protocol.allProperties(ChildProps);
    expect([...all.keys()].sort()).toEqual(['alias', 'enabled', 'hosts', 'level', 'maxBytes', 'mode', 'timeout']);
  });

  test('getValue of an unknown property throws ERR_BAD_ARGUMENT', () => {
    expect(stackError(() => new Props().getValue('nope')).code).toBe('ERR_BAD_ARGUMENT');
  });

  test('a protocol without declared properties rejects every attribute', () => {
    const err = configError(() => new A().setValue('x', '1'));
    expect(err.code).toBe('ERR_CONFIG_UNKNOWN_ATTRIBUTE');
    expect(err.message).toContain('(none)');
  });
});
