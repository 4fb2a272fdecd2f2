import { createInterface } from 'node:readline';
import { type Address, Channel, DISCARD, MergeView, RpcDispatcher, type View } from 'tsgroups';
import { type MapEvent, MemberMap } from './member-map.js';
import { MemberRpc, type RpcEvent } from './member-rpc.js';
import { type RpcPerfResult, rpcPerfServer, runRpcPerfCalls } from './rpc-perf-calls.js';

export interface MemberOptions {
  name: string;
  cluster: string;
  /** A stack file (its `${VAR}`s are read from the environment). */
  stack: string;
  /** One JSON line per event (default: stdout). */
  out?: (line: string) => void;
}

/** What `tsgroups member` prints, one JSON object per line. */
export type MemberEvent =
  | { event: 'ready'; address: string; name: string }
  | { event: 'view'; id: string; coord: string; members: string[]; addresses: string[]; merge: boolean }
  | { event: 'suspect'; member: string; address: string }
  | { event: 'disconnected' }
  | { event: 'partitioned'; from: string[] }
  | { event: 'healed' }
  | { event: 'loss'; rate: number; seed: number }
  | { event: 'sent'; multicasts: number; unicasts: number }
  | { event: 'report'; streams: Record<string, StreamReport>; dropped: number; retransmitted: number }
  | { event: 'perf'; viewSize: number; sent: number; size: number; received: number; expected: number; elapsedMs: number; rate: number; maxRssKiB: number }
  | ({ event: 'rpcperf' } & RpcPerfResult)
  | { event: 'stats'; stats: Record<string, Record<string, number>>; memory: { rss: number; heapUsed: number }; delivered: Record<string, number>; texts: { from: string; text: string }[] }
  | { event: 'error'; message: string; cmd?: string }
  | { event: 'closed' }
  | RpcEvent
  | MapEvent;

/** What a member received of another member's burst (see the `burst` command). */
export interface StreamReport {
  multicasts: number;
  unicasts: number;
  /** Messages that arrived twice. */
  duplicates: number;
  /** Messages that arrived before one sent earlier by the same sender (FIFO broken). */
  outOfOrder: number;
}

/** The first bytes of every `perf` multicast (0xb7 is no marshalling tag, so bursts never match). */
const PERF_MARK = Uint8Array.of(0xb7, 0x50);

const isMergeView = (v: View): boolean => v instanceof MergeView || typeof (v as Partial<MergeView>).getSubgroups === 'function';

/**
 * One cluster member driven through stdin and reporting through stdout, for the multi-process
 * demo and tests. The stack gets a DISCARD right above its transport so partitions can be made.
 *
 * stdout: one JSON line per event (`ready`, `view`, `suspect`, and acknowledgements of commands:
 * `disconnected`, `partitioned`, `healed`, `error`, `closed`); every line also carries `name`
 * and `t` (ms since the epoch).
 * stdin commands, one per line, run one after another: `connect`, `disconnect`,
 * `partition NAME1,NAME2` (drop all traffic to and from the members of the current view with
 * those logical names), `heal`, `loss RATE SEED` (drop that fraction of all traffic in and
 * out), `burst M [U]` (multicast M messages and send U (default M) unicasts to every other
 * member, awaiting each send), `report` (what was received from each sender's bursts),
 * `perf M S [TIMEOUT_MS]` (the multicast benchmark: multicast M messages of S bytes, awaiting each
 * send, and count the perf multicasts received from every member, own included, until there are
 * N*M, N the size of the current view, or the timeout (default 120 s, counted from the command:
 * it stops the sending too) passes; then print `perf` with sent, received, elapsedMs (from the
 * command to the last delivery), rate = received / elapsedMs * 1000 and maxRssKiB (the
 * process's peak resident set so far, `process.resourceUsage().maxRSS`)), `rpcperf CALLS CALLS_ALL ASYNC_CALLS IN_FLIGHT TIMEOUT_MS` (the RPC
 * benchmark from this member, see rpc-perf-calls.ts: every member serves `ping(int)` through an
 * RpcDispatcher; prints `rpcperf` with the figures), `rpc JSON` (call a method of every member's
 * MemberServer through the dispatcher of member-rpc.ts and print the RspList as an `rsps` line
 * when the call returns, without holding up the next command), `map start`, `map put PREFIX N`,
 * `map show` (the member's ReplicatedHashMap, see member-map.ts: fetch it by state transfer, write
 * N keys, print its size and digest as a `map` line), `say TEXT` (multicast TEXT as a string),
 * `tell NAME TEXT` (send it to the view member named NAME), `stats` (print every protocol's
 * stats, the process's rss and heapUsed, messages delivered per sender and the latest 1000 string
 * messages delivered, as a `stats` line), `exit` (close the channel, exit 0).
 * SIGTERM, SIGINT and the end of stdin act as `exit`.
 * @returns the exit code
 */
