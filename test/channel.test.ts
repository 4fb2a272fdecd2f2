import {
  Channel,
  ChannelStateError,
  ConfigError,
  ConsoleLogger,
  DISCARD,
  Flag,
  Message,
  type Receiver,
  setLogger,
  TsgroupsError,
  type View,
} from 'tsgroups';
import {
  closeAll,
  loopbackStack,
  type Member,
  stackPath,
  startCluster,
  uniqueCluster,
  waitForSameView,
  waitUntil,
} from './helpers/cluster.js';

let members: Member[] = [];
const extra: Channel[] = [];
afterEach(async () => {
  await closeAll([...members.map((m) => m.channel), ...extra.splice(0)]);
  members = [];
});

describe('membership on the loopback stack', () => {
  test('five channels form one view; the first is coordinator; all agree on id and order', async () => {
    members = await startCluster(5);
    const view = members[0]!.channel.getView()!;
    expect(view.size()).toBe(5);
    expect(view.getCoord()).toBe(members[0]!.channel.getAddress());
    expect(view.getMembers()).toEqual(members.map((m) => m.channel.getAddress()));
    for (const m of members) expect(m.channel.getView()!.viewId.equals(view.viewId)).toBe(true);
  });

  test('channels connecting at the same moment end in one cluster', async () => {
    const cluster = uniqueCluster();
    const chans = Array.from({ length: 5 }, (_, i) => new Channel(loopbackStack()).setName(`M${i}`));
    extra.push(...chans);
    await Promise.all(chans.map((c) => c.connect(cluster)));
    const view = await waitForSameView(chans, 5000);
    expect(new Set(view.getMembers()).size).toBe(5);
  });

  test('every member sees the same sequence of views as members join and leave', async () => {
    members = await startCluster(4);
    await members[1]!.channel.disconnect();
    const rest = [members[0]!, members[2]!, members[3]!];
    await waitForSameView(rest.map((m) => m.channel), 2000);
    // Each survivor's last views are identical (same ids, same members).
    const tail = (m: Member) => m.rec.views.slice(-2).map((v) => `${v.viewId}:${v.getMembers().join(',')}`);
    expect(tail(rest[1]!)).toEqual(tail(rest[0]!));
    expect(tail(rest[2]!)).toEqual(tail(rest[0]!));
    // View ids only grow.
    for (const m of members) {
      const ids = m.rec.views.map((v) => v.viewId.id);
      expect(ids).toEqual([...ids].sort((a, b) => a - b));
    }
  });

  test('when the coordinator leaves, the next oldest member becomes coordinator', async () => {
    members = await startCluster(3);
    const b = members[1]!.channel;
    await members[0]!.channel.disconnect();
    const view = await waitForSameView([b, members[2]!.channel], 2000);
    expect(view.getCoord()).toBe(b.getAddress());
    expect(view.size()).toBe(2);
  });

  test('a reconnect after disconnect gets a new address and rejoins', async () => {
    members = await startCluster(2);
    const b = members[1]!.channel;
    const cluster = b.getClusterName()!;
    const before = b.getAddress()!;
    await b.disconnect();
    expect(b.getState()).toBe('unconnected');
    expect(b.getAddress()).toBeNull();
    expect(b.getView()).toBeNull();
    await b.connect(cluster);
    expect(b.getAddress()).not.toBe(before);
    const view = await waitForSameView([members[0]!.channel, b], 2000);
    expect(view.getMembers()).toEqual([members[0]!.channel.getAddress(), b.getAddress()]);
    expect(view.containsMember(before)).toBe(false);
  });

  test('twenty rounds of join and leave leave no stale member', async () => {
    members = await startCluster(2);
    const cluster = members[0]!.channel.getClusterName()!;
    const joiner = new Channel(loopbackStack()).setName('J');
    extra.push(joiner);
    for (let i = 0; i < 20; i++) {
      await joiner.connect(cluster);
      await waitForSameView([...members.map((m) => m.channel), joiner], 2000);
      await joiner.disconnect();
      await waitForSameView(members.map((m) => m.channel), 2000);
    }
    expect(members[0]!.channel.getView()!.getMembers()).toEqual(members.map((m) => m.channel.getAddress()));
  });
});

