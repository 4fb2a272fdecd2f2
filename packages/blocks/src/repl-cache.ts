import { type Address, type Channel, ChannelStateError, ScopedLogger, TimeoutError, TsgroupsError, type View } from '@tsgroups/core';
import { type CacheKey, canonicalKey, ConsistentHash } from './consistent-hash.js';
import { compareVersions, type EntryVersion, VersionClock } from './entry-version.js';
import { DEFAULT_TIMEOUT, RequestOptions } from './request-options.js';
import { RpcDispatcher } from './rpc-dispatcher.js';
import type { RspFilter } from './rsp-filter.js';
import type { RspList } from './rsp.js';

/** The dispatcher id a ReplCache uses unless told otherwise ('RC'). */
export const REPL_CACHE_ID = 0x5243;

export interface ReplCacheOptions {
  /**
   * The id of the cache's dispatcher on the channel (default {@link REPL_CACHE_ID}): every member
   * of one cache uses the same; two caches on one channel need two ids, and neither may be the
   * id of another dispatcher there.
   */
  id?: number;
  /** The replication count of a `put` that names none (default 2; -1 = every member). */
  defaultReplCount?: number;
  /** The timeout of a `put`, `get` or `remove` that names none, and of each rebalancing message, in ms (default 10,000; 0 = no limit). */
  timeout?: number;
  /** The most entries one rebalancing message carries (default 256). */
  batchSize?: number;
}

/** One key's copy on this member. */
interface Entry<V> {
  readonly value: V;
  readonly replCount: number;
  readonly version: EntryVersion;
  /** The view the sender placed this copy for; a copy placed for a view not installed here yet is already where it belongs then. */
  readonly placedIn: ViewStamp | null;
}

/** A view id on the wire: its number and its creator's UUID. */
type ViewStamp = readonly [id: number, creator: string];
/** An entry on the wire. */
type EntryWire = readonly [key: CacheKey, value: unknown, replCount: number, time: number, origin: string];
/** A copy the receivers may drop, once the key's owners have it: its key and version. */
type DropWire = readonly [key: CacheKey, time: number, origin: string];

/** Keys for one target, in one message. */
interface Batch<K, V> {
  readonly target: Address;
  readonly handoffs: readonly Handoff<K, V>[];
}

/** How many times a rebalancing message that timed out is sent, while the view lasts. */
const MAX_SENDS = 5;

/** What the members of a cache call on each other. */
interface CacheServer {
  store(entries: EntryWire[], stamp: ViewStamp): boolean;
  get(key: CacheKey): [unknown] | null;
  remove(key: CacheKey): boolean;
  drop(drops: DropWire[], stamp: ViewStamp): void;
}

/** A key that rebalancing sends on: where it goes, and whether other copies may be dropped afterwards. */
interface Handoff<K, V> {
  readonly key: K;
  readonly entry: Entry<V>;
  readonly targets: readonly Address[];
  /** Other members may hold copies they should drop once the targets have the key. */
  readonly dropElsewhere: boolean;
}

/**
 * A cache that keeps each key on `replCount` members, as JGroups' ReplCache: `put` stores a key
 * on the members that a {@link ConsistentHash} of the view picks (its *owners*; `-1` = every
 * member), `get` works on any member, and when the view changes the members move copies so that
 * every key is again on `replCount` live members (or on all, with fewer members than that).
 *
 * Keys are strings and finite numbers; values are what the channel's marshaller carries. Create
 * one on every member, with the same `id`, before or after `connect`.
 *
 * Rebalancing, at each view change, for each key a member holds: the owners in the new view that
 * were not owners in the old one get the key from one member, the first owner of the old view
 * that is still alive. A member that holds a copy without having been an owner (a copy that
 * arrived late) sends it to the new owners itself. Copies on members that are no longer owners
 * are dropped only after the new owners acknowledged theirs, so a key is never without a copy
 * while one of its holders lives. Of two writes of a key, the later one wins on every member
 * (see {@link VersionClock}).
 */
