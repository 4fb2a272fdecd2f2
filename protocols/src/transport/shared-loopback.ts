import type { Address, EndOfTurnTask, PropertyDecls } from '@tsgroups/core';
import { Transport } from './transport.js';

/**
 * An in-process "network": every SHARED_LOOPBACK of the same cluster in this process can reach
 * the others. Datagrams are encoded and decoded exactly as on a real network, and delivered
 * asynchronously in FIFO order per receiver, so tests see realistic behaviour in milliseconds.
 */
export class SharedLoopbackNetwork {
  private static readonly clusters = new Map<string, Map<Address, SHARED_LOOPBACK>>();

  static register(cluster: string, member: SHARED_LOOPBACK): void {
    let m = SharedLoopbackNetwork.clusters.get(cluster);
    if (!m) SharedLoopbackNetwork.clusters.set(cluster, (m = new Map()));
    m.set(member.localAddress!, member);
  }

  static unregister(cluster: string, addr: Address): void {
    const m = SharedLoopbackNetwork.clusters.get(cluster);
    if (!m) return;
    m.delete(addr);
    if (m.size === 0) SharedLoopbackNetwork.clusters.delete(cluster);
  }

  /** The transports registered for `cluster`, in registration order. */
  static members(cluster: string): SHARED_LOOPBACK[] {
    return [...(SharedLoopbackNetwork.clusters.get(cluster)?.values() ?? [])];
  }

  static find(cluster: string, addr: Address): SHARED_LOOPBACK | undefined {
    return SharedLoopbackNetwork.clusters.get(cluster)?.get(addr);
  }
}

export class SHARED_LOOPBACK extends Transport {
  static override readonly protocolName = 'SHARED_LOOPBACK';
  static override readonly properties: PropertyDecls = {};

  private registeredAs: { cluster: string; addr: Address } | null = null;
  private inbox: Uint8Array[] = [];
  private drainTask: EndOfTurnTask | null = null;

  override start(): void {
    super.start();
    const cluster = this.clusterName;
    const addr = this.localAddress;
    if (cluster === null || addr === null) throw new Error('SHARED_LOOPBACK: started without cluster name or address');
    SharedLoopbackNetwork.register(cluster, this);
    this.registeredAs = { cluster, addr };
  }

  override stop(): void {
    super.stop();
    if (this.registeredAs) SharedLoopbackNetwork.unregister(this.registeredAs.cluster, this.registeredAs.addr);
    this.registeredAs = null;
    this.inbox = [];
    this.drainTask?.cancel();
  }

  protected override sendDatagram(dest: Address | null, data: Uint8Array): void {
    const reg = this.registeredAs;
    if (reg === null) return;
    if (dest === null) {
      // Each receiver gets its own bytes, as from a real network: payloads are views on them.
      let first = true;
      for (const m of SharedLoopbackNetwork.members(reg.cluster)) {
        if (m === this && this.loopback) continue;
        m.enqueue(first ? data : Uint8Array.prototype.slice.call(data));
        first = false;
      }
    } else {
      SharedLoopbackNetwork.find(reg.cluster, dest)?.enqueue(data);
    }
  }

  /** Queues raw bytes for this member as if they had arrived from the network. */
  enqueue(data: Uint8Array): void {
    this.inbox.push(data);
    // Delivered after this turn, on the receiver's own scheduler (cancelled when it closes).
    (this.drainTask ??= this.timer.endOfTurnTask(this.drain)).request();
  }

  private readonly drain = (): void => {
    const batch = this.inbox;
    this.inbox = [];
    for (const d of batch) this.receive(d);
  };
}
