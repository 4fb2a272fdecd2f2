import { Address, Digest, Reader, Writer } from '@tsgroups/core';

/**
 * A digest as STATE_TRANSFER carries it in a payload: the highest delivered seqno of each
 * sender (all a requester needs: where its stream continues after the state).
 */
export function encodeStateDigest(d: Digest): Uint8Array {
  const w = Writer.create();
  w.uint32(d.size());
  for (const [member, r] of d) w.bytes(member.bytes).uint32(r.highestDelivered);
  return w.finish();
}

/** @throws RangeError on malformed input */
export function decodeStateDigest(bytes: Uint8Array): Digest {
  const r = Reader.create(bytes);
  const d = new Digest();
  for (let n = r.uint32(); n > 0; n--) {
    const member = Address.fromBytes(r.bytes());
    d.set(member, r.uint32());
  }
  return d;
}
