import {
  type Address,
  type DownResult,
  Flag,
  type HeaderCodec,
  MergeView,
  Message,
  type MessageBatch,
  Protocol,
  type PropertyDecls,
  type ScheduledTask,
  type View,
} from '@tsgroups/core';
import { ProtocolId } from '../ids.js';
import { SeqType as T, type SequencerHeader, sequencerHeaderCodec } from './sequencer-header.js';

const ID = ProtocolId.SEQUENCER;
/** Multicasts with any of these flags are not totally ordered: they pass through. */
const BYPASS = Flag.OOB | Flag.NO_TOTAL_ORDER | Flag.NO_RELIABILITY;
/** Most messages kept from a member that is not (yet) our sequencer. */
const MAX_EARLY = 10_000;

/** Where this member stands with the total order. */
const enum Sync {
  /** Delivers every place after `delivered`. */
  SYNCED,
  /** A joiner: starts at the first new (not replayed) DATA or at a START. */
  JOINING,
  /** After a merge into another sequencer's group: only a START says where to start. */
  AWAIT_START,
}

/** A REPORT: where a member stands, for a new sequencer's failover. */
interface Report {
  viewId: number;
  delivered: number;
  synced: boolean;
}

/** A failover in progress at a new sequencer. */
interface Recovery {
  view: View;
  /** Members whose REPORT for this view (or a later one) is still to come. */
  waiting: Set<Address>;
  timeout: ScheduledTask | null;
  /** The member asked for the places we lack (FETCH), while its XFERs come in. */
  fetchingFrom: Address | null;
  /** Places received by XFER. */
  fetched: Map<number, Message>;
}

/**
 * Total order for multicasts through the coordinator, after JGroups' SEQUENCER. A member's
 * multicast goes to the coordinator (the sequencer) by unicast (FORWARD, with the member's own
 * counter); the sequencer multicasts it (DATA) with the next place in the total order (`gseq`)
 * and the original sender. Reliable FIFO multicast below (NAKACK2) makes one sequencer's order
 * everyone's order; every member delivers DATA in `gseq` order and passes it up with the
 * original sender as its source. A sender delivers its own message when it comes back from the
 * sequencer, not when it sends it. Unicasts and multicasts flagged OOB, NO_TOTAL_ORDER or
 * NO_RELIABILITY pass through untouched.
 *
 * Failover: every member keeps its multicasts until they come back (`pending`) and the last
 * `log_size` places it delivered (`log`). When a view names a new coordinator, each member
 * reports to it how far it delivered (REPORT) and sends it again what is pending. The new
 * sequencer waits for every report (at most `recovery_timeout`), fetches from the member that
 * got furthest what it lacks itself of the old sequencer's last places (FETCH / XFER), and
 * multicasts again, under their old places, every place some member lacks (DATA flagged replay)
 * before it continues the order after them (START). Receivers deliver each place once (by
 * `gseq`), and the sequencer orders each sender's message once (by the sender's counter), so
 * nothing is delivered twice and every survivor delivers the same sequence. A member that dies
 * with messages not yet ordered takes them with it. Merged subgroups continue in the merge
 * coordinator's order from its START on.
 *
 * Sits right above GMS (below flow control, fragmentation and RSVP, which then see the original
 * sender).
 */
export class SEQUENCER extends Protocol {
  static override readonly protocolName = 'SEQUENCER';
  static override readonly id = ID;
  static override readonly headerCodec = sequencerHeaderCodec as HeaderCodec;
  static override readonly provides: readonly string[] = ['total-order'];
  static override readonly requiresBelow: readonly string[] = ['reliable-multicast'];
  static override readonly properties: PropertyDecls = {
    logSize: { type: 'int', min: 1, description: 'How many of the last delivered places each member keeps for a new sequencer to replay after a failover' },
    recoveryTimeout: { type: 'duration', min: 1, description: 'How long a new sequencer waits for the members\' reports before it continues with those it has' },
  };

