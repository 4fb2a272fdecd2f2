import {
  type Address,
  type DownResult,
  type Event,
  EventType,
  Flag,
  type HeaderCodec,
  int32Size,
  uint32Size,
  varintSize,
  Message,
  MessageBatch,
  Protocol,
  type PropertyDecls,
  type Reader,
  type ScheduledTask,
  type View,
  type Writer,
} from '@tsgroups/core';
import { tsgroups } from '../generated/headers.js';
import { ProtocolId } from '../ids.js';
import { packedVarintsSize, readRepeatedVarints, readVarint, writePackedVarints, writeVarint } from './varint.js';

const UnicastHeaderPb = tsgroups.protocols.UnicastHeader;
const T = UnicastHeaderPb.Type;
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

/**
 * The wire format is `UnicastHeader` in headers.proto (the generated code decodes it too), coded
 * by hand on the hot path: uint64 seqnos stay numbers, with no Long object per message.
 */
const unicastHeaderCodec: HeaderCodec<UnicastHeader> = {
  encode(h: UnicastHeader, w: Writer): unknown {
    if (h.type !== 0) w.uint32(8).int32(h.type);
    if (h.seqno !== 0) writeVarint(w.uint32(16), h.seqno);
    if (h.connId !== 0) w.uint32(24).uint32(h.connId);
    writePackedVarints(w, 34, h.missing);
    return w;
  },
  /** Exactly what encode writes, counted (the bundler asks for every unicast). */
  size(h: UnicastHeader): number {
    let n = h.type !== 0 ? 1 + int32Size(h.type) : 0;
    if (h.seqno !== 0) n += 1 + varintSize(h.seqno);
    if (h.connId !== 0) n += 1 + uint32Size(h.connId);
    return n + packedVarintsSize(h.missing);
  },
  decode(r: Reader, length: number): UnicastHeader {
    const end = r.pos + length;
    if (end > r.len) throw new RangeError('index out of range');
    let type = 0;
    let seqno = 0;
    let connId = 0;
    let missing: number[] | null = null;
    while (r.pos < end) {
      const tag = r.uint32();
      const wt = tag & 7;
      switch (tag >>> 3) {
        case 1:
          if (wt !== 0) break;
          type = r.int32();
          continue;
        case 2:
          if (wt !== 0) break;
          seqno = readVarint(r);
          continue;
        case 3:
          if (wt !== 0) break;
          connId = r.uint32();
          continue;
        case 4: {
          const list = readRepeatedVarints(r, wt, end, missing);
          if (list === undefined) break;
          missing = list;
          continue;
        }
      }
      r.skipType(wt);
    }
    if (r.pos !== end) throw new RangeError('header overran its length');
    return { type, seqno, connId, missing };
  },
};

/** Marks, in a receive window, a seqno whose (OOB) message was already delivered out of order. */
const DELIVERED = new Message(null);

/**
 * Messages keyed by seqno in a growable ring: the slot of seqno `s` is `(head + s - base) & mask`.
 * Adding at the end, removing at the front and looking up are O(1) (amortized for growth).
 */
class SeqnoRing {
  /** The seqno of the slot at `head`: nothing below it is held. */
  base: number;
  /** Slots in use. */
  count = 0;
  private slots: (Message | null)[];
  private head = 0;
  private mask: number;

  constructor(base: number, capacity = 16) {
    this.base = base;
    this.slots = new Array<Message | null>(capacity).fill(null);
    this.mask = capacity - 1;
  }

  capacity(): number {
    return this.mask + 1;
  }

  get(seqno: number): Message | null {
    const d = seqno - this.base;
    if (d < 0 || d > this.mask) return null;
    return this.slots[(this.head + d) & this.mask]!;
  }

  set(seqno: number, msg: Message): void {
    const d = seqno - this.base;
    if (d < 0) return;
    if (d > this.mask) this.grow(d + 1);
    const i = (this.head + d) & this.mask;
    if (this.slots[i] === null) this.count++;
    this.slots[i] = msg;
  }

