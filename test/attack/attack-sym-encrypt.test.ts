// The attack suite against SYM_ENCRYPT (issue 12, part 6): 3 member processes over udp.xml (and
// tcp.xml) with SYM_ENCRYPT right above the transport, and an outsider on the same host that
// sniffs the group, forges every message of the list with the real codecs, replays
// and bit-flips what it captured, and floods. Every attack fails: nothing forged is delivered or
// installed, no member is added, removed or silenced, every forgery is counted, memory stays
// bounded. The figures line (console.log) is the closing note's.
import { reservePorts } from '../compliance/reserve-ports.js';
import * as cases from './attack-cases.js';
import { AttackCluster, type Memory, mib, NAMES } from './attack-cluster.js';
import { tcpForgedFramesNewPeer } from './tcp-attack-cases.js';

/** Every case of attack-cases.ts: SYM_ENCRYPT must stop all of them. */
const UDP_CASES: cases.AttackCase[] = [
  cases.forgedViewSpoofingCoord,
  cases.forgedViewFromMember,
  cases.forgedLeaveSpoofingLeaver,
  cases.forgedLeaveFromOther,
  cases.phantomJoin,
  cases.stolenSeqnos,
  cases.unicastConnReset,
  cases.forgedMergeInfo,
  cases.pingReflection,
  cases.nameBloat,
  cases.replayCaptured,
  cases.bitFlipped,
  cases.pingFlood,
  cases.joinFlood,
];

/** What the figures line says about memory. */
function memoryFigures(before: Memory, after: Memory): string {
  return NAMES.map((n) => `${n} rss ${mib(before[n].rss)}->${mib(after[n].rss)} heap ${mib(before[n].heapUsed)}->${mib(after[n].heapUsed)}`).join(', ');
}

/** Fails if any member's heap grew by more than 64 MiB. */
function expectBounded(before: Memory, after: Memory): void {
  for (const n of NAMES) expect(after[n].heapUsed - before[n].heapUsed).toBeLessThan(64 * 1048576);
}

describe('SYM_ENCRYPT over UDP against an outsider', () => {
  const c = new AttackCluster({ base: 'udp.xml', encrypted: true });
  let before: Memory;
  beforeAll(async () => {
    await c.start();
    await c.traffic(20); // something to capture
    before = await c.memory();
  }, 40_000);
  afterAll(() => c.close());

  test('sniffing the group gives envelopes only: no header but SYM_ENCRYPT\'s, no payload in clear', () => {
    const learned = c.sniffer!.learn();
    expect(learned.decoded).toBeGreaterThan(10); // seals carry a turn's messages each: few datagrams
    // What stays in clear: the cluster name and the members' UUIDs and ports (the envelope).
    expect([...learned.clusters]).toEqual([c.cluster]);
    for (const n of NAMES) expect(learned.members.has(c.uuids.get(n)!)).toBe(true);
    expect([...learned.headers.keys()]).toEqual([31]); // SYM_ENCRYPT's id only
    expect(learned.seqnos.size).toBe(0);
    expect(c.sniffer!.heardInClear('secret-marker')).toBe(false);
    c.tally.attacks.push('sniffing');
  });

  for (const k of UDP_CASES) test(k.name, () => k.run(c), 60_000);

  test('every forgery was counted, memory stayed bounded (figures)', async () => {
    const r = await c.rejections();
    // The bit flips alone make 150,000 receptions (3 members): each is rejected at SYM_ENCRYPT or,
    // where it no longer decodes (or fails a checksum), at the transport.
    expect(r.symEncrypt + r.transport).toBeGreaterThan(50_000);
    const after = await c.memory();
    console.log(
      `attack figures, SYM_ENCRYPT over UDP: ${c.tally.attacks.length} attacks, ${c.tally.datagrams} datagrams sent; rejected: ${r.symEncrypt} at SYM_ENCRYPT, ${r.transport} at the transport (3 members) ${JSON.stringify(r.byMember)}; memory MiB ${memoryFigures(before, after)}; ${c.notes.join('; ')}`,
    );
    expectBounded(before, after);
  }, 30_000);
});

// tcp-file.xml (tcp.xml with FILE_PING): under SYM_ENCRYPT, TCPPING's requests to its list go
// straight to the transport, unencrypted, and are rejected, so a joiner never finds a running
// coordinator (see attack-pending.cases.ts).
describe('SYM_ENCRYPT over TCP (tcp-file.xml) against an outsider', () => {
  let c: AttackCluster;
  let before: Memory;
  let baseline: Awaited<ReturnType<AttackCluster['rejections']>>;
  beforeAll(async () => {
    c = new AttackCluster({ base: 'tcp-file.xml', encrypted: true, tcpPorts: await reservePorts(3) });
    await c.start();
    await c.traffic(5);
    before = await c.memory();
    baseline = await c.rejections();
  }, 40_000);
  afterAll(() => c?.close());

  test(tcpForgedFramesNewPeer.name, () => tcpForgedFramesNewPeer.run(c), 60_000);

  test('every forgery was counted, memory stayed bounded (figures)', async () => {
    const r = await c.rejections();
    const rejected = r.symEncrypt - baseline.symEncrypt + r.transport - baseline.transport;
    expect(rejected).toBeGreaterThan(0);
    const after = await c.memory();
    console.log(
      `attack figures, SYM_ENCRYPT over TCP: ${c.tally.attacks.length} attacks, ${c.tally.datagrams} frames sent, each on a connection of its own; rejected: ${rejected} ${JSON.stringify(r.byMember)}; memory MiB ${memoryFigures(before, after)}`,
    );
    expectBounded(before, after);
  }, 30_000);
});
