import { Address, Digest } from '@tsgroups/core';
import type { tsgroups } from '../generated/headers.js';

type DigestEntry = tsgroups.protocols.DigestEntry.$Properties;

/** A digest in its wire form. */
export function digestToData(d: Digest): DigestEntry[] {
  const out: DigestEntry[] = [];
  for (const [m, r] of d) out.push({ member: m.bytes, highestDelivered: r.highestDelivered, highestReceived: r.highestReceived });
  return out;
}

/** The digest a wire form describes; throws RangeError on a malformed address. */
export function digestFromData(entries: readonly DigestEntry[]): Digest {
  const d = new Digest();
  for (const e of entries) {
    if (!e.member) throw new RangeError('a digest entry needs a member');
    d.set(Address.fromBytes(e.member), seqnoOf(e.highestDelivered), seqnoOf(e.highestReceived));
  }
  return d;
}

/**
 * A decoded uint64 as a number: protobufjs reads it as a Long object, which `Number()` would
 * convert through its decimal text (STABLE decodes a digest from every member's gossip).
 */
function seqnoOf(v: unknown): number {
  if (typeof v === 'number') return v;
  if (typeof v === 'object' && v !== null && typeof (v as { toNumber?: unknown }).toNumber === 'function') return (v as { toNumber(): number }).toNumber();
  return Number(v ?? 0);
}
