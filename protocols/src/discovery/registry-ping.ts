import { Address, Event, EventType, Flag, Message, NameCache, PhysicalAddress, type PropertyDecls, type ScheduledTask } from '@tsgroups/core';
import { tsgroups } from '../generated/headers.js';
import type { FindMembersRequest, PingData } from './ping-data.js';
import { PING, toWire } from './ping.js';

/** One stored entry as a registry store hands it out: its key, its text, and when it was written if the store knows. */
export interface StoredEntry {
  key: string;
  text: string;
  /** When the entry was last written (ms since the epoch) by the store's own clock; else the entry's `time` counts. */
  writtenAt?: number | undefined;
}

/**
 * Where a registry discovery protocol keeps one cluster's entries (a folder, a Redis hash ...):
 * one text per member, under a key named after the member's address. Every method may reject;
 * the protocol counts and logs what fails, except `open`, whose failure fails the connect.
 */
export interface RegistryStore {
  /** Where the entries live, for logs and errors. */
  readonly where: string;
  /** Makes the store ready for writing; rejects if it cannot be used at all. */
  open(): Promise<void>;
  /** Writes (replaces) the entry under `key`. */
  write(key: string, text: string): Promise<void>;
  /** Every entry of the cluster. */
  readAll(): Promise<StoredEntry[]>;
  /** Removes the entry under `key` (nothing if there is none). */
  remove(key: string): Promise<void>;
  /** Releases what `open` took (connections); never rejects. */
  close(): Promise<void>;
}

/** What one member's entry holds (JSON). */
export interface RegistryEntry {
  name?: string | undefined;
  address: string;
  physical?: string | undefined;
  coord: boolean;
  /** When the member wrote it (ms since the epoch, the writer's clock). */
  time?: number;
}

/** Counters of a registry discovery protocol (each protocol names them in its stats). */
export interface RegistryCounts {
  written: number;
  read: number;
  garbage: number;
  staleRemoved: number;
  errors: number;
}

/** An entry's text as the member data it describes, with its time; undefined if it is not an entry. */
export function parseRegistryEntry(text: string): { data: PingData; time: number | undefined } | undefined {
  let e: Partial<RegistryEntry>;
  try {
    e = JSON.parse(text) as Partial<RegistryEntry>;
  } catch {
    return undefined;
  }
  if (e === null || typeof e !== 'object' || typeof e.address !== 'string') return undefined;
  let address: Address;
  try {
    address = Address.parse(e.address);
  } catch {
    return undefined;
  }
  const physical = e.physical === undefined ? undefined : PhysicalAddress.parse(e.physical);
  if (e.physical !== undefined && physical === undefined) return undefined;
  return {
    data: { address, name: typeof e.name === 'string' ? e.name : undefined, isCoord: e.coord === true, viewId: undefined, physical },
    time: typeof e.time === 'number' && Number.isFinite(e.time) ? e.time : undefined,
  };
}

/**
 * Discovery through a shared registry of members (JGroups' FILE_PING family): each member writes
 * its entry (logical name, address, physical address, whether it is coordinator, the time) into
 * its cluster's store at connect, again every `write_interval`, and at once when it becomes
 * coordinator; it removes the entry when it leaves gracefully. A discovery round reads every
 * entry, tells the transport where each listed member is, and sends PING's request by unicast to
 * each of them (and multicasts it as PING does): only members that answer are found, so the
 * entry of a crashed member never makes a joiner believe in a coordinator that is gone. Entries
 * not rewritten for `stale_limit` are not asked, and the coordinator removes those of members
 * outside its view (crashed members).
 *
 * A store that cannot be opened fails the connect (subclasses say how); later failures are
 * counted and logged, a warning when the store stops working and one when it works again (no
 * flood while it is away); entries that do not parse are counted and ignored. The store is
 * touched only at connect, leave, each discovery round and each write_interval, never per message.
 * Subclasses give the store ({@link createStore}) and the names of their counters.
 */
