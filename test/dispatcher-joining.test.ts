import { type Address, Channel, RpcDispatcher, type View } from 'tsgroups';
import { closeAll, uniqueCluster } from './helpers/cluster.js';

// A member that joins gets requests as soon as the others installed the view with it, which can
// be before its own connect() has finished (and it may send). Its answers used to be dropped
// then, and the callers waited until their timeout; now they go once connect() has finished.

test('a request that reaches a member while it is still joining is answered once it has joined', async () => {
  const name = uniqueCluster('rpc-joining');
  const a = new Channel('loopback.xml').setName('A');
  const b = new Channel('loopback.xml').setName('B');
  const joining: boolean[] = []; // whether B was still joining when it ran each request
  const da = new RpcDispatcher(a, {});
  const db = new RpcDispatcher(b, {
    hello: () => {
      joining.push(b.isConnecting());
      return 'hi from B';
    },
    later: async () => {
      await Promise.resolve();
      return 'later from B';
    },
  });
  let calls: Promise<unknown[]> | null = null;
  // A calls B the moment its view has B.
  const onView = (view: View) => {
    const addr: Address | null = b.getAddress();
    if (calls !== null || addr === null || !view.containsMember(addr)) return;
    calls = Promise.all([da.callRemoteMethod(addr, 'hello', [], { timeout: 5000 }), da.callRemoteMethod(addr, 'later', [], { timeout: 5000 })]);
  };
  a.on('view', onView);
  try {
    await a.connect(name);
    await b.connect(name);
    expect(calls).not.toBeNull();
    const started = performance.now();
    expect(await calls).toEqual(['hi from B', 'later from B']);
    expect(performance.now() - started).toBeLessThan(4000); // answered, not timed out
    expect(joining).toEqual([true]); // the request did reach B while it was joining
    expect(db.getStats()).toMatchObject({ responsesSent: 2, responsesDropped: 0 });
  } finally {
    a.off('view', onView);
    da.stop();
    db.stop();
    await closeAll([a, b]);
  }
});
