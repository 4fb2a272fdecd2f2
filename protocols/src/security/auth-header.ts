import type { HeaderCodec } from '@tsgroups/core';

/** Which token made an {@link AuthHeader}. */
export const AuthKind = { HMAC: 1, X509: 2 } as const;

/** Bytes of a token's random nonce. */
export const NONCE_BYTES = 16;
/** The largest proof (an HMAC, or a signature: RSA-8192's is 1024 bytes). */
export const MAX_PROOF_BYTES = 1024;
/** The largest certificate a header carries (DER). */
export const MAX_CERT_BYTES = 16 * 1024;

/**
 * AUTH's header, on JOIN_REQ, MERGE_REQ and MERGE_RSP: the token of the member that sent it. The
 * proof covers the cluster name, the GMS message type, the sender's address, `timestamp` and
 * `nonce` (see {@link signedData}).
 */
export interface AuthHeader {
  /** An {@link AuthKind}. */
  readonly kind: number;
  /** The sender's clock when it made the token (ms since the epoch). */
  readonly timestamp: number;
  readonly nonce: Uint8Array;
  /** HMAC-SHA256 (hmac), or the signature by the member's private key (x509). */
  readonly proof: Uint8Array;
  /** x509: the member's certificate (DER); empty for hmac. */
  readonly cert: Uint8Array;
}

/**
 * `kind` (varint), `timestamp` (double), then `nonce`, `proof` and `cert`, each with its length.
 * Fixed layout, bounded sizes: anything else throws, and the datagram is dropped as malformed.
 */
export const authHeaderCodec: HeaderCodec<AuthHeader> = {
  encode(h, w) {
    return w.uint32(h.kind).double(h.timestamp).bytes(h.nonce).bytes(h.proof).bytes(h.cert);
  },
  decode(r, length) {
    const end = r.pos + length;
    const kind = r.uint32();
    const timestamp = r.double();
    const nonce = r.bytes();
    const proof = r.bytes();
    const cert = r.bytes();
    if (nonce.length !== NONCE_BYTES || proof.length > MAX_PROOF_BYTES || cert.length > MAX_CERT_BYTES || !Number.isFinite(timestamp) || r.pos !== end) {
      throw new RangeError('an AUTH header takes a kind, a timestamp, a 16-byte nonce, a proof and a certificate of bounded sizes');
    }
    return { kind, timestamp, nonce, proof, cert };
  },
};

const DOMAIN = Buffer.from('tsgroups-auth/1\0', 'latin1');

/**
 * The bytes a token proves: a domain tag, its kind, the GMS message type it rides on (a join
 * token cannot pass for a merge's), the sender's address, timestamp, nonce and the cluster name
 * (last, so no field needs a length).
 */
export function signedData(kind: number, gmsType: number, member: Uint8Array, timestamp: number, nonce: Uint8Array, cluster: string): Buffer {
  const clusterBytes = Buffer.from(cluster, 'utf8');
  const out = Buffer.allocUnsafe(DOMAIN.length + 2 + member.length + 8 + nonce.length + clusterBytes.length);
  let at = DOMAIN.copy(out, 0);
  out[at++] = kind & 0xff;
  out[at++] = gmsType & 0xff;
  out.set(member, at);
  at += member.length;
  out.writeDoubleBE(timestamp, at);
  at += 8;
  out.set(nonce, at);
  at += nonce.length;
  clusterBytes.copy(out, at);
  return out;
}
