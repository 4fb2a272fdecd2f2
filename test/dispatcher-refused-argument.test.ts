import { Channel, MessageDispatcher, Message, ResponseMode, RpcDispatcher } from 'tsgroups';
import { closeAll, uniqueCluster } from './helpers/cluster.js';

// A request whose argument the marshaller refuses never goes out: the call rejects with
// ERR_MARSHALLING at once, and its state is freed then, not when its timeout fires (with no
// timeout it used to stay pending for good).

const channels: Channel[] = [];
afterEach(async () => {
  await closeAll(channels.splice(0));
});

test('an argument the marshaller refuses rejects the call and leaves nothing pending, whatever the timeout', async () => {
  const cluster = uniqueCluster('refused-arg');
  for (const name of ['A', 'B']) channels.push(new Channel('loopback.xml').setName(name));
  const [a] = channels.map((ch) => new RpcDispatcher(ch, { echo: (v: unknown) => v })) as [RpcDispatcher];
  for (const ch of channels) await ch.connect(cluster);
  const b = channels[1]!.getAddress()!;
  const refused = expect.objectContaining({ code: 'ERR_MARSHALLING' });

  await expect(a.callRemoteMethod(b, 'echo', [() => 1], { timeout: 0 })).rejects.toEqual(refused);
  expect(a.numPendingRequests()).toBe(0);
  await expect(a.callRemoteMethods(null, 'echo', [Symbol('x')], { timeout: 0 })).rejects.toEqual(refused);
  await expect(a.callRemoteMethods([b], 'echo', [new WeakMap()], { mode: ResponseMode.GET_FIRST })).rejects.toEqual(refused);
  expect(a.numPendingRequests()).toBe(0);

  // The same through a MessageDispatcher (its own id), and the dispatcher still works afterwards.
  const [md] = channels.map((ch) => new MessageDispatcher(ch, (msg) => msg.getObject(), { id: 7 })) as [MessageDispatcher];
  await expect(md.sendMessage(new Message(b, { f: () => 1 }), { timeout: 0 })).rejects.toEqual(refused);
  expect(md.numPendingRequests()).toBe(0);
  await expect(md.sendMessage(new Message(b, 'fine'))).resolves.toBe('fine');
  await expect(a.callRemoteMethod(b, 'echo', ['fine'])).resolves.toBe('fine');
});
