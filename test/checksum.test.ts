// The datagram checksum (transport attribute checksum="true"): CRC32C test vectors, the trailer
// in the wire format, 50,000 bit-flipped copies of real datagrams dropped at the transport with
// nothing reaching the stack, and members that disagree on checksum told apart clearly.
import {
  Address,
  type Channel,
  CHECKSUM_TRAILER_SIZE,
  ChecksumResult,
  checkDatagramChecksum,
  crc32c,
  crc32cImplementation,
  crc32cTable,
  datagramEnvelopeSize,
  decodeDatagram,
  encodeDatagram,
  Message,
  seededRandom,
  UDP,
  utf8Encode,
} from 'tsgroups';
import { introduce, type Node, recordDatagrams, startNode } from './helpers/bare-stack.js';
import { type Member, startCluster, uniqueCluster, waitForSameView, waitUntil } from './helpers/cluster.js';
import { randomGroup, udpStack } from './udp/udp-helpers.js';

describe.each([
  ['crc32c (native where it loads)', crc32c],
  ['the table-driven fallback', crc32cTable],
])('CRC32C: %s', (_name, crc: typeof crc32c) => {
  test('RFC 3720 B.4 test vectors, and the usual check value', () => {
    const asc = Uint8Array.from({ length: 32 }, (_, i) => i);
    const desc = Uint8Array.from({ length: 32 }, (_, i) => 31 - i);
    expect(crc(new Uint8Array(32))).toBe(0x8a9136aa);
    expect(crc(new Uint8Array(32).fill(0xff))).toBe(0x62a8ab43);
    expect(crc(asc)).toBe(0x46dd794e);
    expect(crc(desc)).toBe(0x113fdb5c);
    expect(crc(utf8Encode('123456789'))).toBe(0xe3069283);
    expect(crc(new Uint8Array(0))).toBe(0);
  });

  test('a range, and a checksum continued over pieces, equal the checksum of the whole', () => {
    const rnd = seededRandom(7);
    const buf = Uint8Array.from({ length: 1001 }, () => Math.floor(rnd() * 256));
    const whole = crc(buf);
    for (const cut of [0, 1, 7, 8, 9, 500, 1000, 1001]) {
      expect(crc(buf, cut, buf.length, crc(buf, 0, cut))).toBe(whole);
    }
    expect(crc(buf, 3, 20)).toBe(crc(buf.slice(3, 20)));
    // A view into a larger buffer (as a datagram inside a socket's buffer).
    const outer = new Uint8Array(1100);
    outer.set(buf, 50);
    expect(crc(outer.subarray(50, 1051))).toBe(whole);
  });
});

test('on Linux x64 the native CRC32C is the one used (its prebuilt binary installs with the package)', () => {
  if (process.platform === 'linux' && process.arch === 'x64') expect(crc32cImplementation).toBe('native');
  else expect(['native', 'js']).toContain(crc32cImplementation);
});

describe('the checksum trailer', () => {
  const cluster = utf8Encode('crc');
  const sender = Address.random();
  const msgs = [new Message(null).setString('hello'), new Message(null).setString('world')];

  test('adds 5 bytes at the end, is checked, and is skipped by a decoder that does not check it', () => {
    const plain = encodeDatagram(cluster, sender, null, msgs);
    const sealed = encodeDatagram(cluster, sender, null, msgs, 0, msgs.length, true);
    expect(sealed.length).toBe(plain.length + CHECKSUM_TRAILER_SIZE);
    expect(Buffer.from(sealed.subarray(0, plain.length))).toEqual(Buffer.from(plain));
    expect(checkDatagramChecksum(sealed)).toBe(ChecksumResult.OK);
    expect(checkDatagramChecksum(plain)).not.toBe(ChecksumResult.OK);
    const d = decodeDatagram(sealed, cluster);
    expect(typeof d).toBe('object');
    if (typeof d === 'object') expect([...d.batch].map((m) => m.getString())).toEqual(['hello', 'world']);
  });

  test('every single-bit flip of a datagram is detected', () => {
    const sealed = encodeDatagram(cluster, sender, null, msgs, 0, msgs.length, true);
    for (let bit = 0; bit < sealed.length * 8; bit++) {
      const copy = sealed.slice();
      copy[bit >> 3]! ^= 1 << (bit & 7);
      expect(checkDatagramChecksum(copy)).not.toBe(ChecksumResult.OK);
    }
  });
});

