/**
 * The version of a cache entry: when it was written (a hybrid clock's reading) and by which
 * member (its UUID, to break ties). Of two writes of one key, the higher version wins wherever
 * they meet, so owners that see them in different orders end with the same value.
 */
export type EntryVersion = readonly [time: number, origin: string];

/** Orders versions: by time, then by origin. */
export function compareVersions(a: EntryVersion, b: EntryVersion): number {
  if (a[0] !== b[0]) return a[0] < b[0] ? -1 : 1;
  return a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0;
}

/**
 * A hybrid logical clock: the wall clock in milliseconds, but never behind a version this
 * member has seen and never the same reading twice. A write that follows another one in real
 * time (or that saw it) gets the higher version, even on a member whose clock is slightly behind.
 */
export class VersionClock {
  private last = 0;

  /** A reading above every earlier one and every version observed. */
  next(): number {
    this.last = Math.max(Date.now(), this.last + 1);
    return this.last;
  }

  /** Takes note of a version written elsewhere. */
  observe(time: number): void {
    if (time > this.last) this.last = time;
  }
}
