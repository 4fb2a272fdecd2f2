import {
  Address,
  FIRST_USER_PROTOCOL_ID,
  Message,
  MessageBatch,
  Protocol,
  ProtocolStack,
  TsgroupsError,
  lookupProtocol,
  protocolNameOf,
  registerProtocol,
  type DownResult,
  type UpHandler,
} from '@tsgroups/core';

/** The bottom of a test stack: records what goes down, and lets the test push batches up. */
class Bottom extends Protocol {
  static override readonly protocolName: string = 'CONTRACT_BOTTOM';
  static override readonly provides = ['transport'];
  override down(_msg: Message): DownResult {}
  receive(batch: MessageBatch): void {
    this.upProt.upBatch(batch);
  }
}

/** What reaches the top: single messages and batches, kept apart. */
class Top implements UpHandler {
  readonly singles: Message[] = [];
  readonly batches: MessageBatch[] = [];
  up(msg: Message): void {
    this.singles.push(msg);
  }
  upBatch(batch: MessageBatch): void {
    this.batches.push(batch);
  }
  upEvent(): unknown {
    return undefined;
  }
  all(): string[] {
    return [...this.singles, ...this.batches.flatMap((b) => b.toArray())].map((m) => m.getObject<string>());
  }
}

function setup(...middle: Protocol[]): { bottom: Bottom; top: Top } {
  const bottom = new Bottom();
  const top = new Top();
  const stack = new ProtocolStack([bottom, ...middle]);
  stack.setUpHandler(top);
  return { bottom, top };
}

const sender = Address.random();
function batchOf(...payloads: string[]): MessageBatch {
  return new MessageBatch(
    sender,
    null,
    true,
    payloads.map((p) => new Message(null).setObject(p)),
  );
}

describe('the batch contract', () => {
  test('a protocol that overrides only up(msg) sees every message of a batch, in order', () => {
    class Counter extends Protocol {
      readonly seen: string[] = [];
      override up(msg: Message): void {
        this.seen.push(msg.getObject<string>());
        super.up(msg);
      }
    }
    const counter = new Counter();
    const { bottom, top } = setup(counter);
    bottom.receive(batchOf('a', 'b', 'c'));
    bottom.receive(batchOf('d'));
    expect(counter.seen).toEqual(['a', 'b', 'c', 'd']);
    expect(top.all()).toEqual(['a', 'b', 'c', 'd']);
  });

  test('up(msg) may drop messages: what it does not pass on never reaches the top', () => {
    class DropOdd extends Protocol {
      private n = 0;
      override up(msg: Message): void {
        if (this.n++ % 2 === 0) super.up(msg);
      }
    }
    const { bottom, top } = setup(new DropOdd());
    bottom.receive(batchOf('0', '1', '2', '3', '4'));
    expect(top.all()).toEqual(['0', '2', '4']);
  });

  test('a protocol that overrides neither passes the same batch object on untouched', () => {
    class Quiet extends Protocol {}
    const { bottom, top } = setup(new Quiet());
    const batch = batchOf('x', 'y');
    bottom.receive(batch);
    expect(top.batches).toHaveLength(1);
    expect(top.batches[0]).toBe(batch);
    expect(top.singles).toHaveLength(0);
  });

  test('a protocol that overrides upBatch owns batches, and up(msg) is not called for them', () => {
    class Owner extends Protocol {
      ups = 0;
      batches = 0;
      override up(msg: Message): void {
        this.ups++;
        super.up(msg);
      }
      override upBatch(batch: MessageBatch): void {
        this.batches++;
        this.upProt.upBatch(batch);
      }
    }
    const owner = new Owner();
    const { bottom, top } = setup(owner);
    bottom.receive(batchOf('a', 'b'));
    expect(owner.batches).toBe(1);
    expect(owner.ups).toBe(0);
    expect(top.batches).toHaveLength(1);
  });

  test('a message whose up(msg) throws is logged and skipped; the rest of the batch goes up', () => {
    class Picky extends Protocol {
      override up(msg: Message): void {
        if (msg.getObject<string>() === 'bad') throw new Error('boom');
        super.up(msg);
      }
    }
    const { bottom, top } = setup(new Picky());
    bottom.receive(batchOf('a', 'bad', 'c'));
    expect(top.all()).toEqual(['a', 'c']);
  });
});

