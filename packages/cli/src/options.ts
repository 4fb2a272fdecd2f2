/**
 * Validation of the command line: a bad option is reported with what was expected and the
 * command exits with status 2, instead of a silent replacement by a default or a bound.
 */

/** A wrong command line: printed without a stack trace; the command exits 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** The range of a numeric option, and its default when it is not given. */
export interface IntRange {
  min: number;
  max: number;
  default: number;
}

/**
 * The value of integer option `--name`: decimal digits only (no sign, no `0x`, no `1e3`, no
 * unit), within `range`; `range.default` when the option is absent.
 * @throws UsageError naming the option, the range and what was given
 */
export function intOption(name: string, text: string | undefined, range: IntRange): number {
  if (text === undefined) return range.default;
  const n = /^\d+$/.test(text) ? Number(text) : Number.NaN;
  if (!Number.isSafeInteger(n) || n < range.min || n > range.max) {
    throw new UsageError(`--${name} must be an integer from ${range.min} to ${range.max}, got ${JSON.stringify(text)}`);
  }
  return n;
}

/** @throws UsageError if `--name` was given: it does not apply to this form of the command (`why`). */
export function notWith(name: string, given: unknown, why: string): void {
  if (given !== undefined) throw new UsageError(`--${name} ${why}`);
}

/** The longest timeout the commands take (ms): what Node's timers honour. */
export const MAX_TIMEOUT_MS = 2 ** 31 - 1;

/** The ranges of the numeric options, one place for the checks and the usage text. */
export const RANGES = {
  demo: {
    members: { min: 2, max: 25, default: 4 },
  },
  demoInProcess: {
    members: { min: 2, max: 26, default: 4 },
    messages: { min: 1, max: 100_000, default: 5 },
  },
  perf: {
    members: { min: 1, max: 100, default: 2 },
    messages: { min: 1, max: 100_000_000, default: 100_000 },
    size: { min: 0, max: 10_000_000, default: 1000 },
    timeout: { min: 1, max: MAX_TIMEOUT_MS, default: 30_000 },
  },
  perfProcesses: {
    processes: { min: 1, max: 25, default: 2 },
    messages: { min: 1, max: 100_000_000, default: 100_000 },
    // Each multicast starts with a 2-byte mark that tells perf messages from others.
    size: { min: 2, max: 10_000_000, default: 1000 },
    timeout: { min: 1, max: MAX_TIMEOUT_MS, default: 120_000 },
  },
  perfRpc: {
    // One member calls, at least one other answers.
    processes: { min: 2, max: 25, default: 2 },
    calls: { min: 1, max: 100_000_000, default: 20_000 },
    // The default of --calls-all is the --calls given.
    callsAll: { min: 1, max: 100_000_000, default: 20_000 },
    asyncCalls: { min: 1, max: 100_000_000, default: 100_000 },
    inFlight: { min: 1, max: 10_000, default: 100 },
    timeout: { min: 1, max: MAX_TIMEOUT_MS, default: 300_000 },
  },
} as const satisfies Record<string, Record<string, IntRange>>;

/** `N (default D, MIN..MAX)` for the usage text. */
export function describeRange(r: IntRange): string {
  return `(default ${r.default}, ${r.min}..${r.max})`;
}
