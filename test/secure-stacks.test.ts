// stacks/udp-secure.xml and tcp-secure.xml: udp.xml and tcp.xml with SYM_ENCRYPT right above the
// transport and AUTH right below GMS, both reading TSGROUPS_KEY_FILE. Members holding the key form
// a view and exchange messages exactly once, in order; a member with another key, or without the
// secure stack, cannot join (refused at connect, or founds a group of its own) and the cluster's
// view never changes; without TSGROUPS_KEY_FILE the stack is refused, naming the variable.
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AUTH, Channel, type ProtocolStack, SecurityError, stackFromXml, SYM_ENCRYPT } from 'tsgroups';
import { reservePorts } from './compliance/reserve-ports.js';
import { closeAll, Recorder, stackXml, uniqueCluster, waitForSameView } from './helpers/cluster.js';
import { waitUntil } from './helpers/wait.js';

const quick = { TSGROUPS_FD_INTERVAL: '500ms', TSGROUPS_FD_TIMEOUT: '3s', TSGROUPS_MERGE_MIN_INTERVAL: '1s', TSGROUPS_MERGE_MAX_INTERVAL: '2s', TSGROUPS_DISCOVERY_TIMEOUT: '500ms' };
const elements = (xml: string) => [...xml.replace(/<!--[\s\S]*?-->/g, '').matchAll(/<([A-Z][A-Z0-9_]*)\b/g)].map((m) => m[1]!);

let dir = '';
const channels: Channel[] = [];
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tsgroups-secure-stacks-'));
});
afterEach(async () => {
  await closeAll(channels.splice(0));
  await rm(dir, { recursive: true, force: true });
});

async function keyFile(name: string): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, `${randomBytes(32).toString('hex')}\n`, { mode: 0o600 });
  return path;
}

interface Medium {
  file: string;
  plain: string;
  /** Environment of member i of `n` (ports reserved per test). */
  env(n: number): Promise<(i: number) => Record<string, string>>;
}
const media: Medium[] = [
  {
    file: 'udp-secure.xml',
    plain: 'udp.xml',
    env: async () => {
      const group = { TSGROUPS_MCAST_ADDR: `239.${2 + Math.floor(Math.random() * 200)}.${Math.floor(Math.random() * 256)}.${1 + Math.floor(Math.random() * 254)}`, TSGROUPS_MCAST_PORT: String(20_000 + Math.floor(Math.random() * 40_000)) };
      return () => ({ ...quick, ...group });
    },
  },
  {
    file: 'tcp-secure.xml',
    plain: 'tcp.xml',
    env: async (n) => {
      const ports = await reservePorts(n);
      const hosts = ports.map((p) => `127.0.0.1[${p}]`).join(',');
      return (i) => ({ ...quick, TSGROUPS_BIND_PORT: String(ports[i]), TSGROUPS_PORT_RANGE: '0', TSGROUPS_INITIAL_HOSTS: hosts, TSGROUPS_INITIAL_PORT_RANGE: '0' });
    },
  },
];

describe.each(media)('$file', (medium) => {
  const stack = (file: string, env: Record<string, string>): ProtocolStack => stackFromXml(stackXml(file), { source: file, env: { ...process.env, ...env } });

  test('is its plain stack with SYM_ENCRYPT right above the transport and AUTH right below GMS', () => {
    const plain = elements(stackXml(medium.plain));
    const expected = [...plain];
    expected.splice(1, 0, 'SYM_ENCRYPT');
    expected.splice(expected.indexOf('GMS'), 0, 'AUTH');
    expect(elements(stackXml(medium.file))).toEqual(expected);
  });

  test('members with the key form a view, multicasts and unicasts arrive exactly once in order; another key or the plain stack cannot join', async () => {
    const key = await keyFile('cluster.key');
    const envOf = await medium.env(5);
    const cluster = uniqueCluster('secure');
    const chs: Channel[] = [];
    const recs: Recorder[] = [];
    for (const [i, name] of ['A', 'B', 'C'].entries()) {
      const ch = new Channel(stack(medium.file, { ...envOf(i), TSGROUPS_KEY_FILE: key })).setName(name);
      channels.push(ch);
      chs.push(ch);
      recs.push(new Recorder(ch));
      await ch.connect(cluster);
    }
    const view = await waitForSameView(chs, 10_000);
    for (let k = 0; k < 100; k++) for (const ch of chs) void ch.send(null, `${ch.getName()}:${k}`);
    for (const ch of chs) void ch.send(chs[0]!.getAddress()!, `to A from ${ch.getName()}`);
    await waitUntil(() => recs.every((r, i) => r.messages.length >= 300 + (i === 0 ? 3 : 0)), 20_000, 'every message');
    for (const [i, r] of recs.entries()) {
      const got = r.messages.map((m) => m.getObject<string>());
      expect(got).toHaveLength(300 + (i === 0 ? 3 : 0));
      for (const ch of chs) expect(got.filter((t) => t.startsWith(`${ch.getName()}:`))).toEqual(Array.from({ length: 100 }, (_, k) => `${ch.getName()}:${k}`));
    }
    const sym = (ch: Channel) => ch.getProtocolStack().findProtocol(SYM_ENCRYPT)!.getStats();

    // Another key: its datagrams fail authentication at the members; it never reaches the coordinator's AUTH.
    const other = new Channel(stack(medium.file, { ...envOf(3), TSGROUPS_KEY_FILE: await keyFile('other.key') })).setName('X');
    channels.push(other);
    await other.connect(cluster).catch((err: unknown) => expect(err).toBeInstanceOf(SecurityError));
    expect(other.getView()?.containsMember(chs[0]!.getAddress()!) ?? false).toBe(false);
    await waitUntil(() => chs.some((ch) => sym(ch)['authFailures']! > 0), 10_000, 'the outsider\'s datagrams refused');

    // The plain stack: its datagrams are not encrypted, so refused as such.
    const plain = new Channel(stack(medium.plain, envOf(4))).setName('P');
    channels.push(plain);
    await plain.connect(cluster).catch((err: unknown) => expect(err).toBeInstanceOf(SecurityError));
    expect(plain.getView()?.containsMember(chs[0]!.getAddress()!) ?? false).toBe(false);
    await waitUntil(() => chs.some((ch) => sym(ch)['unencrypted']! > 0), 10_000, 'the plain member\'s datagrams refused');

    for (const ch of chs) expect(ch.getView()!.viewId.equals(view.viewId)).toBe(true);
    expect(chs[0]!.getProtocolStack().findProtocol(AUTH)).toBeDefined();
  }, 60_000);

  test('without TSGROUPS_KEY_FILE the stack is refused, naming the variable', () => {
    const env: Record<string, string | undefined> = { ...process.env };
    delete env['TSGROUPS_KEY_FILE'];
    delete env['TSGROUPS_AUTH_SECRET_FILE'];
    expect(() => stackFromXml(stackXml(medium.file), { source: medium.file, env })).toThrow(/TSGROUPS_KEY_FILE/);
  });
});