  logSize = 10_000;
  recoveryTimeout = 5000;

  // ---- sender ----
  /** Our own counter: the seqno of our last totally ordered multicast. */
  private seqno = 0;
  /** Our multicasts not delivered back yet, in send order (a queue from `pendingHead`). */
  private pendingMsgs: Message[] = [];
  private pendingSeqnos: number[] = [];
  private pendingHead = 0;
  /** Own seqnos sent with DONT_LOOPBACK: ordered and logged, not passed up here. */
  private readonly noLoopback = new Set<number>();

  // ---- receiver ----
  private view: View | null = null;
  /** The member that orders: the coordinator of the last view (null before the first). */
  private sequencer: Address | null = null;
  private sync = Sync.JOINING;
  /** The last place in the order delivered here. */
  private delivered = 0;
  /** The last `logSize` delivered places: slot gseq % logSize. */
  private logMsgs: (Message | undefined)[] = [];
  private logGseqs: number[] = [];
  /** Per original sender, the highest of its seqnos delivered here. */
  private readonly highestDelivered = new Map<Address, number>();
  /** Per original sender, the highest of its seqnos we ordered or replayed (as the sequencer). */
  private readonly highestOrdered = new Map<Address, number>();
  /** DATA and START from a member that is not our sequencer yet (its view has not reached us). */
  private early: Message[] = [];

  // ---- sequencer ----
  /** The last place given out (when we are the sequencer). */
  private lastAssigned = 0;
  private recovery: Recovery | null = null;
  /** FORWARDs that wait until we order: while we recover, or before our view says we are the sequencer. */
  private held: Message[] = [];
  /** The latest REPORT of each member. */
  private readonly reports = new Map<Address, Report>();
  /** Header ids of the protocols below us: stripped from a message before it goes down again. */
  private belowIds: boolean[] = [];

  readonly stats = {
    forwarded: 0,
    sequenced: 0,
    delivered: 0,
    duplicateForwards: 0,
    duplicatesDropped: 0,
    resent: 0,
    recoveries: 0,
    replayed: 0,
    fetched: 0,
    recoveryTimeouts: 0,
    /** Places a member jumped over (a gap nobody could fill) and places lost in a failover. */
    skipped: 0,
    lostInRecovery: 0,
    notFromSequencer: 0,
  };

  override start(): void {
    this.reset();
    const below: boolean[] = [];
    let seen = false;
    for (const p of this.stack.getProtocols()) {
      if (seen) below[p.id] = true;
      else if (p === this) seen = true;
    }
    this.belowIds = below;
  }

  override stop(): void {
    this.reset();
  }

  private reset(): void {
    this.seqno = 0;
    this.pendingMsgs = [];
    this.pendingSeqnos = [];
    this.pendingHead = 0;
    this.noLoopback.clear();
    this.view = null;
    this.sequencer = null;
    this.sync = Sync.JOINING;
    this.delivered = 0;
    this.logMsgs = new Array<Message | undefined>(this.logSize);
    this.logGseqs = new Array<number>(this.logSize).fill(0);
    this.highestDelivered.clear();
    this.highestOrdered.clear();
    this.early = [];
    this.lastAssigned = 0;
    this.recovery?.timeout?.cancel();
    this.recovery = null;
    this.held = [];
    this.reports.clear();
  }

  override getStats(): Record<string, number> {
    // synced: 1 once this member knows where the total order stands (a START, or the first place).
    return { ...this.stats, pending: this.numPending(), gseq: this.delivered, synced: this.sync === Sync.SYNCED ? 1 : 0 };
  }

  /** Own multicasts not delivered back yet. */
  numPending(): number {
    return this.pendingMsgs.length - this.pendingHead;
  }

  /** The last place in the total order delivered here. */
  lastDelivered(): number {
    return this.delivered;
  }

