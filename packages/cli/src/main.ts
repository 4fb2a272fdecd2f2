#!/usr/bin/env node
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { runDemo } from './demo.js';
import { runPerf } from './perf.js';

const USAGE = `usage: tsgroups <command> [options]

commands:
  demo     a cluster of members on loopback joins, exchanges messages, loses and regains a member
           --members N (default 4)  --messages N (default 5)  --stack FILE  --cluster NAME
  perf     each member multicasts N messages; prints msgs/s delivered per member
           --members N (default 2)  --messages N (default 100000)  --size BYTES (default 1000)
           --stack FILE (default stacks/loopback.xml)  --timeout MS (default 30000)
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
        },
      });
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
    case 'perf': {
      const { values } = parseArgs({
        args: rest,
        options: {
          members: { type: 'string', default: '2' },
          messages: { type: 'string', default: '100000' },
          size: { type: 'string', default: '1000' },
          stack: { type: 'string' },
          timeout: { type: 'string', default: '30000' },
          cluster: { type: 'string', default: `perf-${process.pid}` },
        },
      });
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
