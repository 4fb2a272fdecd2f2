// UDP as a transport under test: real sockets on 127.0.0.1, a multicast group and port of each
// test's own (TTL 0, loopback interface only), and a raw socket that injects datagrams no
// transport sent. Shared by the UDP compliance runs (with and without the receive thread).
import { createSocket, type Socket } from 'node:dgram';
import { type Transport, UDP } from 'tsgroups';
import { randomGroup } from '../udp/udp-helpers.js';
import type { TransportUnderTest } from './transport-compliance.js';

/** The largest UDP payload over IPv4. */
export const UDP_MAX = 65_507;

export async function udpUnderTest(configure: (t: UDP) => void = () => {}): Promise<TransportUnderTest> {
  const group = randomGroup();
  const raw: Socket = createSocket('udp4');
  raw.on('error', () => undefined);
  await new Promise<void>((resolve) => raw.bind({ port: 0, address: '127.0.0.1' }, resolve));
  raw.setMulticastInterface('127.0.0.1');
  raw.setMulticastTTL(0);
  raw.setMulticastLoopback(true);
  return {
    create() {
      const t = new UDP();
      t.bindAddr = '127.0.0.1';
      t.bindPort = 0;
      t.mcastAddr = group.addr;
      t.mcastPort = group.port;
      t.ipTtl = 0;
      configure(t);
      return t;
    },
    inject: (target: Transport, data: Uint8Array, multicast: boolean) =>
      new Promise<void>((resolve, reject) => {
        const port = multicast ? group.port : (target as UDP).boundPort;
        raw.send(data, port, multicast ? group.addr : '127.0.0.1', (err) => (err ? reject(err) : resolve()));
      }),
    released: (t: Transport) => (t as UDP).boundPort === 0,
    teardown: () => new Promise<void>((resolve) => raw.close(() => resolve())),
  };
}
