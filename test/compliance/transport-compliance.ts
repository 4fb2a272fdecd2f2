// The transport compliance suite, in the manner of js-libp2p's interface compliance tests: one
// set of behaviours every transport must have, run by each transport's own test file with a
// factory (test/compliance/<transport>.compliance.test.ts). A new transport (TCP ...) passes
// when it passes this suite.
//
// The suite drives bare stacks: the transport under test with nothing above it but a probe that
// records what comes up, so every assertion is about the transport itself (bundling, batching,
// loopback, filtering, sizes, lifecycle), not about the protocols a channel would add.
import {
  Address,
  encodeDatagram,
  Flag,
  HeaderRegistry,
  type HeaderCodec,
  Message,
  type Transport,
  uint32Size,
  utf8Encode,
  WIRE_MAGIC,
} from 'tsgroups';
import { introduce, type Node, recordDatagrams, startNode } from '../helpers/bare-stack.js';
import { uniqueCluster, waitUntil } from '../helpers/cluster.js';
import { CapturingLogger } from '../helpers/frag-rsvp-stack.js';

/** What a transport's test file gives the suite; a new one for every test. */
export interface TransportUnderTest {
  /**
   * A new transport, not started. Every transport one test creates must reach the others: the
   * same multicast group and port (a run's own), everything on 127.0.0.1.
   */
  create(): Transport;
  /**
   * Hands `data` to `target` as if it came from the network, the way real datagrams arrive
   * (a raw socket for UDP): to the group (every member) if `multicast`, else to `target` only.
   */
  inject(target: Transport, data: Uint8Array, multicast: boolean): Promise<void>;
  /** Whether a stopped transport let go of what it held outside the process's handles (a registry ...). */
  released?(t: Transport, cluster: string): boolean;
  /** Closes what `inject` opened. */
  teardown?(): Promise<void>;
}

// A header every message of the suite may carry, to check headers travel intact.
export const PROBE_ID = 1990;
interface ProbeHeader {
  seq: number;
}
const probeCodec: HeaderCodec<ProbeHeader> = {
  encode: (h, w) => (h.seq !== 0 ? w.uint32(8).uint32(h.seq) : w),
  decode(r, length) {
    const end = r.pos + length;
    const h: ProbeHeader = { seq: 0 };
    while (r.pos < end) {
      const t = r.uint32();
      if (t === 8) h.seq = r.uint32();
      else r.skipType(t & 7);
    }
    return h;
  },
  size: (h) => (h.seq !== 0 ? 1 + uint32Size(h.seq) : 0),
};
HeaderRegistry.register(PROBE_ID, 'COMPLIANCE_PROBE', probeCodec);

const text = (s: string) => utf8Encode(s);

function resourceCounts(): Map<string, number> {
  const m = new Map<string, number>();
  for (const r of process.getActiveResourcesInfo()) m.set(r, (m.get(r) ?? 0) + 1);
  return m;
}

/** What the suite needs to know about the medium beneath the transport. */
export interface ComplianceOptions {
  /**
   * The largest datagram the medium itself carries (UDP over IPv4: 65,507). If given, the suite
   * checks that a datagram above it (only code can configure one) is a counted send error.
   */
  mediumLimit?: number;
}

/** The payload length that makes a message from its own sender exactly `size` bytes on the wire. */
function payloadForSize(size: number): number {
  let len = size - 2;
  while (len > 0 && new Message(null, new Uint8Array(len)).size() > size) len--;
  return len;
}

/**
 * Runs the compliance suite for one transport.
 * @param name the transport's name, for the test titles
 * @param setup a fresh environment for each test
 */
