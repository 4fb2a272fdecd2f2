import {
  type Address,
  type DownResult,
  type Message,
  type MessageBatch,
  Protocol,
  type PropertyDecls,
  type ProtocolStack,
  type View,
} from '@tsgroups/core';
import { tsgroups } from '../generated/headers.js';
import { fragHeaderCodec } from '../header-codecs.js';
import { ProtocolId } from '../ids.js';
import { Transport } from '../transport/transport.js';

const FragHeader = tsgroups.protocols.FragHeader;
type Header = tsgroups.protocols.FragHeader.$Properties;

/** The fragments of one message received so far. */
interface Partial {
  readonly count: number;
  /** Indexed by fragment index; sparse until complete (a bad `count` costs no memory). */
  readonly frags: Message[];
  received: number;
  bytes: number;
}

const noop = (): void => {};

/**
 * Fragmentation, after JGroups' FRAG2. A message whose payload is larger than `fragSize` is
 * cut into fragments of at most `fragSize` bytes: each is a copy of the message (same
 * destination, flags and headers) whose payload is a view on a slice of the original payload
 * (nothing is copied on the send side), plus a {@link FragHeader} `{id, index, count}`. The
 * receiver collects the fragments of each (sender, id) in any order and, once all `count`
 * have arrived, passes up one message: a buffer of the total size with the fragments copied
 * in, with the flags, headers, source and destination of fragment 0.
 *
 * FRAG2 does not retransmit: a lost fragment leaves its message incomplete, so it belongs
 * above the reliable protocols (NAKACK2, UNICAST3) and, as in JGroups, above flow control.
 *
 * Input from the network is checked: fragments with an inconsistent index or count, or
 * messages larger than `maxMessageSize`, are dropped and logged; each sender may have at most
 * `maxPartialsPerSender` incomplete messages (the oldest is dropped beyond that). Incomplete
 * messages of members that left the view are discarded.
 */
export class FRAG2 extends Protocol {
  static override readonly protocolName = 'FRAG2';
  static override readonly id = ProtocolId.FRAG2;
  static override readonly headerCodec = fragHeaderCodec;
  static override readonly provides: readonly string[] = ['fragmentation'];
  static override readonly properties: PropertyDecls = {
    fragSize: {
      type: 'size',
      min: 100,
      max: 65_507,
      description: "Largest payload of a fragment: larger messages are fragmented (must be below the transport's max_bundle_size)",
    },
    maxMessageSize: { type: 'size', min: 1, description: 'Largest message reassembled; fragments of larger ones are dropped' },
    maxPartialsPerSender: { type: 'int', min: 1, description: 'Most incomplete messages kept per sender (the oldest is dropped beyond)' },
  };

  fragSize = 60_000;
  maxMessageSize = 1_000_000_000;
  maxPartialsPerSender = 256;

  private fragId = 0;
  /** sender -> fragment id -> fragments received so far. */
  private readonly partials = new Map<Address, Map<number, Partial>>();

  readonly stats = {
    messagesFragmented: 0,
    fragmentsSent: 0,
    fragmentsReceived: 0,
    messagesReassembled: 0,
    fragmentsDropped: 0,
    partialsDropped: 0,
  };

  /** A fragment, with its headers, must fit in one datagram of the transport. */
  override checkConfig(stack: ProtocolStack): void {
    const t = stack.getTransport();
    if (t instanceof Transport && this.fragSize >= t.maxBundleSize) {
      throw this.configError(stack, 'frag_size', `frag_size (${this.fragSize}) must be smaller than ${t.name}.max_bundle_size (${t.maxBundleSize})`);
    }
  }

  override stop(): void {
    this.partials.clear();
  }

  override getStats(): Record<string, number> {
    return { ...this.stats, partialMessages: this.numPartialMessages() };
  }

  /** The number of incomplete messages held, over all senders (or from `sender` only). */
  numPartialMessages(sender?: Address): number {
    if (sender !== undefined) return this.partials.get(sender)?.size ?? 0;
    let n = 0;
    for (const m of this.partials.values()) n += m.size;
    return n;
  }

  // ---- sending ----
  override down(msg: Message): DownResult {
    const len = msg.getLength();
    if (len <= this.fragSize) return this.downProt.down(msg);
    return this.fragment(msg, len);
  }

  /**
   * Passes every fragment down at once, in order: once a protocol below took a message it
   * holds it (flow control queues it until credits arrive), so the fragments are never
   * interleaved with the sender's later messages. The result is a Promise only if some
   * protocol below returned one; it settles when all of them have.
   */
  private fragment(msg: Message, len: number): DownResult {
    const size = this.fragSize;
    const count = Math.ceil(len / size);
    const id = (this.fragId = (this.fragId + 1) >>> 0);
    const buf = msg.getArray();
    const off = msg.getOffset();
    let waits: Promise<void>[] | null = null;
    this.stats.messagesFragmented++;
    for (let i = 0; i < count; i++) {
      const start = i * size;
      const frag = msg.copy(false);
      frag.setArray(buf, off + start, Math.min(size, len - start));
      frag.putHeader(ProtocolId.FRAG2, { id, index: i, count } satisfies Header);
      this.stats.fragmentsSent++;
      let res: DownResult;
      try {
        res = this.downProt.down(frag);
      } catch (err) {
        // The fragments already sent are waited for (their rejections handled), then the error.
        if (waits === null) throw err;
        return Promise.allSettled(waits).then(() => Promise.reject(err));
      }
      if (res !== undefined) (waits ??= []).push(res);
    }
    if (waits === null) return;
    if (waits.length === 1) return waits[0];
    return Promise.all(waits).then(noop);
  }

