import {
  AbortError,
  type Address,
  type AnyEvent,
  type DownResult,
  Fifo,
  EventType,
  Flag,
  Message,
  type MessageBatch,
  Protocol,
  type PropertyDecls,
  type ScheduledTask,
  type View,
} from '@tsgroups/core';
import { tsgroups } from '../generated/headers.js';
import { fcHeaderCodec } from '../header-codecs.js';

const FcHeader = tsgroups.protocols.FcHeader;
const T = FcHeader.Type;
type Header = tsgroups.protocols.FcHeader.$Properties;

/** A message waiting for credits, with the settlers of the Promise its `down()` returned. */
interface Waiting {
  msg: Message;
  len: number;
  resolve: (r: DownResult) => void;
  reject: (err: unknown) => void;
}

/**
 * Messages waiting for credits, oldest first (one per MFC, one per destination in UFC). Only the
 * slow path allocates: a Promise and an entry per queued message.
 */
export class CreditQueue extends Fifo<Waiting> {
  /** When the current blocking period began (0: not blocked). */
  blockedSince = 0;
  /** When the head last moved or credits were last asked for: the base of the next credit request. */
  lastProgress = 0;

  /** @param dest the destination whose credits this queue waits for (null: MFC, every member) */
  constructor(readonly dest: Address | null) {
    super();
  }

  /** Length of the message at the head (the credits it needs); 0 if empty. */
  headLength(): number {
    return this.peek()?.len ?? 0;
  }
  add(msg: Message, len: number): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.push({ msg, len, resolve, reject });
    });
  }
}

/**
 * The credit logic shared by {@link MFC} and {@link UFC}, in the spirit of JGroups'
 * FlowControl.
 *
 * **Sender**: holds credits for each receiver, initially `maxCredits` bytes. A message of length
 * L (its payload) consumes L; while the receiver(s) it goes to have fewer than L credits left,
 * the message waits in a FIFO queue and `down()` returns a Promise that resolves once the
 * message went down (so the sender's `Channel.send()` waits: that is the backpressure). While
 * anything waits, later messages wait behind it, keeping their order. With enough credits
 * `down()` returns what the protocol below returns and allocates nothing. Messages flagged
 * `NO_FC` and messages to oneself never wait (OOB messages do, as in JGroups).
 *
 * **Receiver**: counts the bytes it delivered from each sender (data messages carry no header:
 * MFC counts multicasts, UFC unicasts, neither counts `NO_FC` ones) and, once they reach
 * `maxCredits * minThreshold`, sends the sender a REPLENISH with that many credits.
 *
 * **Lost credits**: a sender blocked for `maxBlockTime` without progress sends a CREDIT_REQUEST
 * to the receivers it waits for, carrying what it believes they owe (`maxCredits` minus its
 * credits). The receiver answers with a REPLENISH of what it received since its last one, or of
 * what it owes if that is more: when the request arrives after the data sent before it (FIFO
 * channels), everything owed beyond that was delivered already and its REPLENISH was lost. A
 * sender never holds more than `maxCredits` for a receiver.
 *
 * Credit messages are unicast, OOB and `NO_FC`. Members come and go with the view: a new member
 * starts with `maxCredits`, a member that left no longer holds anyone back.
 *
 * **A slow application**: while the channel reports that a `messages()` consumer is behind
 * (CONSUMER_BEHIND), the receiver withholds every REPLENISH, and the answers to credit
 * requests, so each sender can send it at most its remaining credits (`maxCredits` at most)
 * more; at CONSUMER_CAUGHT_UP it sends what it withheld.
 */
export abstract class FlowControl extends Protocol {
  static override readonly headerCodec = fcHeaderCodec;
  static override readonly provides: readonly string[] = ['flow-control'];
  static override readonly properties: PropertyDecls = {
    maxCredits: { type: 'size', min: 1, description: 'Bytes a sender may send to a receiver before the receiver credits them back' },
    minThreshold: {
      type: 'number',
      min: 0,
      max: 1,
      description: 'A receiver credits a sender back once it has received this fraction of max_credits from it',
    },
    maxBlockTime: {
      type: 'duration',
      min: 1,
      description: 'How long a blocked sender waits for credits before it asks the receivers it waits for',
    },
  };

