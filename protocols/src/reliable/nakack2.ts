import {
  Address,
  type AnyEvent,
  Digest,
  type DownResult,
  EventType,
  Flag,
  type HeaderCodec,
  MergeView,
  Message,
  type MessageBatch,
  Protocol,
  type PropertyDecls,
  type ScheduledTask,
  SeqnoAdd,
  SeqnoTable,
  type View,
} from '@tsgroups/core';
import { tsgroups } from '../generated/headers.js';
import { ProtocolId } from '../ids.js';
import { BYTES_FIELD, SeqnoHeaderCodec } from './seqno-header-codec.js';

const T = tsgroups.protocols.NakAckHeader.Type;
const ID = ProtocolId.NAKACK2;
/** A receive window buffers at most this far above highestDelivered; later seqnos are retransmitted when the window moves. */
const MAX_AHEAD = 1 << 18;
/** How many departed senders' delivered seqnos are remembered (a merge may bring them back). */
const MAX_DEPARTED = 1024;

/** The NAKACK2 header (wire format: `NakAckHeader` in headers.proto). Never mutated once attached. */
export interface NakAckHeader {
  type: number;
  /** MSG, XMIT_RSP: the message's seqno; HIGHEST_SEQNO: the sender's highest; FIRST_SEQNO: the lowest still held. */
  seqno: number;
  /** XMIT_REQ: the seqnos to resend. */
  missing: number[] | null;
  /** XMIT_REQ, FIRST_SEQNO: the original sender's 16-byte address. */
  sender: Uint8Array | null;
}
type Header = NakAckHeader;
const NO_BYTES = new Uint8Array(0);

/** `NakAckHeader` in headers.proto: type, seqno, missing (field 3), sender (field 4). */
const nakAckHeaderCodec = new SeqnoHeaderCodec<NakAckHeader, Uint8Array | null>({
  missingField: 3,
  extraField: 4,
  extra: BYTES_FIELD,
  getExtra: (h) => h.sender,
  create: (type, seqno, missing, sender) => ({ type, seqno, missing, sender }),
});

/** One sender's multicasts as this member receives them, with the retransmission bookkeeping. */
class SenderWindow extends SeqnoTable<Message> {
  /** The first missing seqno last asked for, and for how many rounds in a row. */
  lastMissing = 0;
  stuckRounds = 0;
}

/**
 * Reliable multicast: every multicast gets the next seqno of its sender, receivers deliver each
 * sender's messages in seqno order (OOB ones at once), exactly once. A receiver that sees a gap
 * asks for the missing seqnos (XMIT_REQ) from the original sender, or from another member if
 * the sender stays silent; a sender that sent recently announces its highest seqno so that a
 * lost tail is noticed too. Delivered messages are kept for retransmission until STABLE reports
 * them delivered everywhere. A joiner starts each sender's stream where the coordinator's
 * digest says (GMS passes it at the join), so it never asks for what came before it; a member
 * that comes in with a merge starts each new sender's stream where the merge digest says (the
 * sender's own subgroup's entry), so every message that sender multicasts in the merged view
 * reaches it, in order, whatever is lost. A window is never started at the first message that
 * happens to arrive, and nothing is ever delivered past a gap, with one exception, counted
 * (`gapsSkipped`, `messagesSkipped`) and logged: seqnos their sender purged before it installed
 * the view it now shares with us (FIRST_SEQNO, which only the sender sends and only it is
 * believed), i.e. messages sent while we were apart. A sender that leaves and comes back with a
 * merge continues after what we delivered of it before (`departed`): nothing is delivered twice.
 *
 * Own multicasts come back the way everyone's do: the transport loops them back, and they go
 * through the same receive rule (a window of their own), so they are delivered in send order and
 * exactly once. One that a protocol below dropped before the transport saw it is a gap like any
 * other, filled from the messages kept for retransmission (an XMIT_REQ to oneself, which the
 * transport delivers locally).
 */
