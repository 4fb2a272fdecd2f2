import { createCipheriv, createDecipheriv } from 'node:crypto';
import { readFileSync } from 'node:fs';
import {
  type Address,
  type AnyEvent,
  ConfigError,
  datagramEnvelopeSize,
  type DownResult,
  decodeDatagram,
  encodeDatagram,
  type EndOfTurnTask,
  EventType,
  Flag,
  Message,
  MessageBatch,
  Protocol,
  type ProtocolClass,
  type PropertyDecls,
  type ProtocolStack,
  TRANSIENT_FLAGS,
  utf8Encode,
} from '@tsgroups/core';
import { ProtocolId } from '../ids.js';
import { Transport } from '../transport/transport.js';
import { KeyFormatError, type KeyRing, parseKeyRing } from './key-ring.js';
import { NonceSequence } from './nonce-sequence.js';
import { type SymEncryptHeader, symEncryptHeaderCodec, TAG_BYTES } from './sym-encrypt-header.js';

const ALGORITHM = 'aes-256-gcm';
/** The inner "datagram" a sealed message is encoded as has no cluster name: the AAD binds it. */
const NO_CLUSTER = new Uint8Array(0);
/** How often (ms) rejected messages are logged at most; the others are counted. */
const LOG_INTERVAL = 10_000;
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

/** Why a message was rejected: each names a counter in {@link SYM_ENCRYPT.stats}. */
type Rejection = 'authFailures' | 'unknownKeyVersion' | 'malformed' | 'unencrypted';

/** What {@link SYM_ENCRYPT.reloadKeys} loaded. */
export interface LoadedKeys {
  /** The version messages are now encrypted with. */
  sendVersion: number;
  /** Every version accepted on receive. */
  versions: number[];
}

/**
 * Authenticated encryption of every message with a shared key (AES-256-GCM), after JGroups'
 * SYM_ENCRYPT. It must sit directly above the transport (a protocol with headers below it is
 * refused): on the way down it seals the messages passed to it in one turn of the event loop,
 * per destination, into one message whose payload is the ciphertext of their whole encoding
 * (flags, source, every header of every protocol above, payload) and which carries a
 * {@link SymEncryptHeader} (key version, nonce, GCM tag). One cipher per seal instead of one
 * per message: the transport would bundle those messages into one datagram anyway, and a seal
 * never grows beyond one datagram. The sealed message's flags (only those the transport acts
 * on), destination and source and the cluster name are authenticated as additional data, so a
 * ciphertext replayed with another source, destination or cluster fails.
 *
 * On the way up, a sealed message that fails authentication, names a key version this member
 * does not hold, does not decode, or a message that is not sealed at all is dropped and
 * counted (per sealed message), never parsed further nor passed up; what is opened goes up as
 * one batch. A member's own multicasts come back through the transport's loopback without
 * being decrypted.
 *
 * Keys come from a file (`key_file`) or an environment variable (`key_env`), never from the XML:
 * one key per line, `version:key` (the first line is the key messages are sent with; every
 * listed key is accepted), each key 64 hex characters or the base64 of 32 bytes. See
 * docs/security.md for rolling keys without downtime with {@link reloadKeys}.
 */
export class SYM_ENCRYPT extends Protocol {
  static override readonly protocolName = 'SYM_ENCRYPT';
  static override readonly id = ProtocolId.SYM_ENCRYPT;
  static override readonly headerCodec = symEncryptHeaderCodec;
  static override readonly requiresBelow: readonly string[] = ['transport'];
  static override readonly properties: PropertyDecls = {
    keyFile: {
      type: 'string',
      description: 'Path of the key file: one key per line, `version:key` (the first is used to send), each 64 hex characters or base64 of 32 bytes; exactly one of key_file and key_env',
    },
    keyEnv: {
      type: 'string',
      description: 'Name of an environment variable that holds the keys, in the key file\'s format; exactly one of key_file and key_env',
    },
  };

