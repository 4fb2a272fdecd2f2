import { randomFillSync } from 'node:crypto';
import { IV_BYTES } from './sym-encrypt-header.js';

/** Nonces handed out from one allocation (a nonce stays referenced until its message is sent). */
const POOL_NONCES = 512;

/**
 * GCM nonces for one member: a random 12-byte start, then a counter in the last 8 bytes. A
 * nonce must never repeat under one key; random nonces alone would collide after about 2^32
 * messages over the whole cluster (NIST's limit per key), while counters from random starts
 * collide only if two members' ranges of 2^64 overlap. Each nonce is a view on a pooled buffer.
 */
export class NonceSequence {
  private readonly next = Buffer.alloc(IV_BYTES);
  private pool: Buffer = Buffer.alloc(0);
  private poolPos = 0;

  constructor() {
    this.reseed();
  }

  /** A new random start (at each connect). */
  reseed(): void {
    randomFillSync(this.next);
  }

  /** A nonce this sequence has not returned since its last reseed. */
  take(): Uint8Array {
    if (this.poolPos === this.pool.length) {
      this.pool = Buffer.allocUnsafe(IV_BYTES * POOL_NONCES);
      this.poolPos = 0;
    }
    const at = this.poolPos;
    this.next.copy(this.pool, at);
    this.poolPos = at + IV_BYTES;
    const n = this.next;
    for (let i = IV_BYTES - 1; i >= IV_BYTES - 8; i--) {
      n[i] = (n[i]! + 1) & 0xff;
      if (n[i] !== 0) break;
    }
    return this.pool.subarray(at, at + IV_BYTES);
  }
}