export class ReplCache<K extends CacheKey = CacheKey, V = unknown> {
  private readonly entries = new Map<K, Entry<V>>();
  private readonly disp: RpcDispatcher<CacheServer>;
  private readonly clock = new VersionClock();
  private readonly log = new ScopedLogger('ReplCache');
  private readonly defaultReplCount: number;
  private readonly timeout: number;
  private readonly batchSize: number;
  private view: View | null = null;
  private stamp: ViewStamp | null = null;
  private hash: ConsistentHash | null = null;
  private stopped = false;
  /** Calls of `put` waiting for the view that follows one in which every owner left. */
  private readonly viewWaiters = new Set<(err?: Error) => void>();
  /** Drops that arrived before the view they were sent in. */
  private laterDrops: { drops: DropWire[]; stamp: ViewStamp }[] = [];
  readonly stats = {
    /** Entries sent to new owners by rebalancing. */
    entriesPushed: 0,
    /** Entries stored here (by a put or by rebalancing). */
    entriesStored: 0,
    /** Copies dropped here because other members own the key now. */
    entriesDropped: 0,
    /** Rebalancing messages that failed: the target left (the next view places the keys again) or did not answer in time (sent again). */
    pushFailures: 0,
    rebalances: 0,
  };

  constructor(
    readonly channel: Channel,
    options: ReplCacheOptions = {},
  ) {
    this.defaultReplCount = options.defaultReplCount ?? 2;
    checkReplCount(this.defaultReplCount);
    this.timeout = checkTimeout(options.timeout ?? DEFAULT_TIMEOUT);
    this.batchSize = options.batchSize ?? 256;
    if (!Number.isInteger(this.batchSize) || this.batchSize < 1) throw bad(`batchSize must be an integer >= 1, got ${this.batchSize}`);
    const server: CacheServer = {
      store: (entries, stamp) => this.onStore(entries, stamp),
      get: (key) => this.onGet(key),
      remove: (key) => this.onRemove(key),
      drop: (drops, stamp) => this.onDrop(drops, stamp),
    };
    this.disp = new RpcDispatcher(channel, server, { id: options.id ?? REPL_CACHE_ID });
    channel.on('view', this.onView);
    channel.on('disconnected', this.onDisconnected);
    channel.on('closed', this.onDisconnected);
    const view = channel.getView();
    if (view !== null && channel.isConnected()) this.install(view);
  }

  /**
   * Stores `value` under `key` on `replCount` members (-1: every member) and resolves once they
   * all stored it. An owner that leaves before it answered does not fail the call: the view
   * change that follows places the key again (when every owner left, the call places it in the
   * next view itself).
   * @throws TimeoutError when an owner did not answer within `timeout` ms (0 = no limit)
   * @throws TsgroupsError `ERR_BAD_ARGUMENT` for a key that is not a string or finite number, or a bad replCount
   * @throws ChannelStateError when the channel is not connected
   */
  async put(key: K, value: V, replCount = this.defaultReplCount, timeout = this.timeout): Promise<void> {
    canonicalKey(key);
    checkReplCount(replCount);
    checkTimeout(timeout);
    const me = this.addressOrThrow();
    const version: EntryVersion = [this.clock.next(), me.toUUIDString()];
    const wire: EntryWire = [key, value, replCount, version[0], version[1]];
    const deadline = timeout === 0 ? Infinity : Date.now() + timeout;
    for (;;) {
      const view = this.viewOrThrow();
      const owners = this.hash!.owners(key, replCount);
      const rsps = await this.disp.callRemoteMethods(owners, 'store', [[wire], this.stamp!], { timeout: remaining(deadline, `put(${key})`) });
      if (answered(rsps, `put(${key})`, timeout) > 0) break;
      // Every owner left before it answered: place the key again in the view that follows.
      await this.viewAfter(view, deadline);
    }
    // A copy this member kept from before is older than what the owners now have.
    if (!this.owns(key, replCount)) this.dropUnlessNewer(key, version);
  }

  /**
   * The value of `key`: this member's copy if it holds one, else the first copy its owners (then
   * the other members) send; undefined if nobody holds it (or the channel is not connected).
   */
  async get(key: K, timeout = this.timeout): Promise<V | undefined> {
    canonicalKey(key);
    const local = this.entries.get(key);
    if (local !== undefined) return local.value;
    const view = this.view;
    const me = this.channel.getAddress();
    if (view === null || me === null || !this.channel.isConnected()) return undefined;
    // Owners are the first replCount of the key's ranking, whatever replCount it was put with:
    // its first members are owners in any case. Ask them first, everybody else only if they lack it.
    const first = this.hash!.owners(key, this.defaultReplCount).filter((m) => m !== me);
    const rest = view.members.filter((m) => m !== me && !first.includes(m));
    for (const targets of [first, rest]) {
      if (targets.length === 0) continue;
      const rsps = await this.disp.callRemoteMethods<[V] | null>(targets, 'get', [key], { timeout, rspFilter: new FirstCopy() });
      const found = rsps.getFirst();
      if (found) return found[0];
      for (const err of rsps.getErrors().values()) throw err;
    }
    return undefined;
  }

