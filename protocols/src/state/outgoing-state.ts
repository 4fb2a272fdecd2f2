import { Writable } from 'node:stream';
import type { Address, Digest, DownResult } from '@tsgroups/core';
import { encodeStateDigest } from './state-digest.js';
import { StateMsg } from './state-header.js';

/** What an {@link OutgoingState} needs from STATE_TRANSFER. */
export interface OutgoingHost {
  /** Sends a message of this transfer to the requester (the Promise: flow control holds it). */
  send(type: number, value: number, payload?: Uint8Array): DownResult;
  /** Opens the barrier this transfer closed (called once). */
  openBarrier(): void;
}

/**
 * One state transfer at the provider: the Writable the application's getState writes to. Each
 * write goes out in chunks of at most `chunkSize` bytes (small writes are gathered), and the
 * write's callback waits until the stack took the chunk (UFC) and fewer than `window` chunks
 * are unacknowledged: so `write()` returns false and 'drain' comes late when the requester or
 * the network is slow, and memory stays bounded by the window. The first chunk is preceded by
 * BEGIN with the snapshot's digest; `end()` sends END. Once cancelled or failed, writes are
 * dropped at once, so the application's getState finishes quickly.
 */
export class OutgoingState {
  readonly output: Writable;
  private sent = 0;
  private acked = 0;
  private wakeUp: (() => void) | null = null;
  private begun = false;
  private stopped = false;
  private barrierOpen = false;
  /** Bytes sent, for the caller's statistics. */
  bytes = 0;

  constructor(
    readonly requester: Address,
    readonly transfer: number,
    private readonly digest: Digest,
    private readonly chunkSize: number,
    private readonly window: number,
    private readonly host: OutgoingHost,
  ) {
    this.output = new Writable({
      highWaterMark: chunkSize,
      write: (chunk: Buffer, _enc, cb) => this.writeAll([chunk], cb),
      writev: (chunks, cb) => this.writeAll(chunks.map((c) => c.chunk as Buffer), cb),
      final: (cb) => this.finish(cb),
    });
    // A write after end (an application error) must not crash the process: it ends the transfer.
    this.output.on('error', () => this.stop());
  }

  get isStopped(): boolean {
    return this.stopped;
  }

  onAck(chunks: number): void {
    if (chunks > this.acked) this.acked = chunks;
    this.wake();
  }

  /** Ends the transfer here (the requester cancelled or left, or the provider failed): writes are dropped, the barrier opens. */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.wake();
    this.openBarrier();
  }

  openBarrier(): void {
    if (this.barrierOpen) return;
    this.barrierOpen = true;
    this.host.openBarrier();
  }

  /** Sends BEGIN if no chunk did (an empty state). */
  ensureBegun(): void {
    if (this.begun || this.stopped) return;
    this.begun = true;
    void this.host.send(StateMsg.BEGIN, this.window, encodeStateDigest(this.digest));
  }

  private wake(): void {
    const w = this.wakeUp;
    this.wakeUp = null;
    w?.();
  }

  private writeAll(chunks: Buffer[], cb: (err?: Error | null) => void): void {
    // Gathered small writes become one chunk (a copy: the stack keeps it until acknowledged).
    const data = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
    const copied = chunks.length > 1;
    this.sendPieces(data, copied).then(() => cb(), cb);
  }

  private async sendPieces(data: Buffer, copied: boolean): Promise<void> {
    for (let off = 0; off < data.length && !this.stopped; off += this.chunkSize) {
      while (this.sent - this.acked >= this.window && !this.stopped) {
        await new Promise<void>((r) => (this.wakeUp = r));
      }
      if (this.stopped) return;
      this.ensureBegun();
      const view = data.subarray(off, Math.min(off + this.chunkSize, data.length));
      // The application may reuse its buffer once the write completes; the retransmission table may not.
      const piece = copied ? view : new Uint8Array(view);
      this.sent++;
      this.bytes += piece.length;
      const r = this.host.send(StateMsg.CHUNK, 0, piece);
      if (r !== undefined) await r;
    }
  }

  private finish(cb: (err?: Error | null) => void): void {
    if (this.stopped) return cb();
    this.ensureBegun();
    const r = this.host.send(StateMsg.END, 0);
    if (r === undefined) cb();
    else r.then(() => cb(), cb);
  }
}
