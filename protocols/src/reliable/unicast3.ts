import {
  type Address,
  type DownResult,
  type EndOfTurnTask,
  Flag,
  type HeaderCodec,
  Message,
  type MessageBatch,
  Protocol,
  type PropertyDecls,
  type ScheduledTask,
  SeqnoAdd,
  SeqnoTable,
  type View,
  RateLimitedLog,
} from '@tsgroups/core';
import { tsgroups } from '../generated/headers.js';
import { ProtocolId } from '../ids.js';
import { SeqnoHeaderCodec, UINT32_FIELD } from './seqno-header-codec.js';

const T = tsgroups.protocols.UnicastHeader.Type;
const ID = ProtocolId.UNICAST3;

/** The UNICAST3 header (wire format: `UnicastHeader` in headers.proto). Never mutated once attached. */
export interface UnicastHeader {
  type: number;
  /** DATA: the message's seqno; ACK: highest seqno delivered in order; FIRST_SEQNO: lowest seqno the sender still holds. */
  seqno: number;
  connId: number;
  /** XMIT_REQ: the seqnos to resend. */
  missing: number[] | null;
}

/** `UnicastHeader` in headers.proto: type, seqno, conn_id (field 3), missing (field 4). */
const unicastHeaderCodec = new SeqnoHeaderCodec<UnicastHeader, number>({
  missingField: 4,
  extraField: 3,
  extra: UINT32_FIELD,
  getExtra: (h) => h.connId,
  create: (type, seqno, missing, connId) => ({ type, seqno, connId, missing }),
});

/** A receive window buffers at most this far above highestDelivered; later seqnos are retransmitted when the window moves. */
const MAX_WINDOW = 1 << 18;
/**
 * Receive windows of senders outside the view (joiners, other subgroups' coordinators during a
 * merge, or made-up addresses) kept at most; a new one beyond it evicts the oldest (a real
 * sender's window comes back with its next message and FIRST_SEQNO).
 */
const MAX_STRANGER_WINDOWS = 256;
/**
 * A window of a sender outside the view buffers at most this far above what it delivered;
 * further seqnos are only noted (and asked for), so a made-up seqno costs no memory.
 */
const STRANGER_MAX_AHEAD = 1024;
/** Messages of an unconfirmed connection held while its sender is asked (the rest are resent later). */
const MAX_HELD = 512;
/** Xmit ticks a CONN_CHECK is repeated (a lost check or answer) before the new conn id is refused. */
const MAX_CHECK_TICKS = 8;
/**
 * Messages from one sender since its last ack from which the ack goes at the end of the turn;
 * below it the ack waits up to the ack delay (a sequential RPC's request and answer then travel
 * without an ack each: the ack is a message to encode, send and decode, and alone a datagram).
 */
const ACK_THRESHOLD = 16;
/** The longest an ack waits (ms); at most a quarter of xmitInterval, so no sender resends for want of it. */
const MAX_ACK_DELAY = 50;

/** Sender side: what this member sent to one destination and that was not acknowledged yet. */
class SendConn {
  nextSeqno = 1;
  /** Unacknowledged messages: everything at or below `unacked.low` was acknowledged. */
  readonly unacked = new SeqnoTable<Message>(0);
  /** The xmit tick at which the lowest unacked message became the lowest (its age in ticks). */
  oldestSinceTick = 0;
  /** When the connection closes because its peer left the view (`performance.now()`); 0: open. */
  closeAt = 0;
  constructor(
    readonly peer: Address,
    readonly connId: number,
  ) {}
}

/** Receiver side: one sender's connection as this member receives it (delivered messages are not kept). */
class RecvWin extends SeqnoTable<Message> {
  ackPending = false;
  /** Messages received since the last ack was sent. */
  sinceAck = 0;
  /** An ack went out on this connection (its first message is acknowledged without the delay). */
  acked = false;
  closeAt = 0;
  /**
   * Another conn id seen from the peer while this connection is open (0: none): the peer
   * reopened its connection, or the message is stray (forged, corrupted). Until the peer confirms
   * it (CONN_ID), this window stays and the new connection's messages wait in `unconfirmed`.
   */
  pendingConnId = 0;
  pendingTicks = 0;
  /** The sender was not in the view when the window opened, and has not been in one since. */
  stranger = false;
  unconfirmed: Message[] = [];
  constructor(
    readonly peer: Address,
    readonly connId: number,
    /** The connection this one replaced: its late messages are dropped. */
    readonly prevConnId: number,
  ) {
    super(0, { retainDelivered: false, maxAhead: MAX_WINDOW });
  }
}

