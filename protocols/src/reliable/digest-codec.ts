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
    d.set(Address.fromBytes(e.member), Number(e.highestDelivered ?? 0), Number(e.highestReceived ?? 0));
  }
  return d;
}
