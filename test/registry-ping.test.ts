// RegistryPing, the mechanism FILE_PING and REDIS_PING share, over a store in memory that a test
// can break: entries at connect and leave, garbage and stale entries, listed members that do not
// answer, a store that fails at connect and one that fails (and recovers) while members run.
import {
  Address,
  Channel,
  type LogLevel,
  type ProtocolStack,
  RegistryPing,
  type RegistryCounts,
  type RegistryStore,
  type StoredEntry,
  registerProtocol,
  setLogger,
  ConsoleLogger,
  stackFromXml,
} from 'tsgroups';
import { closeAll, stackXml, uniqueCluster, waitForSameView } from './helpers/cluster.js';
import { waitUntil } from './helpers/wait.js';
import { quickTimings } from './compliance/discovery-compliance.js';

/** The stores of all clusters: cluster -> key -> entry. */
const clusters = new Map<string, Map<string, { text: string; writtenAt: number }>>();
/** While set, every store operation rejects with it. */
let failure: Error | null = null;
const opened: string[] = [];
const closed: string[] = [];

class MemoryStore implements RegistryStore {
  readonly where: string;
  constructor(private readonly cluster: string) {
    this.where = `memory:${cluster}`;
  }
  private entries(): Map<string, { text: string; writtenAt: number }> {
    if (failure) throw failure;
    let m = clusters.get(this.cluster);
    if (m === undefined) clusters.set(this.cluster, (m = new Map()));
    return m;
  }
  async open(): Promise<void> {
    this.entries();
    opened.push(this.cluster);
  }
  async write(key: string, text: string): Promise<void> {
    this.entries().set(key, { text, writtenAt: Date.now() });
  }
  async readAll(): Promise<StoredEntry[]> {
    return [...this.entries()].map(([key, e]) => ({ key, text: e.text, writtenAt: e.writtenAt }));
  }
  async remove(key: string): Promise<void> {
    this.entries().delete(key);
  }
  async close(): Promise<void> {
    closed.push(this.cluster);
  }
}

class MEMORY_PING extends RegistryPing {
  static override readonly protocolName = 'MEMORY_PING';
  static override readonly id = 1511;
  protected readonly statNames: Readonly<Record<keyof RegistryCounts, string>> = {
    written: 'written',
    read: 'read',
    garbage: 'garbage',
    staleRemoved: 'staleRemoved',
    errors: 'errors',
  };
  protected createStore(cluster: string): RegistryStore {
    return new MemoryStore(cluster);
  }
  protected openFailed(store: RegistryStore, err: unknown): Error {
    return new Error(`MEMORY_PING cannot open ${store.where}: ${(err as Error).message}`);
  }
}
registerProtocol(MEMORY_PING);

/** stacks/tcp.xml with MEMORY_PING for TCPPING, quick timings, ports the system picks. */
function memoryStack(): ProtocolStack {
  const xml = stackXml('tcp.xml').replace(
    /<TCPPING[^>]*\/>/,
    '<MEMORY_PING write_interval="200ms" stale_limit="1s" timeout="${TSGROUPS_DISCOVERY_TIMEOUT}"/>',
  );
  return stackFromXml(xml, { source: 'memory-ping.xml', env: { ...quickTimings, TSGROUPS_BIND_PORT: '0', TSGROUPS_PORT_RANGE: '0' } });
}

/** Captures the log lines of the level given, and restores the console logger after. */
function captureLog(level: LogLevel): { lines: string[]; restore(): void } {
  const lines: string[] = [];
  setLogger({ isEnabled: () => true, log: (l, _scope, message) => void (l === level && lines.push(message)) });
  return { lines, restore: () => setLogger(new ConsoleLogger()) };
}