/**
 * Reliable, exactly-once, FIFO unicast, after JGroups' UNICAST3.
 *
 * Each unicast (not NO_RELIABILITY, not to oneself) carries a seqno of the connection to its
 * destination. The sender keeps a message until the receiver acknowledges it; the receiver
 * delivers each sender's messages in order (OOB ones at once), drops duplicates and
 * acknowledges cumulatively: at the end of the turn once ACK_THRESHOLD messages (or a duplicate,
 * a resend that says an ack was lost, or a new connection's first message) came from a sender
 * since its last ack, otherwise after a short delay (a quarter of `xmitInterval`, at most
 * 50 ms), so that a trickle of messages, an RPC's requests and answers, goes without an ack
 * message each. Every
 * `xmitInterval`, receivers ask for the gaps they see (XMIT_REQ) and senders resend their
 * highest unacknowledged message if the oldest is older than an interval, so that a lost tail
 * is noticed. A sender asked for seqnos it already purged answers FIRST_SEQNO, which moves the
 * receiver's window past them. Connections to members that left the view close after
 * `connCloseTimeout`.
 *
 * A message on a new conn id from a sender whose connection is open does not replace it at once:
 * the receiver asks the sender (CONN_CHECK) and switches only when the sender answers that this
 * is its connection (CONN_ID); meanwhile the open connection goes on and the new one's messages
 * wait (at most MAX_HELD). So one stray or forged message cannot cut a member's unicasts off.
 * Windows of senders outside the view are bounded in number and in how far ahead they buffer
 * (MAX_STRANGER_WINDOWS, STRANGER_MAX_AHEAD).
 */
export class UNICAST3 extends Protocol {
  static override readonly protocolName = 'UNICAST3';
  static override readonly id = ProtocolId.UNICAST3;
  static override readonly headerCodec = unicastHeaderCodec as HeaderCodec;
  static override readonly provides: readonly string[] = ['reliable-unicast'];
  static override readonly requiresBelow: readonly string[] = ['transport'];
  static override readonly properties: PropertyDecls = {
    xmitInterval: { type: 'duration', min: 1, description: 'How often gaps are asked for and unacknowledged tails resent' },
    connCloseTimeout: { type: 'duration', description: 'How long connections to a member that left the view are kept' },
    maxXmitReqSize: { type: 'int', min: 1, description: 'Most seqnos asked for in one XMIT_REQ' },
  };

  xmitInterval = 500;
  connCloseTimeout = 10_000;
  maxXmitReqSize = 1000;

  private readonly sendConns = new Map<Address, SendConn>();
  private readonly recvWins = new Map<Address, RecvWin>();
  /** Senders whose window is a stranger's, oldest first (see MAX_STRANGER_WINDOWS). */
  private readonly strangers = new Set<Address>();
  private view: View | null = null;
  private running = false;
  private task: ScheduledTask | null = null;
  private ticks = 0;
  /** Refused connections, logged at most once per 10 s. */
  private readonly rejections = new RateLimitedLog(this.log);

  /** Windows that received something this turn: each acknowledges once, at the end of the turn. */
  private ackQueue: RecvWin[] = [];
  private ackTask: EndOfTurnTask | null = null;
  /** Sends the acks below ACK_THRESHOLD after the ack delay (null: none scheduled). */
  private delayedAckTask: ScheduledTask | null = null;

