import type { ConfigError } from '@tsgroups/core';

/** What a token puts into the header besides timestamp and nonce. */
export interface TokenProof {
  readonly proof: Uint8Array;
  readonly cert: Uint8Array;
}

/**
 * One kind of AUTH token (`auth_class`): it proves `data` (see signedData in auth-header.ts) on
 * the way down and checks such a proof on the way up. Timestamps, nonces and replays are AUTH's
 * business, the same for every kind.
 */
export interface AuthToken {
  /** An AuthKind: a header of another kind is refused. */
  readonly kind: number;
  prove(data: Buffer): TokenProof;
  /** Null if `proof` (and `cert`) prove `data` at time `now`; otherwise why not (sent to the refused joiner: no secrets). */
  verify(data: Buffer, proof: Uint8Array, cert: Uint8Array, now: number): string | null;
}

/** Makes a ConfigError naming AUTH and `attribute` (the token's loaders report through it). */
export type AttributeError = (attribute: string, detail: string) => ConfigError;
