// Reliable delivery between separate `tsgroups member` processes over stacks/udp.xml (the full
// stack: NAKACK2, UNICAST3, STABLE, flow control, FRAG2), with 5% of all datagrams dropped in
// each direction by a DISCARD right above each member's transport.
import { MpCluster, type MemberProc, stopMember } from './mp-helpers.js';

let cluster: MpCluster | null = null;
afterEach(async () => {
  await cluster?.stopAll();
  cluster = null;
});

test('five processes, 5% loss each way: 20,000 multicasts and 5,000 unicasts to every other member from each, all exactly once, in order', async () => {
  cluster = new MpCluster();
  cluster.env.TSGROUPS_XMIT_INTERVAL = '100ms';
  const names = ['A', 'B', 'C', 'D', 'E'];
  const all = await cluster.startAll(names);
  all.forEach((p, i) => p.send(`loss 0.05 ${i + 1}`));
  for (const p of all) await p.waitForLine((l) => l.event === 'loss', 5000, `${p.name} lossy`);
  const M = 20_000;
  const U = 5000;
  const t0 = Date.now();
  const marks = all.map((p) => p.lines.length);
  for (const p of all) p.send(`burst ${M} ${U}`);
  await Promise.all(all.map((p, i) => p.waitForLine((l) => l.event === 'sent' || l.event === 'error', 150_000, `${p.name} burst`, marks[i])));
  // Then wait until every member has everything from everyone (retransmissions may still run).
  const complete = (r: MemberProc['lines'][number]) =>
    names.every((n) => {
      const s = r.streams?.[n];
      return s !== undefined && s.multicasts === M && s.unicasts === (n === r.name ? 0 : U);
    });
  const reports: MemberProc['lines'][number][] = [];
  for (const p of all) {
    let last: MemberProc['lines'][number] | undefined;
    const deadline = Date.now() + 120_000;
    do {
      const from = p.lines.length;
      p.send('report');
      last = await p.waitForLine((l) => l.event === 'report', 5000, `${p.name} report`, from);
    } while (!complete(last) && Date.now() < deadline);
    reports.push(last);
  }
  const took = Date.now() - t0;
  for (const r of reports) {
    for (const n of names) {
      const s = r.streams![n]!;
      expect({ member: r.name, from: n, ...s }).toEqual({
        member: r.name,
        from: n,
        multicasts: M,
        unicasts: n === r.name ? 0 : U,
        duplicates: 0,
        outOfOrder: 0,
      });
    }
  }
  // The loss was real, and retransmission made up for it.
  const dropped = reports.reduce((n, r) => n + r.dropped!, 0);
  const retransmitted = reports.reduce((n, r) => n + r.retransmitted!, 0);
  expect(dropped).toBeGreaterThan(0);
  expect(retransmitted).toBeGreaterThan(0);
  console.log(
    `udp reliable: 5 processes x (${M} multicasts + ${U} unicasts to each other member), 5% loss each way: ` +
      `all delivered exactly once, in order, in ${took} ms; ${dropped} messages dropped, ${retransmitted} retransmitted`,
  );
  for (const p of all) expect(await stopMember(p)).toBe(0);
}, 300_000);
