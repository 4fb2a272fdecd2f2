// The outsider's attacks over TCP: forged frames, each on a fresh connection to a member whose
// hello claims a listening address, either one no member has (a new peer) or a member's own (to
// take that member's place at the receiver).
import { Address } from 'tsgroups';
import { type AttackCluster, FORGED, NAMES } from './attack-cluster.js';
import type { AttackCase } from './attack-cases.js';
import { datagram, gmsJoinReq, gmsLeaveReq, gmsView, nakackData, unicastData } from './forge.js';
import { TcpOutsider } from './tcp-outsider.js';

/** Each datagram on a fresh connection to member `to` (index) whose hello claims `claim`; closed once written. */
async function send(c: AttackCluster, attack: string, to: number, claim: string, datagrams: Uint8Array[]): Promise<void> {
  for (const d of datagrams) {
    const o = await TcpOutsider.connect(c.o.tcpPorts![to]!, claim);
    try {
      c.tally.datagrams += await o.sendAll([d]);
    } finally {
      o.close();
    }
  }
  c.tally.attacks.push(attack);
}

/**
 * VIEW to B and C "from the coordinator", LEAVE_REQ for B, a phantom's JOIN_REQ and B's next
 * multicasts to A, a UNICAST3 message on a new conn id to C; `claimMembers`: each connection's
 * hello claims the listening address of the member the frames claim to come from.
 */
function forgedFrames(claimMembers: boolean): AttackCase {
  return {
    name: `forged VIEW, LEAVE_REQ, JOIN_REQ, seqnos and conn id over TCP, hellos claiming ${claimMembers ? "the members' addresses" : 'a new peer'}`,
    async run(c) {
      const ports = c.o.tcpPorts!;
      const { coord, y, z } = c.roles;
      const [ic, iy, iz] = [coord, y, z].map((n) => NAMES.indexOf(n)) as [number, number, number];
      const [a, b, cc] = [c.address(coord), c.address(y), c.address(z)];
      const cl = c.cluster;
      const claim = (member: number) => `127.0.0.1:${claimMembers ? ports[member] : Math.max(...ports) + 1}`;
      // To y and z: a VIEW "from the coordinator" that drops z and adds a phantom.
      const view = datagram({ cluster: cl, sender: a, dest: null }, gmsView(null, a, 100, [a, b, Address.random()]));
      for (const to of [iy, iz]) await send(c, 'TCP forged VIEW', to, claim(ic), [view]);
      // To the coordinator, as y: y leaves, a phantom joins, y's next multicasts.
      const ph = Address.random();
      await send(c, 'TCP forged LEAVE_REQ, JOIN_REQ, seqnos', ic, claim(iy), [
        datagram({ cluster: cl, sender: b, dest: a }, gmsLeaveReq(a, b)),
        datagram({ cluster: cl, sender: ph, dest: a }, gmsJoinReq(a, ph, 'phantom')),
        ...Array.from({ length: 20 }, (_, i) => datagram({ cluster: cl, sender: b, dest: null }, nakackData(i + 1, `${FORGED}tcp-${i}`))),
      ]);
      // To z, as the coordinator: a unicast on a new conn id.
      await send(c, 'TCP UNICAST3 conn id', iz, claim(ic), [datagram({ cluster: cl, sender: a, dest: cc }, unicastData(cc, 0x7ffffff0, 1, `${FORGED}tcp-conn`))]);
      await c.assertIntact(this.name);
    },
  };
}

export const tcpForgedFramesNewPeer = forgedFrames(false);
export const tcpForgedFramesClaimingMembers = forgedFrames(true);
