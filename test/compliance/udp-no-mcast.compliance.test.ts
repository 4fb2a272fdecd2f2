// UDP with ip_mcast="false" against the transport compliance suite: no multicast socket, a
// message to all goes as a unicast datagram to every member the transport knows (no view in a
// bare stack); injected "multicasts" are unicasts from a raw socket of the test's own to every
// transport the test started.
import { createSocket, type Socket } from 'node:dgram';
import { type Transport, UDP } from 'tsgroups';
import { transportComplianceSuite } from './transport-compliance.js';

/** The largest UDP payload over IPv4. */
const UDP_MAX = 65_507;

// The suite's name is the transport's log scope (it checks what UDP logs): the outer describe tells the runs apart.
describe('ip_mcast=false', () => {
  transportComplianceSuite(
    'UDP',
    async () => {
      const created = new Set<UDP>();
      const raw: Socket = createSocket('udp4');
      raw.on('error', () => undefined);
      await new Promise<void>((resolve) => raw.bind({ port: 0, address: '127.0.0.1' }, resolve));
      const send = (data: Uint8Array, port: number) =>
        new Promise<void>((resolve, reject) => raw.send(data, port, '127.0.0.1', (err) => (err ? reject(err) : resolve())));
      return {
        create() {
          const t = new UDP();
          t.bindAddr = '127.0.0.1';
          t.bindPort = 0;
          t.ipMcast = false;
          created.add(t);
          return t;
        },
        async inject(target: Transport, data: Uint8Array, multicast: boolean) {
          const targets = multicast ? [...created].filter((t) => t.boundPort !== 0) : [target as UDP];
          for (const t of targets) await send(data, t.boundPort);
        },
        released: (t: Transport) => (t as UDP).boundPort === 0 && (t as UDP).getBindings().multicast === null,
        teardown: () => new Promise<void>((resolve) => raw.close(() => resolve())),
      };
    },
    { mediumLimit: UDP_MAX },
  );
});