  /** True while this member is the sequencer and has not finished taking over. */
  isRecovering(): boolean {
    return this.recovery !== null;
  }

  // ---- sending ----
  override down(msg: Message): DownResult {
    if (msg.dest !== null || (msg.flags & BYPASS) !== 0) return this.downProt.down(msg);
    const self = this.localAddress!;
    const seqno = ++this.seqno;
    if (msg.src === null) msg.src = self;
    if ((msg.flags & Flag.DONT_LOOPBACK) !== 0) {
      // It must come back to us to keep our place in the order; we just do not deliver it.
      this.noLoopback.add(seqno);
      msg.flags &= ~Flag.DONT_LOOPBACK;
    }
    this.pendingMsgs.push(msg);
    this.pendingSeqnos.push(seqno);
    const seq = this.sequencer;
    if (seq === null) return undefined; // sent when the first view names a sequencer
    if (seq === self) {
      if (this.recovery !== null) return undefined; // ordered once the takeover is over
      return this.order(msg, self, seqno);
    }
    msg.putHeader(ID, { type: T.FORWARD, gseq: 0, sender: null, seqno, flag: false } satisfies SequencerHeader);
    msg.dest = seq;
    this.stats.forwarded++;
    return this.downProt.down(msg);
  }

  /** The sequencer gives `msg` (seqno `seqno` of `sender`) the next place and multicasts it. */
  private order(msg: Message, sender: Address, seqno: number): DownResult {
    // Ordered by us, or by an earlier sequencer (we delivered it): a resend, not ordered again.
    const last = Math.max(this.highestOrdered.get(sender) ?? 0, this.highestDelivered.get(sender) ?? 0);
    if (seqno <= last) {
      this.stats.duplicateForwards++;
      return undefined;
    }
    this.highestOrdered.set(sender, seqno);
    const gseq = ++this.lastAssigned;
    this.stripBelow(msg);
    msg.dest = null;
    msg.src = this.localAddress;
    msg.putHeader(ID, { type: T.DATA, gseq, sender, seqno, flag: false } satisfies SequencerHeader);
    this.stats.sequenced++;
    return this.downProt.down(msg);
  }

  /** Removes the headers of the protocols below us (a message received goes down again). */
  private stripBelow(msg: Message): void {
    const below = this.belowIds;
    const hdrs = msg.rawHeaders();
    if (hdrs === null) return;
    for (let i = hdrs.length - 2; i >= 0; i -= 2) if (below[hdrs[i] as number] === true) msg.removeHeader(hdrs[i] as number);
  }

  /** A copy of a kept message, clean of the headers of the protocols below, to go down again. */
  private copyToResend(msg: Message): Message {
    const c = msg.copy(false);
    this.stripBelow(c);
    return c;
  }

  private sendQuietly(msg: Message, what: string): void {
    try {
      const res = this.downProt.down(msg);
      if (res !== undefined) res.catch((err: unknown) => this.log.warn(`${this.localAddress}: ${what} failed`, err));
    } catch (err) {
      this.log.warn(`${this.localAddress}: ${what} failed`, err);
    }
  }

  private control(dest: Address | null, type: number, gseq: number, seqno = 0, flag = false): Message {
    return new Message(dest).setFlag(Flag.NO_TOTAL_ORDER).putHeader(ID, { type, gseq, sender: null, seqno, flag } satisfies SequencerHeader);
  }

  // ---- receiving ----
  override up(msg: Message): void {
    if (!this.consume(msg)) this.upProt.up(msg);
  }

  override upBatch(batch: MessageBatch): void {
    if (batch.removeIf(this.consume) > 0 && batch.isEmpty()) return;
    this.upProt.upBatch(batch);
  }

