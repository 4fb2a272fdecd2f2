// FD_SOCK2: failure detection over a ring of TCP connections (each member watches the next one
// in the view). In-process on the loopback stack (the TCP servers listen on 127.0.0.1) and over
// real UDP on 127.0.0.1. A crash is simulated by destroying a member's FD_SOCK2 sockets without
// the LEAVING byte (as the kernel does for a killed process) and silencing it with DISCARD.
import {
  type Address,
  type Channel,
  DISCARD,
  Event,
  EventType,
  FD_SOCK2,
  GMS,
  type ProtocolStack,
  stackFromXml,
  VERIFY_SUSPECT2,
} from 'tsgroups';
import {
  closeAll,
  discardOf,
  loopbackStack,
  type Member,
  startCluster,
  uniqueCluster,
  waitForSameView,
  waitUntil,
  Watch,
} from './helpers/cluster.js';
import { randomGroup, udpStack } from './udp/udp-helpers.js';

const SOCK = { get_port_interval: '100ms', connect_timeout: '300ms' };
const VERIFY = { timeout: '200ms' };

/** Loopback stack: DISCARD (to silence a "crashed" member), FD_SOCK2 and VERIFY_SUSPECT2 below GMS. */
function sockStack(): ProtocolStack {
  const stack = loopbackStack(() => [new DISCARD(), new FD_SOCK2().setValues(SOCK), new VERIFY_SUSPECT2().setValues(VERIFY)]);
  stack.findProtocol(GMS)!.setValue('leave_timeout', '300ms');
  return stack;
}

/** A UDP stack on 127.0.0.1 with a group of its own and short FD_SOCK2/VERIFY_SUSPECT2 settings. */
function udpSockStackXml(): string {
  const g = randomGroup();
  return `<config xmlns="urn:org:tsgroups">
  <UDP bind_addr="127.0.0.1" bind_port="0" mcast_addr="${g.addr}" mcast_port="${g.port}" ip_ttl="0"/>
  <PING timeout="500ms"/>
  <DISCARD/>
  <FD_SOCK2 get_port_interval="100ms" connect_timeout="300ms"/>
  <VERIFY_SUSPECT2 timeout="300ms"/>
  <GMS join_timeout="2s" discovery_timeout="500ms" view_ack_collection_timeout="1s" leave_timeout="500ms"/>
</config>`;
}

const sockOf = (ch: Channel): FD_SOCK2 => ch.getProtocolStack().findProtocol(FD_SOCK2)!;

/** The member after `ch` in its view (wrapping around). */
function expectedNeighbour(ch: Channel): Address | null {
  const v = ch.getView();
  if (v === null || v.size() < 2) return null;
  const i = v.members.indexOf(ch.getAddress()!);
  return v.members[(i + 1) % v.size()]!;
}

/** Waits until every channel watches the next member of its view over an open connection, and is watched. */
async function waitForRing(chans: Channel[], timeoutMs = 5000): Promise<void> {
  await waitUntil(
    () =>
      chans.every((c) => {
        const fd = sockOf(c);
        return fd.getNeighbour() === expectedNeighbour(c) && fd.isConnected() && fd.getMonitorCount() === 1;
      }),
    timeoutMs,
    'the FD_SOCK2 ring',
    () =>
      chans
        .map((c) => `${c.getName()} -> ${sockOf(c).getNeighbour()} connected=${sockOf(c).isConnected()} monitors=${sockOf(c).getMonitorCount()}`)
        .join('; '),
  );
}

/** Simulates the crash of a member: its FD_SOCK2 sockets die without notice and it goes silent. */
function crash(ch: Channel): void {
  discardOf(ch).setDiscardAll(true);
  sockOf(ch).simulateCrash();
}


const timing = (text: string) => {
  if (process.env.TSGROUPS_FD_TIMING) console.info(text);
};

let members: Member[] = [];
afterEach(async () => {
  await closeAll(members.map((m) => m.channel));
  members = [];
});

