import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Address, Event, EventType, Flag, Message, NameCache, PhysicalAddress, type PropertyDecls, type ScheduledTask, ConfigError } from '@tsgroups/core';
import { tsgroups } from '../generated/headers.js';
import { ProtocolId } from '../ids.js';
import type { FindMembersRequest, PingData } from './ping-data.js';
import { PING, toWire } from './ping.js';

/** What one member's file holds (JSON). */
interface FileEntry {
  name?: string;
  address: string;
  physical?: string;
  coord: boolean;
}

/** A folder name for a cluster name: readable, no separators, never `.` or `..`. */
export function clusterFolderName(cluster: string): string {
  const s = encodeURIComponent(cluster).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
  return s === '.' || s === '..' || s === '' ? `%2E${s.slice(1)}` : s;
}

/** The entry a file's text describes, or undefined if it is not one. */
function parseEntry(text: string): PingData | undefined {
  let e: Partial<FileEntry>;
  try {
    e = JSON.parse(text) as Partial<FileEntry>;
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
  return { address, name: typeof e.name === 'string' ? e.name : undefined, isCoord: e.coord === true, viewId: undefined, physical };
}

/**
 * Discovery through a shared folder, as JGroups' FILE_PING: each member writes one file, named
 * after its address, into `location`/<cluster>/ (its logical name, address, physical address and
 * whether it is coordinator), at connect and again every `write_interval`, and removes it when
 * it leaves gracefully. A discovery round reads the folder, tells the transport where each
 * member listed is, and sends PING's request by unicast to each of them (and multicasts it as
 * PING does): only members that answer are found, so the file of a crashed member never makes a
 * joiner believe in a coordinator that is gone. It works over TCP, and over UDP without
 * multicast. The coordinator removes files of members outside its view that were not refreshed
 * for `stale_limit` (crashed members).
 *
 * Errors: a folder that cannot be created or written at connect fails the connect (a clear
 * error naming the folder); later read or write failures are logged and counted, and files that
 * are not entries are counted and ignored. The file system is touched only at connect, leave,
 * each discovery round and each write_interval, never per message.
 */
export class FILE_PING extends PING {
  static override readonly protocolName = 'FILE_PING';
  static override readonly id: number = ProtocolId.FILE_PING;
  static override readonly properties: PropertyDecls = {
    location: { type: 'string', description: 'The shared folder (one subfolder per cluster); default: <os tmpdir>/tsgroups-file-ping' },
    writeInterval: { type: 'duration', description: 'How often a member rewrites its file (and the coordinator removes stale ones)' },
    staleLimit: { type: 'duration', description: 'A file of a member outside the view not rewritten for this long is removed by the coordinator' },
  };

  location = '';
  writeInterval = 10_000;
  staleLimit = 60_000;

  readonly fileStats = { filesWritten: 0, filesRead: 0, garbageFiles: 0, staleRemoved: 0, ioErrors: 0 };

  private folder: string | null = null;
  private ownFile: string | null = null;
  private refresh: ScheduledTask | null = null;
  /** The entries of the last read of the folder (others only). */
  private listed: PingData[] = [];
  /** Writes started, for unique temporary names. */
  private writes = 0;
  /** The last write under way; a leave waits for it, or it could bring the file back. */
  private lastWrite: Promise<void> = Promise.resolve();

  override getStats(): Record<string, number> {
    return { ...super.getStats(), ...this.fileStats };
  }

  /** The folder of this member's cluster (null when not connected). */
  get clusterFolder(): string | null {
    return this.folder;
  }

  override async start(): Promise<void> {
    const cluster = this.stack.clusterName;
    const self = this.localAddress;
    if (cluster === null || self === null) return;
    const folder = join(this.location || join(tmpdir(), 'tsgroups-file-ping'), clusterFolderName(cluster));
    try {
      await mkdir(folder, { recursive: true });
      this.folder = folder;
      this.ownFile = join(folder, `${self.toUUIDString()}.json`);
      await this.writeOwn(true);
    } catch (err) {
      this.folder = null;
      this.ownFile = null;
      throw new ConfigError('ERR_CONFIG_BAD_VALUE', `FILE_PING cannot write to ${folder}: ${(err as Error).message}`, {
        source: this.stack.source,
        element: 'FILE_PING',
        attribute: 'location',
      });
    }
    this.refresh = this.timer.scheduleWithFixedDelay(this.writeInterval, this.writeInterval, () => void this.tick());
  }

  override async stop(): Promise<void> {
    super.stop();
    this.refresh?.cancel();
    this.refresh = null;
    const file = this.ownFile;
    this.ownFile = null;
    this.folder = null;
    this.listed = [];
    await this.lastWrite;
    if (file !== null) await rm(file, { force: true }).catch((err: unknown) => this.ioFailed('removing this member\'s file', err));
  }

  override downEvent(evt: Parameters<PING['downEvent']>[0]): unknown {
    const wasCoord = this.isCoord();
    const r = super.downEvent(evt);
    // A new coordinator says so in its file at once (joiners read it).
    if (evt.type === EventType.VIEW_CHANGE && wasCoord !== this.isCoord()) void this.writeOwn(false);
    return r;
  }

  protected override async findMembers(req: FindMembersRequest): Promise<PingData[]> {
    await this.readFolder();
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
        this.log.debug(`a FILE_PING request to ${d.address} failed: ${String(err)}`);
      }
    }
  }

  // ---- internals ----
  private ioFailed(what: string, err: unknown): void {
    this.fileStats.ioErrors++;
    this.log.warn(`FILE_PING: ${what} failed`, err);
  }

  /** Writes this member's file, after the writes before it (so stop can wait for the last). */
  private writeOwn(rethrow: boolean): Promise<void> {
    const next = this.lastWrite.then(() => this.writeNow(rethrow));
    this.lastWrite = next.catch(() => undefined);
    return next;
  }

  /** Writes this member's file whole (a temporary file renamed over it: readers never see half). */
  private async writeNow(rethrow: boolean): Promise<void> {
    const file = this.ownFile;
    const self = this.selfData();
    if (file === null || self === undefined) return;
    const entry: FileEntry = { name: self.name, address: self.address.toUUIDString(), physical: self.physical?.toString(), coord: self.isCoord };
    const tmp = `${file}.${process.pid}.${++this.writes}.tmp`;
    try {
      await writeFile(tmp, JSON.stringify(entry));
      await rename(tmp, file);
      this.fileStats.filesWritten++;
    } catch (err) {
      await rm(tmp, { force: true }).catch(() => undefined);
      if (rethrow) throw err;
      this.ioFailed(`writing ${file}`, err);
    }
  }

  private async tick(): Promise<void> {
    await this.writeOwn(false);
    if (this.isCoord()) await this.removeStale();
  }

  /** Reads every member's file of the folder into `listed`. */
  private async readFolder(): Promise<void> {
    const folder = this.folder;
    if (folder === null) return;
    const found: PingData[] = [];
    let names: string[];
    try {
      names = await readdir(folder);
    } catch (err) {
      this.ioFailed(`reading ${folder}`, err);
      return;
    }
    for (const n of names) {
      if (!n.endsWith('.json')) continue; // temporary files of writers, and whatever else lives there
      const text = await readFile(join(folder, n), 'utf8').catch(() => undefined);
      if (text === undefined) continue; // removed since the listing
      this.fileStats.filesRead++;
      const d = parseEntry(text);
      if (d === undefined) {
        this.fileStats.garbageFiles++;
        continue;
      }
      if (d.address !== this.localAddress) found.push(d);
    }
    this.listed = found;
  }

  /** The coordinator's clean-up: files of members outside its view not rewritten for stale_limit. */
  private async removeStale(): Promise<void> {
    const folder = this.folder;
    const view = this.view;
    if (folder === null || view === null) return;
    let names: string[];
    try {
      names = await readdir(folder);
    } catch (err) {
      this.ioFailed(`reading ${folder}`, err);
      return;
    }
    const now = Date.now();
    for (const n of names) {
      if (!n.endsWith('.json')) continue;
      const path = join(folder, n);
      const text = await readFile(path, 'utf8').catch(() => undefined);
      const d = text === undefined ? undefined : parseEntry(text);
      if (d === undefined || view.containsMember(d.address)) continue;
      const st = await stat(path).catch(() => undefined);
      if (st === undefined || now - st.mtimeMs < this.staleLimit) continue;
      await rm(path, { force: true }).then(
        () => {
          this.fileStats.staleRemoved++;
          this.log.debug(`FILE_PING: removed the stale entry of ${d.name ?? d.address}`);
        },
        (err: unknown) => this.ioFailed(`removing ${path}`, err),
      );
    }
  }
}