  /**
   * The receive rule: true if SEQUENCER takes `msg` (all its own messages; the DATA it delivers
   * it passes up itself, one by one, with the original sender as source); false for the rest,
   * which goes up in place.
   */
  private readonly consume = (msg: Message): boolean => {
    const h = msg.getHeader<SequencerHeader>(ID);
    if (h === undefined) return false;
    try {
      switch (h.type) {
        case T.DATA:
        case T.START:
          if (msg.src !== this.sequencer) this.keepEarly(msg);
          else if (h.type === T.DATA) this.onData(msg, h);
          else this.onStart(h.gseq);
          break;
        case T.FORWARD:
          this.onForward(msg, h);
          break;
        case T.REPORT:
          this.onReport(msg.src!, { viewId: h.seqno, delivered: h.gseq, synced: h.flag });
          break;
        case T.FETCH:
          this.onFetch(msg.src!, h.gseq);
          break;
        case T.XFER:
          this.onXfer(msg, h);
          break;
        case T.XFER_DONE:
          this.onXferDone(msg.src!);
          break;
      }
    } catch (err) {
      this.log.warn(`${this.localAddress}: dropped a SEQUENCER message from ${msg.src}`, err);
    }
    return true;
  };

  /**
   * DATA or START from a member that is not our sequencer: kept in case our next view makes it
   * one (its view reached it before ours reached us; after a merge it may not even be in our
   * view yet). NAKACK2 below passes multicasts only from members it knows, so this stays small.
   */
  private keepEarly(msg: Message): void {
    this.stats.notFromSequencer++;
    if (this.early.length < MAX_EARLY) this.early.push(msg);
  }

  private onData(msg: Message, h: SequencerHeader): void {
    if (this.sync !== Sync.SYNCED) {
      // A joiner starts with the first place ordered for it; after a merge only a START counts.
      if (this.sync === Sync.AWAIT_START || h.flag) return;
      this.sync = Sync.SYNCED;
      this.delivered = h.gseq - 1;
    }
    const gseq = h.gseq;
    if (gseq <= this.delivered) {
      this.stats.duplicatesDropped++;
      return;
    }
    if (gseq > this.delivered + 1) {
      // The sequencer's FIFO stream has no gaps: only a failover without our report can leave one.
      this.stats.skipped += gseq - this.delivered - 1;
      this.log.warn(`${this.localAddress}: places ${this.delivered + 1}..${gseq - 1} of the total order never reached us; skipping them`);
    }
    this.delivered = gseq;
    const slot = gseq % this.logSize;
    this.logMsgs[slot] = msg;
    this.logGseqs[slot] = gseq;
    const sender = h.sender!;
    const own = sender === this.localAddress;
    if (own) this.ownDelivered(h.seqno);
    // Each sender's messages are ordered in its own order, so one at or below what we delivered
    // of it is a second copy: only a merge can order one again (the other side's sequencer had
    // ordered it, and its sender resent it to ours). Its place counts; it is not delivered again.
    const last = this.highestDelivered.get(sender) ?? 0;
    if (h.seqno <= last) {
      this.stats.duplicatesDropped++;
      return;
    }
    this.highestDelivered.set(sender, h.seqno);
    if (own && this.noLoopback.size > 0 && this.noLoopback.delete(h.seqno)) return;
    // A copy goes up: NAKACK2 keeps `msg` (with the sequencer as source) for retransmission, and
    // our own multicasts come back as the very objects it keeps.
    const copy = msg.copy(false);
    copy.src = sender;
    copy.dest = null;
    this.stats.delivered++;
    this.upProt.up(copy);
  }

  /** Our message `seqno` came back: it and any before it are no longer pending. */
  private ownDelivered(seqno: number): void {
    const seqnos = this.pendingSeqnos;
    let head = this.pendingHead;
    while (head < seqnos.length && seqnos[head]! <= seqno) this.pendingMsgs[head++] = undefined as unknown as Message;
    if (head === seqnos.length) {
      this.pendingMsgs = [];
      this.pendingSeqnos = [];
      head = 0;
    } else if (head > 1024 && head * 2 > seqnos.length) {
      this.pendingMsgs = this.pendingMsgs.slice(head);
      this.pendingSeqnos = seqnos.slice(head);
      head = 0;
    }
    this.pendingHead = head;
  }

