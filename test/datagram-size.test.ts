// Exact datagram sizes: whatever rides in a bundle (XMIT requests for 1,000 seqnos and the
// resends they cause, views and digests of 200 members, user protocols with big headers), every
// datagram the transport sends stays within max_bundle_size, its length is the one the bundler
// computed, and everything arrives. And a message that cannot fit a datagram is refused at send
// when nothing fragments it, instead of being numbered and then lost for ever.
import {
  Address,
  Channel,
  decodeDatagram,
  delimitedSize,
  Digest,
  DISCARD,
  FRAG2,
  type HeaderCodec,
  HeaderRegistry,
  loadStackXml,
  type Message,
  NAKACK2,
  type NakAckHeader,
  NameCache,
  Protocol,
  ProtocolId,
  type ProtocolStack,
  type Reader,
  registerProtocol,
  stackFromXml,
  SHARED_LOOPBACK,
  type Transport,
  uint32Size,
  utf8Encode,
  View,
  digestToData,
  viewFromData,
  viewToData,
  type Writer,
  Message as Msg,
} from 'tsgroups';
import { type Node, recordDatagrams, type SentDatagram, startNode } from './helpers/bare-stack.js';
import { closeAll, type Member, stackPath, stackXml, startCluster, uniqueCluster, waitUntil } from './helpers/cluster.js';
import { CapturingLogger } from './helpers/frag-rsvp-stack.js';
import { randomGroup, udpStackText } from './udp/udp-helpers.js';

// ---- user protocols with big headers ----
interface PadHeader {
  n: number;
  pad: Uint8Array;
}
// message PadHeader { uint32 n = 1; bytes pad = 2; }
function encodePad(h: PadHeader, w: Writer): Writer {
  if (h.n !== 0) w.uint32(8).uint32(h.n);
  if (h.pad.length > 0) w.uint32(18).bytes(h.pad);
  return w;
}
function decodePad(r: Reader, length: number): PadHeader {
  const end = r.pos + length;
  const h: PadHeader = { n: 0, pad: new Uint8Array(0) };
  while (r.pos < end) {
    const t = r.uint32();
    if (t === 8) h.n = r.uint32();
    else if (t === 18) h.pad = r.bytes();
    else r.skipType(t & 7);
  }
  return h;
}
const padSize = (h: PadHeader) => (h.n !== 0 ? 1 + uint32Size(h.n) : 0) + (h.pad.length > 0 ? 1 + delimitedSize(h.pad.length) : 0);
/** A codec that counts its size. */
const countedPadCodec: HeaderCodec<PadHeader> = { encode: encodePad, decode: decodePad, size: padSize };
/** The same without size(): tsgroups measures it. */
const measuredPadCodec: HeaderCodec<PadHeader> = { encode: encodePad, decode: decodePad };
/** A codec whose size() is wrong (10 bytes short). */
const lyingPadCodec: HeaderCodec<PadHeader> = { encode: encodePad, decode: decodePad, size: (h) => padSize(h) - 10 };

/** Puts a header of `bytes` bytes of padding on every message it sends; counts what arrives with one. */
abstract class PadProtocol extends Protocol {
  bytes = 0;
  sent = 0;
  received = 0;
  override down(msg: Message) {
    msg.putHeader(this.id, { n: ++this.sent, pad: new Uint8Array(this.bytes).fill(7) });
    return this.downProt.down(msg);
  }
  override up(msg: Message): void {
    if (msg.getHeader(this.id) !== undefined) this.received++;
    this.upProt.up(msg);
  }
}
class BIG_COUNTED extends PadProtocol {
  static override readonly id = 1501;
  static override readonly headerCodec = countedPadCodec as HeaderCodec;
}
class BIG_MEASURED extends PadProtocol {
  static override readonly id = 1502;
  static override readonly headerCodec = measuredPadCodec as HeaderCodec;
}
const LYING_ID = 1503;
registerProtocol(BIG_COUNTED);
registerProtocol(BIG_MEASURED);
HeaderRegistry.register(LYING_ID, 'TEST_LYING_PAD', lyingPadCodec);

/** Every datagram within its transport's max_bundle_size, sized as computed, nothing dropped. */
function expectWithinLimits(transports: Transport[], sent: SentDatagram[][]): void {
  transports.forEach((t, i) => {
    const over = sent[i]!.filter((d) => d.length > t.maxBundleSize).map((d) => d.length);
    expect({ transport: i, over }).toEqual({ transport: i, over: [] });
    expect(t.stats.sizeMismatches).toBe(0);
    expect(t.stats.droppedTooLarge).toBe(0);
    expect(t.stats.droppedEncoding).toBe(0);
  });
}
const transportOf = (ch: Channel) => ch.getProtocolStack().getTransport() as Transport;

