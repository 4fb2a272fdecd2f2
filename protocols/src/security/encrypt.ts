import { createCipheriv, createDecipheriv, type KeyObject } from 'node:crypto';
import {
  type Address,
  type AnyEvent,
  ConfigError,
  datagramEnvelopeSize,
  type DownResult,
  decodeDatagram,
  encodeDatagram,
  type EndOfTurnTask,
  Event,
  EventType,
  Flag,
  Message,
  MessageBatch,
  type PhysicalSend,
  Protocol,
  type ProtocolClass,
  type ProtocolStack,
  TRANSIENT_FLAGS,
  utf8Encode,
  type View,
  RateLimitedLog,
} from '@tsgroups/core';
import { Transport } from '../transport/transport.js';
import type { KeyRing } from './key-ring.js';
import { NonceSequence } from './nonce-sequence.js';
import { ReplayWindows } from './replay-window.js';
import type { SymEncryptHeader } from './sym-encrypt-header.js';
import { TAG_BYTES } from './sym-encrypt-header.js';

const ALGORITHM = 'aes-256-gcm';
/** The inner "datagram" a sealed message is encoded as has no cluster name: the AAD binds it. */
const NO_CLUSTER = new Uint8Array(0);
// Additional authenticated data: flags (4), multicast/unicast (1), destination (16), source (16), cluster name.
const AAD_FLAGS = 0;
const AAD_KIND = 4;
const AAD_DEST = 5;
const AAD_SRC = 21;
const AAD_CLUSTER = 37;

/** The bundle size assumed under a transport that is not a {@link Transport}. */
const DEFAULT_MAX_BUNDLE = 64_000;
/**
 * Bytes the sealed message adds around its plaintext in the datagram, at most: the message's
 * tag and length, a source other than the datagram's sender, the header entry, the payload's
 * tag and length.
 */
const SEAL_OVERHEAD = 96;
/** The inner datagram's envelope: magic, version, an empty cluster name, the sender. */
const SEALED_ENVELOPE = datagramEnvelopeSize(0, false);
/** The flags of a message that the sealed message carries: the ones the transport acts on. */
const OUTER_FLAGS = Flag.DONT_BUNDLE | Flag.DONT_LOOPBACK;

/** Messages to one destination waiting to be sealed together. */
interface PendingSeal {
  readonly dest: Address | null;
  src: Address;
  noLoopback: boolean;
  msgs: Message[];
  /** The plaintext's size so far (inner envelope included). */
  bytes: number;
}

/** Why a message was rejected: each names a counter in {@link Encrypt.stats}. */
export type Rejection = 'authFailures' | 'unknownKeyVersion' | 'malformed' | 'unencrypted' | 'replayed';

/** Whether a header of this protocol's id is a seal (the other headers an ASYM_ENCRYPT sends are key exchange). */
export function isSealHeader(h: unknown): h is SymEncryptHeader {
  return typeof h === 'object' && h !== null && 'sealed' in h;
}

/**
 * The additional authenticated data of a sealed message: its transport flags, destination,
 * source and the cluster name (exported so that tests can try keys on captured datagrams).
 */
export function sealedAad(flags: number, dest: Address | null, src: Address, cluster: Uint8Array): Buffer {
  const aad = Buffer.alloc(AAD_CLUSTER + cluster.length);
  aad.set(cluster, AAD_CLUSTER);
  return writeAad(aad, flags, dest, src);
}

/**
 * Opens a sealed message's payload with `key`: the plaintext (an encoded datagram of the
 * messages sealed), or null if authentication fails.
 */
export function openSealed(key: KeyObject, h: SymEncryptHeader, payload: Uint8Array, aad: Uint8Array): Buffer | null {
  try {
    const decipher = createDecipheriv(ALGORITHM, key, h.iv, { authTagLength: TAG_BYTES });
    decipher.setAuthTag(h.tag);
    decipher.setAAD(aad);
    const plain = decipher.update(payload);
    decipher.final(); // throws if the tag does not match: the plaintext is never used then
    return plain;
  } catch {
    return null;
  }
}