describe('messaging', () => {
  test('multicasts reach every member exactly once and in send order; unicasts only their target', async () => {
    members = await startCluster(3);
    const [a, b, c] = members.map((m) => m.channel) as [Channel, Channel, Channel];
    for (let i = 0; i < 100; i++) void a.send(null, i);
    await b.send(c.getAddress(), 'to-c');
    await waitUntil(() => members.every((m) => m.rec.messages.length >= 100) && members[2]!.rec.messages.length === 101, 2000);
    const range = Array.from({ length: 100 }, (_, i) => i);
    expect(members[0]!.rec.objects()).toEqual(range);
    expect(members[1]!.rec.objects()).toEqual(range);
    expect(members[2]!.rec.objects().filter((o) => o !== 'to-c')).toEqual(range);
    expect(members[2]!.rec.messages.find((m) => m.getObject() === 'to-c')!.getSrc()).toBe(b.getAddress());
  });

  test('a loop awaiting each send() lets the event loop run between bursts, and every message still arrives in order', async () => {
    members = await startCluster(2);
    const a = members[0]!.channel;
    const N = 2000; // 1000 bytes each: 2 MB, several breaks of 256 KiB
    let sent = 0;
    // Without the breaks the whole loop would run in microtasks, before this callback.
    let sentWhenTheLoopRan = -1;
    setImmediate(() => (sentWhenTheLoopRan = sent));
    for (; sent < N; sent++) {
      const payload = Buffer.alloc(1000);
      payload.writeUInt32BE(sent, 0);
      await a.send(null, payload);
    }
    expect(sentWhenTheLoopRan).toBeGreaterThan(0);
    expect(sentWhenTheLoopRan).toBeLessThan(N);
    await waitUntil(() => members.every((m) => m.rec.messages.length === N), 5000, 'every message at both members');
    for (const m of members) {
      const first4 = (msg: Message) => new DataView(msg.getArray().buffer, msg.getArray().byteOffset + msg.getOffset(), 4).getUint32(0);
      expect(m.rec.messages.map(first4)).toEqual(
        Array.from({ length: N }, (_, i) => i),
      );
    }
  });

  test('bytes, strings and JSON values arrive as sent; send(msg) keeps flags', async () => {
    members = await startCluster(2);
    const [a, b] = members.map((m) => m.channel) as [Channel, Channel];
    const bytes = new Uint8Array([1, 2, 3, 250]);
    await a.send(b.getAddress(), bytes);
    await a.send(b.getAddress(), { n: 1, list: ['x', null], nested: { ok: true } });
    await a.send(new Message(b.getAddress(), 'oob').setFlag(Flag.OOB));
    await waitUntil(() => members[1]!.rec.messages.length === 3, 2000);
    const got = members[1]!.rec.messages;
    expect(got[0]!.getBuffer()).toEqual(bytes);
    expect(got[1]!.getObject()).toEqual({ n: 1, list: ['x', null], nested: { ok: true } });
    expect(got[2]!.getObject()).toBe('oob');
    expect(got[2]!.isFlagSet(Flag.OOB)).toBe(true);
  });

  test('setDiscardOwnMessages(true) drops only the own multicasts', async () => {
    members = await startCluster(2);
    const [a, b] = members.map((m) => m.channel) as [Channel, Channel];
    a.setDiscardOwnMessages(true);
    await a.send(null, 'from-a');
    await b.send(null, 'from-b');
    await waitUntil(() => members[1]!.rec.messages.length === 2 && members[0]!.rec.messages.length === 1, 2000);
    expect(members[0]!.rec.objects()).toEqual(['from-b']);
    expect(members[1]!.rec.objects().sort()).toEqual(['from-a', 'from-b']);
  });

  test('DONT_LOOPBACK keeps a multicast from its sender only', async () => {
    members = await startCluster(2);
    const [a] = members.map((m) => m.channel) as [Channel, Channel];
    await a.send(new Message(null, 'x').setFlag(Flag.DONT_LOOPBACK));
    await a.send(null, 'y');
    await waitUntil(() => members[1]!.rec.messages.length === 2 && members[0]!.rec.messages.length === 1, 2000);
    expect(members[0]!.rec.objects()).toEqual(['y']);
  });

  test('a receiver gets receive and viewAccepted; a throwing callback does not break delivery', async () => {
    const cluster = uniqueCluster();
    const got: unknown[] = [];
    const views: View[] = [];
    const a = new Channel(loopbackStack()).setName('A');
    extra.push(a);
    let throwOnce = true;
    const receiver: Receiver = {
      receive(msg) {
        if (throwOnce) {
          throwOnce = false;
          throw new Error('application bug');
        }
        got.push(msg.getObject());
      },
      viewAccepted: (v) => views.push(v),
    };
    a.setReceiver(receiver);
    const logged: string[] = [];
    setLogger({ isEnabled: () => true, log: (level, scope, message) => void (level === 'error' && logged.push(`${scope}: ${message}`)) });
    try {
      await a.connect(cluster);
      await a.send(null, 1);
      await a.send(null, 2);
      await waitUntil(() => got.length === 1, 2000);
      expect(got).toEqual([2]);
      expect(views).toHaveLength(1);
      expect(views[0]!.getMembers()).toEqual([a.getAddress()]);
      expect(logged.some((l) => l.includes('receiver.receive threw'))).toBe(true);
    } finally {
      setLogger(new ConsoleLogger());
    }
  });

  test('messages() iterates received messages and ends on disconnect', async () => {
    members = await startCluster(2);
    const [a, b] = members.map((m) => m.channel) as [Channel, Channel];
    const seen: unknown[] = [];
    const loop = (async () => {
      for await (const m of b.messages()) seen.push(m.getObject());
    })();
    for (const v of ['a', 'b', 'c']) await a.send(null, v);
    await waitUntil(() => seen.length === 3, 2000);
    await b.disconnect();
    await loop; // ends by itself
    expect(seen).toEqual(['a', 'b', 'c']);
  });

  test('messages() stops when its signal aborts', async () => {
    members = await startCluster(1);
    const ac = new AbortController();
    const iter = members[0]!.channel.messages({ signal: ac.signal });
    const next = iter.next();
    ac.abort();
    await expect(next).resolves.toEqual({ value: undefined, done: true });
  });
});

