// Feeds decodeDatagram >100,000 damaged or foreign datagrams. Everything is generated from one
// seed (set TSGROUPS_FUZZ_SEED to replay a failure; failures print the seed, category and input).
import {
  Address,
  DropReason,
  Flag,
  HeaderRegistry,
  Message,
  MessageBatch,
  WIRE_MAGIC,
  WIRE_VERSION,
  Writer,
  decodeDatagram,
  encodeDatagram,
  utf8Encode,
  seededRandom,
} from '@tsgroups/core';
import { tsgroups } from '../src/generated/wire.js';
import { MARKER, blobCodec, encodeHeader, markerCodec, seqCodec } from './helpers/wire.js';

const SEED = process.env.TSGROUPS_FUZZ_SEED !== undefined ? Number(process.env.TSGROUPS_FUZZ_SEED) >>> 0 : 0x5eed2026;

const SEQ = 1200;
const BLOB = 1201;
const MARK = 1202;
HeaderRegistry.register(SEQ, 'TEST_FUZZ_SEQ', seqCodec);
HeaderRegistry.register(BLOB, 'TEST_FUZZ_BLOB', blobCodec);
HeaderRegistry.register(MARK, 'TEST_FUZZ_MARK', markerCodec);


/** A PRNG per category, so that each category replays on its own. */
function rngFor(category: string): { next: () => number; int: (n: number) => number; bytes: (n: number) => Uint8Array } {
  let h = SEED;
  for (let i = 0; i < category.length; i++) h = Math.imul(h ^ category.charCodeAt(i), 0x9e3779b1) >>> 0;
  const next = seededRandom(h);
  const int = (n: number): number => Math.floor(next() * n);
  const bytes = (n: number): Uint8Array => {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i += 4) {
      const v = (next() * 4294967296) >>> 0;
      out[i] = v;
      if (i + 1 < n) out[i + 1] = v >>> 8;
      if (i + 2 < n) out[i + 2] = v >>> 16;
      if (i + 3 < n) out[i + 3] = v >>> 24;
    }
    return out;
  };
  return { next, int, bytes };
}

// ---- valid datagrams to damage ----

const CLUSTER = utf8Encode('fuzz-cluster');
const sender = Address.random();
const dest = Address.random();
const relay = Address.random();

function message(i: number, payloadLen: number): Message {
  const m = new Message(null, Uint8Array.from({ length: payloadLen }, (_, k) => (k * 31 + i) & 0xff));
  if (i % 2 === 0) m.putHeader(SEQ, { seqno: 1000 + i, tag: `s${i}` });
  if (i % 3 === 0) m.putHeader(BLOB, { kind: i, data: Uint8Array.of(i, i + 1), stamp: i / 3 });
  if (i % 4 === 0) m.putHeader(MARK, MARKER);
  if (i % 2 === 1) m.setFlag(Flag.OOB);
  if (i % 5 === 4) m.src = relay;
  return m;
}

// Plain Uint8Array copies: a Buffer's slice() would be a view, and damage would leak into them.
const VALID: Uint8Array[] = [
  encodeDatagram(CLUSTER, sender, dest, [message(0, 20)]),
  encodeDatagram(CLUSTER, sender, null, [message(1, 0)]),
  encodeDatagram(CLUSTER, sender, null, Array.from({ length: 6 }, (_, i) => message(i, i * 9))),
  encodeDatagram(CLUSTER, sender, dest, [message(3, 1000), message(4, 3)]),
  // Written by the generated encoder, with unknown fields and an empty header entry.
  tsgroups.wire.Datagram.encode({
    magic: WIRE_MAGIC,
    version: WIRE_VERSION,
    cluster: CLUSTER,
    sender: sender.bytes,
    messages: [
      {
        flags: Flag.NO_FC,
        src: relay.bytes,
        headers: [
          { protocolId: MARK },
          { protocolId: SEQ, header: encodeHeader(seqCodec, { seqno: 7, tag: 'gen' }) },
        ],
        payload: Uint8Array.of(1, 2, 3),
        $unknowns: [new Writer().uint32((9 << 3) | 2).bytes(Uint8Array.of(9, 9)).finish()],
      },
    ],
    $unknowns: [new Writer().uint32((15 << 3) | 0).uint64(99).finish()],
  }).finish(),
].map((b) => new Uint8Array(b));

// ---- the check applied to every input ----

const REASONS = new Set<string>(Object.values(DropReason));

interface Stats {
  inputs: number;
  decoded: number;
  reasons: Record<string, number>;
  ms: number;
  slowestMs: number;
}
const stats: Record<string, Stats> = {};

