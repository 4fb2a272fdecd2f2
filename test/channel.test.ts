import { Channel, ChannelStateError, Flag, Message } from 'tsgroups';
import { closeAll, loopbackStack, type Member, startCluster, uniqueCluster, waitForSameView, waitUntil } from './helpers/cluster.js';

let members: Member[] = [];
afterEach(async () => {
  await closeAll(members.map((m) => m.channel));
  members = [];
});

test('three channels form one view, the first is coordinator', async () => {
  members = await startCluster(3);
  const view = members[0]!.channel.getView()!;
  expect(view.size()).toBe(3);
  expect(view.getCoord()).toBe(members[0]!.channel.getAddress());
  expect(view.getMembers()).toEqual(members.map((m) => m.channel.getAddress()));
});

test('a multicast reaches every member once, unicast only its target', async () => {
  members = await startCluster(3);
  const [a, b, c] = members.map((m) => m.channel);
  await a!.send(null, 'hello');
  await a!.send(c!.getAddress(), { to: 'C' });
  await waitUntil(() => members.every((m) => m.rec.messages.length >= 1) && members[2]!.rec.messages.length === 2, 2000);
  expect(members[0]!.rec.objects()).toEqual(['hello']);
  expect(members[1]!.rec.objects()).toEqual(['hello']);
  expect(members[2]!.rec.objects()).toEqual(['hello', { to: 'C' }]);
  expect(members[2]!.rec.messages[1]!.getSrc()).toBe(a!.getAddress());
  expect(b!.getAddress()).not.toBe(a!.getAddress());
});
