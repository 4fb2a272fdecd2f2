import type { Address } from './address.js';
import { AbortError, TimeoutError } from './errors.js';
import type { ScheduledTask, TimeScheduler } from './time-scheduler.js';

/** What a {@link Collector} knows of one member it waits for. */
export interface Response<V> {
  /** The value the member answered with (undefined until it answered, or if it failed). */
  value: V | undefined;
  /** The error the member answered with, if any. */
  error: unknown;
  /** True once the member answered (with a value or an error). */
  received: boolean;
  /** True if the member left or was suspected before it answered: it is no longer waited for. */
  suspected: boolean;
}

export interface CollectorOptions<V> {
  /** The channel's scheduler (`protocol.timer`): the timeout runs on it and dies with it. */
  timer: TimeScheduler;
  /** How long to wait, in ms; 0 or undefined = no limit. */
  timeout?: number;
  /** Aborting rejects the wait with an {@link AbortError} and releases it. */
  signal?: AbortSignal;
  /**
   * When the wait is over before every member answered or left. Called after each response and
   * each departure; the default is "nobody is still awaited". GET_FIRST, GET_MAJORITY and
   * response filters are such predicates.
   */
  doneWhen?: (c: Collector<V>) => boolean;
  /**
   * What the timeout does: `'reject'` (the default) rejects with a {@link TimeoutError};
   * `'resolve'` ends the wait with what was collected so far (e.g. view acks: go on without the
   * slow members).
   */
  onTimeout?: 'reject' | 'resolve';
  /** Names the wait in errors, e.g. `view 7 acks`. */
  what?: string;
}

/**
 * Waits for answers from a set of members: resolves when every awaited member answered or left
 * (or when `doneWhen` says so), rejects on timeout or abort. The one mechanism behind view acks,
 * join and merge responses, RSVP acks and the dispatchers' RspList: each keeps a collector,
 * feeds it with {@link add}, and tells it about members that left with {@link memberLeft} or
 * {@link retainMembers}.
 *
 * `done` settles exactly once; after that every call is ignored, and the timer and the abort
 * listener are released.
 */
export class Collector<V = unknown> {
  /** Settles when the wait is over: with the responses by member, or with the error. */
  readonly done: Promise<Map<Address, Response<V>>>;
  private readonly responses = new Map<Address, Response<V>>();
  private awaited = 0;
  /** Members whose answer was refused (discard): no longer awaited, though neither received nor suspected. */
  private discarded: Set<Address> | null = null;
  private settled = false;
  private resolveFn!: (r: Map<Address, Response<V>>) => void;
  private rejectFn!: (err: unknown) => void;
  private timeoutTask: ScheduledTask | null = null;
  private readonly options: CollectorOptions<V>;

  constructor(members: Iterable<Address>, options: CollectorOptions<V>) {
    this.options = options;
    this.done = new Promise((resolve, reject) => {
      this.resolveFn = resolve;
      this.rejectFn = reject;
    });
    for (const m of members) {
      if (this.responses.has(m)) continue;
      this.responses.set(m, { value: undefined, error: undefined, received: false, suspected: false });
      this.awaited++;
    }
    const { signal, timeout } = options;
    if (signal?.aborted) {
      this.fail(new AbortError(`${this.what()} aborted`, signal.reason));
      return;
    }
    signal?.addEventListener('abort', this.onAbort, { once: true });
    if (timeout !== undefined && timeout > 0) this.timeoutTask = options.timer.schedule(timeout, this.onTimeout);
    this.check();
  }

  /** True once the wait is over (resolved, rejected or cancelled). */
  isDone(): boolean {
    return this.settled;
  }

  /**
   * Records `member`'s answer; returns false if it was not awaited (unknown, already answered or
   * gone) or the wait is over.
   */
  add(member: Address, value: V): boolean {
    const r = this.pendingEntry(member);
    if (r === undefined) return false;
    r.value = value;
    r.received = true;
    this.awaited--;
    this.check();
    return true;
  }

  /** Records that `member` answered with an error. */
  addError(member: Address, error: unknown): boolean {
    const r = this.pendingEntry(member);
    if (r === undefined) return false;
    r.error = error;
    r.received = true;
    this.awaited--;
    this.check();
    return true;
  }

  /**
   * `member` answered with something the waiter does not accept (a response filter said no): it
   * is no longer waited for, and its entry stays not received and not suspected.
   */
  discard(member: Address): boolean {
    const r = this.pendingEntry(member);
    if (r === undefined) return false;
    (this.discarded ??= new Set()).add(member);
    this.awaited--;
    this.check();
    return true;
  }

  /** `member` left or is suspected: it is no longer waited for. */
  memberLeft(member: Address): boolean {
    const r = this.pendingEntry(member);
    if (r === undefined) return false;
    r.suspected = true;
    this.awaited--;
    this.check();
    return true;
  }

  /** Every awaited member that is not in `members` (a new view) has left. */
  retainMembers(members: readonly Address[] | ReadonlySet<Address>): void {
    const set = members instanceof Set ? members : new Set(members as readonly Address[]);
    for (const m of this.missing()) if (!set.has(m)) this.memberLeft(m);
  }

  /** Members that neither answered nor left. */
  missing(): Address[] {
    const out: Address[] = [];
    for (const [m, r] of this.responses) if (!r.received && !r.suspected && this.discarded?.has(m) !== true) out.push(m);
    return out;
  }

  /** How many members answered. */
  numReceived(): number {
    let n = 0;
    for (const r of this.responses.values()) if (r.received) n++;
    return n;
  }

  /** How many members are still awaited. */
  numAwaited(): number {
    return this.awaited;
  }

  /** Every member's entry so far (live: do not modify). */
  getResponses(): ReadonlyMap<Address, Response<V>> {
    return this.responses;
  }

  /** Ends the wait now with what was collected. */
  complete(): void {
    this.finish();
  }

  /** Ends the wait now with `err` (e.g. the channel closed). */
  cancel(err: unknown): void {
    this.fail(err);
  }

  private pendingEntry(member: Address): Response<V> | undefined {
    if (this.settled) return undefined;
    const r = this.responses.get(member);
    return r === undefined || r.received || r.suspected || this.discarded?.has(member) === true ? undefined : r;
  }

  private check(): void {
    if (this.settled) return;
    const doneWhen = this.options.doneWhen;
    if (this.awaited === 0 || (doneWhen !== undefined && doneWhen(this))) this.finish();
  }

  private finish(): void {
    if (this.settled) return;
    this.release();
    this.resolveFn(this.responses);
  }

  private fail(err: unknown): void {
    if (this.settled) return;
    this.release();
    this.rejectFn(err);
  }

  private release(): void {
    this.settled = true;
    this.timeoutTask?.cancel();
    this.timeoutTask = null;
    this.options.signal?.removeEventListener('abort', this.onAbort);
  }

  private what(): string {
    return this.options.what ?? 'the wait for responses';
  }

  private readonly onAbort = (): void => {
    this.fail(new AbortError(`${this.what()} aborted`, this.options.signal?.reason));
  };

  private readonly onTimeout = (): void => {
    this.timeoutTask = null;
    if (this.options.onTimeout === 'resolve') {
      this.finish();
      return;
    }
    const missing = this.missing();
    this.fail(
      new TimeoutError(
        `${this.what()} timed out after ${this.options.timeout} ms` +
          (missing.length > 0 ? `; no answer from ${missing.join(', ')}` : ''),
      ),
    );
  };
}
