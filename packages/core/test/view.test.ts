import { Address, Digest, MergeView, View, ViewId } from '@tsgroups/core';

const addr = (n: number): Address => {
  const b = new Uint8Array(16);
  b[0] = 0x10;
  b[15] = n;
  return Address.fromBytes(b);
};
const [A, B, C, D] = [addr(1), addr(2), addr(3), addr(4)] as [Address, Address, Address, Address];

describe('ViewId', () => {
  test('accessors and equals', () => {
    const id = new ViewId(A, 5);
    expect(id.getCreator()).toBe(A);
    expect(id.getId()).toBe(5);
    expect(id.equals(new ViewId(A, 5))).toBe(true);
    expect(id.equals(new ViewId(Address.fromBytes(Uint8Array.from(A.bytes)), 5))).toBe(true);
    expect(id.equals(new ViewId(A, 6))).toBe(false);
    expect(id.equals(new ViewId(B, 5))).toBe(false);
    expect(id.equals(null)).toBe(false);
    expect(id.equals(undefined)).toBe(false);
  });

  test('compareTo orders by sequence number first, then by creator', () => {
    expect(new ViewId(B, 1).compareTo(new ViewId(A, 2))).toBeLessThan(0);
    expect(new ViewId(A, 2).compareTo(new ViewId(B, 1))).toBeGreaterThan(0);
    expect(new ViewId(A, 3).compareTo(new ViewId(B, 3))).toBeLessThan(0);
    expect(new ViewId(B, 3).compareTo(new ViewId(A, 3))).toBeGreaterThan(0);
    expect(new ViewId(C, 7).compareTo(new ViewId(C, 7))).toBe(0);
    const ids = [new ViewId(C, 2), new ViewId(A, 10), new ViewId(B, 2), new ViewId(A, 1)];
    const sorted = ids.slice().sort((x, y) => x.compareTo(y));
    expect(sorted.map((v) => `${v.creator === A ? 'A' : v.creator === B ? 'B' : 'C'}${v.id}`)).toEqual(['A1', 'B2', 'C2', 'A10']);
  });

  test('toString shows creator and id', () => {
    expect(new ViewId(A, 3).toString()).toBe(`[${A}|3]`);
  });
});

describe('View', () => {
  test('the coordinator is the first member; members keep their order', () => {
    const v = View.create(B, 4, [B, A, C]);
    expect(v.getCoord()).toBe(B);
    expect(v.getMembers()).toEqual([B, A, C]);
    expect(v.size()).toBe(3);
    expect(v.getCreator()).toBe(B);
    expect(v.getViewId().equals(new ViewId(B, 4))).toBe(true);
    expect([...v]).toEqual([B, A, C]);
    expect(new View(new ViewId(A, 1), []).getCoord()).toBeUndefined();
  });

  test('members are a frozen copy of the list passed in', () => {
    const list = [A, B];
    const v = View.create(A, 1, list);
    list.push(C);
    expect(v.size()).toBe(2);
    expect(v.containsMember(C)).toBe(false);
    expect(Object.isFrozen(v.members)).toBe(true);
    expect(() => (v.members as Address[]).push(D)).toThrow(TypeError);
  });

  test('containsMember', () => {
    const v = View.create(A, 1, [A, B]);
    expect(v.containsMember(A)).toBe(true);
    expect(v.containsMember(B)).toBe(true);
    expect(v.containsMember(C)).toBe(false);
    // A decode of the same bytes is the same member (addresses are interned).
    expect(v.containsMember(Address.fromBytes(Uint8Array.from(B.bytes)))).toBe(true);
  });

  test('equals compares view ids; sameMembers compares member lists in order', () => {
    const v1 = View.create(A, 1, [A, B]);
    const v1b = View.create(A, 1, [A, B, C]);
    const v2 = View.create(A, 2, [A, B]);
    const v3 = View.create(A, 3, [B, A]);
    expect(v1.equals(v1b)).toBe(true);
    expect(v1.equals(v2)).toBe(false);
    expect(v1.equals(null)).toBe(false);
    expect(v1.sameMembers(v2)).toBe(true);
    expect(v1.sameMembers(v1b)).toBe(false);
    expect(v1.sameMembers(v3)).toBe(false); // same set, other order (another coordinator)
  });

  test('View.joined and View.left', () => {
    const prev = View.create(A, 1, [A, B, C]);
    const next = View.create(A, 2, [A, C, D]);
    expect(View.joined(prev, next)).toEqual([D]);
    expect(View.left(prev, next)).toEqual([B]);
    expect(View.joined(next, prev)).toEqual([B]);
    expect(View.left(next, prev)).toEqual([D]);
    expect(View.joined(null, next)).toEqual([A, C, D]);
    expect(View.left(null, next)).toEqual([]);
    expect(View.joined(prev, prev)).toEqual([]);
    expect(View.left(prev, prev)).toEqual([]);
  });

  test('toString lists view id and members', () => {
    const s = View.create(A, 2, [A, B]).toString();
    expect(s).toContain(`[${A}|2]`);
    expect(s).toContain('(2)');
    expect(s).toContain(String(B));
  });
});

