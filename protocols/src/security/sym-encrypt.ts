import { createCipheriv, createDecipheriv } from 'node:crypto';
import { readFileSync } from 'node:fs';
import {
  type Address,
  type AnyEvent,
  ConfigError,
  type DownResult,
  decodeDatagram,
  encodeDatagram,
  EventType,
  Message,
  type MessageBatch,
  Protocol,
  type ProtocolClass,
  type PropertyDecls,
  type ProtocolStack,
  TRANSIENT_FLAGS,
  utf8Encode,
} from '@tsgroups/core';
import { ProtocolId } from '../ids.js';
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
 * SYM_ENCRYPT. It must sit directly above the transport: on the way down it replaces each
 * message by one whose payload is the ciphertext of the whole encoded message (flags, source,
 * every header of every protocol above, payload) and which carries a {@link SymEncryptHeader}
 * (key version, nonce, GCM tag). The outer flags, the destination, the source and the cluster
 * name are authenticated as additional data, so a ciphertext replayed with another source,
 * destination or cluster fails. On the way up, a message that fails authentication, names an
 * unknown key version, does not decode, or is not encrypted at all is dropped and counted,
 * never parsed further nor passed up.
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
    /** Messages encrypted on the way down. */
    encrypted: 0,
    /** Messages authenticated and decrypted on the way up. */
    decrypted: 0,
    /** This member's own messages that came back through the transport's loopback: passed up without decrypting. */
    loopedBack: 0,
    /** Rejected: the GCM tag did not match (wrong key, or anything in the message or its AAD altered). */
    authFailures: 0,
    /** Rejected: encrypted with a key version this member does not hold. */
    unknownKeyVersion: 0,
    /** Rejected: authenticated, but the plaintext is not one encoded message from that source. */
    malformed: 0,
    /** Rejected: no SYM_ENCRYPT header (a member without SYM_ENCRYPT, or a forgery). */
    unencrypted: 0,
  };

  private ring: KeyRing | null = null;
  private readonly nonces = new NonceSequence();
  private aad: Buffer = Buffer.alloc(AAD_CLUSTER);
  /** One-element array handed to encodeDatagram, so encoding allocates no array per message. */
  private readonly one: Message[] = [];
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
    return super.downEvent(evt);
  }

  // ---- down: seal ----
  override down(msg: Message): DownResult {
    const ring = this.ring;
    const src = msg.src ?? this.localAddress;
    if (ring === null || src === null) {
      this.log.error(`cannot encrypt ${msg} ${ring === null ? 'without keys' : 'before the channel has an address'}; dropped`);
      return;
    }
    const one = this.one;
    one[0] = msg;
    let plain: Uint8Array;
    try {
      plain = encodeDatagram(NO_CLUSTER, src, null, one);
    } catch (err) {
      this.log.error(`cannot encode ${msg}; dropped`, err);
      return;
    } finally {
      one.length = 0;
    }
    const iv = this.nonces.take();
    const cipher = createCipheriv(ALGORITHM, ring.sendKey, iv, { authTagLength: TAG_BYTES });
    cipher.setAAD(this.aadFor(msg.flags, msg.dest, src));
    const ciphertext = cipher.update(plain);
    cipher.final();
    const dest = msg.dest;
    const loopsBack = dest === null || dest === this.localAddress;
    const header: SymEncryptHeader = { version: ring.sendVersion, iv, tag: cipher.getAuthTag(), sealed: loopsBack ? msg : null };
    const out = new Message(dest);
    out.src = src;
    out.flags = msg.flags;
    out.putHeader(this.id, header);
    out.setArray(ciphertext);
    this.stats.encrypted++;
    return this.downProt.down(out);
  }

  // ---- up: authenticate and open ----
  override up(msg: Message): void {
    const plain = this.open(msg);
    if (plain !== null) this.upProt.up(plain);
  }

  override upBatch(batch: MessageBatch): void {
    batch.replaceEach(this.open);
    if (!batch.isEmpty()) this.upProt.upBatch(batch);
  }

  /** The decrypted message, or null (counted) if `msg` is rejected. Never throws. Bound once: no closure per batch. */
  private readonly open = (msg: Message): Message | null => {
    const h = msg.getHeader<SymEncryptHeader>(this.id);
    if (h === undefined) return this.reject('unencrypted', msg);
    if (h.sealed !== null) return this.ownCopy(h.sealed, msg);
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
    if (typeof decoded === 'string' || decoded.batch.size() !== 1) return this.reject('malformed', msg);
    const inner = decoded.batch.toArray()[0]!;
    if (inner.src !== src) return this.reject('malformed', msg);
    inner.dest = msg.dest;
    this.stats.decrypted++;
    return inner;
  };

  /** The transport's loopback copy of a message this member sealed: a copy of the original, not decrypted again. */
  private ownCopy(sealed: Message, outer: Message): Message {
    const m = sealed.copy();
    m.src = outer.src;
    m.dest = outer.dest;
    this.stats.loopedBack++;
    return m;
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
