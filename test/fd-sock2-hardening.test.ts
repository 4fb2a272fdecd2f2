// FD_SOCK2's server against connections that are not monitors (issue 12): a flood of idle
// connections is capped (the oldest pending one goes) and every one that names no view member
// within handshake_timeout is closed, counted; the ring keeps working and still detects a crash.
import { connect, type Socket } from 'node:net';
import { Address, type Channel, DISCARD, FD_SOCK2, GMS, type ProtocolStack, VERIFY_SUSPECT2 } from 'tsgroups';
import { closeAll, discardOf, loopbackStack, type Member, startCluster, waitForSameView, waitUntil } from './helpers/cluster.js';

const SOCK = { get_port_interval: '100ms', connect_timeout: '300ms', handshake_timeout: '500ms', max_pending_conns: '20' };

function sockStack(): ProtocolStack {
  const stack = loopbackStack(() => [new DISCARD(), new FD_SOCK2().setValues(SOCK), new VERIFY_SUSPECT2().setValues({ timeout: '200ms' })]);
  stack.findProtocol(GMS)!.setValue('leave_timeout', '300ms');
  return stack;
}

const sockOf = (ch: Channel): FD_SOCK2 => ch.getProtocolStack().findProtocol(FD_SOCK2)!;

let members: Member[] = [];
const clients: Socket[] = [];
afterEach(async () => {
  for (const s of clients.splice(0)) s.destroy();
  await closeAll(members.map((m) => m.channel));
  members = [];
});

/** Opens `n` connections to 127.0.0.1:`port`; resolves once all are connected or closed. */
async function openMany(port: number, n: number, first?: (s: Socket) => void): Promise<Socket[]> {
  const out: Socket[] = [];
  await Promise.all(
    Array.from({ length: n }, () =>
      new Promise<void>((resolve) => {
        const s = connect({ host: '127.0.0.1', port }, () => {
          first?.(s);
          resolve();
        });
        s.on('error', () => resolve());
        s.on('close', () => resolve());
        clients.push(s);
        out.push(s);
      }),
    ),
  );
  return out;
}

test('500 idle connections to the FD_SOCK2 port are capped and closed after handshake_timeout; the ring still detects a crash', async () => {
  members = await startCluster(3, sockStack);
  const chans = members.map((m) => m.channel);
  const [a, b, c] = chans as [Channel, Channel, Channel];
  const fd = sockOf(b);
  await waitUntil(() => chans.every((x) => sockOf(x).isConnected() && sockOf(x).getMonitorCount() === 1), 5000, 'the ring');
  const socks = await openMany(fd.getServerPort(), 500);
  // Every one of them is closed by the member: over the cap at once, the others after the timeout.
  await waitUntil(() => socks.every((s) => s.destroyed || s.readableEnded), 10_000, 'the idle connections closed', () =>
    `${socks.filter((s) => !(s.destroyed || s.readableEnded)).length} open; ${JSON.stringify(fd.getStats())}`,
  );
  const st = fd.getStats();
  expect(st.connsRefused).toBeGreaterThanOrEqual(500 - 20);
  expect(st.connsRefused! + st.handshakeTimeouts!).toBe(500);
  expect(st.pendingConns).toBe(0);
  // The real monitor (A watches B) was never displaced.
  expect(fd.getMonitorCount()).toBe(1);
  expect(sockOf(a).isConnected()).toBe(true);
  // Connections that name a non-member, or keep talking, are closed too.
  const named = await openMany(fd.getServerPort(), 3, (s) => s.write(Address.random().bytes));
  const chatty = await openMany(fd.getServerPort(), 1, (s) => s.write(Buffer.concat([a.getAddress()!.bytes, Buffer.alloc(100)])));
  await waitUntil(() => [...named, ...chatty].every((s) => s.destroyed || s.readableEnded), 5000, 'non-member monitors closed', () => JSON.stringify(fd.getStats()));
  expect(fd.getStats().nonMemberMonitors).toBe(3);
  expect(fd.getStats().badHandshakes).toBe(1);
  // Failure detection still works: C crashes, B (its monitor) suspects it, the view drops it.
  discardOf(c).setDiscardAll(true);
  sockOf(c).simulateCrash();
  await waitUntil(() => a.getView()!.size() === 2 && b.getView()!.size() === 2, 10_000, 'C excluded');
  await waitForSameView([a, b], 5000);
});
