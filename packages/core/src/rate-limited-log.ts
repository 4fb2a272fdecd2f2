import type { ScopedLogger } from './logger.js';

/** How often (ms) one kind of event is logged at most, by default. */
export const RATE_LIMITED_LOG_INTERVAL = 10_000;

/**
 * Logs each kind of event at most once per interval and counts the rest: for what an outsider or
 * a bad network can cause at will (rejected datagrams, refused joins, forged views, send
 * failures). The protocols' stats count every one; the log says how many it left out, and a
 * flood never floods the log.
 */
export class RateLimitedLog {
  private readonly kinds = new Map<string, { at: number; suppressed: number }>();

  constructor(
    private readonly log: ScopedLogger,
    readonly intervalMs = RATE_LIMITED_LOG_INTERVAL,
    private readonly now: () => number = Date.now,
  ) {}

  warn(kind: string, text: string, err?: unknown): boolean {
    return this.write('warn', kind, text, err);
  }

  error(kind: string, text: string, err?: unknown): boolean {
    return this.write('error', kind, text, err);
  }

  /**
   * Logs `text` unless `kind` was logged less than the interval ago (then it is only counted,
   * and the next line of that kind says how many were left out).
   * @returns whether it was logged
   */
  private write(level: 'warn' | 'error', kind: string, text: string, err: unknown): boolean {
    const now = this.now();
    const entry = this.kinds.get(kind);
    if (entry !== undefined && now - entry.at < this.intervalMs) {
      entry.suppressed++;
      return false;
    }
    const suppressed = entry?.suppressed ?? 0;
    this.kinds.set(kind, { at: now, suppressed: 0 });
    const line = suppressed > 0 ? `${text} (and ${suppressed} more like it in the last ${Math.round(this.intervalMs / 1000)} s, not logged)` : text;
    if (level === 'warn') this.log.warn(line, err);
    else this.log.error(line, err);
    return true;
  }
}
