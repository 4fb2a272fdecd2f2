import { type ProtocolStack, stackFromXml, substituteVariables } from 'tsgroups';
import { stackXml } from '../helpers/cluster.js';

/** A multicast group and port of this test run's own, so parallel runs cannot cross-talk. */
export interface McastGroup {
  addr: string;
  port: number;
}

const rnd = (n: number) => Math.floor(Math.random() * n);

/** 239.x.y.z (x in 1..200, so well-known 239.255/16 groups are avoided) and a port in 20000-60000. */
export function randomGroup(): McastGroup {
  return { addr: `239.${1 + rnd(200)}.${rnd(256)}.${1 + rnd(254)}`, port: 20_000 + rnd(40_001) };
}

/**
 * The values for the variables of stacks/udp.xml: everything on 127.0.0.1, TTL 0, the test's
 * own group. Passed explicitly, so the environment of the machine running the tests has no say.
 */
export function udpVariables(group: McastGroup, extra: Record<string, string> = {}): Record<string, string> {
  return {
    TSGROUPS_BIND_ADDR: '127.0.0.1',
    TSGROUPS_BIND_PORT: '0',
    TSGROUPS_MCAST_ADDR: group.addr,
    TSGROUPS_MCAST_PORT: String(group.port),
    TSGROUPS_IP_TTL: '0',
    ...extra,
  };
}

/** stacks/udp.xml with every variable replaced: XML text that needs no environment. */
export function udpStackText(group: McastGroup, extra: Record<string, string> = {}): string {
  return substituteVariables(stackXml('udp.xml'), udpVariables(group, extra), { source: 'udp.xml' });
}

/** A protocol stack built from stacks/udp.xml for `group`. */
export function udpStack(group: McastGroup, extra: Record<string, string> = {}): ProtocolStack {
  return stackFromXml(stackXml('udp.xml'), { source: 'udp.xml', env: udpVariables(group, extra) });
}
