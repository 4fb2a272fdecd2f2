import {
  Address,
  Digest,
  type DownResult,
  Event,
  EventType,
  Flag,
  type HeaderCodec,
  delimitedSize,
  int32Size,
  varintSize,
  MergeView,
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
import { SeqnoWindow } from './seqno-window.js';
import { packedVarintsSize, readRepeatedVarints, readVarint, writePackedVarints, writeVarint } from './varint.js';

const T = tsgroups.protocols.NakAckHeader.Type;

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

/**
 * The wire format is `NakAckHeader` in headers.proto (the generated code decodes it too), coded
 * by hand as UNICAST3 does: the generated decoder makes a Long object of every uint64 seqno (and
 * `Number(long)` then goes through a string), an allocation per received multicast.
 */
const nakAckHeaderCodec: HeaderCodec<NakAckHeader> = {
  encode(h: NakAckHeader, w: Writer): unknown {
    if (h.type !== 0) w.uint32(8).int32(h.type);
    if (h.seqno !== 0) writeVarint(w.uint32(16), h.seqno);
    writePackedVarints(w, 26, h.missing);
    const sender = h.sender;
    if (sender !== null && sender.length > 0) w.uint32(34).bytes(sender);
    return w;
  },
  /** Exactly what encode writes, counted (the bundler asks for every multicast). */
  size(h: NakAckHeader): number {
    let n = h.type !== 0 ? 1 + int32Size(h.type) : 0;
    if (h.seqno !== 0) n += 1 + varintSize(h.seqno);
    n += packedVarintsSize(h.missing);
    const sender = h.sender;
    if (sender !== null && sender.length > 0) n += 1 + delimitedSize(sender.length);
    return n;
  },
  decode(r: Reader, length: number): NakAckHeader {
    const end = r.pos + length;
    if (end > r.len) throw new RangeError('index out of range');
    let type = 0;
    let seqno = 0;
    let missing: number[] | null = null;
    let sender: Uint8Array | null = null;
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
        case 3: {
          const list = readRepeatedVarints(r, wt, end, missing);
          if (list === undefined) break;
          missing = list;
          continue;
        }
        case 4: {
          if (wt !== 2) break;
          const b = r.bytes();
          sender = b.length > 0 ? b : null;
          continue;
        }
      }
      r.skipType(wt);
    }
    if (r.pos !== end) throw new RangeError('header overran its length');
    return { type, seqno, missing, sender };
  },
};

/**
 * Reliable multicast: every multicast gets the next seqno of its sender, receivers deliver each
 * sender's messages in seqno order (OOB ones at once), exactly once. A receiver that sees a gap
 * asks for the missing seqnos (XMIT_REQ) from the original sender, or from the coordinator if
 * the sender is gone; a sender that sent recently announces its highest seqno so that a lost
 * tail is noticed too. Delivered messages are kept for retransmission until STABLE reports
 * them delivered everywhere. A joiner starts each sender's stream where the coordinator's
 * digest says (GMS passes it at the join), so it never asks for what came before it.
 */
export class NAKACK2 extends Protocol {
  static override readonly protocolName = 'NAKACK2';
  static override readonly id = ProtocolId.NAKACK2;
  static override readonly headerCodec = nakAckHeaderCodec as HeaderCodec;
  static override readonly provides: readonly string[] = ['reliable-multicast'];
  static override readonly requiresBelow: readonly string[] = ['transport'];
  static override readonly properties: PropertyDecls = {
    xmitInterval: { type: 'duration', min: 1, description: 'How often gaps are looked for and asked for' },
    maxXmitReqSize: { type: 'int', min: 1, description: 'Most seqnos one XMIT_REQ asks for' },
    highestSeqnoRepeats: { type: 'int', min: 0, description: 'How many xmit intervals a sender keeps announcing its highest seqno after its last send' },
  };

  xmitInterval = 500;
  maxXmitReqSize = 1000;
  highestSeqnoRepeats = 4;

