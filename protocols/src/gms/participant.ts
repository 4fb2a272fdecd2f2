import type { Address } from '@tsgroups/core';
import { GmsType } from './messages.js';
import { GmsRole } from './role.js';

/**
 * A member that is not the coordinator (JGroups' ParticipantGmsImpl): it asks the coordinator
 * to be removed when it leaves, and takes over when the coordinator and every member between
 * it and this one are suspected. (Its views come from the coordinator; GMS installs and
 * acknowledges them whatever the role.)
 */
export class Participant extends GmsRole {
  readonly kind = 'participant';

  override requestLeave(): void {
    const coord = this.host.view()?.getCoord();
    if (coord !== undefined) this.host.send(coord, { type: GmsType.LEAVE_REQ, member: this.host.self.bytes });
  }

  override handleSuspect(member: Address): void {
    const { host } = this;
    const view = host.view();
    if (view === null || !host.suspected.has(member)) return;
    // If every member ahead of us is suspected (the coordinator, and maybe the next ones too),
    // we take over and remove them all.
    if (view.members.find((m) => !host.suspected.has(m)) !== host.self) return;
    host.log.info(`${host.self}: coordinator ${view.getCoord()} suspected; taking over`);
    host.becomeCoordinator().takeOver([...host.suspected]);
  }
}