  /** The order continues after `gseq`: the end of a takeover, or a merge. */
  private onStart(gseq: number): void {
    if (this.sync !== Sync.SYNCED) {
      this.sync = Sync.SYNCED;
      this.delivered = gseq;
      return;
    }
    if (this.delivered < gseq) {
      this.stats.skipped += gseq - this.delivered;
      this.log.warn(`${this.localAddress}: places ${this.delivered + 1}..${gseq} of the total order never reached us; skipping them`);
      this.delivered = gseq;
    } else if (this.delivered > gseq) {
      this.log.warn(`${this.localAddress}: delivered up to place ${this.delivered}, but the sequencer continues after ${gseq}`);
      this.delivered = gseq;
    }
  }

  private onForward(msg: Message, h: SequencerHeader): void {
    const self = this.localAddress;
    if (this.sequencer !== self || this.recovery !== null) {
      // Not ours to order yet: our view may be behind the sender's, or we are taking over.
      // Not bounded here: each sender's flow control bounds what it has in flight.
      this.held.push(msg);
      return;
    }
    void this.order(msg, msg.src!, h.seqno);
  }

  // ---- membership and failover ----
  protected override viewChanged(view: View): void {
    const self = this.localAddress!;
    const prev = this.view;
    const prevSequencer = this.sequencer;
    this.view = view;
    const coord = view.getCoord()!;
    this.sequencer = coord;
    for (const m of this.highestDelivered.keys()) if (!view.containsMember(m)) this.highestDelivered.delete(m);
    for (const m of this.highestOrdered.keys()) if (!view.containsMember(m)) this.highestOrdered.delete(m);
    for (const m of this.reports.keys()) if (!view.containsMember(m)) this.reports.delete(m);
    const merge = view instanceof MergeView;
    if (coord !== self) {
      this.held = [];
      this.recovery?.timeout?.cancel();
      this.recovery = null;
      // A merge into another sequencer's group: its order is not ours; its START says where to begin.
      if (merge && coord !== prevSequencer) this.sync = Sync.AWAIT_START;
      const report = this.control(coord, T.REPORT, this.sync === Sync.SYNCED ? this.delivered : 0, view.viewId.id, this.sync === Sync.SYNCED);
      this.sendQuietly(report, 'sending a SEQUENCER report');
      if (coord !== prevSequencer) {
        this.resendPending(coord);
        this.takeEarly(coord);
      }
      return;
    }
    this.takeEarly(coord);
    if (prev === null || view.size() === 1 || merge) {
      // Nobody to recover from: the first member, the last one left, or a merge (each
      // subgroup had its own order; ours goes on and the others start at our START).
      if (this.sync !== Sync.SYNCED) {
        this.sync = Sync.SYNCED;
        this.delivered = Math.max(this.delivered, 0);
      }
      this.recovery?.timeout?.cancel();
      this.recovery = null;
      this.lastAssigned = Math.max(this.lastAssigned, this.delivered);
      if (merge) this.sendQuietly(this.control(null, T.START, this.lastAssigned), 'multicasting a SEQUENCER start');
      this.orderWaiting();
      return;
    }
    if (prevSequencer === self && this.recovery === null) {
      // Still ours. Joiners learn where the order stands: every place before this START was
      // given out before they joined.
      if (prev.members.length < view.members.length || view.members.some((m) => !prev.containsMember(m))) {
        this.sendQuietly(this.control(null, T.START, this.lastAssigned), 'multicasting a SEQUENCER start');
      }
      return;
    }
    this.startRecovery(view);
  }