  maxCredits = 4_000_000;
  minThreshold = 0.4;
  maxBlockTime = 500;

  readonly stats = {
    /** Blocking periods: times a queue went from empty to non-empty. */
    blockings: 0,
    /** Total duration of the blocking periods that ended. */
    totalTimeBlockedMs: 0,
    creditRequestsSent: 0,
    creditRequestsReceived: 0,
    replenishmentsSent: 0,
    replenishmentsReceived: 0,
    /** Bytes waiting for credits now. */
    queuedBytes: 0,
    /** Messages waiting for credits now. */
    queuedMessages: 0,
    /** Times the local application fell behind (CONSUMER_BEHIND) and credits were withheld. */
    consumerBehindPeriods: 0,
  };

  /** Receiver side: bytes delivered from each sender since the last REPLENISH to it. */
  private readonly received = new Map<Address, number>();
  private replenishThreshold = 1;
  private running = false;
  private view: View | null = null;
  private blockTask: ScheduledTask | null = null;
  /** While true (CONSUMER_BEHIND ... CONSUMER_CAUGHT_UP), no credits go back to senders. */
  private consumerBehind = false;
  /** Credit requests that came while the consumer was behind: sender -> what it said it was owed. */
  private readonly withheldRequests = new Map<Address, number>();
  // Batch scan state (the scan callback is bound once; see upBatch).
  private scanCounts = false;
  private scanBytes = 0;

  /** MFC: receivers count multicasts; UFC: unicasts. */
  protected abstract readonly countsMulticasts: boolean;

  /** Tries to take credits for a message of `len` bytes to `dest` (null: all members). */
  protected abstract tryConsume(dest: Address | null, len: number): boolean;
  /** Adds credits from `sender` and sends what they let go. */
  protected abstract addCredits(sender: Address, credits: number): void;
  /** The view's members other than this one: add new ones with full credits, drop the others. */
  protected abstract setMembers(members: readonly Address[]): void;
  /** Every queue that holds messages (or may). */
  protected abstract forEachQueue(fn: (q: CreditQueue) => void): void;
  /** The receivers `q` waits for, with what each owes (for credit requests). */
  protected abstract blockers(q: CreditQueue, fn: (member: Address, owed: number) => void): void;
  /** Forgets every credit (at stop). */
  protected abstract resetCredits(): void;
  /**
   * Bytes sent to `member` that it has not credited back yet (`maxCredits` minus the credits
   * held for it); without a member, the largest over all receivers.
   */
  abstract inFlightBytes(member?: Address): number;

  /** The credits a message of `len` bytes needs: its length, but never more than `maxCredits`. */
  protected needed(len: number): number {
    return len < this.maxCredits ? len : this.maxCredits;
  }

  override start(): void {
    this.running = true;
    this.replenishThreshold = Math.max(1, Math.floor(this.maxCredits * this.minThreshold));
  }

  override stop(): void {
    this.running = false;
    this.blockTask?.cancel();
    this.blockTask = null;
    const err = new AbortError(`send: the channel disconnected while the message waited for ${this.name} credits`);
    this.forEachQueue((q) => {
      this.endBlocking(q);
      for (const w of q.takeAll()) w.reject(err);
    });
    this.stats.queuedBytes = 0;
    this.stats.queuedMessages = 0;
    this.received.clear();
    this.consumerBehind = false;
    this.withheldRequests.clear();
    this.view = null;
    this.resetCredits();
  }

  override downEvent(evt: AnyEvent): unknown {
    switch (evt.type) {
      case EventType.CONSUMER_BEHIND:
        if (!this.consumerBehind) this.stats.consumerBehindPeriods++;
        this.consumerBehind = true;
        this.downProt.downEvent(evt);
        return true;
      case EventType.CONSUMER_CAUGHT_UP:
        this.consumerBehind = false;
        this.sendWithheldCredits();
        return this.downProt.downEvent(evt);
    }
    return super.downEvent(evt);
  }