export class NAKACK2 extends Protocol {
  static override readonly protocolName = 'NAKACK2';
  static override readonly id = ID;
  static override readonly headerCodec = nakAckHeaderCodec as HeaderCodec;
  static override readonly provides: readonly string[] = ['reliable-multicast'];
  static override readonly requiresBelow: readonly string[] = ['transport'];
  static override readonly properties: PropertyDecls = {
    xmitInterval: { type: 'duration', min: 1, description: 'How often gaps are looked for and asked for' },
    xmitFirstDelay: {
      type: 'duration',
      min: 0,
      description: 'How long a new gap may stay open before it is asked for, without waiting for the next xmit_interval round (0: wait for the round)',
    },
    maxXmitReqSize: { type: 'int', min: 1, description: 'Most seqnos one XMIT_REQ asks for' },
    highestSeqnoRepeats: { type: 'int', min: 0, description: 'How many xmit intervals a sender keeps announcing its highest seqno after its last send' },
  };

  xmitInterval = 500;
  xmitFirstDelay = 50;
  maxXmitReqSize = 1000;
  highestSeqnoRepeats = 4;

  private seqno = 0;
  /** Own multicasts, kept for retransmission until stable. */
  private sent = newSentTable();
  /** Own multicasts as they come back (delivered ones are not kept: `sent` has them). */
  private own = newOwnWindow();
  /** The seqno at the previous xmit round: own multicasts up to it should be back by now. */
  private seqnoAtLastRound = 0;
  private readonly windows = new Map<Address, SenderWindow>();
  /**
   * Senders a view change removed, with what we had delivered of each: a merge that brings one
   * back starts its window at least there, since the merge digest's entry (its subgroup
   * coordinator's) may be behind us, and nothing is delivered twice. Oldest dropped first.
   */
  private readonly departed = new Map<Address, number>();
  private view: View | null = null;
  private xmitTask: ScheduledTask | null = null;
  /** The early look at gaps that opened since the last round (xmit_first_delay), while armed. */
  private firstXmitTask: ScheduledTask | null = null;
  private announceLeft = 0;
  private lastAnnounced = 0;
  private stableOwn = 0;
  /** Our seqno when we installed the current view: a skip never reaches past it. */
  private seqnoAtView = 0;

  readonly stats = {
    msgsSent: 0,
    msgsDelivered: 0,
    oobDelivered: 0,
    duplicates: 0,
    xmitReqsSent: 0,
    xmitReqsReceived: 0,
    xmitsSent: 0,
    xmitsReceived: 0,
    highestSeqnoSent: 0,
    droppedNonMember: 0,
    /**
     * Multicasts (or HIGHEST_SEQNO announcements) further above a sender's delivered seqno than a
     * window holds: dropped, so that a forged or corrupted seqno cannot open a gap nobody fills.
     */
    droppedTooFar: 0,
    purged: 0,
    /** Gaps given up on: seqnos nobody holds any more (FIRST_SEQNO). */
    gapsSkipped: 0,
    /** Seqnos in those gaps (never delivered here). */
    messagesSkipped: 0,
    /** Senders removed by a view change while a gap was open, and their seqnos never delivered here. */
    leftWithGaps: 0,
    undeliveredOfLeft: 0,
    /** Merge digests applied, and the sender windows they started. */
    mergeDigests: 0,
    mergeWindows: 0,
  };

  override start(): void {
    this.xmitTask = this.timer.scheduleWithFixedDelay(this.xmitInterval, this.xmitInterval, this.onXmitTimer);
  }

  override stop(): void {
    this.xmitTask?.cancel();
    this.xmitTask = null;
    this.firstXmitTask?.cancel();
    this.firstXmitTask = null;
    this.reset();
  }

  private reset(): void {
    this.seqno = 0;
    this.sent = newSentTable();
    this.own = newOwnWindow();
    this.seqnoAtLastRound = 0;
    this.windows.clear();
    this.departed.clear();
    this.view = null;
    this.announceLeft = 0;
    this.lastAnnounced = 0;
    this.stableOwn = 0;
    this.seqnoAtView = 0;
  }

  override getStats(): Record<string, number> {
    let held = this.sent.size() + this.own.size();
    for (const w of this.windows.values()) held += w.size();
    return { ...this.stats, seqno: this.seqno, messagesHeld: held };
  }

  /** Messages held for retransmission or waiting for a gap (all senders). */
  messagesHeld(): number {
    return this.getStats().messagesHeld!;
  }

