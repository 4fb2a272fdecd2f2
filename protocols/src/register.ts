import { registerBuiltinProtocol } from '@tsgroups/core';
import { PING } from './discovery/ping.js';
import { FILE_PING } from './discovery/file-ping.js';
import { TCPPING } from './discovery/tcpping.js';
import { SHARED_LOOPBACK_PING } from './discovery/shared-loopback-ping.js';
import { FD_ALL3 } from './fd/fd-all3.js';
import { FD_SOCK2 } from './fd/fd-sock2.js';
import { VERIFY_SUSPECT2 } from './fd/verify-suspect2.js';
import { FRAG2 } from './frag/frag2.js';
import { GMS } from './gms/gms.js';
import { MFC } from './flow/mfc.js';
import { UFC } from './flow/ufc.js';
import { UNICAST3 } from './reliable/unicast3.js';
import { NAKACK2 } from './reliable/nakack2.js';
import { STABLE } from './reliable/stable.js';
import { MERGE3 } from './merge/merge3.js';
import { RSVP } from './rsvp/rsvp.js';
import { BARRIER } from './state/barrier.js';
import { STATE_TRANSFER } from './state/state-transfer.js';
import { SEQUENCER } from './order/sequencer.js';
import { DELAY } from './testing/delay.js';
import { DISCARD } from './testing/discard.js';
import { SHUFFLE } from './testing/shuffle.js';
import { SHARED_LOOPBACK } from './transport/shared-loopback.js';
import { UDP } from './transport/udp.js';
import { TCP } from './transport/tcp.js';

let done = false;

/** Registers every built-in protocol under its XML name (idempotent). */
export function registerBuiltinProtocols(): void {
  if (done) return;
  done = true;
  registerBuiltinProtocol(SHARED_LOOPBACK);
  registerBuiltinProtocol(SHARED_LOOPBACK_PING);
  registerBuiltinProtocol(UDP);
  registerBuiltinProtocol(TCP);
  registerBuiltinProtocol(PING);
  registerBuiltinProtocol(TCPPING);
  registerBuiltinProtocol(FILE_PING);
  registerBuiltinProtocol(GMS);
  registerBuiltinProtocol(MFC);
  registerBuiltinProtocol(UFC);
  registerBuiltinProtocol(UNICAST3);
  registerBuiltinProtocol(NAKACK2);
  registerBuiltinProtocol(STABLE);
  registerBuiltinProtocol(MERGE3);
  registerBuiltinProtocol(FD_ALL3);
  registerBuiltinProtocol(FD_SOCK2);
  registerBuiltinProtocol(VERIFY_SUSPECT2);
  registerBuiltinProtocol(FRAG2);
  registerBuiltinProtocol(RSVP);
  registerBuiltinProtocol(BARRIER);
  registerBuiltinProtocol(STATE_TRANSFER);
  registerBuiltinProtocol(SEQUENCER);
  registerBuiltinProtocol(DISCARD);
  registerBuiltinProtocol(DELAY);
  registerBuiltinProtocol(SHUFFLE);
}
