import { type Address, Channel, DISCARD, GMS, MergeView, PING, ProtocolStack, SHARED_LOOPBACK } from 'tsgroups';
import { closeAll, uniqueCluster, waitForSameView } from './helpers/cluster.js';

// Members started at the same moment must end in one cluster even when discovery and join
// messages get lost: PING sends its request several times per round (num_discovery_runs), and a
// joiner that saw a lower-addressed joiner lets that one found the group and keeps looking for it.
// Discovery runs over the network here (PING, not the loopback's lossless lookup), with DISCARD
// right above the transport, so requests, responses, JOIN_REQs and views are all lost at random.
const MEMBERS = 5;
const SEEDS = 10;
const joinTimes: Record<string, number[]> = {};

function lossyStack(seed: number, rate: number): ProtocolStack {
  const gms = new GMS().setValues({ join_timeout: 500, view_ack_collection_timeout: 500, join_retry_delay: 20 });
  return new ProtocolStack([
    new SHARED_LOOPBACK(),
    new DISCARD().setSeed(seed).setUpDiscardRate(rate).setDownDiscardRate(rate),
    new PING(),
    gms,
  ]);
}

const cases = [0.05, 0.1].flatMap((rate) => Array.from({ length: SEEDS }, (_, i) => [rate * 100, i + 1] as const));

describe('members started together under random loss', () => {
  const chans: Channel[] = [];
  afterEach(async () => {
    await closeAll(chans.splice(0));
  });
  afterAll(() => {
    if (!process.env.TSGROUPS_JOIN_STATS) return;
    for (const [rate, times] of Object.entries(joinTimes)) {
      const s = [...times].sort((a, b) => a - b);
      console.info(`${rate}% loss: join time median ${s[Math.floor(s.length / 2)]!.toFixed(0)} ms, max ${s[s.length - 1]!.toFixed(0)} ms over ${s.length} seeds`);
    }
  });

  test.each(cases)('with %i%% loss both ways (seed %i), five members end in one view without a merge', async (pct, seed) => {
    const cluster = uniqueCluster('join-loss');
    const merges: string[] = [];
    // The creator of each member's first view: the member itself if it founded a group.
    const firstCreator = new Map<Channel, Address>();
    for (let i = 0; i < MEMBERS; i++) {
      const ch = new Channel(lossyStack(seed * 100 + i, pct / 100)).setName(`J${i}`);
      ch.on('view', (v) => {
        if (!firstCreator.has(ch)) firstCreator.set(ch, v.viewId.creator);
        if (v instanceof MergeView) merges.push(`${ch.getName()}: ${v}`);
      });
      chans.push(ch);
    }
    const started = performance.now();
    await Promise.all(chans.map((c) => c.connect(cluster)));
    // One member founded the group; every other one joined it (more founders: the start split).
    const founders = chans.filter((c) => firstCreator.get(c) === c.getAddress()).map((c) => c.getName());
    expect(founders).toHaveLength(1);
    const view = await waitForSameView(chans, 15_000);
    (joinTimes[pct] ??= []).push(performance.now() - started);
    expect(view.size()).toBe(MEMBERS);
    expect(new Set(view.getMembers())).toEqual(new Set(chans.map((c) => c.getAddress())));
    expect(merges).toEqual([]);
  });
});

describe('PING num_discovery_runs', () => {
  const chans: Channel[] = [];
  afterEach(async () => {
    await closeAll(chans.splice(0));
  });

  test.each([
    [3, 3],
    [1, 1],
  ])('with num_discovery_runs=%i, a discovery round that finds nobody sends its request %i times', async (runs, expected) => {
    const stack = lossyStack(1, 0);
    const ping = stack.findProtocol(PING)!.setValues({ num_discovery_runs: runs });
    const ch = new Channel(stack).setName('alone');
    chans.push(ch);
    await ch.connect(uniqueCluster('ping-runs'));
    // A lone member runs one round, then founds its group.
    expect(ch.getView()!.getMembers()).toEqual([ch.getAddress()]);
    expect(ping.stats.requestsSent).toBe(expected);
  });
});
