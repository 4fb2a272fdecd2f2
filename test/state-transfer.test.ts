import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import type { Readable, Writable } from 'node:stream';
import { Address, BARRIER, Channel, type Receiver, STATE_TRANSFER, type TsgroupsError } from 'tsgroups';
import { closeAll, stackPath, stackXml, uniqueCluster, waitForSameView, waitUntil } from './helpers/cluster.js';

const RELIABLE = 'loopback-reliable.xml';
let channels: Channel[] = [];
/** Run at the end of each test, also when it fails (before the channels close). */
let cleanups: (() => void)[] = [];
afterEach(async () => {
  for (const c of cleanups) c();
  cleanups = [];
  await closeAll(channels);
  channels = [];
});

function channel(name: string, receiver: Receiver, stack = RELIABLE): Channel {
  const ch = new Channel(stack).setName(name).setReceiver(receiver);
  channels.push(ch);
  return ch;
}

async function readAll(input: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of input) parts.push(c as Buffer);
  return Buffer.concat(parts);
}

async function writeAll(out: Writable, data: Uint8Array, piece: number): Promise<void> {
  for (let off = 0; off < data.length; off += piece) {
    if (!out.write(data.subarray(off, off + piece))) await once(out, 'drain');
  }
}

/** A replicated JSON map: the state is the map, written and read as a stream. */
class MapApp implements Receiver {
  map: Record<string, unknown> = {};
  getState(out: Writable): void {
    out.write(JSON.stringify(this.map));
  }
  async setState(input: Readable): Promise<void> {
    this.map = JSON.parse((await readAll(input)).toString('utf8')) as Record<string, unknown>;
  }
}

const stats = (ch: Channel) => ch.getProtocolStack().findProtocol(STATE_TRANSFER)!.stats;
const barrier = (ch: Channel) => ch.getProtocolStack().findProtocol(BARRIER)!;
const code = (p: Promise<unknown>) => p.then(() => 'resolved', (e: TsgroupsError) => e.code);

