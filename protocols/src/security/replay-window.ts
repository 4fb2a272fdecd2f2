import type { Address } from '@tsgroups/core';
import { IV_BYTES } from './sym-encrypt-header.js';

/** Seals per sender the window remembers: a seal older than this many behind the newest is refused. */
export const REPLAY_WINDOW = 1024;
const WORDS = REPLAY_WINDOW / 32;
/** Senders remembered at most; beyond, the longest-known one outside the view is forgotten first. */
const MAX_SENDERS = 4096;

/** What one sender's nonces have shown: the newest counter and which of the 1024 before it came. */
interface SenderWindow {
  readonly sender: Address;
  /** The nonce's first 6 bytes: fixed for a sender (random at its start) but for a carry. */
  epoch: number;
  /** The newest counter (the nonce's last 6 bytes) accepted. */
  highest: number;
  /** Bit `c % REPLAY_WINDOW` set: counter c (within the window) was accepted. */
  readonly seen: Uint32Array;
  /** When the sender was first seen outside the view (0: in the view, or not checked yet). */
  outsideSince: number;
}

/**
 * Replay protection for sealed messages: each member's nonces count up from a random start
 * (see NonceSequence), one counter across key versions, so a receiver that remembers, per
 * sender, the newest counter and a sliding bitmap of the {@link REPLAY_WINDOW} counters before it
 * refuses a datagram it has seen (a replay) or one older than the window, and still takes
 * seals that arrive out of order or after a loss. Checked only after the seal authenticated, so
 * a forged nonce cannot move a window. Memory is bounded: senders outside the view are forgotten
 * after `expiryMs`, and at most {@link MAX_SENDERS} are kept.
 */
export class ReplayWindows {
  private readonly bySender = new Map<string, SenderWindow>();

  constructor(private readonly expiryMs = 60_000) {}

  /** Whether the seal with nonce `iv` from `sender` is new (and marks it seen); false: a replay or too old. */
  accept(sender: Address, iv: Uint8Array): boolean {
    const epoch = readUint48(iv, 0);
    const counter = readUint48(iv, IV_BYTES - 6);
    const w = this.bySender.get(sender.key);
    if (w === undefined) {
      this.add(sender, epoch, counter);
      return true;
    }
    if (epoch !== w.epoch) {
      // A counter crossing 2^48 carries into the epoch once; any other epoch is not this sender's sequence.
      if (epoch !== w.epoch + 1 || counter >= REPLAY_WINDOW) return false;
      w.epoch = epoch;
      w.seen.fill(0);
      w.highest = counter;
      mark(w.seen, counter);
      return true;
    }
    const highest = w.highest;
    if (counter > highest) {
      const ahead = counter - highest;
      if (ahead >= REPLAY_WINDOW) w.seen.fill(0);
      else for (let c = highest + 1; c < counter; c++) clear(w.seen, c);
      w.highest = counter;
      mark(w.seen, counter);
      return true;
    }
    if (highest - counter >= REPLAY_WINDOW || isSet(w.seen, counter)) return false;
    mark(w.seen, counter);
    return true;
  }

  /** At a view change: senders outside `members` for longer than the expiry are forgotten. */
  retain(members: readonly Address[], now: number): void {
    const inView = new Set<string>();
    for (const m of members) inView.add(m.key);
    for (const [key, w] of this.bySender) {
      if (inView.has(key)) w.outsideSince = 0;
      else if (w.outsideSince === 0) w.outsideSince = now;
      else if (now - w.outsideSince >= this.expiryMs) this.bySender.delete(key);
    }
  }

  /** Senders remembered. */
  size(): number {
    return this.bySender.size;
  }

  clear(): void {
    this.bySender.clear();
  }

  private add(sender: Address, epoch: number, counter: number): void {
    if (this.bySender.size >= MAX_SENDERS) {
      // Forget the first-added sender known to be outside the view, else the first-added one.
      let victim: string | undefined;
      for (const [key, w] of this.bySender) {
        if (w.outsideSince !== 0) {
          victim = key;
          break;
        }
      }
      this.bySender.delete(victim ?? this.bySender.keys().next().value!);
    }
    const w: SenderWindow = { sender, epoch, highest: counter, seen: new Uint32Array(WORDS), outsideSince: 0 };
    mark(w.seen, counter);
    this.bySender.set(sender.key, w);
  }
}

function readUint48(b: Uint8Array, at: number): number {
  return (b[at]! * 2 ** 16 + (b[at + 1]! << 8) + b[at + 2]!) * 2 ** 24 + b[at + 3]! * 2 ** 16 + (b[at + 4]! << 8) + b[at + 5]!;
}

// The window is indexed by counter mod REPLAY_WINDOW (a power of two: the low bits of the counter).
function bit(counter: number): number {
  return counter % REPLAY_WINDOW;
}
function mark(seen: Uint32Array, counter: number): void {
  const b = bit(counter);
  seen[b >>> 5]! |= 1 << (b & 31);
}
function clear(seen: Uint32Array, counter: number): void {
  const b = bit(counter);
  seen[b >>> 5]! &= ~(1 << (b & 31));
}
function isSet(seen: Uint32Array, counter: number): boolean {
  const b = bit(counter);
  return (seen[b >>> 5]! & (1 << (b & 31))) !== 0;
}
