import {
  type Address,
  AbortError,
  Collector,
  type DownResult,
  type EndOfTurnTask,
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
  /** Waits for the members that have not acknowledged yet; rejects with ERR_TIMEOUT after `timeout`. */
  readonly acks: Collector<void>;
  /** A copy of the message as it was before it went down: resends are copies of it. */
  readonly template: Message | null;
  resendTask: ScheduledTask | null;
  /** The message never went out: the wait ended without counting as completed. */
  dropped: boolean;
}

function ignore(): void {}

/** Ids of RSVP messages recently delivered from one sender, oldest first. */
const MAX_RECENT_IDS = 1024;

/**
 * Sends that complete only once every receiver has the message, after JGroups' RSVP. A
 * message with {@link Flag.RSVP} gets an RsvpHeader (REQ, a per-sender id) and `send()`
 * resolves when every member of the view but the sender (or, for a unicast, the destination)
 * acknowledged it, or rejects with a TimeoutError (`ERR_TIMEOUT`) after `timeout`. A receiver
 * delivers the message first and answers ACK at the end of that turn, so when the send
 * resolves every receiver has delivered it.
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
  /** ACKs of REQs delivered in this turn, sent at its end (after the REQs went up). */
  private acksToSend: Message[] = [];
  private ackTask: EndOfTurnTask | null = null;

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
      e.acks.cancel(new AbortError(`RSVP message ${e.id}: the channel stopped before every member acknowledged it`));
    }
    this.ackTask?.cancel();
    this.acksToSend = [];
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
    const acks = new Collector<void>(waiting, { timer: this.timer, timeout: this.timeout, what: `RSVP message ${id}` });
    const e: Entry = { id, acks, template, resendTask: null, dropped: false };
    this.pending.set(id, e);
    if (template !== null) {
      e.resendTask = this.timer.scheduleWithFixedDelay(this.resendInterval, this.resendInterval, () => this.resend(e));
    }
    const acked = acks.done.then(
      () => {
        this.finish(e);
        if (!e.dropped) this.stats.completed++;
      },
      (err: unknown) => {
        this.finish(e);
        if (err instanceof TimeoutError) this.stats.timedOut++;
        throw err;
      },
    );

    let res: DownResult;
    try {
      res = this.downProt.down(msg);
    } catch (err) {
      this.drop(e);
      throw err;
    }
    if (res === undefined) return acked;
    // Observed once `res` settles; a rejection before that (the channel stopped) is not unhandled.
    acked.catch(ignore);
    return res.then(
      () => acked,
      (err: unknown) => {
        this.drop(e);
        throw err;
      },
    );
  }

  /** The message never went out: stop waiting for it (its wait ends quietly, unobserved). */
  private drop(e: Entry): void {
    e.dropped = true;
    this.finish(e);
    e.acks.complete();
  }

  private resend(e: Entry): void {
    if (this.pending.get(e.id) !== e || e.template === null) return;
    for (const m of e.acks.missing()) {
      const copy = e.template.copy(false).setDest(m);
      this.stats.resent++;
      this.sendQuietly(copy, `resending RSVP message ${e.id} to ${m}`);
    }
  }

  private onAck(from: Address, id: number): void {
    this.stats.acksReceived++;
    this.pending.get(id)?.acks.add(from, undefined);
  }

  /** Forgets an entry and cancels its resends (its wait is over or ending). */
  private finish(e: Entry): void {
    if (this.pending.get(e.id) === e) this.pending.delete(e.id);
    this.cancelTasks(e);
  }

  private cancelTasks(e: Entry): void {
    e.resendTask?.cancel();
    e.resendTask = null;
  }

  // ---- receiving ----
  // A REQ is an application message: it stays where it is in its batch (its order among the
  // sender's messages matters), so RSVP keeps batches whole instead of using handleOwnMessage.
  override up(msg: Message): void {
    if (!this.consume(msg)) this.upProt.up(msg);
  }

  override upBatch(batch: MessageBatch): void {
    // consume() takes only messages with an RSVP header: none in the batch, nothing to do.
    if (batch.mayHaveHeader(ProtocolId.RSVP) && batch.removeIf(this.consume) > 0 && batch.isEmpty()) return;
    this.upProt.upBatch(batch);
  }

  /**
   * The receive rule, for single messages and batches alike: true if RSVP takes `msg` (an ACK,
   * a duplicate REQ, an unknown type); false if it goes up. A new REQ goes up and its ACK is
   * sent at the end of the turn, after it was delivered.
   */
  private readonly consume = (msg: Message): boolean => {
    const h = msg.getHeader<Header>(ProtocolId.RSVP);
    if (h === undefined) return false;
    if (h.type === T.ACK) {
      if (msg.src !== null) this.onAck(msg.src, h.id ?? 0);
      return true;
    }
    if (h.type !== T.REQ) return true;
    const ack = this.acceptRequest(msg, h);
    if (ack === false) return true; // a duplicate: acknowledged, not delivered again
    if (ack !== null) {
      this.acksToSend.push(ack);
      (this.ackTask ??= this.timer.endOfTurnTask(this.sendAcks)).request();
    }
    return false;
  };

  private readonly sendAcks = (): void => {
    const acks = this.acksToSend;
    this.acksToSend = [];
    for (const a of acks) this.sendQuietly(a, 'sending an RSVP ack');
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
    const left = old.members.filter((m) => !view.containsMember(m));
    if (left.length === 0) return;
    for (const e of [...this.pending.values()]) for (const m of left) e.acks.memberLeft(m);
  }
}
