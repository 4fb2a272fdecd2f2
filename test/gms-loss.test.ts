import { Channel, DISCARD, GMS } from 'tsgroups';
import { closeAll, discardOf, loopbackStack, uniqueCluster, waitForSameView } from './helpers/cluster.js';

// GMS resends what it needs (JOIN_REQ, views to members that did not acknowledge, LEAVE_REQ),
// so membership holds even when datagrams get lost. The seeds make each run reproducible.
const chans: Channel[] = [];
afterEach(async () => {
  await closeAll(chans.splice(0));
});

function lossyStack(seed: number, rate: number) {
  const stack = loopbackStack(() => [new DISCARD().setSeed(seed).setUpDiscardRate(rate)]);
  stack.findProtocol(GMS)!.setValues({ join_timeout: 300, view_ack_collection_timeout: 2000, leave_timeout: 2000 });
  return stack;
}

test.each([1, 2, 3, 4, 5, 6])('with 20%% of incoming messages lost (seed %i), five members join, agree and leave cleanly', async (seed) => {
  const cluster = uniqueCluster('lossy');
  for (let i = 0; i < 5; i++) {
    const ch = new Channel(lossyStack(seed * 10 + i, 0.2)).setName(`L${i}`);
    chans.push(ch);
    await ch.connect(cluster);
  }
  const view = await waitForSameView(chans, 10_000);
  expect(view.getMembers()).toEqual(chans.map((c) => c.getAddress()));
  // Two members leave under the same loss; the others agree on a view without them.
  await Promise.all([chans[1]!.disconnect(), chans[3]!.disconnect()]);
  const rest = [chans[0]!, chans[2]!, chans[4]!];
  const after = await waitForSameView(rest, 10_000);
  expect(after.getMembers()).toEqual(rest.map((c) => c.getAddress()));
  const resent = rest.reduce((n, c) => n + c.getProtocolStack().findProtocol(GMS)!.stats.viewsResent, 0);
  const dropped = chans.reduce((n, c) => n + discardOf(c).stats.droppedUp, 0);
  expect(dropped).toBeGreaterThan(0);
  if (process.env.TSGROUPS_GMS_STATS) console.info(`seed ${seed}: ${dropped} dropped, ${resent} views resent`);
});
