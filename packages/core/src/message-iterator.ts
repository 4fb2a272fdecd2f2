import { TsgroupsError } from './errors.js';
import { Fifo } from './fifo.js';
import type { Message } from './message.js';

export interface MessagesOptions {
  /** Aborting ends the iteration at once (messages still buffered are dropped with it). */
  signal?: AbortSignal;
  /**
   * Buffered messages at which the consumer counts as behind: the channel then asks flow
   * control (MFC/UFC) to stop crediting senders back. Default 1000.
   */
  highWaterMark?: number;
  /** Buffered messages at which the consumer counts as caught up again. Default half the high-water mark. */
  lowWaterMark?: number;
}

/** @internal What an iterator needs from its channel. */
export interface IteratorHost {
  /** `it` went up to its high-water mark (`behind` true) or down to its low-water mark (false). */
  consumerBehind(it: MessageIterator, behind: boolean): void;
  /** `it` ended: stop feeding it. */
  detach(it: MessageIterator): void;
}

const DONE: IteratorResult<Message> = Object.freeze({ value: undefined, done: true });

/**
 * The async iterator of `Channel.messages()`: buffers the messages the channel receives until
 * the consumer takes them, and tells the channel when it falls behind (the buffer reached the
 * high-water mark) and when it caught up (down to the low-water mark), so that flow control can
 * hold the senders back meanwhile. One consumer: a `next()` while another waits is refused.
 */
export class MessageIterator implements AsyncIterableIterator<Message> {
  readonly highWaterMark: number;
  readonly lowWaterMark: number;
  private readonly queue = new Fifo<Message>();
  private waiter: ((r: IteratorResult<Message>) => void) | null = null;
  private ended = false;
  private behind = false;
  private readonly signal: AbortSignal | undefined;

  /** @internal made by `Channel.messages()` */
  constructor(
    private readonly host: IteratorHost,
    options: MessagesOptions,
    /** false: the channel is closed, the iterator is over before it began. */
    open: boolean,
  ) {
    const high = options.highWaterMark ?? 1000;
    if (!Number.isInteger(high) || high < 1) {
      throw new TsgroupsError('ERR_BAD_ARGUMENT', `messages(): highWaterMark must be an integer of at least 1, not ${String(high)}`);
    }
    const low = options.lowWaterMark ?? Math.floor(high / 2);
    if (!Number.isInteger(low) || low < 0 || low >= high) {
      throw new TsgroupsError('ERR_BAD_ARGUMENT', `messages(): lowWaterMark must be an integer from 0 to highWaterMark - 1 (${high - 1}), not ${String(low)}`);
    }
    this.highWaterMark = high;
    this.lowWaterMark = low;
    this.signal = options.signal;
    if (!open || this.signal?.aborted) {
      this.ended = true;
      return;
    }
    this.signal?.addEventListener('abort', this.onAbort, { once: true });
  }

  /** Messages received and not taken yet. */
  get pending(): number {
    return this.queue.length;
  }

  /** True from the moment the buffer reached the high-water mark until it is back to the low-water mark. */
  get isBehind(): boolean {
    return this.behind;
  }

  /** True once the iteration is over (it may still hand out what it buffered before a disconnect). */
  get isEnded(): boolean {
    return this.ended;
  }

  /** @internal The channel delivers a received message. */
  push(msg: Message): void {
    if (this.ended) return;
    const w = this.waiter;
    if (w !== null) {
      this.waiter = null;
      w({ value: msg, done: false });
      return;
    }
    this.queue.push(msg);
    if (!this.behind && this.queue.length >= this.highWaterMark) {
      this.behind = true;
      this.host.consumerBehind(this, true);
    }
  }

  next(): Promise<IteratorResult<Message>> {
    const msg = this.queue.shift();
    if (msg !== undefined) {
      if (this.behind && this.queue.length <= this.lowWaterMark) {
        this.behind = false;
        this.host.consumerBehind(this, false);
      }
      return Promise.resolve({ value: msg, done: false });
    }
    if (this.ended) return Promise.resolve(DONE);
    if (this.waiter !== null) {
      return Promise.reject(
        new TsgroupsError('ERR_BAD_ARGUMENT', 'messages(): next() called while an earlier next() still waits: an iterator has one consumer'),
      );
    }
    return new Promise<IteratorResult<Message>>((resolve) => (this.waiter = resolve));
  }

  /** Ends the iteration (what `break` out of `for await` calls): drops the buffer, releases everything. */
  return(): Promise<IteratorResult<Message>> {
    this.end(true);
    return Promise.resolve(DONE);
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  /**
   * @internal Ends the iteration. `drop`: forget what is buffered (return(), abort); otherwise
   * (disconnect, close) the consumer still gets it, then `done`.
   */
  end(drop: boolean): void {
    if (drop) this.queue.clear();
    // Once ended, nothing more arrives: the channel has no reason to hold senders back.
    if (this.behind) {
      this.behind = false;
      this.host.consumerBehind(this, false);
    }
    if (this.ended) return;
    this.ended = true;
    this.signal?.removeEventListener('abort', this.onAbort);
    this.host.detach(this);
    const w = this.waiter;
    this.waiter = null;
    w?.(DONE);
  }

  private readonly onAbort = (): void => this.end(true);
}
