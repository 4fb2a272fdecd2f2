// The workloads of the benchmarks, their default and --quick counts, and the figures each shows.
// Each workload is one job per system and run; a job's run has `metrics` (see README.md).

/** The categories `--only` picks from. */
export const CATEGORIES = ['mcast', 'large', 'rpc', 'inproc'];

const MB = 1e6;

/**
 * The workloads for `opts` ({ quick, only: string[], members: number[] }):
 * - mcast: every member process multicasts `messages` of 1000 B (one per --members count);
 * - large: 2 members (the smallest --members count) multicast 64 kB and 1 MB messages, ~100 MB
 *   per sender (quick: ~20 MB);
 * - rpc: sequential unicast calls, calls to all, 100 calls in flight with 2 members; calls to
 *   all with 4;
 * - inproc: 2 members in one process on loopback.xml and loopback-reliable.xml (tsgroups only).
 */
export function workloads({ quick, only, members }) {
  const list = [];
  const want = (c) => only.includes(c);
  const mcastFigures = [
    { metric: 'msgsPerSec', label: 'msgs/s per member' },
    { metric: 'mbPerSec', label: 'MB/s per member' },
    { metric: 'peakRssMB', label: 'peak RSS per member', unit: ' MB' },
    { metric: 'lossPct', label: 'datagrams lost (no reliability)', unit: ' %' },
  ];
  if (want('mcast')) {
    for (const n of members) {
      // 8 members receive 8x what each sends: fewer per sender keeps a full compare run within ~25 min on 2 cores.
      const messages = quick ? (n >= 8 ? 5_000 : 20_000) : n >= 8 ? 25_000 : 200_000;
      list.push({ id: `mcast-${n}x1000`, kind: 'mcast', category: 'mcast', members: n, size: 1000, messages, label: `multicast, ${n} members, ${messages / 1000}k x 1000 B each`, figures: mcastFigures });
    }
  }
  if (want('large')) {
    const n = Math.min(...members);
    for (const [size, name] of [
      [64_000, '64 kB'],
      [1_000_000, '1 MB'],
    ]) {
      const messages = Math.round(((quick ? 20 : 100) * MB) / size);
      list.push({ id: `mcast-${n}x${size}`, kind: 'mcast', category: 'large', members: n, size, messages, label: `multicast, ${n} members, ${messages} x ${name} each`, figures: mcastFigures });
    }
  }
  if (want('rpc')) {
    const calls = quick ? 1000 : 10_000;
    const asyncCalls = quick ? 5000 : 100_000;
    list.push({
      id: 'rpc-2',
      kind: 'rpc',
      category: 'rpc',
      members: 2,
      calls,
      callsAll: calls,
      asyncCalls,
      inFlight: 100,
      label: `RPC, 2 members (${calls / 1000}k sequential calls, ${asyncCalls / 1000}k with 100 in flight)`,
      figures: [
        { metric: 'unicastCallsPerSec', label: 'unicast GET_ALL, sequential: calls/s' },
        { metric: 'unicastP50Us', label: '… p50', unit: ' us' },
        { metric: 'unicastP99Us', label: '… p99', unit: ' us' },
        { metric: 'asyncCallsPerSec', label: 'unicast GET_ALL, 100 in flight: calls/s' },
        { metric: 'allCallsPerSec', label: 'to all 2, GET_ALL, sequential: calls/s' },
        { metric: 'allP50Us', label: '… p50', unit: ' us' },
        { metric: 'allP99Us', label: '… p99', unit: ' us' },
      ],
    });
    list.push({
      id: 'rpc-4',
      kind: 'rpc',
      category: 'rpc',
      members: 4,
      calls: quick ? 100 : 1000,
      callsAll: calls,
      asyncCalls: 0,
      inFlight: 100,
      label: `RPC, 4 members (${calls / 1000}k sequential calls to all)`,
      figures: [
        { metric: 'allCallsPerSec', label: 'to all 4, GET_ALL, sequential: calls/s' },
        { metric: 'allP50Us', label: '… p50', unit: ' us' },
        { metric: 'allP99Us', label: '… p99', unit: ' us' },
      ],
    });
  }
  if (want('inproc')) {
    const messages = quick ? 20_000 : 200_000;
    list.push({
      id: 'inproc-2',
      kind: 'inproc',
      category: 'inproc',
      members: 2,
      size: 1000,
      messages,
      label: `in-process, 2 members, ${messages / 1000}k x 1000 B each`,
      figures: [
        { metric: 'minimalMsgsPerSec', label: 'loopback.xml: msgs/s per member' },
        { metric: 'reliableMsgsPerSec', label: 'loopback-reliable.xml: msgs/s per member' },
        { metric: 'reliableToMinimal', label: 'reliable / minimal' },
        { metric: 'reliablePeakRssMB', label: 'loopback-reliable.xml: peak RSS (process)', unit: ' MB' },
      ],
    });
  }
  return list;
}
