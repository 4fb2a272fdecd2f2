// FILE_PING over TCP (stacks/tcp-file.xml) against the discovery compliance suite (a temporary
// folder per test, removed after), and FILE_PING's own cases:
// its file at connect and leave, garbage files, stale entries, a folder it cannot write.
import { mkdtemp, readdir, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Address, Channel, FILE_PING, type ProtocolStack, stackFromXml } from 'tsgroups';
import { closeAll, stackXml, uniqueCluster, waitForSameView } from '../helpers/cluster.js';
import { waitUntil } from '../helpers/wait.js';
import { discoveryCompliance, quickTimings } from './discovery-compliance.js';

/** stacks/tcp-file.xml on `location`, quick timings; members listen on ports the system picks. */
function filePingStack(location: string): ProtocolStack {
  return stackFromXml(stackXml('tcp-file.xml'), {
    source: 'tcp-file.xml',
    env: {
      ...quickTimings,
      TSGROUPS_BIND_PORT: '0',
      TSGROUPS_PORT_RANGE: '0',
      TSGROUPS_FILE_PING_LOCATION: location,
      TSGROUPS_FILE_PING_WRITE_INTERVAL: '500ms',
      TSGROUPS_FILE_PING_STALE_LIMIT: '2s',
    },
  });
}

discoveryCompliance('FILE_PING', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'tsgroups-file-ping-test-'));
  return { stack: () => filePingStack(dir), teardown: () => rm(dir, { recursive: true, force: true }) };
});

describe('FILE_PING', () => {
  let dir = '';
  const channels: Channel[] = [];
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tsgroups-file-ping-test-'));
  });
  afterEach(async () => {
    await closeAll(channels.splice(0));
    await rm(dir, { recursive: true, force: true });
  });
  const open = (name: string) => {
    const ch = new Channel(filePingStack(dir)).setName(name);
    channels.push(ch);
    return ch;
  };
  const fp = (ch: Channel) => ch.getProtocolStack().findProtocol(FILE_PING)!;

  test('a member writes its file at connect (name, address, physical address, coordinator) and removes it when it leaves', async () => {
    const a = open('A');
    await a.connect(uniqueCluster('fp'));
    const folder = fp(a).clusterFolder!;
    const files = (await readdir(folder)).filter((f) => f.endsWith('.json'));
    expect(files).toEqual([`${a.getAddress()!.toUUIDString()}.json`]);
    await waitUntil(() => fp(a).getStats().filesWritten >= 2, 5000, 'the coordinator flag rewritten');
    await a.disconnect();
    expect((await readdir(folder)).filter((f) => f.endsWith('.json'))).toEqual([]);
  });

  test('garbage files are counted and ignored; the coordinator removes stale entries of members outside its view', async () => {
    const cluster = uniqueCluster('fp');
    const a = open('A');
    await a.connect(cluster);
    const folder = fp(a).clusterFolder!;
    await writeFile(join(folder, 'garbage.json'), 'not json');
    const ghost = Address.random();
    const ghostFile = join(folder, `${ghost.toUUIDString()}.json`);
    await writeFile(ghostFile, JSON.stringify({ name: 'ghost', address: ghost.toUUIDString(), physical: '127.0.0.1:1', coord: true }));
    const old = new Date(Date.now() - 60_000);
    await utimes(ghostFile, old, old);
    const b = open('B');
    await b.connect(cluster);
    await waitForSameView([a, b], 10_000);
    expect(fp(b).getStats().garbageFiles).toBeGreaterThan(0);
    await waitUntil(() => fp(a).getStats().staleRemoved >= 1, 5000, 'the stale entry removed');
    const left = await readdir(folder);
    expect(left).not.toContain(`${ghost.toUUIDString()}.json`);
    expect(left).toContain('garbage.json');
  });

  test('stacks/tcp-file.xml is tcp.xml with FILE_PING in place of TCPPING', () => {
    const names = (xml: string) => [...xml.replace(/<!--[\s\S]*?-->/g, '').matchAll(/<([A-Z][A-Z0-9_]*)\b/g)].map((m) => m[1]);
    expect(names(stackXml('tcp-file.xml'))).toEqual(names(stackXml('tcp.xml')).map((n) => (n === 'TCPPING' ? 'FILE_PING' : n)));
  });

  test('a location that cannot be written fails connect with an error naming the folder', async () => {
    const blocker = join(dir, 'a-file');
    await writeFile(blocker, 'x');
    const ch = new Channel(filePingStack(join(blocker, 'sub')));
    channels.push(ch);
    await expect(ch.connect(uniqueCluster('fp'))).rejects.toThrow(/FILE_PING cannot write to .*a-file/);
  });
});
