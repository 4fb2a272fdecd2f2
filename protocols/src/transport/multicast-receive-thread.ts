import { Worker } from 'node:worker_threads';
import { crc32cNativeModule } from '@tsgroups/core';

/** The first byte of a datagram's checksum trailer: field 7, wire type fixed32 (see wire/codec). */
const CHECKSUM_TAG = (7 << 3) | 5;

/** Indexes of the counters the thread shares with the transport (an Int32Array over a SharedArrayBuffer). */
const QUEUED_BYTES = 0;
const DROPPED_OWN = 1;
const DROPPED_QUEUE_FULL = 2;
const COUNTERS = 3;

/**
 * The thread's code. Plain CommonJS evaluated by the Worker (`eval: true`): it runs the same from
 * the sources (jest), from dist and from a one-file bundle, with no file to locate.
 *
 * It owns the multicast socket and does only what keeps the kernel's receive queue empty: read
 * each datagram, drop our own multicasts (they leave from our unicast socket and were delivered
 * locally already) and, once per event-loop turn, hand what it read to the main thread in one
 * message, the datagrams' memory transferred, not copied. With `checksum` it also verifies each
 * datagram's CRC32C trailer (with the native CRC32C only), so that the main thread need not; a
 * datagram that fails goes over unverified and the main thread drops, counts and logs it as it
 * always does. The bytes handed over and not yet
 * processed are bounded (`maxQueued`): beyond it datagrams are dropped and counted, as the kernel
 * would drop them, so that a flood cannot grow the heap without limit.
 */
const WORKER_SOURCE = `
'use strict';
const { parentPort, workerData } = require('node:worker_threads');
const dgram = require('node:dgram');
const { group, port, iface, recvBufSize, ownHost, ownPort, dropOwn, maxQueued, counters, crcModule } = workerData;
const c = new Int32Array(counters);
const crc32c = crcModule === null ? null : require(crcModule).crc32c;
// The trailer: the tag of field 7 (fixed32) and the CRC32C of every byte before the CRC.
function checked(b) {
  const n = b.length;
  if (n < 5 || b[n - 5] !== ${CHECKSUM_TAG}) return 0;
  const stored = (b[n - 4] | (b[n - 3] << 8) | (b[n - 2] << 16) | (b[n - 1] << 24)) >>> 0;
  return crc32c(b.subarray(0, n - 4), 0) === stored ? 1 : 0;
}
let bufs = [], hosts = [], ports = [], oks = [], transfer = [], scheduled = false;
function flush() {
  scheduled = false;
  const m = { bufs, hosts, ports, oks };
  try {
    parentPort.postMessage(m, transfer);
  } catch {
    parentPort.postMessage(m); // a buffer that cannot be transferred is copied
  }
  bufs = []; hosts = []; ports = []; oks = []; transfer = [];
}
const sock = dgram.createSocket({ type: 'udp4', reuseAddr: true });
sock.on('message', (msg, rinfo) => {
  if (dropOwn && rinfo.port === ownPort && rinfo.address === ownHost) { Atomics.add(c, ${DROPPED_OWN}, 1); return; }
  if (Atomics.load(c, ${QUEUED_BYTES}) + msg.length > maxQueued) { Atomics.add(c, ${DROPPED_QUEUE_FULL}, 1); return; }
  Atomics.add(c, ${QUEUED_BYTES}, msg.length);
  // A datagram's buffer is its own allocation; anything else is copied before it is transferred.
  const b = msg.byteOffset === 0 && msg.buffer.byteLength === msg.length ? msg : Uint8Array.prototype.slice.call(msg);
  bufs.push(b); hosts.push(rinfo.address); ports.push(rinfo.port); oks.push(crc32c === null ? 0 : checked(b)); transfer.push(b.buffer);
  if (!scheduled) { scheduled = true; setImmediate(flush); }
});
sock.on('error', (err) => parentPort.postMessage({ error: String(err && err.message || err) }));
sock.bind({ port, address: group }, () => {
  try {
    sock.addMembership(group, iface);
    sock.setMulticastInterface(iface);
    if (recvBufSize > 0) { try { sock.setRecvBufferSize(recvBufSize); } catch {} }
    parentPort.postMessage({ ready: true });
  } catch (err) {
    parentPort.postMessage({ error: String(err && err.message || err) });
  }
});
parentPort.on('message', (m) => { if (m === 'close') sock.close(() => parentPort.close()); });
`;

