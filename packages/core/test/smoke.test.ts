import { Address, Message } from '@tsgroups/core';

test('an address survives a byte round trip as the same object', () => {
  const a = Address.random();
  expect(Address.fromBytes(a.bytes)).toBe(a);
  expect(new Message(a, 'hi').getObject()).toBe('hi');
});
