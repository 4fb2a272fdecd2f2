#!/usr/bin/env node
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { runDemo } from './demo.js';
import { runMultiProcessDemo } from './demo-mp.js';
import { runMember } from './member.js';
import { runPerf } from './perf.js';
import { runProcessPerf } from './perf-mp.js';

const USAGE = `usage: tsgroups <command> [options]

commands:
  demo     N member processes over UDP on 127.0.0.1 form a cluster; one is killed (kill -9), the
           survivors detect it, a new member joins, and all must agree on the final view
           --members N (default 4)  --stack FILE (default stacks/udp.xml)  --cluster NAME
           --in-process: instead, channels in this process on loopback join, exchange messages,
           lose and regain a member  (--members N  --messages N (default 5)  --stack FILE)
  member   one cluster member for scripts: prints a JSON line per event (ready, view, suspect),
           reads commands from stdin (connect, disconnect, partition NAME,NAME, heal, perf M S, exit)
           --name NAME  --cluster NAME  --stack FILE (default stacks/udp.xml, \${VAR}s from the environment)
  perf     each member multicasts N messages; prints msgs/s delivered per member
           --members N (default 2)  --messages N (default 100000)  --size BYTES (default 1000)
           --stack FILE (default stacks/loopback.xml)  --timeout MS (default 30000)
           --processes N: instead, N member processes over UDP on 127.0.0.1 (as the JGroups
           anchor), each multicasting --messages of --size bytes  (--stack FILE (default
           stacks/udp.xml)  --timeout MS (default 120000))
  help     this text
`;

/** The stacks/ folder of the repository (or of the installed package). */
function shippedStack(name: string): string {
  for (const rel of [`../../../stacks/${name}`, `../stacks/${name}`]) {
    const p = fileURLToPath(new URL(rel, import.meta.url));
    if (existsSync(p)) return p;
  }
  return name;
}

async function main(argv: string[]): Promise<number> {
  const [command = 'help', ...rest] = argv;
  switch (command) {
    case 'demo': {
      const { values } = parseArgs({
        args: rest,
        options: {
          members: { type: 'string', default: '4' },
          messages: { type: 'string', default: '5' },
          stack: { type: 'string' },
          cluster: { type: 'string', default: `demo-${process.pid}` },
          'in-process': { type: 'boolean', default: false },
        },
      });
      if (!values['in-process']) {
        const ok = await runMultiProcessDemo({
          members: Math.max(2, Math.min(25, Number(values.members) || 4)),
          stack: values.stack ?? shippedStack('udp.xml'),
          cluster: values.cluster!,
          out: (l) => console.log(l),
        });
        console.log(ok ? 'demo: OK' : 'demo: FAILED');
        return ok ? 0 : 1;
      }
      const ok = await runDemo({
        members: Math.max(2, Math.min(26, Number(values.members) || 4)),
        messages: Math.max(1, Number(values.messages) || 5),
        stack: values.stack ?? shippedStack('loopback.xml'),
        cluster: values.cluster!,
        out: (l) => console.log(l),
      });
      console.log(ok ? 'demo: OK' : 'demo: FAILED');
      return ok ? 0 : 1;
    }
    case 'member': {
      const { values } = parseArgs({
        args: rest,
        options: {
          name: { type: 'string' },
          cluster: { type: 'string' },
          stack: { type: 'string' },
        },
      });
      if (!values.name || !values.cluster) {
        process.stderr.write(`member: --name and --cluster are required\n${USAGE}`);
        return 2;
      }
      return runMember({ name: values.name, cluster: values.cluster, stack: values.stack ?? shippedStack('udp.xml') });
    }
    case 'perf': {
      const { values } = parseArgs({
        args: rest,
        options: {
          members: { type: 'string', default: '2' },
          processes: { type: 'string' },
          messages: { type: 'string', default: '100000' },
          size: { type: 'string', default: '1000' },
          stack: { type: 'string' },
          timeout: { type: 'string' },
          cluster: { type: 'string', default: `perf-${process.pid}` },
        },
      });
      if (values.processes !== undefined) {
        const r = await runProcessPerf({
          processes: Math.max(1, Math.min(25, Number(values.processes) || 2)),
          messages: Math.max(1, Number(values.messages) || 100_000),
          size: Math.max(2, Number(values.size) || 0),
          stack: values.stack,
          cluster: values.cluster!,
          timeoutMs: Number(values.timeout) || 120_000,
          out: (l) => console.log(l),
        });
        return r.complete ? 0 : 1;
      }
      const r = await runPerf({
        members: Math.max(1, Number(values.members) || 2),
        messages: Math.max(1, Number(values.messages) || 100_000),
        size: Math.max(0, Number(values.size) || 0),
        stack: values.stack ?? shippedStack('loopback.xml'),
        cluster: values.cluster!,
        timeoutMs: Number(values.timeout) || 30_000,
        out: (l) => console.log(l),
      });
      return r.delivered === r.expected ? 0 : 1;
    }
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(USAGE);
      return 0;
    default:
      process.stderr.write(`unknown command: ${command}\n${USAGE}`);
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => (process.exitCode = code),
  (err: unknown) => {
    console.error(err instanceof Error ? `${err.name}: ${err.message}` : err);
    process.exitCode = 1;
  },
);