  /** Sends our pending multicasts again, in order, to a new sequencer. */
  private resendPending(seq: Address): void {
    for (let i = this.pendingHead; i < this.pendingMsgs.length; i++) {
      const c = this.copyToResend(this.pendingMsgs[i]!);
      c.dest = seq;
      c.src = this.localAddress;
      c.putHeader(ID, { type: T.FORWARD, gseq: 0, sender: null, seqno: this.pendingSeqnos[i]!, flag: false } satisfies SequencerHeader);
      this.stats.resent++;
      this.sendQuietly(c, 'resending a message to the new sequencer');
    }
  }

  /** What the new sequencer sent before our view named it. */
  private takeEarly(seq: Address): void {
    const early = this.early;
    this.early = [];
    for (const m of early) {
      if (m.src !== seq) continue;
      const h = m.getHeader<SequencerHeader>(ID)!;
      if (h.type === T.DATA) this.onData(m, h);
      else this.onStart(h.gseq);
    }
  }

  private startRecovery(view: View): void {
    this.recovery?.timeout?.cancel();
    this.stats.recoveries++;
    const waiting = new Set<Address>();
    for (const m of view.members) if (m !== this.localAddress) waiting.add(m);
    const r: Recovery = { view, waiting, timeout: null, fetchingFrom: null, fetched: new Map() };
    this.recovery = r;
    for (const [m, rep] of this.reports) if (rep.viewId >= view.viewId.id) waiting.delete(m);
    r.timeout = this.timer.schedule(this.recoveryTimeout, () => {
      if (this.recovery !== r) return;
      this.stats.recoveryTimeouts++;
      this.log.warn(`${this.localAddress}: taking over as sequencer without the reports of ${[...r.waiting].join(', ')}${r.fetchingFrom ? ` or the places of ${r.fetchingFrom}` : ''}`);
      r.waiting.clear();
      r.fetchingFrom = null;
      this.finishRecovery(r);
    });
    this.proceed(r);
  }

  private onReport(from: Address, report: Report): void {
    this.reports.set(from, report);
    const r = this.recovery;
    if (r === null || report.viewId < r.view.viewId.id) return;
    if (r.waiting.delete(from)) this.proceed(r);
  }

  /** With every report in: fetch what we lack, or finish. */
  private proceed(r: Recovery): void {
    if (r.waiting.size > 0 || r.fetchingFrom !== null) return;
    const { highest, lowest, holder } = this.reported(r);
    // What we lack of the places to replay: above what we delivered (all of them if we never synced).
    const from = (this.sync === Sync.SYNCED ? Math.max(this.delivered, lowest) : lowest) + 1;
    if (holder !== null && highest >= from) {
      r.fetchingFrom = holder;
      this.sendQuietly(this.control(holder, T.FETCH, from), 'asking for the places of a failover');
      return;
    }
    this.finishRecovery(r);
  }

  /** The highest place a member of `r`'s view reported (ours included), and who has it. */
  private reported(r: Recovery): { highest: number; lowest: number; holder: Address | null } {
    const synced = this.sync === Sync.SYNCED;
    let highest = synced ? this.delivered : 0;
    let lowest = synced ? this.delivered : Number.MAX_SAFE_INTEGER;
    let holder: Address | null = null;
    for (const m of r.view.members) {
      const rep = this.reports.get(m);
      if (m === this.localAddress || rep === undefined || !rep.synced || rep.viewId < r.view.viewId.id) continue;
      if (rep.delivered > highest) {
        highest = rep.delivered;
        holder = m;
      }
      if (rep.delivered < lowest) lowest = rep.delivered;
    }
    if (lowest > highest) lowest = highest;
    return { highest, lowest, holder };
  }