function hex(b: Uint8Array): string {
  const s = Buffer.from(b.buffer, b.byteOffset, Math.min(b.length, 256)).toString('hex');
  return b.length > 256 ? `${s}... (${b.length} bytes)` : s;
}

/** Returns a problem description, or null if the decoder behaved. */
function check(input: Uint8Array, expectedCluster: Uint8Array | null): string | null {
  let r: ReturnType<typeof decodeDatagram>;
  try {
    r = decodeDatagram(input, expectedCluster);
  } catch (err) {
    return `threw ${String(err)}`;
  }
  if (typeof r === 'string') return REASONS.has(r) ? null : `unknown drop reason ${JSON.stringify(r)}`;
  if (r === null || typeof r !== 'object') return `returned ${String(r)}`;
  const { batch, cluster } = r;
  if (!(batch instanceof MessageBatch)) return 'batch is not a MessageBatch';
  if (!(cluster instanceof Uint8Array)) return 'cluster is not bytes';
  if (expectedCluster !== null && Buffer.compare(cluster, expectedCluster) !== 0) return 'accepted another cluster';
  if (!(batch.sender instanceof Address) || batch.sender.bytes.length !== 16) return 'sender is not an Address';
  if (batch.dest !== null && !(batch.dest instanceof Address)) return 'dest is neither null nor an Address';
  if (batch.multicast !== (batch.dest === null)) return 'multicast flag disagrees with dest';
  const msgs = batch.toArray();
  if (msgs.length === 0 || msgs.length !== batch.size()) return `batch of ${msgs.length} messages, size() ${batch.size()}`;
  const lo = input.byteOffset;
  const hi = input.byteOffset + input.length;
  for (const m of msgs) {
    if (!(m instanceof Message)) return 'a batch entry is not a Message';
    if (!(m.src instanceof Address)) return 'message without src Address';
    if (m.dest !== batch.dest) return 'message dest differs from the batch dest';
    if ((m.flags & Flag.DONT_LOOPBACK) !== 0) return 'a transient flag came off the wire';
    const arr = m.getArray();
    const off = m.getOffset();
    const len = m.getLength();
    if (!(off >= 0 && len >= 0 && off + len <= arr.length)) return `payload [${off}, ${off + len}) outside its array of ${arr.length}`;
    if (len > 0) {
      // A view on the input (no copy), and inside it: never bytes from around the input's view.
      if (arr.buffer !== input.buffer) return 'payload is not a view on the datagram';
      const start = arr.byteOffset + off;
      if (start < lo || start + len > hi) return `payload bytes [${start}, ${start + len}) outside the input [${lo}, ${hi})`;
    }
    let bad: string | null = null;
    m.forEachHeader((id) => {
      if (HeaderRegistry.get(id) === undefined) bad = `header of unregistered id ${id}`;
    });
    if (bad !== null) return bad;
  }
  return null;
}

const failures: string[] = [];

/**
 * Runs `count` inputs of one category. Each input is presented as a Node Buffer, a plain
 * Uint8Array, or a view in the middle of a larger array with random bytes around it.
 */
function run(category: string, count: number, make: (rng: ReturnType<typeof rngFor>, i: number) => Uint8Array): void {
  const rng = rngFor(category);
  const s: Stats = (stats[category] = { inputs: 0, decoded: 0, reasons: {}, ms: 0, slowestMs: 0 });
  const t0 = performance.now();
  for (let i = 0; i < count; i++) {
    const raw = make(rng, i);
    let input: Uint8Array;
    switch (rng.int(3)) {
      case 0:
        input = Buffer.from(raw);
        break;
      case 1:
        input = raw;
        break;
      default: {
        const pad = 1 + rng.int(16);
        const host = rng.bytes(raw.length + 2 * pad);
        host.set(raw, pad);
        input = host.subarray(pad, pad + raw.length);
      }
    }
    const cluster = rng.int(4) === 0 ? null : CLUSTER;
    const t = performance.now();
    const problem = check(input, cluster);
    const dt = performance.now() - t;
    if (dt > s.slowestMs) s.slowestMs = dt;
    s.inputs++;
    const r = problem === null ? decodeDatagram(input, cluster) : null;
    if (typeof r === 'string') s.reasons[r] = (s.reasons[r] ?? 0) + 1;
    else if (r !== null) s.decoded++;
    if (problem !== null && failures.length < 20) {
      failures.push(`seed=0x${SEED.toString(16)} category=${category} input#${i} cluster=${cluster ? 'set' : 'null'}: ${problem}; input=${hex(raw)}`);
    }
  }
  s.ms = performance.now() - t0;
}

const pick = <T>(rng: ReturnType<typeof rngFor>, xs: readonly T[]): T => xs[rng.int(xs.length)]!;

