// Replay protection of SYM_ENCRYPT (and so of ASYM_ENCRYPT, which shares its sealing): every
// captured encrypted datagram (discovery, heartbeats, data, membership) injected again is
// rejected and counted as `replayed`, nothing is delivered twice; with seals reordered
// (SHUFFLE) and lost (DISCARD) below the encryption, nothing is refused and nothing is lost.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Address, Channel, decodeDatagram, stackFromXml, SYM_ENCRYPT, type Transport } from 'tsgroups';
import { REPLAY_WINDOW, ReplayWindows } from '../protocols/src/security/replay-window.js';
import { closeAll, Recorder, uniqueCluster, waitForSameView } from './helpers/cluster.js';
import { waitUntil } from './helpers/wait.js';
import { randomGroup, udpVariables } from './udp/udp-helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'tsgroups-replay-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const keyFile = (): string => {
  const path = join(dir, `key-${randomBytes(4).toString('hex')}.txt`);
  writeFileSync(path, randomBytes(32).toString('hex'), { mode: 0o600 });
  return path;
};
const symOf = (ch: Channel): SYM_ENCRYPT => ch.getProtocolStack().findProtocol(SYM_ENCRYPT)!;
const texts = (rec: Recorder): string[] => rec.messages.map((m) => m.getObject<string>());

const channels: Channel[] = [];
afterEach(async () => {
  await closeAll(channels.splice(0));
});

/** A nonce as NonceSequence makes them: a 6-byte epoch, then a 6-byte counter. */
function nonce(epoch: number, counter: number): Uint8Array {
  const iv = Buffer.alloc(12);
  iv.writeUIntBE(epoch, 0, 6);
  iv.writeUIntBE(counter, 6, 6);
  return iv;
}

describe('ReplayWindows', () => {
  const a = Address.random();
  test('new counters pass in any order within the window; a repeat or one older than the window does not', () => {
    const w = new ReplayWindows();
    const start = 2 ** 47 + 12_345;
    const order = Array.from({ length: 3000 }, (_, i) => start + i);
    // Reorder in blocks of 100: well inside the window.
    for (let b = 0; b < order.length; b += 100) order.splice(b, 100, ...order.slice(b, b + 100).reverse());
    for (const c of order) expect(w.accept(a, nonce(7, c))).toBe(true);
    for (const c of [start, start + 1500, start + 2999]) expect(w.accept(a, nonce(7, c))).toBe(false);
    // Just inside the window and unseen: accepted once; beyond it: refused.
    const top = start + 2999;
    expect(w.accept(a, nonce(7, top + 5))).toBe(true);
    expect(w.accept(a, nonce(7, top + 3))).toBe(true);
    expect(w.accept(a, nonce(7, top + 3))).toBe(false);
    expect(w.accept(a, nonce(7, top + 5 - REPLAY_WINDOW))).toBe(false);
    // A jump ahead (a long loss) keeps working.
    expect(w.accept(a, nonce(7, top + 10 * REPLAY_WINDOW))).toBe(true);
    expect(w.accept(a, nonce(7, top + 10 * REPLAY_WINDOW - 1))).toBe(true);
    expect(w.accept(a, nonce(7, top + 6))).toBe(false);
  });

  test('another epoch is refused, but the carry of a counter past 2^48 is followed', () => {
    const w = new ReplayWindows();
    expect(w.accept(a, nonce(9, 2 ** 48 - 1))).toBe(true);
    expect(w.accept(a, nonce(3, 5))).toBe(false);
    expect(w.accept(a, nonce(10, 0))).toBe(true);
    expect(w.accept(a, nonce(9, 2 ** 48 - 1))).toBe(false);
  });

  test('senders outside the view are forgotten after the expiry; members are kept', () => {
    const w = new ReplayWindows(1000);
    const b = Address.random();
    w.accept(a, nonce(1, 1));
    w.accept(b, nonce(2, 1));
    w.retain([a], 100);
    w.retain([a], 600);
    expect(w.size()).toBe(2);
    w.retain([a], 1100);
    expect(w.size()).toBe(1);
    expect(w.accept(a, nonce(1, 1))).toBe(false);
  });

  test('memory is bounded: 10,000 senders keep at most 4096 windows', () => {
    const w = new ReplayWindows();
    for (let i = 0; i < 10_000; i++) w.accept(Address.random(), nonce(i, i));
    expect(w.size()).toBe(4096);
  });
});

