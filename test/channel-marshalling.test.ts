import { Channel, type Marshaller, Message } from 'tsgroups';
import { closeAll, type Member, startCluster, waitUntil } from './helpers/cluster.js';

let members: Member[] = [];
afterEach(async () => {
  await closeAll(members.map((m) => m.channel));
  members = [];
});

describe('what send accepts arrives equal; what it cannot carry is refused at send', () => {
  test('values JSON cannot hold arrive as they were sent', async () => {
    members = await startCluster(2);
    const [a, b] = members.map((m) => m.channel) as [Channel, Channel];
    const value = {
      nan: NaN,
      inf: [Infinity, -Infinity, -0],
      big: 2n ** 70n,
      when: new Date(1_700_000_000_000),
      counts: new Map<string, unknown>([['x', new Set([1, 2])]]),
      floats: new Float32Array([0.5, -1.25]),
      raw: new Uint8Array([1, 2, 3]).buffer,
      nothing: undefined,
    };
    await a.send(b.getAddress(), value);
    await waitUntil(() => members[1]!.rec.messages.length === 1, 2000);
    const got = members[1]!.rec.messages[0]!.getObject<typeof value>();
    expect(got.nan).toBeNaN();
    expect(got.inf).toEqual([Infinity, -Infinity, -0]);
    expect(Object.is(got.inf[2], -0)).toBe(true);
    expect(got.big).toBe(2n ** 70n);
    expect(got.when.getTime()).toBe(1_700_000_000_000);
    expect([...got.counts.get('x') as Set<number>]).toEqual([1, 2]);
    expect(Array.from(got.floats)).toEqual([0.5, -1.25]);
    expect(Array.from(new Uint8Array(got.raw))).toEqual([1, 2, 3]);
    expect('nothing' in got).toBe(true);
  });

  test('send of a value the marshaller cannot carry rejects with ERR_MARSHALLING naming where, and sends nothing', async () => {
    members = await startCluster(2);
    const [a, b] = members.map((m) => m.channel) as [Channel, Channel];
    class Session {}
    await expect(a.send(null, { users: [{ id: 1 }, { id: 2, s: new Session() }] })).rejects.toMatchObject({
      code: 'ERR_MARSHALLING',
      message: expect.stringContaining('value.users[1].s: an instance of Session'),
    });
    await expect(a.send(new Message(null, { f: () => 1 }))).rejects.toMatchObject({ code: 'ERR_MARSHALLING' });
    await a.send(b.getAddress(), 'after');
    await waitUntil(() => members[1]!.rec.messages.length === 1, 2000);
    expect(members[1]!.rec.objects()).toEqual(['after']);
  });

  test('send(dest, undefined) delivers undefined; send(dest) an empty message', async () => {
    members = await startCluster(2);
    const [a, b] = members.map((m) => m.channel) as [Channel, Channel];
    await a.send(b.getAddress(), undefined);
    await a.send(b.getAddress());
    await waitUntil(() => members[1]!.rec.messages.length === 2, 2000);
    const [first, second] = members[1]!.rec.messages as [Message, Message];
    expect(first.getObject()).toBeUndefined();
    expect(second.hasPayload()).toBe(false);
  });
});

describe('a Message built with a value is marshalled by the channel that sends it', () => {
  /** Carries strings only, reversed, with a marker: nothing JSON would produce. */
  const reversing: Marshaller = {
    objectToBuffer: (obj) => new TextEncoder().encode(`R:${[...String(obj)].reverse().join('')}`),
    objectFromBuffer: (buf, off, len) => {
      const text = new TextDecoder().decode(buf.subarray(off, off + len));
      if (!text.startsWith('R:')) throw new Error(`not written by this marshaller: ${text}`);
      return [...text.slice(2)].reverse().join('');
    },
  };

  test('new Message(dest, value) sent on a channel with a custom marshaller', async () => {
    members = await startCluster(2);
    const [a, b] = members.map((m) => m.channel) as [Channel, Channel];
    for (const ch of [a, b]) ch.setMarshaller(reversing);
    const msg = new Message(b.getAddress(), 'hello'); // built before anyone said which marshaller
    await a.send(msg);
    await a.send(b.getAddress(), 'direct');
    await waitUntil(() => members[1]!.rec.messages.length === 2, 2000);
    const got = members[1]!.rec.messages;
    expect(got[0]!.getString()).toBe('R:olleh'); // the channel's marshaller wrote it
    expect(got.map((m) => m.getObject())).toEqual(['hello', 'direct']);
  });
});