describe('channel states', () => {
  test('state moves unconnected -> connected -> unconnected -> closed, with listeners told', async () => {
    const ch = new Channel(loopbackStack()).setName('S');
    extra.push(ch);
    const events: string[] = [];
    ch.addChannelListener({
      channelConnected: () => events.push('connected'),
      channelDisconnected: () => events.push('disconnected'),
      channelClosed: () => events.push('closed'),
    });
    expect(ch.getState()).toBe('unconnected');
    expect(ch.getAddress()).toBeNull();
    expect(ch.getView()).toBeNull();
    expect(ch.getClusterName()).toBeNull();
    const cluster = uniqueCluster();
    await ch.connect(cluster);
    expect(ch.isConnected()).toBe(true);
    expect(ch.getClusterName()).toBe(cluster);
    expect(ch.getName()).toBe('S');
    expect(ch.getAddress()!.toString()).toBe('S');
    await ch.connect(cluster); // no-op when already connected
    await ch.disconnect();
    await ch.disconnect(); // no-op
    expect(ch.getState()).toBe('unconnected');
    await ch.close();
    await ch.close(); // no-op
    expect(ch.isClosed()).toBe(true);
    expect(events).toEqual(['connected', 'disconnected', 'closed']);
  });

  test('send before connect and after close is rejected with a typed error', async () => {
    const ch = new Channel(loopbackStack());
    extra.push(ch);
    await expect(ch.send(null, 'x')).rejects.toMatchObject({ code: 'ERR_CHANNEL_NOT_CONNECTED' });
    await expect(ch.send(null, 'x')).rejects.toBeInstanceOf(ChannelStateError);
    await ch.close();
    await expect(ch.send(null, 'x')).rejects.toMatchObject({ code: 'ERR_CHANNEL_CLOSED' });
    await expect(ch.connect('c')).rejects.toMatchObject({ code: 'ERR_CHANNEL_CLOSED' });
    expect(() => ch.setName('n')).toThrow(ChannelStateError);
  });

  test('connect to another cluster while connected, an empty name or a bad destination are errors', async () => {
    members = await startCluster(1);
    const ch = members[0]!.channel;
    await expect(ch.connect('another')).rejects.toMatchObject({ code: 'ERR_BAD_ARGUMENT' });
    await expect(new Channel(loopbackStack()).connect('')).rejects.toMatchObject({ code: 'ERR_BAD_ARGUMENT' });
    await expect(ch.send('nobody' as never, 'x')).rejects.toMatchObject({ code: 'ERR_BAD_ARGUMENT' });
  });

  test('inside the first viewAccepted the channel already shows its view and address', async () => {
    const ch = new Channel(loopbackStack());
    extra.push(ch);
    const seen: Array<[unknown, unknown]> = [];
    ch.setReceiver({ viewAccepted: (v) => seen.push([ch.getView(), ch.getAddress() && v.containsMember(ch.getAddress()!)]) });
    await ch.connect(uniqueCluster());
    expect(seen).toHaveLength(1);
    expect(seen[0]![0]).toBe(ch.getView());
    expect(seen[0]![1]).toBe(true);
  });

  test('a second connect while one is under way is refused', async () => {
    const ch = new Channel(loopbackStack());
    extra.push(ch);
    const cluster = uniqueCluster();
    const first = ch.connect(cluster);
    await expect(ch.connect(cluster)).rejects.toMatchObject({ code: 'ERR_CHANNEL_CONNECTING' });
    await expect(ch.connect(cluster)).rejects.toBeInstanceOf(ChannelStateError);
    await first;
    expect(ch.isConnected()).toBe(true);
  });

  test('an aborted connect rejects with ERR_ABORTED and leaves the channel unconnected and reusable', async () => {
    // The coordinator is deaf (DISCARD drops all it receives), so the join can only end by abort.
    members = await startCluster(1);
    const coord = members[0]!.channel;
    await coord.getProtocolStack().insertProtocol(new DISCARD().setDiscardAll(true), 'above', 'SHARED_LOOPBACK');
    const ch = new Channel(loopbackStack()).setName('late');
    extra.push(ch);
    const ac = new AbortController();
    const p = ch.connect(coord.getClusterName()!, { signal: ac.signal });
    setTimeout(() => ac.abort(), 50);
    await expect(p).rejects.toMatchObject({ code: 'ERR_ABORTED' });
    expect(ch.getState()).toBe('unconnected');
    await ch.connect(uniqueCluster());
    expect(ch.isConnected()).toBe(true);
  });

  test('an already aborted signal rejects at once', async () => {
    const ch = new Channel(loopbackStack());
    extra.push(ch);
    await expect(ch.connect('x', { signal: AbortSignal.abort() })).rejects.toThrow();
    expect(ch.getState()).toBe('unconnected');
  });
});

