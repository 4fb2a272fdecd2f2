// The outsider's pen: datagrams with any sender, destination and protocol headers, written with
// the same codecs the members use (the generated header codecs registered by importing
// tsgroups, and encodeDatagram). Nothing here is a member: no channel, no stack, no key.
import {
  Address,
  encodeDatagram,
  Flag,
  jsonMarshaller,
  Message,
  type NakAckHeader,
  ProtocolId,
  type UnicastHeader,
  utf8Encode,
  View,
  viewToData,
} from 'tsgroups';
import { tsgroups } from '../../protocols/src/generated/headers.js';

const P = tsgroups.protocols;

/** Whom a forged datagram claims to be from and to. */
export interface Envelope {
  cluster: string;
  /** The sender the datagram claims (a member's UUID, or a fake one). */
  sender: Address;
  /** null: a multicast datagram. */
  dest: Address | null;
}

/**
 * One datagram of `msgs` under `env`, ending with the CRC32C trailer the transports check when
 * `checksum` is on (a checksum protects against corruption, not forgery: anyone can compute it;
 * a member with `checksum` off skips the trailer as an unknown field).
 */
export function datagram(env: Envelope, ...msgs: Message[]): Uint8Array {
  return encodeDatagram(utf8Encode(env.cluster), env.sender, env.dest, msgs, 0, msgs.length, true);
}

/** A UUID string as an Address (the form members print). */
export const addr = (uuid: string): Address => Address.parse(uuid);

/** A message whose payload is `text` as a member's channel marshals it (JSON). */
export function textMessage(dest: Address | null, text: string): Message {
  return new Message(dest).setObject(text, jsonMarshaller);
}

const oob = (dest: Address | null): Message => new Message(dest).setFlag(Flag.OOB);

/** GMS VIEW: "install this view" (claims to come from the envelope's sender). */
export function gmsView(dest: Address | null, creator: Address, id: number, members: Address[]): Message {
  const view = View.create(creator, id, members);
  return oob(dest).putHeader(ProtocolId.GMS, { type: P.GmsHeader.Type.VIEW, view: viewToData(view) });
}

/** GMS LEAVE_REQ for `member`, to the coordinator. */
export function gmsLeaveReq(coord: Address, member: Address): Message {
  return oob(coord).putHeader(ProtocolId.GMS, { type: P.GmsHeader.Type.LEAVE_REQ, member: member.bytes });
}

/** GMS JOIN_REQ for `member` named `name`, to the coordinator. */
export function gmsJoinReq(coord: Address, member: Address, name: string): Message {
  return oob(coord).putHeader(ProtocolId.GMS, { type: P.GmsHeader.Type.JOIN_REQ, member: member.bytes, name });
}

/** A NAKACK2 multicast with a chosen seqno (e.g. a member's next one) carrying `text`. */
export function nakackData(seqno: number, text: string): Message {
  const h: NakAckHeader = { type: P.NakAckHeader.Type.MSG, seqno, missing: null, sender: null };
  return textMessage(null, text).putHeader(ProtocolId.NAKACK2, h);
}

/** A UNICAST3 DATA message on connection `connId` with seqno `seqno`, carrying `text`. */
export function unicastData(dest: Address, connId: number, seqno: number, text: string): Message {
  const h: UnicastHeader = { type: P.UnicastHeader.Type.DATA, seqno, connId, missing: null };
  return textMessage(dest, text).putHeader(ProtocolId.UNICAST3, h);
}

/** A PING GET_MBRS_REQ from `member`, claiming `physical` (`host:port`) and `name` (any length). */
export function pingRequest(member: Address, name: string, physical: string): Message {
  const data = { address: member.bytes, name, isCoord: false, physical };
  return new Message(null).setFlag(Flag.OOB, Flag.DONT_LOOPBACK).putHeader(ProtocolId.PING, { type: P.PingHeader.Type.GET_MBRS_REQ, data });
}

/** An FD_ALL3 heartbeat: a message every member consumes below the application (harmless filler). */
export function heartbeat(): Message {
  return new Message(null).setFlag(Flag.OOB).putHeader(ProtocolId.FD_ALL, { type: P.FdAllHeader.Type.HEARTBEAT });
}

/** A MERGE3 INFO from a member that claims to coordinate view `viewId` of `coord`, at `physical`. */
export function merge3Info(coord: Address, viewId: number, name: string, physical: string): Message {
  return new Message(null)
    .setFlag(Flag.OOB)
    .putHeader(ProtocolId.MERGE3, { type: P.Merge3Header.Type.INFO, viewId: { creator: coord.bytes, id: viewId }, coord: coord.bytes, name, physical });
}