describe('FD_SOCK2 on the loopback stack', () => {
  test('the ring forms: each member watches the next one, over TCP on 127.0.0.1', async () => {
    members = await startCluster(4, sockStack);
    const chans = members.map((m) => m.channel);
    await waitForRing(chans);
    for (const c of chans) {
      const fd = sockOf(c);
      expect(fd.getServerPort()).toBeGreaterThan(0);
      expect(fd.getStats().connectsMade).toBeGreaterThanOrEqual(1);
      expect(fd.getStats().suspicionsRaised).toBe(0);
    }
    // Regular traffic passes FD_SOCK2 untouched.
    await chans[0]!.send(null, 'hello');
    await waitUntil(() => members.every((m) => m.rec.objects().includes('hello')), 3000, 'the multicast');
  });

  test('a crashed member is suspected by its monitor and excluded; the survivors agree on the view', async () => {
    members = await startCluster(4, sockStack);
    const chans = members.map((m) => m.channel);
    await waitForRing(chans);
    const [a, , c, victim] = chans as [Channel, Channel, Channel, Channel];
    const survivors = chans.slice(0, 3);
    const victimAddr = victim.getAddress()!;
    const watches = survivors.map((s) => new Watch(s));

    const t0 = performance.now();
    crash(victim);
    const view = await waitForSameView(survivors, 10_000);
    const detected = Math.max(...watches.map((w) => w.removedAt(victimAddr)!)) - t0;

    expect(view.containsMember(victimAddr)).toBe(false);
    expect(view.getCoord()).toBe(a.getAddress());
    // C watched the victim; its SUSPECT multicast told the coordinator.
    expect(sockOf(c).getStats().suspicionsRaised).toBe(1);
    expect(sockOf(a).getStats().suspectMsgsReceived).toBeGreaterThanOrEqual(1);
    expect(watches[0]!.suspects).toContain(victimAddr);
    expect(detected).toBeLessThan(5000);
    // The ring closes again without the victim: C now watches A.
    await waitForRing(survivors);
    expect(sockOf(c).getNeighbour()).toBe(a.getAddress());
    for (const s of survivors) expect(sockOf(s).getSuspected()).toEqual([]);
    timing(`FD_SOCK2 (loopback): crashed member excluded by all survivors after ${detected.toFixed(0)} ms`);
  });

  test('a crashed coordinator is replaced by the next member', async () => {
    members = await startCluster(4, sockStack);
    const chans = members.map((m) => m.channel);
    await waitForRing(chans);
    const [oldCoord, next] = chans as [Channel, Channel];
    const survivors = chans.slice(1);
    const coordAddr = oldCoord.getAddress()!;
    const watches = survivors.map((s) => new Watch(s));

    const t0 = performance.now();
    crash(oldCoord);
    const view = await waitForSameView(survivors, 10_000);
    const detected = Math.max(...watches.map((w) => w.removedAt(coordAddr)!)) - t0;

    expect(view.containsMember(coordAddr)).toBe(false);
    expect(view.getCoord()).toBe(next.getAddress());
    expect(view.members).toEqual(survivors.map((s) => s.getAddress()));
    expect(sockOf(chans[3]!).getStats().suspicionsRaised).toBe(1); // the last member watched the coordinator
    expect(watches[0]!.suspects).toContain(coordAddr);
    await waitForRing(survivors);
    timing(`FD_SOCK2 (loopback): crashed coordinator replaced on all survivors after ${detected.toFixed(0)} ms`);
  });

  test('two neighbours crashing together are both detected: the monitor moves on past the first', async () => {
    members = await startCluster(5, sockStack);
    const chans = members.map((m) => m.channel);
    await waitForRing(chans);
    const [a, b, c, d, e] = chans as [Channel, Channel, Channel, Channel, Channel];
    const survivors = [a, b, e];
    const dead = [c.getAddress()!, d.getAddress()!];

    crash(c);
    crash(d);
    const view = await waitForSameView(survivors, 10_000);
    for (const x of dead) expect(view.containsMember(x)).toBe(false);
    // B suspected C, watched D next, could not reach it (even after a retry) and suspected it too.
    const bs = sockOf(b).getStats();
    expect(bs.suspicionsRaised).toBe(2);
    expect(bs.connectFailures).toBeGreaterThanOrEqual(2);
    await waitForRing(survivors);
    expect(sockOf(b).getNeighbour()).toBe(e.getAddress());
  });

  test('members that leave gracefully raise no suspicion anywhere and leave the views', async () => {
    members = await startCluster(4, sockStack);
    const chans = members.map((m) => m.channel);
    await waitForRing(chans);
    const watches = chans.map((c) => new Watch(c));
    const [a, b, c, d] = chans as [Channel, Channel, Channel, Channel];

    // A member in the middle, then the coordinator.
    await c.close();
    await waitForSameView([a, b, d], 5000);
    await waitForRing([a, b, d]);
    await a.close();
    const view = await waitForSameView([b, d], 5000);
    await waitForRing([b, d]);

    expect(view.members).toEqual([b.getAddress(), d.getAddress()]);
    for (const w of watches) expect(w.suspects).toEqual([]);
    for (const ch of [b, d]) expect(sockOf(ch).getStats().suspicionsRaised).toBe(0);
  });

  test('a leaver tells its monitor with the LEAVING byte even before the monitor sees the new view', async () => {
    members = await startCluster(3, sockStack);
    const chans = members.map((m) => m.channel);
    await waitForRing(chans);
    const [a, b, c] = chans as [Channel, Channel, Channel];
    const watches = chans.map((ch) => new Watch(ch));
    expect(sockOf(b).getNeighbour()).toBe(c.getAddress());
    // B hears nothing from the coordinator: the view without C does not reach it.
    discardOf(b).addIgnoreMember(a.getAddress()!);
    const cAddr = c.getAddress()!;

    await c.close();
    await waitUntil(() => sockOf(b).getStats().leavingReceived === 1, 5000, 'the LEAVING byte at B');
    expect(b.getView()!.containsMember(cAddr)).toBe(true);
    // B skips the leaver and watches A.
    await waitUntil(() => sockOf(b).getNeighbour() === a.getAddress() && sockOf(b).isConnected(), 5000, 'B watching A');
    for (const w of watches) expect(w.suspects).toEqual([]);
    expect(sockOf(b).getStats().suspicionsRaised).toBe(0);
  });

  test('a disconnected member can connect again: its FD_SOCK2 server restarts', async () => {
    members = await startCluster(2, sockStack);
    const [a, b] = members.map((m) => m.channel) as [Channel, Channel];
    await waitForRing([a, b]);
    await b.disconnect();
    expect(sockOf(b).getServerPort()).toBe(0);
    await waitUntil(() => a.getView()!.size() === 1, 5000, 'A alone');
    await b.connect(a.getClusterName()!);
    await waitForSameView([a, b], 5000);
    await waitForRing([a, b]);
    expect(sockOf(a).getStats().suspicionsRaised).toBe(0);
  });
});

