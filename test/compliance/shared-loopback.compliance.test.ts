// SHARED_LOOPBACK, the in-process transport, against the transport compliance suite.
import { SHARED_LOOPBACK, SharedLoopbackNetwork, type Transport } from 'tsgroups';
import { transportComplianceSuite } from './transport-compliance.js';

transportComplianceSuite('SHARED_LOOPBACK', () => ({
  create: () => new SHARED_LOOPBACK(),
  async inject(target: Transport, data: Uint8Array, multicast: boolean) {
    const t = target as SHARED_LOOPBACK;
    if (!multicast) {
      t.enqueue(data);
      return;
    }
    const cluster = (t as unknown as { clusterName: string }).clusterName;
    // Each member gets its own copy, as from a real network.
    for (const m of SharedLoopbackNetwork.members(cluster)) m.enqueue(Uint8Array.prototype.slice.call(data));
  },
  released: (_t, cluster) => SharedLoopbackNetwork.members(cluster).length === 0,
}));
