import {
  Channel,
  DELAY,
  DISCARD,
  Event,
  EventType,
  FD_ALL3,
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
  Recorder,
  startCluster,
  uniqueCluster,
  waitForSameView,
  waitUntil,
  Watch,
} from './helpers/cluster.js';

// Short settings so a crash is detected in well under a second on the loopback stack.
const FD = { interval: '100ms', timeout: '500ms' };
const VERIFY = { timeout: '200ms' };

/** Loopback stack with DISCARD (lowest, to simulate crashes), [DELAY], FD_ALL3 and VERIFY_SUSPECT2 below GMS. */
function fdStack(withDelay = false): () => ProtocolStack {
  return () => {
    const stack = loopbackStack(() => [
      new DISCARD(),
      ...(withDelay ? [new DELAY()] : []),
      new FD_ALL3().setValues(FD),
      new VERIFY_SUSPECT2().setValues(VERIFY),
    ]);
    stack.findProtocol(GMS)!.setValue('leave_timeout', '300ms');
    return stack;
  };
}

const fdOf = (ch: Channel): FD_ALL3 => ch.getProtocolStack().findProtocol(FD_ALL3)!;
const verifyOf = (ch: Channel): VERIFY_SUSPECT2 => ch.getProtocolStack().findProtocol(VERIFY_SUSPECT2)!;


let members: Member[] = [];
afterEach(async () => {
  await closeAll(members.map((m) => m.channel));
  members = [];
});

