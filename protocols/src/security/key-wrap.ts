import { createCipheriv, createDecipheriv, createPublicKey, diffieHellman, generateKeyPairSync, hkdfSync, type KeyObject, randomBytes } from 'node:crypto';
import { IV_BYTES, TAG_BYTES } from './sym-encrypt-header.js';

const INFO = Buffer.from('tsgroups ASYM_ENCRYPT group key');

/** An X25519 key pair, with the public key in its raw 32 bytes (as it travels). */
export interface X25519KeyPair {
  readonly privateKey: KeyObject;
  readonly publicRaw: Uint8Array;
}

/** A group key wrapped for one member: what a KEY header carries. */
export interface WrappedKey {
  readonly ephemeral: Uint8Array;
  readonly iv: Uint8Array;
  readonly tag: Uint8Array;
  readonly wrapped: Uint8Array;
}

export function newKeyPair(): X25519KeyPair {
  const { privateKey, publicKey } = generateKeyPairSync('x25519');
  return { privateKey, publicRaw: rawPublic(publicKey) };
}

/** The KeyObject of a raw X25519 public key; throws if it is not one. */
export function publicKeyFromRaw(raw: Uint8Array): KeyObject {
  return createPublicKey({ key: { kty: 'OKP', crv: 'X25519', x: Buffer.from(raw).toString('base64url') }, format: 'jwk' });
}

/**
 * Whether `raw` is a public key a shared secret can be agreed with (a point of small order
 * gives an all-zero secret, which OpenSSL refuses: anyone could compute it).
 */
export function isUsablePublicKey(raw: Uint8Array, own: X25519KeyPair): boolean {
  try {
    diffieHellman({ privateKey: own.privateKey, publicKey: publicKeyFromRaw(raw) });
    return true;
  } catch {
    return false;
  }
}

/**
 * Encrypts `groupKey` for the holder of `recipient`'s private key: X25519 between a one-time
 * key pair and `recipient`, HKDF-SHA256 over the shared secret (salted with both public keys)
 * into an AES-256-GCM key, which encrypts the group key with `context` (version, sender,
 * recipient) as additional data. Throws if `recipient` is not a usable public key.
 */
export function wrapGroupKey(groupKey: Uint8Array, recipient: Uint8Array, context: Uint8Array): WrappedKey {
  const eph = newKeyPair();
  const kek = deriveKek(eph.privateKey, recipient, eph.publicRaw, recipient);
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', kek, iv, { authTagLength: TAG_BYTES });
  cipher.setAAD(context);
  const wrapped = Buffer.concat([cipher.update(groupKey), cipher.final()]);
  kek.fill(0);
  return { ephemeral: eph.publicRaw, iv, tag: cipher.getAuthTag(), wrapped };
}

/** The group key of `w`, wrapped for `own`; null if it was not (another key, altered, or another context). */
export function unwrapGroupKey(w: WrappedKey, own: X25519KeyPair, context: Uint8Array): Buffer | null {
  let kek: Buffer | null = null;
  try {
    kek = deriveKek(own.privateKey, w.ephemeral, w.ephemeral, own.publicRaw);
    const decipher = createDecipheriv('aes-256-gcm', kek, w.iv, { authTagLength: TAG_BYTES });
    decipher.setAuthTag(w.tag);
    decipher.setAAD(context);
    const key = decipher.update(w.wrapped);
    decipher.final();
    return key;
  } catch {
    return null;
  } finally {
    kek?.fill(0);
  }
}

function deriveKek(privateKey: KeyObject, peer: Uint8Array, ephemeral: Uint8Array, recipient: Uint8Array): Buffer {
  const shared = diffieHellman({ privateKey, publicKey: publicKeyFromRaw(peer) });
  const kek = Buffer.from(hkdfSync('sha256', shared, Buffer.concat([ephemeral, recipient]), INFO, 32));
  shared.fill(0);
  return kek;
}

function rawPublic(key: KeyObject): Uint8Array {
  return Buffer.from(key.export({ format: 'jwk' }).x!, 'base64url');
}