  /**
   * The highest seqno of our own multicasts delivered back here (the digest's own entry is the
   * highest sent): STATE_TRANSFER's snapshot contains exactly our own multicasts up to it.
   */
  ownHighestDelivered(): number {
    return this.own.highestDelivered;
  }

  // ---- sending ----
  override down(msg: Message): DownResult {
    if (msg.dest !== null || (msg.flags & Flag.NO_RELIABILITY) !== 0) return this.downProt.down(msg);
    const seqno = ++this.seqno;
    msg.putHeader(ID, { type: T.MSG, seqno, missing: null, sender: null } satisfies Header);
    if (msg.src === null) msg.src = this.localAddress;
    this.sent.add(seqno, msg);
    // It will not come back: its place in our own stream counts as delivered.
    if ((msg.flags & Flag.DONT_LOOPBACK) !== 0) this.own.add(seqno, msg, true);
    this.stats.msgsSent++;
    this.announceLeft = this.highestSeqnoRepeats;
    return this.downProt.down(msg);
  }

  override downEvent(evt: AnyEvent): unknown {
    switch (evt.type) {
      case EventType.GET_DIGEST:
        return this.getDigest();
      case EventType.SET_DIGEST:
        this.setDigest(evt.arg);
        return undefined;
      case EventType.MERGE_DIGEST:
        this.mergeDigest(evt.arg);
        return undefined;
      case EventType.STABLE:
        this.onStable(evt.arg);
        return undefined;
      case EventType.DISCONNECT: {
        const r = this.downProt.downEvent(evt);
        this.reset();
        return r;
      }
    }
    return super.downEvent(evt);
  }

  // ---- receiving ----
  // The receive rule is `receive`: up() applies it to one message, upBatch() to each message of
  // a batch, keeping in place those it delivers at once and appending those it released.

  override up(msg: Message): void {
    const h = msg.getHeader<Header>(ID);
    if (h === undefined) return this.upProt.up(msg);
    if (this.receive(msg, h)) this.upProt.up(msg);
    const win = this.windowOf(msg.src);
    if (win !== undefined) {
      this.deliverUp(win);
      if (win.numMissing() > 0) this.armFirstXmit();
    }
  }

  override upBatch(batch: MessageBatch): void {
    batch.removeIf(this.takeFromBatch);
    // A sender's multicasts come in its own batches: what they released follows them.
    const win = this.windowOf(batch.sender);
    if (win !== undefined) {
      this.deliverInto(win, batch);
      if (win.numMissing() > 0) this.armFirstXmit();
    }
    if (!batch.isEmpty()) this.upProt.upBatch(batch);
  }

  /** true: take the message out of its batch (ours, and not to be passed up in place). */
  private readonly takeFromBatch = (msg: Message): boolean => {
    const h = msg.getHeader<Header>(ID);
    return h !== undefined && !this.receive(msg, h);
  };

  /**
   * The receive rule for a message with our header. true: the caller passes `msg` up now (the
   * next of its sender, or OOB); what it releases the caller takes from the sender's window
   * afterwards. Retransmissions and control messages are handled here in full.
   */
  private receive(msg: Message, h: Header): boolean {
    switch (h.type) {
      case T.MSG: {
        const win = this.senderWindow(msg.src, h.seqno);
        return win !== undefined && this.accept(win, msg, h.seqno);
      }
      case T.XMIT_RSP: {
        // Resent by unicast, but it is a multicast; it goes up on its own, with what it releases.
        msg.dest = null;
        this.stats.xmitsReceived++;
        const win = this.senderWindow(msg.src, h.seqno);
        if (win === undefined) return false;
        if (this.accept(win, msg, h.seqno)) this.upProt.up(msg);
        this.deliverUp(win);
        return false;
      }
      default:
        this.handleControl(msg, h);
        return false;
    }
  }