/** stacks/loopback-reliable.xml, with `extra` protocols on top. */
function reliableStack(extra: () => Protocol[] = () => []): () => ProtocolStack {
  return () => {
    const stack = loadStackXml(stackPath('loopback-reliable.xml'));
    for (const p of extra()) stack.addProtocol(p);
    return stack;
  };
}

let members: Member[] = [];
let nodes: Node[] = [];
let logs: CapturingLogger | null = null;
afterEach(async () => {
  logs?.uninstall();
  logs = null;
  await closeAll(members.map((m) => m.channel));
  members = [];
  for (const n of nodes) await n.stack.destroy();
  nodes = [];
});

describe('every datagram within max_bundle_size', () => {
  test('bundles of messages with big user headers (counted and measured) stay within max_bundle_size, and all arrive', async () => {
    members = await startCluster(3, reliableStack(() => [new BIG_COUNTED(), new BIG_MEASURED()]));
    const channels = members.map((m) => m.channel);
    const sent = channels.map((ch) => recordDatagrams(transportOf(ch)));
    channels.forEach((ch, i) => {
      ch.getProtocolStack().findProtocol(BIG_COUNTED)!.bytes = 1500 + 700 * i;
      ch.getProtocolStack().findProtocol(BIG_MEASURED)!.bytes = 900;
    });
    const [a, b] = channels as [Channel, Channel, Channel];
    // One turn: 300 multicasts and 300 unicasts per member, payloads of 0 to 2,000 bytes.
    for (const ch of channels) {
      for (let k = 0; k < 300; k++) {
        void ch.send(null, new Uint8Array((k * 37) % 2001));
        void ch.send(ch === a ? b.getAddress() : a.getAddress(), new Uint8Array((k * 53) % 1999));
      }
    }
    // A gets 3 x 300 multicasts + 2 x 300 unicasts; B and C 900 multicasts, and B 300 unicasts.
    const expected = [1500, 1200, 900];
    await waitUntil(
      () => members.every((m, i) => m.rec.messages.length >= expected[i]!),
      20_000,
      'every message',
      () => members.map((m) => m.rec.messages.length).join(', '),
    );
    expect(members.map((m) => m.rec.messages.length)).toEqual(expected);
    expectWithinLimits(channels.map(transportOf), sent);
    // Bundling happened: far fewer datagrams than messages, many of them close to the limit.
    const lengths = sent.flat().map((d) => d.length);
    expect(lengths.length).toBeLessThan(600 * 3);
    expect(lengths.filter((n) => n > 0.9 * 64_000).length).toBeGreaterThan(10);
    for (const ch of channels) expect(ch.getProtocolStack().findProtocol(BIG_MEASURED)!.received).toBeGreaterThanOrEqual(900);
  });

  test('an XMIT request for 1,000 missing seqnos and the resends it causes fit max_bundle_size, and the gap is filled', async () => {
    members = await startCluster(2, reliableStack(() => [new BIG_COUNTED()]), uniqueCluster('xmit'));
    const channels = members.map((m) => m.channel);
    const [a, b] = channels as [Channel, Channel];
    // A DISCARD right above B's transport drops all of A's traffic while A sends 1,000 multicasts.
    const discard = new DISCARD();
    await b.getProtocolStack().insertProtocol(discard, 'above', SHARED_LOOPBACK);
    for (const ch of channels) ch.getProtocolStack().findProtocol(BIG_COUNTED)!.bytes = 400;
    const sent = channels.map((ch) => recordDatagrams(transportOf(ch)));
    discard.addIgnoreMember(a.getAddress()!);
    for (let k = 0; k < 1000; k++) void a.send(null, new Uint8Array(1000));
    await waitUntil(() => members[0]!.rec.messages.length === 1000, 10_000, 'A delivering its own 1,000');
    await waitUntil(() => discard.stats.droppedUp >= 1000, 10_000, "B dropping A's 1,000", () => `${discard.stats.droppedUp}`);
    expect(members[1]!.rec.messages.length).toBe(0);
    // Heal: B learns A's highest seqno and asks for the 1,000 it missed, in one request.
    discard.heal();
    await waitUntil(() => members[1]!.rec.messages.length === 1000, 20_000, 'B receiving all 1,000', () => `${members[1]!.rec.messages.length}`);
    const requests = sent[1]!.flatMap((d) => xmitRequests(d.data, b.getClusterName()!));
    expect(Math.max(...requests.map((r) => r.missing!.length))).toBe(1000);
    expectWithinLimits(channels.map(transportOf), sent);
    // The resends filled datagrams to the limit.
    expect(sent[0]!.filter((d) => d.length > 0.9 * 64_000).length).toBeGreaterThan(5);
  });

  test('views and digests of 200 members bundled with other traffic fit max_bundle_size and arrive intact', async () => {
    // Bare stacks (the transport alone) carry the GMS and STABLE headers a 200-member cluster
    // sends, built from a real View and Digest and encoded by the real codecs: a 200-member
    // cluster of channels takes minutes to form in one process.
    const cluster = uniqueCluster('view200');
    const [a, b] = [await startNode(new SHARED_LOOPBACK(), cluster, 'A'), await startNode(new SHARED_LOOPBACK(), cluster, 'B')];
    nodes.push(a, b);
    const sent = recordDatagrams(a.transport);
    const mbrs = Array.from({ length: 200 }, (_, i) => {
      const m = Address.random();
      NameCache.add(m, `member-${i}`);
      return m;
    });
    const view = View.create(mbrs[0]!, 4711, mbrs);
    const digest = new Digest();
    mbrs.forEach((m, i) => digest.set(m, 1_000_000 + i * 977, 1_000_500 + i * 977));
    const out: Msg[] = [];
    const add = (m: Msg) => {
      m.src = a.address;
      out.push(m);
      a.stack.down(m);
    };
    // In one turn, to B: a VIEW, a JOIN_RSP (view and digest), a STABLE gossip, between user messages.
    for (let round = 0; round < 3; round++) {
      for (let k = 0; k < 15; k++) add(new Msg(b.address, new Uint8Array(1000 + k * 100)));
      add(new Msg(b.address).putHeader(ProtocolId.GMS, { type: 3, view: viewToData(view) }));
      add(new Msg(b.address).putHeader(ProtocolId.GMS, { type: 2, view: viewToData(view), digest: digestToData(digest) }));
      add(new Msg(b.address).putHeader(ProtocolId.STABLE, { type: 1, digest: digestToData(digest) }));
    }
    await waitUntil(() => b.messages.length === out.length, 5000, 'every message at B', () => `${b.messages.length}/${out.length}`);
    expectWithinLimits([a.transport], [sent]);
    expect(sent.length).toBeGreaterThan(1);
    expect(Math.max(...sent.map((d) => d.length))).toBeGreaterThan(0.8 * a.transport.maxBundleSize);
    // Intact: the views and digests decode to what was sent.
    const joinRsps = b.messages.filter((m) => (m.getHeader<{ type: number }>(ProtocolId.GMS)?.type ?? 0) === 2);
    expect(joinRsps.length).toBe(3);
    for (const m of joinRsps) {
      const h = m.getHeader<{ view: Parameters<typeof viewFromData>[0]; digest: { member: Uint8Array }[] }>(ProtocolId.GMS)!;
      expect(viewFromData(h.view).members).toEqual(mbrs);
      expect(h.digest.length).toBe(200);
    }
    expect(b.messages.map((m) => m.getLength())).toEqual(out.map((m) => m.getLength()));
  });

  test("a header codec whose size() is wrong is named in the log and counted; the datagram still goes if it fits", async () => {
    const cluster = uniqueCluster('lying');
    const [a, b] = [await startNode(new SHARED_LOOPBACK(), cluster, 'A'), await startNode(new SHARED_LOOPBACK(), cluster, 'B')];
    nodes.push(a, b);
    logs = new CapturingLogger('SHARED_LOOPBACK').install();
    a.stack.down(new Msg(b.address, utf8Encode('lied about')).setSrc(a.address).putHeader(LYING_ID, { n: 1, pad: new Uint8Array(100) }));
    await waitUntil(() => b.messages.length === 1, 5000, 'the message at B');
    expect(a.transport.stats.sizeMismatches).toBe(1);
    expect(logs.lines).toEqual([expect.stringMatching(/encoded to \d+ bytes, not the \d+ computed.*TEST_LYING_PAD/)]);
  });
});

