// What the default udp.xml (no encryption) must survive from an outsider (issue 12, part 4:
// the hardening of GMS, UNICAST3, discovery and the transports): the cheap spoofs and a
// corrupting path. `passing` runs in attack-default.test.ts; each of `pending` names the
// hardening it waits for, and moves to `passing` in the commit that makes it pass.
import * as cases from './attack-cases.js';

export interface PendingCase {
  case: cases.AttackCase;
  waitsFor: string;
}

/** Pass today (at the commit of this list). */
export const passing: cases.AttackCase[] = [
  cases.forgedLeaveFromOther,
  cases.unicastConnReset,
  cases.forgedMergeInfo,
  cases.pingReflection,
  cases.nameBloat,
  cases.replayCaptured,
  cases.pingFlood,
];

/** Pass today with the transport's checksum on (TSGROUPS_CHECKSUM=true). */
export const withChecksum: cases.AttackCase[] = [cases.bitFlipped];

/** Fail today: what each waits for. */
export const pending: PendingCase[] = [
  {
    case: cases.forgedViewSpoofingCoord,
    waitsFor: "GMS: the view stays, but a VIEW spoofing the coordinator that drops C stops C's unicasts to B (15 s and more)",
  },
  { case: cases.forgedViewFromMember, waitsFor: 'GMS: passes in some runs; in others a member\'s unicasts to another stop after it' },
  { case: cases.forgedLeaveSpoofingLeaver, waitsFor: "GMS: the view stays, but after a LEAVE_REQ spoofing B, B's unicasts to the coordinator stop (15 s and more)" },
  {
    case: cases.physicalPoisoning,
    waitsFor: "transport: an outsider sending as B to A's port for 1 s still gets a few of A's datagrams for B (2 in one run); under SYM_ENCRYPT none",
  },
  { case: cases.bitFlipped, waitsFor: 'the checksum on by default in udp.xml (it passes with TSGROUPS_CHECKSUM=true): without it flipped payloads and senders are delivered' },
];

/** Not expected of a stack without SYM_ENCRYPT/AUTH (attack-sym-encrypt.test.ts): an outsider who listened can send as a member, and join (GMS admits 20 new members a second). */
export const needsEncryption: cases.AttackCase[] = [cases.stolenSeqnos, cases.phantomJoin, cases.joinFlood];