  /** Files one sequenced multicast in its sender's window; true if it is to be delivered now. */
  private accept(win: SenderWindow, msg: Message, seqno: number): boolean {
    if (seqno - win.highestDelivered > MAX_AHEAD && win !== this.own) {
      // Not noted as received either: a forged seqno opens no gap, and a receiver that far behind
      // still asks for the gap its window shows and moves up from there.
      this.stats.droppedTooFar++;
      return false;
    }
    const oob = (msg.flags & Flag.OOB) !== 0;
    const r = win.add(seqno, msg, oob);
    if (r === SeqnoAdd.DELIVER) {
      if (oob) this.stats.oobDelivered++;
      else this.stats.msgsDelivered++;
      return true;
    }
    if (r === SeqnoAdd.DUPLICATE) this.stats.duplicates++;
    return false;
  }

  /** Passes up, one by one, what `win` has in order now. */
  private deliverUp(win: SenderWindow): void {
    for (let m = win.removeNext(); m !== undefined; m = win.removeNext()) {
      this.stats.msgsDelivered++;
      this.upProt.up(m);
    }
  }

  /** Appends to `batch` what `win` has in order now. */
  private deliverInto(win: SenderWindow, batch: MessageBatch): void {
    for (let m = win.removeNext(); m !== undefined; m = win.removeNext()) {
      this.stats.msgsDelivered++;
      batch.add(m);
    }
  }

  private windowOf(sender: Address | null): SenderWindow | undefined {
    if (sender === null) return undefined;
    return sender === this.localAddress ? this.own : this.windows.get(sender);
  }

  /**
   * The window of `sender`, which the view (or the digest of a join or merge) created. A message
   * from a sender without one is dropped, never the start of a window: where its stream starts is
   * known only from a digest (it is resent if it belongs to a view we install later).
   */
  private senderWindow(sender: Address | null, seqno: number): SenderWindow | undefined {
    if (sender === null || seqno <= 0) return undefined;
    const win = this.windowOf(sender);
    if (win !== undefined) return win;
    this.stats.droppedNonMember++;
    return undefined;
  }

  private handleControl(msg: Message, h: Header): void {
    try {
      switch (h.type) {
        case T.XMIT_REQ:
          this.onXmitReq(msg.src!, Address.fromBytes(h.sender ?? NO_BYTES), h.missing ?? []);
          break;
        case T.HIGHEST_SEQNO: {
          const w = this.windows.get(msg.src!);
          if (w === undefined) break;
          if (h.seqno - w.highestDelivered > MAX_AHEAD) this.stats.droppedTooFar++;
          else w.raiseHighestReceived(h.seqno);
          break;
        }
        case T.FIRST_SEQNO: {
          // Only the sender knows what is purged everywhere (another member's window may merely start later).
          const sender = Address.fromBytes(h.sender ?? NO_BYTES);
          const w = this.windows.get(sender);
          if (w === undefined || msg.src !== sender) break;
          const from = w.highestDelivered + 1;
          if (!w.skipTo(h.seqno)) break;
          this.stats.gapsSkipped++;
          this.stats.messagesSkipped += h.seqno - from;
          this.log.warn(`${this.localAddress}: ${sender}'s messages ${from}..${h.seqno - 1} are gone everywhere (sent before we shared a view); skipping them`);
          this.deliverUp(w);
          break;
        }
      }
    } catch (err) {
      this.log.warn(`dropped a malformed NAKACK2 message from ${msg.src}`, err);
    }
  }

  // ---- retransmission ----
  /**
   * A gap opened: look again after xmit_first_delay rather than at the next round (up to
   * xmit_interval away). A datagram lost while flow control holds the senders would otherwise
   * stall the whole group for a round.
   */
  private armFirstXmit(): void {
    if (this.firstXmitTask !== null || this.xmitFirstDelay <= 0 || this.xmitFirstDelay >= this.xmitInterval) return;
    this.firstXmitTask = this.timer.schedule(this.xmitFirstDelay, this.onFirstXmit);
  }

  /** Asks the senders for the gaps not asked for yet; gaps already asked for wait for the round. */
  private readonly onFirstXmit = (): void => {
    this.firstXmitTask = null;
    const view = this.view;
    if (view === null) return;
    for (const [sender, w] of this.windows) {
      if (w === this.own || w.numMissing() === 0) continue;
      const missing = w.missing(this.maxXmitReqSize);
      if (missing[0] === w.lastMissing || !view.containsMember(sender)) continue;
      w.lastMissing = missing[0]!;
      this.xmitRequest(sender, sender, missing);
    }
  };

