import { Readable } from 'node:stream';
import { type Address, type Digest, TsgroupsError } from '@tsgroups/core';
import { StateMsg } from './state-header.js';

/** What an {@link IncomingState} needs from STATE_TRANSFER. */
export interface IncomingHost {
  /** Sends a control message of this transfer to the provider. */
  send(type: number, value: number): void;
  /** Hands the stream to the application's setState (undefined: it has none). */
  setState(input: Readable): Promise<unknown> | undefined;
}

/**
 * One state transfer at the requester: the stream the application's setState reads, fed with
 * the provider's chunks. Backpressure: a chunk the stream takes below its high-water mark is
 * acknowledged (every half window), one it has to buffer above it only when the application
 * reads again; the provider keeps at most a window of unacknowledged chunks in flight. `done`
 * resolves with the snapshot's digest once the state ended and setState returned.
 */
export class IncomingState {
  readonly done: Promise<Digest>;
  private resolve!: (d: Digest) => void;
  private reject!: (err: Error) => void;
  private digest: Digest | null = null;
  private input: Readable | null = null;
  private received = 0;
  private acked = 0;
  private ackEvery = 1;
  private paused = false;
  private ended = false;
  private setDone = false;
  private settled = false;
  /** Bytes received, for the caller's statistics. */
  bytes = 0;

  constructor(
    readonly transfer: number,
    readonly provider: Address,
    private readonly host: IncomingHost,
  ) {
    this.done = new Promise<Digest>((res, rej) => {
      this.resolve = res;
      this.reject = rej;
    });
  }

  get isSettled(): boolean {
    return this.settled;
  }

  onBegin(digest: Digest, window: number, highWaterMark: number): void {
    if (this.input !== null || this.settled) return;
    this.digest = digest;
    this.ackEvery = Math.max(1, Math.floor(window / 2));
    const input = new Readable({ highWaterMark, read: () => this.onRead() });
    this.input = input;
    const r = this.host.setState(input);
    if (r === undefined) {
      this.fail(new TsgroupsError('ERR_BAD_ARGUMENT', 'getState: the receiver has no setState to take the state'), true);
      return;
    }
    r.then(
      () => {
        this.setDone = true;
        // setState returned before the end: what is still to come is read and dropped.
        if (!this.ended) input.resume();
        this.maybeFinish();
      },
      (err: unknown) => {
        const msg = err instanceof Error ? err.message : String(err);
        this.fail(new TsgroupsError('ERR_STATE_SET_FAILED', `getState: setState threw: ${msg}`, { cause: err }), true);
      },
    );
  }

  onChunk(bytes: Buffer): void {
    if (this.input === null || this.settled || this.ended) return;
    this.received++;
    this.bytes += bytes.length;
    if (this.input.push(bytes)) this.maybeAck(false);
    else this.paused = true;
  }

  onEnd(): void {
    if (this.input === null || this.settled || this.ended) return;
    this.ended = true;
    this.input.push(null);
    this.maybeFinish();
  }

  /** Ends the transfer with `err`; `cancel`: tell the provider to stop. */
  fail(err: Error, cancel: boolean): void {
    if (this.settled) return;
    this.settled = true;
    if (cancel) this.host.send(StateMsg.CANCEL, 0);
    const input = this.input;
    // An 'error' without a listener would crash the process: only a reader that listens gets it.
    if (input !== null && !input.destroyed) {
      if (input.listenerCount('error') > 0) input.destroy(err);
      else input.destroy();
    }
    this.reject(err);
  }

  private onRead(): void {
    if (!this.paused) return;
    this.paused = false;
    this.maybeAck(true);
  }

  private maybeAck(force: boolean): void {
    const unacked = this.received - this.acked;
    if (unacked === 0 || (!force && unacked < this.ackEvery) || this.settled) return;
    this.acked = this.received;
    this.host.send(StateMsg.ACK, this.received);
  }

  private maybeFinish(): void {
    if (!this.ended || !this.setDone || this.settled) return;
    this.settled = true;
    this.resolve(this.digest!);
  }
}