export abstract class RegistryPing extends PING {
  static override readonly properties: PropertyDecls = {
    writeInterval: { type: 'duration', min: 1, description: 'How often a member rewrites its entry (and the coordinator removes stale ones)' },
    staleLimit: { type: 'duration', min: 1, description: 'An entry not rewritten for this long is not asked, and the coordinator removes it if its member is outside the view' },
  };

  writeInterval = 10_000;
  staleLimit = 60_000;

  protected readonly counts: RegistryCounts = { written: 0, read: 0, garbage: 0, staleRemoved: 0, errors: 0 };
  /** The names the counters have in getStats(). */
  protected abstract readonly statNames: Readonly<Record<keyof RegistryCounts, string>>;

  private store: RegistryStore | null = null;
  private ownKey: string | null = null;
  private refresh: ScheduledTask | null = null;
  /** The entries of the last read (others only, fresh ones only). */
  private listed: PingData[] = [];
  /** The last write under way; a leave waits for it, or it could bring the entry back. */
  private lastWrite: Promise<void> = Promise.resolve();
  /** False from a failure until the next success: only the first failure of a run is a warning. */
  private storeWorks = true;

  /** The store of this member's cluster, for a cluster name and this member's key. */
  protected abstract createStore(cluster: string): RegistryStore;
  /** The error connect fails with when the store cannot be opened or written. */
  protected abstract openFailed(store: RegistryStore, err: unknown): Error;

  override getStats(): Record<string, number> {
    const out: Record<string, number> = super.getStats();
    for (const k of Object.keys(this.counts) as (keyof RegistryCounts)[]) out[this.statNames[k]] = this.counts[k];
    return out;
  }

  /** The open store (null when not connected). */
  protected get currentStore(): RegistryStore | null {
    return this.store;
  }

  override async start(): Promise<void> {
    const cluster = this.stack.clusterName;
    const self = this.localAddress;
    if (cluster === null || self === null) return;
    const store = this.createStore(cluster);
    try {
      await store.open();
      this.store = store;
      this.ownKey = self.toUUIDString();
      await this.writeOwn(true);
    } catch (err) {
      this.store = null;
      this.ownKey = null;
      await store.close();
      throw this.openFailed(store, err);
    }
    this.storeWorks = true;
    this.refresh = this.timer.scheduleWithFixedDelay(this.writeInterval, this.writeInterval, () => void this.tick());
  }

  override async stop(): Promise<void> {
    super.stop();
    this.refresh?.cancel();
    this.refresh = null;
    const store = this.store;
    const key = this.ownKey;
    this.ownKey = null;
    this.store = null;
    this.listed = [];
    await this.lastWrite;
    if (store === null) return;
    if (key !== null) await store.remove(key).catch((err: unknown) => this.storeFailed('removing this member\'s entry', err));
    await store.close();
  }

  override downEvent(evt: Parameters<PING['downEvent']>[0]): unknown {
    const wasCoord = this.isCoord();
    const r = super.downEvent(evt);
    // A new coordinator says so in its entry at once (joiners read it).
    if (evt.type === EventType.VIEW_CHANGE && wasCoord !== this.isCoord()) void this.writeOwn(false);
    return r;
  }

  protected override async findMembers(req: FindMembersRequest): Promise<PingData[]> {
    await this.readEntries();
    return super.findMembers(req);
  }

  protected override sendRequest(): void {
    super.sendRequest();
    const self = this.selfData();
    if (self === undefined) return;
    for (const d of this.listed) {
      if (d.name) NameCache.add(d.address, d.name);
      if (d.physical) this.downProt.downEvent(new Event(EventType.ADD_PHYSICAL_ADDRESS, { address: d.address, physical: d.physical, name: d.name }));
      const msg = new Message(d.address)
        .setFlag(Flag.OOB, Flag.DONT_LOOPBACK)
        .putHeader(this.id, { type: tsgroups.protocols.PingHeader.Type.GET_MBRS_REQ, data: toWire(self) });
      try {
        this.downProt.down(msg);
      } catch (err) {
        this.log.debug(`a ${this.name} request to ${d.address} failed: ${String(err)}`);
      }
    }
  }