  /**
   * Removes `key` from every member; resolves with whether any member held it.
   * @throws TimeoutError when a member did not answer within `timeout` ms
   * @throws ChannelStateError when the channel is not connected
   */
  async remove(key: K, timeout = this.timeout): Promise<boolean> {
    canonicalKey(key);
    this.viewOrThrow();
    const rsps = await this.disp.callRemoteMethods<boolean>(null, 'remove', [key], { timeout });
    answered(rsps, `remove(${key})`, timeout);
    return rsps.getResults().some((held) => held);
  }

  /** The keys this member holds a copy of now. */
  localKeys(): K[] {
    return [...this.entries.keys()];
  }

  /** Counters, and how many keys this member holds. */
  getStats(): Record<string, number> {
    return { ...this.stats, localKeys: this.entries.size };
  }

  /** Stops serving and calling (waiting calls reject with `ERR_CHANNEL_CLOSED`) and drops the local copies. The channel stays as it is. */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.channel.off('view', this.onView);
    this.channel.off('disconnected', this.onDisconnected);
    this.channel.off('closed', this.onDisconnected);
    this.disp.stop();
    this.forget(new ChannelStateError('ERR_CHANNEL_CLOSED', 'the cache was stopped'));
  }

  // ---- the server side ----

  private onStore(entries: EntryWire[], stamp: ViewStamp): boolean {
    const misplaced: K[] = [];
    const view = this.view;
    // Placed for another view than ours: a view we have not installed yet (then the copy is
    // where it belongs once we do), or one we passed (then we place it again ourselves).
    const behind = view !== null && !sameStamp(stamp, this.stamp!) && stamp[0] <= view.viewId.id;
    for (const [key, value, replCount, time, origin] of entries) {
      this.clock.observe(time);
      const version: EntryVersion = [time, origin];
      const cur = this.entries.get(key as K);
      if (cur === undefined || compareVersions(cur.version, version) < 0) {
        this.entries.set(key as K, { value: value as V, replCount, version, placedIn: stamp });
        this.stats.entriesStored++;
      }
      if (behind) misplaced.push(key as K);
    }
    if (misplaced.length > 0) this.rehome(misplaced);
    return true;
  }

  private onGet(key: CacheKey): [unknown] | null {
    const e = this.entries.get(key as K);
    return e === undefined ? null : [e.value];
  }

  private onRemove(key: CacheKey): boolean {
    return this.entries.delete(key as K);
  }

  private onDrop(drops: DropWire[], stamp: ViewStamp): void {
    // Sent in a view not installed here yet: applied once it is (after this member's own planning).
    if (this.stamp === null || stamp[0] > this.stamp[0]) {
      this.laterDrops.push({ drops, stamp });
      return;
    }
    // Only in the view the key was placed in: in another one, this member's own rebalancing decides.
    if (!sameStamp(stamp, this.stamp)) return;
    for (const [key, time, origin] of drops) {
      const e = this.entries.get(key as K);
      if (e !== undefined && !this.owns(key as K, e.replCount)) this.dropUnlessNewer(key as K, [time, origin]);
    }
  }

  // ---- rebalancing ----

  private readonly onView = (view: View): void => {
    const old = this.view;
    this.install(view);
    for (const w of [...this.viewWaiters]) w();
    if (this.entries.size > 0) this.rebalance(old, view);
    if (this.laterDrops.length > 0) {
      const due = this.laterDrops;
      this.laterDrops = [];
      for (const d of due) this.onDrop(d.drops, d.stamp);
    }
  };

  private install(view: View): void {
    this.view = view;
    this.stamp = [view.viewId.id, view.viewId.creator.toUUIDString()];
    this.hash = new ConsistentHash(view.members);
  }

  /** Plans who sends which key where after the change from `old` to `view`, and sends. */
  private rebalance(old: View | null, view: View): void {
    const me = this.channel.getAddress();
    if (me === null) return;
    this.stats.rebalances++;
    const oldHash = old === null ? null : new ConsistentHash(old.members);
    const handoffs: Handoff<K, V>[] = [];
    for (const [key, entry] of this.entries) {
      if (entry.placedIn !== null && sameStamp(entry.placedIn, this.stamp!)) continue;
      const owners = this.hash!.owners(key, entry.replCount);
      const oldOwners = oldHash?.owners(key, entry.replCount) ?? [];
      if (!oldOwners.includes(me)) {
        // A copy the old placement did not expect here: send it to every owner.
        handoffs.push({ key, entry, targets: owners.filter((m) => m !== me), dropElsewhere: true });
        continue;
      }
      // The old owners still alive hold it; the first of them sends it to the owners that lack it.
      const alive = oldOwners.filter((m) => view.containsMember(m));
      if (alive[0] !== me) continue;
      const targets = owners.filter((m) => !alive.includes(m));
      if (targets.length === 0) continue;
      handoffs.push({ key, entry, targets, dropElsewhere: alive.some((m) => !owners.includes(m)) });
    }
    if (handoffs.length > 0) this.send(handoffs, view);
  }

  /** Keys stored here for a view already gone: sends them to their owners in this view. */
  private rehome(keys: K[]): void {
    const me = this.channel.getAddress();
    const view = this.view;
    if (me === null || view === null) return;
    const handoffs: Handoff<K, V>[] = [];
    for (const key of keys) {
      const entry = this.entries.get(key);
      if (entry === undefined) continue;
      handoffs.push({ key, entry, targets: this.hash!.owners(key, entry.replCount).filter((m) => m !== me), dropElsewhere: true });
    }
    this.send(handoffs, view);
  }

  private send(handoffs: Handoff<K, V>[], view: View): void {
    this.handOff(handoffs, view).catch((err) => this.log.warn(`rebalancing in view ${view.viewId} failed`, err));
  }

  /**
   * Sends each key to its targets (a batch per target); once all of a key's targets have it,
   * drops this member's copy if it is no owner, and tells the others to drop theirs. A batch that
   * timed out is sent again while the view lasts (its target may not have made its cache yet),
   * at most {@link MAX_SENDS} times.
   */
  private async handOff(handoffs: Handoff<K, V>[], view: View): Promise<void> {
    const stamp = this.stamp!;
    const byTarget = new Map<Address, Handoff<K, V>[]>();
    for (const h of handoffs) {
      for (const t of h.targets) {
        const list = byTarget.get(t);
        if (list === undefined) byTarget.set(t, [h]);
        else list.push(h);
      }
    }
    let batches: Batch<K, V>[] = [];
    for (const [target, list] of byTarget) {
      for (let i = 0; i < list.length; i += this.batchSize) batches.push({ target, handoffs: list.slice(i, i + this.batchSize) });
    }
    const failed = new Set<Handoff<K, V>>();
    for (let send = 1; batches.length > 0; send++) {
      const outcomes = await Promise.all(batches.map((b) => this.sendBatch(b, stamp)));
      // A later view has its own rebalancing, which takes over whatever is left.
      if (this.view !== view || this.stopped) return;
      const again: Batch<K, V>[] = [];
      batches.forEach((b, i) => {
        if (outcomes[i] === 'stored') return;
        // Resent only while this member's copy is the one that was sent (not removed nor overwritten since).
        const current = outcomes[i] === 'timeout' && send < MAX_SENDS ? b.handoffs.filter((h) => this.entries.get(h.key) === h.entry) : [];
        for (const h of b.handoffs) if (!current.includes(h)) failed.add(h);
        if (current.length > 0) again.push({ target: b.target, handoffs: current });
      });
      batches = again;
    }
    const drops: DropWire[] = [];
    for (const h of handoffs) {
      if (failed.has(h)) continue;
      if (h.dropElsewhere) drops.push([h.key, h.entry.version[0], h.entry.version[1]]);
      if (!this.owns(h.key, h.entry.replCount)) this.dropUnlessNewer(h.key, h.entry.version);
    }
    for (let i = 0; i < drops.length; i += this.batchSize) {
      await this.disp.callRemoteMethods(null, 'drop', [drops.slice(i, i + this.batchSize), stamp], RequestOptions.ASYNC());
    }
  }

  /** Sends one batch: its target stored it, did not answer in time (worth another try), or failed otherwise (it left, or an error). */
  private async sendBatch(batch: Batch<K, V>, stamp: ViewStamp): Promise<'stored' | 'timeout' | 'failed'> {
    const wires = batch.handoffs.map(({ key, entry }): EntryWire => [key, entry.value, entry.replCount, entry.version[0], entry.version[1]]);
    try {
      await this.disp.callRemoteMethod(batch.target, 'store', [wires, stamp], { timeout: this.timeout });
      this.stats.entriesPushed += wires.length;
      return 'stored';
    } catch (err) {
      this.stats.pushFailures++;
      this.log.debug(`${wires.length} entries did not reach ${batch.target}: ${(err as Error)?.message ?? String(err)}`);
      return err instanceof TimeoutError ? 'timeout' : 'failed';
    }
  }

  // ---- helpers ----

  private owns(key: K, replCount: number): boolean {
    const me = this.channel.getAddress();
    return this.hash !== null && me !== null && this.hash.owners(key, replCount).includes(me);
  }

  /** Drops this member's copy of `key` unless it is newer than `version`. */
  private dropUnlessNewer(key: K, version: EntryVersion): void {
    const e = this.entries.get(key);
    if (e !== undefined && compareVersions(e.version, version) <= 0) {
      this.entries.delete(key);
      this.stats.entriesDropped++;
    }
  }

  /** Resolves once a view other than `view` is installed; rejects at `deadline`, or when the cache stops. */
  private viewAfter(view: View, deadline: number): Promise<void> {
    if (this.view !== view) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const done = (err?: Error) => {
        if (timer !== undefined) clearTimeout(timer);
        this.viewWaiters.delete(done);
        if (err === undefined) resolve();
        else reject(err);
      };
      const timer = deadline === Infinity ? undefined : setTimeout(() => done(new TimeoutError('put: every owner left and no new view came in time')), Math.max(0, deadline - Date.now()));
      this.viewWaiters.add(done);
    });
  }

  private readonly onDisconnected = (): void => {
    // A member that left holds nothing: its copies could be stale by the time it comes back.
    this.forget(new ChannelStateError('ERR_CHANNEL_NOT_CONNECTED', 'the channel disconnected'));
  };

  private forget(err: Error): void {
    this.entries.clear();
    this.laterDrops = [];
    this.view = null;
    this.stamp = null;
    this.hash = null;
    for (const w of [...this.viewWaiters]) w(err);
  }

  private viewOrThrow(): View {
    if (this.stopped) throw new ChannelStateError('ERR_CHANNEL_CLOSED', 'the cache is stopped');
    if (this.view === null || !this.channel.isConnected()) throw new ChannelStateError('ERR_CHANNEL_NOT_CONNECTED', 'the cache needs a connected channel');
    return this.view;
  }

  private addressOrThrow(): Address {
    this.viewOrThrow();
    return this.channel.getAddress()!;
  }
}

