// The tests' own DNS server (test/helpers/dns-server.ts), queried with Node's resolver.
import { createSocket } from 'node:dgram';
import { Resolver } from 'node:dns/promises';
import { TestDnsServer } from './helpers/dns-server.js';
import { waitUntil } from './helpers/wait.js';

describe('TestDnsServer', () => {
  let server: TestDnsServer;
  let resolver: Resolver;
  beforeEach(async () => {
    server = await TestDnsServer.start();
    resolver = new Resolver({ timeout: 2000, tries: 1 });
    resolver.setServers([server.address]);
  });
  afterEach(async () => {
    resolver.cancel();
    await server.close();
  });

  test('answers A, AAAA and SRV questions from its table', async () => {
    server.set('svc.test', {
      A: ['127.0.0.1', '127.0.0.2'],
      AAAA: ['::1', 'fe80::1:2', '2001:db8:0:0:1:0:0:1'],
      SRV: [{ target: 'a.svc.test', port: 7800 }, { target: 'b.svc.test', port: 7801, priority: 1, weight: 5 }],
    });
    expect(await resolver.resolve4('svc.test')).toEqual(['127.0.0.1', '127.0.0.2']);
    expect(await resolver.resolve6('SVC.test')).toEqual(['::1', 'fe80::1:2', '2001:db8::1:0:0:1']);
    expect(await resolver.resolveSrv('svc.test')).toEqual([
      { name: 'a.svc.test', port: 7800, priority: 0, weight: 0 },
      { name: 'b.svc.test', port: 7801, priority: 1, weight: 5 },
    ]);
    expect(server.queryCount('svc.test', 'A')).toBe(1);
    expect(server.queryCount('svc.test', 'AAAA')).toBe(1);
    expect(server.queryCount('svc.test', 'SRV')).toBe(1);
  });

  test('an unknown name is NXDOMAIN, a known name without records of the type is NODATA', async () => {
    server.set('only-a.test', { A: ['127.0.0.1'] });
    await expect(resolver.resolve4('nobody.test')).rejects.toMatchObject({ code: 'ENOTFOUND' });
    await expect(resolver.resolveSrv('only-a.test')).rejects.toMatchObject({ code: 'ENODATA' });
  });

  test('the table can change while it runs', async () => {
    server.set('svc.test', { A: ['127.0.0.1'] });
    expect(await resolver.resolve4('svc.test')).toEqual(['127.0.0.1']);
    server.set('svc.test', { A: ['127.0.0.3'] });
    expect(await resolver.resolve4('svc.test')).toEqual(['127.0.0.3']);
    server.set('svc.test', undefined);
    await expect(resolver.resolve4('svc.test')).rejects.toMatchObject({ code: 'ENOTFOUND' });
  });

  test('malformed packets are counted and ignored; it keeps answering', async () => {
    const sock = createSocket('udp4');
    try {
      await new Promise<void>((r) => sock.bind({ address: '127.0.0.1', port: 0 }, () => r()));
      for (const junk of [Buffer.from([1, 2, 3]), Buffer.alloc(12, 0xff), Buffer.from('not a dns query at all, just text')]) {
        sock.send(junk, server.port, '127.0.0.1');
      }
      await waitUntil(() => server.malformed === 3, 5000, 'three malformed packets counted');
    } finally {
      await new Promise<void>((r) => sock.close(() => r()));
    }
    server.set('svc.test', { A: ['127.0.0.1'] });
    expect(await resolver.resolve4('svc.test')).toEqual(['127.0.0.1']);
  });
});
