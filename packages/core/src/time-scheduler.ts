/**
 * One timer per channel: tasks wait in a binary heap ordered by due time, and a single Node
 * timer is armed for the earliest one. Closing the scheduler cancels everything.
 *
 * Delays of any length are safe: Node's timers take at most 2^31-1 ms (a longer delay fires
 * after 1 ms, with a warning), so the Node timer is armed for at most that long and re-armed
 * when it fires before the task is due.
 */
export interface ScheduledTask {
  /** Cancels the task; harmless if it already ran. */
  cancel(): void;
  readonly cancelled: boolean;
}

class Task implements ScheduledTask {
  cancelled = false;
  /** In the scheduler's heap now (a cancelled one there is garbage until removed). */
  inHeap = false;
  constructor(
    public due: number,
    readonly fn: () => void,
    readonly period: number, // 0: one-shot
    readonly seq: number,
    private readonly owner: TimeScheduler | null,
  ) {}
  cancel(): void {
    if (this.cancelled) return;
    this.cancelled = true;
    if (this.inHeap) this.owner?.taskCancelled();
  }
}

/** Below this many cancelled tasks in the heap, they just wait to reach the top. */
const COMPACT_MIN = 1024;

/**
 * A task that runs at the end of the current turn of the event loop, once however often it was
 * requested in that turn: the shape of every "flush what this turn queued" job (bundles, acks,
 * batched deliveries). Bound once, so requesting it allocates nothing.
 */
export interface EndOfTurnTask {
  /** Runs the task at the end of this turn (once, however often requested). */
  request(): void;
  /** Withdraws a pending request; the task can be requested again later. */
  cancel(): void;
  /** True while a request waits for the end of the turn. */
  readonly pending: boolean;
}

class TurnTask implements EndOfTurnTask {
  pending = false;
  constructor(
    private readonly owner: TimeScheduler,
    readonly fn: () => void,
  ) {}
  request(): void {
    if (this.pending) return;
    this.pending = true;
    this.owner.enqueueTurnTask(this);
  }
  cancel(): void {
    this.pending = false;
  }
}

/** The longest delay Node's `setTimeout` honours (ms). */
const MAX_TIMER_DELAY = 2 ** 31 - 1;

export class TimeScheduler {
  private heap: Task[] = [];
  private turnQueue: TurnTask[] = [];
  private turnImmediate: NodeJS.Immediate | null = null;
  private timer: NodeJS.Timeout | null = null;
  private armedFor = Infinity;
  private seq = 0;
  /** Cancelled tasks still in the heap: past half of it, the heap is rebuilt without them. */
  private cancelledInHeap = 0;
  private closed = false;
  private readonly onError: (err: unknown) => void;

  constructor(onError: (err: unknown) => void = (err) => console.error('tsgroups timer task failed', err)) {
    this.onError = onError;
  }

  /** Runs `fn` once after `delayMs`. */
  schedule(delayMs: number, fn: () => void): ScheduledTask {
    return this.add(delayMs, fn, 0);
  }

  /** Runs `fn` every `periodMs`, the first time after `initialDelayMs`. */
  scheduleWithFixedDelay(initialDelayMs: number, periodMs: number, fn: () => void): ScheduledTask {
    if (!(periodMs > 0)) throw new RangeError(`period must be positive, got ${periodMs}`);
    return this.add(initialDelayMs, fn, periodMs);
  }

  /**
   * A task for {@link EndOfTurnTask.request}: all requested tasks run together after the
   * current turn (one `setImmediate` for the whole channel), in the order requested. Closing
   * the scheduler cancels them.
   */
  endOfTurnTask(fn: () => void): EndOfTurnTask {
    return new TurnTask(this, fn);
  }

  /** Runs `fn` once at the end of this turn (a one-off {@link endOfTurnTask}). */
  runAtEndOfTurn(fn: () => void): EndOfTurnTask {
    const t = new TurnTask(this, fn);
    t.request();
    return t;
  }

  /**
   * Runs now every end-of-turn task requested so far (tests use it to drive a channel without
   * waiting for the event loop). Tasks requested while they run wait for the next turn.
   */
  runEndOfTurnTasks(): void {
    if (this.turnImmediate !== null) {
      clearImmediate(this.turnImmediate);
      this.turnImmediate = null;
    }
    const q = this.turnQueue;
    if (q.length === 0) return;
    this.turnQueue = [];
    for (let i = 0; i < q.length; i++) {
      const t = q[i]!;
      if (!t.pending) continue; // cancelled meanwhile
      t.pending = false;
      try {
        t.fn();
      } catch (err) {
        this.onError(err);
      }
    }
  }

