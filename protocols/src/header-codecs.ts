// The generated protobufjs codecs of headers that ride on many messages, with a counted size():
// the bundler asks for the size of every header of every message it packs, and a codec without
// size() is measured by encoding the header once more (see HeaderRegistry.sizeOf). Rare
// control headers (GMS, PING, STABLE, MERGE3 ...) keep the generated codec and are measured.
import { type HeaderCodec, int32Size, uint32Size, varintSize } from '@tsgroups/core';
import { tsgroups } from './generated/headers.js';

const FragHeader = tsgroups.protocols.FragHeader;
const FcHeader = tsgroups.protocols.FcHeader;
type FragHeaderProps = tsgroups.protocols.FragHeader.$Properties;
type FcHeaderProps = tsgroups.protocols.FcHeader.$Properties;

/** Unknown fields a decoded header kept (the generated encoder writes them back as they came). */
function unknownsSize(u: Uint8Array[] | undefined): number {
  if (u === undefined) return 0;
  let n = 0;
  for (let i = 0; i < u.length; i++) n += u[i]!.length;
  return n;
}

/** Bytes of a uint32 field the generated encoder writes when set and not 0 (one-byte tag). */
function optUint32(v: number | null | undefined): number {
  return v === null || v === undefined || v === 0 ? 0 : 1 + uint32Size(v);
}

/** FRAG2's `FragHeader {id, index, count}`: on every fragment. */
export const fragHeaderCodec: HeaderCodec<FragHeaderProps> = {
  encode: (h, w) => FragHeader.encode(h, w),
  decode: (r, length) => FragHeader.decode(r, length),
  size: (h) => optUint32(h.id) + optUint32(h.index) + optUint32(h.count) + unknownsSize(h.$unknowns),
};

/** MFC's and UFC's `FcHeader {type, credits}`: on every credit request and replenishment. */
export const fcHeaderCodec: HeaderCodec<FcHeaderProps> = {
  encode: (h, w) => FcHeader.encode(h, w),
  decode(r, length) {
    const h = FcHeader.decode(r, length);
    // protobufjs reads a uint64 as a Long object (also the default of an absent field): a number
    // here, so the receiver does not convert it through a string (Number(long)) per credit message.
    const c = h.credits as unknown;
    if (typeof c === 'object' && c !== null) h.credits = (c as { toNumber(): number }).toNumber();
    return h;
  },
  size(h) {
    let n = h.type === null || h.type === undefined || h.type === 0 ? 0 : 1 + int32Size(h.type);
    const c = h.credits;
    if (c !== null && c !== undefined && c !== 0) n += 1 + varintSize(c);
    return n + unknownsSize(h.$unknowns);
  },
};