  /** True while the local application is behind and credits are withheld. */
  isWithholdingCredits(): boolean {
    return this.consumerBehind;
  }

  override getStats(): Record<string, number> {
    return { ...this.stats };
  }

  /** True while any message waits for credits. */
  isBlocked(): boolean {
    return this.stats.queuedMessages > 0;
  }

  // ---- views (GMS passes VIEW_CHANGE down to protocols below it and up to those above) ----
  // GMS passes the view down to protocols below it and up to those above: the base class
  // calls this hook either way.
  protected override viewChanged(view: View): void {
    if (view === this.view) return;
    this.view = view;
    const self = this.localAddress;
    const others = view.members.filter((m) => m !== self);
    for (const s of this.received.keys()) if (!view.containsMember(s)) this.received.delete(s);
    for (const s of this.withheldRequests.keys()) if (!view.containsMember(s)) this.withheldRequests.delete(s);
    this.setMembers(others);
  }

  // ---- sender side helpers ----
  /** Queues `msg` behind the others in `q`; the Promise resolves once it went down. */
  protected enqueue(q: CreditQueue, msg: Message, len: number): Promise<void> {
    if (q.isEmpty()) {
      this.stats.blockings++;
      q.blockedSince = q.lastProgress = performance.now();
      this.armBlockTimer();
    }
    this.stats.queuedBytes += len;
    this.stats.queuedMessages++;
    return q.add(msg, len);
  }

  /** Sends from the head of `q` while credits allow (`force`: regardless of credits). */
  protected drain(q: CreditQueue, force = false): void {
    let moved = false;
    while (!q.isEmpty()) {
      if (!force && !this.tryConsume(q.dest, q.headLength())) break;
      const w = q.shift()!; // not empty: checked above
      moved = true;
      this.stats.queuedBytes -= w.len;
      this.stats.queuedMessages--;
      let r: DownResult;
      try {
        r = this.downProt.down(w.msg);
      } catch (err) {
        w.reject(err);
        continue;
      }
      w.resolve(r);
    }
    if (q.isEmpty()) this.endBlocking(q);
    else if (moved) q.lastProgress = performance.now();
  }

  private endBlocking(q: CreditQueue): void {
    if (q.blockedSince === 0) return;
    this.stats.totalTimeBlockedMs += performance.now() - q.blockedSince;
    q.blockedSince = 0;
  }

  private armBlockTimer(delay = this.maxBlockTime): void {
    if (this.blockTask !== null || !this.running) return;
    this.blockTask = this.timer.schedule(delay, this.onBlockTimer);
  }

  private readonly onBlockTimer = (): void => {
    this.blockTask = null;
    if (!this.running) return;
    const now = performance.now();
    let next = Infinity;
    this.forEachQueue((q) => {
      if (q.isEmpty()) return;
      if (now - q.lastProgress >= this.maxBlockTime - 1) {
        q.lastProgress = now;
        this.blockers(q, (member, owed) => {
          this.stats.creditRequestsSent++;
          this.sendCreditMessage(member, T.CREDIT_REQUEST, owed);
        });
      }
      next = Math.min(next, q.lastProgress + this.maxBlockTime - now);
    });
    if (next !== Infinity) this.armBlockTimer(Math.max(1, next));
  };

  // ---- receiver side ----
  override up(msg: Message): void {
    const h = msg.getHeader<Header>(this.id);
    if (h !== undefined) {
      this.handleCreditMessage(msg, h);
      return;
    }
    const src = msg.src;
    const counts =
      (msg.flags & Flag.NO_FC) === 0 && (msg.dest === null) === this.countsMulticasts && src !== null && src !== this.localAddress;
    try {
      this.upProt.up(msg);
    } finally {
      if (counts) this.delivered(src, msg.getLength());
    }
  }

