/**
 * The nonces of the tokens AUTH accepted lately, so that a captured request replayed within the
 * clock-skew window is refused. A token is accepted only while its timestamp is within
 * `max_clock_skew` of the receiver's clock, so its nonce need be kept only that long after it
 * could last be accepted: entries are kept `ttl` ms from acceptance and dropped in acceptance
 * order. At most `capacity` entries: when every one is still live, {@link add} says no (only
 * tokens that verified get in, so only members holding the secret or a certificate could fill it).
 */
export class ReplayCache {
  /** Nonce (latin1 string) to the time (ms) it may be forgotten; insertion order is acceptance order. */
  private readonly seen = new Map<string, number>();

  constructor(private readonly capacity: number) {}

  get size(): number {
    return this.seen.size;
  }

  has(nonce: Uint8Array): boolean {
    return this.seen.has(key(nonce));
  }

  /** Remembers `nonce` until `now + ttl`; false if the cache is full of live nonces (nothing is added). */
  add(nonce: Uint8Array, now: number, ttl: number): boolean {
    this.evict(now);
    if (this.seen.size >= this.capacity) return false;
    this.seen.set(key(nonce), now + ttl);
    return true;
  }

  /** Forgets the nonces whose time is up. */
  evict(now: number): void {
    for (const [k, until] of this.seen) {
      if (until > now) break;
      this.seen.delete(k);
    }
  }

  clear(): void {
    this.seen.clear();
  }
}

function key(nonce: Uint8Array): string {
  return Buffer.from(nonce.buffer, nonce.byteOffset, nonce.length).toString('latin1');
}
