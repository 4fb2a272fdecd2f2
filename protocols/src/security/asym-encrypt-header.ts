import { type HeaderCodec, varintSize } from '@tsgroups/core';
import { IV_BYTES, type SymEncryptHeader, symEncryptHeaderCodec, TAG_BYTES } from './sym-encrypt-header.js';

/** Bytes of an X25519 public key (raw). */
export const PUBLIC_KEY_BYTES = 32;
/** Bytes of a wrapped group key (an AES-256 key, encrypted without padding). */
export const WRAPPED_KEY_BYTES = 32;

/** What an ASYM_ENCRYPT header that is not a seal says. */
export const KeyExchangeKind = {
  /** On a JOIN_REQ (sent in the clear): the joiner's public key, for the coordinator to wrap the group key for. */
  JOIN: 1,
  /** Member -> coordinator, in the clear: send me the group key (wrapped for this public key). */
  KEY_REQ: 2,
  /** Coordinator -> member, in the clear: the group key `version`, wrapped for the member's public key. */
  KEY: 3,
} as const;
export type KeyExchangeKind = (typeof KeyExchangeKind)[keyof typeof KeyExchangeKind];

/** An ASYM_ENCRYPT key-exchange header. */
export interface KeyExchangeHeader {
  readonly kind: KeyExchangeKind;
  /** JOIN, KEY_REQ: the sender's public key; KEY: the coordinator's one-time (ephemeral) public key. */
  readonly publicKey: Uint8Array;
  /** KEY only (0 otherwise): the group key's version. */
  readonly version: number;
  /** KEY only (empty otherwise): the AES-GCM nonce, tag and ciphertext of the wrapped group key. */
  readonly iv: Uint8Array;
  readonly tag: Uint8Array;
  readonly wrapped: Uint8Array;
}

/** ASYM_ENCRYPT's headers: a seal (as SYM_ENCRYPT's), or a key exchange. */
export type AsymEncryptHeader = SymEncryptHeader | KeyExchangeHeader;

const SEAL = 0;
const EMPTY = new Uint8Array(0);

/**
 * A kind (varint: 0 a seal, then SYM_ENCRYPT's layout; 1-3 a key exchange), then fixed
 * fields: the public key (32 bytes, with its length byte), and for a KEY the version, the
 * nonce, the tag and the wrapped key. A wrong kind or length throws: the datagram is dropped
 * as malformed by the transport.
 */
export const asymEncryptHeaderCodec: HeaderCodec<AsymEncryptHeader> = {
  encode(h, w) {
    if (!('kind' in h)) return symEncryptHeaderCodec.encode(h, w.uint32(SEAL));
    w.uint32(h.kind).bytes(h.publicKey);
    if (h.kind === KeyExchangeKind.KEY) w.uint32(h.version).bytes(h.iv).bytes(h.tag).bytes(h.wrapped);
    return w;
  },
  decode(r, length) {
    const end = r.pos + length;
    const kind = r.uint32();
    if (kind === SEAL) return symEncryptHeaderCodec.decode(r, end - r.pos);
    if (kind !== KeyExchangeKind.JOIN && kind !== KeyExchangeKind.KEY_REQ && kind !== KeyExchangeKind.KEY) {
      throw new RangeError(`unknown ASYM_ENCRYPT header kind ${kind}`);
    }
    const publicKey = r.bytes();
    if (publicKey.length !== PUBLIC_KEY_BYTES) throw new RangeError('an ASYM_ENCRYPT public key takes 32 bytes');
    if (kind !== KeyExchangeKind.KEY) {
      if (r.pos !== end) throw new RangeError('trailing bytes in an ASYM_ENCRYPT header');
      return { kind, publicKey, version: 0, iv: EMPTY, tag: EMPTY, wrapped: EMPTY };
    }
    const version = r.uint32();
    const iv = r.bytes();
    const tag = r.bytes();
    const wrapped = r.bytes();
    if (iv.length !== IV_BYTES || tag.length !== TAG_BYTES || wrapped.length !== WRAPPED_KEY_BYTES || r.pos !== end) {
      throw new RangeError('an ASYM_ENCRYPT KEY takes a version, a 12-byte iv, a 16-byte tag and a 32-byte wrapped key');
    }
    return { kind, publicKey, version, iv, tag, wrapped };
  },
  size(h) {
    if (!('kind' in h)) return 1 + symEncryptHeaderCodec.size!(h);
    const base = 1 + 1 + PUBLIC_KEY_BYTES;
    return h.kind === KeyExchangeKind.KEY ? base + varintSize(h.version) + 3 + IV_BYTES + TAG_BYTES + WRAPPED_KEY_BYTES : base;
  },
};
