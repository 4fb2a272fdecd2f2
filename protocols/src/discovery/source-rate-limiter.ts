/** The sources a {@link SourceRateLimiter} tracks at most (the oldest window is forgotten first). */
const MAX_SOURCES = 4096;

/**
 * Allows at most `max` events per source (a `host:port`) per fixed window of `interval` ms: how
 * PING bounds the responses it sends, so forged requests cannot make a member flood a host. The
 * table of sources is bounded; a source evicted early only gets a fresh window.
 */
export class SourceRateLimiter {
  /** Per source: when its window started, and how many events it had in it. */
  private readonly windows = new Map<string, { start: number; count: number }>();

  allow(source: string, max: number, interval: number, now: number): boolean {
    let w = this.windows.get(source);
    if (w === undefined || now - w.start >= interval) {
      if (w !== undefined) this.windows.delete(source); // re-inserted last: the map stays oldest first
      else if (this.windows.size >= MAX_SOURCES) this.evictOldest();
      w = { start: now, count: 0 };
      this.windows.set(source, w);
    }
    if (w.count >= max) return false;
    w.count++;
    return true;
  }

  get size(): number {
    return this.windows.size;
  }

  clear(): void {
    this.windows.clear();
  }

  private evictOldest(): void {
    const first = this.windows.keys().next().value;
    if (first !== undefined) this.windows.delete(first);
  }
}
