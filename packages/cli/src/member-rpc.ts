import { type Channel, ResponseMode, RpcDispatcher, type RspList } from 'tsgroups';

/** One destination's part of an `rsps` line. */
export interface RspLine {
  received: boolean;
  suspected: boolean;
  value?: unknown;
  error?: string;
}

/** What a member's RPC part prints, one JSON object per line (besides `name` and `t`). */
export type RpcEvent =
  /** A `work` call started or ended here; `slow`: this member was one of the slow ones. */
  | { event: 'handler'; tag: string; phase: 'start' | 'end'; slow: boolean }
  /** The result of an `rpc` command: every destination's response, by member name. */
  | { event: 'rsps'; id: string; mode: ResponseMode; elapsedMs: number; numReceived: number; rsps: Record<string, RspLine> }
  /** An `rpc` command whose call rejected (or that could not be read). */
  | { event: 'rpc-error'; id: string; message: string };

/** The `rpc` command's argument, as JSON. */
export interface RpcCommand {
  /** Names the call in its `rsps` line. */
  id: string;
  mode?: ResponseMode;
  /** Milliseconds (default 10,000). */
  timeout?: number;
  method: string;
  args?: unknown[];
}

/**
 * The object every member serves with its RpcDispatcher. `work` lets a caller make some members
 * slow, so that the response modes can be watched between processes.
 */
export class MemberServer {
  /** How many `work` calls started here. */
  private calls = 0;
  private readonly timers = new Set<NodeJS.Timeout>();

  constructor(
    private readonly name: string,
    private readonly out: (ev: RpcEvent) => void,
  ) {}

  /** Answers with this member's name. */
  ping(): string {
    return this.name;
  }

  /**
   * A call named `tag`: it takes `slowMs` on the members named in `slow` ('*': every member) and
   * no time elsewhere; prints its start and end (`handler` lines); answers with this member's name.
   */
  async work(tag: string, slowMs: number, slow: string[] | '*'): Promise<string> {
    this.calls++;
    const isSlow = slow === '*' || (Array.isArray(slow) && slow.includes(this.name));
    this.out({ event: 'handler', tag, phase: 'start', slow: isSlow });
    if (isSlow) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          this.timers.delete(timer);
          resolve();
        }, slowMs);
        this.timers.add(timer);
      });
    }
    this.out({ event: 'handler', tag, phase: 'end', slow: isSlow });
    return this.name;
  }

  /** How many `work` calls started here. */
  count(): number {
    return this.calls;
  }

  /** Drops the slow calls still waiting (their callers are told by the departure), so the process can exit. */
  stop(): void {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
  }
}

/** The dispatcher id of the `rpc` command's RpcDispatcher: apart from others on the same channel (the benchmark's is 0). */
export const MEMBER_RPC_DISPATCHER_ID = 1;

/**
 * The RPC part of `tsgroups member`: an RpcDispatcher serving a {@link MemberServer}, and the
 * `rpc` command, which calls a method on every member and prints the RspList as an `rsps` line.
 * A call does not hold up the commands after it: its line comes when it returns.
 */
export class MemberRpc {
  readonly server: MemberServer;
  private readonly dispatcher: RpcDispatcher<MemberServer>;

  constructor(
    channel: Channel,
    name: string,
    private readonly out: (ev: RpcEvent) => void,
  ) {
    this.server = new MemberServer(name, out);
    this.dispatcher = new RpcDispatcher(channel, this.server, { id: MEMBER_RPC_DISPATCHER_ID });
  }

  /** Starts the call of the `rpc` command `arg` (an {@link RpcCommand} as JSON); its line is printed when it returns. */
  call(arg: string): void {
    let cmd: RpcCommand;
    try {
      cmd = JSON.parse(arg) as RpcCommand;
      if (typeof cmd.id !== 'string' || typeof cmd.method !== 'string') throw new Error('needs an "id" and a "method"');
    } catch (err) {
      this.out({ event: 'rpc-error', id: '', message: `rpc ${arg}: ${err instanceof Error ? err.message : String(err)}` });
      return;
    }
    const mode = cmd.mode ?? ResponseMode.GET_ALL;
    const t0 = performance.now();
    this.dispatcher.callRemoteMethods(null, cmd.method, cmd.args ?? [], { mode, timeout: cmd.timeout ?? 10_000 }).then(
      (list) => {
        const elapsedMs = Math.round(performance.now() - t0);
        this.out({ event: 'rsps', id: cmd.id, mode, elapsedMs, numReceived: list.numReceived(), rsps: rspLines(list) });
      },
      (err: unknown) => this.out({ event: 'rpc-error', id: cmd.id, message: err instanceof Error ? `${err.name}: ${err.message}` : String(err) }),
    );
  }

  stop(): void {
    this.dispatcher.stop();
    this.server.stop();
  }
}

function rspLines(list: RspList): Record<string, RspLine> {
  const out: Record<string, RspLine> = {};
  for (const [member, rsp] of list) {
    const line: RspLine = { received: rsp.received, suspected: rsp.suspected };
    if (rsp.error !== undefined) line.error = rsp.error instanceof Error ? rsp.error.message : String(rsp.error);
    else if (rsp.received) line.value = rsp.value;
    out[String(member)] = line;
  }
  return out;
}