function writeAad(aad: Buffer, flags: number, dest: Address | null, src: Address): Buffer {
  aad.writeUInt32BE((flags & ~TRANSIENT_FLAGS) >>> 0, AAD_FLAGS);
  if (dest === null) {
    aad[AAD_KIND] = 0;
    aad.fill(0, AAD_DEST, AAD_SRC);
  } else {
    aad[AAD_KIND] = 1;
    aad.set(dest.bytes, AAD_DEST);
  }
  aad.set(src.bytes, AAD_SRC);
  return aad;
}

/**
 * What SYM_ENCRYPT and ASYM_ENCRYPT share: sealing and opening messages with AES-256-GCM
 * under a {@link KeyRing}, replay protection, and the counting of rejects; they differ in
 * where the key ring comes from (a file; a key exchange with the coordinator).
 *
 * It must sit directly above the transport (a protocol with headers below it is refused): on
 * the way down it seals the messages passed to it in one turn of the event loop, per
 * destination, into one message whose payload is the ciphertext of their whole encoding
 * (flags, source, every header of every protocol above, payload) and which carries a
 * {@link SymEncryptHeader} (key version, nonce, GCM tag). One cipher per seal instead of one
 * per message: the transport would bundle those messages into one datagram anyway, and a seal
 * never grows beyond one datagram. The sealed message's flags (only those the transport acts
 * on), destination and source and the cluster name are authenticated as additional data, so a
 * ciphertext replayed with another source, destination or cluster fails; one replayed as it is
 * fails the sender's nonce window ({@link ReplayWindows}).
 *
 * On the way up, a sealed message that fails authentication, names a key version this member
 * does not hold, does not decode, was seen before, or a message that is not sealed at all
 * (unless the subclass takes it: {@link openClear}) is dropped and counted (per sealed
 * message), never parsed further nor passed up; what is opened goes up as one batch. A
 * member's own multicasts come back through the transport's loopback without being decrypted.
 */
export abstract class Encrypt extends Protocol {
  static override readonly requiresBelow: readonly string[] = ['transport'];

  readonly stats = {
    /** Messages encrypted on the way down (several to one destination in one turn share a seal). */
    encrypted: 0,
    /** Encrypted messages sent: the messages to one destination in one turn are sealed together. */
    sealed: 0,
    /** Messages authenticated and decrypted on the way up (out of seals from other members). */
    decrypted: 0,
    /** This member's own messages that came back through the transport's loopback: passed up without decrypting. */
    loopedBack: 0,
    /** Rejected: the GCM tag did not match (wrong key, or anything in the message or its AAD altered). */
    authFailures: 0,
    /** Rejected: encrypted with a key version this member does not hold. */
    unknownKeyVersion: 0,
    /** Rejected: authenticated, but the plaintext is not messages from that source. */
    malformed: 0,
    /** Rejected: no seal (a member without encryption, or a forgery). */
    unencrypted: 0,
    /** Rejected: authenticated, but its nonce was seen before from that sender or is older than the replay window (a replayed datagram). */
    replayed: 0,
  };

  /** The keys: null until loaded (SYM_ENCRYPT) or received (ASYM_ENCRYPT). */
  protected ring: KeyRing | null = null;
  private readonly nonces = new NonceSequence();
  private readonly replays = new ReplayWindows();
  private aad: Buffer = Buffer.alloc(AAD_CLUSTER);
  /** Messages waiting for the end of the turn, by destination ('' for all). */
  private readonly pending = new Map<string, PendingSeal>();
  private sealTask: EndOfTurnTask | null = null;
  /** The most bytes of plaintext one seal takes, so that its message fits the transport's datagram. */
  private maxSealedBytes = DEFAULT_MAX_BUNDLE - SEAL_OVERHEAD;
  /** Rejected messages, logged at most once per 10 s (the stats count all). */
  private readonly drops = new RateLimitedLog(this.log);