function flipBits(rng: ReturnType<typeof rngFor>, src: Uint8Array, flips: number): Uint8Array {
  const out = src.slice();
  for (let k = 0; k < flips; k++) {
    const bit = rng.int(out.length * 8);
    out[bit >> 3]! ^= 1 << (bit & 7);
  }
  return out;
}

afterEach(() => {
  expect(failures).toEqual([]);
});

test('the valid datagrams decode (the baseline of the damage)', () => {
  for (const dg of VALID) expect(check(dg, CLUSTER)).toBeNull();
  for (const dg of VALID) expect(typeof decodeDatagram(dg, CLUSTER)).toBe('object');
});

test('random bytes of random length (0..2000)', () => {
  run('random', 20_000, (rng) => rng.bytes(rng.int(2001)));
  // Short random inputs, where every length and many prefixes get covered.
  run('random-short', 10_000, (rng) => rng.bytes(rng.int(24)));
  expect(stats.random!.reasons.not_tsgroups).toBeGreaterThan(15_000);
});

test('every truncation of every valid datagram', () => {
  const cuts: Array<[number, number]> = [];
  VALID.forEach((dg, d) => {
    for (let n = 0; n < dg.length; n++) cuts.push([d, n]);
  });
  run('truncation', cuts.length, (_rng, i) => VALID[cuts[i]![0]]!.slice(0, cuts[i]![1]));
  expect(stats.truncation!.inputs).toBe(VALID.reduce((n, dg) => n + dg.length, 0));
});

test('every single bit flip of a small datagram, random single and multiple bit flips of all', () => {
  const small = VALID[0]!;
  run('bitflip-exhaustive', small.length * 8, (_rng, i) => {
    const out = small.slice();
    out[i >> 3]! ^= 1 << (i & 7);
    return out;
  });
  run('bitflip-1', 20_000, (rng) => flipBits(rng, pick(rng, VALID), 1));
  run('bitflip-n', 20_000, (rng) => flipBits(rng, pick(rng, VALID), 2 + rng.int(15)));
});

test('random byte insertions, deletions and overwrites', () => {
  run('insert-delete', 20_000, (rng) => {
    let b = Array.from(pick(rng, VALID));
    const ops = 1 + rng.int(4);
    for (let k = 0; k < ops; k++) {
      const at = rng.int(b.length + 1);
      switch (rng.int(3)) {
        case 0: // insert 1..8 random bytes
          b = [...b.slice(0, at), ...rng.bytes(1 + rng.int(8)), ...b.slice(at)];
          break;
        case 1: // delete 1..8 bytes
          b = [...b.slice(0, at), ...b.slice(at + 1 + rng.int(8))];
          break;
        default: // overwrite one byte with an "interesting" value
          if (at < b.length) b[at] = pick(rng, [0x00, 0x01, 0x7f, 0x80, 0xff, 0x0a, 0x12, 0x1a, 0x22, 0x32]);
      }
    }
    return Uint8Array.from(b);
  });
});

test('a valid prefix followed by random bytes', () => {
  run('prefix-tail', 15_000, (rng) => {
    const dg = pick(rng, VALID);
    const keep = rng.int(dg.length + 1);
    const tail = rng.bytes(rng.int(300));
    const out = new Uint8Array(keep + tail.length);
    out.set(dg.subarray(0, keep));
    out.set(tail, keep);
    return out;
  });
});

test('more than 100,000 inputs were checked', () => {
  const total = Object.values(stats).reduce((n, s) => n + s.inputs, 0);
  const ms = Object.values(stats).reduce((n, s) => n + s.ms, 0);
  const slowest = Math.max(...Object.values(stats).map((s) => s.slowestMs));
  const lines = Object.entries(stats).map(
    ([c, s]) => `  ${c.padEnd(20)} ${String(s.inputs).padStart(6)} inputs ${s.ms.toFixed(0).padStart(5)} ms  decoded ${s.decoded}  ${JSON.stringify(s.reasons)}`,
  );
  console.log(
    `wire fuzz, seed 0x${SEED.toString(16)}: ${total} inputs in ${ms.toFixed(0)} ms (slowest single decode ${slowest.toFixed(2)} ms)\n${lines.join('\n')}`,
  );
  expect(total).toBeGreaterThan(100_000);
  // Damage must reach past the envelope: some damaged inputs still decode, and every reason shows up.
  const reasons = new Set(Object.values(stats).flatMap((s) => Object.keys(s.reasons)));
  expect([...reasons].sort()).toEqual([...REASONS].sort());
  expect(Object.values(stats).reduce((n, s) => n + s.decoded, 0)).toBeGreaterThan(1000);
});