export async function runMember(o: MemberOptions): Promise<number> {
  const write = o.out ?? ((l: string) => process.stdout.write(`${l}\n`));
  const out = (ev: MemberEvent) => write(JSON.stringify({ name: o.name, t: Date.now(), ...ev }));
  const channel = new Channel(o.stack).setName(o.name);
  const stack = channel.getProtocolStack();
  const discard = new DISCARD();
  await stack.insertProtocol(discard, 'above', stack.getTransport());
  // The `rpc` command's dispatcher (its own dispatcher id, apart from the benchmark's).
  const rpcCalls = new MemberRpc(channel, o.name, out);
  // The `map` command's ReplicatedHashMap (its own dispatcher id too); started only by `map start`.
  const map = new MemberMap(channel, out);
  // Every member serves the RPC benchmark's ping(int); requests never reach the receiver below.
  const rpc = new RpcDispatcher(channel, rpcPerfServer);

  channel.on('view', (v: View) =>
    out({
      event: 'view',
      id: String(v.viewId),
      coord: String(v.getCoord()),
      members: v.members.map(String),
      addresses: v.members.map((m) => m.toUUIDString()),
      merge: isMergeView(v),
    }),
  );
  channel.on('suspect', (a: Address) => out({ event: 'suspect', member: String(a), address: a.toUUIDString() }));

  // Bursts carry {m: i} (multicast) or {u: i} (unicast); each sender's streams must arrive
  // exactly once and in order.
  const streams = new Map<string, StreamReport & { nextM: number; nextU: number }>();
  // The perf command's multicasts: raw bytes starting with PERF_MARK (no marshalling tag is 0xb7).
  const perf = { received: 0, expected: Infinity, tEnd: 0, done: undefined as (() => void) | undefined };
  // What the `stats` command reports: messages delivered per sender, and the latest text (string) deliveries.
  // Keyed by address (addresses are interned): no string per delivered message; names at report time.
  const delivered = new Map<Address, number>();
  const texts: { from: string; text: string }[] = [];
  channel.on('message', (msg) => {
    const sender = msg.getSrc()!;
    delivered.set(sender, (delivered.get(sender) ?? 0) + 1);
    const buf = msg.getArray();
    const off = msg.getOffset();
    if (msg.getLength() >= 2 && buf[off] === PERF_MARK[0] && buf[off + 1] === PERF_MARK[1]) {
      if (++perf.received === perf.expected) {
        perf.tEnd = performance.now();
        perf.done?.();
      }
      return;
    }
    const src = String(sender);
    let v: { m?: number; u?: number } | string;
    try {
      v = msg.getObject<{ m?: number; u?: number } | string>();
    } catch {
      return;
    }
    if (typeof v === 'string') {
      texts.push({ from: src, text: v.length > 200 ? `${v.slice(0, 200)}...` : v });
      if (texts.length > 1000) texts.shift(); // bounded: the latest 1000
      return;
    }
    if (typeof v !== 'object' || v === null) return;
    const from = src;
    let st = streams.get(from);
    if (!st) streams.set(from, (st = { multicasts: 0, unicasts: 0, duplicates: 0, outOfOrder: 0, nextM: 0, nextU: 0 }));
    if (typeof v.m === 'number') {
      if (v.m < st.nextM) st.duplicates++;
      else {
        if (v.m > st.nextM) st.outOfOrder++;
        st.nextM = v.m + 1;
        st.multicasts++;
      }
    } else if (typeof v.u === 'number') {
      if (v.u < st.nextU) st.duplicates++;
      else {
        if (v.u > st.nextU) st.outOfOrder++;
        st.nextU = v.u + 1;
        st.unicasts++;
      }
    }
  });

  const connect = async () => {
    discard.heal();
    await channel.connect(o.cluster);
    out({ event: 'ready', address: channel.getAddress()!.toUUIDString(), name: o.name });
  };

  let resolveDone!: (code: number) => void;
  const done = new Promise<number>((r) => (resolveDone = r));
  let exiting = false;
  const exit = async (code: number) => {
    if (exiting) return;
    exiting = true;
    rpcCalls.stop();
    map.stop();
    try {
      await channel.close();
      out({ event: 'closed' });
    } catch (err) {
      out({ event: 'error', message: String(err), cmd: 'exit' });
      code = 1;
    }
    resolveDone(code);
  };

  const commands: Record<string, (arg: string) => Promise<void>> = {
    connect,
    disconnect: async () => {
      await channel.disconnect();
      discard.heal();
      out({ event: 'disconnected' });
    },
    partition: async (arg) => {
      const names = arg.split(',').map((s) => s.trim()).filter(Boolean);
      const view = channel.getView();
      const addrs = view ? view.members.filter((m) => names.includes(String(m)) && m !== channel.getAddress()) : [];
      discard.isolateFrom(...addrs);
      out({ event: 'partitioned', from: addrs.map(String) });
    },
    heal: async () => {
      discard.heal();
      out({ event: 'healed' });
    },
    loss: async (arg) => {
      const [rate = '0', seed = '1'] = arg.split(/\s+/);
      discard.setSeed(Number(seed)).setUpDiscardRate(Number(rate)).setDownDiscardRate(Number(rate));
      out({ event: 'loss', rate: Number(rate), seed: Number(seed) });
    },
    burst: async (arg) => {
      const [m = '0', u = m] = arg.split(/\s+/);
      const nm = Number(m) || 0;
      const nu = Number(u) || 0;
      const self = channel.getAddress();
      const others = (channel.getView()?.members ?? []).filter((a) => a !== self);
      let unicasts = 0;
      for (let i = 0; i < Math.max(nm, nu); i++) {
        if (i < nm) await channel.send(null, { m: i });
        if (i < nu) {
          for (const o of others) {
            await channel.send(o, { u: i });
            unicasts++;
          }
        }
      }
      out({ event: 'sent', multicasts: nm, unicasts });
    },
    report: async () => {
      const report: Record<string, StreamReport> = {};
      for (const [k, { multicasts, unicasts, duplicates, outOfOrder }] of streams) report[k] = { multicasts, unicasts, duplicates, outOfOrder };
      const stat = (proto: string, name: string) => stack.findProtocol(proto)?.getStats()[name] ?? 0;
      const dropped = discard.stats.droppedUp + discard.stats.droppedDown;
      const retransmitted = stat('NAKACK2', 'xmitsSent') + stat('UNICAST3', 'xmitsSent');
      out({ event: 'report', streams: report, dropped, retransmitted });
    },
    perf: async (arg) => {
      const [m = '0', size = '1000', timeout = '120000'] = arg.split(/\s+/);
      const nm = Math.max(0, Math.floor(Number(m)) || 0);
      const ns = Math.max(PERF_MARK.length, Math.floor(Number(size)) || 0);
      const members = channel.getView()?.size() ?? 1;
      const expected = members * nm;
      const payload = new Uint8Array(ns);
      payload.set(PERF_MARK);
      const t0 = performance.now();
      perf.expected = expected;
      perf.tEnd = 0;
      const allReceived = new Promise<void>((resolve) => {
        perf.done = resolve;
        if (perf.received >= expected) {
          perf.tEnd = t0;
          resolve();
        }
      });
      // The timeout bounds sending and delivery together: a send that waits for credits
      // that never come must not hold the command (and the benchmark) for ever.
      const timeoutMs = Math.min(2 ** 31 - 1, Math.max(1, Math.floor(Number(timeout)) || 120_000));
      let timer: NodeJS.Timeout | undefined;
      let expired = false;
      const late = new Promise<void>((r) => {
        timer = setTimeout(() => {
          expired = true;
          r();
        }, timeoutMs);
      });
      let sent = 0;
      const sending = (async () => {
        for (; sent < nm && !expired; sent++) await channel.send(null, payload);
      })();
      try {
        await Promise.race([sending, late]); // race() also handles a rejection of sending after the timeout
        if (!expired) await Promise.race([allReceived, late]);
      } finally {
        clearTimeout(timer);
      }
      const received = perf.received;
      const elapsedMs = (perf.tEnd || performance.now()) - t0;
      // Ready for another run.
      perf.received = 0;
      perf.expected = Infinity;
      perf.done = undefined;
      const rate = elapsedMs > 0 ? Math.round((received / elapsedMs) * 1000) : 0;
      // The process's peak resident set so far (KiB): what the benchmark cost in memory at most.
      const maxRssKiB = process.resourceUsage().maxRSS;
      out({ event: 'perf', viewSize: members, sent, size: ns, received, expected, elapsedMs: Math.round(elapsedMs), rate, maxRssKiB });
    },
    rpcperf: async (arg) => {
      const [calls, callsAll, asyncCalls, inFlight, timeoutMs] = arg.split(/\s+/).map((x) => Math.max(0, Math.floor(Number(x)) || 0));
      const r = await runRpcPerfCalls(rpc, {
        calls: calls || 1,
        callsAll: callsAll || 1,
        asyncCalls: asyncCalls || 1,
        inFlight: inFlight || 1,
        timeoutMs: Math.min(2 ** 31 - 1, timeoutMs || 120_000),
      });
      out({ event: 'rpcperf', ...r });
    },
    say: async (text) => {
      await channel.send(null, text);
    },
    tell: async (arg) => {
      const [to = '', ...rest] = arg.split(' ');
      const dest = channel.getView()?.members.find((m) => String(m) === to);
      if (dest === undefined) throw new Error(`no member ${to} in the view`);
      await channel.send(dest, rest.join(' '));
    },
    stats: async () => {
      const stats: Record<string, Record<string, number>> = {};
      for (const p of stack.getProtocols()) stats[p.name] = p.getStats();
      const { rss, heapUsed } = process.memoryUsage();
      out({ event: 'stats', stats, memory: { rss, heapUsed }, delivered: Object.fromEntries([...delivered].map(([a, n]) => [String(a), n])), texts: [...texts] });
    },
    rpc: async (arg) => rpcCalls.call(arg),
    map: (arg) => map.command(arg),
    exit: () => exit(0),
  };

  // Commands run strictly one after another.
  let queue: Promise<void> = Promise.resolve();
  const rl = createInterface({ input: process.stdin });
  rl.on('line', (line) => {
    const [cmd = '', ...rest] = line.trim().split(/\s+/);
    if (cmd === '') return;
    queue = queue.then(async () => {
      if (exiting) return;
      const fn = commands[cmd];
      if (!fn) return out({ event: 'error', message: `unknown command: ${cmd}`, cmd });
      try {
        await fn(rest.join(' '));
      } catch (err) {
        out({ event: 'error', message: err instanceof Error ? `${err.name}: ${err.message}` : String(err), cmd });
      }
    });
  });
  // The parent went away (or closed our stdin): leave.
  rl.on('close', () => void queue.then(() => exit(0)));
  const onSignal = () => void exit(0);
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);

  try {
    await connect();
  } catch (err) {
    out({ event: 'error', message: err instanceof Error ? `${err.name}: ${err.message}` : String(err), cmd: 'connect' });
    await exit(1);
  }
  const code = await done;
  rl.close();
  process.stdin.destroy();
  process.off('SIGTERM', onSignal);
  process.off('SIGINT', onSignal);
  return code;
}
