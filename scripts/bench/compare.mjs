// `pnpm bench:compare`: the workloads of `pnpm bench` on tsgroups, JGroups 5, JGroups 2.12.2 and
// raw Node datagrams in the same run, alternated (each workload on each system in turn, then
// again), medians with min–max and the ratios tsgroups / JGroups 5; see README.md.
//   node scripts/bench/compare.mjs [--runs N] [--quick] [--only ...] [--members ...] [--systems tsgroups,jgroups5,jgroups2,raw] [--out DIR]
import { parseOptions, runSuite } from './suite.mjs';
import { allSystems } from './systems.mjs';

const systems = allSystems();
const opts = parseOptions(process.argv.slice(2), 'compare', systems);
process.exitCode = await runSuite('compare', systems, opts, 'jgroups5');
