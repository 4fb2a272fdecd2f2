// UDP against the transport compliance suite: real sockets on 127.0.0.1, a multicast group and
// port of each test's own (TTL 0, loopback interface only).
import { transportComplianceSuite } from './transport-compliance.js';
import { UDP_MAX, udpUnderTest } from './udp-under-test.js';

transportComplianceSuite('UDP', () => udpUnderTest(), { mediumLimit: UDP_MAX });
