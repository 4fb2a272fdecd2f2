/**
 * A first-in, first-out queue with O(1) `shift`: an array read from a moving head, compacted
 * once the consumed part is at least half of it (`Array.prototype.shift` moves every element).
 * Holds the messages of a `messages()` iterator and the sends waiting for flow-control credits.
 */
export class Fifo<T> {
  private items: (T | undefined)[] = [];
  private head = 0;

  /** How many items are queued. */
  get length(): number {
    return this.items.length - this.head;
  }

  isEmpty(): boolean {
    return this.head === this.items.length;
  }

  push(item: T): void {
    this.items.push(item);
  }

  /** The oldest item, left in the queue; undefined if it is empty. */
  peek(): T | undefined {
    return this.head < this.items.length ? this.items[this.head] : undefined;
  }

  /** Takes the oldest item out; undefined if the queue is empty. */
  shift(): T | undefined {
    if (this.head === this.items.length) return undefined;
    const item = this.items[this.head];
    this.items[this.head++] = undefined; // no reference kept to what was taken
    if (this.head === this.items.length) {
      this.items = [];
      this.head = 0;
    } else if (this.head >= 1024 && this.head * 2 >= this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return item;
  }

  /** Empties the queue and returns what it held, oldest first. */
  takeAll(): T[] {
    const out = this.items.slice(this.head) as T[];
    this.clear();
    return out;
  }

  clear(): void {
    this.items = [];
    this.head = 0;
  }
}
