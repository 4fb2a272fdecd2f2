#!/usr/bin/env node
import { parseArgs } from 'node:util';
import { runDemo } from './demo.js';
import { runMultiProcessDemo } from './demo-mp.js';
import { runMember } from './member.js';
import { runPerf } from './perf.js';
import { runProcessPerf } from './perf-mp.js';
import { runRpcPerf } from './perf-rpc.js';
import { describeRange, intOption, notWith, RANGES, UsageError } from './options.js';

const R = RANGES;

const USAGE = `usage: tsgroups <command> [options]

commands:
  demo     N member processes over UDP on 127.0.0.1 form a cluster; a GET_MAJORITY call through
           their RpcDispatchers returns before the slow members answer; a few put keys into a
           ReplicatedHashMap and all must hold the same map; one is killed (kill -9), the
           survivors detect it, a new member joins and fetches the map by state transfer, and all
           must agree on the final view
           --members N ${describeRange(R.demo.members)}  --stack FILE (default udp.xml)  --cluster NAME
           --in-process: instead, channels in this process on loopback join, exchange messages,
           lose and regain a member  (--members N ${describeRange(R.demoInProcess.members)}
           --messages N ${describeRange(R.demoInProcess.messages)}  --stack FILE)
  member   one cluster member for scripts: prints a JSON line per event (ready, view, suspect),
           reads commands from stdin (connect, disconnect, partition NAME,NAME, heal, perf M S, rpc JSON,
           map start|put PREFIX N|show, exit)
           --name NAME  --cluster NAME  --stack FILE (default udp.xml, \${VAR}s from the environment)
  perf     each member multicasts N messages; prints msgs/s delivered per member
           --members N ${describeRange(R.perf.members)}  --messages N ${describeRange(R.perf.messages)}
           --size BYTES ${describeRange(R.perf.size)}  --stack FILE (default loopback.xml)
           --timeout MS ${describeRange(R.perf.timeout)}: bounds sending and delivery together
           --processes N (${R.perfProcesses.processes.min}..${R.perfProcesses.processes.max}): instead, N member processes over UDP
           on 127.0.0.1 (as the JGroups anchor), each multicasting --messages of --size bytes
           (--size ${describeRange(R.perfProcesses.size)}  --stack FILE (default udp.xml)
           --timeout MS ${describeRange(R.perfProcesses.timeout)}: each member's sending and delivery)
           --json: the result as one JSON line on stdout, the progress on stderr (also perf rpc)
  perf rpc N member processes over UDP on 127.0.0.1 serve ping(int) through an RpcDispatcher; the
           first calls the others as the JGroups 5 anchor's rpc and async modes (a warm-up of 1/4
           of each test first) and prints calls/s and latencies: sequential unicast calls
           (GET_ALL, GET_FIRST), sequential calls to all members (GET_ALL), unicast calls with
           --in-flight outstanding (GET_ALL)
           --processes N ${describeRange(R.perfRpc.processes)}  --calls N ${describeRange(R.perfRpc.calls)}: each sequential
           unicast test  --calls-all N (default: --calls, ${R.perfRpc.callsAll.min}..${R.perfRpc.callsAll.max}): to all members
           --async-calls N ${describeRange(R.perfRpc.asyncCalls)}  --in-flight N ${describeRange(R.perfRpc.inFlight)}
           --stack FILE (default udp.xml)  --timeout MS ${describeRange(R.perfRpc.timeout)}: all the calls
  help     this text

Numbers are plain decimal integers within the ranges shown; anything else (or an unknown
option) is an error: the command prints why and exits with status 2. A --stack FILE is the
name of a stack tsgroups ships (udp.xml, loopback.xml, loopback-reliable.xml) or a path.
`;

/**
 * A stack the tsgroups package ships, by its bare name: the package resolves it against its own
 * stacks/ folder wherever it is installed (a --stack that is not a shipped name is a path).
 */
function shippedStack(name: 'udp.xml' | 'loopback.xml'): string {
  return name;
}