  private seqno = 0;
  /** Own multicasts, kept for retransmission until stable. */
  private sent = new SeqnoWindow(0);
  private readonly windows = new Map<Address, SeqnoWindow>();
  /** Members that came in with a merge: their window starts at the first message we see. */
  private readonly lazy = new Set<Address>();
  private view: View | null = null;
  private xmitTask: ScheduledTask | null = null;
  private announceLeft = 0;
  private lastAnnounced = 0;
  private stableOwn = 0;
  private ownQueue: Message[] = [];
  private ownFlushScheduled = false;

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
    purged: 0,
  };

  override start(): void {
    this.xmitTask = this.timer.scheduleWithFixedDelay(this.xmitInterval, this.xmitInterval, () => this.onXmitTimer());
  }

  override stop(): void {
    this.xmitTask?.cancel();
    this.xmitTask = null;
    this.reset();
  }

  private reset(): void {
    this.ownQueue = [];
    this.seqno = 0;
    this.sent = new SeqnoWindow(0);
    this.windows.clear();
    this.lazy.clear();
    this.view = null;
    this.announceLeft = 0;
    this.lastAnnounced = 0;
    this.stableOwn = 0;
  }

  override getStats(): Record<string, number> {
    let held = this.sent.size();
    for (const w of this.windows.values()) held += w.size();
    return { ...this.stats, seqno: this.seqno, messagesHeld: held };
  }

  /** Messages held for retransmission or waiting for a gap (all senders). */
  messagesHeld(): number {
    return this.getStats().messagesHeld!;
  }

  // ---- sending ----
  override down(msg: Message): DownResult {
    if (msg.dest !== null || (msg.flags & Flag.NO_RELIABILITY) !== 0) return this.downProt.down(msg);
    const seqno = ++this.seqno;
    msg.putHeader(ProtocolId.NAKACK2, { type: T.MSG, seqno, missing: null, sender: null } satisfies Header);
    if (msg.src === null) msg.src = this.localAddress;
    this.sent.add(seqno, msg, false);
    this.sent.highestDelivered = seqno;
    this.stats.msgsSent++;
    this.announceLeft = this.highestSeqnoRepeats;
    // We deliver our own multicast ourselves, at the end of this turn and in send order: it
    // must not depend on the network (or on what a lossy protocol below does to it).
    if ((msg.flags & Flag.DONT_LOOPBACK) === 0) {
      this.ownQueue.push(msg.copy());
      if (!this.ownFlushScheduled) {
        this.ownFlushScheduled = true;
        setImmediate(this.flushOwn);
      }
      msg.flags |= Flag.DONT_LOOPBACK;
    }
    return this.downProt.down(msg);
  }

  override downEvent(evt: Event): unknown {
    switch (evt.type) {
      case EventType.VIEW_CHANGE:
        this.onView(evt.arg as View);
        break;
      case EventType.GET_DIGEST:
        return this.getDigest();
      case EventType.SET_DIGEST:
        this.setDigest(evt.arg as Digest);
        return undefined;
      case EventType.STABLE:
        this.onStable(evt.arg as Digest);
        return undefined;
      case EventType.DISCONNECT: {
        const r = this.downProt.downEvent(evt);
        this.reset();
        return r;
      }
    }
    return this.downProt.downEvent(evt);
  }

  private readonly flushOwn = (): void => {
    this.ownFlushScheduled = false;
    const msgs = this.ownQueue;
    this.ownQueue = [];
    const self = this.localAddress;
    if (msgs.length === 0 || self === null) return;
    this.stats.msgsDelivered += msgs.length;
    this.upProt.upBatch(new MessageBatch(self, null, true, msgs));
  };

  // ---- receiving ----
  override up(msg: Message): void {
    const h = msg.getHeader<Header>(ProtocolId.NAKACK2);
    if (h === undefined) return this.upProt.up(msg);
    if (h.type === T.MSG || h.type === T.XMIT_RSP) {
      const out: Message[] = [];
      this.receive(msg, h, out);
      for (const m of out) this.upProt.up(m);
      return;
    }
    this.handleControl(msg, h);
  }

  override upBatch(batch: MessageBatch): void {
    // Fast check: a batch without NAKACK2 headers goes up untouched.
    this.batchHasHeaders = false;
    batch.forEach(this.checkBatchMessage);
    if (!this.batchHasHeaders) return this.upProt.upBatch(batch);
    const out: Message[] = [];
    const outer = this.batchOut; // in case a protocol above hands us a batch while we pass one up
    this.batchOut = out;
    try {
      batch.forEach(this.onBatchMessage);
    } finally {
      this.batchOut = outer;
    }
    if (out.length > 0) this.upProt.upBatch(new MessageBatch(batch.sender, batch.dest, batch.multicast, out));
  }

  // The batch scan state and callbacks: bound once, so a batch costs no closure, and forEach
  // rather than the batch's generator, which allocates an iterator result per message.
  private batchHasHeaders = false;
  private batchOut: Message[] | null = null;
  private readonly checkBatchMessage = (m: Message): void => {
    if (m.getHeader(ProtocolId.NAKACK2) !== undefined) this.batchHasHeaders = true;
  };
  private readonly onBatchMessage = (msg: Message): void => {
    const out = this.batchOut!;
    const h = msg.getHeader<Header>(ProtocolId.NAKACK2);
    if (h === undefined) out.push(msg);
    else if (h.type === T.MSG || h.type === T.XMIT_RSP) this.receive(msg, h, out);
    else this.handleControl(msg, h);
  };

  /** Adds one sequenced multicast; appends to `out` what can be delivered now, in order. */
  private receive(msg: Message, h: Header, out: Message[]): void {
    const sender = msg.src;
    const seqno = h.seqno;
    if (sender === null || seqno <= 0) return;
    if (h.type === T.XMIT_RSP) {
      msg.dest = null; // it was resent by unicast, but it is a multicast
      this.stats.xmitsReceived++;
    }
    if (sender === this.localAddress) return; // delivered by flushOwn already
    let win = this.windows.get(sender);
    if (win === undefined) {
      if (this.lazy.has(sender)) {
        // First message of a member that came in with a merge: its stream starts here for us.
        this.lazy.delete(sender);
        win = new SeqnoWindow(seqno - 1);
        this.windows.set(sender, win);
      } else {
        this.stats.droppedNonMember++;
        return;
      }
    }
    const oob = (msg.flags & Flag.OOB) !== 0;
    if (!win.add(seqno, msg, oob)) {
      this.stats.duplicates++;
      return;
    }
    if (oob) {
      out.push(msg);
      this.stats.oobDelivered++;
      if (seqno === win.highestDelivered + 1) win.removeDeliverable(out, true);
      return;
    }
    const before = out.length;
    win.removeDeliverable(out);
    this.stats.msgsDelivered += out.length - before;
  }

  private handleControl(msg: Message, h: Header): void {
    try {
      switch (h.type) {
        case T.XMIT_REQ:
          this.onXmitReq(msg.src!, Address.fromBytes(h.sender ?? NO_BYTES), h.missing ?? []);
          break;
        case T.HIGHEST_SEQNO: {
          const w = this.windows.get(msg.src!);
          const s = h.seqno;
          if (w !== undefined && s > w.highestReceived) w.highestReceived = s;
          break;
        }
        case T.FIRST_SEQNO: {
          const sender = Address.fromBytes(h.sender ?? NO_BYTES);
          const w = this.windows.get(sender);
          if (w === undefined) break;
          const out: Message[] = [];
          w.skipTo(h.seqno, out);
          this.log.warn(`${this.localAddress}: ${sender}'s messages below ${h.seqno} are gone everywhere; skipping to them`);
          for (const m of out) this.upProt.up(m);
          break;
        }
      }
    } catch (err) {
      this.log.warn(`dropped a malformed NAKACK2 message from ${msg.src}`, err);
    }
  }

  // ---- retransmission ----
  private onXmitTimer(): void {
    const view = this.view;
    if (view === null) return;
    // Ask for gaps: the original sender first; if the same gap is still open after two rounds
    // (the sender may be dead), any other member that may have the messages, in turn.
    for (const [sender, w] of this.windows) {
      if (w.highestReceived <= w.highestDelivered) {
        w.stuckRounds = 0;
        continue;
      }
      const missing = w.missing(this.maxXmitReqSize);
      if (missing.length === 0) continue;
      if (missing[0] === w.lastMissing) w.stuckRounds++;
      else w.stuckRounds = 0;
      w.lastMissing = missing[0]!;
      const from = this.xmitTarget(view, sender, w.stuckRounds);
      if (from === undefined) continue;
      this.stats.xmitReqsSent++;
      this.sendControl(from, { type: T.XMIT_REQ, seqno: 0, missing, sender: sender.bytes });
    }
    // Announce our highest seqno while someone may lack the tail.
    if (this.seqno > 0 && view.size() > 1 && (this.announceLeft > 0 || this.stableOwn < this.seqno)) {
      if (this.announceLeft > 0) this.announceLeft--;
      if (this.seqno !== this.lastAnnounced || this.stableOwn < this.seqno) {
        this.lastAnnounced = this.seqno;
        this.stats.highestSeqnoSent++;
        this.sendControl(null, { type: T.HIGHEST_SEQNO, seqno: this.seqno, missing: null, sender: null });
      }
    }
  }

  private xmitTarget(view: View, sender: Address, stuckRounds: number): Address | undefined {
    const others = view.members.filter((m) => m !== this.localAddress && m !== sender);
    if (view.containsMember(sender) && (stuckRounds < 2 || others.length === 0)) return sender;
    return others.length === 0 ? undefined : others[stuckRounds % others.length];
  }

  private onXmitReq(requester: Address, sender: Address, missing: number[]): void {
    this.stats.xmitReqsReceived++;
    const win = sender === this.localAddress ? this.sent : this.windows.get(sender);
    if (win === undefined) return;
    let purged = 0;
    for (const s of missing) {
      const m = win.get(s);
      if (m === undefined) {
        if (s < win.low) purged = Math.max(purged, s);
        continue;
      }
      const copy = m.copy();
      copy.dest = requester;
      copy.putHeader(ProtocolId.NAKACK2, { type: T.XMIT_RSP, seqno: s, missing: null, sender: null } satisfies Header);
      this.stats.xmitsSent++;
      void this.downProt.down(copy);
    }
    if (purged > 0) this.sendControl(requester, { type: T.FIRST_SEQNO, seqno: win.low, missing: null, sender: sender.bytes });
  }

  private sendControl(dest: Address | null, h: Header): void {
    const msg = new Message(dest).setFlag(Flag.OOB, Flag.NO_RELIABILITY, Flag.DONT_LOOPBACK).putHeader(ProtocolId.NAKACK2, h);
    void this.downProt.down(msg);
  }

  // ---- membership and digests ----
  private onView(view: View): void {
    const self = this.localAddress;
    const prev = this.view;
    this.view = view;
    for (const m of view.members) {
      if (m === self || this.windows.has(m)) continue;
      if (view instanceof MergeView && prev !== null) this.lazy.add(m);
      else this.windows.set(m, new SeqnoWindow(0));
    }
    for (const m of [...this.windows.keys()]) if (!view.containsMember(m)) this.windows.delete(m);
    for (const m of [...this.lazy]) if (!view.containsMember(m)) this.lazy.delete(m);
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
      const w = new SeqnoWindow(r.highestDelivered);
      this.windows.set(m, w);
      this.lazy.delete(m);
    }
  }

  private onStable(digest: Digest): void {
    const self = this.localAddress;
    for (const [m, r] of digest) {
      if (m === self) {
        this.stableOwn = Math.max(this.stableOwn, r.highestDelivered);
        this.stats.purged += this.sent.purge(r.highestDelivered);
      } else {
        const w = this.windows.get(m);
        if (w !== undefined) this.stats.purged += w.purge(r.highestDelivered);
      }
    }
  }
}
