import { type Address, type AnyEvent, EventType, type PhysicalAddress } from '@tsgroups/core';
import { isIPv4 } from 'node:net';
import { PhysicalAddresses } from './physical-addresses.js';
import { Transport } from './transport.js';

/** The address-map entries kept at most (addresses are new on every connect, so it is bounded). */
const MAX_PHYSICAL_ENTRIES = 10_000;

/**
 * The part UDP and TCP share: where each other member is (its physical address, verified or only
 * claimed: {@link PhysicalAddresses}), and the events that ask or tell it
 * (GET_LOCAL_PHYSICAL_ADDRESS, GET_PHYSICAL_ADDRESS, ADD_PHYSICAL_ADDRESS). A claimed address
 * (discovery data, MERGE3's INFO) counts as verified only when the datagram being received came
 * from it; a verified address of a view member is never replaced by a claim.
 */
export abstract class NetworkTransport extends Transport {
  /** This member's own address as the others reach it (null until started). */
  protected localPhysical: PhysicalAddress | undefined = undefined;
  protected readonly physical = new PhysicalAddresses(MAX_PHYSICAL_ENTRIES, this.isViewMember);

  /** Whether others can be reached at `p` from this transport's sockets (IPv4, a real port). */
  protected usablePhysical(p: PhysicalAddress): boolean {
    return isIPv4(p.host) && p.port !== 0;
  }

  /** Forgets every address (at stop). */
  protected clearPhysical(): void {
    this.localPhysical = undefined;
    this.physical.clear();
  }

  protected override forgetPhysical(member: Address): void {
    this.physical.delete(member);
  }

  /** Learns that a datagram from `sender` came from `p` (verified by the network itself). */
  protected learnSource(sender: Address, p: PhysicalAddress): void {
    const old = this.physical.get(sender);
    if (old !== undefined && old.port === p.port && old.host === p.host) {
      if (!this.physical.isVerified(sender)) this.physical.learn(sender, old, true);
      return;
    }
    if (this.physical.learn(sender, p, true) === 'refused') this.physicalRefused(sender, p, old);
  }

  protected override handleDownEvent(evt: AnyEvent): unknown {
    switch (evt.type) {
      case EventType.GET_LOCAL_PHYSICAL_ADDRESS:
        return this.localPhysical;
      case EventType.GET_PHYSICAL_ADDRESS:
        return this.physical.get(evt.arg);
      case EventType.ADD_PHYSICAL_ADDRESS: {
        const { address, physical } = evt.arg;
        if (!this.usablePhysical(physical)) {
          this.log.debug(`ignored an unusable physical address ${physical} for ${address}`);
        } else if (address !== this.localAddress) {
          // Verified only when it is where the datagram being received (from that member) came from.
          const src = this.datagramSource(address);
          const verified = src !== undefined && src.port === physical.port && src.host === physical.host;
          if (this.physical.learn(address, physical, verified) === 'refused') this.physicalRefused(address, physical, this.physical.get(address));
        }
        return undefined;
      }
    }
    return undefined;
  }
}
