import { registerProtocol } from '@tsgroups/core';
import { SHARED_LOOPBACK_PING } from './discovery/shared-loopback-ping.js';
import { GMS } from './gms/gms.js';
import { DELAY } from './testing/delay.js';
import { DISCARD } from './testing/discard.js';
import { SHUFFLE } from './testing/shuffle.js';
import { SHARED_LOOPBACK } from './transport/shared-loopback.js';

let done = false;

/** Registers every built-in protocol under its XML name (idempotent). */
export function registerBuiltinProtocols(): void {
  if (done) return;
  done = true;
  registerProtocol(SHARED_LOOPBACK);
  registerProtocol(SHARED_LOOPBACK_PING);
  registerProtocol(GMS);
  registerProtocol(DISCARD);
  registerProtocol(DELAY);
  registerProtocol(SHUFFLE);
}
