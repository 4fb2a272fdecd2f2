import { createHmac, hkdfSync, type KeyObject, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { AuthKind } from './auth-header.js';
import type { AttributeError, AuthToken, TokenProof } from './auth-token.js';
import { KeyFormatError, type KeyRing, parseKeyRing } from './key-ring.js';

const EMPTY = new Uint8Array(0);
/** HKDF's info for AUTH's HMAC key: a file shared with SYM_ENCRYPT never puts one key to two uses. */
const HMAC_KEY_INFO = 'tsgroups AUTH hmac key';

/** The HMAC key derived from a secret (HKDF-SHA256), never the secret itself. */
function hmacKey(secret: KeyObject): Buffer {
  return Buffer.from(hkdfSync('sha256', secret, new Uint8Array(0), HMAC_KEY_INFO, 32));
}

/**
 * The shared-secret token (`auth_class="hmac"`): HMAC-SHA256 under the cluster's secret. The
 * secrets are read as SYM_ENCRYPT reads its keys (one per line, `version:secret`, 64 hex
 * characters or base64 of 32 bytes): the first proves, every one listed is accepted, so a
 * cluster rolls to a new secret as it rolls a key. Compared in constant time. The HMAC key is
 * derived from each secret with HKDF, so the secure stacks can read AUTH's secret and
 * SYM_ENCRYPT's key from one file (TSGROUPS_KEY_FILE) without using one key for two ciphers.
 */
export class HmacToken implements AuthToken {
  readonly kind = AuthKind.HMAC;

  private readonly sendKey: Buffer;
  private readonly acceptKeys: Buffer[];

  constructor(ring: KeyRing) {
    this.sendKey = hmacKey(ring.sendKey);
    this.acceptKeys = [...ring.byVersion.values()].map(hmacKey);
  }

  /**
   * The secrets of `secretFile` or `secretEnv` (exactly one set); a ConfigError (through `fail`)
   * names the attribute and the file or variable, never a secret.
   */
  static load(secretFile: string, secretEnv: string, fail: AttributeError): HmacToken {
    if ((secretFile === '') === (secretEnv === '')) {
      throw fail(secretFile === '' ? 'secret_file' : 'secret_env', 'auth_class="hmac" takes exactly one of secret_file and secret_env (a secret is never written in the XML itself)');
    }
    const [attribute, where, text] = secretFile !== '' ? ['secret_file', `the secret file ${secretFile}`, readSecretFile(secretFile, fail)] : ['secret_env', `the environment variable ${secretEnv}`, process.env[secretEnv]];
    if (text === undefined || text.trim() === '') throw fail(attribute, `${where} is ${secretFile !== '' ? 'empty' : 'not set'}`);
    try {
      return new HmacToken(parseKeyRing(text, where));
    } catch (err) {
      if (err instanceof KeyFormatError) throw fail(attribute, err.message.replaceAll('key', 'secret'));
      throw err;
    }
  }

  prove(data: Buffer): TokenProof {
    return { proof: createHmac('sha256', this.sendKey).update(data).digest(), cert: EMPTY };
  }

  verify(data: Buffer, proof: Uint8Array, _cert: Uint8Array, _now: number): string | null {
    if (proof.length === 32) {
      for (const key of this.acceptKeys) {
        if (timingSafeEqual(createHmac('sha256', key).update(data).digest(), proof)) return null;
      }
    }
    return 'the HMAC token does not match the cluster\'s secret';
  }
}

function readSecretFile(path: string, fail: AttributeError): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw fail('secret_file', `cannot read the secret file ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
}
