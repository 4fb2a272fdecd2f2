import { getEventListeners } from 'node:events';
import vm from 'node:vm';
import v8 from 'node:v8';
import {
  AbortError,
  type Address,
  Channel,
  Flag,
  Message,
  MessageDispatcher,
  MethodCall,
  RemoteError,
  RequestOptions,
  ResponseMode,
  RpcDispatcher,
  type RspFilter,
  SuspectedError,
  TimeoutError,
} from 'tsgroups';
import { closeAll, uniqueCluster, waitForSameView, waitUntil } from './helpers/cluster.js';

// The dispatchers in-process, on the shared loopback: modes, suspicions, timeouts, errors,
// filters, ordering, aborts and memory. Between processes over UDP: test/udp/rpc-multi-process.test.ts.

/** A promise the test settles by hand: a handler that stays inside until the test says so. */
class Gate<T = void> {
  resolve!: (v: T) => void;
  readonly promise = new Promise<T>((r) => (this.resolve = r));
}

/** The server object each member serves: its index, and hooks the tests steer. */
class Server {
  calls = 0;
  readonly seen: string[] = [];
  gate: Gate<string> | null = null;
  constructor(readonly index: number) {}
  ping(x: number): number {
    this.calls++;
    return x * 10 + this.index;
  }
  index_(): number {
    return this.index;
  }
  async hold(): Promise<string> {
    this.calls++;
    return this.gate === null ? `quick ${this.index}` : this.gate.promise;
  }
  boom(): never {
    const err = new TypeError(`bad input at ${this.index}`) as TypeError & { code: string };
    err.code = 'E_BAD_INPUT';
    throw err;
  }
  async later(): Promise<never> {
    await Promise.resolve();
    throw new RangeError('async failure');
  }
  echo(v: unknown): unknown {
    return v;
  }
  record(from: string, n: number, delayMs: number): Promise<number> {
    this.seen.push(`${from}:${n}`);
    return new Promise((r) => setTimeout(() => r(n), delayMs));
  }
}

interface Node {
  ch: Channel;
  server: Server;
  disp: RpcDispatcher<Server>;
}

let nodes: Node[] = [];
afterEach(async () => {
  for (const n of nodes) n.disp.stop();
  await closeAll(nodes.map((n) => n.ch));
  nodes = [];
});

/** `n` members on loopback.xml, each with an RpcDispatcher created before connect. */
async function cluster(n: number, options: ConstructorParameters<typeof RpcDispatcher>[2] = {}): Promise<Node[]> {
  const name = uniqueCluster('rpc');
  for (let i = 0; i < n; i++) {
    const ch = new Channel('loopback.xml').setName(String.fromCharCode(65 + i));
    const server = new Server(i);
    nodes.push({ ch, server, disp: new RpcDispatcher(ch, server, options) });
    await ch.connect(name);
  }
  await waitForSameView(nodes.map((x) => x.ch), 5000);
  return nodes;
}

const addr = (n: Node): Address => n.ch.getAddress()!;