export interface MulticastReceiveThreadOptions {
  /** The multicast group and port to bind and join. */
  group: string;
  port: number;
  /** The interface (IPv4 address) to join the group on. */
  iface: string;
  /** SO_RCVBUF of the socket (0: the OS default). */
  recvBufSize: number;
  /** Our unicast socket: multicasts from there are our own, dropped if `dropOwn`. */
  ownHost: string;
  ownPort: number;
  dropOwn: boolean;
  /** Bytes read and not yet processed by the main thread, at most. */
  maxQueued: number;
  /** Verify datagrams' checksums on the thread (where the native CRC32C loads). */
  checksum: boolean;
  /** Called on the main thread with each datagram, in arrival order; `verified`: its checksum is good. */
  onDatagram: (data: Buffer, host: string, port: number, verified: boolean) => void;
  /** A socket error or the thread's own failure (after start). */
  onError: (err: Error) => void;
}

interface Batch {
  bufs?: Uint8Array[];
  hosts?: string[];
  ports?: number[];
  oks?: number[];
  ready?: true;
  error?: string;
}

/**
 * The receive side of UDP's multicast socket on a thread of its own (`mcast_receive_thread`): the
 * socket is drained while the main thread decodes, runs the stack and the application, so a busy
 * main thread (a long batch, a GC pause) no longer makes the kernel drop datagrams, which would
 * cost a retransmission round (NAKACK2's xmit_interval) and stall flow control meanwhile. Each
 * datagram is still processed on the main thread, in arrival order.
 */
export class MulticastReceiveThread {
  private readonly counters = new Int32Array(new SharedArrayBuffer(COUNTERS * 4));
  private worker: Worker | null = null;
  private closing = false;

  constructor(private readonly o: MulticastReceiveThreadOptions) {}

  /** Own multicasts dropped by the thread. */
  get droppedOwn(): number {
    return Atomics.load(this.counters, DROPPED_OWN);
  }

  /** Datagrams dropped because `maxQueued` bytes were waiting for the main thread. */
  get droppedQueueFull(): number {
    return Atomics.load(this.counters, DROPPED_QUEUE_FULL);
  }

  /** Bytes waiting for the main thread now. */
  get queuedBytes(): number {
    return Atomics.load(this.counters, QUEUED_BYTES);
  }

  /** Starts the thread; resolves once the socket is bound and has joined the group. */
  start(): Promise<void> {
    const o = this.o;
    const worker = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: {
        group: o.group,
        port: o.port,
        iface: o.iface,
        recvBufSize: o.recvBufSize,
        ownHost: o.ownHost,
        ownPort: o.ownPort,
        dropOwn: o.dropOwn,
        maxQueued: o.maxQueued,
        counters: this.counters.buffer,
        crcModule: o.checksum ? crc32cNativeModule : null,
      },
      // The thread's heap holds only a turn's datagrams before they are transferred: a small young
      // generation keeps its RSS down (16 MB cost a member ~15 MB more at its peak).
      resourceLimits: { maxOldGenerationSizeMb: 64, maxYoungGenerationSizeMb: 2 },
      stdout: false,
      stderr: false,
    });
    this.worker = worker;
    return new Promise<void>((resolve, reject) => {
      let started = false;
      worker.on('message', (m: Batch) => {
        if (m.bufs !== undefined) {
          this.deliver(m.bufs, m.hosts!, m.ports!, m.oks!);
        } else if (m.ready) {
          started = true;
          resolve();
        } else if (m.error !== undefined) {
          const err = new Error(`multicast receive thread: ${m.error}`);
          if (started) o.onError(err);
          else {
            started = true;
            this.closing = true;
            void worker.terminate();
            reject(err);
          }
        }
      });
      worker.on('error', (err) => {
        if (started) o.onError(err);
        else {
          started = true;
          reject(err);
        }
      });
      worker.on('exit', (code) => {
        if (this.closing) return;
        const err = new Error(`multicast receive thread exited (code ${code})`);
        if (started) o.onError(err);
        else {
          started = true;
          reject(err);
        }
      });
    });
  }

  /** Closes the socket (leaving the group) and ends the thread. */
  async stop(): Promise<void> {
    const worker = this.worker;
    if (worker === null) return;
    this.worker = null;
    this.closing = true;
    const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
    worker.postMessage('close');
    // A thread that does not end by itself within a second is ended.
    const timer = setTimeout(() => void worker.terminate(), 1000);
    await exited;
    clearTimeout(timer);
  }

  private deliver(bufs: Uint8Array[], hosts: string[], ports: number[], oks: number[]): void {
    const onDatagram = this.o.onDatagram;
    const c = this.counters;
    for (let i = 0; i < bufs.length; i++) {
      const u = bufs[i]!;
      Atomics.sub(c, QUEUED_BYTES, u.length);
      // Structured cloning turns a Buffer into a plain Uint8Array: give the stack a Buffer (no copy).
      if (this.worker !== null) onDatagram(Buffer.from(u.buffer, u.byteOffset, u.length), hosts[i]!, ports[i]!, oks[i] === 1);
    }
  }
}
