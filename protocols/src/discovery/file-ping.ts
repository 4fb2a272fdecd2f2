import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, type PropertyDecls } from '@tsgroups/core';
import { ProtocolId } from '../ids.js';
import { type RegistryCounts, RegistryPing, type RegistryStore, type StoredEntry } from './registry-ping.js';

/** A folder name for a cluster name: readable, no separators, never `.` or `..`. */
export function clusterFolderName(cluster: string): string {
  const s = encodeURIComponent(cluster).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
  return s === '.' || s === '..' || s === '' ? `%2E${s.slice(1)}` : s;
}

/** One cluster's folder: one `<key>.json` file per member, its modification time the entry's. */
class FolderStore implements RegistryStore {
  /** Writes started, for unique temporary names. */
  private writes = 0;
  constructor(readonly where: string) {}

  async open(): Promise<void> {
    await mkdir(this.where, { recursive: true });
  }

  /** Writes the file whole (a temporary file renamed over it: readers never see half). */
  async write(key: string, text: string): Promise<void> {
    const file = join(this.where, `${key}.json`);
    const tmp = `${file}.${process.pid}.${++this.writes}.tmp`;
    try {
      await writeFile(tmp, text);
      await rename(tmp, file);
    } catch (err) {
      await rm(tmp, { force: true }).catch(() => undefined);
      throw err;
    }
  }

  async readAll(): Promise<StoredEntry[]> {
    const out: StoredEntry[] = [];
    for (const n of await readdir(this.where)) {
      if (!n.endsWith('.json')) continue; // temporary files of writers, and whatever else lives there
      const path = join(this.where, n);
      const [text, st] = await Promise.all([readFile(path, 'utf8').catch(() => undefined), stat(path).catch(() => undefined)]);
      if (text === undefined) continue; // removed since the listing
      out.push({ key: n.slice(0, -'.json'.length), text, writtenAt: st?.mtimeMs });
    }
    return out;
  }

  async remove(key: string): Promise<void> {
    await rm(join(this.where, `${key}.json`), { force: true });
  }

  async close(): Promise<void> {}
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
 * for `stale_limit` (crashed members). The mechanism is {@link RegistryPing}'s; this class gives
 * it the folder.
 *
 * Errors: a folder that cannot be created or written at connect fails the connect (a clear
 * error naming the folder); later read or write failures are logged and counted (`ioErrors`),
 * and files that are not entries are counted (`garbageFiles`) and ignored. The file system is
 * touched only at connect, leave, each discovery round and each write_interval, never per message.
 */
export class FILE_PING extends RegistryPing {
  static override readonly protocolName = 'FILE_PING';
  static override readonly id: number = ProtocolId.FILE_PING;
  static override readonly properties: PropertyDecls = {
    location: { type: 'string', description: 'The shared folder (one subfolder per cluster); default: <os tmpdir>/tsgroups-file-ping' },
    writeInterval: { type: 'duration', min: 1, description: 'How often a member rewrites its file (and the coordinator removes stale ones)' },
    staleLimit: { type: 'duration', min: 1, description: 'A file of a member outside the view not rewritten for this long is removed by the coordinator (and not asked by joiners)' },
  };

  location = '';

  protected readonly statNames: Readonly<Record<keyof RegistryCounts, string>> = {
    written: 'filesWritten',
    read: 'filesRead',
    garbage: 'garbageFiles',
    staleRemoved: 'staleRemoved',
    errors: 'ioErrors',
  };

  /** The folder of this member's cluster (null when not connected). */
  get clusterFolder(): string | null {
    return this.currentStore?.where ?? null;
  }

  protected createStore(cluster: string): RegistryStore {
    return new FolderStore(join(this.location || join(tmpdir(), 'tsgroups-file-ping'), clusterFolderName(cluster)));
  }

  protected openFailed(store: RegistryStore, err: unknown): Error {
    return new ConfigError('ERR_CONFIG_BAD_VALUE', `FILE_PING cannot write to ${store.where}: ${(err as Error).message}`, {
      source: this.stack.source,
      element: 'FILE_PING',
      attribute: 'location',
    });
  }
}
