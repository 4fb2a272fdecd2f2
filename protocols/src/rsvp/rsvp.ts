import {
  type Address,
  AbortError,
  type DownResult,
  Flag,
  Message,
  type MessageBatch,
  Protocol,
  type PropertyDecls,
  type ScheduledTask,
  TimeoutError,
  type View,
} from '@tsgroups/core';
import { tsgroups } from '../generated/headers.js';
import { ProtocolId } from '../ids.js';

const RsvpHeader = tsgroups.protocols.RsvpHeader;
const T = RsvpHeader.Type;
type Header = tsgroups.protocols.RsvpHeader.$Properties;

/** An RSVP message waiting for acknowledgements. */
interface Entry {
  readonly id: number;
  /** Members that have not acknowledged yet. */
  readonly waiting: Set<Address>;
  /** A copy of the message as it was before it went down: resends are copies of it. */
  readonly template: Message | null;
  readonly resolve: () => void;
  readonly reject: (err: unknown) => void;
  timeoutTask: ScheduledTask | null;
  resendTask: ScheduledTask | null;
}

/** Ids of RSVP messages recently delivered from one sender, oldest first. */
const MAX_RECENT_IDS = 1024;

/**
 * Sends that complete only once every receiver has the message, after JGroups' RSVP. A
 * message with {@link Flag.RSVP} gets an RsvpHeader (REQ, a per-sender id) and `send()`
 * resolves when every member of the view but the sender (or, for a unicast, the destination)
 * acknowledged it, or rejects with a TimeoutError (`ERR_TIMEOUT`) after `timeout`. A receiver
 * delivers the message first and then answers ACK, so when the send resolves every receiver
 * has delivered it.
 *
 * Members that have not acknowledged get the message again (by unicast) every
 * `resendInterval`; receivers deliver each (sender, id) once and acknowledge every copy.
 * Members that leave the view are no longer waited for. Messages without the flag pass
 * through untouched.
 */
export class RSVP extends Protocol {
  static override readonly protocolName = 'RSVP';
  static override readonly id = ProtocolId.RSVP;
  static override readonly headerCodec = RsvpHeader;
  static override readonly provides: readonly string[] = ['rsvp'];
  static override readonly properties: PropertyDecls = {
    timeout: { type: 'duration', min: 1, description: 'How long a send waits for all acknowledgements before it fails with ERR_TIMEOUT' },
    resendInterval: { type: 'duration', description: 'How often the message is sent again to members that have not acknowledged (0: never)' },
  };

  timeout = 10_000;
  resendInterval = 500;

  private seq = 0;
  private view: View | null = null;
  private readonly pending = new Map<number, Entry>();
  /** sender -> ids of its RSVP messages delivered here recently (insertion order = age). */
  private readonly delivered = new Map<Address, Set<number>>();
  // For upBatch: the REQs delivered with the batch, acknowledged once it went up.
  private acks: Message[] | null = null;

  readonly stats = {
    sent: 0,
    completed: 0,
    timedOut: 0,
    resent: 0,
    acksSent: 0,
    acksReceived: 0,
    duplicatesDropped: 0,
  };

  override stop(): void {
    const entries = [...this.pending.values()];
    this.pending.clear();
    for (const e of entries) {
      this.cancelTasks(e);
      e.reject(new AbortError(`RSVP message ${e.id}: the channel stopped before every member acknowledged it`));
    }
    this.delivered.clear();
    this.view = null;
  }

  override getStats(): Record<string, number> {
    return { ...this.stats, pending: this.pending.size };
  }

  /** The number of RSVP messages waiting for acknowledgements. */
  numPending(): number {
    return this.pending.size;
  }

  // ---- sending ----
  override down(msg: Message): DownResult {
    if ((msg.flags & Flag.RSVP) === 0) return this.downProt.down(msg);
    return this.sendRsvp(msg);
  }

  private sendRsvp(msg: Message): DownResult {
    const self = this.localAddress;
    const waiting = new Set<Address>();
    if (msg.dest === null) {
      for (const m of this.view?.members ?? []) if (m !== self) waiting.add(m);
    } else if (msg.dest !== self) {
      waiting.add(msg.dest);
    }
    const id = (this.seq = (this.seq + 1) >>> 0);
    msg.putHeader(ProtocolId.RSVP, { type: T.REQ, id } satisfies Header);
    this.stats.sent++;
    if (waiting.size === 0) return this.downProt.down(msg);

    let template: Message | null = null;
    if (this.resendInterval > 0) {
      template = msg.copy(false);
      if (template.src === null) template.src = self;
      // A resend goes by unicast; the receiver restores the multicast destination.
      if (msg.dest === null) template.putHeader(ProtocolId.RSVP, { type: T.REQ, id, multicast: true } satisfies Header);
    }
    let resolve!: () => void;
    let reject!: (err: unknown) => void;
    const acked = new Promise<void>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    const e: Entry = { id, waiting, template, resolve, reject, timeoutTask: null, resendTask: null };
    this.pending.set(id, e);
    e.timeoutTask = this.timer.schedule(this.timeout, () => this.onTimeout(e));
    if (template !== null) {
      e.resendTask = this.timer.scheduleWithFixedDelay(this.resendInterval, this.resendInterval, () => this.resend(e));
    }

    let res: DownResult;
    try {
      res = this.downProt.down(msg);
    } catch (err) {
      this.finish(e);
      throw err;
    }
    if (res === undefined) return acked;
    return res.then(
      () => acked,
      (err: unknown) => {
        // The message never went out: stop waiting for it (acked is left unsettled, unobserved).
        this.finish(e);
        throw err;
      },
    );
  }

