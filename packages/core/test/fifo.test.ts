import { Fifo } from '@tsgroups/core';

describe('Fifo', () => {
  test('hands items out oldest first, and peeks without taking', () => {
    const q = new Fifo<number>();
    expect(q.isEmpty()).toBe(true);
    expect(q.shift()).toBeUndefined();
    q.push(1);
    q.push(2);
    expect(q.peek()).toBe(1);
    expect(q.length).toBe(2);
    expect(q.shift()).toBe(1);
    q.push(3);
    expect([q.shift(), q.shift(), q.shift()]).toEqual([2, 3, undefined]);
    expect(q.isEmpty()).toBe(true);
  });

  test('keeps order across compactions, with a long queue that is both fed and drained', () => {
    const q = new Fifo<number>();
    let next = 0;
    let expected = 0;
    for (let round = 0; round < 50; round++) {
      for (let i = 0; i < 3000; i++) q.push(next++);
      for (let i = 0; i < 2500; i++) expect(q.shift()).toBe(expected++);
      expect(q.length).toBe(next - expected);
    }
    const rest = q.takeAll();
    expect(rest).toHaveLength(next - expected);
    expect(rest[0]).toBe(expected);
    expect(rest[rest.length - 1]).toBe(next - 1);
    expect(q.isEmpty()).toBe(true);
  });

  test('clear and takeAll empty the queue', () => {
    const q = new Fifo<string>();
    q.push('a');
    q.push('b');
    q.shift();
    expect(q.takeAll()).toEqual(['b']);
    q.push('c');
    q.clear();
    expect(q.length).toBe(0);
    expect(q.peek()).toBeUndefined();
  });
});