  override checkConfig(stack: ProtocolStack): void {
    const protocols = stack.getProtocols(); // top down
    const at = protocols.indexOf(this);
    for (let i = at + 1; i < protocols.length - 1; i++) {
      const below = protocols[i]!;
      if ((below.constructor as ProtocolClass).headerCodec !== undefined) {
        throw new ConfigError(
          'ERR_STACK_DEPENDENCY',
          `${this.name} must sit directly above the transport: ${below.name} below it puts headers on messages that would travel unencrypted`,
          { source: stack.source, element: this.name },
        );
      }
    }
  }

  override start(): void {
    this.nonces.reseed();
    this.computeMaxSealedBytes();
  }

  override stop(): void {
    this.sealTask?.cancel();
    this.pending.clear();
    this.replays.clear();
  }

  override downEvent(evt: AnyEvent): unknown {
    if (evt.type === EventType.SET_CLUSTER_NAME) this.setCluster(utf8Encode(evt.arg));
    else if (evt.type === EventType.DISCONNECT) this.sealAll(); // the transport flushes its bundles then
    else if (evt.type === EventType.SEND_TO_PHYSICAL) return this.sealToPhysical(evt.arg);
    return super.downEvent(evt);
  }

  /** A message to a physical address (TCPPING's list): sealed alone, like a DONT_BUNDLE message. */
  private sealToPhysical(send: PhysicalSend): unknown {
    const msg = send.msg;
    if (this.sendsClear(msg)) return this.downProt.downEvent(new Event(EventType.SEND_TO_PHYSICAL, send));
    const src = msg.src ?? this.localAddress;
    if (this.ring === null || src === null) {
      if (this.ring === null) this.cannotSeal(msg);
      return undefined;
    }
    if (msg.src === null) msg.src = src;
    const sealed = this.sealMessage(null, src, msg.flags & OUTER_FLAGS, [msg], false);
    if (sealed !== null) this.downProt.downEvent(new Event(EventType.SEND_TO_PHYSICAL, { to: send.to, msg: sealed }));
    return undefined;
  }

  protected override viewChanged(view: View): void {
    this.replays.retain(view.members, Date.now());
  }

  /** Senders whose nonce windows are kept (bounded: see {@link ReplayWindows}). */
  replayWindowSenders(): number {
    return this.replays.size();
  }

  // ---- hooks for the subclasses ----
  /** Whether `msg` travels unsealed (ASYM_ENCRYPT: what a joiner needs before it has the key). */
  protected sendsClear(_msg: Message): boolean {
    return false;
  }

  /** Called for a message that cannot be sealed because there is no key yet; it is dropped. */
  protected cannotSeal(msg: Message): void {
    this.log.error(`cannot encrypt ${msg} without keys; dropped`);
  }

  /**
   * An unsealed message (`h`: this protocol's header on it, if any, that is not a seal): the
   * message to pass up as it is, or null to drop it. By default every one is rejected.
   */
  protected openClear(msg: Message, _h: unknown): Message | null {
    return this.reject('unencrypted', msg);
  }

  /** Called after a sealed message under `version`, which this member does not hold, was rejected. */
  protected unknownVersion(_msg: Message, _version: number): void {}