/** The NAKACK2 XMIT_REQ headers in a datagram. */
function xmitRequests(data: Uint8Array, cluster: string): NakAckHeader[] {
  const res = decodeDatagram(data, utf8Encode(cluster));
  if (typeof res === 'string') return [];
  const out: NakAckHeader[] = [];
  for (const m of res.batch) {
    const h = m.getHeader<NakAckHeader>(NAKACK2.id);
    if (h !== undefined && h.type === 2) out.push(h);
  }
  return out;
}

describe('a message that cannot fit is refused at send when nothing fragments', () => {
  const withoutFrag2 = (xml: string): string => {
    const out = xml.replace(/<FRAG2[^>]*\/>/, '');
    expect(out).not.toContain('FRAG2 ');
    return out;
  };
  /** loopback-reliable.xml without FRAG2. */
  const noFrag = (): ProtocolStack => stackFromXml(withoutFrag2(stackXml('loopback-reliable.xml')));

  test("a 100 KB multicast rejects with ERR_MESSAGE_TOO_LARGE; the sender's later multicasts are delivered everywhere", async () => {
    members = await startCluster(3, noFrag);
    const [a] = members.map((m) => m.channel) as [Channel, Channel, Channel];
    expect(a.getProtocolStack().findProtocol(FRAG2)).toBeUndefined();
    await expect(a.send(null, new Uint8Array(100_000))).rejects.toMatchObject({ code: 'ERR_MESSAGE_TOO_LARGE', name: 'MessageTooLargeError' });
    await expect(a.send(members[1]!.channel.getAddress(), new Uint8Array(100_000))).rejects.toMatchObject({ code: 'ERR_MESSAGE_TOO_LARGE' });
    for (let i = 0; i < 5; i++) await a.send(null, `after ${i}`);
    await waitUntil(() => members.every((m) => m.rec.messages.length === 5), 5000, 'the later multicasts everywhere');
    for (const m of members) expect(m.rec.objects()).toEqual([0, 1, 2, 3, 4].map((i) => `after ${i}`));
    // Nothing was numbered for the refused message: no gap to retransmit.
    await a.send(null, 'last');
    await waitUntil(() => members.every((m) => m.rec.messages.length === 6), 5000, 'the last one');
    for (const m of members) expect(m.channel.getProtocolStack().findProtocol(NAKACK2)!.stats.xmitReqsSent).toBe(0);
  });

  test('around the limit, every message is either refused at send or delivered everywhere: none is numbered and then lost', async () => {
    members = await startCluster(2, noFrag);
    const [a, b] = members.map((m) => m.channel) as [Channel, Channel];
    const t = transportOf(a);
    let accepted = 0;
    let refused = 0;
    for (const dest of [null, b.getAddress()]) {
      const limit = t.maxMessageSize(dest);
      // Payload lengths from well below to above the limit (the message's framing adds 8 bytes).
      for (let len = limit - 20; len <= limit + 2; len++) {
        const fits = new Msg(dest, new Uint8Array(len)).setSrc(a.getAddress()).size() <= limit;
        try {
          await a.send(dest, new Uint8Array(len));
          expect({ len, fits }).toEqual({ len, fits: true });
          accepted++;
        } catch (err) {
          expect({ len, fits, code: (err as { code?: string }).code }).toEqual({ len, fits: false, code: 'ERR_MESSAGE_TOO_LARGE' });
          refused++;
        }
      }
    }
    expect(accepted).toBeGreaterThan(20);
    expect(refused).toBeGreaterThan(10);
    // B gets every accepted message, multicast or unicast.
    await waitUntil(() => members[1]!.rec.messages.length === accepted, 10_000, 'every accepted message at B', () => `${members[1]!.rec.messages.length}/${accepted}`);
    for (const ch of [a, b]) {
      expect(transportOf(ch).stats.droppedTooLarge).toBe(0);
      expect(transportOf(ch).stats.sizeMismatches).toBe(0);
      expect(ch.getProtocolStack().findProtocol(NAKACK2)!.stats.xmitReqsSent).toBe(0);
    }
  });

  test('over UDP without FRAG2: a 100 KB multicast rejects with ERR_MESSAGE_TOO_LARGE and later multicasts arrive', async () => {
    const group = randomGroup();
    members = await startCluster(2, () => stackFromXml(withoutFrag2(udpStackText(group))), uniqueCluster('udp-nofrag'));
    const [a] = members.map((m) => m.channel) as [Channel, Channel];
    await expect(a.send(null, new Uint8Array(100_000))).rejects.toMatchObject({ code: 'ERR_MESSAGE_TOO_LARGE' });
    await a.send(null, 'after');
    await waitUntil(() => members.every((m) => m.rec.objects().includes('after')), 5000, 'the multicast after');
    for (const m of members) expect(m.rec.objects()).toEqual(['after']);
    expect(transportOf(a).stats.sendErrors).toBe(0);
  });

  test('with FRAG2 in the stack nothing is refused: a 100 KB multicast is fragmented and delivered', async () => {
    members = await startCluster(2, reliableStack());
    const [a] = members.map((m) => m.channel) as [Channel, Channel];
    await a.send(null, new Uint8Array(100_000));
    await waitUntil(() => members.every((m) => m.rec.messages.length === 1), 5000, 'the big multicast');
    expect(members[1]!.rec.messages[0]!.getLength()).toBe(100_000);
  });
});