describe('RegistryPing (the mechanism of FILE_PING and REDIS_PING)', () => {
  const channels: Channel[] = [];
  afterEach(async () => {
    failure = null;
    await closeAll(channels.splice(0));
  });
  const open = (name: string) => {
    const ch = new Channel(memoryStack()).setName(name);
    channels.push(ch);
    return ch;
  };
  const mp = (ch: Channel) => ch.getProtocolStack().findProtocol(MEMORY_PING)!;
  const entryOf = (cluster: string, ch: Channel) => {
    const e = clusters.get(cluster)?.get(ch.getAddress()!.toUUIDString());
    return e === undefined ? undefined : (JSON.parse(e.text) as { name: string; address: string; physical: string; coord: boolean; time: number });
  };

  test('an entry is written at connect, marks the coordinator, is removed at leave; the store is closed', async () => {
    const cluster = uniqueCluster('reg');
    const a = open('A');
    const b = open('B');
    await a.connect(cluster);
    await b.connect(cluster);
    await waitForSameView([a, b], 10_000);
    await waitUntil(() => entryOf(cluster, a)?.coord === true && entryOf(cluster, b) !== undefined, 5000, 'both entries');
    const ea = entryOf(cluster, a)!;
    expect(ea).toMatchObject({ name: 'A', address: a.getAddress()!.toUUIDString(), coord: true });
    expect(ea.physical).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(Math.abs(Date.now() - ea.time)).toBeLessThan(60_000);
    expect(entryOf(cluster, b)!.coord).toBe(false);
    const keyA = a.getAddress()!.toUUIDString();
    await a.disconnect();
    expect(clusters.get(cluster)!.has(keyA)).toBe(false);
    expect(closed).toContain(cluster);
    // B took over: its entry says so at once (not only at the next write_interval).
    await waitUntil(() => entryOf(cluster, b)?.coord === true, 5000, 'B registered as coordinator');
  });

  test('a store that cannot be opened fails connect with the subclass\'s error, and is closed', async () => {
    failure = new Error('store down');
    const closedBefore = closed.length;
    const a = open('A');
    await expect(a.connect(uniqueCluster('reg'))).rejects.toThrow(/MEMORY_PING cannot open memory:.*store down/);
    expect(closed.length).toBe(closedBefore + 1);
  });

  test('garbage entries are counted and ignored; stale entries are not asked and the coordinator removes them; a listed member that does not answer is not found', async () => {
    const cluster = uniqueCluster('reg');
    const store = new Map<string, { text: string; writtenAt: number }>();
    clusters.set(cluster, store);
    store.set('garbage', { text: 'not json', writtenAt: Date.now() });
    const stale = Address.random();
    const fresh = Address.random();
    // Both claim to be coordinator; neither answers (nothing listens on port 1).
    const ghost = (a: Address, name: string) => JSON.stringify({ name, address: a.toUUIDString(), physical: '127.0.0.1:1', coord: true });
    store.set(stale.toUUIDString(), { text: ghost(stale, 'stale'), writtenAt: Date.now() - 60_000 });
    store.set(fresh.toUUIDString(), { text: ghost(fresh, 'fresh'), writtenAt: Date.now() + 60_000 });
    const a = open('A');
    await a.connect(cluster);
    expect(a.getView()!.getCoord()).toBe(a.getAddress()); // the ghosts did not answer: a group of its own
    expect(mp(a).getStats().garbage).toBeGreaterThan(0);
    await waitUntil(() => mp(a).getStats().staleRemoved >= 1, 5000, 'the stale entry removed');
    expect(store.has(stale.toUUIDString())).toBe(false);
    expect(store.has(fresh.toUUIDString())).toBe(true); // not stale: its member may still come
    expect(store.has('garbage')).toBe(true); // not an entry: left alone
    const b = open('B');
    await b.connect(cluster);
    await waitForSameView([a, b], 10_000);
    expect(b.getView()!.getCoord()).toBe(a.getAddress());
  });

  test('a store that fails while members run: the view and traffic stay, failures are counted and warned about once, and members register again when it works', async () => {
    const cluster = uniqueCluster('reg');
    const a = open('A');
    const b = open('B');
    await a.connect(cluster);
    await b.connect(cluster);
    await waitForSameView([a, b], 10_000);
    const log = captureLog('warn');
    const info = { lines: [] as string[] };
    try {
      failure = new Error('store down');
      clusters.delete(cluster); // the store lost everything
      await waitUntil(() => mp(a).getStats().errors >= 5 && mp(b).getStats().errors >= 5, 10_000, 'failures counted');
      expect(log.lines.filter((l) => l.includes('MEMORY_PING')).length).toBe(2); // one per member, not one per failure
      const got: string[] = [];
      b.on('message', (m) => got.push(m.getObject<string>()));
      await a.send(null, 'still here');
      await waitUntil(() => got.includes('still here'), 5000, 'traffic without the store');
      expect(a.getView()!.size()).toBe(2);
      setLogger({ isEnabled: () => true, log: (l, _s, m) => void (l === 'info' && info.lines.push(m)) });
      failure = null;
      await waitUntil(() => entryOf(cluster, a) !== undefined && entryOf(cluster, b) !== undefined, 5000, 'both registered again');
      expect(entryOf(cluster, a)!.coord).toBe(true);
      await waitUntil(() => info.lines.some((l) => l.includes('works again')), 5000, 'the recovery logged');
    } finally {
      log.restore();
    }
    const c = open('C');
    await c.connect(cluster);
    await waitForSameView([a, b, c], 10_000);
  });
});