  keyFile = '';
  keyEnv = '';

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
    /** Rejected: no SYM_ENCRYPT header (a member without SYM_ENCRYPT, or a forgery). */
    unencrypted: 0,
  };

  private ring: KeyRing | null = null;
  private readonly nonces = new NonceSequence();
  private aad: Buffer = Buffer.alloc(AAD_CLUSTER);
  /** Messages waiting for the end of the turn, by destination ('' for all). */
  private readonly pending = new Map<string, PendingSeal>();
  private sealTask: EndOfTurnTask | null = null;
  /** The most bytes of plaintext one seal takes, so that its message fits the transport's datagram. */
  private maxSealedBytes = DEFAULT_MAX_BUNDLE - SEAL_OVERHEAD;
  private lastLog = 0;
  private unlogged = 0;

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
    this.ring = this.loadKeys(stack.source);
  }

  override init(): void {
    this.ring ??= this.loadKeys(this.stack.source);
  }

  override start(): void {
    this.nonces.reseed();
    this.computeMaxSealedBytes();
  }

  override stop(): void {
    this.sealTask?.cancel();
    this.pending.clear();
  }

  /**
   * Reads the keys again from `key_file` (or `key_env`), e.g. after the file was edited to roll
   * to a new key; the new keys apply to the next message.
   * @throws ConfigError if the keys cannot be read or do not parse; the current keys stay
   */
  reloadKeys(): LoadedKeys {
    this.ring = this.loadKeys(this.stack?.source ?? 'code');
    return this.loadedKeys();
  }

  /** The versions in use. */
  loadedKeys(): LoadedKeys {
    const ring = this.ring;
    return ring === null ? { sendVersion: -1, versions: [] } : { sendVersion: ring.sendVersion, versions: [...ring.byVersion.keys()] };
  }

  override getStats(): Record<string, number> {
    return { ...this.stats, sendKeyVersion: this.ring?.sendVersion ?? -1 };
  }

  override downEvent(evt: AnyEvent): unknown {
    if (evt.type === EventType.SET_CLUSTER_NAME) this.setCluster(utf8Encode(evt.arg));
    else if (evt.type === EventType.DISCONNECT) this.sealAll(); // the transport flushes its bundles then
    return super.downEvent(evt);
  }

  // ---- down: seal ----
  override down(msg: Message): DownResult {
    const src = msg.src ?? this.localAddress;
    if (this.ring === null || src === null) {
      this.log.error(`cannot encrypt ${msg} ${this.ring === null ? 'without keys' : 'before the channel has an address'}; dropped`);
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

  /** Seals every message waiting (at the end of the turn, and before a disconnect). */
  private readonly sealAll = (): void => {
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
   * sends the result down as one message with the SYM_ENCRYPT header.
   */
  private seal(dest: Address | null, src: Address, flags: number, msgs: Message[]): DownResult {
    const ring = this.ring!;
    let plain: Uint8Array;
    try {
      plain = encodeDatagram(NO_CLUSTER, src, null, msgs);
    } catch (err) {
      this.log.error(`cannot encode ${msgs.length} message(s) to ${dest ?? 'all'}; dropped`, err);
      return;
    }
    const iv = this.nonces.take();
    const cipher = createCipheriv(ALGORITHM, ring.sendKey, iv, { authTagLength: TAG_BYTES });
    cipher.setAAD(this.aadFor(flags, dest, src));
    const ciphertext = cipher.update(plain);
    cipher.final();
    const loopsBack = dest === null || dest === this.localAddress;
    const header: SymEncryptHeader = { version: ring.sendVersion, iv, tag: cipher.getAuthTag(), sealed: loopsBack ? msgs : null };
    const out = new Message(dest);
    out.src = src;
    out.flags = flags;
    out.putHeader(this.id, header);
    out.setArray(ciphertext);
    this.stats.encrypted += msgs.length;
    this.stats.sealed++;
    return this.downProt.down(out);
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
    const h = msg.getHeader<SymEncryptHeader>(this.id);
    if (h === undefined) return this.reject('unencrypted', msg);
    if (h.sealed !== null) return this.ownCopies(h.sealed, msg);
    const key = this.ring?.byVersion.get(h.version);
    if (key === undefined) return this.reject('unknownKeyVersion', msg);
    const src = msg.src;
    if (src === null) return this.reject('malformed', msg);
    let plain: Buffer;
    try {
      const decipher = createDecipheriv(ALGORITHM, key, h.iv, { authTagLength: TAG_BYTES });
      decipher.setAuthTag(h.tag);
      decipher.setAAD(this.aadFor(msg.flags, msg.dest, src));
      plain = decipher.update(msg.getPayload());
      decipher.final(); // throws if the tag does not match: the plaintext is never used then
    } catch {
      return this.reject('authFailures', msg);
    }
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

  private reject(reason: Rejection, msg: Message): null {
    this.stats[reason]++;
    const now = Date.now();
    if (now - this.lastLog >= LOG_INTERVAL) {
      const more = this.unlogged > 0 ? ` (and ${this.unlogged} more rejected since the last report)` : '';
      this.log.warn(`dropped a message from ${msg.src ?? 'an unknown sender'}: ${describe(reason)}${more}`);
      this.lastLog = now;
      this.unlogged = 0;
    } else {
      this.unlogged++;
    }
    return null;
  }

  /** The additional authenticated data of a message, written into one reused buffer (consumed at once by setAAD). */
  private aadFor(flags: number, dest: Address | null, src: Address): Buffer {
    const aad = this.aad;
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

  /** The keys of `key_file` or `key_env`; a ConfigError names the attribute and the file or variable, never a key. */
  private loadKeys(source: string): KeyRing {
    const fail = (attribute: string, detail: string): ConfigError =>
      new ConfigError('ERR_CONFIG_BAD_VALUE', detail, { source, element: this.name, attribute });
    if ((this.keyFile === '') === (this.keyEnv === '')) {
      throw fail(this.keyFile === '' ? 'key_file' : 'key_env', 'exactly one of key_file and key_env must be set (a key is never written in the XML itself)');
    }
    if (this.keyFile !== '') {
      let text: string;
      try {
        text = readFileSync(this.keyFile, 'utf8');
      } catch (err) {
        throw fail('key_file', `cannot read the key file ${this.keyFile}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
      }
      try {
        return parseKeyRing(text, `the key file ${this.keyFile}`);
      } catch (err) {
        if (err instanceof KeyFormatError) throw fail('key_file', err.message);
        throw err;
      }
    }
    const text = process.env[this.keyEnv];
    if (text === undefined || text.trim() === '') throw fail('key_env', `the environment variable ${this.keyEnv} is not set`);
    try {
      return parseKeyRing(text, `the environment variable ${this.keyEnv}`);
    } catch (err) {
      if (err instanceof KeyFormatError) throw fail('key_env', err.message);
      throw err;
    }
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
  }
}
