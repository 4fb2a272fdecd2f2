import type { Readable, Writable } from 'node:stream';
import { type Address, type Channel, type Receiver, TimeoutError, TsgroupsError, type View } from '@tsgroups/core';
import { EventEmitter } from 'eventemitter3';
import { RemoteError } from './errors.js';
import { RequestOptions } from './request-options.js';
import { ResponseMode } from './response-mode.js';
import { RpcDispatcher } from './rpc-dispatcher.js';
import type { RspList } from './rsp.js';

/** The dispatcher id of ReplicatedHashMap's requests ('RH'): its own, beside the application's dispatchers. */
export const REPLICATED_HASH_MAP_ID = 0x5248;

/** What a ReplicatedHashMap key may be: values that compare equal on every member. */
export type MapKey = string | number | bigint | boolean;

export interface ReplicatedHashMapOptions {
  /** How long a synchronous write waits for every member (ms, default 5000; 0 = no limit). */
  timeout?: number;
  /** `'sync'` (default): a write resolves once every member applied it. `'async'`: once it is sent. */
  mode?: 'sync' | 'async';
  /** The id of the map's dispatcher (default {@link REPLICATED_HASH_MAP_ID}): two maps on one channel need two ids. */
  id?: number;
}

/** The typed notifications of a {@link ReplicatedHashMap}, on every member, as each write is applied there. */
export interface ReplicatedHashMapEvents<K, V> {
  put: [key: K, value: V, previous: V | undefined];
  remove: [key: K, previous: V];
  clear: [];
  /** A new view; also when the state arrived (`start`). */
  view: [view: View];
  /** The whole map was replaced by the state fetched from another member. */
  state: [size: number];
}

/** The methods every member serves for the map; `_` marks them as the map's own, not the application's. */
interface MapServer<K, V> {
  _put(key: K, value: V): V | undefined;
  _putIfAbsent(key: K, value: V): V | undefined;
  _replace(key: K, value: V): V | undefined;
  _replaceIf(key: K, expected: V, value: V): boolean;
  _remove(key: K): V | undefined;
  _clear(): void;
}

/** Entries per frame of the state stream. */
const ENTRIES_PER_FRAME = 512;

/**
 * A map replicated on every member, as JGroups' ReplicatedHashMap: reads are local, writes go to
 * every member (the writer included) through an {@link RpcDispatcher} and are applied there in
 * the order the channel delivers them. A member that joins fetches the current map with
 * {@link start} (a state transfer: the stack needs STATE_TRANSFER and BARRIER, as udp.xml has).
 *
 * Writes are synchronous by default: `await map.put(k, v)` resolves once every member applied
 * it, or rejects with a TimeoutError. Each member applies one sender's writes in the order they
 * were sent; concurrent writes of different members to the same key may be applied in different
 * orders on different members unless the stack orders all multicasts totally (SEQUENCER, as in
 * stacks/sequencer.xml): then every member ends with the same map.
 *
 * The map takes the channel's state callbacks: it wraps the channel's receiver (keeping yours for
 * everything else), so put the map's data in its state, not yours. Keys are strings, numbers,
 * bigints or booleans; values are what the channel's marshaller carries.
 */
export class ReplicatedHashMap<K extends MapKey = string, V = unknown> extends EventEmitter<ReplicatedHashMapEvents<K, V>> {
  private readonly map = new Map<K, V>();
  private readonly disp: RpcDispatcher<MapServer<K, V>>;
  private readonly timeout: number;
  private readonly async: boolean;
  private readonly wrapped: Receiver | null;
  private stopped = false;

  constructor(
    readonly channel: Channel,
    options: ReplicatedHashMapOptions = {},
  ) {
    super();
    this.timeout = options.timeout ?? 5000;
    if (!(this.timeout >= 0)) throw new TsgroupsError('ERR_BAD_ARGUMENT', `ReplicatedHashMap: bad timeout ${options.timeout}`);
    const mode = options.mode ?? 'sync';
    if (mode !== 'sync' && mode !== 'async') throw new TsgroupsError('ERR_BAD_ARGUMENT', `ReplicatedHashMap: mode is 'sync' or 'async', got ${String(mode)}`);
    this.async = mode === 'async';
    this.disp = new RpcDispatcher(channel, this.server(), { id: options.id ?? REPLICATED_HASH_MAP_ID });
    // The map's state travels through the channel's state callbacks; everything else stays the application's.
    this.wrapped = channel.getReceiver();
    channel.setReceiver(this.receiver());
    channel.on('view', this.onView);
  }

