// Runs the examples of the guides in docs/: the STAMP protocol of docs/writing-a-protocol.md
// and the first program of docs/getting-started.md, and checks that the guides show those
// sources verbatim, so the docs cannot drift from what is tested here.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import {
  Channel,
  ConfigError,
  getLogger,
  type Logger,
  Message,
  Reader,
  registerProtocol,
  setLogger,
  stackFromXml,
  Writer,
} from 'tsgroups';
import { main } from '../docs/examples/getting-started.js';
import { v8Marshaller } from '../docs/examples/marshaller.js';
import { STAMP, STAMP_ID, type StampHeader, stampHeaderCodec } from '../docs/examples/stamp.js';
import { closeAll, loopbackStack, type Member, startCluster, uniqueCluster, waitUntil } from './helpers/cluster.js';

registerProtocol(STAMP);

/** The loopback stack with STAMP above discovery, as in docs/writing-a-protocol.md. */
const STAMP_XML = `
<config xmlns="urn:org:tsgroups">
  <SHARED_LOOPBACK/>
  <SHARED_LOOPBACK_PING/>
  <STAMP check_order="true"/>
  <GMS join_retry_delay="20ms"/>
</config>`;

const docPath = (rel: string) => fileURLToPath(new URL(`../docs/${rel}`, import.meta.url));

let members: Member[] = [];
const extra: Channel[] = [];
const savedLogger: Logger = getLogger();
afterEach(async () => {
  setLogger(savedLogger);
  await closeAll([...members.map((m) => m.channel), ...extra.splice(0)]);
  members = [];
});

/** Collects warnings instead of printing them. */
function captureWarnings(): string[] {
  const lines: string[] = [];
  setLogger({
    isEnabled: (level) => level === 'warn' || level === 'error',
    log: (level, scope, message) => {
      lines.push(`${level} [${scope}] ${message}`);
    },
  });
  return lines;
}

function stampOf(ch: Channel): STAMP {
  const p = ch.getProtocolStack().findProtocol(STAMP);
  if (!p) throw new Error(`${ch.getName()} has no STAMP`);
  return p;
}

/** Sends `msg` from `ch` into the protocol below STAMP, so that STAMP never sees it go down. */
function sendBelowStamp(ch: Channel, msg: Message): void {
  void ch.getProtocolStack().findProtocol('SHARED_LOOPBACK_PING')!.down(msg);
}

