// UDP with mcast_receive_thread="true" (the multicast socket read on a thread of its own) against
// the transport compliance suite: real sockets on 127.0.0.1, a multicast group and port of each
// test's own (TTL 0, loopback interface only).
import { createSocket, type Socket } from 'node:dgram';
import { type Transport, UDP } from 'tsgroups';
import { randomGroup } from '../udp/udp-helpers.js';
import { transportComplianceSuite } from './transport-compliance.js';

/** The largest UDP payload over IPv4. */
const UDP_MAX = 65_507;

transportComplianceSuite(
  'UDP', // the logger's name: the suite captures what UDP logs
  async () => {
    const group = randomGroup();
    // A raw socket of the test's own, for datagrams that did not come from a transport.
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
        t.mcastReceiveThread = 'true';
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
  },
  { mediumLimit: UDP_MAX },
);
