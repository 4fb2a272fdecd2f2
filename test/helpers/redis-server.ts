// A real redis-server for REDIS_PING's tests: on 127.0.0.1 and a port of the test's, with no
// config file and no persistence (it writes nothing anywhere), stopped and started again on
// the same port to play Redis going away and coming back.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { reservePorts } from '../compliance/reserve-ports.js';

const HOW_TO_INSTALL =
  'redis-server is not installed; REDIS_PING\'s tests start their own. Install it with `apt-get install redis-server` ' +
  '(Debian; `node scripts/ensure-test-tools.mjs` does so when run as root, as `pnpm test` and CI do)';

/** Throws, saying how to install it, if the redis-server binary is missing. */
export function requireRedisServer(): void {
  const r = spawnSync('redis-server', ['--version'], { stdio: 'ignore' });
  if (r.error !== undefined || r.status !== 0) throw new Error(HOW_TO_INSTALL);
}

/** True once a PING on 127.0.0.1:`port` gets PONG. */
function answersPing(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port });
    let got = '';
    const done = (ok: boolean) => {
      s.destroy();
      resolve(ok);
    };
    s.setTimeout(1000, () => done(false));
    s.on('error', () => done(false));
    s.on('connect', () => s.write('PING\r\n'));
    s.on('data', (d) => {
      got += d.toString();
      if (got.includes('\r\n')) done(got.startsWith('+PONG'));
    });
  });
}

export class RedisServer {
  private proc: ChildProcess | null = null;
  private output = '';

  private constructor(readonly port: number) {}

  /** A server on a free loopback port, started and answering. */
  static async start(): Promise<RedisServer> {
    requireRedisServer();
    const [port] = await reservePorts(1);
    const s = new RedisServer(port!);
    await s.start();
    return s;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  get running(): boolean {
    return this.proc !== null;
  }

  /** Starts the server (again) on its port and waits until it answers (10 s at most). */
  async start(): Promise<void> {
    if (this.proc !== null) return;
    this.output = '';
    const dir = tmpdir();
    const proc = spawn('redis-server', ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], {
      cwd: dir,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.proc = proc;
    proc.stdout!.on('data', (d: Buffer) => void (this.output += d.toString()));
    proc.stderr!.on('data', (d: Buffer) => void (this.output += d.toString()));
    let spawnError: Error | undefined;
    proc.once('error', (err) => void (spawnError = err));
    const deadline = Date.now() + 10_000;
    for (;;) {
      if (spawnError !== undefined || proc.exitCode !== null || proc.signalCode !== null) {
        this.proc = null;
        throw new Error(`redis-server on port ${this.port} did not start: ${spawnError?.message ?? this.output.trim()}`);
      }
      if (await answersPing(this.port)) return;
      if (Date.now() > deadline) {
        await this.stop();
        throw new Error(`redis-server on port ${this.port} did not answer within 10 s: ${this.output.trim()}`);
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /** Stops the server: SIGTERM, SIGKILL if it has not exited after 5 s; resolves once it exited. */
  async stop(): Promise<void> {
    const proc = this.proc;
    this.proc = null;
    if (proc === null || proc.exitCode !== null || proc.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      const kill = setTimeout(() => proc.kill('SIGKILL'), 5000);
      proc.once('exit', () => {
        clearTimeout(kill);
        resolve();
      });
      proc.kill('SIGTERM');
    });
  }
}
