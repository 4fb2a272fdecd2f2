// Network namespaces for tests: a namespace of the test's own, with loopback up and random loss
// on it made by iptables, so member processes inside it see a lossy network while the root
// namespace sees nothing of their traffic. Needs root and iptables (.ci/run installs it).
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';

/** Runs `ip`/`iptables` and returns stdout; throws with stderr on failure. */
function run(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** Why namespaces cannot be used here, or null if they can. */
export function netnsUnavailable(): string | null {
  if (process.getuid?.() !== 0) return 'network namespace tests need root';
  for (const tool of ['ip', 'iptables']) {
    try {
      run('sh', ['-c', `command -v ${tool}`]);
    } catch {
      return `${tool} is not installed (apt-get install -y iproute2 iptables; .ci/run does it)`;
    }
  }
  return null;
}

export class NetNs {
  readonly name = `tsg-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  private deleted = false;

  /** Creates the namespace with loopback up and a route for multicast over it. */
  constructor() {
    run('ip', ['netns', 'add', this.name]);
    try {
      this.exec('ip', ['link', 'set', 'lo', 'up']);
      this.exec('ip', ['route', 'add', '224.0.0.0/4', 'dev', 'lo']);
    } catch (err) {
      this.delete();
      throw err;
    }
  }

  /** Drops each datagram that loopback delivers with probability `p` (both directions: every packet passes INPUT once). */
  setLoss(p: number): void {
    this.exec('iptables', ['-F', 'INPUT']);
    if (p > 0) {
      this.exec('iptables', ['-A', 'INPUT', '-i', 'lo', '-p', 'udp', '-m', 'statistic', '--mode', 'random', '--probability', String(p), '-j', 'DROP']);
    }
  }

  /** Runs a command inside the namespace. */
  exec(cmd: string, args: string[]): string {
    return run('ip', ['netns', 'exec', this.name, cmd, ...args]);
  }

  /** Spawns `node args...` inside the namespace. */
  spawnNode(args: string[], env: Record<string, string>): ChildProcess {
    return spawn('ip', ['netns', 'exec', this.name, process.execPath, ...args], {
      env: { ...process.env, ...env },
      stdio: ['pipe', 'pipe', 'inherit'],
    });
  }

  /** Deletes the namespace (idempotent); processes still inside keep running until killed. */
  delete(): void {
    if (this.deleted) return;
    this.deleted = true;
    try {
      run('ip', ['netns', 'del', this.name]);
    } catch {
      // already gone
    }
  }
}
