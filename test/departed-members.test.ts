// DepartedMembers: which members a transport without IP multicast still sends multicasts to
// after they left the view, and when they are forgotten.
import { Address, View, ViewId } from 'tsgroups';
import { DepartedMembers } from '../protocols/src/transport/departed-members.js';

const [a, b, c, d] = [Address.random(), Address.random(), Address.random(), Address.random()];
const view = (id: number, ...members: Address[]) => new View(new ViewId(members[0]!, id), members);

test('members missing from the next view are departed from then on; one that comes back is not', () => {
  const dep = new DepartedMembers(1000);
  dep.viewChanged(null, view(1, a, b, c), 0);
  expect([...dep.members()]).toEqual([]);
  dep.viewChanged(view(1, a, b, c), view(2, a, b), 10);
  expect([...dep.members()]).toEqual([c]);
  dep.viewChanged(view(2, a, b), view(3, a, d), 20);
  expect([...dep.members()]).toEqual([c, b]);
  dep.viewChanged(view(3, a, d), view(4, a, c, d), 30); // c is back (a merge)
  expect([...dep.members()]).toEqual([b]);
  expect(dep.size).toBe(1);
});

test('expire() removes and returns exactly those that left more than `expiration` ms before', () => {
  const dep = new DepartedMembers(1000);
  dep.viewChanged(view(1, a, b, c), view(2, a, b), 0);
  dep.viewChanged(view(2, a, b), view(3, a), 500);
  expect(dep.expire(1000)).toEqual([]);
  expect(dep.expire(1001)).toEqual([c]);
  expect([...dep.members()]).toEqual([b]);
  dep.expiration = 10;
  expect(dep.expire(511)).toEqual([b]);
  expect(dep.size).toBe(0);
  dep.viewChanged(view(3, a), view(4, a), 600);
  dep.clear();
  expect(dep.size).toBe(0);
});
