// The attack suite against the default udp.xml (issue 12, part 6): 3 member processes without
// encryption, and an outsider on the same host that sends the cheap spoofs the hardening of
// issue 12 stops (attack-default.cases.ts lists them, and those still waiting for it). Every
// case ends with the cluster's checks: same view, nothing forged or corrupted delivered,
// multicasts and unicasts flowing. The figures line (console.log) is the closing note's.
import { AttackCluster, type Memory, mib, NAMES } from './attack-cluster.js';
import { passing, pending } from './attack-default.cases.js';

describe('the default udp.xml against an outsider\'s cheap spoofs', () => {
  const c = new AttackCluster({ base: 'udp.xml', encrypted: false });
  let before: Memory;
  beforeAll(async () => {
    await c.start();
    await c.traffic(20); // something to capture
    before = await c.memory();
  }, 40_000);
  afterAll(() => c.close());

  for (const k of passing) test(k.name, () => k.run(c), 60_000);

  test('memory stayed bounded (figures)', async () => {
    const refused = await c.refusals();
    const after = await c.memory();
    console.log(
      `attack figures, udp.xml: ${c.tally.attacks.length} attacks, ${c.tally.datagrams} datagrams sent; refused (3 members): ${JSON.stringify(refused)}; memory MiB ${NAMES.map((n) => `${n} rss ${mib(before[n].rss)}->${mib(after[n].rss)} heap ${mib(before[n].heapUsed)}->${mib(after[n].heapUsed)}`).join(', ')}; ${c.notes.join('; ')}; pending: ${pending.map((p) => `${p.case.name} (${p.waitsFor})`).join('; ')}`,
    );
    for (const n of NAMES) expect(after[n].heapUsed - before[n].heapUsed).toBeLessThan(64 * 1048576);
  }, 30_000);
});

