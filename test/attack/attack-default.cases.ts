// What the default udp.xml (no encryption) must survive from an outsider (issue 12, part 4:
// the hardening of GMS, UNICAST3, discovery and the transports): the cheap spoofs and a
// corrupting path. `passing` runs in attack-default.test.ts; each of `pending` names the
// hardening it waits for, and moves to `passing` in the commit that makes it pass.
import * as cases from './attack-cases.js';

export interface PendingCase {
  case: cases.AttackCase;
  waitsFor: string;
}

/** Pass today (at the commit of this list; udp.xml has the datagram checksum on). */
export const passing: cases.AttackCase[] = [
  cases.forgedLeaveHeals,
  cases.forgedViewFromMember,
  cases.forgedViewTakeover,
  cases.forgedViewSpoofingCoordUndone,
  cases.forgedLeaveFromOther,
  cases.unicastConnReset,
  cases.forgedMergeInfo,
  cases.pingReflection,
  cases.nameBloat,
  cases.physicalPoisoning,
  cases.replayCaptured,
  cases.bitFlipped,
  cases.pingFlood,
];

/** Fail today: what each waits for. */
export const pending: PendingCase[] = [
];

/**
 * Not expected of a stack without SYM_ENCRYPT/AUTH (attack-sym-encrypt.test.ts): whoever listened
 * can send as any member (a VIEW as the coordinator is taken until the next round trip, a
 * LEAVE_REQ as a member drops it, its next seqnos are taken) and join (GMS admits 20 new members
 * a second).
 */
export const needsEncryption: cases.AttackCase[] = [
  cases.forgedViewSpoofingCoord, // taken for a round trip, then undone (forgedViewSpoofingCoordUndone passes)
  cases.forgedLeaveSpoofingLeaver,
  cases.stolenSeqnos,
  cases.phantomJoin,
  cases.joinFlood,
];
