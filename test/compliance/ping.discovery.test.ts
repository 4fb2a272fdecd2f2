// PING over UDP (stacks/udp.xml) against the discovery compliance suite: a multicast group and
// port of the test's own, everything on 127.0.0.1 with TTL 0.
import { stackFromXml } from 'tsgroups';
import { stackXml } from '../helpers/cluster.js';
import { randomGroup, udpVariables } from '../udp/udp-helpers.js';
import { discoveryCompliance, quickTimings } from './discovery-compliance.js';

discoveryCompliance('PING', async () => {
  const group = randomGroup();
  return { stack: () => stackFromXml(stackXml('udp.xml'), { source: 'udp.xml', env: udpVariables(group, quickTimings) }) };
});