describe('FD_SOCK2 over UDP (one process, 127.0.0.1)', () => {
  test('the shipped udp.xml runs FD_SOCK2 between PING and FD_ALL3', () => {
    const spec = udpStack(randomGroup()).printProtocolSpec().split(' -> ');
    const i = spec.indexOf('FD_SOCK2');
    expect(i).toBeGreaterThan(spec.indexOf('PING'));
    expect(i).toBeLessThan(spec.indexOf('FD_ALL3'));
  });

  test('three members: the ring connects over TCP; a graceful leave raises no suspicion', async () => {
    const xml = udpSockStackXml();
    members = await startCluster(3, () => stackFromXml(xml), uniqueCluster('fdsock-udp'));
    const chans = members.map((m) => m.channel);
    await waitForRing(chans);
    for (const c of chans) {
      expect(sockOf(c).getStats().connectsMade).toBeGreaterThanOrEqual(1);
      const local = c.getProtocolStack().getTransport().downEvent(new Event(EventType.GET_LOCAL_PHYSICAL_ADDRESS));
      expect(String(local)).toMatch(/^127\.0\.0\.1:/);
    }
    const watches = chans.map((c) => new Watch(c));
    const [a, b, c] = chans as [Channel, Channel, Channel];

    await b.close();
    const view = await waitForSameView([a, c], 5000);
    await waitForRing([a, c]);
    expect(view.members).toEqual([a.getAddress(), c.getAddress()]);
    for (const w of watches) expect(w.suspects).toEqual([]);
    for (const ch of [a, c]) expect(sockOf(ch).getStats().suspicionsRaised).toBe(0);
  });

  test('three members: a crashed member is detected by its monitor and excluded', async () => {
    const xml = udpSockStackXml();
    members = await startCluster(3, () => stackFromXml(xml), uniqueCluster('fdsock-udp'));
    const chans = members.map((m) => m.channel);
    await waitForRing(chans);
    const [a, b, c] = chans as [Channel, Channel, Channel];
    const watches = [a, c].map((ch) => new Watch(ch));

    const t0 = performance.now();
    crash(b);
    const view = await waitForSameView([a, c], 5000);
    const detected = Math.max(...watches.map((w) => w.removedAt(b.getAddress()!)!)) - t0;
    expect(view.members).toEqual([a.getAddress(), c.getAddress()]);
    expect(sockOf(a).getStats().suspicionsRaised).toBe(1);
    await waitForRing([a, c]);
    timing(`FD_SOCK2 (UDP): crashed member excluded by all survivors after ${detected.toFixed(0)} ms`);
  });
});

test('configuration: FD_SOCK2 provides failure detection for VERIFY_SUSPECT2 and needs a transport below', () => {
  const stack = stackFromXml(`<config xmlns="urn:org:tsgroups">
    <SHARED_LOOPBACK/><SHARED_LOOPBACK_PING/>
    <FD_SOCK2 bind_port="0" get_port_interval="250ms" connect_timeout="2s"/><VERIFY_SUSPECT2/><GMS/>
  </config>`);
  stack.validate();
  const fd = stack.findProtocol(FD_SOCK2)!;
  expect(fd.getValue('get_port_interval')).toBe(250);
  expect(fd.getValue('connectTimeout')).toBe(2000);
});
