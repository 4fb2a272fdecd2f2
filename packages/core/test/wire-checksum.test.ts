// The checksum trailer is field 7 of wire.proto's Datagram: what the generated decoder reads
// there is the CRC32C of every byte before it. (Kept in core: the generated wire code and the
// protocols' generated headers share protobufjs' default root, so they are not loaded together.)
import { Address, crc32c, encodeDatagram, Message, utf8Encode } from '@tsgroups/core';
import { tsgroups } from '../src/generated/wire.js';

test('the generated decoder reads the checksum trailer as field 7, and the messages before it', () => {
  const msgs = [new Message(null).setString('hello'), new Message(null).setString('world')];
  const sealed = encodeDatagram(utf8Encode('crc'), Address.random(), null, msgs, 0, msgs.length, true);
  const d = tsgroups.wire.Datagram.decode(sealed);
  expect(d.checksum).toBe(crc32c(sealed, 0, sealed.length - 4));
  expect(d.messages.length).toBe(2);
  // Without it, the field is absent (0 in proto3).
  expect(tsgroups.wire.Datagram.decode(encodeDatagram(utf8Encode('crc'), Address.random(), null, msgs)).checksum).toBe(0);
});
