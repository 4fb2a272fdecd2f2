import { ConfigError, PhysicalAddress, type PropertyDecls } from '@tsgroups/core';
import { ProtocolId } from '../ids.js';
import { PING } from './ping.js';

/**
 * Parses `host[port],host[port]` (JGroups' initial_hosts form; `host:port` is taken too) and
 * expands each entry to `port .. port + portRange`.
 * @throws Error naming the entry that is not an IPv4 `host[port]`
 */
export function parseInitialHosts(text: string, portRange: number): PhysicalAddress[] {
  const out: PhysicalAddress[] = [];
  const seen = new Set<string>();
  for (const raw of text.split(',')) {
    const entry = raw.trim();
    if (entry === '') continue;
    const m = /^([^[\]:\s]+)(?:\[(\d+)\]|:(\d+))$/.exec(entry);
    const host = m?.[1];
    const port = Number(m?.[2] ?? m?.[3]);
    if (host === undefined || !Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`"${entry}" is not host[port]`);
    for (let p = port; p <= Math.min(65535, port + portRange); p++) {
      const a = PhysicalAddress.tryOf(host === 'localhost' ? '127.0.0.1' : host, p);
      if (a === undefined) throw new Error(`"${entry}" is not an IPv4 host[port]`);
      if (!seen.has(a.toString())) out.push(a);
      seen.add(a.toString());
    }
  }
  return out;
}

/**
 * Discovery without multicast, as JGroups' TCPPING: the same contract and messages as PING, and
 * each discovery request also goes straight to every address of a static list
 * (`initial_hosts="host[port],host[port]"`, each probed over `port .. port + port_range`), so a
 * member finds the others before it knows any of them. Members need not all be listed: one that
 * is reached answers, and then knows the requester too. Needs a transport that sends to an
 * address that names no member yet: TCP, or UDP (with ip_mcast="false" too, where PING itself is
 * refused); over another transport only PING's multicast goes out.
 */
export class TCPPING extends PING {
  static override readonly protocolName = 'TCPPING';
  static override readonly id: number = ProtocolId.TCPPING;
  static override readonly properties: PropertyDecls = {
    initialHosts: { type: 'string', description: 'Members to ask, host[port],host[port] (IPv4 addresses or localhost)' },
    portRange: { type: 'int', min: 0, max: 100, description: 'Ports probed above each listed port (0: that port only)' },
  };

  initialHosts = '';
  portRange = 0;

  private hosts: PhysicalAddress[] = [];

  override init(): void {
    try {
      this.hosts = parseInitialHosts(this.initialHosts, this.portRange);
    } catch (err) {
      throw new ConfigError('ERR_CONFIG_BAD_VALUE', `TCPPING initial_hosts: ${(err as Error).message}`, {
        source: this.stack.source,
        element: 'TCPPING',
        attribute: 'initial_hosts',
      });
    }
  }

  /** The addresses a request goes to (the list, expanded by port_range). */
  get targets(): readonly PhysicalAddress[] {
    return this.hosts;
  }

  protected override sendRequest(): void {
    super.sendRequest();
    this.sendRequestTo(this.hosts);
  }
}
