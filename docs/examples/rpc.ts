// Remote method calls with RpcDispatcher (docs/building-blocks.md shows this file verbatim, and
// test/building-blocks-docs.test.ts runs it). Three members in this process, A, B and C, each
// with a dispatcher over its own Counter; A calls them in each response mode.
import { type Address, Channel, RequestOptions, ResponseMode, RpcDispatcher } from 'tsgroups';

/** The server object: the other members call its methods (sync or async ones). */
class Counter {
  private total = 0;
  constructor(readonly name: string) {}
  add(n: number): number {
    this.total += n;
    return this.total;
  }
  whoAreYou(): string {
    return this.name;
  }
  async length(bytes: Uint8Array): Promise<number> {
    return bytes.length;
  }
}

export async function main(cluster = 'rpc-demo', print: (line: string) => void = console.log): Promise<void> {
  const channels = ['A', 'B', 'C'].map((name) => new Channel('loopback.xml').setName(name));
  // One dispatcher on every member; `methodLookup` lets callers name `add` by the id 1.
  const dispatchers = channels.map(
    (ch) => new RpcDispatcher(ch, new Counter(ch.getName()!), { methodLookup: { 1: 'add' } }),
  );
  try {
    for (const ch of channels) await ch.connect(cluster);
    const a = dispatchers[0]!;
    const [b, c] = channels.slice(1).map((ch) => ch.getAddress()!) as [Address, Address];

    // GET_ALL (the default): every member of the view answers, the caller included.
    const all = await a.callRemoteMethods<number>(null, 'add', [5]);
    print(`GET_ALL: ${all}`); // GET_ALL: A: value: 5, B: value: 5, C: value: 5

    // GET_MAJORITY: done after ⌊3/2⌋+1 = 2 answers; GET_FIRST: after the first one.
    const most = await a.callRemoteMethods<string>(null, 'whoAreYou', [], { mode: ResponseMode.GET_MAJORITY });
    print(`GET_MAJORITY: ${most.numReceived()} of ${most.size()}`); // GET_MAJORITY: 2 of 3
    const firstOnly = RequestOptions.SYNC(5000).setMode(ResponseMode.GET_FIRST);
    const first = await a.callRemoteMethods<string>(null, 'whoAreYou', [], firstOnly);
    // GET_FIRST: 1 of 3, from A (or B, or C)
    print(`GET_FIRST: ${first.numReceived()} of ${first.size()}, from ${first.getFirst()}`);

    // GET_NONE: resolves once sent. Requests from one sender start in the order it sent them,
    // so the call by id 1 that follows sees the 10 added on every member.
    await a.callRemoteMethods(null, 'add', [10], RequestOptions.ASYNC());
    const totals = await a.callRemoteMethods<number>(null, 1, [0]);
    print(`after GET_NONE: ${totals.getResults().join(', ')}`); // after GET_NONE: 15, 15, 15

    // A subset of the view gets a unicast each; one member answers callRemoteMethod directly.
    const some = await a.callRemoteMethods<string>([c, b], 'whoAreYou');
    print(`subset: ${some.getResults().join(', ')}`); // subset: C, B
    const n = await a.callRemoteMethod<number>(b, 'length', [new Uint8Array(1000)]);
    print(`B counted ${n} bytes`); // B counted 1000 bytes
  } finally {
    for (const ch of channels) await ch.close();
  }
}
