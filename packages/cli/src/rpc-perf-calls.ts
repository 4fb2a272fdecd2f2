import { RequestOptions, ResponseMode, type RpcDispatcher } from 'tsgroups';

/**
 * The RPC benchmark of the JGroups 5 anchor (shared/anchors/jgroups5, JgPerf5 `rpc` and `async`),
 * run by one member against the others: the same method, argument and result (`ping(int)`
 * returns its argument), the same per-call timeout (10 s), and a warm-up pass of a quarter of
 * every test before the measured pass.
 */

/** The server object of every perf member: JgPerf5's `Server.ping(int)`. */
export const rpcPerfServer = {
  ping: (x: number): number => x,
};

/** The per-call timeout of every test (JgPerf5's `new RequestOptions(mode, 10000)`). */
export const RPC_PERF_CALL_TIMEOUT_MS = 10_000;

export interface RpcPerfPlan {
  /** Sequential calls to one other member, each of GET_ALL and GET_FIRST. */
  calls: number;
  /** Sequential calls to every member (this one included), GET_ALL. */
  callsAll: number;
  /** Calls to one other member with `inFlight` of them outstanding at all times, GET_ALL. */
  asyncCalls: number;
  inFlight: number;
  /** Bounds the whole benchmark, warm-up included (checked between calls). */
  timeoutMs: number;
}

/** The tests, named as JgPerf5's RESULT lines name them. */
export type RpcPerfTest = 'unicast_GET_ALL' | 'unicast_GET_FIRST' | 'all_GET_ALL' | 'async';

/** One measured test. Latencies (microseconds) only for the sequential tests. */
export interface RpcPerfFigure {
  test: RpcPerfTest;
  /** Calls asked for, and calls that completed before the timeout or an error stopped the test. */
  calls: number;
  completed: number;
  elapsedMs: number;
  /** completed / elapsed. */
  callsPerSec: number;
  /** elapsed / completed, as JgPerf5's avg_us. */
  avgUs: number;
  p50Us?: number;
  p99Us?: number;
  /** Calls outstanding at once (`async` only). */
  inFlight?: number;
}

export interface RpcPerfResult {
  viewSize: number;
  /** The member the unicast tests call. */
  target: string;
  figures: RpcPerfFigure[];
  /** Every test completed all of its calls. */
  complete: boolean;
  /** Why the benchmark stopped early, if it did. */
  error?: string;
}

/** Stops the tests: the deadline passed, or a call failed. */
interface Run {
  deadline: number;
  error: string | undefined;
}

/**
 * Runs the tests from this dispatcher's member: a warm-up pass with a quarter of the calls of
 * each (at least one), then the measured pass. The unicast target is the first other member of
 * the view (the coordinator calls the second member, as in JgPerf5).
 * @throws Error when the view has no other member
 */
export async function runRpcPerfCalls(disp: RpcDispatcher, plan: RpcPerfPlan): Promise<RpcPerfResult> {
  const view = disp.channel.getView();
  const self = disp.channel.getAddress();
  const target = view?.members.find((m) => m !== self);
  if (!view || !target) throw new Error('rpc perf needs a view with another member');
  const n = view.size();
  const run: Run = { deadline: performance.now() + plan.timeoutMs, error: undefined };
  const getAll = new RequestOptions({ mode: ResponseMode.GET_ALL, timeout: RPC_PERF_CALL_TIMEOUT_MS });
  const getFirst = new RequestOptions({ mode: ResponseMode.GET_FIRST, timeout: RPC_PERF_CALL_TIMEOUT_MS });

  const unicast = (opts: RequestOptions) => async (i: number) => {
    const r = await disp.callRemoteMethod<number>(target, 'ping', [i], opts);
    if (r !== i) throw new Error(`ping(${i}) returned ${String(r)}`);
  };
  const toAll = async (i: number) => {
    const rsps = await disp.callRemoteMethods<number>(null, 'ping', [i], getAll);
    if (rsps.numReceived() !== n) throw new Error(`ping(${i}) to all: ${rsps.numReceived()} of ${n} responses (${rsps})`);
  };

  let figures: RpcPerfFigure[] = [];
  for (const warmUp of [true, false]) {
    const count = (full: number) => (warmUp ? Math.max(1, full >> 2) : full);
    figures = [
      await sequential('unicast_GET_ALL', count(plan.calls), unicast(getAll), run),
      await sequential('unicast_GET_FIRST', count(plan.calls), unicast(getFirst), run),
      await sequential('all_GET_ALL', count(plan.callsAll), toAll, run),
      await concurrent(count(plan.asyncCalls), plan.inFlight, unicast(getAll), run),
    ];
  }
  const complete = run.error === undefined && figures.every((f) => f.completed === f.calls);
  const error = run.error ?? (complete ? undefined : `the ${plan.timeoutMs} ms timeout passed`);
  return { viewSize: n, target: String(target), figures, complete, ...(error === undefined ? {} : { error }) };
}

/** `count` calls one after another; each call's latency is kept for the percentiles. */
async function sequential(test: RpcPerfTest, count: number, call: (i: number) => Promise<void>, run: Run): Promise<RpcPerfFigure> {
  const latencies = new Float64Array(count);
  let done = 0;
  const t0 = performance.now();
  try {
    for (let t = t0; done < count && t < run.deadline && run.error === undefined; done++) {
      await call(done);
      const t1 = performance.now();
      latencies[done] = t1 - t;
      t = t1;
    }
  } catch (err) {
    run.error = `${test}: ${describe(err)}`;
  }
  const figure = measured(test, count, done, performance.now() - t0);
  if (done > 0) {
    const sorted = latencies.subarray(0, done).sort();
    figure.p50Us = percentileUs(sorted, 0.5);
    figure.p99Us = percentileUs(sorted, 0.99);
  }
  return figure;
}

/** `count` calls with `width` outstanding at all times (JgPerf5's async mode: one thread per call in flight). */
async function concurrent(count: number, width: number, call: (i: number) => Promise<void>, run: Run): Promise<RpcPerfFigure> {
  let next = 0;
  let done = 0;
  const worker = async () => {
    while (next < count && run.error === undefined && performance.now() < run.deadline) {
      const i = next++;
      try {
        await call(i);
      } catch (err) {
        run.error ??= `async: ${describe(err)}`;
        return;
      }
      done++;
    }
  };
  const t0 = performance.now();
  await Promise.all(Array.from({ length: Math.min(width, count) }, worker));
  return { ...measured('async', count, done, performance.now() - t0), inFlight: width };
}

function measured(test: RpcPerfTest, calls: number, completed: number, elapsedMs: number): RpcPerfFigure {
  return {
    test,
    calls,
    completed,
    elapsedMs: round1(elapsedMs),
    callsPerSec: elapsedMs > 0 ? Math.round((completed / elapsedMs) * 1000) : 0,
    avgUs: completed > 0 ? round1((elapsedMs * 1000) / completed) : 0,
  };
}

/** The nearest-rank percentile of ascending `sorted` (milliseconds), in whole microseconds. */
function percentileUs(sorted: Float64Array, p: number): number {
  return Math.round(sorted[Math.max(0, Math.ceil(p * sorted.length) - 1)]! * 1000);
}

const round1 = (x: number) => Math.round(x * 10) / 10;

function describe(err: unknown): string {
  return err instanceof Error ? `${err.name}: ${err.message}` : String(err);
}
