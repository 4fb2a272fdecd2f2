// A small LAN of separate "hosts" for tests: one network namespace per member, each with its
// own private address, joined by a Linux bridge. The bridge lives in a hub namespace of its own,
// so the root namespace (which may route to the outside) gets no interface, address or route;
// every packet stays inside namespaces this class created. Addresses come from a /24 drawn at
// random per run (10.x.y.0/24), so parallel runs never share one.
//
//   hub namespace:    br0 (bridge, IGMP snooping off) <- m1 m2 ... (veth ends)
//   member i:         lo, eth0 = 10.x.y.(i+1)/24 (the other veth end), 224.0.0.0/4 via eth0
//
// Loss and partitions are iptables rules on each member's INPUT chain: they apply to what a
// member receives on eth0 (UDP and TCP alike), so a datagram multicast to all may be lost at
// one receiver and arrive at another, as on a real LAN with lossy links.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';

/** Every namespace of a Lan is named `tsglan-<pid of the test process>-<random>-<role>`. */
const PREFIX = 'tsglan-';

function run(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Deletes `name` after SIGKILLing what still runs inside it (a namespace outlives `ip netns del` while processes use it). */
function deleteNamespace(name: string): void {
  try {
    for (const pid of run('ip', ['netns', 'pids', name]).split(/\s+/).filter(Boolean)) {
      try {
        process.kill(Number(pid), 'SIGKILL');
      } catch {
        // exited meanwhile
      }
    }
  } catch {
    // no such namespace
  }
  try {
    run('ip', ['netns', 'del', name]);
  } catch {
    // already gone
  }
}

/** Lans still alive, so that an exiting test process removes what an afterAll could not. */
const open = new Set<Lan>();
process.once('exit', () => {
  for (const lan of open) lan.delete();
});

export class Lan {
  /** The namespace of each member, index 0 .. n-1. */
  readonly namespaces: string[];
  /** Each member's private address (the address `bind_addr="site_local"` resolves to there). */
  readonly addresses: string[];
  readonly hub: string;
  private readonly base = `${PREFIX}${process.pid}-${Math.random().toString(36).slice(2, 7)}`;
  private loss = 0;
  private sides: [number[], number[]] | null = null;
  private deleted = false;

  /** Builds the bridge and `n` member namespaces; on any error removes what it made and throws. */
  constructor(n: number) {
    Lan.removeStale();
    const net = `10.${1 + Math.floor(Math.random() * 254)}.${Math.floor(Math.random() * 256)}`;
    this.hub = `${this.base}-hub`;
    this.namespaces = Array.from({ length: n }, (_, i) => `${this.base}-m${i + 1}`);
    this.addresses = this.namespaces.map((_, i) => `${net}.${i + 1}`);
    open.add(this);
    try {
      run('ip', ['netns', 'add', this.hub]);
      const hub = (...args: string[]) => run('ip', ['-n', this.hub, ...args]);
      hub('link', 'set', 'lo', 'up');
      // Snooping off: the bridge floods multicast to every port instead of waiting for IGMP reports.
      hub('link', 'add', 'br0', 'type', 'bridge', 'mcast_snooping', '0');
      try {
        // Where br_netfilter is loaded, bridged frames would also pass the hub's (empty) iptables.
        hub('link', 'set', 'br0', 'type', 'bridge', 'nf_call_iptables', '0');
      } catch {
        // an older iproute2 or kernel: harmless, the hub's chains accept everything
      }
      hub('link', 'set', 'br0', 'up');
      for (const [i, ns] of this.namespaces.entries()) {
        run('ip', ['netns', 'add', ns]);
        // Both ends are created inside their namespaces: never an interface in the root one.
        run('ip', ['link', 'add', 'eth0', 'netns', ns, 'type', 'veth', 'peer', 'name', `m${i + 1}`, 'netns', this.hub]);
        hub('link', 'set', `m${i + 1}`, 'master', 'br0');
        hub('link', 'set', `m${i + 1}`, 'up');
        const member = (...args: string[]) => run('ip', ['-n', ns, ...args]);
        member('link', 'set', 'lo', 'up');
        member('addr', 'add', `${this.addresses[i]}/24`, 'dev', 'eth0');
        member('link', 'set', 'eth0', 'up');
        member('route', 'add', '224.0.0.0/4', 'dev', 'eth0');
      }
    } catch (err) {
      this.delete();
      throw err;
    }
  }

  /** Removes the namespaces of earlier test processes that died before cleaning up. */
  static removeStale(): void {
    let names: string[];
    try {
      names = run('ip', ['netns', 'list']).split('\n').map((l) => l.split(' ')[0]!);
    } catch {
      return;
    }
    for (const name of names) {
      const m = new RegExp(`^${PREFIX}(\\d+)-`).exec(name);
      if (m && !alive(Number(m[1]))) deleteNamespace(name);
    }
  }

  /** Runs a command inside member `i`'s namespace; returns stdout. */
  exec(i: number, cmd: string, args: string[]): string {
    return run('ip', ['netns', 'exec', this.namespaces[i]!, cmd, ...args]);
  }

  /** Spawns `node args...` in member `i`'s namespace (the child's pid is node's: `ip netns exec` execs it). */
  spawnNode(i: number, args: string[], env: Record<string, string>): ChildProcess {
    const child = spawn('ip', ['netns', 'exec', this.namespaces[i]!, process.execPath, ...args], {
      env: { ...process.env, ...env },
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    child.stdin!.on('error', () => undefined); // EPIPE after the child died
    return child;
  }

  /** Each member drops a packet it receives on eth0 with probability `p` (UDP and TCP; 0: none). */
  setLoss(p: number): void {
    this.loss = p;
    this.applyRules();
  }

  /** Members of `a` and of `b` drop every packet from the other side (by source address). */
  partition(a: number[], b: number[]): void {
    this.sides = [a, b];
    this.applyRules();
  }

  /** Ends the partition (the loss stays). */
  heal(): void {
    this.sides = null;
    this.applyRules();
  }

  /** Writes each member's INPUT chain from scratch: partition drops first, then random loss. */
  private applyRules(): void {
    for (const [i] of this.namespaces.entries()) {
      const rules = ['*filter', ':INPUT ACCEPT [0:0]'];
      if (this.sides) {
        const [a, b] = this.sides;
        const others = a.includes(i) ? b : b.includes(i) ? a : [];
        for (const o of others) rules.push(`-A INPUT -s ${this.addresses[o]}/32 -j DROP`);
      }
      if (this.loss > 0) rules.push(`-A INPUT -i eth0 -m statistic --mode random --probability ${this.loss} -j DROP`);
      rules.push('COMMIT', '');
      execFileSync('ip', ['netns', 'exec', this.namespaces[i]!, 'iptables-restore'], { input: rules.join('\n'), stdio: ['pipe', 'ignore', 'pipe'] });
    }
  }

  /**
   * Per member, the packets the random-loss rule dropped so far and those INPUT accepted (proof
   * that the loss was real). Packets, not messages: a datagram carries a bundle of messages, and
   * TCP segments arrive coalesced (GRO), so a burst of 20,000 messages is a few hundred packets.
   */
  packetCounts(): { dropped: number; accepted: number }[] {
    return this.namespaces.map((_, i) => {
      const lines = this.exec(i, 'iptables', ['-L', 'INPUT', '-v', '-x', '-n']).split('\n');
      const rule = lines.find((l) => l.includes('statistic'));
      const policy = /policy ACCEPT (\d+) packets/.exec(lines[0] ?? '');
      return { dropped: rule === undefined ? 0 : Number(rule.trim().split(/\s+/)[0]), accepted: Number(policy?.[1] ?? 0) };
    });
  }

  /** Removes every namespace of this Lan, killing what still runs in them (idempotent). */
  delete(): void {
    if (this.deleted) return;
    this.deleted = true;
    open.delete(this);
    for (const ns of [...this.namespaces, this.hub]) deleteNamespace(ns);
  }
}
