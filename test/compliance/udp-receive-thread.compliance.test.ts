// UDP with mcast_receive_thread="true" (the multicast socket read on a thread of its own) against
// the transport compliance suite: real sockets on 127.0.0.1, a multicast group and port of each
// test's own (TTL 0, loopback interface only).
import { transportComplianceSuite } from './transport-compliance.js';
import { UDP_MAX, udpUnderTest } from './udp-under-test.js';

transportComplianceSuite(
  'UDP', // the logger's name: the suite captures what UDP logs
  () =>
    udpUnderTest((t) => {
      t.mcastReceiveThread = 'true';
    }),
  { mediumLimit: UDP_MAX },
);
