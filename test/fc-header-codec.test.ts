// MFC's and UFC's header codec hands the receiver its credits as a number (protobufjs reads a
// uint64 as a Long object), and counts exactly what it writes.
import { Reader, Writer } from '@tsgroups/core';
import { fcHeaderCodec } from '../protocols/src/header-codecs.js';

function roundTrip(h: { type?: number; credits?: number }): { type?: number | null; credits?: number | null } {
  const w = Writer.create();
  fcHeaderCodec.encode(h, w);
  const bytes = w.finish();
  expect(bytes.length).toBe(fcHeaderCodec.size!(h));
  return fcHeaderCodec.decode(Reader.create(bytes), bytes.length);
}

test('credits come back as numbers, also when absent or above 2^32', () => {
  for (const credits of [1, 1_600_000, 4_000_000, 2 ** 32 + 5, 2 ** 53 - 1]) {
    const h = roundTrip({ type: 1, credits });
    expect(typeof h.credits).toBe('number');
    expect(h.credits).toBe(credits);
    expect(h.type).toBe(1);
  }
  const empty = roundTrip({ type: 2 });
  expect(Number(empty.credits ?? 0)).toBe(0);
  expect(typeof (empty.credits ?? 0)).toBe('number');
});