  // ---- down: seal ----
  override down(msg: Message): DownResult {
    if (this.sendsClear(msg)) return this.downProt.down(msg);
    const src = msg.src ?? this.localAddress;
    if (this.ring === null || src === null) {
      if (this.ring === null) this.cannotSeal(msg);
      else this.log.error(`cannot encrypt ${msg} before the channel has an address; dropped`);
      return;
    }
    if (msg.src === null) msg.src = src; // as the transport would
    const dest = msg.dest;
    const key = dest === null ? '' : dest.key;
    let p = this.pending.get(key);
    if ((msg.flags & Flag.DONT_BUNDLE) !== 0) {
      // Sealed and sent at once, as the transport sends it; what waits for the same destination goes first.
      if (p !== undefined && p.msgs.length > 0) this.sealPending(p);
      return this.seal(dest, src, msg.flags & OUTER_FLAGS, [msg]);
    }
    let size: number;
    try {
      size = msg.size(src);
    } catch (err) {
      this.log.error(`cannot encode ${msg}; dropped`, err);
      return;
    }
    const noLoopback = (msg.flags & Flag.DONT_LOOPBACK) !== 0;
    if (p === undefined) {
      p = { dest, src, noLoopback, msgs: [], bytes: 0 };
      this.pending.set(key, p);
    } else if (p.msgs.length > 0 && (p.src !== src || p.noLoopback !== noLoopback || p.bytes + size > this.maxSealedBytes)) {
      this.sealPending(p); // one seal has one source, one loopback rule, and fits a datagram
    }
    if (p.msgs.length === 0) {
      p.src = src;
      p.noLoopback = noLoopback;
      p.bytes = SEALED_ENVELOPE;
    }
    p.msgs.push(msg);
    p.bytes += size;
    (this.sealTask ??= this.timer.endOfTurnTask(this.sealAll)).request();
  }

  /** Seals every message waiting (at the end of the turn, before a disconnect, and before a subclass changes keys). */
  protected readonly sealAll = (): void => {
    if (this.ring === null) return; // cannot happen: nothing is queued without keys
    for (const p of this.pending.values()) if (p.msgs.length > 0) this.sealPending(p);
    this.pending.clear(); // no entry kept per destination ever written to
  };

  private sealPending(p: PendingSeal): void {
    const msgs = p.msgs;
    p.msgs = [];
    p.bytes = 0;
    void this.seal(p.dest, p.src, p.noLoopback ? Flag.DONT_LOOPBACK : 0, msgs);
  }

  /**
   * Encrypts `msgs` (one source, one destination) as one encoded datagram with one nonce and
   * sends the result down as one message with the seal header.
   */
  private seal(dest: Address | null, src: Address, flags: number, msgs: Message[]): DownResult {
    const out = this.sealMessage(dest, src, flags, msgs, dest === null || dest === this.localAddress);
    if (out !== null) return this.downProt.down(out);
  }

  /** The message that carries `msgs` sealed, or null (logged) if they cannot be encoded. */
  private sealMessage(dest: Address | null, src: Address, flags: number, msgs: Message[], loopsBack: boolean): Message | null {
    const ring = this.ring!;
    let plain: Uint8Array;
    try {
      plain = encodeDatagram(NO_CLUSTER, src, null, msgs);
    } catch (err) {
      this.log.error(`cannot encode ${msgs.length} message(s) to ${dest ?? 'all'}; dropped`, err);
      return null;
    }
    const iv = this.nonces.take();
    const cipher = createCipheriv(ALGORITHM, ring.sendKey, iv, { authTagLength: TAG_BYTES });
    cipher.setAAD(writeAad(this.aad, flags, dest, src));
    const ciphertext = cipher.update(plain);
    cipher.final();
    const header: SymEncryptHeader = { version: ring.sendVersion, iv, tag: cipher.getAuthTag(), sealed: loopsBack ? msgs : null };
    const out = new Message(dest);
    out.src = src;
    out.flags = flags;
    out.putHeader(this.id, header);
    out.setArray(ciphertext);
    this.stats.encrypted += msgs.length;
    this.stats.sealed++;
    return out;
  }

  // ---- up: authenticate and open ----
  override up(msg: Message): void {
    const msgs = this.open(msg);
    if (msgs === null) return;
    if (msgs.length === 1) this.upProt.up(msgs[0]!);
    else this.upProt.upBatch(new MessageBatch(msg.src!, msg.dest, msg.dest === null, msgs));
  }

