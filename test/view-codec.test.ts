import { Address, MergeView, NameCache, View, ViewId, viewFromData, viewToData } from 'tsgroups';

test('a view in wire form carries its members, id, subgroups and logical names', () => {
  const [a, b, c] = [Address.random(), Address.random(), Address.random()];
  NameCache.add(a, 'alpha');
  NameCache.add(b, 'beta');
  const v1 = View.create(a, 3, [a, b]);
  const v2 = View.create(c, 5, [c]);
  const merged = new MergeView(new ViewId(a, 6), [a, b, c], [v1, v2]);
  const data = viewToData(merged);
  // A member that never saw a's or b's discovery traffic learns their names from the view.
  NameCache.remove(a);
  NameCache.remove(b);
  const back = viewFromData(data) as MergeView;
  expect(back).toBeInstanceOf(MergeView);
  expect(back.viewId.equals(merged.viewId)).toBe(true);
  expect(back.getMembers()).toEqual([a, b, c]);
  expect(back.getSubgroups().map((v) => v.viewId.id)).toEqual([3, 5]);
  expect(NameCache.get(a)).toBe('alpha');
  expect(NameCache.get(b)).toBe('beta');
  expect(NameCache.get(c)).toBeUndefined(); // an unknown name stays unknown, not ''
});