describe('RpcDispatcher modes', () => {
  test('GET_ALL to null reaches every member, the caller included; the RspList has each result by member', async () => {
    const [a, ...rest] = await cluster(5);
    const rsps = await a!.disp.callRemoteMethods<number>(null, 'ping', [7], { mode: ResponseMode.GET_ALL, timeout: 5000 });
    expect(rsps.size()).toBe(5);
    expect(rsps.numReceived()).toBe(5);
    expect(rsps.getResults().sort()).toEqual([70, 71, 72, 73, 74]);
    expect(rsps.get(addr(a!))).toMatchObject({ value: 70, received: true, suspected: false, error: undefined });
    expect(rsps.isReceived(addr(rest[3]!))).toBe(true);
    expect(rsps.numSuspectedMembers()).toBe(0);
    expect([...rsps].map(([m]) => m)).toEqual(a!.ch.getView()!.getMembers());
    expect(a!.disp.numPendingRequests()).toBe(0);
  });

  test('GET_MAJORITY returns once 3 of 5 answered while 2 are still inside their handler; GET_FIRST returns the first', async () => {
    const all = await cluster(5);
    const slow = [all[3]!, all[4]!];
    for (const n of slow) n.server.gate = new Gate();
    const rsps = await all[0]!.disp.callRemoteMethods<string>(null, 'hold', [], RequestOptions.SYNC(10_000).setMode(ResponseMode.GET_MAJORITY));
    expect(rsps.numReceived()).toBe(3);
    for (const n of slow) {
      expect(rsps.isReceived(addr(n))).toBe(false);
      expect(n.server.calls).toBe(1); // inside the handler
    }
    const first = await all[0]!.disp.callRemoteMethods<string>(null, 'hold', [], { mode: ResponseMode.GET_FIRST });
    expect(first.numReceived()).toBeGreaterThanOrEqual(1);
    expect(first.getFirst()).toMatch(/^quick [0-2]$/);
    for (const n of slow) n.server.gate!.resolve('slow');
  });

  test('GET_NONE resolves at once and the call still runs on every member', async () => {
    const all = await cluster(4);
    for (const n of all) n.server.gate = new Gate();
    const rsps = await all[1]!.disp.callRemoteMethods(null, 'hold', [], RequestOptions.ASYNC());
    expect(rsps.numReceived()).toBe(0);
    expect(all[1]!.disp.numPendingRequests()).toBe(0);
    await waitUntil(() => all.every((n) => n.server.calls === 1), 5000, 'the call on every member');
    for (const n of all) n.server.gate!.resolve('done');
    // A one-way single call too.
    await expect(all[1]!.disp.callRemoteMethod(addr(all[2]!), 'ping', [1], { mode: ResponseMode.GET_NONE })).resolves.toBeUndefined();
    await waitUntil(() => all[2]!.server.calls === 2, 5000, 'the one-way call');
  });

  test('a subset of the view, anycast and the exclusion list: only those members run the call', async () => {
    const all = await cluster(4);
    const [a, b, c, d] = all as [Node, Node, Node, Node];
    const rsps = await a.disp.callRemoteMethods<number>([addr(b), addr(c), addr(b)], 'ping', [1]);
    expect([...rsps.keys()]).toEqual([addr(b), addr(c)]);
    const ex = await a.disp.callRemoteMethods<number>(null, 'ping', [2], { exclusionList: [addr(d)], anycast: true });
    expect(ex.size()).toBe(3);
    expect(ex.get(addr(d))).toBeUndefined();
    await waitUntil(() => all.every((n) => n.server.calls === (n === b || n === c ? 2 : n === d ? 0 : 1)), 5000, 'calls where sent');
    expect(d.server.calls).toBe(0);
  });

  test('a response filter that accepts only even results and stops after 2', async () => {
    const all = await cluster(5);
    let accepted = 0;
    const evenTwo: RspFilter = {
      isAcceptable: (v) => {
        const ok = (v as number) % 2 === 0;
        if (ok) accepted++;
        return ok;
      },
      needMoreResponses: () => accepted < 2,
    };
    const rsps = await all[0]!.disp.callRemoteMethods<number>(null, 'index_', [], { rspFilter: evenTwo, timeout: 5000 });
    const results = rsps.getResults();
    expect(results).toHaveLength(2);
    for (const r of results) expect(r % 2).toBe(0);
    // Odd results are never counted as received.
    for (const [m, rsp] of rsps) if (rsp.received) expect(all.findIndex((n) => addr(n) === m) % 2).toBe(0);
  });
});

