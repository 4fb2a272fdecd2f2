import { TimeScheduler } from '@tsgroups/core';

const turn = () => new Promise<void>((r) => setImmediate(r));

describe('TimeScheduler end-of-turn tasks', () => {
  let t: TimeScheduler;
  beforeEach(() => {
    t = new TimeScheduler();
  });
  afterEach(() => t.close());

  test('a task requested many times in one turn runs once, after the turn', async () => {
    let runs = 0;
    const task = t.endOfTurnTask(() => runs++);
    task.request();
    task.request();
    task.request();
    expect(runs).toBe(0);
    expect(task.pending).toBe(true);
    await turn();
    expect(runs).toBe(1);
    expect(task.pending).toBe(false);
    task.request();
    await turn();
    expect(runs).toBe(2);
  });

  test('tasks run in the order requested; one requested while they run waits for the next turn', async () => {
    const order: string[] = [];
    const second = t.endOfTurnTask(() => order.push('second'));
    const first = t.endOfTurnTask(() => {
      order.push('first');
      first.request(); // again: next turn
    });
    first.request();
    second.request();
    await turn();
    expect(order).toEqual(['first', 'second']);
    await turn();
    expect(order).toEqual(['first', 'second', 'first']);
  });

  test('cancel withdraws a request; a later request still works', async () => {
    let runs = 0;
    const task = t.endOfTurnTask(() => runs++);
    task.request();
    task.cancel();
    await turn();
    expect(runs).toBe(0);
    task.request();
    await turn();
    expect(runs).toBe(1);
  });

  test('a failing task is reported and does not stop the others', async () => {
    const errors: unknown[] = [];
    const s = new TimeScheduler((e) => errors.push(e));
    let ran = false;
    s.runAtEndOfTurn(() => {
      throw new Error('boom');
    });
    s.runAtEndOfTurn(() => (ran = true));
    await turn();
    expect(errors).toHaveLength(1);
    expect(ran).toBe(true);
    s.close();
  });

  test('close cancels pending tasks, and later requests do nothing', async () => {
    let runs = 0;
    const task = t.endOfTurnTask(() => runs++);
    task.request();
    t.close();
    await turn();
    task.request();
    await turn();
    expect(runs).toBe(0);
    expect(task.pending).toBe(false);
  });

  test('runEndOfTurnTasks lets a test drive the turn synchronously', () => {
    let runs = 0;
    t.endOfTurnTask(() => runs++).request();
    t.runEndOfTurnTasks();
    expect(runs).toBe(1);
  });
});
