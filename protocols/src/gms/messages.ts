import { type Address, Flag, Message } from '@tsgroups/core';
import { tsgroups } from '../generated/headers.js';
import { ProtocolId } from '../ids.js';

/** GMS's header codec and its message types (JOIN_REQ, VIEW, VIEW_ACK, MERGE_REQ ...). */
export const GmsHeader = tsgroups.protocols.GmsHeader;
export const GmsType = GmsHeader.Type;
/** A GMS header as the roles build and read it. */
export type GmsHeaderData = tsgroups.protocols.GmsHeader.$Properties;
/** A view in its wire form (see view-codec.ts). */
export type ViewData = tsgroups.protocols.ViewData.$Properties;
/** A digest in its wire form (see reliable/digest-codec.ts). */
export type DigestData = tsgroups.protocols.DigestEntry.$Properties[];

/**
 * A GMS control message to `dest` (null: every member). Out of band: membership traffic never
 * waits behind the application's messages.
 */
export function gmsMessage(dest: Address | null, h: GmsHeaderData): Message {
  return new Message(dest).setFlag(Flag.OOB).putHeader(ProtocolId.GMS, h);
}
