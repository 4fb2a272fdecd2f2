import { createHash } from 'node:crypto';
import { type Channel, ReplicatedHashMap } from 'tsgroups';

/** What a member's map part prints, one JSON object per line (besides `name` and `t`). */
export type MapEvent =
  /** After `map start`, `map put` or `map show`: the map here, its size and {@link mapDigest}; `elapsedMs` of the start or the puts. */
  { event: 'map'; op: 'start' | 'put' | 'show'; size: number; digest: string; count?: number; elapsedMs?: number };

/** Writes a `map put` keeps in flight at once. */
const IN_FLIGHT = 16;

/** A short digest of a map's entries, whatever order they were written in: equal maps, equal digests. */
export function mapDigest(entries: Iterable<[string, number]>): string {
  const sorted = [...entries].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return createHash('sha256').update(JSON.stringify(sorted)).digest('hex').slice(0, 12);
}

/**
 * The replicated-map part of `tsgroups member`: a ReplicatedHashMap on the member's channel (its
 * own dispatcher id, REPLICATED_HASH_MAP_ID, apart from the member's other dispatchers), and the
 * `map` command: `map start` fetches the map by state transfer, `map put PREFIX N` writes the keys
 * PREFIX-0 .. PREFIX-(N-1) (sync, {@link IN_FLIGHT} at a time), `map show` prints the map's
 * size and digest. Each prints a `map` line when done.
 */
export class MemberMap {
  readonly map: ReplicatedHashMap<string, number>;

  constructor(
    channel: Channel,
    private readonly out: (ev: MapEvent) => void,
  ) {
    this.map = new ReplicatedHashMap<string, number>(channel, { timeout: 10_000 });
  }

  /** Runs the `map` command `arg`. @throws the map's errors (the member prints them as `error` lines) */
  async command(arg: string): Promise<void> {
    const [op = '', ...rest] = arg.split(/\s+/);
    const t0 = performance.now();
    if (op === 'start') {
      await this.map.start(10_000);
      this.print('start', { elapsedMs: Math.round(performance.now() - t0) });
    } else if (op === 'put') {
      const [prefix = '', n = ''] = rest;
      const count = Number(n);
      if (prefix === '' || !Number.isSafeInteger(count) || count < 0) throw new Error(`map put PREFIX N: got "${arg}"`);
      let next = 0;
      const writer = async () => {
        while (next < count) {
          const i = next++;
          await this.map.put(`${prefix}-${i}`, i);
        }
      };
      await Promise.all(Array.from({ length: Math.min(IN_FLIGHT, count) }, writer));
      this.print('put', { count, elapsedMs: Math.round(performance.now() - t0) });
    } else if (op === 'show') {
      this.print('show', {});
    } else {
      throw new Error(`map start | put PREFIX N | show: got "${arg}"`);
    }
  }

  stop(): void {
    this.map.stop();
  }

  private print(op: MapEvent['op'], extra: { count?: number; elapsedMs?: number }): void {
    this.out({ event: 'map', op, size: this.map.size, digest: mapDigest(this.map.entries()), ...extra });
  }
}