/** Accepts the first answer that holds a copy, and then needs no more. */
class FirstCopy implements RspFilter {
  private found = false;
  isAcceptable(value: unknown): boolean {
    if (!Array.isArray(value)) return false;
    this.found = true;
    return true;
  }
  needMoreResponses(): boolean {
    return !this.found;
  }
}

/** How many destinations answered; throws the first error, or a TimeoutError when one did not answer (nor leave). */
function answered(rsps: RspList<unknown>, what: string, timeout: number): number {
  let received = 0;
  const missing: Address[] = [];
  for (const [member, rsp] of rsps) {
    if (rsp.error !== undefined) throw rsp.error;
    if (rsp.received) received++;
    else if (!rsp.suspected) missing.push(member);
  }
  if (missing.length > 0) throw new TimeoutError(`${what}: no answer from ${missing.join(', ')} within ${timeout} ms`);
  return received;
}

/** The time left until `deadline` as a request timeout (0 = no limit). */
function remaining(deadline: number, what: string): number {
  if (deadline === Infinity) return 0;
  const left = deadline - Date.now();
  if (left <= 0) throw new TimeoutError(`${what}: timed out`);
  return left;
}

function sameStamp(a: ViewStamp, b: ViewStamp): boolean {
  return a[0] === b[0] && a[1] === b[1];
}

function checkReplCount(n: number): void {
  if (!Number.isInteger(n) || (n < 1 && n !== -1)) throw bad(`replCount is an integer >= 1, or -1 for every member; got ${n}`);
}

function checkTimeout(ms: number): number {
  if (!Number.isFinite(ms) || ms < 0) throw bad(`a timeout is a number of milliseconds >= 0, got ${ms}`);
  return ms;
}

function bad(message: string): TsgroupsError {
  return new TsgroupsError('ERR_BAD_ARGUMENT', `ReplCache: ${message}`);
}
