// The protobufjs modules generated for core (the datagram envelope) and for the protocols (their
// headers) each keep their own root: loaded in one process, neither replaces the other's
// `tsgroups` namespace, so nested types (PING's data inside its header) still encode and decode.
import { tsgroups as wire } from '../packages/core/src/generated/wire.js';
import { tsgroups as headers } from '../protocols/src/generated/headers.js';

test('PING data inside its header survives the wire module being loaded too', () => {
  expect(typeof wire.wire.Datagram.decode).toBe('function');
  const address = Uint8Array.from({ length: 16 }, (_, i) => i);
  const buf = headers.protocols.PingHeader.encode({ type: headers.protocols.PingHeader.Type.GET_MBRS_REQ, data: { address, name: 'A', isCoord: true } }).finish();
  const back = headers.protocols.PingHeader.decode(buf);
  expect(back.data?.name).toBe('A');
  expect(back.data?.isCoord).toBe(true);
  expect([...(back.data?.address ?? [])]).toEqual([...address]);
});
