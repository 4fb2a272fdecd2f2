import { Channel } from 'tsgroups';

export interface PerfOptions {
  members: number;
  messages: number;
  size: number;
  stack: string;
  cluster: string;
  /** The whole run, sending and delivery, takes at most this long (ms) from the first send. */
  timeoutMs: number;
  out: (line: string) => void;
}

export interface PerfResult {
  /** Resident memory of this process after the run and a settle period (MiB). */
  rssMiB: number;
  /** Peak resident memory of this process so far (MB, 10^6 bytes; `process.resourceUsage().maxRSS`). */
  peakRssMB: number;
  /** Messages NAKACK2 still held for retransmission after the run (all members; -1: no NAKACK2). */
  messagesHeld: number;
  /** Retransmissions NAKACK2 served (all members). */
  retransmissions: number;
  /** Multicasts delivered per second, per member (own messages included), median over members. */
  msgsPerSecPerMember: number;
  delivered: number;
  expected: number;
  /** Multicasts each member sent: `messages`, or fewer if the timeout ended the sending. */
  sent: number;
  elapsedMs: number;
}

/**
 * The multicast benchmark of the JGroups anchor (shared/anchors/jgroups): `members` channels
 * in this process each multicast `messages` messages of `size` bytes; every member counts
 * what it receives, its own included, until it has all of them or the timeout passes. The
 * timeout bounds the sending too: when it passes, the members stop sending, and the result
 * says how many they sent.
 */
export async function runPerf(o: PerfOptions): Promise<PerfResult> {
  const channels: Channel[] = [];
  const counts: number[] = [];
  const expected = o.members * o.messages;
  try {
    for (let i = 0; i < o.members; i++) {
      const ch = new Channel(o.stack).setName(`P${i}`);
      const idx = i;
      counts.push(0);
      ch.setReceiver({ receive: () => void counts[idx]!++ });
      channels.push(ch);
      await ch.connect(o.cluster);
    }
    await until(() => channels.every((c) => c.getView()?.size() === o.members), 10_000);
    const payload = new Uint8Array(o.size);
    const start = performance.now();
    const deadline = start + o.timeoutMs;
    // Send in slices so the bundler gets full turns and receivers get to run in between.
    const slice = 1000;
    let sent = 0;
    while (sent < o.messages && performance.now() < deadline) {
      const n = Math.min(slice, o.messages - sent);
      for (const ch of channels) for (let k = 0; k < n; k++) void ch.send(null, payload);
      sent += n;
      await new Promise<void>((r) => setImmediate(r));
    }
    const want = o.members * sent;
    await until(() => counts.every((c) => c >= want), Math.max(0, deadline - performance.now())).catch(() => undefined);
    const elapsedMs = performance.now() - start;
    // Give STABLE its rounds, then see what is still held and how much memory the run left.
    const held = () => channels.reduce((n, c) => n + nakackStat(c, 'messagesHeld'), 0);
    await until(() => held() <= 0, 15_000).catch(() => undefined);
    global.gc?.();
    const rates = counts.map((c) => (c / elapsedMs) * 1000).sort((a, b) => a - b);
    const result: PerfResult = {
      msgsPerSecPerMember: Math.round(rates[rates.length >> 1]!),
      delivered: counts.reduce((a, b) => a + b, 0),
      expected: expected * o.members,
      sent,
      elapsedMs: Math.round(elapsedMs),
      rssMiB: Math.round(process.memoryUsage().rss / 1048576),
      peakRssMB: Math.round((process.resourceUsage().maxRSS * 1024) / 1e6),
      messagesHeld: channels.some((c) => c.getProtocolStack().findProtocol('NAKACK2')) ? held() : -1,
      retransmissions: channels.reduce((n, c) => n + nakackStat(c, 'xmitsSent'), 0),
    };
    o.out(
      `perf: ${o.members} members x ${o.messages} msgs of ${o.size} B on ${o.stack}: ` +
        (sent < o.messages ? `the ${o.timeoutMs} ms timeout stopped the sending after ${sent} msgs per member; ` : '') +
        `${result.msgsPerSecPerMember} msgs/s delivered per member (median), ` +
        `${result.delivered}/${result.expected} delivered in ${result.elapsedMs} ms; ` +
        `RSS ${result.rssMiB} MiB, ${result.messagesHeld < 0 ? 'no NAKACK2' : `${result.messagesHeld} messages held for retransmission, ${result.retransmissions} retransmissions`}`,
    );
    return result;
  } finally {
    await Promise.all(channels.map((c) => c.close()));
  }
}

function nakackStat(c: Channel, name: string): number {
  const p = c.getProtocolStack().findProtocol('NAKACK2');
  return p ? (p.getStats()[name] ?? 0) : 0;
}

async function until(cond: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 1));
  }
}
