// STAMP: the worked example of docs/writing-a-protocol.md (the guide shows this file verbatim,
// and test/docs-example.test.ts runs it).
//
// On the way down, STAMP puts a header {seq, sender} on every message: seq counts this
// member's messages since it connected. On the way up it keeps the header (the application
// can read it), counts stamps per sender, drops (and warns about) any message that arrives
// without a stamp, and counts a stamp whose seq goes backwards for its sender as out of order.
import {
  type Address,
  delimitedSize,
  type DownResult,
  type HeaderCodec,
  type Message,
  Protocol,
  type PropertyDecls,
  utf8Size,
  varintSize,
  type View,
} from 'tsgroups';

/** STAMP's protocol id: it keys the header on the wire. Ids below 1000 belong to tsgroups. */
export const STAMP_ID = 1001;

/** The header STAMP puts on each message. Headers are never changed once attached. */
export interface StampHeader {
  /** 1, 2, 3 ... per sending member, from its connect on. */
  readonly seq: number;
  /** The sender's logical name (for logs and for the application). */
  readonly sender: string;
}

// The header as protobuf, written by hand; it is the encoding of this message:
//   message StampHeader { uint64 seq = 1; string sender = 2; }
// A field's tag is (field number << 3) | wire type: 0 = varint, 2 = length-delimited.
const TAG_SEQ = (1 << 3) | 0;
const TAG_SENDER = (2 << 3) | 2;

/** protobufjs reads a uint64 as a Long {low, high} (it installs the `long` package) or a number. */
function toNumber(v: number | { low: number; high: number }): number {
  return typeof v === 'number' ? v : (v.high >>> 0) * 0x1_0000_0000 + (v.low >>> 0);
}

export const stampHeaderCodec: HeaderCodec<StampHeader> = {
  encode(h, writer) {
    return writer.uint32(TAG_SEQ).uint64(h.seq).uint32(TAG_SENDER).string(h.sender);
  },
  decode(reader, length) {
    const end = reader.pos + length; // the reader spans the whole datagram: stop at our end
    let seq = 0;
    let sender = '';
    while (reader.pos < end) {
      const tag = reader.uint32();
      switch (tag) {
        case TAG_SEQ:
          seq = toNumber(reader.uint64());
          break;
        case TAG_SENDER:
          sender = reader.string();
          break;
        default:
          reader.skipType(tag & 7); // a field a newer version added: skip it
      }
    }
    return { seq, sender };
  },
  // The exact number of bytes encode writes: the transport asks for it for every message it
  // packs into a datagram, so count, never encode here. Two tags, the seq's varint, and the
  // sender's length and UTF-8 bytes.
  size(h) {
    return 2 + varintSize(h.seq) + delimitedSize(utf8Size(h.sender));
  },
};

interface SenderState {
  received: number;
  /** The highest seq seen from this sender (regular messages only). */
  lastSeq: number;
}

export class STAMP extends Protocol {
  static override readonly protocolName: string = 'STAMP';
  static override readonly id: number = STAMP_ID;
  static override readonly headerCodec = stampHeaderCodec;
  static override readonly requiresBelow: readonly string[] = ['transport'];
  static override readonly properties: PropertyDecls = {
    checkOrder: { type: 'boolean', description: 'Count stamps whose seq goes backwards for their sender' },
  };

  /** XML: `check_order`. The initial value is the default. */
  checkOrder = true;

  readonly stats = { stamped: 0, received: 0, unstamped: 0, outOfOrder: 0 };

  private seq = 0;
  private senderName = '';
  private readonly senders = new Map<Address, SenderState>();

  override start(): void {
    // The channel sets the address before it starts the stack; a reconnect brings a new one.
    this.seq = 0;
    this.senderName = String(this.localAddress);
  }

  override stop(): void {
    this.senders.clear();
  }

  override down(msg: Message): DownResult {
    msg.putHeader(STAMP_ID, { seq: ++this.seq, sender: this.senderName } satisfies StampHeader);
    this.stats.stamped++;
    return this.downProt.down(msg);
  }

  // Every message that reaches STAMP comes here, also those the transport received in a batch.
  override up(msg: Message): void {
    if (this.accept(msg)) super.up(msg);
  }

  protected override viewChanged(view: View): void {
    // Forget the members that left, so the map does not grow forever.
    for (const member of this.senders.keys()) if (!view.containsMember(member)) this.senders.delete(member);
  }

  /** How many stamped messages arrived from `sender` (while it is a member). */
  receivedFrom(sender: Address): number {
    return this.senders.get(sender)?.received ?? 0;
  }

  override getStats(): Record<string, number> {
    return { ...this.stats };
  }

  /** Counts `msg`; false if it must be dropped. */
  private accept(msg: Message): boolean {
    const h = msg.getHeader<StampHeader>(STAMP_ID);
    if (h === undefined) {
      this.stats.unstamped++;
      if (this.log.isEnabled('warn')) this.log.warn(`${this.localAddress}: dropped a message without a stamp from ${msg.src}`);
      return false;
    }
    this.stats.received++;
    const src = msg.src!; // the transport sets the sender of every message it receives
    let s = this.senders.get(src);
    if (s === undefined) this.senders.set(src, (s = { received: 0, lastSeq: 0 }));
    s.received++;
    // OOB messages may overtake regular ones by design: they are not checked and do not count.
    if (this.checkOrder && !msg.isOOB()) {
      if (h.seq <= s.lastSeq) this.stats.outOfOrder++;
      else s.lastSeq = h.seq;
    }
    return true;
  }
}