describe('checksum="true" on UDP', () => {
  let members: Member[] = [];
  const nodes: Node[] = [];
  afterEach(async () => {
    for (const m of members.slice().reverse()) await m.channel.close();
    members = [];
    for (const n of nodes.splice(0)) await n.stack.stop();
  });

  test('50,000 bit-flipped copies of real datagrams are all dropped at the transport; nothing reaches the stack', async () => {
    const group = randomGroup();
    members = await startCluster(3, () => udpStack(group, { TSGROUPS_CHECKSUM: 'true' }), uniqueCluster('crc'));
    const chs = members.map((m) => m.channel) as [Channel, Channel, Channel];
    const view = await waitForSameView(chs, 10_000);
    const [a, b, c] = chs;
    const ta = a.getProtocolStack().getTransport() as UDP;
    const tb = b.getProtocolStack().getTransport() as UDP;
    expect(ta.checksum).toBe(true);
    // Real datagrams: what B and C send (multicasts and unicasts to A), recorded at their transports.
    const recB = recordDatagrams(tb);
    const recC = recordDatagrams(c.getProtocolStack().getTransport() as UDP);
    for (let i = 0; i < 20; i++) {
      await b.send(null, `b${i}`);
      await c.send(a.getAddress(), `c${i}`);
      await new Promise((r) => setImmediate(r)); // one datagram each, not one bundle
    }
    await waitUntil(() => recB.length + recC.length >= 20, 5000, 'datagrams to capture', () => `${recB.length} + ${recC.length}`);
    const real = [...recB, ...recC].map((d) => d.data.slice());
    expect(real.length).toBeGreaterThanOrEqual(20);
    for (const d of real) expect(checkDatagramChecksum(d)).toBe(ChecksumResult.OK);

    // Whatever reaches A's stack from now on is counted.
    let delivered = 0;
    const top = ta.upProt;
    const origBatch = top.upBatch.bind(top);
    top.upBatch = (batch) => {
      delivered += batch.size();
      return origBatch(batch);
    };
    const before = ta.getStats();
    const rnd = seededRandom(12);
    const N = 50_000;
    for (let i = 0; i < N; i++) {
      const copy = real[i % real.length]!.slice();
      const flips = 1 + Math.floor(rnd() * 3);
      for (let f = 0; f < flips; f++) {
        const bit = Math.floor(rnd() * copy.length * 8);
        copy[bit >> 3]! ^= 1 << (bit & 7);
      }
      // Flipping the same bit twice restores the datagram: such a copy is not corrupted.
      if (checkDatagramChecksum(copy) === ChecksumResult.OK && Buffer.compare(copy, real[i % real.length]!) === 0) {
        copy[0]! ^= 1;
      }
      ta.receive(copy, '127.0.0.1', 1);
    }
    const after = ta.getStats();
    expect(after.droppedChecksum! - before.droppedChecksum!).toBe(N);
    expect(delivered).toBe(0);
    top.upBatch = origBatch;
    // The cluster is as it was, and still works.
    expect(a.getView()!.viewId.equals(view.viewId)).toBe(true);
    await b.send(a.getAddress(), 'still here');
    await waitUntil(() => members[0]!.rec.objects().includes('still here'), 5000, 'a message after the flips');
  });

  test('a member with checksum="true" drops datagrams without one (counted apart); the other way they pass', async () => {
    const cluster = uniqueCluster('crcmix');
    const on = await startNode(new UDP().setValues({ bind_addr: '127.0.0.1', ip_mcast: false, checksum: true }), cluster, 'on');
    nodes.push(on);
    const off = await startNode(new UDP().setValues({ bind_addr: '127.0.0.1', ip_mcast: false }), cluster, 'off');
    nodes.push(off);
    introduce([on, off]);
    on.stack.down(new Message(off.address).setString('from on'));
    off.stack.down(new Message(on.address).setString('from off'));
    await waitUntil(() => off.texts().includes('from on'), 5000, 'the checksummed datagram at the member without checksum');
    await waitUntil(() => (on.transport.getStats().droppedNoChecksum ?? 0) >= 1, 5000, 'the datagram without checksum dropped');
    expect(on.texts()).toEqual([]);
    expect(on.transport.getStats().droppedChecksum).toBe(1);
    // The envelope the bundler counts includes the trailer: sizes stay exact.
    expect(on.transport.getStats().sizeMismatches).toBe(0);
    expect(on.transport.maxMessageSize(off.address)).toBe(off.transport.maxMessageSize(on.address) - CHECKSUM_TRAILER_SIZE);
    expect(datagramEnvelopeSize(cluster.length, true)).toBeGreaterThan(0);
  });
});
