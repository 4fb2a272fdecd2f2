import type { Address } from './address.js';
import type { Message } from './message.js';

/**
 * Messages from one sender to one destination that arrived together (one datagram) and travel
 * up the stack as one unit. Protocols consume messages in place with {@link remove} or
 * {@link removeIf} rather than splitting the batch into single calls.
 */
export class MessageBatch implements Iterable<Message> {
  /** null: the batch was multicast to every member. */
  dest: Address | null;
  sender: Address;
  multicast: boolean;
  private msgs: (Message | null)[];
  private count: number;

  constructor(sender: Address, dest: Address | null, multicast: boolean, messages: Message[] = []) {
    this.sender = sender;
    this.dest = dest;
    this.multicast = multicast;
    this.msgs = messages;
    this.count = messages.length;
  }

  add(msg: Message): this {
    this.msgs.push(msg);
    this.count++;
    return this;
  }
  size(): number {
    return this.count;
  }
  isEmpty(): boolean {
    return this.count === 0;
  }
  /**
   * False if no message in the batch has a header of `protocolId` (see
   * {@link Message.mayHaveHeader}): a protocol looking for its own messages in a batch skips
   * the per-message pass when none can be there, as nearly always.
   */
  mayHaveHeader(protocolId: number): boolean {
    const m = this.msgs;
    for (let i = 0; i < m.length; i++) {
      const msg = m[i];
      if (msg != null && msg.mayHaveHeader(protocolId)) return true;
    }
    return false;
  }
  /** The payload bytes of the batch's messages, those with any of the flags `skipFlags` left out. */
  payloadBytes(skipFlags = 0): number {
    const m = this.msgs;
    let n = 0;
    for (let i = 0; i < m.length; i++) {
      const msg = m[i];
      if (msg != null && (msg.flags & skipFlags) === 0) n += msg.getLength();
    }
    return n;
  }
  /** Removes every message for which `pred` returns true; returns how many were removed. */
  removeIf(pred: (msg: Message) => boolean): number {
    let removed = 0;
    const m = this.msgs;
    for (let i = 0; i < m.length; i++) {
      const msg = m[i];
      if (msg != null && pred(msg)) {
        m[i] = null;
        removed++;
      }
    }
    this.count -= removed;
    return removed;
  }
  /** Removes `msg` (by identity). */
  remove(msg: Message): boolean {
    const i = this.msgs.indexOf(msg);
    if (i < 0) return false;
    this.msgs[i] = null;
    this.count--;
    return true;
  }
  /**
   * Replaces each message by what `fn` returns for it, in place and in order: the same message
   * keeps it, another message takes its position, null takes it out. Protocols that turn some
   * messages into others (FRAG2 reassembling, NAKACK2 ordering) write their per-message rule
   * once and use it for `up(msg)` and, through this, for the batch.
   */
  replaceEach(fn: (msg: Message) => Message | null): void {
    const m = this.msgs;
    let removed = 0;
    for (let i = 0; i < m.length; i++) {
      const msg = m[i];
      if (msg == null) continue;
      const out = fn(msg);
      if (out !== msg) m[i] = out;
      if (out === null) removed++;
    }
    this.count -= removed;
  }

  /** Replaces `oldMsg` by `newMsg` at the same position. */
  replace(oldMsg: Message, newMsg: Message): boolean {
    const i = this.msgs.indexOf(oldMsg);
    if (i < 0) return false;
    this.msgs[i] = newMsg;
    return true;
  }
  /**
   * Takes every message out of the batch, in order, and hands each to `fn`; the batch is empty
   * afterwards (also when `fn` adds nothing back). Messages that `fn` adds meanwhile are not visited.
   */
  drain(fn: (msg: Message) => void): void {
    const m = this.msgs;
    this.msgs = [];
    this.count = 0;
    for (let i = 0; i < m.length; i++) {
      const msg = m[i];
      if (msg != null) fn(msg);
    }
  }
  clear(): void {
    this.msgs = [];
    this.count = 0;
  }
  forEach(fn: (msg: Message) => void): void {
    const m = this.msgs;
    for (let i = 0; i < m.length; i++) {
      const msg = m[i];
      if (msg != null) fn(msg);
    }
  }
  *[Symbol.iterator](): Iterator<Message> {
    for (const msg of this.msgs) if (msg != null) yield msg;
  }
  toArray(): Message[] {
    const out: Message[] = [];
    this.forEach((m) => out.push(m));
    return out;
  }
  toString(): string {
    return `batch from ${this.sender} to ${this.dest ?? '<all>'}: ${this.count} msgs`;
  }
}
