import { createSecretKey, type KeyObject } from 'node:crypto';

/** Bytes of an AES-256 key. */
export const KEY_BYTES = 32;
/** The largest key version: versions travel as a uint32 varint. */
export const MAX_KEY_VERSION = 0xffffffff;

/**
 * The keys of a cluster: the one this member encrypts with, and every key it accepts (the
 * sending key included), by version. Several keys let a cluster roll to a new one without
 * downtime (see docs/security.md).
 */
export interface KeyRing {
  /** The version of the key messages are encrypted with: the first key listed. */
  readonly sendVersion: number;
  readonly sendKey: KeyObject;
  /** Every key accepted on receive, by version. */
  readonly byVersion: ReadonlyMap<number, KeyObject>;
}

/** A key text that does not parse; the message says where, never what the key was. */
export class KeyFormatError extends Error {}

const HEX_KEY = /^[0-9a-fA-F]{64}$/;
// 32 bytes in base64: 43 characters and one '=' of padding (or none); standard or URL alphabet.
const BASE64_KEY = /^(?:[A-Za-z0-9+/]{43}|[A-Za-z0-9_-]{43})=?$/;
const VERSION = /^\d{1,10}$/;

/**
 * Parses key text: one key per line, `version:key` or a bare key (version 0, only when it is
 * the only key), each key 64 hex characters or the base64 of 32 bytes; blank lines and lines
 * starting with `#` are skipped, whitespace around a line or a field is ignored. The first key
 * listed is the sending key.
 * @param where what the text came from, for errors (`key file /etc/k`); keys never appear in them
 * @throws KeyFormatError
 */
export function parseKeyRing(text: string, where: string): KeyRing {
  const byVersion = new Map<number, KeyObject>();
  let sendVersion = -1;
  let bare = false;
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (line === '' || line.startsWith('#')) continue;
    const at = `line ${i + 1} of ${where}`;
    const colon = line.indexOf(':');
    let version = 0;
    let keyText = line;
    if (colon >= 0) {
      const v = line.slice(0, colon).trim();
      if (!VERSION.test(v) || Number(v) > MAX_KEY_VERSION) {
        throw new KeyFormatError(`${at}: the key version must be a decimal integer from 0 to ${MAX_KEY_VERSION} ("version:key")`);
      }
      version = Number(v);
      keyText = line.slice(colon + 1).trim();
    } else {
      bare = true;
    }
    const key = decodeKey(keyText);
    if (key === null) {
      throw new KeyFormatError(`${at}: not a ${KEY_BYTES}-byte key (expected 64 hex characters or the base64 of ${KEY_BYTES} bytes)`);
    }
    if (byVersion.has(version)) throw new KeyFormatError(`${at}: key version ${version} is listed twice`);
    byVersion.set(version, createSecretKey(key));
    key.fill(0);
    if (sendVersion < 0) sendVersion = version;
  }
  if (sendVersion < 0) throw new KeyFormatError(`${where} holds no key`);
  if (bare && byVersion.size > 1) {
    throw new KeyFormatError(`${where}: with more than one key, every line must name its version ("version:key")`);
  }
  return { sendVersion, sendKey: byVersion.get(sendVersion)!, byVersion };
}

/** The 32 key bytes of `text` (hex or base64), or null. */
function decodeKey(text: string): Buffer | null {
  if (HEX_KEY.test(text)) return Buffer.from(text, 'hex');
  if (BASE64_KEY.test(text)) {
    const key = Buffer.from(text, text.includes('-') || text.includes('_') ? 'base64url' : 'base64');
    if (key.length === KEY_BYTES) return key;
    key.fill(0);
  }
  return null;
}
