// TCP against the transport compliance suite: real connections on 127.0.0.1, each transport on a
// port the system chose. A message to all goes to every member the transport knows (no view in a
// bare stack); injected frames come from raw connections of the test's own, one per frame.
import { connect } from 'node:net';
import { TCP, type Transport } from 'tsgroups';
import { transportComplianceSuite } from './transport-compliance.js';

/** Writes one length-prefixed frame (after a hello naming a listening address of nobody) and ends. */
function sendFrame(port: number, data: Uint8Array): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const sock = connect({ host: '127.0.0.1', port }, () => {
      const hello = Buffer.from('127.0.0.1:1', 'utf8');
      const h = Buffer.alloc(8);
      h.writeUInt32BE(4 + hello.length, 0);
      h.writeUInt32BE(0x54534743, 4);
      const len = Buffer.alloc(4);
      len.writeUInt32BE(data.length, 0);
      sock.end(Buffer.concat([h, hello, len, data]));
    });
    sock.on('error', reject);
    sock.on('close', () => resolve());
  });
}

const created = new Set<TCP>();

transportComplianceSuite('TCP', async () => ({
  create() {
    const t = new TCP();
    t.bindAddr = '127.0.0.1';
    t.bindPort = 0;
    created.add(t);
    return t;
  },
  async inject(target: Transport, data: Uint8Array, multicast: boolean) {
    const targets = multicast ? [...created].filter((t) => t.boundPort !== 0) : [target as TCP];
    for (const t of targets) await sendFrame(t.boundPort, data);
  },
  released: (t: Transport) => (t as TCP).boundPort === 0 && (t as TCP).connectionCount === 0,
  teardown: async () => created.clear(),
}));
