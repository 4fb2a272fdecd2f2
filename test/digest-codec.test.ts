// A digest survives the wire as numbers: protobufjs decodes its uint64 seqnos as Long objects,
// which digestFromData turns into numbers without going through their decimal text.
import { Address, Digest, Reader, Writer } from '@tsgroups/core';
import { tsgroups } from '../protocols/src/generated/headers.js';
import { digestFromData, digestToData } from '../protocols/src/reliable/digest-codec.js';

const StableHeader = tsgroups.protocols.StableHeader;

test('a digest decoded from a STABLE header has the seqnos that were sent, as numbers', () => {
  const a = Address.random();
  const b = Address.random();
  const d = new Digest();
  d.set(a, 1_234_567, 1_234_570);
  d.set(b, 2 ** 40 + 3, 2 ** 52);
  const w = Writer.create();
  StableHeader.encode({ type: StableHeader.Type.GOSSIP, digest: digestToData(d) }, w);
  const bytes = w.finish();
  const h = StableHeader.decode(Reader.create(bytes), bytes.length);
  const back = digestFromData(h.digest ?? []);
  expect(back.get(a)).toEqual(expect.objectContaining({ highestDelivered: 1_234_567, highestReceived: 1_234_570 }));
  expect(back.get(b)).toEqual(expect.objectContaining({ highestDelivered: 2 ** 40 + 3, highestReceived: 2 ** 52 }));
  expect(typeof back.get(a)!.highestDelivered).toBe('number');
  // An entry whose seqnos are absent (0) reads as 0.
  const empty = digestFromData([{ member: a.bytes }]);
  expect(empty.get(a)).toEqual(expect.objectContaining({ highestDelivered: 0, highestReceived: 0 }));
});