  readonly stats = {
    msgsSent: 0,
    msgsReceived: 0,
    acksSent: 0,
    acksReceived: 0,
    xmitReqsSent: 0,
    xmitReqsReceived: 0,
    xmitsSent: 0,
    duplicatesDropped: 0,
    firstSeqnosSent: 0,
    firstSeqnosReceived: 0,
    connectionsReplaced: 0,
    connectionsClosed: 0,
    /** CONN_CHECKs sent: a new conn id came from a sender with an open connection (resynchronisations). */
    connChecksSent: 0,
    connChecksReceived: 0,
    /** New conn ids their sender did not confirm (stray or forged): their messages were dropped. */
    connIdRejected: 0,
    /** Windows of senders outside the view dropped to keep at most MAX_STRANGER_WINDOWS. */
    strangerWindowsEvicted: 0,
    /** Messages from senders outside the view too far above their window: noted, not held. */
    strangerTooFar: 0,
  };

  override start(): void {
    this.running = true;
    this.task = this.timer.scheduleWithFixedDelay(this.xmitInterval, this.xmitInterval, this.onTick);
    this.ackTask = this.timer.endOfTurnTask(this.flushAcks);
  }

  override stop(): void {
    this.running = false;
    this.task?.cancel();
    this.task = null;
    this.ackTask?.cancel();
    this.delayedAckTask?.cancel();
    this.delayedAckTask = null;
    this.sendConns.clear();
    this.recvWins.clear();
    this.strangers.clear();
    this.ackQueue = [];
    this.view = null;
  }

  override getStats(): Record<string, number> {
    return {
      ...this.stats,
      unacked: this.getUnackedCount(),
      sendConnections: this.sendConns.size,
      receiveWindows: this.recvWins.size,
    };
  }

  /** Messages sent and not acknowledged yet, to `dest` or to all destinations. */
  getUnackedCount(dest?: Address): number {
    if (dest !== undefined) return this.sendConns.get(dest)?.unacked.size() ?? 0;
    let n = 0;
    for (const c of this.sendConns.values()) n += c.unacked.size();
    return n;
  }

  /** Destinations this member has a send connection to. */
  getSendConnections(): Address[] {
    return [...this.sendConns.keys()];
  }

  /** Senders this member has a receive window for. */
  getReceiveWindows(): Address[] {
    return [...this.recvWins.keys()];
  }

  /** For tests: forgets `sender`'s receive window, as if this member had lost its state. */
  removeReceiveWindow(sender: Address): boolean {
    this.strangers.delete(sender);
    return this.recvWins.delete(sender);
  }

  /** Closes the send connection to `dest` now; the next unicast opens a new one (new conn id). */
  removeSendConnection(dest: Address): boolean {
    return this.sendConns.delete(dest);
  }

  protected override viewChanged(view: View): void {
    this.view = view;
    for (const a of this.strangers) {
      if (!view.containsMember(a)) continue;
      this.strangers.delete(a);
      const w = this.recvWins.get(a);
      if (w !== undefined) w.stranger = false;
    }
  }

  // ---- sending ----
  override down(msg: Message): DownResult {
    const dest = msg.dest;
    if (dest === null || (msg.flags & Flag.NO_RELIABILITY) !== 0 || !this.running || dest === this.localAddress) {
      return this.downProt.down(msg);
    }
    let conn = this.sendConns.get(dest);
    if (conn === undefined) {
      conn = new SendConn(dest, randomConnId());
      this.sendConns.set(dest, conn);
    }
    const seqno = conn.nextSeqno++;
    const hdr: UnicastHeader = { type: T.DATA, seqno, connId: conn.connId, missing: null };
    msg.putHeader(ID, hdr);
    if (conn.unacked.size() === 0) conn.oldestSinceTick = this.ticks;
    conn.unacked.add(seqno, msg);
    this.stats.msgsSent++;
    return this.downProt.down(msg);
  }

  // ---- receiving ----
  // The receive rule is `receive`: up() applies it to one message, upBatch() to each message of
  // a batch, keeping in place those it delivers at once and appending those it released.

  override up(msg: Message): void {
    const h = msg.getHeader<UnicastHeader>(ID);
    const from = msg.src;
    if (h === undefined || from === null) return this.upProt.up(msg);
    if (this.receive(msg, h, from)) this.upProt.up(msg);
    const w = this.recvWins.get(from);
    if (w !== undefined) this.deliverUp(w);
  }