  /** Removes and returns what `base` holds, and moves `base` up by one. */
  shift(): Message | null {
    const i = this.head;
    const m = this.slots[i]!;
    if (m !== null) {
      this.slots[i] = null;
      this.count--;
    }
    this.head = (i + 1) & this.mask;
    this.base++;
    return m;
  }

  /** Drops everything below `seqno` and moves `base` there. */
  advanceTo(seqno: number): void {
    while (this.base < seqno && this.count > 0) this.shift();
    if (this.base < seqno) this.base = seqno;
  }

  /** Releases a large empty array after a burst (keeps `base`). */
  shrinkIfEmpty(maxIdle: number): void {
    if (this.count !== 0 || this.mask < maxIdle) return;
    this.slots = new Array<Message | null>(16).fill(null);
    this.mask = 15;
    this.head = 0;
  }

  private grow(min: number): void {
    let cap = (this.mask + 1) * 2;
    while (cap < min) cap *= 2;
    const old = this.slots;
    const oldCap = this.mask + 1;
    const slots = new Array<Message | null>(cap).fill(null);
    for (let d = 0; d < oldCap; d++) slots[d] = old[(this.head + d) & this.mask]!;
    this.slots = slots;
    this.head = 0;
    this.mask = cap - 1;
  }
}

/** Sender side: what this member sent to one destination and that was not acknowledged yet. */
class SendConn {
  nextSeqno = 1;
  /** Unacknowledged messages; `unacked.base` is the lowest unacknowledged seqno. */
  readonly unacked = new SeqnoRing(1);
  /** The xmit tick at which the lowest unacked message became the lowest (its age in ticks). */
  oldestSinceTick = 0;
  /** When the connection closes because its peer left the view (`performance.now()`); 0: open. */
  closeAt = 0;
  constructor(
    readonly peer: Address,
    readonly connId: number,
  ) {}
}

/** Receiver side: one sender's connection as this member receives it. */
class RecvWin {
  highestDelivered = 0;
  highestReceived = 0;
  /** Messages above highestDelivered (and DELIVERED marks); `buf.base === highestDelivered + 1`. */
  readonly buf = new SeqnoRing(1);
  ackPending = false;
  closeAt = 0;
  constructor(
    readonly peer: Address,
    readonly connId: number,
    /** The connection this one replaced: its late messages are dropped. */
    readonly prevConnId: number,
  ) {}

  /** Moves highestDelivered to `seqno` - 1 if below (the sender no longer has what lies between). */
  skipTo(seqno: number): boolean {
    if (seqno - 1 <= this.highestDelivered) return false;
    this.buf.advanceTo(seqno);
    this.highestDelivered = seqno - 1;
    if (this.highestReceived < this.highestDelivered) this.highestReceived = this.highestDelivered;
    return true;
  }
}

const DROP = 0;
const DELIVER = 1;
const BUFFERED = 2;
/** A receive window buffers at most this far above highestDelivered; later seqnos are retransmitted when the window moves. */
const MAX_WINDOW = 1 << 18;