describe('MergeView', () => {
  test('is a View with the merged subgroups', () => {
    const s1 = View.create(A, 3, [A, B]);
    const s2 = View.create(C, 5, [C, D]);
    const mv = new MergeView(new ViewId(A, 6), [A, B, C, D], [s1, s2]);
    expect(mv).toBeInstanceOf(View);
    expect(mv.getCoord()).toBe(A);
    expect(mv.getSubgroups()).toEqual([s1, s2]);
    expect(mv.containsMember(D)).toBe(true);
    expect(View.joined(s1, mv)).toEqual([C, D]);
    expect(mv.toString()).toMatch(/^MergeView::/);
    expect(mv.toString()).toContain('2 subgroups');
  });
});

describe('Digest', () => {
  test('set / get / contains / members / size', () => {
    const d = new Digest();
    expect(d.size()).toBe(0);
    expect(d.get(A)).toBeUndefined();
    expect(d.set(A, 5, 7)).toBe(d);
    d.set(B, 3); // highestReceived defaults to highestDelivered
    expect(d.get(A)).toEqual({ highestDelivered: 5, highestReceived: 7 });
    expect(d.get(B)).toEqual({ highestDelivered: 3, highestReceived: 3 });
    expect(d.contains(A)).toBe(true);
    expect(d.contains(C)).toBe(false);
    expect(d.members()).toEqual([A, B]);
    expect(d.size()).toBe(2);
    d.set(A, 9, 9); // overwrite
    expect(d.get(A)).toEqual({ highestDelivered: 9, highestReceived: 9 });
    expect(d.size()).toBe(2);
    expect([...d].map(([m]) => m)).toEqual([A, B]);
  });

  test('the constructor copies the entries of an iterable (another digest)', () => {
    const d = new Digest().set(A, 1, 2).set(B, 3, 4);
    const copy = new Digest(d);
    d.set(C, 5);
    expect(copy.size()).toBe(2);
    expect(copy.get(B)).toEqual({ highestDelivered: 3, highestReceived: 4 });
  });

  test('merge takes the higher value of each field per member and keeps both inputs unchanged', () => {
    const d1 = new Digest().set(A, 10, 12).set(B, 5, 5).set(C, 1, 9);
    const d2 = new Digest().set(A, 11, 11).set(B, 4, 8).set(D, 2, 3);
    const m = d1.merge(d2);
    expect(m).not.toBe(d1);
    expect(m.get(A)).toEqual({ highestDelivered: 11, highestReceived: 12 });
    expect(m.get(B)).toEqual({ highestDelivered: 5, highestReceived: 8 });
    expect(m.get(C)).toEqual({ highestDelivered: 1, highestReceived: 9 });
    expect(m.get(D)).toEqual({ highestDelivered: 2, highestReceived: 3 });
    expect(m.size()).toBe(4);
    expect(d1.get(A)).toEqual({ highestDelivered: 10, highestReceived: 12 });
    expect(d1.contains(D)).toBe(false);
    expect(d2.get(B)).toEqual({ highestDelivered: 4, highestReceived: 8 });
    expect(d2.contains(C)).toBe(false);
    // Merging is symmetric.
    const r = d2.merge(d1);
    for (const x of [A, B, C, D]) expect(r.get(x)).toEqual(m.get(x));
  });

  test('merge with an empty digest is a copy', () => {
    const d = new Digest().set(A, 1, 2);
    const m = d.merge(new Digest());
    expect(m.get(A)).toEqual({ highestDelivered: 1, highestReceived: 2 });
    m.set(A, 7);
    expect(d.get(A)).toEqual({ highestDelivered: 1, highestReceived: 2 });
  });
});