  override upBatch(batch: MessageBatch): void {
    // Multicasts and messages to oneself carry no seqno of ours.
    if (batch.multicast || batch.sender === this.localAddress) return this.upProt.upBatch(batch);
    batch.removeIf(this.takeFromBatch);
    // What the batch released follows what it delivered in place (all of lower seqnos).
    const w = this.recvWins.get(batch.sender);
    if (w !== undefined) this.deliverInto(w, batch);
    if (!batch.isEmpty()) this.upProt.upBatch(batch);
  }

  /** true: take the message out of its batch (control, duplicate, buffered). */
  private readonly takeFromBatch = (msg: Message): boolean => {
    const h = msg.getHeader<UnicastHeader>(ID);
    const from = msg.src;
    return h !== undefined && from !== null && !this.receive(msg, h, from);
  };

  /**
   * The receive rule for a message with our header. true: the caller passes `msg` up now (the
   * next of its connection, or OOB); what it releases the caller takes from the sender's window
   * afterwards. Control messages are handled here in full.
   */
  private receive(msg: Message, h: UnicastHeader, from: Address): boolean {
    if (h.type !== T.DATA) {
      this.handleControl(from, h);
      return false;
    }
    this.stats.msgsReceived++;
    const win = this.windowFor(from, h.connId, msg);
    if (win === null) return false;
    if (win.stranger && h.seqno - win.highestDelivered > STRANGER_MAX_AHEAD) {
      this.stats.strangerTooFar++;
      win.raiseHighestReceived(h.seqno); // the gap is asked for; FIRST_SEQNO moves the window if it is real
      return false;
    }
    const r = win.add(h.seqno, msg, (msg.flags & Flag.OOB) !== 0);
    if (r === SeqnoAdd.DUPLICATE) this.stats.duplicatesDropped++;
    // A duplicate is a resend: the sender missed an ack, so it gets one at once.
    this.needAck(win, r === SeqnoAdd.DUPLICATE);
    // TOO_FAR: the window noted it, so the gap below it is asked for; it is resent later.
    return r === SeqnoAdd.DELIVER;
  }

  /**
   * The receive window of `from` for connection `connId`; null for a late message of a replaced
   * connection, or one of a new connection the sender has not confirmed yet (`msg` then waits in
   * the open window's `unconfirmed`).
   */
  private windowFor(from: Address, connId: number, msg: Message): RecvWin | null {
    const w = this.recvWins.get(from);
    if (w === undefined) {
      const nw = new RecvWin(from, connId, -1);
      this.recvWins.set(from, nw);
      if (this.view?.containsMember(from) !== true) this.addStranger(nw);
      return nw;
    }
    if (w.connId === connId) return w;
    if (w.prevConnId === connId) {
      this.stats.duplicatesDropped++;
      return null;
    }
    if (w.pendingConnId !== connId) {
      // One check at a time: another new conn id waits until this one is answered or refused.
      if (w.pendingConnId !== 0) return null;
      w.pendingConnId = connId;
      w.pendingTicks = 0;
      this.sendConnCheck(w);
    }
    if (w.unconfirmed.length < MAX_HELD) w.unconfirmed.push(msg);
    return null;
  }

  private addStranger(w: RecvWin): void {
    w.stranger = true;
    this.strangers.add(w.peer);
    if (this.strangers.size <= MAX_STRANGER_WINDOWS) return;
    const oldest = this.strangers.values().next().value!;
    this.strangers.delete(oldest);
    if (this.recvWins.get(oldest)?.stranger === true) {
      this.recvWins.delete(oldest);
      this.stats.strangerWindowsEvicted++;
    }
  }

  private sendConnCheck(w: RecvWin): void {
    this.stats.connChecksSent++;
    this.sendControl(w.peer, { type: T.CONN_CHECK, seqno: 0, connId: w.pendingConnId, missing: null });
  }

