import { type HeaderCodec, type Message, varintSize } from '@tsgroups/core';

/** Bytes of an AES-GCM nonce (the size GCM is defined for without hashing it). */
export const IV_BYTES = 12;
/** Bytes of the GCM authentication tag. */
export const TAG_BYTES = 16;

/** SYM_ENCRYPT's header: which key encrypted the message, its nonce and its GCM tag. */
export interface SymEncryptHeader {
  readonly version: number;
  readonly iv: Uint8Array;
  readonly tag: Uint8Array;
  /**
   * Only on a header this member made, never on one decoded from the network: the messages it
   * sealed, so that its own loopback copy (a multicast, or a message to itself) is not
   * decrypted again. Not encoded.
   */
  readonly sealed: readonly Message[] | null;
}

/**
 * `version` (varint), then `iv` and `tag`, each with its length byte. Fixed layout, no field
 * tags: a decoder that accepts nothing else (a wrong length throws, and the datagram is dropped
 * as malformed). The iv and tag decode as views on the datagram, not copies.
 */
export const symEncryptHeaderCodec: HeaderCodec<SymEncryptHeader> = {
  encode(h, w) {
    return w.uint32(h.version).bytes(h.iv).bytes(h.tag);
  },
  decode(r, length) {
    const end = r.pos + length;
    const version = r.uint32();
    const iv = r.bytes();
    const tag = r.bytes();
    if (iv.length !== IV_BYTES || tag.length !== TAG_BYTES || r.pos !== end) {
      throw new RangeError('a SYM_ENCRYPT header takes a version, a 12-byte iv and a 16-byte tag');
    }
    return { version, iv, tag, sealed: null };
  },
  size(h) {
    return varintSize(h.version) + 2 + IV_BYTES + TAG_BYTES;
  },
};
