// The attack suites every encrypted stack must pass (SYM_ENCRYPT above udp.xml/tcp.xml, and the
// shipped udp-secure.xml/tcp-secure.xml): each defines a describe block with its own cluster,
// runs every case, checks that the forgeries were counted and memory stayed bounded, and prints
// the figures line of the closing note (console.log).
import { reservePorts } from '../compliance/reserve-ports.js';
import * as cases from './attack-cases.js';
import { AttackCluster, type Base, type Memory, mib, NAMES } from './attack-cluster.js';
import { tcpForgedFramesClaimingMembers, tcpForgedFramesNewPeer } from './tcp-attack-cases.js';

/** Every UDP case of attack-cases.ts: an encrypted stack must stop all of them. */
const UDP_CASES: cases.AttackCase[] = [
  cases.forgedViewSpoofingCoord,
  cases.forgedViewFromMember,
  cases.forgedViewTakeover,
  cases.forgedLeaveSpoofingLeaver,
  cases.forgedLeaveFromOther,
  cases.phantomJoin,
  cases.stolenSeqnos,
  cases.unicastConnReset,
  cases.forgedMergeInfo,
  cases.pingReflection,
  cases.nameBloat,
  cases.physicalPoisoning,
  cases.replayCaptured,
  cases.bitFlipped,
  cases.pingFlood,
  cases.joinFlood,
];

const TCP_CASES: cases.AttackCase[] = [tcpForgedFramesNewPeer, tcpForgedFramesClaimingMembers];

/** What the figures line says about memory. */
function memoryFigures(before: Memory, after: Memory): string {
  return NAMES.map((n) => `${n} rss ${mib(before[n].rss)}->${mib(after[n].rss)} heap ${mib(before[n].heapUsed)}->${mib(after[n].heapUsed)}`).join(', ');
}

/** Fails if any member's heap grew by more than 64 MiB. */
function expectBounded(before: Memory, after: Memory): void {
  for (const n of NAMES) expect(after[n].heapUsed - before[n].heapUsed).toBeLessThan(64 * 1048576);
}

/** `title`: every UDP attack against 3 members over `base` (SYM_ENCRYPT added when `addSymEncrypt`). */
export function udpAttackSuite(title: string, base: Base, addSymEncrypt: boolean): void {
  describe(title, () => {
    const c = new AttackCluster({ base, encrypted: addSymEncrypt });
    let before: Memory;
    beforeAll(async () => {
      await c.start();
      await c.traffic(20); // something to capture
      before = await c.memory();
    }, 40_000);
    afterAll(() => c.close());

    test("sniffing the group gives envelopes only: no header but SYM_ENCRYPT's, no payload in clear", () => {
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
      // The bit flips alone make 150,000 receptions (3 members): each is rejected at SYM_ENCRYPT
      // or, where it no longer decodes (or fails a checksum), at the transport.
      expect(r.symEncrypt + r.transport).toBeGreaterThan(50_000);
      const after = await c.memory();
      console.log(
        `attack figures, ${title}: ${c.tally.attacks.length} attacks, ${c.tally.datagrams} datagrams sent; rejected: ${r.symEncrypt} at SYM_ENCRYPT, ${r.transport} at the transport (3 members) ${JSON.stringify(r.byMember)}; memory MiB ${memoryFigures(before, after)}; ${c.notes.join('; ')}`,
      );
      expectBounded(before, after);
    }, 30_000);
  });
}

/** `title`: the TCP attacks against 3 members over `base` (SYM_ENCRYPT added when `addSymEncrypt`). */
export function tcpAttackSuite(title: string, base: Base, addSymEncrypt: boolean): void {
  describe(title, () => {
    let c: AttackCluster;
    let before: Memory;
    let baseline: Awaited<ReturnType<AttackCluster['rejections']>>;
    beforeAll(async () => {
      c = new AttackCluster({ base, encrypted: addSymEncrypt, tcpPorts: await reservePorts(3) });
      await c.start();
      await c.traffic(5);
      before = await c.memory();
      baseline = await c.rejections();
    }, 40_000);
    afterAll(() => c?.close());

    for (const k of TCP_CASES) test(k.name, () => k.run(c), 60_000);

    test('forgeries were counted, memory stayed bounded (figures)', async () => {
      const r = await c.rejections();
      const rejected = r.symEncrypt - baseline.symEncrypt + r.transport - baseline.transport;
      expect(rejected).toBeGreaterThan(0);
      const after = await c.memory();
      console.log(
        `attack figures, ${title}: ${c.tally.attacks.length} attacks, ${c.tally.datagrams} frames sent, each on a connection of its own; rejected: ${rejected} ${JSON.stringify(r.byMember)}; memory MiB ${memoryFigures(before, after)}`,
      );
      expectBounded(before, after);
    }, 30_000);
  });
}