describe('RpcDispatcher failures', () => {
  test('a handler that throws or rejects: the Rsp carries that member\'s error, callRemoteMethod rejects with it; an unknown method is an error too', async () => {
    const [a, b] = await cluster(2);
    const rsps = await a!.disp.callRemoteMethods(null, 'boom', []);
    for (const [m, rsp] of rsps) {
      expect(rsp.received).toBe(true);
      expect(rsp.error).toBeInstanceOf(RemoteError);
      const e = rsp.error as RemoteError;
      expect(e.sender).toBe(m);
      expect(e.remoteName).toBe('TypeError');
      expect(e.remoteCode).toBe('E_BAD_INPUT');
      expect(e.message).toContain(`bad input at ${m === addr(a!) ? 0 : 1}`);
      expect(e.remoteStack).toBeUndefined(); // not shared unless the member allows it
    }
    expect(rsps.getResults()).toEqual([]);
    await expect(a!.disp.callRemoteMethod(addr(b!), 'later', [])).rejects.toMatchObject({ code: 'ERR_REMOTE', remoteName: 'RangeError', message: expect.stringContaining('async failure') });
    await expect(a!.disp.callRemoteMethod(addr(b!), 'nope', [])).rejects.toMatchObject({ code: 'ERR_NO_SUCH_METHOD' });
    // Object.prototype's methods are not methods of the server.
    await expect(a!.disp.callRemoteMethod(addr(b!), 'toString', [])).rejects.toMatchObject({ code: 'ERR_NO_SUCH_METHOD' });
    await expect(a!.disp.callRemoteMethod(addr(b!), 'constructor', [])).rejects.toMatchObject({ code: 'ERR_NO_SUCH_METHOD' });
  });

  test('with exposeStackTraces the remote stack travels', async () => {
    const [a, b] = await cluster(2, { exposeStackTraces: true });
    const err = (await a!.disp.callRemoteMethod(addr(b!), 'boom', []).catch((e: unknown) => e)) as RemoteError;
    expect(err.remoteStack).toContain('TypeError: bad input at 1');
  });

  test('a timeout resolves the RspList with what arrived; a single call rejects with a TimeoutError; the state is freed', async () => {
    const [a, b] = await cluster(2);
    b!.server.gate = new Gate();
    const rsps = await a!.disp.callRemoteMethods(null, 'hold', [], { timeout: 200 });
    expect(rsps.isReceived(addr(a!))).toBe(true);
    expect(rsps.isReceived(addr(b!))).toBe(false);
    expect(rsps.isSuspected(addr(b!))).toBe(false);
    await expect(a!.disp.callRemoteMethod(addr(b!), 'hold', [], { timeout: 100 })).rejects.toBeInstanceOf(TimeoutError);
    expect(a!.disp.numPendingRequests()).toBe(0);
    b!.server.gate.resolve('late');
    // The late answers are counted and dropped.
    await waitUntil(() => a!.disp.getStats().lateResponses! >= 2, 5000, 'the late responses');
  });

  test('a member that leaves during a GET_ALL is suspected and the call completes at once, not at its timeout', async () => {
    const all = await cluster(3);
    const [a, , c] = all as [Node, Node, Node];
    c.server.gate = new Gate();
    const call = a.disp.callRemoteMethods<string>(null, 'hold', [], { timeout: 60_000 });
    await waitUntil(() => c.server.calls === 1, 5000, 'the call inside C');
    const gone = addr(c);
    const started = performance.now();
    await c.ch.close();
    const rsps = await call;
    expect(performance.now() - started).toBeLessThan(30_000); // far from the 60 s timeout
    expect(rsps.isSuspected(gone)).toBe(true);
    expect(rsps.getSuspectedMembers()).toEqual([gone]);
    expect(rsps.numReceived()).toBe(2);
    // A single call to a member that is gone rejects with a SuspectedError.
    await expect(a.disp.callRemoteMethod(gone, 'ping', [1])).rejects.toBeInstanceOf(SuspectedError);
  });

  test('GET_MAJORITY completes with what it has once a majority can no longer be reached', async () => {
    const all = await cluster(3);
    const [a, b, c] = all as [Node, Node, Node];
    a.server.gate = new Gate();
    b.server.gate = new Gate();
    c.server.gate = new Gate();
    const call = a.disp.callRemoteMethods(null, 'hold', [], { mode: ResponseMode.GET_MAJORITY, timeout: 60_000 });
    await waitUntil(() => all.every((n) => n.server.calls === 1), 5000, 'the call everywhere');
    c.server.gate.resolve('c');
    const gone = addr(b);
    await b.ch.close();
    // 1 received + 1 awaited can still make 2 of 3: not over yet.
    expect(a.disp.numPendingRequests()).toBe(1);
    a.server.gate.resolve('a');
    const rsps = await call;
    expect(rsps.numReceived()).toBe(2);
    expect(rsps.isSuspected(gone)).toBe(true);
  });

  test('an aborted call rejects at once and leaves no pending state; a call on an unconnected channel is refused', async () => {
    const [a, b] = await cluster(2);
    b!.server.gate = new Gate();
    const ac = new AbortController();
    const call = a!.disp.callRemoteMethods(null, 'hold', [], { timeout: 0, signal: ac.signal });
    expect(a!.disp.numPendingRequests()).toBe(1);
    ac.abort();
    await expect(call).rejects.toBeInstanceOf(AbortError);
    expect(a!.disp.numPendingRequests()).toBe(0);
    expect(getEventListeners(ac.signal, 'abort')).toHaveLength(0);
    const aborted = AbortSignal.abort();
    await expect(a!.disp.callRemoteMethod(addr(b!), 'ping', [1], { signal: aborted })).rejects.toMatchObject({ code: 'ERR_ABORTED' });
    b!.server.gate.resolve('x');
    const lone = new RpcDispatcher(new Channel('loopback.xml'), new Server(9));
    await expect(lone.callRemoteMethods(null, 'ping', [1])).rejects.toMatchObject({ code: 'ERR_CHANNEL_NOT_CONNECTED' });
    lone.stop();
    await lone.channel.close();
    // One-way calls too: an aborted signal, or a stopped dispatcher, sends nothing.
    const sent = a!.disp.getStats().requestsSent;
    await expect(a!.disp.callRemoteMethods(null, 'ping', [1], RequestOptions.ASYNC().setSignal(aborted))).rejects.toMatchObject({ code: 'ERR_ABORTED' });
    a!.disp.stop();
    await expect(a!.disp.callRemoteMethods(null, 'ping', [1], RequestOptions.ASYNC())).rejects.toMatchObject({ code: 'ERR_CHANNEL_CLOSED' });
    expect(a!.disp.getStats().requestsSent).toBe(sent);
  });

  test('a channel that disconnects, or a dispatcher stopped, ends the waiting calls', async () => {
    const [a, b] = await cluster(2);
    b!.server.gate = new Gate();
    const call = a!.disp.callRemoteMethod(addr(b!), 'hold', [], { timeout: 0 });
    await waitUntil(() => b!.server.calls === 1, 5000, 'the call inside B');
    b!.disp.stop();
    a!.disp.stop();
    await expect(call).rejects.toMatchObject({ code: 'ERR_CHANNEL_CLOSED' });
    // B's handler finishing after its dispatcher stopped sends nothing.
    b!.server.gate.resolve('late');
    await waitUntil(() => b!.disp.getStats().responsesDropped === 1, 5000, 'the dropped response');
  });
});

