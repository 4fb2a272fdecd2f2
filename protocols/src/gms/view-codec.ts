import { Address, MergeView, NameCache, View, ViewId } from '@tsgroups/core';
import type { tsgroups } from '../generated/headers.js';

type ViewData = tsgroups.protocols.ViewData.$Properties;

/** A view in its wire form (addresses as 16-byte UUIDs). */
export function viewToData(v: View): ViewData {
  const d: ViewData = {
    creator: v.viewId.creator.bytes,
    id: v.viewId.id,
    members: v.members.map((m) => m.bytes),
    // Names travel with the view, so every member can show every other by name even if it
    // never saw that member's discovery traffic.
    names: v.members.map((m) => NameCache.get(m) ?? ''),
  };
  if (v instanceof MergeView) {
    d.merge = true;
    d.subgroups = v.subgroups.map(viewToData);
  }
  return d;
}

/** The view a wire form describes; throws RangeError if an address is malformed. */
export function viewFromData(d: ViewData): View {
  if (!d.creator) throw new RangeError('a view needs a creator');
  const id = new ViewId(Address.fromBytes(d.creator), Number(d.id ?? 0));
  const members = (d.members ?? []).map((b) => Address.fromBytes(b));
  const names = d.names ?? [];
  members.forEach((m, i) => {
    const name = names[i];
    if (name && NameCache.get(m) === undefined) NameCache.add(m, name);
  });
  if (d.merge) return new MergeView(id, members, (d.subgroups ?? []).map(viewFromData));
  return new View(id, members);
}