  // ---- receiving ----
  override up(msg: Message): void {
    const out = this.receive(msg);
    if (out !== null) this.upProt.up(out);
  }

  // A fragment leaves the batch; the fragment that completes a message is replaced by it.
  override upBatch(batch: MessageBatch): void {
    // receive() passes messages without a FRAG2 header as they are: with none in the batch, skip it.
    if (batch.mayHaveHeader(ProtocolId.FRAG2)) batch.replaceEach(this.receive);
    if (!batch.isEmpty()) this.upProt.upBatch(batch);
  }

  /** The receive rule, once for both paths: a message as it goes on up, or null while incomplete. */
  private readonly receive = (msg: Message): Message | null => {
    const h = msg.getHeader<Header>(ProtocolId.FRAG2);
    return h === undefined ? msg : this.addFragment(msg, h);
  };

  // GMS passes the view down to protocols below it and up to those above: the base class
  // calls this hook either way.
  protected override viewChanged(view: View): void {
    for (const [sender, map] of this.partials) {
      if (view.containsMember(sender)) continue;
      this.stats.partialsDropped += map.size;
      if (this.log.isEnabled('debug')) this.log.debug(`${this.localAddress}: dropped ${map.size} incomplete message(s) of ${sender}, who left`);
      this.partials.delete(sender);
    }
  }

  /** Files a fragment; returns the reassembled message once it is complete, else null. */
  private addFragment(frag: Message, h: Header): Message | null {
    this.stats.fragmentsReceived++;
    const sender = frag.src;
    const id = h.id ?? 0;
    const index = h.index ?? 0;
    const count = h.count ?? 0;
    if (sender === null || !(count >= 1) || !(index >= 0 && index < count)) {
      return this.dropFragment(frag, `index ${index} of ${count}`);
    }
    if (count === 1) {
      // Never produced by FRAG2, but harmless: the fragment is the whole message.
      this.stats.messagesReassembled++;
      frag.removeHeader(ProtocolId.FRAG2);
      return frag;
    }
    let map = this.partials.get(sender);
    if (map === undefined) this.partials.set(sender, (map = new Map()));
    let p = map.get(id);
    if (p === undefined) {
      if (map.size >= this.maxPartialsPerSender) {
        const [oldest] = map.keys();
        map.delete(oldest!);
        this.stats.partialsDropped++;
        this.log.warn(`${this.localAddress}: more than ${this.maxPartialsPerSender} incomplete messages from ${sender}; dropped the oldest (id ${oldest})`);
      }
      p = { count, frags: [], received: 0, bytes: 0 };
      map.set(id, p);
    } else if (p.count !== count) {
      map.delete(id);
      this.stats.partialsDropped++;
      return this.dropFragment(frag, `count ${count}, but earlier fragments of message ${id} said ${p.count}; the message is dropped`);
    }
    if (p.frags[index] !== undefined) return this.dropFragment(frag, `duplicate fragment ${index} of ${count}`, 'debug');
    const bytes = p.bytes + frag.getLength();
    if (bytes > this.maxMessageSize) {
      map.delete(id);
      this.stats.partialsDropped++;
      return this.dropFragment(frag, `message ${id} exceeds max_message_size (${this.maxMessageSize} bytes); the message is dropped`);
    }
    p.frags[index] = frag;
    p.bytes = bytes;
    if (++p.received < count) return null;
    map.delete(id);
    if (map.size === 0) this.partials.delete(sender);
    return this.assemble(p);
  }

  private assemble(p: Partial): Message {
    const out = new Uint8Array(p.bytes);
    let pos = 0;
    for (let i = 0; i < p.count; i++) {
      const f = p.frags[i]!;
      const len = f.getLength();
      const off = f.getOffset();
      out.set(f.getArray().subarray(off, off + len), pos);
      pos += len;
    }
    const whole = p.frags[0]!.copy(false);
    whole.setArray(out);
    whole.removeHeader(ProtocolId.FRAG2);
    this.stats.messagesReassembled++;
    return whole;
  }

  private dropFragment(frag: Message, why: string, level: 'warn' | 'debug' = 'warn'): null {
    this.stats.fragmentsDropped++;
    if (level === 'warn') this.log.warn(`${this.localAddress}: dropped a fragment from ${frag.src}: ${why}`);
    else if (this.log.isEnabled('debug')) this.log.debug(`${this.localAddress}: dropped a fragment from ${frag.src}: ${why}`);
    return null;
  }
}
