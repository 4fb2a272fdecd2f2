// What SYM_ENCRYPT does not stop alone yet (attack-sym-encrypt.test.ts runs the rest): each
// case names what it waits for, and moves into the test in the commit that makes it pass.
import type { Base } from './attack-cluster.js';
import * as cases from './attack-cases.js';
import { tcpForgedFramesClaimingMembers, tcpForgedFramesNewPeer } from './tcp-attack-cases.js';

export interface PendingSymCase {
  base: Base;
  case: cases.AttackCase;
  waitsFor: string;
}

export const pending: PendingSymCase[] = [
  {
    base: 'udp.xml',
    case: cases.physicalPoisoning,
    waitsFor: "UDP learns a sender's address from any datagram that decodes, below SYM_ENCRYPT: an outsider claiming to be B gets A's (encrypted) datagrams for B",
  },
  {
    base: 'tcp-file.xml',
    case: tcpForgedFramesClaimingMembers,
    waitsFor: "TCP hardening: a hello claiming a member's address takes that member's place at the receiver, whose unicasts to it stop",
  },
  {
    base: 'tcp.xml',
    case: { ...tcpForgedFramesNewPeer, name: `${tcpForgedFramesNewPeer.name}, over tcp.xml (TCPPING)` },
    waitsFor: "SYM_ENCRYPT with TCPPING: TCPPING's requests to its list go straight to the transport unencrypted and are rejected, so a member started after the coordinator never joins",
  },
];

