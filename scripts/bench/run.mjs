// `pnpm bench`: the tsgroups benchmarks between member processes over stacks/udp.xml (multicast
// throughput and peak RSS with 2, 4, 8 members and large messages; RPC) and the in-process stacks,
// each workload --runs times; see README.md. Needs a build (pnpm bench builds first).
//   node scripts/bench/run.mjs [--runs N] [--quick] [--only mcast,large,rpc,inproc] [--members 2,4,8] [--out DIR]
import { parseOptions, runSuite } from './suite.mjs';
import { tsgroups } from './systems.mjs';

const opts = parseOptions(process.argv.slice(2), 'bench', [tsgroups]);
process.exitCode = await runSuite('bench', [tsgroups], opts);
