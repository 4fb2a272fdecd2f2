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
  cases.forgedViewTakeover,
  cases.forgedViewFromMember,
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
    case: cases.forgedLeaveHeals,
    waitsFor:
      'GMS/MERGE3: the spoofed member, dropped by a view it never got, stays in the old view of the same coordinator for good (no merge in 30 s with MERGE3 at 1-3 s): the split the issue reports',
  },
  {
    case: cases.physicalPoisoning,
    waitsFor: "transport: an outsider sending as B to A's port for 1 s still gets a few of A's datagrams for B (2 in one run); under SYM_ENCRYPT none",
  },
  { case: cases.bitFlipped, waitsFor: 'the checksum on by default in udp.xml (it passes with TSGROUPS_CHECKSUM=true): without it flipped payloads and senders are delivered' },
];

/**
 * Not expected of a stack without SYM_ENCRYPT/AUTH (attack-sym-encrypt.test.ts): whoever listened
 * can send as any member (a VIEW as the coordinator is installed, a LEAVE_REQ as a member drops
 * it, its next seqnos are taken) and join (GMS admits 20 new members a second).
 */
export const needsEncryption: cases.AttackCase[] = [
  cases.forgedViewSpoofingCoord,
  cases.forgedLeaveSpoofingLeaver,
  cases.stolenSeqnos,
  cases.phantomJoin,
  cases.joinFlood,
];
