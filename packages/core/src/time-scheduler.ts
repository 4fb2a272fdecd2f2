/**
 * One timer per channel: tasks wait in a binary heap ordered by due time, and a single Node
 * timer is armed for the earliest one. Closing the scheduler cancels everything.
 */
export interface ScheduledTask {
  /** Cancels the task; harmless if it already ran. */
  cancel(): void;
  readonly cancelled: boolean;
}

class Task implements ScheduledTask {
  cancelled = false;
  constructor(
    public due: number,
    readonly fn: () => void,
    readonly period: number, // 0: one-shot
    readonly seq: number,
  ) {}
  cancel(): void {
    this.cancelled = true;
  }
}

export class TimeScheduler {
  private heap: Task[] = [];
  private timer: NodeJS.Timeout | null = null;
  private armedFor = Infinity;
  private seq = 0;
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
    for (const t of this.heap) t.cancelled = true;
    this.heap = [];
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.armedFor = Infinity;
  }

  private add(delayMs: number, fn: () => void, period: number): ScheduledTask {
    const task = new Task(performance.now() + Math.max(0, delayMs), fn, period, this.seq++);
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
    this.timer = setTimeout(this.run, Math.max(0, top.due - performance.now()));
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

  private less(a: Task, b: Task): boolean {
    return a.due < b.due || (a.due === b.due && a.seq < b.seq);
  }

  private push(t: Task): void {
    const h = this.heap;
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