describe('stacks from XML', () => {
  test('new Channel(path) and Channel.fromXml(xmlText) build the same stack', async () => {
    const fromPath = new Channel(stackPath('loopback.xml'));
    const { readFileSync } = await import('node:fs');
    const fromText = Channel.fromXml(readFileSync(stackPath('loopback.xml'), 'utf8'));
    extra.push(fromPath, fromText);
    expect(fromPath.getProtocolStack().printProtocolSpec()).toBe('SHARED_LOOPBACK -> SHARED_LOOPBACK_PING -> GMS');
    expect(fromText.getProtocolStack().printProtocolSpec()).toBe(fromPath.getProtocolStack().printProtocolSpec());
    const cluster = uniqueCluster();
    await fromPath.connect(cluster);
    await fromText.connect(cluster);
    await waitForSameView([fromPath, fromText], 2000);
  });

  test('environment variables fill ${NAME:default} in the shipped stack', () => {
    process.env.TSGROUPS_JOIN_TIMEOUT = '750ms';
    try {
      const ch = new Channel(stackPath('loopback.xml'));
      extra.push(ch);
      expect(ch.getProtocolStack().findProtocol('GMS')!.getValue('join_timeout')).toBe(750);
    } finally {
      delete process.env.TSGROUPS_JOIN_TIMEOUT;
    }
  });

  test('bad stacks fail at construction with errors that name the element and attribute', () => {
    const wrap = (inner: string) => `<config><SHARED_LOOPBACK/><SHARED_LOOPBACK_PING/>${inner}</config>`;
    const err = (xml: string): ConfigError => {
      try {
        Channel.fromXml(xml);
      } catch (e) {
        return e as ConfigError;
      }
      throw new Error('expected an error');
    };
    expect(err(wrap('<GMS join_timeout="soon"/>'))).toMatchObject({ code: 'ERR_CONFIG_BAD_VALUE', element: 'GMS', attribute: 'join_timeout' });
    expect(err(wrap('<GMS joinn_timeout="1s"/>'))).toMatchObject({ code: 'ERR_CONFIG_UNKNOWN_ATTRIBUTE', element: 'GMS', attribute: 'joinn_timeout' });
    expect(err(wrap('<NOPE/>'))).toMatchObject({ code: 'ERR_CONFIG_UNKNOWN_PROTOCOL', element: 'NOPE' });
    expect(err('<config><SHARED_LOOPBACK></config>')).toMatchObject({ code: 'ERR_CONFIG_XML' });
    expect(err('<config><SHARED_LOOPBACK_PING/><GMS/></config>')).toMatchObject({ code: 'ERR_STACK_DEPENDENCY' });
    expect(err('<config><SHARED_LOOPBACK/><GMS/></config>').message).toMatch(/GMS requires "discovery" below/);
    expect(err('/no/such/stack.xml')).toMatchObject({ code: 'ERR_CONFIG_XML' });
    expect(err('<config></config>')).toBeInstanceOf(TsgroupsError);
  });
});
