// TCPPING over TCP (stacks/tcp.xml) against the discovery compliance suite: every member on a
// port of 127.0.0.1 reserved for the test, and the list of those ports as initial_hosts.
import { stackFromXml } from 'tsgroups';
import { stackXml } from '../helpers/cluster.js';
import { MAX_MEMBERS, discoveryCompliance, quickTimings } from './discovery-compliance.js';
import { reservePorts } from './reserve-ports.js';

discoveryCompliance('TCPPING', async () => {
  const ports = await reservePorts(MAX_MEMBERS);
  return {
    stack: (i: number) =>
      stackFromXml(stackXml('tcp.xml'), {
        source: 'tcp.xml',
        env: {
          ...quickTimings,
          TSGROUPS_BIND_PORT: String(ports[i]),
          TSGROUPS_PORT_RANGE: '0',
          TSGROUPS_INITIAL_HOSTS: ports.map((p) => `127.0.0.1[${p}]`).join(','),
          TSGROUPS_INITIAL_PORT_RANGE: '0',
        },
      }),
  };
});