  override upBatch(batch: MessageBatch): void {
    const counts = batch.multicast === this.countsMulticasts && batch.sender !== this.localAddress;
    let bytes = 0;
    if (batch.mayHaveHeader(this.id)) {
      this.scanCounts = counts;
      this.scanBytes = 0;
      batch.removeIf(this.scan);
      bytes = this.scanBytes;
    } else if (counts) {
      // No credit message in the batch (nearly always): only the bytes to count.
      bytes = batch.payloadBytes(Flag.NO_FC);
    }
    try {
      if (!batch.isEmpty()) this.upProt.upBatch(batch);
    } finally {
      if (bytes > 0) this.delivered(batch.sender, bytes);
    }
  }

  // Takes credit messages out of a batch and sums the bytes that count (bound once: no closure per batch).
  private readonly scan = (msg: Message): boolean => {
    const h = msg.getHeader<Header>(this.id);
    if (h !== undefined) {
      this.handleCreditMessage(msg, h);
      return true;
    }
    if (this.scanCounts && (msg.flags & Flag.NO_FC) === 0) this.scanBytes += msg.getLength();
    return false;
  };

  /** `bytes` from `sender` were delivered: credit them back once they reach the threshold. */
  private delivered(sender: Address, bytes: number): void {
    if (!this.running) return;
    const total = (this.received.get(sender) ?? 0) + bytes;
    if (total >= this.replenishThreshold && !this.consumerBehind) {
      this.received.set(sender, 0);
      this.stats.replenishmentsSent++;
      this.sendCreditMessage(sender, T.REPLENISH, total);
    } else {
      this.received.set(sender, total);
    }
  }

  private handleCreditMessage(msg: Message, h: Header): void {
    const src = msg.src;
    if (src === null || !this.running) return;
    const credits = Number(h.credits ?? 0);
    switch (h.type) {
      case T.REPLENISH:
        this.stats.replenishmentsReceived++;
        if (credits > 0) this.addCredits(src, credits);
        break;
      case T.CREDIT_REQUEST: {
        this.stats.creditRequestsReceived++;
        if (this.consumerBehind) {
          // Answered when the application catches up (sendWithheldCredits).
          this.withheldRequests.set(src, Math.max(credits, this.withheldRequests.get(src) ?? 0));
          break;
        }
        // What we received since the last REPLENISH, or what the sender says we owe if that is
        // more (earlier REPLENISHes were lost); never more than maxCredits.
        const since = this.received.get(src) ?? 0;
        const grant = Math.min(Math.max(since, credits), this.maxCredits);
        this.received.set(src, 0);
        this.stats.replenishmentsSent++;
        this.sendCreditMessage(src, T.REPLENISH, grant);
        break;
      }
    }
  }

  /** The application caught up: answer the withheld credit requests, send the withheld REPLENISHes. */
  private sendWithheldCredits(): void {
    if (!this.running) return;
    for (const [sender, owed] of this.withheldRequests) {
      const since = this.received.get(sender) ?? 0;
      this.received.set(sender, 0);
      this.stats.replenishmentsSent++;
      this.sendCreditMessage(sender, T.REPLENISH, Math.min(Math.max(since, owed), this.maxCredits));
    }
    this.withheldRequests.clear();
    for (const [sender, total] of this.received) {
      if (total < this.replenishThreshold) continue;
      this.received.set(sender, 0);
      this.stats.replenishmentsSent++;
      this.sendCreditMessage(sender, T.REPLENISH, total);
    }
  }

  private sendCreditMessage(dest: Address, type: number, credits: number): void {
    const msg = new Message(dest).setFlag(Flag.OOB | Flag.NO_FC).putHeader(this.id, { type, credits });
    try {
      void this.downProt.down(msg);
    } catch (err) {
      this.log.warn(`sending ${type === T.REPLENISH ? 'REPLENISH' : 'CREDIT_REQUEST'} to ${dest} failed`, err);
    }
  }
}