test('over UDP: every captured datagram (discovery, heartbeats, data, membership) replayed is rejected as a replay; nothing is delivered twice', async () => {
  const group = randomGroup();
  const vars = udpVariables(group);
  const key = keyFile();
  const xml = `<config>
  <UDP bind_addr="${vars.TSGROUPS_BIND_ADDR}" bind_port="0" mcast_addr="${vars.TSGROUPS_MCAST_ADDR}" mcast_port="${vars.TSGROUPS_MCAST_PORT}" ip_ttl="0"/>
  <SYM_ENCRYPT key_file="${key}"/>
  <PING timeout="300ms"/>
  <MERGE3 min_interval="200ms" max_interval="400ms"/>
  <FD_ALL3 interval="100ms" timeout="5s"/>
  <NAKACK2 xmit_interval="200ms"/>
  <UNICAST3 xmit_interval="200ms"/>
  <STABLE desired_avg_gossip="300ms" max_bytes="1M"/>
  <GMS join_timeout="500ms" discovery_timeout="300ms" view_ack_collection_timeout="1s" max_join_attempts="2"/>
</config>`;
  const cluster = uniqueCluster('replay-udp');
  const recs: Recorder[] = [];
  const chs: Channel[] = [];
  // C captures every datagram it receives, from the start (discovery and the join included).
  const captured: Uint8Array[] = [];
  for (const name of ['A', 'B', 'C']) {
    const ch = new Channel(stackFromXml(xml, { source: 'replay.xml' })).setName(name);
    channels.push(ch);
    chs.push(ch);
    recs.push(new Recorder(ch));
    if (name === 'C') {
      const t = ch.getProtocolStack().getTransport() as Transport;
      const receive = t.receive.bind(t);
      t.receive = (data) => {
        captured.push(Uint8Array.prototype.slice.call(data));
        return receive(data);
      };
    }
    await ch.connect(cluster);
  }
  const view = await waitForSameView(chs, 10_000);
  for (let i = 0; i < 20; i++) {
    await chs[0]!.send(null, `m${i}`);
    await chs[1]!.send(chs[2]!.getAddress(), `u${i}`);
  }
  await waitUntil(() => texts(recs[2]!).length >= 40, 5000, 'the messages at C');
  const sym = symOf(chs[2]!);
  await waitUntil(() => sym.stats.decrypted > 100, 5000, 'heartbeats and gossip to arrive');
  const delivered = texts(recs[2]!).slice();
  const before = { ...sym.stats };
  const t = chs[2]!.getProtocolStack().getTransport() as Transport;
  const replayedNow = captured.slice();
  // Every seal from the others is refused as a replay (C's own datagrams are dropped by the transport).
  let seals = 0;
  for (const d of replayedNow) {
    const decoded = decodeDatagram(d, null);
    if (typeof decoded !== 'string' && decoded.batch.sender !== chs[2]!.getAddress()) seals += decoded.batch.size();
    t.receive(Uint8Array.prototype.slice.call(d));
  }
  const replayed = sym.stats.replayed - before.replayed;
  expect(seals).toBeGreaterThan(10);
  expect(replayed).toBe(seals);
  expect(sym.stats.decrypted).toBe(before.decrypted);
  expect(sym.stats.authFailures + sym.stats.malformed + sym.stats.unencrypted).toBe(before.authFailures + before.malformed + before.unencrypted);
  await chs[0]!.send(null, 'after');
  await waitUntil(() => texts(recs[2]!).includes('after'), 5000, 'the message after the replay');
  expect(texts(recs[2]!)).toEqual([...delivered, 'after']);
  for (const ch of chs) expect(ch.getView()!.viewId.equals(view.viewId)).toBe(true);
  console.log(`SYM_ENCRYPT replay: ${replayedNow.length} captured datagrams injected again at C (${seals} seals from A and B), ${replayed} rejected as replays; windows kept: ${sym.replayWindowSenders()}`);
});

test('seals reordered (SHUFFLE) and lost (DISCARD 10%) below SYM_ENCRYPT: nothing is refused as a replay, nothing is lost', async () => {
  const key = keyFile();
  const xml = `<config>
  <SHARED_LOOPBACK/>
  <DISCARD up="0.1" down="0.1" seed="3"/>
  <SHUFFLE up="true" down="true" max_size="20" max_time="5ms" seed="4"/>
  <SYM_ENCRYPT key_file="${key}"/>
  <SHARED_LOOPBACK_PING/>
  <NAKACK2 xmit_interval="50ms"/>
  <UNICAST3 xmit_interval="50ms"/>
  <STABLE desired_avg_gossip="500ms" max_bytes="1M"/>
  <GMS join_timeout="500ms" view_ack_collection_timeout="500ms" max_join_attempts="10"/>
</config>`;
  const cluster = uniqueCluster('replay-shuffle');
  const recs: Recorder[] = [];
  const chs: Channel[] = [];
  for (const name of ['A', 'B', 'C']) {
    const ch = Channel.fromXml(xml, 'shuffle.xml').setName(name);
    channels.push(ch);
    chs.push(ch);
    recs.push(new Recorder(ch));
    await ch.connect(cluster);
  }
  await waitForSameView(chs, 20_000);
  const n = 300;
  for (let i = 0; i < n; i++) for (const ch of chs) void ch.send(null, `${ch.getName()}:${i}`);
  await waitUntil(() => recs.every((r) => texts(r).length >= 3 * n), 20_000, 'every multicast everywhere', () => recs.map((r) => texts(r).length).join(','));
  for (const r of recs) {
    for (const ch of chs) {
      const p = `${ch.getName()}:`;
      expect(texts(r).filter((x) => x.startsWith(p))).toEqual(Array.from({ length: n }, (_, i) => `${p}${i}`));
    }
  }
  for (const ch of chs) expect(symOf(ch).stats.replayed).toBe(0);
});