describe('RpcDispatcher requests and values', () => {
  test('arguments and results: JSON values, undefined, null, Uint8Array, nested; methods by numeric id; a MethodCall', async () => {
    const [a, b] = await cluster(2, { methodLookup: { 1: 'ping', 2: 'echo' } });
    const bytes = Uint8Array.from([0, 1, 254, 255]);
    for (const v of [null, undefined, 'text', 42.5, true, [1, 'two', null], { deep: { list: [1, 2], bytes } }, bytes]) {
      expect(await a!.disp.callRemoteMethod(addr(b!), 'echo', [v])).toEqual(v);
    }
    expect(await a!.disp.callRemoteMethod(addr(b!), 1, [3])).toBe(31);
    // By name, the server's type gives the result its type (this would not compile as unknown).
    const typed: number = await a!.disp.callRemoteMethod(addr(b!), 'ping', [3]);
    const all: number[] = (await a!.disp.callRemoteMethods(null, 'ping', [3])).getResults();
    expect([typed, all.length]).toEqual([31, 2]);
    expect(await a!.disp.callRemoteMethod(addr(b!), new MethodCall(2, ['by id']))).toBe('by id');
    await expect(a!.disp.callRemoteMethod(addr(b!), 3, [])).rejects.toMatchObject({ code: 'ERR_NO_SUCH_METHOD' });
    // A result the marshaller cannot carry comes back as that error.
    await expect(a!.disp.callRemoteMethod(addr(b!), 'echo', [[1, 2]], {})).resolves.toEqual([1, 2]);
    await expect(a!.disp.callRemoteMethod(addr(b!), 'echo', [() => 1])).rejects.toMatchObject({ code: 'ERR_MARSHALLING' });
  });

  test('requests from one sender start in the order sent; a slow handler does not hold up another sender', async () => {
    const [a, b, c] = await cluster(3);
    const target = addr(c!);
    // 50 calls from A, not awaited one by one; C's handler takes longer for the early ones.
    const fromA = Array.from({ length: 50 }, (_, i) => a!.disp.callRemoteMethod(target, 'record', ['A', i, 50 - i]));
    c!.server.gate = new Gate();
    const stuck = a!.disp.callRemoteMethod(target, 'hold', []);
    // B's call runs while A's is still inside C's handler.
    await expect(b!.disp.callRemoteMethod(target, 'ping', [5])).resolves.toBe(52);
    expect(await Promise.all(fromA)).toEqual(Array.from({ length: 50 }, (_, i) => i));
    expect(c!.server.seen).toEqual(Array.from({ length: 50 }, (_, i) => `A:${i}`));
    c!.server.gate.resolve('released');
    await expect(stuck).resolves.toBe('released');
  });

  test("requests and responses never reach the channel's receiver, also when the dispatcher is made after connect", async () => {
    const [a] = await cluster(2);
    const name = a!.ch.getClusterName()!;
    const late = new Channel('loopback.xml').setName('L');
    await late.connect(name);
    const server = new Server(7);
    const disp = new RpcDispatcher(late, server);
    const seen: Message[] = [];
    for (const ch of [a!.ch, late]) ch.on('message', (m) => seen.push(m));
    try {
      await waitForSameView([...nodes.map((n) => n.ch), late], 5000);
      const rsps = await a!.disp.callRemoteMethods<number>(null, 'ping', [1]);
      expect(rsps.get(late.getAddress()!)!.value).toBe(17);
      expect(await disp.callRemoteMethod(addr(a!), 'ping', [2])).toBe(20);
      await late.send(null, 'plain');
      await waitUntil(() => seen.length === 2, 5000, 'the plain message at both');
      expect(seen.map((m) => m.getObject())).toEqual(['plain', 'plain']);
    } finally {
      disp.stop();
      await late.close();
    }
  });

  test('OOB and DONT_BUNDLE requests work; flags are set on the request', async () => {
    const [a, b] = await cluster(2);
    const opts = new RequestOptions().setFlags(Flag.OOB, Flag.DONT_BUNDLE).setTimeout(5000);
    expect(opts.flags).toBe(Flag.OOB | Flag.DONT_BUNDLE);
    expect(await a!.disp.callRemoteMethod(addr(b!), 'ping', [4], opts)).toBe(41);
    expect(new RequestOptions({ flags: Flag.OOB | Flag.NO_FC }).flags).toBe(Flag.OOB | Flag.NO_FC);
    expect(() => new RequestOptions({ flags: 1 << 20 })).toThrow(expect.objectContaining({ code: 'ERR_BAD_ARGUMENT' }));
    // A request that does not loop back leaves the caller out instead of waiting for it.
    const rsps = await a!.disp.callRemoteMethods<number>(null, 'ping', [5], { flags: Flag.DONT_LOOPBACK, timeout: 5000 });
    expect([...rsps.keys()]).toEqual([addr(b!)]);
    expect(rsps.getResults()).toEqual([51]);
    expect(() => new RequestOptions({ timeout: -1 })).toThrow(expect.objectContaining({ code: 'ERR_BAD_ARGUMENT' }));
    expect(() => new RequestOptions().setMode('GET_SOME' as ResponseMode)).toThrow(expect.objectContaining({ code: 'ERR_BAD_ARGUMENT' }));
  });
});