/**
 * Reliable, exactly-once, FIFO unicast, after JGroups' UNICAST3.
 *
 * Each unicast (not NO_RELIABILITY, not to oneself) carries a seqno of the connection to its
 * destination. The sender keeps a message until the receiver acknowledges it; the receiver
 * delivers each sender's messages in order (OOB ones at once), drops duplicates and
 * acknowledges cumulatively, at most once per event-loop turn per sender. Every
 * `xmitInterval`, receivers ask for the gaps they see (XMIT_REQ) and senders resend their
 * highest unacknowledged message if the oldest is older than an interval, so that a lost tail
 * is noticed. A sender asked for seqnos it already purged answers FIRST_SEQNO, which moves the
 * receiver's window past them. Connections to members that left the view close after
 * `connCloseTimeout`.
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
  private view: View | null = null;
  private running = false;
  private task: ScheduledTask | null = null;
  private ticks = 0;

  // Acks: windows that received something since the last flush; flushed once per turn.
  private ackQueue: RecvWin[] = [];
  private ackScheduled = false;

  // The batch being processed (so the batch path allocates no closure).
  private batchSender: Address | null = null;
  private batchWin: RecvWin | null = null;

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
  };

  override start(): void {
    this.running = true;
    this.task = this.timer.scheduleWithFixedDelay(this.xmitInterval, this.xmitInterval, this.onTick);
  }

  override stop(): void {
    this.running = false;
    this.task?.cancel();
    this.task = null;
    this.sendConns.clear();
    this.recvWins.clear();
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
    if (dest !== undefined) return this.sendConns.get(dest)?.unacked.count ?? 0;
    let n = 0;
    for (const c of this.sendConns.values()) n += c.unacked.count;
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
    return this.recvWins.delete(sender);
  }

  /** Closes the send connection to `dest` now; the next unicast opens a new one (new conn id). */
  removeSendConnection(dest: Address): boolean {
    return this.sendConns.delete(dest);
  }

  override downEvent(evt: Event): unknown {
    if (evt.type === EventType.VIEW_CHANGE) this.view = evt.arg as View;
    return this.downProt.downEvent(evt);
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
    if (conn.unacked.count === 0) conn.oldestSinceTick = this.ticks;
    conn.unacked.set(seqno, msg);
    this.stats.msgsSent++;
    return this.downProt.down(msg);
  }

  // ---- receiving ----
  override up(msg: Message): void {
    const h = msg.getHeader<UnicastHeader>(ID);
    const from = msg.src;
    if (h === undefined || from === null) {
      this.upProt.up(msg);
      return;
    }
    if (h.type !== T.DATA) {
      this.handleControl(from, h);
      const w = this.recvWins.get(from);
      if (w !== undefined) this.drain(w, null);
      return;
    }
    this.stats.msgsReceived++;
    const win = this.windowFor(from, h.connId);
    if (win === null) return;
    const r = this.accept(win, h.seqno, msg);
    if (r === DELIVER) this.upProt.up(msg);
    this.drain(win, null);
  }

  override upBatch(batch: MessageBatch): void {
    if (batch.multicast || batch.sender === this.localAddress) {
      this.upProt.upBatch(batch);
      return;
    }
    this.batchSender = batch.sender;
    this.batchWin = null;
    try {
      batch.removeIf(this.processInBatch);
    } finally {
      this.batchSender = null;
      this.batchWin = null;
    }
    // Messages that became deliverable go after those kept in the batch (all of lower seqnos).
    const w = this.recvWins.get(batch.sender);
    if (w !== undefined) this.drain(w, batch);
    if (!batch.isEmpty()) this.upProt.upBatch(batch);
  }

  /** true: take the message out of the batch (control, duplicate, buffered). */
  private readonly processInBatch = (msg: Message): boolean => {
    const h = msg.getHeader<UnicastHeader>(ID);
    if (h === undefined) return false;
    const from = this.batchSender!;
    if (h.type !== T.DATA) {
      this.handleControl(from, h);
      return true;
    }
    this.stats.msgsReceived++;
    let win = this.batchWin;
    if (win === null || win.connId !== h.connId) {
      win = this.windowFor(from, h.connId);
      if (win === null) return true;
      this.batchWin = win;
    }
    return this.accept(win, h.seqno, msg) !== DELIVER;
  };

  /** The receive window of `from` for connection `connId`; null for a late message of a replaced connection. */
  private windowFor(from: Address, connId: number): RecvWin | null {
    const w = this.recvWins.get(from);
    if (w !== undefined) {
      if (w.connId === connId) return w;
      if (w.prevConnId === connId) {
        this.stats.duplicatesDropped++;
        return null;
      }
      this.stats.connectionsReplaced++;
      if (this.log.isEnabled('debug')) this.log.debug(`${this.localAddress}: ${from} opened a new connection; resetting its window`);
    }
    const nw = new RecvWin(from, connId, w === undefined ? -1 : w.connId);
    this.recvWins.set(from, nw);
    return nw;
  }

  /** Files a received DATA message: DELIVER (now), BUFFERED (until the gap below fills) or DROP. */
  private accept(win: RecvWin, seqno: number, msg: Message): number {
    this.needAck(win);
    const hd = win.highestDelivered;
    if (seqno <= hd) {
      this.stats.duplicatesDropped++;
      return DROP;
    }
    if (seqno - hd > MAX_WINDOW) {
      // Too far ahead to hold: remember it exists (so we ask for the gap); it is resent later.
      if (seqno > win.highestReceived) win.highestReceived = seqno;
      return DROP;
    }
    if (win.buf.get(seqno) !== null) {
      this.stats.duplicatesDropped++;
      return DROP;
    }
    if (seqno > win.highestReceived) win.highestReceived = seqno;
    if (seqno === hd + 1) {
      win.highestDelivered = seqno;
      win.buf.shift();
      return DELIVER;
    }
    if ((msg.flags & Flag.OOB) !== 0) {
      win.buf.set(seqno, DELIVERED);
      return DELIVER;
    }
    win.buf.set(seqno, msg);
    return BUFFERED;
  }

  /** Delivers what became in order: appended to `batch`, or passed up one by one. */
  private drain(win: RecvWin, batch: MessageBatch | null): void {
    const buf = win.buf;
    for (;;) {
      if (buf.count === 0) return;
      const m = buf.get(buf.base);
      if (m === null) return;
      buf.shift();
      win.highestDelivered++;
      if (m === DELIVERED) continue;
      if (batch !== null) batch.add(m);
      else this.upProt.up(m);
    }
  }

  private handleControl(from: Address, h: UnicastHeader): void {
    switch (h.type) {
      case T.ACK:
        this.onAck(from, h);
        break;
      case T.XMIT_REQ:
        this.onXmitReq(from, h);
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
  private needAck(win: RecvWin): void {
    if (win.ackPending) return;
    win.ackPending = true;
    this.ackQueue.push(win);
    if (!this.ackScheduled) {
      this.ackScheduled = true;
      setImmediate(this.flushAcks);
    }
  }

  private readonly flushAcks = (): void => {
    this.ackScheduled = false;
    const q = this.ackQueue;
    this.ackQueue = [];
    if (!this.running) return;
    for (const w of q) {
      w.ackPending = false;
      if (this.recvWins.get(w.peer) !== w) continue;
      this.sendControl(w.peer, { type: T.ACK, seqno: w.highestDelivered, connId: w.connId, missing: null });
      this.stats.acksSent++;
    }
  };

  private onAck(from: Address, h: UnicastHeader): void {
    this.stats.acksReceived++;
    const c = this.sendConns.get(from);
    if (c === undefined || c.connId !== h.connId) return;
    const upTo = Math.min(h.seqno, c.nextSeqno - 1);
    const u = c.unacked;
    if (upTo < u.base) return;
    u.advanceTo(upTo + 1);
    if (u.count > 0) c.oldestSinceTick = this.ticks;
    else u.shrinkIfEmpty(4096);
  }

  // ---- retransmission ----
  private onXmitReq(from: Address, h: UnicastHeader): void {
    this.stats.xmitReqsReceived++;
    const c = this.sendConns.get(from);
    const missing = h.missing;
    if (c === undefined || c.connId !== h.connId || missing === null) return;
    const low = c.unacked.base;
    let purged = false;
    for (let i = 0; i < missing.length; i++) {
      const s = missing[i]!;
      if (s < low) {
        purged = true;
        continue;
      }
      const m = c.unacked.get(s);
      if (m !== null) this.resend(m);
    }
    if (purged) {
      this.stats.firstSeqnosSent++;
      this.sendControl(from, { type: T.FIRST_SEQNO, seqno: low, connId: c.connId, missing: null });
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
      if (c.unacked.count > 0 && tick - c.oldestSinceTick > 1) {
        const m = c.unacked.get(c.nextSeqno - 1);
        if (m !== null) this.resend(m);
      }
    }
    // Receivers: ask for the gaps.
    for (const w of this.recvWins.values()) {
      if (w.highestReceived <= w.highestDelivered) continue;
      let missing: number[] | null = null;
      const max = this.maxXmitReqSize;
      for (let s = w.highestDelivered + 1; s <= w.highestReceived; s++) {
        if (w.buf.get(s) === null) {
          (missing ??= []).push(s);
          if (missing.length >= max) break;
        }
      }
      if (missing !== null) {
        this.stats.xmitReqsSent++;
        this.sendControl(w.peer, { type: T.XMIT_REQ, seqno: 0, connId: w.connId, missing });
      }
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
