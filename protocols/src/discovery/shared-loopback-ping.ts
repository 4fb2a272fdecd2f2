import type { PropertyDecls } from '@tsgroups/core';
import { SharedLoopbackNetwork } from '../transport/shared-loopback.js';
import { Discovery } from './discovery.js';
import type { FindMembersRequest, PingData } from './ping-data.js';

/**
 * Discovery for SHARED_LOOPBACK: asks the in-process network who is registered for the
 * cluster. Answers at once; no messages are sent.
 */
export class SHARED_LOOPBACK_PING extends Discovery {
  static override readonly protocolName = 'SHARED_LOOPBACK_PING';
  static override readonly requiresBelow: readonly string[] = ['transport'];
  static override readonly properties: PropertyDecls = {};

  protected override findMembers(_req: FindMembersRequest): Promise<PingData[]> {
    const cluster = this.stack.clusterName;
    const self = this.localAddress;
    const out: PingData[] = [];
    if (cluster !== null) {
      for (const t of SharedLoopbackNetwork.members(cluster)) {
        if (t.localAddress === self) continue;
        const d = t.stack.findProtocol(SHARED_LOOPBACK_PING)?.selfData();
        if (d) out.push(d);
      }
    }
    return Promise.resolve(out);
  }
}