  /**
   * Fetches the current map from the coordinator (a state transfer), replacing what this member
   * holds. The first member has nobody to ask and starts empty.
   * @throws the state transfer's errors (`ERR_TIMEOUT`, `ERR_STATE_NO_PROVIDER` ...)
   */
  async start(timeout = 10_000): Promise<void> {
    this.assertRunning('start');
    const view = this.channel.getView();
    if (view === null || !this.channel.isConnected()) throw new TsgroupsError('ERR_CHANNEL_NOT_CONNECTED', 'ReplicatedHashMap.start: connect the channel first');
    if (view.size() > 1) await this.channel.getState(null, timeout);
  }

  /** Stops serving and writing; the channel's receiver is yours again. The channel stays connected. */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.disp.stop();
    this.channel.off('view', this.onView);
    this.channel.setReceiver(this.wrapped);
  }

  // ---- reads (local) ----
  get(key: K): V | undefined {
    return this.map.get(key);
  }
  has(key: K): boolean {
    return this.map.has(key);
  }
  get size(): number {
    return this.map.size;
  }
  keys(): IterableIterator<K> {
    return this.map.keys();
  }
  values(): IterableIterator<V> {
    return this.map.values();
  }
  entries(): IterableIterator<[K, V]> {
    return this.map.entries();
  }
  [Symbol.iterator](): IterableIterator<[K, V]> {
    return this.map.entries();
  }
  /** A copy of the map as it is here now. */
  toMap(): Map<K, V> {
    return new Map(this.map);
  }

  // ---- writes (every member) ----
  /** Sets `key` to `value` everywhere; resolves with the value it had here before. */
  async put(key: K, value: V): Promise<V | undefined> {
    return this.write('_put', [checkKey(key), value], () => this.map.get(key));
  }
  /** Sets `key` to `value` on every member that has no value for it; resolves with the value it had here (undefined: it was set). */
  async putIfAbsent(key: K, value: V): Promise<V | undefined> {
    return this.write('_putIfAbsent', [checkKey(key), value], () => this.map.get(key));
  }
  /** Sets `key` to `value` where it has a value; resolves with the value it had here (undefined: nothing replaced). */
  async replace(key: K, value: V): Promise<V | undefined> {
    return this.write('_replace', [checkKey(key), value], () => this.map.get(key));
  }
  /** Sets `key` to `value` where its value is `expected` (compared as marshalled); resolves with whether it was replaced here. */
  async replaceIf(key: K, expected: V, value: V): Promise<boolean> {
    return this.write('_replaceIf', [checkKey(key), expected, value], () => this.map.has(key) && sameValue(this.map.get(key), expected));
  }
  /** Removes `key` everywhere; resolves with the value it had here. */
  async remove(key: K): Promise<V | undefined> {
    return this.write('_remove', [checkKey(key)], () => this.map.get(key));
  }
  /** Empties the map everywhere. */
  async clear(): Promise<void> {
    await this.write('_clear', [], () => undefined);
  }

  /**
   * Sends one write to every member. Sync: waits for all, and resolves with what it did here (the
   * caller's own answer); async: resolves with `local()` once sent.
   */
  private async write<R>(method: keyof MapServer<K, V>, args: unknown[], local: () => R): Promise<R> {
    this.assertRunning(method.slice(1));
    if (this.async) {
      const before = local();
      await this.disp.callRemoteMethods(null, method, args, RequestOptions.ASYNC());
      return before;
    }
    const rsps: RspList<R> = await this.disp.callRemoteMethods<R>(null, method, args, { mode: ResponseMode.GET_ALL, timeout: this.timeout });
    const self = this.channel.getAddress();
    let missing: Address[] | null = null;
    for (const [member, rsp] of rsps) {
      // A member that fetched its state after this write had it applied through the state.
      if (rsp.error instanceof RemoteError && rsp.error.remoteCode === 'ERR_IN_STATE') continue;
      if (rsp.error !== undefined) throw rsp.error;
      if (!rsp.received && !rsp.suspected) (missing ??= []).push(member);
    }
    if (missing !== null) throw new TimeoutError(`ReplicatedHashMap.${method.slice(1)}: no answer from ${missing.join(', ')} within ${this.timeout} ms`);
    return self === null ? local() : (rsps.getValue(self) as R);
  }

  private server(): MapServer<K, V> {
    return {
      _put: (key, value) => {
        const prev = this.map.get(key);
        this.map.set(key, value);
        this.emit('put', key, value, prev);
        return prev;
      },
      _putIfAbsent: (key, value) => {
        if (this.map.has(key)) return this.map.get(key);
        this.map.set(key, value);
        this.emit('put', key, value, undefined);
        return undefined;
      },
      _replace: (key, value) => {
        if (!this.map.has(key)) return undefined;
        const prev = this.map.get(key);
        this.map.set(key, value);
        this.emit('put', key, value, prev);
        return prev;
      },
      _replaceIf: (key, expected, value) => {
        if (!this.map.has(key) || !sameValue(this.map.get(key), expected)) return false;
        const prev = this.map.get(key);
        this.map.set(key, value);
        this.emit('put', key, value, prev);
        return true;
      },
      _remove: (key) => {
        if (!this.map.has(key)) return undefined;
        const prev = this.map.get(key) as V;
        this.map.delete(key);
        this.emit('remove', key, prev);
        return prev;
      },
      _clear: () => {
        this.map.clear();
        this.emit('clear');
      },
    };
  }

  /** The application's receiver with the map's state callbacks. */
  private receiver(): Receiver {
    const app = this.wrapped;
    return {
      receive: app?.receive?.bind(app),
      viewAccepted: app?.viewAccepted?.bind(app),
      suspect: app?.suspect?.bind(app),
      block: app?.block?.bind(app),
      unblock: app?.unblock?.bind(app),
      getState: (out: Writable) => this.writeState(out),
      setState: (input: Readable) => this.readState(input),
    };
  }

  /** The map as frames of entries: [4-byte length][marshalled [[k, v], ...]] ..., with backpressure. */
  private async writeState(out: Writable): Promise<void> {
    const marshaller = this.channel.getMarshaller();
    // A snapshot first: the stream may take a while and the map goes on changing after this call.
    const entries = [...this.map];
    for (let i = 0; i < entries.length; i += ENTRIES_PER_FRAME) {
      const body = marshaller.objectToBuffer(entries.slice(i, i + ENTRIES_PER_FRAME));
      const frame = new Uint8Array(4 + body.length);
      new DataView(frame.buffer).setUint32(0, body.length);
      frame.set(body, 4);
      if (!out.write(frame)) await new Promise<void>((resolve) => out.once('drain', resolve));
    }
  }

  private async readState(input: Readable): Promise<void> {
    const marshaller = this.channel.getMarshaller();
    const next = new Map<K, V>();
    let pending: Uint8Array = new Uint8Array(0);
    for await (const chunk of input as AsyncIterable<Uint8Array>) {
      pending = pending.length === 0 ? chunk : concat(pending, chunk);
      let off = 0;
      while (pending.length - off >= 4) {
        const len = new DataView(pending.buffer, pending.byteOffset + off, 4).getUint32(0);
        if (pending.length - off - 4 < len) break;
        const entries = marshaller.objectFromBuffer(pending, off + 4, len) as [K, V][];
        for (const [k, v] of entries) next.set(k, v);
        off += 4 + len;
      }
      pending = pending.subarray(off);
    }
    if (pending.length !== 0) throw new TsgroupsError('ERR_MARSHALLING', `ReplicatedHashMap: the state ended inside a frame (${pending.length} bytes left)`);
    this.map.clear();
    for (const [k, v] of next) this.map.set(k, v);
    this.emit('state', this.map.size);
    const view = this.channel.getView();
    if (view !== null) this.emit('view', view);
  }

  private readonly onView = (view: View): void => {
    this.emit('view', view);
  };

  private assertRunning(op: string): void {
    if (this.stopped) throw new TsgroupsError('ERR_CHANNEL_CLOSED', `ReplicatedHashMap.${op}: the map is stopped`);
  }
}

function checkKey<K>(key: K): K {
  const t = typeof key;
  if (t === 'string' || t === 'bigint' || t === 'boolean' || (t === 'number' && Number.isFinite(key))) return key;
  throw new TsgroupsError('ERR_BAD_ARGUMENT', `ReplicatedHashMap: a key is a string, a finite number, a bigint or a boolean, got ${t === 'number' ? String(key) : t}`);
}

/** Values compared as the wire sees them (JSON-like), since each member holds its own copy. */
function sameValue(a: unknown, b: unknown): boolean {
  if (Object.is(a, b)) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  try {
    return JSON.stringify(a) === JSON.stringify(b);
  } catch {
    return false;
  }
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a, 0);
  out.set(b, a.length);
  return out;
}