  /** @internal */
  enqueueTurnTask(t: TurnTask): void {
    if (this.closed) {
      t.pending = false;
      return;
    }
    this.turnQueue.push(t);
    if (this.turnImmediate === null) this.turnImmediate = setImmediate(this.runTurn);
  }

  private readonly runTurn = (): void => {
    this.turnImmediate = null;
    this.runEndOfTurnTasks();
  };

  /** Number of pending tasks (cancelled ones may be counted until they reach the top). */
  size(): number {
    return this.heap.length;
  }

  isClosed(): boolean {
    return this.closed;
  }

  /** Cancels all tasks; further schedules are ignored (returned tasks are already cancelled). */
  close(): void {
    this.closed = true;
    for (const t of this.heap) {
      t.cancelled = true;
      t.inHeap = false;
    }
    this.heap = [];
    this.cancelledInHeap = 0;
    for (const t of this.turnQueue) t.pending = false;
    this.turnQueue = [];
    if (this.turnImmediate !== null) clearImmediate(this.turnImmediate);
    this.turnImmediate = null;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.armedFor = Infinity;
  }

  private add(delayMs: number, fn: () => void, period: number): ScheduledTask {
    if (Number.isNaN(delayMs)) throw new RangeError('delay must be a number of milliseconds, got NaN');
    const task = new Task(performance.now() + Math.max(0, delayMs), fn, period, this.seq++, this);
    if (this.closed) {
      task.cancelled = true;
      return task;
    }
    this.push(task);
    this.arm();
    return task;
  }

  private arm(): void {
    const top = this.heap[0];
    if (!top) {
      if (this.timer) clearTimeout(this.timer);
      this.timer = null;
      this.armedFor = Infinity;
      return;
    }
    if (this.timer && top.due >= this.armedFor) return;
    if (this.timer) clearTimeout(this.timer);
    this.armedFor = top.due;
    // Clamped: run() re-arms if it wakes before the task is due.
    this.timer = setTimeout(this.run, Math.min(MAX_TIMER_DELAY, Math.max(0, top.due - performance.now())));
  }

  private readonly run = (): void => {
    this.timer = null;
    this.armedFor = Infinity;
    const now = performance.now();
    let top = this.heap[0];
    while (top && top.due <= now + 1) {
      this.pop();
      if (!top.cancelled) {
        try {
          top.fn();
        } catch (err) {
          this.onError(err);
        }
        if (top.period > 0 && !top.cancelled && !this.closed) {
          top.due = performance.now() + top.period;
          this.push(top);
        }
      }
      top = this.heap[0];
    }
    if (!this.closed) this.arm();
  };

  /**
   * @internal A task in the heap was cancelled. Many calls with long timeouts that complete
   * early (the dispatchers' requests) would otherwise keep their dead timeout tasks until due.
   */
  taskCancelled(): void {
    this.cancelledInHeap++;
    if (this.cancelledInHeap === this.heap.length) {
      // Nothing left to run: the armed timer would only keep the process alive until it fires.
      for (const t of this.heap) t.inHeap = false;
      this.heap = [];
      this.cancelledInHeap = 0;
      this.arm();
      return;
    }
    if (this.cancelledInHeap < COMPACT_MIN || this.cancelledInHeap * 2 < this.heap.length) return;
    const live = this.heap.filter((t) => {
      if (t.cancelled) t.inHeap = false;
      return !t.cancelled;
    });
    // A sorted array is a valid heap.
    live.sort((a, b) => (this.less(a, b) ? -1 : this.less(b, a) ? 1 : 0));
    this.heap = live;
    this.cancelledInHeap = 0;
    this.arm();
  }

  private less(a: Task, b: Task): boolean {
    return a.due < b.due || (a.due === b.due && a.seq < b.seq);
  }

  private push(t: Task): void {
    const h = this.heap;
    t.inHeap = true;
    h.push(t);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.less(h[i]!, h[p]!)) break;
      [h[i], h[p]] = [h[p]!, h[i]!];
      i = p;
    }
  }

  private pop(): void {
    const h = this.heap;
    const top = h[0]!;
    top.inHeap = false;
    if (top.cancelled) this.cancelledInHeap--;
    const last = h.pop()!;
    if (h.length === 0) return;
    h[0] = last;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < h.length && this.less(h[l]!, h[m]!)) m = l;
      if (r < h.length && this.less(h[r]!, h[m]!)) m = r;
      if (m === i) break;
      [h[i], h[m]] = [h[m]!, h[i]!];
      i = m;
    }
  }
}