  /** Writes this member's entry now, and the coordinator removes stale ones (for tests and tools). */
  async refreshNow(): Promise<void> {
    await this.tick();
  }

  // ---- internals ----
  /** Counts a failure; warns on the first of a run of failures, the rest go to debug. */
  protected storeFailed(what: string, err: unknown): void {
    this.counts.errors++;
    const where = this.store?.where ?? 'its store';
    if (this.storeWorks) this.log.warn(`${this.name}: ${what} in ${where} failed (further failures are counted in its stats)`, err);
    else this.log.debug(`${this.name}: ${what} in ${where} failed: ${String(err)}`);
    this.storeWorks = false;
  }

  private storeSucceeded(): void {
    if (!this.storeWorks && this.store !== null) this.log.info(`${this.name}: ${this.store.where} works again`);
    this.storeWorks = true;
  }

  /** Writes this member's entry, after the writes before it (so stop can wait for the last). */
  private writeOwn(rethrow: boolean): Promise<void> {
    const next = this.lastWrite.then(() => this.writeNow(rethrow));
    this.lastWrite = next.catch(() => undefined);
    return next;
  }

  private async writeNow(rethrow: boolean): Promise<void> {
    const store = this.store;
    const key = this.ownKey;
    const self = this.selfData();
    if (store === null || key === null || self === undefined) return;
    const entry: RegistryEntry = {
      name: self.name,
      address: self.address.toUUIDString(),
      physical: self.physical?.toString(),
      coord: self.isCoord,
      time: Date.now(),
    };
    try {
      await store.write(key, JSON.stringify(entry));
      this.counts.written++;
      this.storeSucceeded();
    } catch (err) {
      if (rethrow) throw err;
      this.storeFailed('writing this member\'s entry', err);
    }
  }

  private async tick(): Promise<void> {
    await this.writeOwn(false);
    if (this.isCoord()) await this.removeStale();
  }

  /** Every entry of the store, parsed, with its age; undefined if the store could not be read. */
  private async readParsed(): Promise<{ key: string; data: PingData; age: number | undefined }[] | undefined> {
    const store = this.store;
    if (store === null) return undefined;
    let entries: StoredEntry[];
    try {
      entries = await store.readAll();
      this.storeSucceeded();
    } catch (err) {
      this.storeFailed('reading the entries', err);
      return undefined;
    }
    const now = Date.now();
    const out: { key: string; data: PingData; age: number | undefined }[] = [];
    for (const e of entries) {
      this.counts.read++;
      const p = parseRegistryEntry(e.text);
      if (p === undefined) {
        this.counts.garbage++;
        continue;
      }
      const written = e.writtenAt ?? p.time;
      out.push({ key: e.key, data: p.data, age: written === undefined ? undefined : now - written });
    }
    return out;
  }

  /** Reads the others' fresh entries into `listed`. */
  private async readEntries(): Promise<void> {
    const entries = await this.readParsed();
    if (entries === undefined) return;
    const self = this.localAddress;
    this.listed = entries.filter((e) => e.data.address !== self && !(e.age !== undefined && e.age >= this.staleLimit)).map((e) => e.data);
  }

  /** The coordinator's clean-up: entries of members outside its view not rewritten for stale_limit. */
  private async removeStale(): Promise<void> {
    const view = this.view;
    const entries = await this.readParsed();
    const store = this.store;
    if (entries === undefined || view === null || store === null) return;
    for (const e of entries) {
      if (view.containsMember(e.data.address) || e.age === undefined || e.age < this.staleLimit) continue;
      await store.remove(e.key).then(
        () => {
          this.counts.staleRemoved++;
          this.log.debug(`${this.name}: removed the stale entry of ${e.data.name ?? e.data.address}`);
        },
        (err: unknown) => this.storeFailed(`removing the stale entry ${e.key}`, err),
      );
    }
  }
}