  private readonly onXmitTimer = (): void => {
    const view = this.view;
    if (view === null) return;
    // Ask for gaps: the original sender first; if the same gap is still open after two rounds
    // (the sender may be dead), any other member that may have the messages, in turn.
    for (const [sender, w] of this.windows) {
      if (w.numMissing() === 0) {
        w.stuckRounds = 0;
        continue;
      }
      const missing = w.missing(this.maxXmitReqSize);
      if (missing[0] === w.lastMissing) w.stuckRounds++;
      else w.stuckRounds = 0;
      w.lastMissing = missing[0]!;
      const from = this.xmitTarget(view, sender, w.stuckRounds);
      if (from === undefined) continue;
      this.xmitRequest(from, sender, missing);
    }
    // Own multicasts sent before the last round that are not back yet were dropped below us.
    const self = this.localAddress;
    this.own.raiseHighestReceived(this.seqnoAtLastRound);
    this.seqnoAtLastRound = this.seqno;
    if (self !== null && this.own.numMissing() > 0) this.xmitRequest(self, self, this.own.missing(this.maxXmitReqSize));
    // Announce our highest seqno while someone may lack the tail.
    if (this.seqno > 0 && view.size() > 1 && (this.announceLeft > 0 || this.stableOwn < this.seqno)) {
      if (this.announceLeft > 0) this.announceLeft--;
      if (this.seqno !== this.lastAnnounced || this.stableOwn < this.seqno) {
        this.lastAnnounced = this.seqno;
        this.stats.highestSeqnoSent++;
        this.sendControl(null, { type: T.HIGHEST_SEQNO, seqno: this.seqno, missing: null, sender: null });
      }
    }
  };

  private xmitRequest(from: Address, sender: Address, missing: number[]): void {
    this.stats.xmitReqsSent++;
    this.sendControl(from, { type: T.XMIT_REQ, seqno: 0, missing, sender: sender.bytes });
  }

  /**
   * Whom to ask for `sender`'s gap: the sender for two rounds, then, while the gap stays open,
   * every member in turn, the sender included (a lost request or answer must not make us stop
   * asking the one member sure to hold its messages).
   */
  private xmitTarget(view: View, sender: Address, stuckRounds: number): Address | undefined {
    const inView = view.containsMember(sender);
    if (inView && stuckRounds < 2) return sender;
    const candidates = view.members.filter((m) => m !== this.localAddress);
    return candidates.length === 0 ? undefined : candidates[stuckRounds % candidates.length];
  }

  private onXmitReq(requester: Address, sender: Address, missing: number[]): void {
    this.stats.xmitReqsReceived++;
    const own = sender === this.localAddress;
    const win = own ? this.sent : this.windows.get(sender);
    if (win === undefined) return;
    let purged = false;
    for (const s of missing) {
      const m = win.get(s);
      if (m === undefined) {
        if (s <= win.low) purged = true;
        continue;
      }
      const copy = m.copy();
      copy.dest = requester;
      copy.putHeader(ID, { type: T.XMIT_RSP, seqno: s, missing: null, sender: null } satisfies Header);
      this.stats.xmitsSent++;
      void this.downProt.down(copy);
    }
    // Purged here means delivered by every member of our views since (STABLE), so a member of our
    // current view asking for it was not in the view it was purged in: it was sent before this view
    // was installed here. Only the sender says so; a member's window may merely start later.
    if (purged && own && this.view?.containsMember(requester) === true) {
      const first = Math.min(win.low, this.seqnoAtView) + 1;
      this.sendControl(requester, { type: T.FIRST_SEQNO, seqno: first, missing: null, sender: sender.bytes });
    }
  }

  private sendControl(dest: Address | null, h: Header): void {
    const msg = new Message(dest).setFlag(Flag.OOB, Flag.NO_RELIABILITY, Flag.DONT_LOOPBACK).putHeader(ID, h);
    void this.downProt.down(msg);
  }