async function main(argv: string[]): Promise<number> {
  const [command = 'help', ...rest] = argv;
  switch (command) {
    case 'demo': {
      const { values } = parseArgs({
        args: rest,
        options: {
          members: { type: 'string' },
          messages: { type: 'string' },
          stack: { type: 'string' },
          cluster: { type: 'string', default: `demo-${process.pid}` },
          'in-process': { type: 'boolean', default: false },
        },
      });
      if (!values['in-process']) {
        notWith('messages', values.messages, 'applies to demo --in-process only');
        const ok = await runMultiProcessDemo({
          members: intOption('members', values.members, R.demo.members),
          stack: values.stack ?? shippedStack('udp.xml'),
          cluster: values.cluster!,
          out: (l) => console.log(l),
        });
        console.log(ok ? 'demo: OK' : 'demo: FAILED');
        return ok ? 0 : 1;
      }
      const ok = await runDemo({
        members: intOption('members', values.members, R.demoInProcess.members),
        messages: intOption('messages', values.messages, R.demoInProcess.messages),
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
      if (rest[0] === 'rpc') return perfRpc(rest.slice(1));
      const { values } = parseArgs({
        args: rest,
        options: {
          members: { type: 'string' },
          processes: { type: 'string' },
          messages: { type: 'string' },
          size: { type: 'string' },
          stack: { type: 'string' },
          timeout: { type: 'string' },
          cluster: { type: 'string', default: `perf-${process.pid}` },
          json: { type: 'boolean', default: false },
        },
      });
      const out = progress(values.json!);
      if (values.processes !== undefined) {
        notWith('members', values.members, 'does not go with --processes (one member per process)');
        const r = await runProcessPerf({
          processes: intOption('processes', values.processes, R.perfProcesses.processes),
          messages: intOption('messages', values.messages, R.perfProcesses.messages),
          size: intOption('size', values.size, R.perfProcesses.size),
          stack: values.stack,
          cluster: values.cluster!,
          timeoutMs: intOption('timeout', values.timeout, R.perfProcesses.timeout),
          out,
        });
        if (values.json) console.log(JSON.stringify(r));
        return r.complete ? 0 : 1;
      }
      const r = await runPerf({
        members: intOption('members', values.members, R.perf.members),
        messages: intOption('messages', values.messages, R.perf.messages),
        size: intOption('size', values.size, R.perf.size),
        stack: values.stack ?? shippedStack('loopback.xml'),
        cluster: values.cluster!,
        timeoutMs: intOption('timeout', values.timeout, R.perf.timeout),
        out,
      });
      if (values.json) console.log(JSON.stringify(r));
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

/** `tsgroups perf rpc [options]`. */
async function perfRpc(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      processes: { type: 'string' },
      calls: { type: 'string' },
      'calls-all': { type: 'string' },
      'async-calls': { type: 'string' },
      'in-flight': { type: 'string' },
      stack: { type: 'string' },
      timeout: { type: 'string' },
      cluster: { type: 'string', default: `perf-rpc-${process.pid}` },
      json: { type: 'boolean', default: false },
    },
  });
  const calls = intOption('calls', values.calls, R.perfRpc.calls);
  const r = await runRpcPerf({
    processes: intOption('processes', values.processes, R.perfRpc.processes),
    calls,
    callsAll: intOption('calls-all', values['calls-all'], { ...R.perfRpc.callsAll, default: calls }),
    asyncCalls: intOption('async-calls', values['async-calls'], R.perfRpc.asyncCalls),
    inFlight: intOption('in-flight', values['in-flight'], R.perfRpc.inFlight),
    stack: values.stack,
    cluster: values.cluster!,
    timeoutMs: intOption('timeout', values.timeout, R.perfRpc.timeout),
    out: progress(values.json!),
  });
  if (values.json) console.log(JSON.stringify(r));
  return r.complete ? 0 : 1;
}

/** Where the perf commands print their progress: stdout, or stderr when stdout carries `--json`'s result. */
function progress(json: boolean): (line: string) => void {
  return json ? (l) => console.error(l) : (l) => console.log(l);
}

/** parseArgs' own errors (unknown option, missing value, stray argument) are usage errors too. */
function isUsageError(err: unknown): err is Error {
  return err instanceof UsageError || (err instanceof TypeError && String((err as { code?: unknown }).code).startsWith('ERR_PARSE_ARGS_'));
}

main(process.argv.slice(2)).then(
  (code) => (process.exitCode = code),
  (err: unknown) => {
    if (isUsageError(err)) {
      process.stderr.write(`tsgroups ${process.argv[2] ?? ''}: ${err.message}\n(tsgroups help lists the commands and their options)\n`);
      process.exitCode = 2;
      return;
    }
    console.error(err instanceof Error ? `${err.name}: ${err.message}` : err);
    process.exitCode = 1;
  },
);