describe('MessageDispatcher', () => {
  test('castMessage collects each handler\'s reply; sendMessage returns one; a message without a destination is refused', async () => {
    const name = uniqueCluster('md');
    const chans = [new Channel('loopback.xml').setName('P'), new Channel('loopback.xml').setName('Q')];
    const disps = chans.map((ch, i) => new MessageDispatcher(ch, { handle: async (msg: Message) => `${msg.getObject<string>()} from ${i}` }));
    try {
      for (const ch of chans) await ch.connect(name);
      await waitForSameView(chans, 5000);
      const rsps = await disps[0]!.castMessage<string>(null, new Message(null, 'hi'), { mode: ResponseMode.GET_ALL, timeout: 5000 });
      expect(rsps.getResults().sort()).toEqual(['hi from 0', 'hi from 1']);
      expect(await disps[0]!.sendMessage(new Message(chans[1]!.getAddress(), 'yo'), { timeout: 1000 })).toBe('yo from 1');
      await expect(disps[0]!.sendMessage(new Message(null, 'x'))).rejects.toMatchObject({ code: 'ERR_BAD_ARGUMENT' });
    } finally {
      for (const d of disps) d.stop();
      await closeAll(chans);
    }
  });
});

describe('memory', () => {
  test('100,000 calls leave nothing behind: no pending calls, no timer tasks, no growth of the heap', async () => {
    const [a, b] = await cluster(2);
    const target = addr(b!);
    const timer = a!.ch.getProtocolStack().timer;
    const baseTasks = timer.size();
    v8.setFlagsFromString('--expose-gc');
    const gc = vm.runInNewContext('gc') as () => void;
    const run = async (calls: number) => {
      // 100 calls in flight, each with a timeout that never fires.
      let next = 0;
      const worker = async () => {
        while (next < calls) {
          next++;
          await a!.disp.callRemoteMethod(target, 'ping', [next], { timeout: 10_000 });
        }
      };
      await Promise.all(Array.from({ length: 100 }, worker));
    };
    await run(10_000);
    gc();
    const before = process.memoryUsage().heapUsed;
    await run(100_000);
    gc();
    const after = process.memoryUsage().heapUsed;
    expect(a!.disp.numPendingRequests()).toBe(0);
    // The timeouts of completed calls were cancelled and dropped from the timer's heap.
    expect(timer.size()).toBeLessThan(baseTasks + 2 * 1024);
    expect(after - before).toBeLessThan(8 * 1024 * 1024);
  }, 120_000);
});