  /** The sender answered a CONN_CHECK: its connection to us is `connId` (0: none). */
  private onConnId(from: Address, connId: number): void {
    const w = this.recvWins.get(from);
    if (w === undefined || w.pendingConnId === 0) return;
    if (connId !== w.pendingConnId) {
      this.refusePending(w, `${from} says its connection is ${connId === w.connId ? 'the open one' : connId === 0 ? 'none' : 'another'}`);
      return;
    }
    // Confirmed: the sender reopened its connection. The new window starts with what was held.
    this.stats.connectionsReplaced++;
    if (this.log.isEnabled('debug')) this.log.debug(`${this.localAddress}: ${from} opened a new connection; resetting its window`);
    const nw = new RecvWin(from, connId, w.connId);
    nw.stranger = w.stranger;
    this.recvWins.set(from, nw);
    // What waited goes up now, on its own (as a retransmission would), with what it releases.
    for (const m of w.unconfirmed) {
      const r = nw.add(m.getHeader<UnicastHeader>(ID)!.seqno, m, (m.flags & Flag.OOB) !== 0);
      if (r === SeqnoAdd.DELIVER) this.upProt.up(m);
      else if (r === SeqnoAdd.DUPLICATE) this.stats.duplicatesDropped++;
    }
    w.unconfirmed = [];
    this.deliverUp(nw);
    this.needAck(nw, true);
  }

  private refusePending(w: RecvWin, why: string): void {
    this.stats.connIdRejected++;
    this.logRejected(`${this.localAddress}: dropped ${w.unconfirmed.length} message(s) of connection ${w.pendingConnId} from ${w.peer}: ${why}`);
    w.pendingConnId = 0;
    w.pendingTicks = 0;
    w.unconfirmed = [];
  }

  /** Logs a refused connection at most once per 10 s (no log floods; the stats count all). */
  private logRejected(text: string): void {
    this.rejections.warn('connection', text);
  }

  /** Passes up, one by one, what `win` has in order now. */
  private deliverUp(win: RecvWin): void {
    for (let m = win.removeNext(); m !== undefined; m = win.removeNext()) this.upProt.up(m);
  }

  /** Appends to `batch` what `win` has in order now. */
  private deliverInto(win: RecvWin, batch: MessageBatch): void {
    for (let m = win.removeNext(); m !== undefined; m = win.removeNext()) batch.add(m);
  }

  private handleControl(from: Address, h: UnicastHeader): void {
    switch (h.type) {
      case T.ACK:
        this.onAck(from, h);
        break;
      case T.XMIT_REQ:
        this.onXmitReq(from, h);
        break;
      case T.CONN_CHECK: {
        // Answer which connection to this receiver is ours; it decides whether to switch.
        this.stats.connChecksReceived++;
        this.sendControl(from, { type: T.CONN_ID, seqno: 0, connId: this.sendConns.get(from)?.connId ?? 0, missing: null });
        break;
      }
      case T.CONN_ID:
        this.onConnId(from, h.connId);
        break;
      case T.FIRST_SEQNO: {
        this.stats.firstSeqnosReceived++;
        const w = this.recvWins.get(from);
        if (w !== undefined && w.connId === h.connId && w.skipTo(h.seqno)) {
          if (this.log.isEnabled('debug')) this.log.debug(`${this.localAddress}: ${from} starts at ${h.seqno}; window moved`);
        }
        break;
      }
    }
  }

  // ---- acknowledgements ----
  /** `win` received a message: its ack goes at the end of the turn (`now`, or past ACK_THRESHOLD) or after the ack delay. */
  private needAck(win: RecvWin, now = false): void {
    if (!win.ackPending) {
      win.ackPending = true;
      this.ackQueue.push(win);
    }
    // A new connection's first ack is not delayed: it is requested before what the message
    // causes this turn, so the ack opens the bundle to the sender and what we answer in the same
    // turn (a JOIN_RSP) leaves ahead of the multicasts it precedes (a new view's, which a joiner
    // without the JOIN_RSP's digest drops and has to get resent).
    if (now || !win.acked || ++win.sinceAck >= ACK_THRESHOLD) this.ackTask?.request();
    else if (this.delayedAckTask === null && this.running) {
      this.delayedAckTask = this.timer.schedule(Math.min(MAX_ACK_DELAY, this.xmitInterval / 4), this.onAckDelay);
    }
  }

  private readonly onAckDelay = (): void => {
    this.delayedAckTask = null;
    this.flushAcks();
  };