export function transportComplianceSuite(
  name: string,
  setup: () => TransportUnderTest | Promise<TransportUnderTest>,
  options: ComplianceOptions = {},
): void {
  const mediumLimit = options.mediumLimit ?? Infinity;
  describe(`${name}: transport compliance`, () => {
    let env: TransportUnderTest;
    let cluster: string;
    let nodes: Node[] = [];
    let logs: CapturingLogger | null = null;
    /** Records what the transport logs at warn and above (the provoked errors), instead of printing it. */
    const captureLogs = (): CapturingLogger => (logs = new CapturingLogger(name).install());

    beforeEach(async () => {
      env = await setup();
      cluster = uniqueCluster(`compliance-${name.toLowerCase()}`);
    });
    afterEach(async () => {
      logs?.uninstall();
      logs = null;
      for (const n of nodes) await n.stack.destroy();
      nodes = [];
      await env.teardown?.();
    });

    /** `n` started nodes of this test's cluster (A, B, C ...), introduced to each other. */
    async function start(n: number, configure: (t: Transport, i: number) => void = () => {}): Promise<Node[]> {
      const started: Node[] = [];
      for (let i = 0; i < n; i++) {
        const t = env.create();
        configure(t, i);
        const node = await startNode(t, cluster, String.fromCharCode(65 + i));
        nodes.push(node);
        started.push(node);
      }
      introduce(started);
      return started;
    }
    const msg = (dest: Address | null, payload: string, seq = 0) => {
      const m = new Message(dest, text(payload));
      if (seq !== 0) m.putHeader(PROBE_ID, { seq });
      return m;
    };
    /** Waits until `node` got `count` messages, then (after a fence on the same path) that it got no more. */
    async function expectCount(node: Node, count: number, what: string): Promise<void> {
      await waitUntil(() => node.messages.length >= count, 5000, what, () => `${node.name}: ${node.texts().join(',')}`);
    }

    test('a unicast reaches its target only, from its sender, with payload and headers intact', async () => {
      const [a, b, c] = await start(3);
      a!.stack.down(msg(b!.address, 'to B', 42));
      // The fence: a second unicast to C proves C's path works and that the first did not go there.
      a!.stack.down(msg(c!.address, 'fence'));
      await expectCount(b!, 1, 'the unicast at B');
      await expectCount(c!, 1, 'the fence at C');
      expect(b!.texts()).toEqual(['to B']);
      expect(c!.texts()).toEqual(['fence']);
      const got = b!.messages[0]!;
      expect(got.src).toBe(a!.address);
      expect(got.dest).toBe(b!.address);
      expect(got.getHeader<ProbeHeader>(PROBE_ID)).toEqual({ seq: 42 });
      expect(a!.messages).toEqual([]);
    });

    test('a multicast reaches every member once, the sender included (loopback)', async () => {
      const [a, b, c] = await start(3);
      a!.stack.down(msg(null, 'to all', 7));
      for (const n of [a!, b!, c!]) await expectCount(n, 1, `the multicast at ${n.name}`);
      // Let a duplicate (the sender's own copy coming back from the network) show if there is one.
      b!.stack.down(msg(null, 'fence'));
      for (const n of [a!, b!, c!]) await expectCount(n, 2, `the fence at ${n.name}`);
      for (const n of [a!, b!, c!]) {
        expect(n.texts().sort()).toEqual(['fence', 'to all']);
        const m = n.messages.find((x) => x.getString() === 'to all')!;
        expect(m.src).toBe(a!.address);
        expect(m.dest).toBeNull();
        expect(m.getHeader<ProbeHeader>(PROBE_ID)).toEqual({ seq: 7 });
      }
    });

    test('loopback needs no network: a message to oneself and the own copy of a multicast arrive while nothing is sent', async () => {
      const [a] = await start(1);
      const sent = recordDatagrams(a!.transport, true); // the "network" drops everything
      a!.stack.down(msg(a!.address, 'to me'));
      a!.stack.down(msg(null, 'to all'));
      await expectCount(a!, 2, 'both at A');
      expect(a!.texts()).toEqual(['to me', 'to all']);
      expect(sent.filter((d) => d.dest !== null)).toEqual([]); // the message to self never left
      expect(a!.messages[0]!.src).toBe(a!.address);
    });

    test('DONT_LOOPBACK: the sender does not get its own multicast, the others do', async () => {
      const [a, b] = await start(2);
      a!.stack.down(msg(null, 'not for A').setFlag(Flag.DONT_LOOPBACK));
      a!.stack.down(msg(null, 'for all'));
      await expectCount(b!, 2, 'both at B');
      await expectCount(a!, 1, 'the second at A');
      b!.stack.down(msg(a!.address, 'fence'));
      await expectCount(a!, 2, 'the fence at A');
      expect(a!.texts()).toEqual(['for all', 'fence']);
      expect(b!.texts()).toEqual(['not for A', 'for all']);
    });

    test('bundling: what is sent in one turn leaves as one datagram per destination, and arrives as one batch, in order', async () => {
      const [a, b] = await start(2);
      const sent = recordDatagrams(a!.transport);
      for (let i = 1; i <= 50; i++) a!.stack.down(msg(null, `m${i}`, i));
      for (let i = 1; i <= 50; i++) a!.stack.down(msg(b!.address, `u${i}`, i));
      expect(sent).toEqual([]); // nothing before the turn ends
      await expectCount(b!, 100, 'the 100 messages at B');
      expect(sent.map((d) => d.dest)).toEqual([null, b!.address]);
      const fromA = b!.batches.filter((x) => x.sender === a!.address);
      expect(fromA.map((x) => [x.multicast, x.size]).sort()).toEqual([
        [false, 50],
        [true, 50],
      ]);
      const texts = b!.texts();
      expect(texts.filter((t) => t.startsWith('m'))).toEqual(Array.from({ length: 50 }, (_, i) => `m${i + 1}`));
      expect(texts.filter((t) => t.startsWith('u'))).toEqual(Array.from({ length: 50 }, (_, i) => `u${i + 1}`));
      expect(b!.messages.map((m) => m.getHeader<ProbeHeader>(PROBE_ID)!.seq).filter((_, i) => texts[i]!.startsWith('u'))).toEqual(
        Array.from({ length: 50 }, (_, i) => i + 1),
      );
    });

    test('DONT_BUNDLE leaves at once, in a datagram of its own', async () => {
      const [a, b] = await start(2);
      const sent = recordDatagrams(a!.transport);
      a!.stack.down(msg(b!.address, 'bundled'));
      a!.stack.down(msg(b!.address, 'alone').setFlag(Flag.DONT_BUNDLE));
      expect(sent.length).toBe(1); // synchronously, before the turn ends
      await expectCount(b!, 2, 'both at B');
      expect(sent.length).toBe(2);
      expect(b!.texts().sort()).toEqual(['alone', 'bundled']);
    });

    test('a burst larger than max_bundle_size is split into datagrams that never exceed it, computed exactly', async () => {
      const [a, b] = await start(2, (t) => (t.maxBundleSize = 4096));
      const sent = recordDatagrams(a!.transport);
      const payload = 'x'.repeat(1000);
      for (let i = 0; i < 40; i++) a!.stack.down(msg(null, `${i}:${payload}`, i + 1));
      await expectCount(b!, 40, 'the burst at B');
      expect(sent.length).toBeGreaterThanOrEqual(10); // 40 KB in 4 KB datagrams
      expect(sent.filter((d) => d.length > 4096)).toEqual([]);
      expect(b!.texts().map((t) => Number(t.split(':')[0]))).toEqual(Array.from({ length: 40 }, (_, i) => i));
      expect(a!.transport.stats.sizeMismatches).toBe(0);
    });

    test('a message as large as one datagram can take is sent; one byte more is refused at send; the sender goes on', async () => {
      const limit = Math.min(mediumLimit, 65_000);
      const [a, b] = await start(2, (t) => (t.maxBundleSize = limit));
      const sent = recordDatagrams(a!.transport);
      const max = a!.transport.maxMessageSize(null);
      // The largest message a user may send: its size on the wire is exactly max.
      const len = payloadForSize(max);
      const big = new Message(null, new Uint8Array(len)).setSrc(a!.address);
      expect(big.size()).toBe(max);
      a!.stack.down(big);
      const tooBig = new Message(null, new Uint8Array(len + 1)).setSrc(a!.address);
      expect(() => a!.stack.down(tooBig)).toThrow(expect.objectContaining({ code: 'ERR_MESSAGE_TOO_LARGE', size: max + 1, limit: max }));
      a!.stack.down(msg(null, 'after'));
      await expectCount(b!, 2, 'the big one and the one after');
      expect(b!.messages[0]!.getLength()).toBe(len);
      expect(b!.texts()[1]).toBe('after');
      expect(sent.every((d) => d.length <= limit)).toBe(true);
      // A message that reaches the transport too large (past the check at the top) is dropped,
      // counted and logged as never sendable, not sent.
      const log = captureLogs();
      const before = sent.length;
      a!.transport.down(new Message(b!.address, new Uint8Array(limit)));
      expect(a!.transport.stats.droppedTooLarge).toBe(1);
      expect(log.lines).toEqual([expect.stringContaining('it can never be sent')]);
      a!.stack.down(msg(b!.address, 'still fine'));
      await expectCount(b!, 3, 'the unicast after the drop');
      expect(sent.slice(before).every((d) => d.length <= limit)).toBe(true);
      // A unicast's envelope holds the destination too: its limit is lower than a multicast's.
      expect(a!.transport.maxMessageSize(b!.address)).toBe(max - 18);
      expect(a!.transport.maxMessageSize(a!.address)).toBe(Infinity);
    });

    if (Number.isFinite(mediumLimit)) {
      test('a datagram the medium cannot carry is a counted send error (EMSGSIZE), never thrown and never sent again', async () => {
        const [a, b] = await start(2);
        const log = captureLogs();
        // Only code can take a transport past its declared maximum (XML and setValue refuse it).
        a!.transport.maxBundleSize = mediumLimit + 2000;
        const sent = recordDatagrams(a!.transport);
        for (const dest of [b!.address, null]) {
          expect(() => a!.transport.down(new Message(dest, new Uint8Array(mediumLimit + 100)))).not.toThrow();
        }
        await waitUntil(() => a!.transport.stats.sendErrors >= 2, 5000, 'the send errors to be counted');
        expect(sent.length).toBe(2);
        expect(a!.transport.getStats()['sendErrors.EMSGSIZE']).toBe(2);
        // Logged once (rate-limited), saying that this can never succeed.
        expect(log.lines).toEqual([expect.stringMatching(/EMSGSIZE.*can never be sent/)]);
        a!.transport.maxBundleSize = mediumLimit;
        a!.stack.down(msg(b!.address, 'after'));
        await expectCount(b!, 1, 'the message after');
        expect(b!.texts()).toEqual(['after']);
        expect(sent.length).toBe(3); // the datagrams that failed were not sent again
        expect(a!.transport.stats.sendErrors).toBe(2);
      });
    }

    test('garbage, truncated, foreign-version and unknown-header datagrams are dropped and counted, unicast and multicast', async () => {
      const [a, b] = await start(2);
      const stranger = Address.random();
      const good = encodeDatagram(text(cluster), stranger, null, [new Message(null, text('x'))]);
      const otherVersion = Uint8Array.prototype.slice.call(good);
      otherVersion[6] = 99; // the version varint follows the 5-byte magic field and its tag
      const notTsgroups = Uint8Array.from({ length: 200 }, (_, i) => (i * 37 + 11) & 0xff);
      const truncated = good.subarray(0, good.length - 3);
      const unknownHeader = encodeDatagram(text(cluster), stranger, null, [new Message(null, text('x')).putHeader(PROBE_ID, { seq: 1 })]);
      // Re-key the header to an id nobody registered: the id varint follows its tag (8) inside the header field.
      const idAt = lastIndexOf(unknownHeader, Uint8Array.from([8, (PROBE_ID & 0x7f) | 0x80, PROBE_ID >> 7]));
      expect(idAt).toBeGreaterThan(0);
      unknownHeader[idAt + 1] = 0x80 | 0x7e; // id 1990 -> 2046, which nobody registered
      expect(good.subarray(0, 5)).toEqual(Uint8Array.from([(1 << 3) | 5, ...le32(WIRE_MAGIC)]));
      const inputs = [notTsgroups, otherVersion, truncated, unknownHeader, new Uint8Array(0)];
      for (const multicast of [false, true]) {
        const base = { ...b!.transport.stats };
        for (const d of inputs) await env.inject(b!.transport, d, multicast);
        await waitUntil(() => b!.transport.stats.dropped - base.dropped >= inputs.length, 5000, 'the drops', () => JSON.stringify(b!.transport.stats));
        const s = b!.transport.stats;
        expect(s.dropped - base.dropped).toBe(inputs.length);
        expect(s.droppedNotTsgroups - base.droppedNotTsgroups).toBe(2); // the garbage and the empty datagram
        expect(s.droppedVersion - base.droppedVersion).toBe(1);
        expect(s.droppedMalformed - base.droppedMalformed).toBe(1);
        expect(s.droppedUnknownHeader - base.droppedUnknownHeader).toBe(1);
      }
      expect(b!.messages).toEqual([]);
      // Nothing broke: traffic flows as before.
      a!.stack.down(msg(b!.address, 'after'));
      await expectCount(b!, 1, 'the message after the garbage');
      expect(b!.texts()).toEqual(['after']);
    });

    test("another cluster's datagrams and unicasts addressed to someone else are dropped and counted", async () => {
      const [a, b] = await start(2);
      const foreign = encodeDatagram(text(`${cluster}-other`), a!.address, null, [new Message(null, text('intruder'))]);
      const misaddressed = encodeDatagram(text(cluster), a!.address, Address.random(), [new Message(null, text('not for B'))]);
      for (const multicast of [false, true]) await env.inject(b!.transport, foreign, multicast);
      await env.inject(b!.transport, misaddressed, false);
      await waitUntil(() => b!.transport.stats.dropped >= 3, 5000, 'the drops', () => JSON.stringify(b!.transport.stats));
      expect(b!.transport.stats.droppedCluster).toBe(2);
      expect(b!.transport.stats.droppedNotForMe).toBe(1);
      a!.stack.down(msg(b!.address, 'after'));
      await expectCount(b!, 1, 'the message after');
      expect(b!.texts()).toEqual(['after']);
    });

    test('stop releases everything: sockets, timers, registrations; a stopped transport sends and takes nothing', async () => {
      const before = resourceCounts();
      const [a, b] = await start(2);
      a!.stack.down(msg(b!.address, 'hello'));
      await expectCount(b!, 1, 'hello');
      // Queued but not yet flushed when the stack stops: flushed by stop, or dropped, never sent later.
      a!.stack.down(msg(null, 'last'));
      for (const n of [a!, b!]) await n.stack.destroy();
      nodes = [];
      const sentAfter = recordDatagrams(a!.transport);
      expect(a!.transport.receive(new Uint8Array(10))).toBe('stopped');
      a!.transport.down(msg(b!.address, 'after stop'));
      for (const n of [a!, b!]) if (env.released) expect(env.released(n.transport, cluster)).toBe(true);
      await waitUntil(
        () => [...resourceCounts()].every(([kind, count]) => count <= (before.get(kind) ?? 0)),
        5000,
        'the handles of the transports to close',
        () => JSON.stringify({ before: [...before], now: [...resourceCounts()] }),
      );
      expect(sentAfter).toEqual([]);
    });

    test('a transport can start again after a stop (reconnect), with its bundler and counters working', async () => {
      const [a, b] = await start(2);
      a!.stack.down(msg(b!.address, 'first'));
      await expectCount(b!, 1, 'first');
      await a!.stack.stop();
      a!.stack.localAddress = Address.random();
      await a!.stack.start();
      introduce([a!, b!]);
      const sent = a!.transport.stats.msgsSent;
      a!.stack.down(msg(b!.address, 'again'));
      await expectCount(b!, 2, 'again');
      expect(b!.texts()).toEqual(['first', 'again']);
      expect(a!.transport.stats.msgsSent).toBe(sent + 1);
    });
  });
}

function lastIndexOf(hay: Uint8Array, needle: Uint8Array): number {
  outer: for (let i = hay.length - needle.length; i >= 0; i--) {
    for (let k = 0; k < needle.length; k++) if (hay[i + k] !== needle[k]) continue outer;
    return i;
  }
  return -1;
}

function le32(v: number): number[] {
  return [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff];
}