  /** A member asks for our logged places from `from` on: send them, then XFER_DONE. */
  private onFetch(requester: Address, from: number): void {
    let last = from - 1;
    for (let g = Math.max(from, 1); g <= this.delivered; g++) {
      const m = this.logged(g);
      if (m === undefined) break;
      const h = m.getHeader<SequencerHeader>(ID)!;
      const c = this.copyToResend(m);
      c.dest = requester;
      c.src = this.localAddress;
      c.flags &= ~Flag.DONT_LOOPBACK;
      c.putHeader(ID, { type: T.XFER, gseq: g, sender: h.sender, seqno: h.seqno, flag: false } satisfies SequencerHeader);
      this.sendQuietly(c, 'sending a logged place');
      last = g;
    }
    this.sendQuietly(this.control(requester, T.XFER_DONE, last), 'ending the logged places');
  }

  private onXfer(msg: Message, h: SequencerHeader): void {
    const r = this.recovery;
    if (r === null || msg.src !== r.fetchingFrom) return;
    this.stats.fetched++;
    r.fetched.set(h.gseq, msg);
  }

  private onXferDone(from: Address): void {
    const r = this.recovery;
    if (r === null || from !== r.fetchingFrom) return;
    r.fetchingFrom = null;
    this.finishRecovery(r);
  }

  private logged(gseq: number): Message | undefined {
    const slot = gseq % this.logSize;
    return this.logGseqs[slot] === gseq ? this.logMsgs[slot] : undefined;
  }

  /**
   * The takeover: every place after the lowest any member reported is multicast again (receivers
   * keep those they lack), the order continues after the highest (START), and what waited is
   * ordered: our own pending multicasts first, then the FORWARDs that came meanwhile.
   */
  private finishRecovery(r: Recovery): void {
    r.timeout?.cancel();
    this.recovery = null;
    const { highest, lowest } = this.reported(r);
    const have = this.sync === Sync.SYNCED ? this.delivered : 0;
    let top = lowest;
    for (let g = lowest + 1; g <= highest; g++) {
      const m = (g <= have ? this.logged(g) : undefined) ?? r.fetched.get(g);
      if (m === undefined) {
        this.stats.lostInRecovery += highest - g + 1;
        this.log.warn(`${this.localAddress}: places ${g}..${highest} of the old sequencer are held by nobody any more; continuing after ${g - 1}`);
        break;
      }
      const h = m.getHeader<SequencerHeader>(ID)!;
      const sender = h.sender!;
      if ((this.highestOrdered.get(sender) ?? 0) < h.seqno) this.highestOrdered.set(sender, h.seqno);
      const c = this.copyToResend(m);
      c.dest = null;
      c.src = this.localAddress;
      c.flags &= ~Flag.DONT_LOOPBACK;
      c.putHeader(ID, { type: T.DATA, gseq: g, sender, seqno: h.seqno, flag: true } satisfies SequencerHeader);
      this.stats.replayed++;
      this.sendQuietly(c, 'replaying a place');
      top = g;
    }
    this.lastAssigned = Math.max(top, have);
    this.sendQuietly(this.control(null, T.START, this.lastAssigned), 'multicasting a SEQUENCER start');
    this.orderWaiting();
  }

  /** Orders what waited for us to become (or finish becoming) the sequencer. */
  private orderWaiting(): void {
    const self = this.localAddress!;
    for (let i = this.pendingHead; i < this.pendingMsgs.length; i++) {
      // A copy: the original may still sit in UNICAST3's table as a FORWARD to the old sequencer.
      this.orderQuietly(this.copyToResend(this.pendingMsgs[i]!), self, this.pendingSeqnos[i]!);
    }
    const held = this.held;
    this.held = [];
    for (const m of held) this.orderQuietly(m, m.src!, m.getHeader<SequencerHeader>(ID)!.seqno);
  }

  private orderQuietly(msg: Message, sender: Address, seqno: number): void {
    try {
      const res = this.order(msg, sender, seqno);
      if (res !== undefined) res.catch((err: unknown) => this.log.warn(`${this.localAddress}: ordering a waiting message failed`, err));
    } catch (err) {
      this.log.warn(`${this.localAddress}: ordering a waiting message failed`, err);
    }
  }
}