describe('registerProtocol', () => {
  test('a class without static protocolName is known by its class name', () => {
    class ContractCounter extends Protocol {}
    expect(protocolNameOf(ContractCounter)).toBe('ContractCounter');
    expect(new ContractCounter().name).toBe('ContractCounter');
    registerProtocol(ContractCounter);
    expect(lookupProtocol('ContractCounter')).toBe(ContractCounter);
  });

  test('a subclass of a named protocol is known by its own class name, not its parent\'s', () => {
    class ContractBase extends Protocol {
      static override readonly protocolName: string = 'CONTRACT_BASE';
    }
    class ContractDerived extends ContractBase {}
    expect(new ContractBase().name).toBe('CONTRACT_BASE');
    expect(new ContractDerived().name).toBe('ContractDerived');
  });

  test('registerProtocol(name, cls) registers under the given name, with aliases', () => {
    class Whatever extends Protocol {}
    registerProtocol('CONTRACT_NAMED', Whatever, 'CONTRACT_ALIAS');
    expect(lookupProtocol('CONTRACT_NAMED')).toBe(Whatever);
    expect(lookupProtocol('CONTRACT_ALIAS')).toBe(Whatever);
    expect(() => registerProtocol('CONTRACT_NAMED', Whatever)).not.toThrow(); // the same class again is fine
  });

  test('ids below 1000 are reserved, and an id is used by one class only', () => {
    class LowId extends Protocol {
      static override readonly id: number = 42;
    }
    const err = catchError(() => registerProtocol(LowId));
    expect(err.code).toBe('ERR_PROTOCOL_REGISTRY');
    expect(err.message).toMatch(/reserved/);
    expect(lookupProtocol('LowId')).toBeUndefined();

    class First extends Protocol {
      static override readonly id: number = FIRST_USER_PROTOCOL_ID + 777;
    }
    class Second extends Protocol {
      static override readonly id: number = FIRST_USER_PROTOCOL_ID + 777;
    }
    registerProtocol(First);
    const dup = catchError(() => registerProtocol(Second));
    expect(dup.code).toBe('ERR_PROTOCOL_REGISTRY');
    expect(dup.message).toMatch(/already used by First/);
    expect(lookupProtocol('Second')).toBeUndefined();
  });

  test('a name that cannot be written in XML is refused', () => {
    class Fine extends Protocol {}
    expect(catchError(() => registerProtocol('has space', Fine)).code).toBe('ERR_PROTOCOL_REGISTRY');
    expect(catchError(() => registerProtocol('', Fine)).code).toBe('ERR_PROTOCOL_REGISTRY');
  });
});

function catchError(fn: () => void): TsgroupsError {
  try {
    fn();
  } catch (err) {
    if (err instanceof TsgroupsError) return err;
    throw err;
  }
  throw new Error('expected an error');
}

describe('MessageBatch.replaceEach', () => {
  test('keeps, replaces and removes messages in place, in order', () => {
    const batch = batchOf('keep', 'drop', 'swap', 'keep2');
    const swapped = new Message(null).setObject('swapped');
    batch.replaceEach((m) => {
      const v = m.getObject<string>();
      return v === 'drop' ? null : v === 'swap' ? swapped : m;
    });
    expect(batch.size()).toBe(3);
    expect(batch.toArray().map((m) => m.getObject<string>())).toEqual(['keep', 'swapped', 'keep2']);
  });

  test('drain empties the batch and hands every message over once', () => {
    const batch = batchOf('a', 'b');
    const seen: string[] = [];
    batch.drain((m) => seen.push(m.getObject<string>()));
    expect(seen).toEqual(['a', 'b']);
    expect(batch.isEmpty()).toBe(true);
  });
});
