// UDP's multicast socket read on a thread of its own (mcast_receive_thread): datagrams reach the
// main thread in order, our own multicasts are dropped on the thread, the bytes waiting for a busy
// main thread are bounded, a failed start leaves nothing behind, and a whole stack over it
// delivers every multicast exactly once, in order.
import { createSocket, type Socket } from 'node:dgram';
import { Worker } from 'node:worker_threads';
import { availableParallelism } from 'node:os';
import { Channel, crc32c, MulticastReceiveThread, UDP } from 'tsgroups';
import { closeAll, uniqueCluster, waitForSameView, waitUntil } from '../helpers/cluster.js';
import { randomGroup, udpStack } from './udp-helpers.js';

async function rawSocket(): Promise<Socket> {
  const s = createSocket('udp4');
  s.on('error', () => undefined);
  await new Promise<void>((resolve) => s.bind({ port: 0, address: '127.0.0.1' }, resolve));
  s.setMulticastInterface('127.0.0.1');
  s.setMulticastTTL(0);
  s.setMulticastLoopback(true);
  return s;
}

const send = (s: Socket, data: Uint8Array, port: number, addr: string) =>
  new Promise<void>((resolve, reject) => s.send(data, port, addr, (err) => (err ? reject(err) : resolve())));

const close = (s: Socket) => new Promise<void>((resolve) => s.close(() => resolve()));

describe('MulticastReceiveThread', () => {
  const sockets: Socket[] = [];
  const threads: MulticastReceiveThread[] = [];
  afterEach(async () => {
    for (const t of threads.splice(0)) await t.stop();
    for (const s of sockets.splice(0)) await close(s);
  });

  function thread(o: Partial<ConstructorParameters<typeof MulticastReceiveThread>[0]> & { group: string; port: number }) {
    const t = new MulticastReceiveThread({
      iface: '127.0.0.1',
      recvBufSize: 5_000_000, // as UDP's default: a thread starved of CPU for a moment must not lose what was sent
      ownHost: '127.0.0.1',
      ownPort: 0,
      dropOwn: true,
      maxQueued: 16 * 1024 * 1024,
      checksum: false,
      onDatagram: () => undefined,
      onError: (err) => {
        throw err;
      },
      ...o,
    });
    threads.push(t);
    return t;
  }

  it('hands every datagram of another sender to the main thread in order, and drops our own on the thread', async () => {
    const group = randomGroup();
    const own = await rawSocket();
    const other = await rawSocket();
    sockets.push(own, other);
    const got: { n: number; host: string; port: number; isBuffer: boolean }[] = [];
    const t = thread({
      group: group.addr,
      port: group.port,
      ownPort: own.address().port,
      onDatagram: (data, host, port) => got.push({ n: data.readUInt32BE(0), host, port, isBuffer: Buffer.isBuffer(data) }),
    });
    await t.start();
    for (let i = 0; i < 300; i++) {
      const d = Buffer.alloc(1000);
      d.writeUInt32BE(i, 0);
      await send(own, d, group.port, group.addr);
      await send(other, d, group.port, group.addr);
    }
    await waitUntil(() => got.length === 300 && t.droppedOwn === 300, 10_000, 'the other sender\'s 300 datagrams', () => `${got.length} received (first ${got[0]?.n}, last ${got.at(-1)?.n}), ${t.droppedOwn} own dropped`);
    expect(got.map((g) => g.n)).toEqual(Array.from({ length: 300 }, (_, i) => i));
    expect(got.every((g) => g.host === '127.0.0.1' && g.port === other.address().port && g.isBuffer)).toBe(true);
    expect(t.queuedBytes).toBe(0);
    expect(t.droppedQueueFull).toBe(0);
  });

  it('drops and counts datagrams beyond maxQueued while the main thread is busy, and goes on afterwards', async () => {
    const group = randomGroup();
    let received = 0;
    let last = -1;
    const t = thread({
      group: group.addr,
      port: group.port,
      maxQueued: 256 * 1024,
      onDatagram: (data) => {
        received++;
        last = data.readUInt32BE(0);
      },
    });
    await t.start();
    // A flood from another thread, so that it goes on while this one is blocked.
    const flood = new Worker(
      `const { parentPort, workerData } = require('node:worker_threads');
       const s = require('node:dgram').createSocket('udp4');
       s.bind({ port: 0, address: '127.0.0.1' }, async () => {
         s.setMulticastInterface('127.0.0.1'); s.setMulticastTTL(0);
         const d = Buffer.alloc(60000);
         for (let i = 0; i < 400; i++) {
           d.writeUInt32BE(i, 0);
           await new Promise((r) => s.send(d, workerData.port, workerData.addr, r));
         }
         s.close(() => parentPort.postMessage('done'));
       });`,
      { eval: true, workerData: group },
    );
    try {
      // Busy, as a main thread in a long batch or a GC pause is: nothing runs here until the
      // thread has dropped something (or 10 s passed).
      const deadline = Date.now() + 10_000;
      while (t.droppedQueueFull === 0 && Date.now() < deadline) {
        /* spin */
      }
      expect(t.droppedQueueFull).toBeGreaterThan(0);
      expect(t.queuedBytes).toBeLessThanOrEqual(256 * 1024);
      await new Promise<void>((resolve) => flood.once('message', () => resolve()));
    } finally {
      await flood.terminate();
    }
    await waitUntil(() => t.queuedBytes === 0, 10_000, 'the queue to drain');
    expect(received + t.droppedQueueFull).toBeLessThanOrEqual(400);
    // Still receiving after the flood.
    const s = await rawSocket();
    sockets.push(s);
    const d = Buffer.alloc(100);
    d.writeUInt32BE(9999, 0);
    await send(s, d, group.port, group.addr);
    await waitUntil(() => last === 9999, 10_000, 'a datagram after the flood');
  });

  it('with checksum, verifies each datagram\'s CRC32C trailer on the thread: good ones marked verified, others left to the main thread', async () => {
    const group = randomGroup();
    const s = await rawSocket();
    sockets.push(s);
    const got: { n: number; verified: boolean }[] = [];
    const t = thread({ group: group.addr, port: group.port, checksum: true, onDatagram: (d, _h, _p, verified) => got.push({ n: d[0]!, verified }) });
    await t.start();
    // A body, the tag of field 7 (fixed32), and the CRC32C of everything before the CRC, little-endian.
    const withTrailer = (n: number) => {
      const d = Buffer.alloc(105);
      d[0] = n;
      d[100] = (7 << 3) | 5;
      d.writeUInt32LE(crc32c(d, 0, 101), 101);
      return d;
    };
    const good = withTrailer(1);
    const flipped = withTrailer(2);
    flipped[50] ^= 0x10;
    const none = Buffer.alloc(100, 3);
    for (const d of [good, flipped, none, withTrailer(4)]) await send(s, d, group.port, group.addr);
    await waitUntil(() => got.length === 4, 10_000, 'the 4 datagrams');
    expect(got).toEqual([
      { n: 1, verified: true },
      { n: 2, verified: false },
      { n: 3, verified: false },
      { n: 4, verified: true },
    ]);
  });

  it('rejects start() when the group cannot be joined, and leaves no thread behind', async () => {
    const group = randomGroup();
    // 192.0.2.1 (TEST-NET-1) is no interface of this machine: joining on it fails.
    const t = thread({ group: group.addr, port: group.port, iface: '192.0.2.1' });
    await expect(t.start()).rejects.toThrow(/multicast receive thread/);
    await t.stop();
  });
});

