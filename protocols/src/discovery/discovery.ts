import { type AnyEvent, Event, EventType, Protocol, type PropertyDecls, type View } from '@tsgroups/core';
import type { FindMembersRequest, PingData } from './ping-data.js';

/**
 * The base of discovery protocols: answers FIND_MBRS with the members it can find, and tracks
 * the current view so it can say whether this member is a coordinator.
 */
export abstract class Discovery extends Protocol {
  static override readonly provides: readonly string[] = ['discovery'];
  static override readonly requiresBelow: readonly string[] = ['transport'];
  static override readonly properties: PropertyDecls = {
    timeout: { type: 'duration', description: 'How long a discovery round waits for responses' },
  };

  timeout = 1000;
  protected view: View | null = null;

  /** This member's own entry, as others would see it. */
  selfData(): PingData | undefined {
    const addr = this.localAddress;
    if (addr === null) return undefined;
    return {
      address: addr,
      name: addr.toString(),
      isCoord: this.isCoord(),
      viewId: this.view?.viewId,
      physical: this.ask(new Event(EventType.GET_LOCAL_PHYSICAL_ADDRESS)),
    };
  }

  isCoord(): boolean {
    const addr = this.localAddress;
    return addr !== null && this.view !== null && this.view.getCoord() === addr;
  }

  override downEvent(evt: AnyEvent): unknown {
    switch (evt.type) {
      case EventType.FIND_MBRS: {
        const req = evt.arg ?? { timeout: this.timeout };
        return this.findMembers(req);
      }
      case EventType.VIEW_CHANGE:
        this.view = evt.arg;
        break;
      case EventType.DISCONNECT:
        this.view = null;
        break;
    }
    return this.downProt.downEvent(evt);
  }

  /** Finds the other members of the cluster (not including this one). */
  protected abstract findMembers(req: FindMembersRequest): Promise<PingData[]>;
}