  override upBatch(batch: MessageBatch): void {
    let out: MessageBatch | null = null;
    for (const msg of batch) {
      const msgs = this.open(msg);
      if (msgs === null) continue;
      out ??= new MessageBatch(batch.sender, batch.dest, batch.multicast);
      for (let i = 0; i < msgs.length; i++) out.add(msgs[i]!);
    }
    if (out !== null) this.upProt.upBatch(out);
  }

  /** The messages sealed in `msg`, or null (counted) if it is rejected. Never throws. */
  private open(msg: Message): Message[] | null {
    const h = msg.getHeader(this.id);
    if (!isSealHeader(h)) {
      const clear = this.openClear(msg, h);
      return clear === null ? null : [clear];
    }
    if (h.sealed !== null) return this.ownCopies(h.sealed, msg);
    const key = this.ring?.byVersion.get(h.version);
    if (key === undefined) {
      this.reject('unknownKeyVersion', msg);
      this.unknownVersion(msg, h.version);
      return null;
    }
    const src = msg.src;
    if (src === null) return this.reject('malformed', msg);
    const plain = openSealed(key, h, msg.getPayload(), writeAad(this.aad, msg.flags, msg.dest, src));
    if (plain === null) return this.reject('authFailures', msg);
    if (!this.replays.accept(src, h.iv)) return this.reject('replayed', msg);
    const decoded = decodeDatagram(plain, null);
    if (typeof decoded === 'string') return this.reject('malformed', msg);
    const msgs = decoded.batch.toArray();
    for (let i = 0; i < msgs.length; i++) {
      const m = msgs[i]!;
      if (m.src !== src) return this.reject('malformed', msg);
      m.dest = msg.dest;
    }
    this.stats.decrypted += msgs.length;
    return msgs;
  }

  /** The transport's loopback copy of messages this member sealed: copies of the originals, not decrypted again. */
  private ownCopies(sealed: readonly Message[], outer: Message): Message[] {
    const out = new Array<Message>(sealed.length);
    for (let i = 0; i < sealed.length; i++) {
      const m = sealed[i]!.copy();
      m.dest = outer.dest;
      out[i] = m;
    }
    this.stats.loopedBack += sealed.length;
    return out;
  }

  /** Counts a rejected message, and logs it unless one was logged less than 10 s ago. */
  protected reject(reason: Rejection, msg: Message): null {
    this.stats[reason]++;
    this.logDrop(msg.src, describe(reason));
    return null;
  }

  /** Logs a dropped message at most once per interval, with the number not logged since. */
  protected logDrop(from: Address | null, why: string): void {
    this.drops.warn('drop', `dropped a message from ${from ?? 'an unknown sender'}: ${why}`);
  }

  private setCluster(cluster: Uint8Array): void {
    const aad = Buffer.alloc(AAD_CLUSTER + cluster.length);
    aad.set(cluster, AAD_CLUSTER);
    this.aad = aad;
    this.computeMaxSealedBytes();
  }

  private computeMaxSealedBytes(): void {
    const t = this.stack?.getTransport();
    const bundle = t instanceof Transport ? t.maxBundleSize : DEFAULT_MAX_BUNDLE;
    this.maxSealedBytes = bundle - datagramEnvelopeSize(this.aad.length - AAD_CLUSTER, true) - SEAL_OVERHEAD;
  }
}

function describe(reason: Rejection): string {
  switch (reason) {
    case 'authFailures':
      return 'authentication failed (another key, or the message was altered)';
    case 'unknownKeyVersion':
      return 'encrypted with a key version this member does not hold';
    case 'malformed':
      return 'authenticated but malformed';
    case 'unencrypted':
      return 'not encrypted';
    case 'replayed':
      return 'a replay (its nonce was seen before, or is older than the replay window)';
  }
}
