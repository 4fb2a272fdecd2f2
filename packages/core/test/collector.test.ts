import { AbortError, Address, Collector, TimeScheduler, TimeoutError } from '@tsgroups/core';

const timers: TimeScheduler[] = [];
function timer(): TimeScheduler {
  const t = new TimeScheduler();
  timers.push(t);
  return t;
}
afterEach(() => {
  for (const t of timers.splice(0)) t.close();
});

const [a, b, c, d] = [Address.random(), Address.random(), Address.random(), Address.random()];

describe('Collector', () => {
  test('resolves once every member answered, with each value', async () => {
    const col = new Collector<number>([a, b, c], { timer: timer(), timeout: 5000 });
    expect(col.add(a, 1)).toBe(true);
    expect(col.add(b, 2)).toBe(true);
    expect(col.isDone()).toBe(false);
    expect(col.missing()).toEqual([c]);
    col.addError(c, new Error('remote failure'));
    const rsps = await col.done;
    expect(rsps.get(a)).toMatchObject({ value: 1, received: true, suspected: false });
    expect(rsps.get(b)!.value).toBe(2);
    expect(rsps.get(c)!.error).toBeInstanceOf(Error);
    expect(rsps.get(c)!.received).toBe(true);
  });

  test('ignores duplicates, strangers and answers after the end', async () => {
    const col = new Collector<string>([a], { timer: timer() });
    expect(col.add(d, 'stranger')).toBe(false);
    expect(col.add(a, 'first')).toBe(true);
    expect(col.add(a, 'again')).toBe(false);
    const rsps = await col.done;
    expect(rsps.get(a)!.value).toBe('first');
    expect(rsps.has(d)).toBe(false);
  });

  test('a member that leaves is not waited for, and is marked suspected', async () => {
    const col = new Collector<number>([a, b, c], { timer: timer(), timeout: 5000 });
    col.add(a, 1);
    col.memberLeft(b);
    expect(col.isDone()).toBe(false);
    col.retainMembers([a, b]); // c is not in the new view
    const rsps = await col.done;
    expect(rsps.get(b)).toMatchObject({ suspected: true, received: false });
    expect(rsps.get(c)).toMatchObject({ suspected: true, received: false });
    expect(col.memberLeft(a)).toBe(false); // already answered
  });

  test('discard: a member whose answer is refused is no longer awaited, and stays neither received nor suspected', async () => {
    const col = new Collector<number>([a, b], { timer: timer(), timeout: 5000 });
    expect(col.discard(a)).toBe(true);
    expect(col.discard(a)).toBe(false);
    expect(col.add(a, 1)).toBe(false);
    expect(col.memberLeft(a)).toBe(false);
    col.retainMembers([b]);
    expect(col.numAwaited()).toBe(1);
    expect(col.missing()).toEqual([b]);
    col.add(b, 2);
    const rsps = await col.done;
    expect(rsps.get(a)).toMatchObject({ received: false, suspected: false, value: undefined });
    expect(rsps.get(b)).toMatchObject({ received: true, value: 2 });
  });

  test('an empty set of members resolves at once', async () => {
    const col = new Collector([], { timer: timer(), timeout: 10 });
    expect(col.isDone()).toBe(true);
    expect((await col.done).size).toBe(0);
  });

  test('doneWhen ends the wait early (GET_FIRST, majority)', async () => {
    const first = new Collector<number>([a, b, c], { timer: timer(), doneWhen: (x) => x.numReceived() >= 1 });
    first.add(b, 7);
    expect((await first.done).get(b)!.value).toBe(7);
    const majority = new Collector<number>([a, b, c], { timer: timer(), doneWhen: (x) => x.numReceived() >= 2 });
    majority.add(a, 1);
    expect(majority.isDone()).toBe(false);
    majority.add(c, 3);
    expect(majority.isDone()).toBe(true);
    expect((await majority.done).get(b)!.received).toBe(false);
  });

  test('times out with a TimeoutError naming the missing members, and releases its timer', async () => {
    const t = timer();
    const col = new Collector<number>([a, b], { timer: t, timeout: 20, what: 'view 3 acks' });
    col.add(a, 1);
    const err = await col.done.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TimeoutError);
    expect((err as TimeoutError).code).toBe('ERR_TIMEOUT');
    expect((err as Error).message).toContain('view 3 acks');
    expect((err as Error).message).toContain(String(b));
    expect(col.add(b, 2)).toBe(false);
  });

  test("onTimeout 'resolve' ends the wait with what it has", async () => {
    const col = new Collector<number>([a, b], { timer: timer(), timeout: 20, onTimeout: 'resolve' });
    col.add(a, 1);
    const rsps = await col.done;
    expect(rsps.get(a)!.received).toBe(true);
    expect(rsps.get(b)!.received).toBe(false);
  });

  test('an abort rejects with AbortError (ERR_ABORTED) and cancels the timeout', async () => {
    const t = timer();
    const ac = new AbortController();
    const col = new Collector<number>([a], { timer: t, timeout: 60_000, signal: ac.signal });
    ac.abort(new Error('user gave up'));
    const err = await col.done.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AbortError);
    expect((err as AbortError).code).toBe('ERR_ABORTED');
    // The 60 s timeout was cancelled: nothing keeps the scheduler busy.
    t.close();
  });

  test('an already aborted signal rejects at once, without a timer', async () => {
    const t = timer();
    const col = new Collector<number>([a], { timer: t, timeout: 60_000, signal: AbortSignal.abort() });
    await expect(col.done).rejects.toMatchObject({ code: 'ERR_ABORTED' });
    expect(t.size()).toBe(0);
  });

  test('cancel rejects with the given error; complete resolves early', async () => {
    const x = new Collector<number>([a], { timer: timer() });
    x.cancel(new Error('closed'));
    await expect(x.done).rejects.toThrow('closed');
    const y = new Collector<number>([a, b], { timer: timer() });
    y.add(a, 1);
    y.complete();
    expect((await y.done).get(b)!.received).toBe(false);
  });
});