  // ---- membership and digests ----
  protected override viewChanged(view: View): void {
    const self = this.localAddress;
    const prev = this.view;
    this.view = view;
    this.seqnoAtView = this.seqno;
    for (const m of view.members) {
      if (m === self || this.windows.has(m)) continue;
      // A joiner starts at seqno 1. A member that came in with a merge but is missing from the
      // merge digest (the leader had no answer with it): its stream is asked for from the start,
      // and what nobody holds any more is skipped (FIRST_SEQNO), counted and logged.
      if (view instanceof MergeView && prev !== null) this.log.warn(`${self}: ${m} came in with ${view.viewId} but not in its digest; asking for its stream from the start`);
      this.windows.set(m, newWindow(this.takeDeparted(m, 0)));
    }
    // A sender that left: what it sent after a gap is never delivered here (nothing past a gap is).
    for (const [m, w] of [...this.windows]) {
      if (view.containsMember(m)) continue;
      this.windows.delete(m);
      this.departed.delete(m);
      this.departed.set(m, w.highestDelivered);
      if (this.departed.size > MAX_DEPARTED) this.departed.delete(this.departed.keys().next().value!);
      if (w.numMissing() === 0) continue;
      const lost = w.highestReceived - w.highestDelivered;
      this.stats.leftWithGaps++;
      this.stats.undeliveredOfLeft += lost;
      this.log.warn(`${self}: ${m} left with ${w.numMissing()} of its messages missing here; its seqnos above ${w.highestDelivered} (${lost}) are not delivered`);
    }
  }

  private getDigest(): Digest {
    const d = new Digest();
    const self = this.localAddress;
    if (self !== null) d.set(self, this.seqno, this.seqno);
    for (const [m, w] of this.windows) d.set(m, w.highestDelivered, w.highestReceived);
    return d;
  }

  /** A joiner learns where each sender's stream starts. */
  private setDigest(digest: Digest): void {
    const self = this.localAddress;
    for (const [m, r] of digest) {
      if (m === self) continue;
      this.windows.set(m, newWindow(r.highestDelivered));
    }
  }

  /**
   * The digest that comes with a MergeView (just before it): each sender we have no window for
   * (it was in another subgroup) gets one starting right after the digest's highest delivered
   * seqno of it (or after what we delivered of it before it left, if that is more), so everything
   * it multicasts in the merged view is delivered here, in order and once; gaps are asked for like
   * any others. Senders we already have keep their state.
   */
  private mergeDigest(digest: Digest): void {
    const self = this.localAddress;
    this.stats.mergeDigests++;
    for (const [m, r] of digest) {
      if (m === self || this.windows.has(m)) continue;
      const w = newWindow(this.takeDeparted(m, r.highestDelivered));
      // Announced but not delivered yet: ask for it rather than wait for the next message.
      w.raiseHighestReceived(r.highestReceived);
      this.windows.set(m, w);
      this.stats.mergeWindows++;
    }
  }

  /** Where a window for `sender` starts: at `from`, or past what we delivered of it before it left. */
  private takeDeparted(sender: Address, from: number): number {
    const delivered = this.departed.get(sender);
    if (delivered === undefined) return from;
    this.departed.delete(sender);
    return Math.max(from, delivered);
  }

  private onStable(digest: Digest): void {
    const self = this.localAddress;
    for (const [m, r] of digest) {
      if (m === self) {
        this.stableOwn = Math.max(this.stableOwn, r.highestDelivered);
        // Never an own multicast that has not come back to us yet (lost below us on its way
        // back): we fetch it from this table, and nobody else would resend it to us.
        this.stats.purged += this.sent.purge(Math.min(r.highestDelivered, this.own.highestDelivered));
      } else {
        const w = this.windows.get(m);
        if (w !== undefined) this.stats.purged += w.purge(r.highestDelivered);
      }
    }
  }
}

/** Another member's stream: delivered messages are kept, others may ask us for them. */
function newWindow(highestDelivered: number): SenderWindow {
  return new SenderWindow(highestDelivered, { maxAhead: MAX_AHEAD });
}

function newOwnWindow(): SenderWindow {
  return new SenderWindow(0, { retainDelivered: false });
}

function newSentTable(): SeqnoTable<Message> {
  return new SeqnoTable<Message>(0);
}