describe('the STAMP protocol of writing-a-protocol.md', () => {
  test('every delivered message carries a stamp from its sender, with seqs that increase per sender', async () => {
    members = await startCluster(3, () => stackFromXml(STAMP_XML), uniqueCluster('stamp'));
    const chans = members.map((m) => m.channel);
    expect(chans[0]!.getProtocolStack().printProtocolSpec()).toBe('SHARED_LOOPBACK -> SHARED_LOOPBACK_PING -> STAMP -> GMS');
    for (let i = 0; i < 20; i++) for (const ch of chans) void ch.send(null, `${ch.getName()}${i}`);
    await chans[0]!.send(chans[1]!.getAddress(), 'unicast');
    await waitUntil(
      () => members.every((m, i) => m.rec.messages.length === 60 + (i === 1 ? 1 : 0)),
      5000,
      'all multicasts everywhere',
      () => members.map((m) => m.rec.messages.length).join(','),
    );
    for (const m of members) {
      const lastSeq = new Map<string, number>();
      for (const msg of m.rec.messages) {
        const h = msg.getHeader<StampHeader>(STAMP_ID);
        expect(h).toBeDefined();
        const sender = String(msg.getSrc());
        expect(h!.sender).toBe(sender);
        expect(h!.seq).toBeGreaterThan(lastSeq.get(sender) ?? 0);
        lastSeq.set(sender, h!.seq);
      }
      const stamp = stampOf(m.channel);
      expect(stamp.stats).toMatchObject({ unstamped: 0, outOfOrder: 0 });
      // Members also count GMS's stamped messages: at least the 20 multicasts of each sender.
      for (const ch of chans) expect(stamp.receivedFrom(ch.getAddress()!)).toBeGreaterThanOrEqual(20);
      expect(stamp.checkOrder).toBe(true);
    }
    expect(stampOf(chans[0]!).stats.stamped).toBeGreaterThanOrEqual(21);
  });

  test('a message that bypasses STAMP arrives unstamped: counted, dropped and logged', async () => {
    members = await startCluster(2, () => stackFromXml(STAMP_XML), uniqueCluster('stamp'));
    const [a, b] = members.map((m) => m.channel) as [Channel, Channel];
    const warnings = captureWarnings();
    sendBelowStamp(a, new Message(null, 'sneaky'));
    await a.send(null, 'after'); // same sender, same order: arrives after the sneaky one
    await waitUntil(() => members.every((m) => m.rec.objects().includes('after')), 2000, "'after' everywhere");
    for (const m of members) {
      expect(m.rec.objects()).toEqual(['after']);
      expect(stampOf(m.channel).stats.unstamped).toBe(1);
    }
    expect(warnings.filter((w) => w.includes('[STAMP]') && w.includes('without a stamp'))).toHaveLength(2);
    expect(stampOf(b).stats.received).toBeGreaterThanOrEqual(1);
  });

  test('a stamp whose seq goes backwards counts as out of order (unless check_order is false)', async () => {
    members = await startCluster(2, () => stackFromXml(STAMP_XML), uniqueCluster('stamp'));
    const [a, b] = members.map((m) => m.channel) as [Channel, Channel];
    for (const v of ['one', 'two', 'three']) await a.send(null, v);
    const forged: StampHeader = { seq: 1, sender: String(a.getAddress()) };
    sendBelowStamp(a, new Message(null, 'replayed').putHeader(STAMP_ID, forged));
    await a.send(null, 'four');
    await waitUntil(() => members.every((m) => m.rec.messages.length === 5), 2000, 'five messages everywhere');
    for (const m of members) {
      expect(m.rec.objects()).toEqual(['one', 'two', 'three', 'replayed', 'four']); // counted, not dropped
      expect(stampOf(m.channel).stats).toMatchObject({ outOfOrder: 1, unstamped: 0 });
    }
    const seqs = members[1]!.rec.messages.map((m) => m.getHeader<StampHeader>(STAMP_ID)!.seq);
    expect(seqs[3]).toBe(1);
    expect(seqs[4]).toBeGreaterThan(seqs[2]!);
    expect(b.getProtocolStack().findProtocol('STAMP')!.getValue('check_order')).toBe(true);
  });

  test('check_order="false" turns the order check off', async () => {
    const xml = STAMP_XML.replace('check_order="true"', 'check_order="false"');
    members = await startCluster(2, () => stackFromXml(xml), uniqueCluster('stamp'));
    const [a] = members.map((m) => m.channel) as [Channel, Channel];
    expect(stampOf(a).checkOrder).toBe(false);
    await a.send(null, 'one');
    sendBelowStamp(a, new Message(null, 'replayed').putHeader(STAMP_ID, { seq: 1, sender: 'A' }));
    await a.send(null, 'two');
    await waitUntil(() => members.every((m) => m.rec.messages.length === 3), 2000, 'three messages everywhere');
    for (const m of members) expect(stampOf(m.channel).stats).toMatchObject({ outOfOrder: 0, unstamped: 0 });
  });

  test('SHUFFLE below STAMP reorders what arrives: STAMP counts it, and delivers every message', async () => {
    const xml = STAMP_XML.replace('<STAMP', '<SHUFFLE up="true" max_size="10" seed="7"/>\n  <STAMP');
    members = await startCluster(2, () => stackFromXml(xml), uniqueCluster('stamp'));
    const [a, b] = members.map((m) => m.channel) as [Channel, Channel];
    expect(b.getProtocolStack().printProtocolSpec()).toBe('SHARED_LOOPBACK -> SHARED_LOOPBACK_PING -> SHUFFLE -> STAMP -> GMS');
    for (let i = 0; i < 50; i++) void a.send(null, i);
    await waitUntil(() => members.every((m) => m.rec.messages.length === 50), 2000, 'fifty messages everywhere');
    expect(members[1]!.rec.objects<number>().sort((x, y) => x - y)).toEqual(Array.from({ length: 50 }, (_, i) => i));
    expect(stampOf(b).stats.outOfOrder).toBeGreaterThan(0);
    expect(stampOf(b).stats.unstamped).toBe(0);
  });

  test('a wrong attribute or value on <STAMP> fails with a ConfigError naming STAMP and the attribute', () => {
    const configError = (xml: string): ConfigError => {
      try {
        extra.push(Channel.fromXml(xml));
      } catch (err) {
        expect(err).toBeInstanceOf(ConfigError);
        return err as ConfigError;
      }
      throw new Error(`no error for ${xml}`);
    };
    const bogus = configError(STAMP_XML.replace('check_order="true"', 'bogus="1"'));
    expect(bogus).toMatchObject({ code: 'ERR_CONFIG_UNKNOWN_ATTRIBUTE', element: 'STAMP', attribute: 'bogus' });
    expect(bogus.message).toMatch(/STAMP has no property "bogus"; known: check_order/);
    const maybe = configError(STAMP_XML.replace('check_order="true"', 'check_order="maybe"'));
    expect(maybe).toMatchObject({ code: 'ERR_CONFIG_BAD_VALUE', element: 'STAMP', attribute: 'check_order' });
    expect(maybe.message).toMatch(/expected true or false, got "maybe"/);
  });

  test('STAMP can be inserted into and removed from running stacks', async () => {
    members = await startCluster(2, () => loopbackStack(), uniqueCluster('stamp'));
    const chans = members.map((m) => m.channel);
    // Nothing may be in flight while the members insert STAMP one after the other: STAMP would
    // drop a message sent before its sender had STAMP (here: GMS's last acknowledgement of the
    // join). One multicast from each member, received by all, flushes every channel (FIFO).
    for (const ch of chans) await ch.send(null, 'sync');
    await waitUntil(() => members.every((m) => m.rec.messages.length === chans.length), 2000, 'quiet channels');
    for (const m of members) m.rec.messages.length = 0;
    for (const ch of chans) await ch.getProtocolStack().insertProtocol(new STAMP(), 'above', 'SHARED_LOOPBACK_PING');
    for (const ch of chans) {
      expect(ch.getProtocolStack().printProtocolSpec()).toBe('SHARED_LOOPBACK -> SHARED_LOOPBACK_PING -> STAMP -> GMS');
    }
    await chans[0]!.send(null, 'stamped');
    await waitUntil(() => members.every((m) => m.rec.messages.length === 1), 2000, "'stamped' everywhere");
    for (const m of members) expect(m.rec.messages[0]!.getHeader<StampHeader>(STAMP_ID)).toMatchObject({ seq: 1, sender: 'A' });

    for (const ch of chans) expect(await ch.getProtocolStack().removeProtocol('STAMP')).toBeInstanceOf(STAMP);
    expect(await chans[0]!.getProtocolStack().removeProtocol('STAMP')).toBeUndefined();
    await chans[1]!.send(null, 'plain');
    await waitUntil(() => members.every((m) => m.rec.messages.length === 2), 2000, "'plain' everywhere");
    for (const m of members) {
      expect(m.rec.objects()).toEqual(['stamped', 'plain']);
      expect(m.rec.messages[1]!.getHeader(STAMP_ID)).toBeUndefined();
      expect(m.channel.getProtocolStack().printProtocolSpec()).toBe('SHARED_LOOPBACK -> SHARED_LOOPBACK_PING -> GMS');
    }
    await expect(chans[0]!.getProtocolStack().insertProtocol(new STAMP(), 'below', 'SHARED_LOOPBACK')).rejects.toMatchObject({
      code: 'ERR_STACK',
    });
  });

  test('the hand-written header codec writes plain protobuf and skips unknown fields', () => {
    const w = Writer.create();
    stampHeaderCodec.encode({ seq: 1, sender: 'A' }, w);
    expect([...w.finish()]).toEqual([0x08, 0x01, 0x12, 0x01, 0x41]);

    const big: StampHeader = { seq: 2 ** 40 + 5, sender: 'zoë' };
    const w2 = Writer.create();
    stampHeaderCodec.encode(big, w2);
    w2.uint32((3 << 3) | 0).uint32(7); // a field from a newer version
    const bytes = w2.finish();
    const r = Reader.create(bytes);
    expect(stampHeaderCodec.decode(r, bytes.length)).toEqual(big);
    expect(r.pos).toBe(bytes.length);
    // size() counts exactly what encode writes.
    for (const h of [{ seq: 1, sender: 'A' }, big, { seq: 0, sender: '' }, { seq: 300, sender: 'x'.repeat(200) }]) {
      const w3 = Writer.create();
      stampHeaderCodec.encode(h, w3);
      expect(stampHeaderCodec.size!(h)).toBe(w3.finish().length);
    }
  });
});