describe('mcast_receive_thread values', () => {
  it('true and false; auto means a thread only where the machine has at least 4 cores', () => {
    const udp = new UDP();
    expect(udp.usesReceiveThread()).toBe(false);
    for (const [v, want] of [['true', true], ['false', false], ['auto', availableParallelism() >= 4]] as const) {
      udp.setValues({ mcast_receive_thread: v });
      expect(udp.usesReceiveThread()).toBe(want);
    }
    udp.mcastReceiveThread = 'true';
    expect(udp.usesReceiveThread()).toBe(true);
    expect(() => udp.setValues({ mcast_receive_thread: 'sometimes' })).toThrow(/expected one of true, false, auto/);
  });
});

describe('stacks/udp.xml with mcast_receive_thread="true"', () => {
  const channels: Channel[] = [];
  afterEach(async () => {
    await closeAll(channels.splice(0));
  });

  it('delivers every multicast of 3 members exactly once and in order', async () => {
    const group = randomGroup();
    const cluster = uniqueCluster('mcast-thread');
    const got = new Map<string, number[][]>();
    for (let i = 0; i < 3; i++) {
      const ch = new Channel(udpStack(group, { TSGROUPS_MCAST_RECEIVE_THREAD: 'true' }));
      ch.setName(`T${i}`);
      const per: number[][] = [[], [], []];
      got.set(`T${i}`, per);
      ch.on('message', (m) => {
        const v = m.getObject<{ s: number; n: number }>();
        per[v.s]!.push(v.n);
      });
      channels.push(ch);
      await ch.connect(cluster);
    }
    await waitForSameView(channels, 15_000);
    const N = 2000;
    await Promise.all(
      channels.map(async (ch, s) => {
        for (let n = 0; n < N; n++) await ch.send(null, { s, n });
      }),
    );
    const complete = () => [...got.values()].every((per) => per.every((l) => l.length >= N));
    await waitUntil(complete, 30_000, 'every multicast everywhere', () =>
      [...got].map(([k, per]) => `${k}: ${per.map((l) => l.length).join('/')}`).join(', '),
    );
    const inOrder = Array.from({ length: N }, (_, i) => i);
    for (const per of got.values()) for (const l of per) expect(l).toEqual(inOrder);
    for (const ch of channels) {
      const stats = ch.getProtocolStack().findProtocol('UDP')!.getStats();
      expect(stats['droppedOwnMulticast']).toBeGreaterThan(0);
      expect(stats['droppedReceiveQueueFull']).toBe(0);
    }
  });
});