  private resend(e: Entry): void {
    if (this.pending.get(e.id) !== e || e.template === null) return;
    for (const m of e.waiting) {
      const copy = e.template.copy(false).setDest(m);
      this.stats.resent++;
      this.sendQuietly(copy, `resending RSVP message ${e.id} to ${m}`);
    }
  }

  private onTimeout(e: Entry): void {
    if (this.pending.get(e.id) !== e) return;
    this.finish(e);
    this.stats.timedOut++;
    const missing = [...e.waiting].join(', ');
    e.reject(new TimeoutError(`RSVP message ${e.id}: no acknowledgement from ${missing} within ${this.timeout} ms`));
  }

  private onAck(from: Address, id: number): void {
    this.stats.acksReceived++;
    const e = this.pending.get(id);
    if (e !== undefined && e.waiting.delete(from) && e.waiting.size === 0) this.complete(e);
  }

  private complete(e: Entry): void {
    this.finish(e);
    this.stats.completed++;
    e.resolve();
  }

  /** Forgets an entry and cancels its timers (does not settle its Promise). */
  private finish(e: Entry): void {
    if (this.pending.get(e.id) === e) this.pending.delete(e.id);
    this.cancelTasks(e);
  }

  private cancelTasks(e: Entry): void {
    e.timeoutTask?.cancel();
    e.resendTask?.cancel();
    e.timeoutTask = e.resendTask = null;
  }

  // ---- receiving ----
  override up(msg: Message): void {
    const h = msg.getHeader<Header>(ProtocolId.RSVP);
    if (h === undefined) {
      this.upProt.up(msg);
      return;
    }
    if (h.type === T.ACK) {
      if (msg.src !== null) this.onAck(msg.src, h.id ?? 0);
      return;
    }
    if (h.type !== T.REQ) return;
    const ack = this.acceptRequest(msg, h);
    if (ack === false) return; // a duplicate: acknowledged, not delivered again
    this.upProt.up(msg);
    if (ack !== null) this.sendQuietly(ack, 'sending an RSVP ack');
  }

  override upBatch(batch: MessageBatch): void {
    batch.removeIf(this.takeOwn);
    const acks = this.acks;
    this.acks = null;
    if (!batch.isEmpty()) this.upProt.upBatch(batch);
    if (acks !== null) for (const a of acks) this.sendQuietly(a, 'sending an RSVP ack');
  }

  /** Takes ACKs and duplicate REQs out of a batch; new REQs stay in and are acked after it went up. */
  private readonly takeOwn = (msg: Message): boolean => {
    const h = msg.getHeader<Header>(ProtocolId.RSVP);
    if (h === undefined) return false;
    if (h.type === T.ACK) {
      if (msg.src !== null) this.onAck(msg.src, h.id ?? 0);
      return true;
    }
    if (h.type !== T.REQ) return true;
    const ack = this.acceptRequest(msg, h);
    if (ack === false) return true;
    if (ack !== null) (this.acks ??= []).push(ack);
    return false;
  };

  /**
   * For a REQ: false if it was delivered before (it is acknowledged now), else the ACK to send
   * once it has been delivered (null for one's own message).
   */
  private acceptRequest(msg: Message, h: Header): Message | false | null {
    const sender = msg.src;
    const self = this.localAddress;
    if (sender === null || sender === self) return null;
    const id = h.id ?? 0;
    const ack = new Message(sender).setFlag(Flag.OOB, Flag.NO_FC).putHeader(ProtocolId.RSVP, { type: T.ACK, id } satisfies Header);
    let ids = this.delivered.get(sender);
    if (ids === undefined) this.delivered.set(sender, (ids = new Set()));
    if (ids.has(id)) {
      this.stats.duplicatesDropped++;
      this.sendQuietly(ack, 'sending an RSVP ack');
      return false;
    }
    ids.add(id);
    if (ids.size > MAX_RECENT_IDS) {
      const [oldest] = ids;
      ids.delete(oldest!);
    }
    if (h.multicast && msg.dest !== null) msg.dest = null;
    return ack;
  }

  private sendQuietly(msg: Message, what: string): void {
    if (msg.getHeader<Header>(ProtocolId.RSVP)?.type === T.ACK) this.stats.acksSent++;
    try {
      const res = this.downProt.down(msg);
      if (res !== undefined) res.catch((err: unknown) => this.log.warn(`${this.localAddress}: ${what} failed`, err));
    } catch (err) {
      this.log.warn(`${this.localAddress}: ${what} failed`, err);
    }
  }

  // ---- membership ----
  // GMS passes the view down to protocols below it and up to those above: the base class
  // calls this hook either way.
  protected override viewChanged(view: View): void {
    const old = this.view;
    this.view = view;
    if (old === view) return;
    for (const sender of this.delivered.keys()) if (!view.containsMember(sender)) this.delivered.delete(sender);
    if (old === null) return;
    // Members that left will not acknowledge; a member that was never in the view (a unicast
    // to a stranger) is still waited for until the timeout.
    for (const e of [...this.pending.values()]) {
      for (const m of e.waiting) if (old.containsMember(m) && !view.containsMember(m)) e.waiting.delete(m);
      if (e.waiting.size === 0) this.complete(e);
    }
  }
}
