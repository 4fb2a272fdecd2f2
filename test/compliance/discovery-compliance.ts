// The discovery compliance suite: the behaviours every discovery protocol (PING, TCPPING,
// FILE_PING ...) must give GMS, run by each protocol's own test file with a factory
// (test/compliance/<name>.discovery.test.ts). Members are whole channels over the protocol's
// usual transport, everything on 127.0.0.1, with quick failure detection and merging.
import { Channel, type ProtocolStack } from 'tsgroups';
import { closeAll, uniqueCluster, waitForSameView } from '../helpers/cluster.js';
import { waitUntil } from '../helpers/wait.js';

/** What a discovery protocol's test file gives the suite; a new one for every test. */
export interface DiscoveryUnderTest {
  /** A new stack for member `i` (0 .. members - 1) of this test's cluster. */
  stack(i: number): ProtocolStack;
  /** Releases what the factory made (folders, reserved ports ...). */
  teardown?(): Promise<void>;
}

/** The largest number of members a test of the suite starts. */
export const MAX_MEMBERS = 4;

export function discoveryCompliance(name: string, makeStack: () => Promise<DiscoveryUnderTest>): void {
  describe(`discovery compliance: ${name}`, () => {
    let under: DiscoveryUnderTest | undefined;
    let cluster = '';
    const channels: Channel[] = [];

    beforeEach(async () => {
      under = await makeStack();
      cluster = uniqueCluster(`disc-${name.toLowerCase()}`);
    });
    afterEach(async () => {
      await closeAll(channels.splice(0));
      await under?.teardown?.();
      under = undefined;
    });

    function member(i: number, memberName: string): Channel {
      const ch = new Channel(under!.stack(i)).setName(memberName);
      channels.push(ch);
      return ch;
    }

    test('3 members started one after the other form one view, the first as coordinator', async () => {
      const chs = ['A', 'B', 'C'].map((n, i) => member(i, n));
      for (const ch of chs) await ch.connect(cluster);
      const view = await waitForSameView(chs, 10_000);
      expect(view.getCoord()).toBe(chs[0]!.getAddress());
    });

    test('members started at the same moment end in one view', async () => {
      const chs = ['A', 'B', 'C'].map((n, i) => member(i, n));
      await Promise.all(chs.map((ch) => ch.connect(cluster)));
      await waitForSameView(chs, 15_000);
    });

    test('a member that left is not chosen as coordinator by a later joiner (no second group)', async () => {
      const a = member(0, 'A');
      await a.connect(cluster);
      await a.disconnect();
      const b = member(1, 'B');
      await b.connect(cluster);
      expect(b.getView()!.getCoord()).toBe(b.getAddress());
      expect(b.getView()!.size()).toBe(1);
      const c = member(2, 'C');
      await c.connect(cluster);
      const view = await waitForSameView([b, c], 10_000);
      expect(view.getCoord()).toBe(b.getAddress());
    });

    test('a joiner finds the new coordinator after the first coordinator left', async () => {
      const chs = ['A', 'B', 'C'].map((n, i) => member(i, n));
      for (const ch of chs) await ch.connect(cluster);
      await waitForSameView(chs, 10_000);
      await chs[0]!.disconnect();
      const rest = chs.slice(1);
      await waitForSameView(rest, 10_000);
      const d = member(3, 'D');
      await d.connect(cluster);
      const view = await waitForSameView([...rest, d], 10_000);
      expect(view.getCoord()).toBe(chs[1]!.getAddress());
      await waitUntil(() => d.getView()?.size() === 3, 1000, 'D in a view of 3');
    });
  });
}

/** The variables of stacks/udp.xml and tcp.xml that make failure detection and merging quick. */
export const quickTimings: Record<string, string> = {
  TSGROUPS_BIND_ADDR: '127.0.0.1',
  TSGROUPS_FD_INTERVAL: '500ms',
  TSGROUPS_FD_TIMEOUT: '3s',
  TSGROUPS_MERGE_MIN_INTERVAL: '1s',
  TSGROUPS_MERGE_MAX_INTERVAL: '2s',
  TSGROUPS_DISCOVERY_TIMEOUT: '500ms',
};