describe('the first program of getting-started.md', () => {
  test('main() connects two members, exchanges messages and meets the documented errors', async () => {
    const printed: string[] = [];
    const res = await main(uniqueCluster('getting-started'), (line) => printed.push(line));
    expect(res.printed).toEqual(printed);
    expect(res.members).toEqual(['alice', 'bob']);
    expect(res.bob).toEqual(['hello', { text: 'hi bob', n: 1 }]);
    expect(res.alice).toEqual(['hello', 'bye']);
    expect(res.errors).toEqual(['ERR_CHANNEL_NOT_CONNECTED', 'ERR_CHANNEL_CLOSED', 'ERR_CONFIG_BAD_VALUE']);
    expect(printed).toContain('members: alice, bob');
    expect(printed).toContain('bob is unconnected');
    expect(printed.some((l) => l.startsWith('config: ') && l.includes('<GMS>') && l.includes('join_timeout'))).toBe(true);
  });
});

describe('the marshaller of getting-started.md', () => {
  test('v8Marshaller carries a cyclic value, which the default refuses; both members set it', async () => {
    members = await startCluster(2, () => loopbackStack(), uniqueCluster('marshal'));
    const [a, b] = members.map((m) => m.channel) as [Channel, Channel];
    const node: Record<string, unknown> = { name: 'root' };
    node.self = node;
    await expect(a.send(b.getAddress(), node)).rejects.toMatchObject({ code: 'ERR_MARSHALLING' });
    for (const ch of [a, b]) ch.setMarshaller(v8Marshaller);
    await a.send(b.getAddress(), node);
    // A prepared Message is marshalled at send with the channel's marshaller.
    await a.send(new Message(b.getAddress(), { when: new Date(0), counts: new Map([['x', 1n]]) }));
    await waitUntil(() => members[1]!.rec.messages.length === 2, 2000, 'two messages at B');
    const [first, second] = members[1]!.rec.objects<Record<string, unknown>>();
    expect(first!.name).toBe('root');
    expect(first!.self).toBe(first); // the cycle survived
    expect(second).toEqual({ when: new Date(0), counts: new Map([['x', 1n]]) });
    expect(members[1]!.rec.messages[1]!.getObject(v8Marshaller)).toEqual(second); // v8's bytes, not JSON's
    expect(() => v8Marshaller.objectToBuffer(() => 1)).toThrow(expect.objectContaining({ code: 'ERR_MARSHALLING' }));
  });
});

describe('the guides', () => {
  test.each([
    ['getting-started.md', 'examples/getting-started.ts'],
    ['writing-a-protocol.md', 'examples/stamp.ts'],
    ['getting-started.md', 'examples/marshaller.ts'],
  ])('%s shows %s verbatim', (guide, example) => {
    const text = readFileSync(docPath(guide), 'utf8');
    const source = readFileSync(docPath(example), 'utf8').trimEnd();
    expect(text.includes('```ts\n' + source + '\n```')).toBe(true);
  });
});
