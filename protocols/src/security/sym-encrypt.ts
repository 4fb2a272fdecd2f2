import { readFileSync } from 'node:fs';
import { ConfigError, type PropertyDecls, type ProtocolStack } from '@tsgroups/core';
import { ProtocolId } from '../ids.js';
import { Encrypt } from './encrypt.js';
import { KeyFormatError, type KeyRing, parseKeyRing } from './key-ring.js';
import { symEncryptHeaderCodec } from './sym-encrypt-header.js';

/** What {@link SYM_ENCRYPT.reloadKeys} loaded. */
export interface LoadedKeys {
  /** The version messages are now encrypted with. */
  sendVersion: number;
  /** Every version accepted on receive. */
  versions: number[];
}

/**
 * Authenticated encryption of every message with a shared key (AES-256-GCM), after JGroups'
 * SYM_ENCRYPT. It must sit directly above the transport; how messages are sealed, opened,
 * checked against replays and rejected is {@link Encrypt}'s (shared with ASYM_ENCRYPT).
 *
 * Keys come from a file (`key_file`) or an environment variable (`key_env`), never from the XML:
 * one key per line, `version:key` (the first line is the key messages are sent with; every
 * listed key is accepted), each key 64 hex characters or the base64 of 32 bytes. See
 * docs/security.md for rolling keys without downtime with {@link reloadKeys}.
 */
export class SYM_ENCRYPT extends Encrypt {
  static override readonly protocolName = 'SYM_ENCRYPT';
  static override readonly id = ProtocolId.SYM_ENCRYPT;
  static override readonly headerCodec = symEncryptHeaderCodec;
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

  override checkConfig(stack: ProtocolStack): void {
    super.checkConfig(stack);
    this.ring = this.loadKeys(stack.source);
  }

  override init(): void {
    this.ring ??= this.loadKeys(this.stack.source);
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
