// How long a call waits (docs/building-blocks.md shows this file verbatim, and
// test/building-blocks-docs.test.ts runs it): timeouts, an AbortSignal, a member that leaves.
// B's reports hang until it is told to release them; everything else answers at once.
import { AbortError, type Address, Channel, RpcDispatcher, SuspectedError, TimeoutError } from 'tsgroups';

class Archive {
  private releaseAll!: () => void;
  private readonly released = new Promise<void>((resolve) => (this.releaseAll = resolve));
  constructor(readonly name: string) {}
  async report(): Promise<string> {
    if (this.name === 'B') await this.released;
    return `report of ${this.name}`;
  }
  ping(): string {
    return `${this.name} is here`;
  }
  release(): void {
    this.releaseAll();
  }
}

export async function main(cluster = 'waiting-demo', print: (line: string) => void = console.log): Promise<void> {
  const channels = ['A', 'B', 'C'].map((name) => new Channel('loopback.xml').setName(name));
  const archives = channels.map((ch) => new Archive(ch.getName()!));
  const dispatchers = channels.map((ch, i) => new RpcDispatcher(ch, archives[i]!));
  try {
    for (const ch of channels) await ch.connect(cluster);
    const [a, c] = [dispatchers[0]!, dispatchers[2]!];
    const b: Address = channels[1]!.getAddress()!;

    // A timeout resolves a group call with what arrived ...
    const rsps = await a.callRemoteMethods<string>(null, 'report', [], { timeout: 200 });
    print(`after 200 ms: ${rsps}`); // after 200 ms: A: value: report of A, B: not received, C: value: report of C
    // ... and rejects a call to one member.
    await a.callRemoteMethod(b, 'report', [], { timeout: 200 }).catch((err) => {
      if (!(err instanceof TimeoutError)) throw err;
      print(`one member: ${err.code}`); // one member: ERR_TIMEOUT
    });

    // B's two reports still hang, yet B answers C: a slow async method holds up nobody.
    print(await c.callRemoteMethod<string>(b, 'ping')); // B is here

    // Aborting rejects the call at once; AbortSignal.timeout(ms) works the same way.
    const abort = new AbortController();
    const aborted = a.callRemoteMethod(b, 'report', [], { signal: abort.signal });
    abort.abort();
    await aborted.catch((err) => {
      if (!(err instanceof AbortError)) throw err;
      print(`aborted: ${err.code}`); // aborted: ERR_ABORTED
    });
    print(`calls still waiting: ${a.numPendingRequests()}`); // calls still waiting: 0

    // B leaves while calls wait for it: it counts as answered, suspected.
    const group = a.callRemoteMethods<string>(null, 'report');
    const single = a.callRemoteMethod<string>(b, 'report').catch((err: unknown) => err); // fails while B closes
    await channels[1]!.close();
    const left = await group;
    // B left: report of A, report of C; B suspected: true
    print(`B left: ${left.getResults().join(', ')}; B suspected: ${left.isSuspected(b)}`);
    const failure = await single;
    if (!(failure instanceof SuspectedError)) throw new Error(`expected a SuspectedError, got ${failure}`);
    print(`one member: ${failure.code}`); // one member: ERR_SUSPECTED
  } finally {
    for (const archive of archives) archive.release();
    for (const ch of channels) await ch.close();
  }
}