describe('FD_ALL3 + VERIFY_SUSPECT2', () => {
  test('a member that goes silent is suspected and excluded; the survivors agree on the new view', async () => {
    members = await startCluster(4, fdStack());
    const chans = members.map((m) => m.channel);
    const survivors = chans.slice(0, 3);
    const victim = chans[3]!;
    const victimAddr = victim.getAddress()!;
    const oldView = survivors[0]!.getView()!;
    const watches = survivors.map((c) => new Watch(c));

    const t0 = performance.now();
    discardOf(victim).setDiscardAll(true); // crash: nothing in, nothing out

    const view = await waitForSameView(survivors, 5000);
    expect(view.containsMember(victimAddr)).toBe(false);
    expect(view.getCoord()).toBe(oldView.getCoord());
    expect(view.viewId.compareTo(oldView.viewId)).toBeGreaterThan(0);
    // The coordinator decided, so it was told of the suspicion; the others' detectors raised it too
    // unless the coordinator's new view (which drops the member) reached them first.
    expect(watches[0]!.suspects).toContain(victimAddr);
    expect(verifyOf(survivors[0]!).stats.suspicionsConfirmed).toBeGreaterThanOrEqual(1);
    for (const c of survivors) expect(fdOf(c).getSuspected()).toEqual([]); // it left the view: forgotten
    const detected = Math.max(...watches.map((w) => w.removedAt(victimAddr)!)) - t0;
    expect(detected).toBeLessThan(5000);
    if (process.env.TSGROUPS_FD_TIMING) console.info(`FD_ALL3: silent member excluded by all survivors after ${detected.toFixed(0)} ms`);
  });

  test('a silent coordinator is replaced by the next member, agreed by all survivors', async () => {
    members = await startCluster(4, fdStack());
    const chans = members.map((m) => m.channel);
    const [oldCoord, next] = chans as [Channel, Channel];
    const survivors = chans.slice(1);
    const coordAddr = oldCoord.getAddress()!;
    expect(oldCoord.getView()!.getCoord()).toBe(coordAddr);
    const nextWatch = new Watch(next);
    const watches = survivors.map((c) => new Watch(c));

    const t0 = performance.now();
    discardOf(oldCoord).setDiscardAll(true);

    const view = await waitForSameView(survivors, 5000);
    expect(view.containsMember(coordAddr)).toBe(false);
    expect(view.getCoord()).toBe(next.getAddress());
    expect(view.members).toEqual(survivors.map((c) => c.getAddress()));
    expect(nextWatch.suspects).toContain(coordAddr);
    const detected = Math.max(...watches.map((w) => w.removedAt(coordAddr)!)) - t0;
    expect(detected).toBeLessThan(5000);
    if (process.env.TSGROUPS_FD_TIMING) console.info(`FD_ALL3: silent coordinator replaced on all survivors after ${detected.toFixed(0)} ms`);
  });

  test('when the coordinator and the next member fail together, the third member takes over', async () => {
    members = await startCluster(5, fdStack());
    const chans = members.map((m) => m.channel);
    const dead = chans.slice(0, 2);
    const survivors = chans.slice(2);
    const deadAddrs = dead.map((c) => c.getAddress()!);
    for (const d of dead) discardOf(d).setDiscardAll(true);
    const view = await waitForSameView(survivors, 5000);
    for (const a of deadAddrs) expect(view.containsMember(a)).toBe(false);
    expect(view.getCoord()).toBe(survivors[0]!.getAddress());
    expect(view.members).toEqual(survivors.map((c) => c.getAddress()));
  });

  test('a member that crashes while the coordinator waits for its view ack does not hold up the next view', async () => {
    // Acks are awaited for up to 10 s: only GMS dropping a suspected member from the pending
    // acks lets the exclusion through within the deadline below.
    const slowAcks = () => {
      const stack = fdStack()();
      stack.findProtocol(GMS)!.setValue('view_ack_collection_timeout', '10s');
      return stack;
    };
    const cluster = uniqueCluster('fd');
    members = await startCluster(3, slowAcks, cluster);
    const [a, , victim] = members.map((m) => m.channel) as [Channel, Channel, Channel];
    const victimAddr = victim.getAddress()!;
    discardOf(victim).setDiscardAll(true);
    // A joiner makes the coordinator install a view that the crashed member never acknowledges.
    const joiner = new Channel(slowAcks()).setName('D');
    members.push({ channel: joiner, rec: new Recorder(joiner) });
    await joiner.connect(cluster);
    const survivors = [a, members[1]!.channel, joiner];
    const view = await waitForSameView(survivors, 5000);
    expect(view.containsMember(victimAddr)).toBe(false);
    expect(a.getProtocolStack().findProtocol(GMS)!.stats.viewAcksMissing).toBe(0);
  });

  test('a slow but live member is not suspected: delayed traffic and heartbeats keep it in', async () => {
    members = await startCluster(3, fdStack(true));
    const chans = members.map((m) => m.channel);
    const slow = chans[2]!;
    // Everything to and from the slow member is 150 ms late: well below the 500 ms timeout.
    slow.getProtocolStack().findProtocol(DELAY)!.setValues({ in_delay: '150ms', out_delay: '150ms', constant_delay: true });
    const viewId = chans[0]!.getView()!.viewId;
    const watches = chans.map((c) => new Watch(c));
    const start = chans.map((c) => fdOf(c).stats.heartbeatsSent);

    // Normal traffic while 20 heartbeat intervals (2 s, four timeouts) pass on every member.
    let seq = 0;
    const traffic = setInterval(() => {
      for (const c of chans) void c.send(null, seq++).catch(() => undefined);
    }, 25);
    try {
      await waitUntil(() => chans.every((c, i) => fdOf(c).stats.heartbeatsSent - start[i]! >= 20), 15000, '20 heartbeat intervals');
    } finally {
      clearInterval(traffic);
    }

    for (const [i, c] of chans.entries()) {
      expect(watches[i]!.suspects).toEqual([]);
      expect(watches[i]!.views).toEqual([]);
      expect(c.getView()!.viewId.equals(viewId)).toBe(true);
      expect(fdOf(c).stats.suspicionsRaised).toBe(0);
      expect(verifyOf(c).stats.verificationsStarted).toBe(0);
      expect(fdOf(c).stats.heartbeatsReceived).toBeGreaterThan(0);
    }
    // Heartbeats are consumed by FD_ALL3: the application sees only its own messages.
    for (const m of members) expect(m.rec.objects().every((o) => typeof o === 'number')).toBe(true);
  });

  test('VERIFY_SUSPECT2 drops a false suspicion of a live member', async () => {
    members = await startCluster(3, fdStack());
    const chans = members.map((m) => m.channel);
    const [coord, , live] = chans as [Channel, Channel, Channel];
    const viewId = coord.getView()!.viewId;
    const watch = new Watch(coord);
    const verify = verifyOf(coord);
    const fd = fdOf(coord);

    // A suspicion from below, as the failure detector would raise it.
    fd.upProt.upEvent(new Event(EventType.SUSPECT, [live.getAddress()!]));
    expect(verify.getVerifying()).toEqual([live.getAddress()]);
    await waitUntil(() => verify.stats.suspicionsCleared === 1, 5000, 'the suspicion to be cleared');
    expect(verify.getVerifying()).toEqual([]);

    // Let well over the verification timeout (200 ms = 2 intervals) pass: nothing may follow.
    const hb = fd.stats.heartbeatsSent;
    await waitUntil(() => fd.stats.heartbeatsSent - hb >= 5, 5000, '5 heartbeat intervals');
    expect(verify.stats.suspicionsConfirmed).toBe(0);
    expect(watch.suspects).toEqual([]);
    expect(watch.views).toEqual([]);
    for (const c of chans) expect(c.getView()!.viewId.equals(viewId)).toBe(true);
  });

  test('FD_ALL3 suspects a member once per suspicion and clears it when the member is heard from again', async () => {
    // C (not the coordinator) stops hearing B: C suspects B, but only a coordinator changes the view.
    members = await startCluster(3, fdStack());
    const [a, b, c] = members.map((m) => m.channel) as [Channel, Channel, Channel];
    const bAddr = b.getAddress()!;
    const fd = fdOf(c);
    const watch = new Watch(c);
    const viewId = a.getView()!.viewId;

    discardOf(c).addIgnoreMember(bAddr);
    await waitUntil(() => fd.stats.suspicionsRaised === 1, 5000, 'C to suspect B');
    expect(fd.getSuspected()).toEqual([bAddr]);
    // B's answer to ARE_YOU_DEAD is dropped too: the suspicion is confirmed and reaches C's channel.
    await waitUntil(() => watch.suspects.length === 1, 5000, 'the suspect event on C');
    expect(watch.suspects).toEqual([bAddr]);
    // Still silent for several more intervals: no second SUSPECT for the same suspicion.
    const hb = fd.stats.heartbeatsSent;
    await waitUntil(() => fd.stats.heartbeatsSent - hb >= 5, 5000, '5 heartbeat intervals');
    expect(fd.stats.suspicionsRaised).toBe(1);

    discardOf(c).heal();
    await waitUntil(() => fd.getSuspected().length === 0, 5000, 'the suspicion to be cleared');
    expect(fd.stats.suspicionsCleared).toBe(1);
    // A new silence is a new suspicion.
    discardOf(c).addIgnoreMember(bAddr);
    await waitUntil(() => fd.stats.suspicionsRaised === 2, 5000, 'C to suspect B again');
    discardOf(c).heal();
    for (const ch of [a, b, c]) expect(ch.getView()!.viewId.equals(viewId)).toBe(true);
  });
});

describe('configuration', () => {
  test('XML sets the properties; VERIFY_SUSPECT2 needs a failure detector below it', () => {
    const xml = (fd: string) => `<config xmlns="urn:org:tsgroups"><SHARED_LOOPBACK/><SHARED_LOOPBACK_PING/>${fd}<VERIFY_SUSPECT2 timeout="1.5s"/><GMS/></config>`;
    const stack = stackFromXml(xml('<FD_ALL3 interval="2s" timeout="10s"/>'));
    expect(stack.findProtocol(FD_ALL3)!.interval).toBe(2000);
    expect(stack.findProtocol(FD_ALL3)!.timeout).toBe(10000);
    expect(stack.findProtocol(VERIFY_SUSPECT2)!.timeout).toBe(1500);
    const defaults = new FD_ALL3();
    expect([defaults.interval, defaults.timeout, new VERIFY_SUSPECT2().timeout]).toEqual([8000, 40000, 1000]);
    expect(() => stackFromXml(xml('')).validate()).toThrow(/VERIFY_SUSPECT2 requires "failure-detection" below/);
  });
});
