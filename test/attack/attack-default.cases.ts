// What the default udp.xml (no encryption) must survive from an outsider (issue 12, part 4:
// the hardening of GMS, UNICAST3, discovery and the transports): the cheap spoofs and a
// corrupting path. `passing` runs in attack-default.test.ts; each of `pending` names the
// hardening it waits for, and moves to `passing` in the commit that makes it pass.
import * as cases from './attack-cases.js';

export interface PendingCase {
  case: cases.AttackCase;
  waitsFor: string;
}

/** Pass today, at the commit of this file and with the hardening then in progress. */
export const passing: cases.AttackCase[] = [cases.forgedMergeInfo, cases.replayCaptured, cases.pingFlood, cases.joinFlood];

/** Fail at the commit of this file (most pass with the hardening in progress, uncommitted then). */
export const pending: PendingCase[] = [
  { case: cases.forgedViewSpoofingCoord, waitsFor: 'GMS hardening: a VIEW only from the known coordinator, for a view that follows' },
  { case: cases.forgedViewFromMember, waitsFor: 'GMS hardening: a VIEW only from the known coordinator' },
  { case: cases.forgedLeaveFromOther, waitsFor: "GMS hardening: a LEAVE_REQ naming another member than its sender is dropped (today the sender leaves: the coordinator drops C's unicasts)" },
  { case: cases.forgedLeaveSpoofingLeaver, waitsFor: "GMS hardening: after a LEAVE_REQ spoofing B the view stays, but B's unicasts to A stop (the GMS work in progress)" },
  { case: cases.unicastConnReset, waitsFor: 'UNICAST3 hardening: a new conn id only on a proper handshake' },
  { case: cases.pingReflection, waitsFor: "discovery hardening: answers only to the requester's source" },
  { case: cases.nameBloat, waitsFor: 'discovery hardening: bounded names' },
  { case: cases.physicalPoisoning, waitsFor: 'transport hardening: physical addresses not learned from any datagram' },
  { case: cases.bitFlipped, waitsFor: 'transport CRC32C checksums, on in udp.xml' },
];

/** Not expected of a stack without SYM_ENCRYPT/AUTH: anyone on the network can join or inject (attack-sym-encrypt.test.ts). */
export const needsEncryption: cases.AttackCase[] = [cases.stolenSeqnos, cases.phantomJoin];
