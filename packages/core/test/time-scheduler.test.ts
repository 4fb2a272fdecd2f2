import { TimeScheduler } from '@tsgroups/core';

/** Jest's API: in ES modules it is `import.meta.jest` (the global `jest` is not defined). */
const jestApi = (import.meta as unknown as { jest: typeof jest }).jest;

/** Polls `cond` every few ms until it holds; rejects after `timeoutMs`. */
function waitUntil(cond: () => boolean, timeoutMs = 5000, what = 'condition'): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const check = (): void => {
      if (cond()) resolve();
      else if (performance.now() > deadline) reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`));
      else setTimeout(check, 2);
    };
    check();
  });
}

const schedulers: TimeScheduler[] = [];
const errors: unknown[] = [];

/** A scheduler that is closed after the test; errors go to `errors`. */
function scheduler(onError: (err: unknown) => void = (err) => errors.push(err)): TimeScheduler {
  const s = new TimeScheduler(onError);
  schedulers.push(s);
  return s;
}

afterEach(() => {
  for (const s of schedulers.splice(0)) s.close();
  errors.length = 0;
});

test('tasks run in the order of their due time, ties in scheduling order', async () => {
  const s = scheduler();
  const ran: string[] = [];
  s.schedule(40, () => ran.push('40'));
  s.schedule(10, () => ran.push('10'));
  s.schedule(25, () => ran.push('25'));
  s.schedule(0, () => ran.push('0'));
  s.schedule(-5, () => ran.push('negative')); // treated as 0
  s.schedule(10, () => ran.push('10b'));
  expect(s.size()).toBe(6);
  await waitUntil(() => ran.length === 6, 5000, 'all tasks');
  expect(ran).toEqual(['0', 'negative', '10', '10b', '25', '40']);
  expect(s.size()).toBe(0);
  expect(errors).toEqual([]);
});

test('a task does not run before its delay has passed', async () => {
  const s = scheduler();
  const start = performance.now();
  let ranAt = -1;
  s.schedule(30, () => (ranAt = performance.now()));
  await waitUntil(() => ranAt >= 0, 5000, 'task');
  // setTimeout may fire up to ~1 ms early; the scheduler runs tasks due within 1 ms.
  expect(ranAt - start).toBeGreaterThanOrEqual(28);
});

test('an earlier task scheduled later re-arms the timer', async () => {
  const s = scheduler();
  const ran: string[] = [];
  s.schedule(200, () => ran.push('late'));
  s.schedule(5, () => ran.push('early'));
  await waitUntil(() => ran.length >= 1, 5000, 'early task');
  expect(ran).toEqual(['early']); // did not wait for the 200 ms timer
  await waitUntil(() => ran.length === 2, 5000, 'late task');
  expect(ran).toEqual(['early', 'late']);
});

test('cancel prevents a task from running', async () => {
  const s = scheduler();
  const ran: string[] = [];
  const t = s.schedule(5, () => ran.push('cancelled'));
  s.schedule(10, () => ran.push('kept'));
  expect(t.cancelled).toBe(false);
  t.cancel();
  expect(t.cancelled).toBe(true);
  s.schedule(30, () => ran.push('sentinel'));
  await waitUntil(() => ran.includes('sentinel'), 5000, 'sentinel');
  expect(ran).toEqual(['kept', 'sentinel']);
});

test('cancelling a task that already ran is harmless', async () => {
  const s = scheduler();
  let n = 0;
  const t = s.schedule(0, () => n++);
  await waitUntil(() => n === 1, 5000, 'task');
  t.cancel();
  expect(t.cancelled).toBe(true);
  expect(n).toBe(1);
});

test('a task may schedule and cancel other tasks', async () => {
  const s = scheduler();
  const ran: string[] = [];
  const victim = s.schedule(20, () => ran.push('victim'));
  s.schedule(5, () => {
    ran.push('first');
    victim.cancel();
    s.schedule(0, () => ran.push('child'));
  });
  s.schedule(40, () => ran.push('sentinel'));
  await waitUntil(() => ran.includes('sentinel'), 5000, 'sentinel');
  expect(ran).toEqual(['first', 'child', 'sentinel']);
});

test('scheduleWithFixedDelay repeats until cancelled', async () => {
  const s = scheduler();
  const times: number[] = [];
  const t = s.scheduleWithFixedDelay(0, 5, () => times.push(performance.now()));
  await waitUntil(() => times.length >= 4, 5000, '4 runs');
  t.cancel();
  const runs = times.length;
  for (let i = 1; i < times.length; i++) expect(times[i]! - times[i - 1]!).toBeGreaterThanOrEqual(3);
  // After cancel it never runs again: wait for a one-shot due well after the next period.
  let sentinel = false;
  s.schedule(40, () => (sentinel = true));
  await waitUntil(() => sentinel, 5000, 'sentinel');
  expect(times.length).toBe(runs);
  expect(s.size()).toBe(0);
});

test('a periodic task can cancel itself from inside', async () => {
  const s = scheduler();
  let n = 0;
  const t = s.scheduleWithFixedDelay(1, 2, () => {
    if (++n === 3) t.cancel();
  });
  await waitUntil(() => n === 3, 5000, '3 runs');
  let sentinel = false;
  s.schedule(30, () => (sentinel = true));
  await waitUntil(() => sentinel, 5000, 'sentinel');
  expect(n).toBe(3);
});

test('scheduleWithFixedDelay rejects a period that is not positive', () => {
  const s = scheduler();
  expect(() => s.scheduleWithFixedDelay(0, 0, () => {})).toThrow(RangeError);
  expect(() => s.scheduleWithFixedDelay(0, -1, () => {})).toThrow(RangeError);
  expect(() => s.scheduleWithFixedDelay(0, Number.NaN, () => {})).toThrow(RangeError);
  expect(s.size()).toBe(0);
});

test('an exception in a task goes to onError and later tasks still run', async () => {
  const s = scheduler();
  const ran: string[] = [];
  const boom = new Error('boom');
  s.schedule(5, () => {
    ran.push('thrower');
    throw boom;
  });
  s.schedule(5, () => ran.push('same tick'));
  s.schedule(20, () => ran.push('later'));
  await waitUntil(() => ran.includes('later'), 5000, 'later task');
  expect(ran).toEqual(['thrower', 'same tick', 'later']);
  expect(errors).toEqual([boom]);
});

test('a periodic task that throws keeps running', async () => {
  const s = scheduler();
  let n = 0;
  s.scheduleWithFixedDelay(0, 2, () => {
    n++;
    throw new Error(`run ${n}`);
  });
  await waitUntil(() => n >= 3, 5000, '3 runs');
  expect(errors.length).toBeGreaterThanOrEqual(3);
  expect((errors[0] as Error).message).toBe('run 1');
});

test('close cancels everything; later schedules return cancelled tasks that never run', async () => {
  const s = scheduler();
  const ran: string[] = [];
  const one = s.schedule(5, () => ran.push('one'));
  const periodic = s.scheduleWithFixedDelay(5, 5, () => ran.push('periodic'));
  expect(s.isClosed()).toBe(false);
  s.close();
  expect(s.isClosed()).toBe(true);
  expect(one.cancelled).toBe(true);
  expect(periodic.cancelled).toBe(true);
  expect(s.size()).toBe(0);

  const after = s.schedule(0, () => ran.push('after'));
  const afterPeriodic = s.scheduleWithFixedDelay(0, 5, () => ran.push('afterPeriodic'));
  expect(after.cancelled).toBe(true);
  expect(afterPeriodic.cancelled).toBe(true);
  expect(s.size()).toBe(0);

  // Another scheduler's task, due after all of the above, proves that none of them ran.
  const witness = scheduler();
  let done = false;
  witness.schedule(40, () => (done = true));
  await waitUntil(() => done, 5000, 'witness');
  expect(ran).toEqual([]);
  s.close(); // closing twice is harmless
});

test('close from inside a task stops the remaining tasks', async () => {
  const s = scheduler();
  const ran: string[] = [];
  s.schedule(5, () => {
    ran.push('closer');
    s.close();
  });
  s.schedule(5, () => ran.push('same tick'));
  s.scheduleWithFixedDelay(5, 5, () => ran.push('periodic'));
  const witness = scheduler();
  let done = false;
  witness.schedule(40, () => (done = true));
  await waitUntil(() => done, 5000, 'witness');
  expect(ran).toEqual(['closer']);
});

test('many tasks with random delays run in non-decreasing due order', async () => {
  const s = scheduler();
  let seed = 12345;
  const rnd = (): number => ((seed = (seed * 1103515245 + 12345) >>> 0) % 1000) / 1000;
  const due: number[] = [];
  const ran: number[] = [];
  for (let i = 0; i < 300; i++) {
    const d = 10 * Math.floor(rnd() * 5); // 0..40 in steps of 10 ms: scheduling jitter cannot reorder them
    due.push(d);
    s.schedule(d, () => ran.push(i));
  }
  await waitUntil(() => ran.length === 300, 5000, '300 tasks');
  // By delay; equal delays in scheduling order.
  const expected = due.map((d, i) => [d, i] as const).sort((a, b) => a[0] - b[0] || a[1] - b[1]).map(([, i]) => i);
  expect(ran).toEqual(expected);
});

test('a delay beyond 2^31-1 ms runs when due, and Node is never asked for a timer it would cut to 1 ms', () => {
  jestApi.useFakeTimers();
  const fakeSetTimeout = globalThis.setTimeout;
  const delays: number[] = [];
  globalThis.setTimeout = ((fn: () => void, ms?: number) => {
    delays.push(ms ?? 0);
    return fakeSetTimeout(fn, ms);
  }) as typeof setTimeout;
  try {
    const s = scheduler();
    const long = 2 ** 31 + 5000; // about 24.8 days and 5 s
    let ran = 0;
    s.schedule(long, () => ran++);
    let periodic = 0;
    s.scheduleWithFixedDelay(long, long, () => periodic++);
    jestApi.advanceTimersByTime(2 ** 31 - 1);
    expect(ran).toBe(0); // the first (clamped) Node timer fired; the task is not due yet
    jestApi.advanceTimersByTime(4000);
    expect(ran).toBe(0);
    jestApi.advanceTimersByTime(2000);
    expect(ran).toBe(1);
    expect(periodic).toBe(1);
    jestApi.advanceTimersByTime(long);
    expect(periodic).toBe(2);
    expect(delays.length).toBeGreaterThan(0);
    expect(Math.max(...delays)).toBeLessThanOrEqual(2 ** 31 - 1);
  } finally {
    globalThis.setTimeout = fakeSetTimeout;
    for (const s of schedulers.splice(0)) s.close();
    jestApi.useRealTimers();
  }
});

test('a NaN delay is refused', () => {
  expect(() => scheduler().schedule(Number.NaN, () => undefined)).toThrow(RangeError);
});

test('cancelled tasks do not pile up: past half of the heap they are dropped, and the live ones still run in order', async () => {
  const s = scheduler();
  // Many calls with a long timeout that all complete early (the dispatchers' requests).
  const dead = Array.from({ length: 10_000 }, () => s.schedule(60_000, () => undefined));
  const ran: number[] = [];
  s.schedule(20, () => ran.push(2));
  s.schedule(10, () => ran.push(1));
  for (const t of dead) t.cancel();
  expect(s.size()).toBeLessThan(2 * 1024);
  // Cancelling twice, or a task that already ran, counts nothing more.
  for (const t of dead) t.cancel();
  await waitUntil(() => ran.length === 2, 5000, 'the live tasks');
  expect(ran).toEqual([1, 2]);
  const once = s.schedule(1, () => ran.push(3));
  await waitUntil(() => ran.length === 3, 5000, 'a task after the compaction');
  once.cancel();
  expect(s.size()).toBeLessThan(2 * 1024);
});

test('once every task is cancelled no Node timer stays armed (a stopped stack must not hold the process until a dead task was due)', () => {
  const s = scheduler();
  const timers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
  const before = timers();
  const periodic = s.scheduleWithFixedDelay(60_000, 60_000, () => undefined);
  const once = s.schedule(90_000, () => undefined);
  expect(timers()).toBe(before + 1);
  once.cancel();
  expect(timers()).toBe(before + 1); // the periodic task is still due
  periodic.cancel();
  expect(timers()).toBe(before);
  expect(s.size()).toBe(0);
  // The scheduler still works afterwards.
  const again = s.schedule(60_000, () => undefined);
  expect(timers()).toBe(before + 1);
  again.cancel();
  expect(timers()).toBe(before);
});
