// The facade's shipped stacks, in the workspace (pack-install.test.ts checks the same from an
// installed package): bare names resolve to packages/tsgroups/stacks, new Channel() is udp.xml,
// a string is never taken for XML text.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Channel, type ConfigError, shippedStackNames } from 'tsgroups';
import { closeAll, uniqueCluster, waitForSameView } from '../helpers/cluster.js';

const shipped = fileURLToPath(new URL('../../packages/tsgroups/stacks/', import.meta.url));
const repoStacks = fileURLToPath(new URL('../../stacks/', import.meta.url));

function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    return err as ConfigError;
  }
  throw new Error('expected a ConfigError');
}

let channels: Channel[] = [];
afterEach(async () => {
  await closeAll(channels);
  channels = [];
});

test('the shipped stacks are the repository stacks, copied into the package', () => {
  expect(shippedStackNames()).toEqual(expect.arrayContaining(['udp.xml', 'tcp.xml', 'tcp-file.xml', 'tcp-redis.xml', 'tcp-dns.xml', 'udp-secure.xml', 'tcp-secure.xml', 'loopback.xml', 'loopback-reliable.xml', 'sequencer.xml']));
  for (const name of shippedStackNames()) {
    expect(readFileSync(`${shipped}${name}`, 'utf8')).toBe(readFileSync(`${repoStacks}${name}`, 'utf8'));
  }
});

test('bare names and new Channel() resolve to the package stacks', async () => {
  const udp = new Channel('udp.xml');
  const dflt = new Channel();
  channels.push(udp, dflt);
  expect(udp.getProtocolStack().source).toBe(`${shipped}udp.xml`);
  expect(dflt.getProtocolStack().source).toBe(`${shipped}udp.xml`);
  expect(udp.getProtocolStack().getTransport().name).toBe('UDP');

  const a = new Channel('loopback.xml').setName('A');
  const b = new Channel('loopback.xml').setName('B');
  channels.push(a, b);
  expect(a.getProtocolStack().source).toBe(`${shipped}loopback.xml`);
  const cluster = uniqueCluster('names');
  await a.connect(cluster);
  await b.connect(cluster);
  await waitForSameView([a, b], 5000);
});

test('an unknown name is ERR_CONFIG_STACK_NOT_FOUND naming the path tried and the shipped stacks', () => {
  const err = configError(() => new Channel('udp-typo.xml'));
  expect(err.code).toBe('ERR_CONFIG_STACK_NOT_FOUND');
  expect(err.message).toContain(`${process.cwd()}/udp-typo.xml`);
  expect(err.message).toMatch(/shipped stacks: .*loopback\.xml.*udp\.xml/);
});

test('XML text given to the constructor is refused with a pointer to Channel.fromXml', () => {
  const xml = readFileSync(`${shipped}loopback.xml`, 'utf8');
  const err = configError(() => new Channel(xml));
  expect(err.code).toBe('ERR_CONFIG_STACK_NOT_FOUND');
  expect(err.message).toContain('Channel.fromXml');
  const ch = Channel.fromXml(xml, 'loopback text');
  channels.push(ch);
  expect(ch.getProtocolStack().source).toBe('loopback text');
  const byName = new Channel('loopback.xml');
  channels.push(byName);
  expect(ch.getProtocolStack().printProtocolSpec()).toBe(byName.getProtocolStack().printProtocolSpec());
});
