import { type LogLevel, type Logger, RateLimitedLog, ScopedLogger, getLogger, setLogger } from '@tsgroups/core';

/** Captures what is logged. */
class Capture implements Logger {
  readonly lines: { level: string; message: string }[] = [];
  isEnabled(_level: LogLevel): boolean {
    return true;
  }
  log(level: Exclude<LogLevel, 'silent'>, _scope: string, message: string): void {
    this.lines.push({ level, message });
  }
}

let previous: Logger;
let capture: Capture;
beforeEach(() => {
  previous = getLogger();
  capture = new Capture();
  setLogger(capture);
});
afterEach(() => setLogger(previous));

test('one line per kind per interval; the next says how many were left out', () => {
  let now = 0;
  const log = new RateLimitedLog(new ScopedLogger('T'), 10_000, () => now);
  expect(log.warn('view', 'forged view 1')).toBe(true);
  for (let i = 0; i < 5; i++) expect(log.warn('view', `forged view ${i + 2}`)).toBe(false);
  expect(log.error('leave', 'forged leave')).toBe(true); // another kind has its own interval
  now = 9_999;
  expect(log.warn('view', 'still within')).toBe(false);
  now = 10_000;
  expect(log.warn('view', 'forged view 8')).toBe(true);
  now = 20_000;
  expect(log.warn('view', 'forged view 9')).toBe(true);
  expect(capture.lines).toEqual([
    { level: 'warn', message: 'forged view 1' },
    { level: 'error', message: 'forged leave' },
    { level: 'warn', message: 'forged view 8 (and 6 more like it in the last 10 s, not logged)' },
    { level: 'warn', message: 'forged view 9' },
  ]);
});
