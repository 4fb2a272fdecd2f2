import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';

/** Whether a stack file's transport is TCP (its members then need ports and a TCPPING list of their own). */
export function isTcpStack(stackFile: string | undefined): boolean {
  if (stackFile === undefined) return false;
  try {
    return /<TCP\b/.test(readFileSync(stackFile, 'utf8'));
  } catch {
    return false;
  }
}

/** `n` ports free on 127.0.0.1 right now (listened on, then released). */
export async function freePorts(n: number): Promise<number[]> {
  const servers: Server[] = [];
  try {
    for (let i = 0; i < n; i++) {
      const s = createServer();
      servers.push(s);
      await new Promise<void>((resolve, reject) => {
        s.once('error', reject);
        s.listen({ port: 0, host: '127.0.0.1' }, () => resolve());
      });
    }
    return servers.map((s) => (s.address() as { port: number }).port);
  } finally {
    await Promise.all(servers.map((s) => new Promise<void>((r) => (s.listening ? s.close(() => r()) : r()))));
  }
}

/**
 * The variables of stacks/tcp.xml for member `i` of processes on `ports` (127.0.0.1): its own
 * port, and a TCPPING list of every member's, so that runs side by side never meet.
 */
export function tcpMemberEnv(ports: number[], i: number): Record<string, string> {
  return {
    TSGROUPS_BIND_ADDR: '127.0.0.1',
    TSGROUPS_BIND_PORT: String(ports[i]),
    TSGROUPS_PORT_RANGE: '0',
    TSGROUPS_INITIAL_HOSTS: ports.map((p) => `127.0.0.1[${p}]`).join(','),
    TSGROUPS_INITIAL_PORT_RANGE: '0',
  };
}

/** How a benchmark's header names its medium: TCP, or UDP with its multicast group. */
export function mediumLabel(stackFile: string | undefined, group: { addr: string; port: number }): string {
  return isTcpStack(stackFile) ? 'TCP (127.0.0.1)' : `UDP (127.0.0.1, ${group.addr}:${group.port}, TTL 0)`;
}
