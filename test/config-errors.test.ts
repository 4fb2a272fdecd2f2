import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Channel, ConfigError, GMS, MAX_DURATION_MS, SHARED_LOOPBACK, SHARED_LOOPBACK_PING, stackFromXml, UDP } from 'tsgroups';
import { stackPath } from './helpers/cluster.js';

// Every configuration error is raised when the channel is built (new Channel / Channel.fromXml),
// naming the element and attribute at fault: never accepted and failing later at connect.
// Nothing here connects: no socket is opened.

const LOOPBACK = '<SHARED_LOOPBACK/><SHARED_LOOPBACK_PING/>';
const UDP_BASE = (udp = '') => `<UDP ${udp}/><PING/>`;
const config = (inner: string) => `<config>${inner}</config>`;

/** The ConfigError that building a channel on `xml` raises. */
function refused(xml: string): ConfigError {
  let ch: Channel | undefined;
  try {
    ch = Channel.fromXml(xml, 'test.xml');
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  void ch.close();
  throw new Error(`expected a ConfigError for ${xml}`);
}

/** Builds (and closes) a channel on `xml`: the configuration is accepted. */
function accepted(xml: string): void {
  const ch = Channel.fromXml(xml, 'test.xml');
  void ch.close();
}

test('a stack without a membership protocol is refused: it would "connect" without ever having a view', () => {
  const err = refused(config(LOOPBACK));
  expect(err).toMatchObject({ code: 'ERR_STACK_DEPENDENCY', source: 'test.xml', element: 'config' });
  expect(err.message).toMatch(/membership protocol.*GMS/);
  expect(() => new Channel([new SHARED_LOOPBACK(), new SHARED_LOOPBACK_PING()])).toThrow(ConfigError);
  // The stack alone (for unit tests of protocols) may do without GMS.
  expect(() => stackFromXml(config(LOOPBACK))).not.toThrow();
  accepted(config(`${LOOPBACK}<GMS/>`));
});

test('an element nested inside a protocol element is refused, not ignored', () => {
  const err = refused(config(`<UDP><bind_addr>127.0.0.1</bind_addr></UDP><PING/><GMS/>`));
  expect(err).toMatchObject({ code: 'ERR_CONFIG_XML', element: 'bind_addr' });
  expect(err.message).toMatch(/inside <UDP>/);
  expect(refused(config(`${LOOPBACK}<GMS><MERGE3/></GMS>`))).toMatchObject({ code: 'ERR_CONFIG_XML', element: 'MERGE3' });
});

describe('addresses are checked when the stack is built', () => {
  test.each(['banana', '256.1.2.3', '127.0.0.1:7800', '::1', ''])('UDP bind_addr=%j', (value) => {
    const err = refused(config(`${UDP_BASE(`bind_addr="${value}"`)}<GMS/>`));
    expect(err).toMatchObject({ code: 'ERR_CONFIG_BAD_VALUE', element: 'UDP', attribute: 'bind_addr' });
  });

  test.each(['127.0.0.1', 'localhost', 'loopback', 'LOOPBACK'])('UDP bind_addr=%j is accepted', (value) => {
    accepted(config(`${UDP_BASE(`bind_addr="${value}"`)}<GMS/>`));
  });

  test('UDP bind_addr set in code to something unresolvable is refused by the constructor too', () => {
    const udp = new UDP();
    udp.bindAddr = 'banana';
    expect(() => new Channel([udp, new SHARED_LOOPBACK_PING(), new GMS()])).toThrow(
      expect.objectContaining({ code: 'ERR_CONFIG_BAD_VALUE', element: 'UDP', attribute: 'bind_addr' }),
    );
  });

  test.each(['192.0.2.1', '127.0.0.1', 'banana', '240.0.0.1'])('UDP mcast_addr=%j (not multicast)', (value) => {
    const err = refused(config(`${UDP_BASE(`mcast_addr="${value}"`)}<GMS/>`));
    expect(err).toMatchObject({ code: 'ERR_CONFIG_BAD_VALUE', element: 'UDP', attribute: 'mcast_addr' });
  });
});

describe('out-of-range sizes', () => {
  test('FRAG2 frag_size="1G"', () => {
    const err = refused(config(`${LOOPBACK}<GMS/><FRAG2 frag_size="1G"/>`));
    expect(err).toMatchObject({ code: 'ERR_CONFIG_BAD_VALUE', element: 'FRAG2', attribute: 'frag_size' });
  });

  test("FRAG2 frag_size must be below the transport's max_bundle_size", () => {
    const err = refused(config(`${UDP_BASE('max_bundle_size="50K"')}<GMS/><FRAG2 frag_size="50K"/>`));
    expect(err).toMatchObject({ code: 'ERR_CONFIG_BAD_VALUE', element: 'FRAG2', attribute: 'frag_size' });
    expect(err.message).toMatch(/UDP\.max_bundle_size \(50000\)/);
    accepted(config(`${UDP_BASE('max_bundle_size="50K"')}<GMS/><FRAG2 frag_size="49K"/>`));
  });

  test('UDP max_bundle_size above the 65,507-byte UDP datagram limit', () => {
    const err = refused(config(`${UDP_BASE('max_bundle_size="65508"')}<GMS/>`));
    expect(err).toMatchObject({ code: 'ERR_CONFIG_BAD_VALUE', element: 'UDP', attribute: 'max_bundle_size' });
    expect(err.message).toMatch(/at most 65507/);
    accepted(config(`${UDP_BASE('max_bundle_size="65507"')}<GMS/>`));
    accepted(config(`${UDP_BASE()}<GMS/>`)); // the default, 64000
    expect(new UDP().maxBundleSize).toBe(64_000);
  });

  test('UDP socket buffers above what Node takes', () => {
    expect(refused(config(`${UDP_BASE('ucast_recv_buf_size="4G"')}<GMS/>`))).toMatchObject({ element: 'UDP', attribute: 'ucast_recv_buf_size' });
  });
});

describe('numbers are plain decimals', () => {
  test.each(['0x10', '1e3', '10abc', '1.0', 'ten', ''])('GMS max_join_attempts=%j', (value) => {
    const err = refused(config(`${LOOPBACK}<GMS max_join_attempts="${value}"/>`));
    expect(err).toMatchObject({ code: 'ERR_CONFIG_BAD_VALUE', element: 'GMS', attribute: 'max_join_attempts' });
  });

  test('booleans are true or false', () => {
    expect(refused(config(`${UDP_BASE('ip_mcast="yes"')}<GMS/>`))).toMatchObject({ element: 'UDP', attribute: 'ip_mcast' });
  });
});

describe('min/max pairs', () => {
  test('MERGE3 min_interval above max_interval', () => {
    const err = refused(config(`${LOOPBACK}<MERGE3 min_interval="40s" max_interval="30s"/><GMS/>`));
    expect(err).toMatchObject({ code: 'ERR_CONFIG_BAD_VALUE', element: 'MERGE3', attribute: 'min_interval' });
    accepted(config(`${LOOPBACK}<MERGE3 min_interval="30s" max_interval="30s"/><GMS/>`));
  });

  test('FD_ALL3 timeout not above interval', () => {
    const err = refused(config(`${LOOPBACK}<FD_ALL3 interval="10s" timeout="5s"/><GMS/>`));
    expect(err).toMatchObject({ code: 'ERR_CONFIG_BAD_VALUE', element: 'FD_ALL3', attribute: 'timeout' });
    expect(refused(config(`${LOOPBACK}<FD_ALL3 interval="5s" timeout="5s"/><GMS/>`)).attribute).toBe('timeout');
  });

  test('FD_SOCK2 bind_port + port_range beyond 65535', () => {
    const err = refused(config(`${LOOPBACK}<FD_SOCK2 bind_port="65530" port_range="10"/><GMS/>`));
    expect(err).toMatchObject({ code: 'ERR_CONFIG_BAD_VALUE', element: 'FD_SOCK2', attribute: 'port_range' });
  });
});

test('two discovery protocols (or two of any unique service) are refused', () => {
  const err = refused(config(`<SHARED_LOOPBACK/><PING/><SHARED_LOOPBACK_PING/><GMS/>`));
  expect(err).toMatchObject({ code: 'ERR_STACK_DEPENDENCY', element: 'SHARED_LOOPBACK_PING' });
  expect(err.message).toMatch(/SHARED_LOOPBACK_PING and PING both provide "discovery"/);
  // FD_SOCK2 with FD_ALL3 (both failure detection) and MFC with UFC (both flow control) are meant to be combined.
  accepted(config(`${LOOPBACK}<FD_SOCK2/><FD_ALL3/><VERIFY_SUSPECT2/><GMS/><MFC/><UFC/>`));
});

test(`durations above ${MAX_DURATION_MS} ms (2^31-1, what Node's timers take) are refused`, () => {
  const err = refused(config(`${LOOPBACK}<GMS join_timeout="600h"/>`));
  expect(err).toMatchObject({ code: 'ERR_CONFIG_BAD_VALUE', element: 'GMS', attribute: 'join_timeout' });
  expect(refused(config(`${LOOPBACK}<MERGE3 max_interval="${MAX_DURATION_MS + 1}"/><GMS/>`)).attribute).toBe('max_interval');
  accepted(config(`${LOOPBACK}<GMS join_timeout="${MAX_DURATION_MS}"/>`));
});

test('a value set in code after the stack was built is checked again at connect, before anything starts', async () => {
  const ch = Channel.fromXml(config(`${LOOPBACK}<MERGE3/><GMS/>`), 'test.xml');
  try {
    (ch.getProtocolStack().findProtocol('MERGE3') as unknown as { minInterval: number }).minInterval = 60_000;
    await expect(ch.connect('config-errors-late')).rejects.toMatchObject({ code: 'ERR_CONFIG_BAD_VALUE', element: 'MERGE3', attribute: 'min_interval' });
    expect(ch.getState()).toBe('unconnected');
  } finally {
    await ch.close();
  }
});

test('every shipped stack is valid under these checks', () => {
  const dir = dirname(stackPath('udp.xml'));
  const files = readdirSync(dir).filter((f) => f.endsWith('.xml'));
  expect(files.length).toBeGreaterThanOrEqual(3);
  // Variables without a default, which a deployment must set (tcp-dns.xml's DNS name, the secure stacks' key file).
  const keyDir = mkdtempSync(join(tmpdir(), 'tsgroups-config-key-'));
  try {
    const keyFile = join(keyDir, 'cluster.key');
    writeFileSync(keyFile, randomBytes(32).toString('hex'), { mode: 0o600 });
    const required: Record<string, string> = { TSGROUPS_DNS_QUERY: 'members.example.test', TSGROUPS_KEY_FILE: keyFile };
    for (const f of files) {
      const ch = new Channel(stackFromXml(readFileSync(`${dir}/${f}`, 'utf8'), { source: f, env: { ...process.env, ...required } }));
      void ch.close();
    }
  } finally {
    rmSync(keyDir, { recursive: true, force: true });
  }
});

test('tcp-dns.xml without TSGROUPS_DNS_QUERY is refused with an error naming the variable', () => {
  const xml = readFileSync(stackPath('tcp-dns.xml'), 'utf8');
  const env = { ...process.env };
  delete env['TSGROUPS_DNS_QUERY'];
  expect(() => stackFromXml(xml, { source: 'tcp-dns.xml', env })).toThrow(
    expect.objectContaining({ code: 'ERR_CONFIG_MISSING_VARIABLE', message: expect.stringContaining('TSGROUPS_DNS_QUERY') }),
  );
});