  private readonly flushAcks = (): void => {
    const q = this.ackQueue;
    this.ackQueue = [];
    if (!this.running) return;
    for (const w of q) {
      w.ackPending = false;
      w.sinceAck = 0;
      if (this.recvWins.get(w.peer) !== w) continue;
      w.acked = true;
      this.sendControl(w.peer, { type: T.ACK, seqno: w.highestDelivered, connId: w.connId, missing: null });
      this.stats.acksSent++;
    }
  };

  private onAck(from: Address, h: UnicastHeader): void {
    this.stats.acksReceived++;
    const c = this.sendConns.get(from);
    if (c === undefined || c.connId !== h.connId) return;
    const u = c.unacked;
    if (u.purge(Math.min(h.seqno, c.nextSeqno - 1)) > 0 && u.size() > 0) c.oldestSinceTick = this.ticks;
  }

  // ---- retransmission ----
  private onXmitReq(from: Address, h: UnicastHeader): void {
    this.stats.xmitReqsReceived++;
    const c = this.sendConns.get(from);
    const missing = h.missing;
    if (c === undefined || c.connId !== h.connId || missing === null) return;
    const u = c.unacked;
    let purged = false;
    for (let i = 0; i < missing.length; i++) {
      const s = missing[i]!;
      if (s <= u.low) {
        purged = true;
        continue;
      }
      const m = u.get(s);
      if (m !== undefined) this.resend(m);
    }
    if (purged) {
      this.stats.firstSeqnosSent++;
      this.sendControl(from, { type: T.FIRST_SEQNO, seqno: u.low + 1, connId: c.connId, missing: null });
    }
  }

  private resend(m: Message): void {
    this.stats.xmitsSent++;
    try {
      void this.downProt.down(m.copy());
    } catch (err) {
      this.log.warn(`resending to ${m.dest} failed`, err);
    }
  }

  private readonly onTick = (): void => {
    if (!this.running) return;
    const tick = ++this.ticks;
    // Senders: a tail that stays unacknowledged for more than an interval is resent (its last
    // message), so a receiver that lost it learns the highest seqno and asks for the rest.
    for (const c of this.sendConns.values()) {
      if (c.unacked.size() > 0 && tick - c.oldestSinceTick > 1) {
        const m = c.unacked.get(c.nextSeqno - 1);
        if (m !== undefined) this.resend(m);
      }
    }
    // Receivers: ask for the gaps, and again whether an unconfirmed connection is the sender's.
    for (const w of this.recvWins.values()) {
      if (w.pendingConnId !== 0) {
        if (++w.pendingTicks > MAX_CHECK_TICKS) this.refusePending(w, 'no answer to CONN_CHECK');
        else this.sendConnCheck(w);
      }
      if (w.numMissing() === 0) continue;
      this.stats.xmitReqsSent++;
      this.sendControl(w.peer, { type: T.XMIT_REQ, seqno: 0, connId: w.connId, missing: w.missing(this.maxXmitReqSize) });
    }
    this.reapConnections();
  };

  /** Closes connections to members that have been out of the view for connCloseTimeout. */
  private reapConnections(): void {
    const view = this.view;
    if (view === null) return;
    const now = performance.now();
    for (const [a, c] of this.sendConns) {
      if (view.containsMember(a)) c.closeAt = 0;
      else if (c.closeAt === 0) c.closeAt = now + this.connCloseTimeout;
      else if (now >= c.closeAt) {
        this.sendConns.delete(a);
        this.stats.connectionsClosed++;
      }
    }
    for (const [a, w] of this.recvWins) {
      if (view.containsMember(a)) w.closeAt = 0;
      else if (w.closeAt === 0) w.closeAt = now + this.connCloseTimeout;
      else if (now >= w.closeAt) {
        this.recvWins.delete(a);
        this.strangers.delete(a);
        this.stats.connectionsClosed++;
      }
    }
  }

  private sendControl(dest: Address, h: UnicastHeader): void {
    const msg = new Message(dest).setFlag(Flag.OOB).putHeader(ID, h);
    try {
      void this.downProt.down(msg);
    } catch (err) {
      this.log.warn(`sending to ${dest} failed`, err);
    }
  }
}

function randomConnId(): number {
  // Never 0: proto3 does not encode 0, and 0 would match a missing field.
  return ((Math.random() * 0xfffffffe) >>> 0) + 1;
}