describe('state transfer', () => {
  test('a joiner gets the state with connect(cluster, { state }); getState(null) fetches it from the coordinator (the coordinator from the next member)', async () => {
    const cluster = uniqueCluster('state');
    const appA = new MapApp();
    appA.map = { a: 1, list: [1, 2, 3] };
    const a = channel('A', appA);
    await a.connect(cluster, { state: { timeout: 5000 } }); // the founder: nobody to ask
    const appB = new MapApp();
    const b = channel('B', appB);
    await b.connect(cluster, { state: { timeout: 5000 } });
    expect(b.isConnected()).toBe(true);
    expect(appB.map).toEqual({ a: 1, list: [1, 2, 3] });

    appA.map.later = 'x';
    const appC = new MapApp();
    const c = channel('C', appC);
    await c.connect(cluster);
    await waitForSameView([a, b, c], 5000);
    await c.getState(null, 5000);
    expect(appC.map).toEqual(appA.map);
    expect(stats(a).provided).toBe(2);

    appB.map = { fromB: true };
    await a.getState(null, 5000);
    expect(appA.map).toEqual({ fromB: true });
    // The lifecycle getState() is still there.
    expect(a.getState()).toBe('connected');
  });

  test('a state of a few MB travels in chunks with backpressure and arrives intact', async () => {
    const cluster = uniqueCluster('state');
    const data = randomBytes(6 * 1024 * 1024 + 123);
    let chunks = 0;
    const a = channel('A', { getState: (out) => writeAll(out, data, 1024 * 1024), setState: () => undefined });
    let got = Buffer.alloc(0);
    const b = channel('B', {
      async setState(input) {
        const parts: Buffer[] = [];
        for await (const c of input) {
          chunks++;
          parts.push(c as Buffer);
        }
        got = Buffer.concat(parts);
      },
    });
    await a.connect(cluster);
    await b.connect(cluster, { state: { target: a.getAddress(), timeout: 20_000 } });
    expect(got.length).toBe(data.length);
    expect(createHash('sha256').update(got).digest('hex')).toBe(createHash('sha256').update(data).digest('hex'));
    expect(chunks).toBeGreaterThan(1);
    expect(stats(b).chunksReceived).toBeGreaterThan(50);
    expect(stats(b).bytesReceived).toBe(data.length);
    expect(barrier(a).isClosed()).toBe(false);
  });

  test('multicasts sent during joins and transfers are applied exactly once: every counter ends equal', async () => {
    const cluster = uniqueCluster('state');
    /** A counter of increments (sum and count); its snapshot is written in two parts, a while apart. */
    class Counter implements Receiver {
      sum = 0;
      count = 0;
      receive(msg: { getObject(): unknown }): void {
        const v = msg.getObject() as { inc?: number };
        if (typeof v?.inc !== 'number') return;
        this.sum += v.inc;
        this.count++;
      }
      async getState(out: Writable): Promise<void> {
        out.write(`${this.sum}\n`);
        // Increments keep arriving meanwhile: BARRIER holds them, so the two halves agree.
        await new Promise((r) => setTimeout(r, 30));
        out.write(`${this.count}\n`);
      }
      async setState(input: Readable): Promise<void> {
        const [sum, count] = (await readAll(input)).toString('utf8').trim().split('\n').map(Number);
        this.sum = sum!;
        this.count = count!;
      }
    }
    const apps = [new Counter(), new Counter(), new Counter(), new Counter()];
    const [a, b, c, d] = apps.map((app, i) => channel(String.fromCharCode(65 + i), app)) as [Channel, Channel, Channel, Channel];
    await a.connect(cluster);
    await b.connect(cluster);
    let sending = true;
    const sent = [0, 0];
    const sender = async (ch: Channel, i: number): Promise<void> => {
      while (sending) {
        sent[i]!++;
        await ch.send(null, { inc: 1 + ((sent[i]! * 7) % 13) });
        if (sent[i]! % 5 === 0) await new Promise((r) => setImmediate(r));
      }
    };
    const senders = [sender(a, 0), sender(b, 1)];
    try {
      await waitUntil(() => sent[0]! > 50 && sent[1]! > 50, 5000, 'some increments');
      await c.connect(cluster, { state: { timeout: 10_000 } });
      await d.connect(cluster);
      await d.getState(b.getAddress(), 10_000);
      await c.getState(null, 10_000);
    } finally {
      sending = false;
      await Promise.all(senders);
    }
    const total = sent[0]! + sent[1]!;
    await waitUntil(() => apps.every((x) => x.count === total), 10_000, 'every increment everywhere', () =>
      apps.map((x) => `${x.count}/${total}`).join(' '),
    );
    expect(new Set(apps.map((x) => x.sum)).size).toBe(1);
    expect(apps.map((x) => x.count)).toEqual([total, total, total, total]);
    // The providers held multicasts while writing, and the requesters dropped what the state had.
    expect(barrier(a).stats.held + barrier(b).stats.held).toBeGreaterThan(0);
    expect(stats(c).held + stats(d).held).toBeGreaterThan(0);
  });

  test('a getState that returns bytes, or a Promise of bytes, is a state too', async () => {
    const cluster = uniqueCluster('state');
    const a = channel('A', { getState: () => new TextEncoder().encode('bytes now') });
    const b = channel('B', { getState: () => Promise.resolve(new TextEncoder().encode('bytes later')) });
    let got = '';
    const c = channel('C', { setState: async (input) => void (got = (await readAll(input)).toString('utf8')) });
    await a.connect(cluster);
    await b.connect(cluster);
    await c.connect(cluster, { state: { timeout: 5000 } });
    expect(got).toBe('bytes now');
    await c.getState(b.getAddress(), 5000);
    expect(got).toBe('bytes later');
    // An empty state is a state.
    const e = channel('E', { getState: () => undefined });
    await e.connect(cluster);
    await waitForSameView([a, b, c, e], 5000);
    await c.getState(e.getAddress(), 5000);
    expect(got).toBe('');
  });

  test("a provider whose getState throws: the requester's getState rejects with ERR_STATE_PROVIDER_FAILED, the provider stays healthy", async () => {
    const cluster = uniqueCluster('state');
    let mode: 'sync' | 'async' | 'ok' = 'sync';
    const received: unknown[] = [];
    const a = channel('A', {
      receive: (m) => received.push(m.getObject()),
      async getState(out) {
        if (mode === 'sync') throw new Error('disk on fire');
        out.write('part');
        await new Promise((r) => setImmediate(r));
        if (mode === 'async') throw new Error('later fire');
        out.write('-rest');
      },
    });
    await a.connect(cluster);
    let got = '';
    const b = channel('B', { setState: async (input) => void (got = (await readAll(input)).toString('utf8')) });
    const failed = b.connect(cluster, { state: { timeout: 5000 } });
    await expect(failed).rejects.toMatchObject({ code: 'ERR_STATE_PROVIDER_FAILED', message: expect.stringContaining('disk on fire') });
    // connect with state is one step: a failed transfer leaves the channel unconnected.
    expect(b.isConnected()).toBe(false);
    await b.connect(cluster);
    mode = 'async';
    await expect(b.getState(null, 5000)).rejects.toMatchObject({ code: 'ERR_STATE_PROVIDER_FAILED', message: expect.stringContaining('later fire') });
    expect(barrier(a).isClosed()).toBe(false);
    await b.send(null, 'still here');
    await waitUntil(() => received.includes('still here'), 5000, 'a multicast at the provider');
    mode = 'ok';
    await b.getState(null, 5000);
    expect(got).toBe('part-rest');
  });

  test('no provider, a provider without getState, a bad target: clear errors at once', async () => {
    const cluster = uniqueCluster('state');
    const setState = async (input: Readable) => void (await readAll(input));
    const a = channel('A', { setState });
    await a.connect(cluster);
    await expect(a.getState(null, 5000)).rejects.toMatchObject({ code: 'ERR_STATE_NO_PROVIDER' });
    const b = channel('B', { setState });
    await b.connect(cluster);
    await waitForSameView([a, b], 5000);
    await expect(b.getState(null, 5000)).rejects.toMatchObject({ code: 'ERR_STATE_NO_PROVIDER', message: expect.stringContaining('no getState') });
    await expect(b.getState(b.getAddress(), 5000)).rejects.toMatchObject({ code: 'ERR_STATE_BAD_TARGET' });
    await expect(b.getState(Address.random(), 5000)).rejects.toMatchObject({ code: 'ERR_STATE_BAD_TARGET' });
    await expect(b.getState(null, -1)).rejects.toMatchObject({ code: 'ERR_BAD_ARGUMENT' });
    // A requester without setState is refused before anything is sent.
    const c = channel('C', {});
    await expect(c.connect(cluster, { state: {} })).rejects.toMatchObject({ code: 'ERR_BAD_ARGUMENT' });
    expect(c.isConnected()).toBe(false);
    // Not connected, and a stack without STATE_TRANSFER.
    await expect(c.getState(null)).rejects.toMatchObject({ code: 'ERR_CHANNEL_NOT_CONNECTED' });
    const d = channel('D', { setState }, 'loopback.xml');
    await d.connect(uniqueCluster('plain'));
    await expect(d.getState(null)).rejects.toMatchObject({ code: 'ERR_STACK', message: expect.stringContaining('STATE_TRANSFER') });
  });

  test('a provider that never finishes: ERR_TIMEOUT, an abort: ERR_ABORTED; the provider is told to stop and opens its barrier', async () => {
    const cluster = uniqueCluster('state');
    const hung: (() => void)[] = [];
    cleanups.push(() => hung.forEach((f) => f()));
    const received: unknown[] = [];
    const a = channel('A', {
      receive: (m) => received.push(m.getObject()),
      getState: (out) => {
        out.write('a start');
        return new Promise<void>((r) => hung.push(r));
      },
    });
    await a.connect(cluster);
    const b = channel('B', { setState: async (input) => void (await readAll(input).catch(() => undefined)) });
    await b.connect(cluster);
    await waitForSameView([a, b], 5000);
    const started = Date.now();
    await expect(b.getState(null, 300)).rejects.toMatchObject({ code: 'ERR_TIMEOUT' });
    expect(Date.now() - started).toBeLessThan(5000);
    // The provider heard the cancel: its barrier is open again and multicasts flow.
    await waitUntil(() => !barrier(a).isClosed(), 5000, "the provider's barrier open");
    await b.send(null, 'after the timeout');
    await waitUntil(() => received.includes('after the timeout'), 5000, 'a multicast at the provider');

    const ac = new AbortController();
    const p = code(b.getState(null, 0, { signal: ac.signal }));
    await waitUntil(() => hung.length === 2, 5000, 'the second request at the provider');
    ac.abort();
    expect(await p).toBe('ERR_ABORTED');
    await waitUntil(() => !barrier(a).isClosed(), 5000, "the provider's barrier open");
    // A busy requester refuses a second transfer at once.
    const q = code(b.getState(null, 300));
    expect(await code(b.getState(null, 300))).toBe('ERR_STATE_BUSY');
    expect(await q).toBe('ERR_TIMEOUT');
  });

  test('the provider leaving during the transfer: ERR_STATE_PROVIDER_FAILED', async () => {
    const cluster = uniqueCluster('state');
    const a = channel('A', { getState: (out) => void out.write('x') });
    let blocked: ((v: void) => void) | null = null;
    const b = channel('B', {
      getState: (out) => {
        out.write('partial');
        return new Promise<void>((r) => (blocked = r));
      },
    });
    cleanups.push(() => blocked?.());
    const c = channel('C', { setState: async (input) => void (await readAll(input).catch(() => undefined)) });
    await a.connect(cluster);
    await b.connect(cluster);
    await c.connect(cluster);
    await waitForSameView([a, b, c], 5000);
    const p = code(c.getState(b.getAddress(), 0));
    await waitUntil(() => blocked !== null, 5000, 'the transfer under way');
    await b.disconnect();
    expect(await p).toBe('ERR_STATE_PROVIDER_FAILED');
  });

  test('STATE_TRANSFER needs BARRIER and NAKACK2 below it: a stack without them is refused', () => {
    const xml = stackXml(RELIABLE).replace('<BARRIER/>', '');
    expect(() => Channel.fromXml(xml, stackPath(RELIABLE))).toThrow(expect.objectContaining({ code: 'ERR_STACK_DEPENDENCY' }));
  });
});
