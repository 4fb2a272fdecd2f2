import { createSocket } from 'node:dgram';
import { createServer } from 'node:net';

/** `n` ports free on 127.0.0.1 right now (listened on, then released). */
export async function reservePorts(n: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from({ length: n }, () => new Promise<ReturnType<typeof createServer>>((resolve) => {
      const s = createServer();
      s.listen({ port: 0, host: '127.0.0.1' }, () => resolve(s));
    })),
  );
  const ports = servers.map((s) => (s.address() as { port: number }).port);
  await Promise.all(servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
  return ports;
}

/** `n` UDP ports free on 127.0.0.1 right now (bound, then released). */
export async function reserveUdpPorts(n: number): Promise<number[]> {
  const socks = await Promise.all(
    Array.from({ length: n }, () => {
      const s = createSocket('udp4');
      return new Promise<typeof s>((resolve) => s.bind({ port: 0, address: '127.0.0.1' }, () => resolve(s)));
    }),
  );
  const ports = socks.map((s) => s.address().port);
  await Promise.all(socks.map((s) => new Promise<void>((r) => s.close(() => r()))));
  return ports;
}
