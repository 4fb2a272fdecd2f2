import { Resolver } from 'node:dns/promises';
import { isIP } from 'node:net';
import { ConfigError, PhysicalAddress, type ProtocolStack, type PropertyDecls } from '@tsgroups/core';
import { ProtocolId } from '../ids.js';
import { PING } from './ping.js';
import type { FindMembersRequest, PingData } from './ping-data.js';

/** The record types DNS_PING asks for. */
export type DnsRecordType = 'A' | 'AAAA' | 'SRV';

const RECORD_TYPES: readonly DnsRecordType[] = ['A', 'AAAA', 'SRV'];

/**
 * Discovery through DNS, as JGroups' DNS_PING: at the start of every discovery round the name
 * `dns_query` is resolved, and PING's request goes straight to each address found, as TCPPING
 * sends it to its static list. Made for a Kubernetes headless service, whose name resolves to
 * the addresses of the pods ready behind it.
 *
 * - `A` / `AAAA` records name hosts only: each address is probed on the transport's `bind_port ..
 *   bind_port + port_range` (`port_range` of DNS_PING), so every member listens on the same port
 *   of its own address (a pod's IP).
 * - `SRV` records name a host and a port each; a host name is resolved by its A records.
 *
 * The server is `dns_address` (`host` or `host:port`) or, when empty, the system's (from
 * /etc/resolv.conf; /etc/hosts is not read). A lookup ends with the round at the latest. DNS
 * failures (NXDOMAIN, no records, a timeout, a server down) are counted (`dnsFailures`) and logged
 * at debug: the round goes on with PING's own request, so a lone member still founds its group.
 * An address found is only a place to ask: a member is found when it answers, so a stale record
 * finds nobody.
 */
export class DNS_PING extends PING {
  static override readonly protocolName = 'DNS_PING';
  static override readonly id: number = ProtocolId.DNS_PING;
  static override readonly properties: PropertyDecls = {
    dnsQuery: { type: 'string', description: 'The name to resolve, e.g. a Kubernetes headless service (my-app.my-namespace.svc.cluster.local)' },
    dnsRecordType: { type: 'string', description: 'The records asked for: A, AAAA or SRV (any case)' },
    dnsAddress: { type: 'string', description: 'The DNS server, host or host:port (empty: the system\'s resolvers)' },
    portRange: { type: 'int', min: 0, max: 100, description: 'Ports probed above the transport\'s bind_port on each A/AAAA address (0: bind_port only)' },
  };

  dnsQuery = '';
  dnsRecordType = 'A';
  dnsAddress = '';
  portRange = 0;

  /** The addresses the last lookup found: where this member's requests go. */
  private found: PhysicalAddress[] = [];
  /** Lookups under way, cancelled when their round ends or the protocol stops. */
  private readonly lookups = new Set<Resolver>();
  private running = false;
  /** Numbers lookups, so that a slow one never overwrites what a newer one found. */
  private lookupSeq = 0;

  readonly dnsStats = { dnsLookups: 0, dnsFailures: 0, dnsAddressesFound: 0 };

  /** The record type asked for, upper case. */
  get recordType(): DnsRecordType {
    return this.dnsRecordType.trim().toUpperCase() as DnsRecordType;
  }

  /** Where the last lookup says members are (each address with its ports). */
  get targets(): readonly PhysicalAddress[] {
    return this.found;
  }

  override getStats(): Record<string, number> {
    return { ...super.getStats(), ...this.dnsStats };
  }

  /**
   * Refuses an empty dns_query, a record type other than A, AAAA or SRV, a dns_address that is not
   * host or host:port, and A/AAAA records over a transport without a fixed bind_port (they carry
   * no port: members listen on the transport's bind_port).
   */
  override checkConfig(stack: ProtocolStack): void {
    super.checkConfig(stack);
    if (this.dnsQuery.trim() === '') {
      throw this.configError(stack, 'dns_query', 'DNS_PING dns_query is empty: name the DNS name whose records list the members');
    }
    if (!RECORD_TYPES.includes(this.recordType)) {
      throw this.configError(stack, 'dns_record_type', `DNS_PING dns_record_type: expected A, AAAA or SRV, got ${JSON.stringify(this.dnsRecordType)}`);
    }
    if (this.dnsAddress.trim() !== '') {
      try {
        new Resolver().setServers([this.dnsAddress.trim()]);
      } catch (err) {
        throw this.configError(stack, 'dns_address', `DNS_PING dns_address: expected host or host:port, got ${JSON.stringify(this.dnsAddress)} (${(err as Error).message})`);
      }
    }
    const t = stack.getTransport() as { bindPort?: unknown; name: string } | undefined;
    if (this.recordType !== 'SRV' && t !== undefined && t.bindPort === 0) {
      throw new ConfigError(
        'ERR_CONFIG_BAD_VALUE',
        `DNS_PING with ${this.recordType} records probes the transport's bind_port on each address, but ${t.name} bind_port is 0 (any port): set a bind_port, or use SRV records`,
        { source: stack.source, element: t.name, attribute: 'bind_port' },
      );
    }
  }

  override start(): void | Promise<void> {
    this.running = true;
    return super.start();
  }

  override stop(): void {
    this.running = false;
    for (const r of this.lookups) r.cancel();
    this.lookups.clear();
    super.stop();
  }

  protected override findMembers(req: FindMembersRequest): Promise<PingData[]> {
    if (this.selfData() === undefined || this.stack.clusterName === null) return super.findMembers(req);
    // This round asks only where this round's lookup points (a record may have changed).
    this.found = [];
    void this.lookup(req.timeout);
    return super.findMembers(req);
  }

  protected override sendRequest(): void {
    super.sendRequest();
    this.sendRequestTo(this.found);
  }

  /** Resolves dns_query, then sends the request to what it found; never rejects. */
  private async lookup(timeoutMs: number): Promise<void> {
    const resolver = new Resolver({ timeout: Math.max(1, timeoutMs), tries: 1 });
    if (this.dnsAddress.trim() !== '') resolver.setServers([this.dnsAddress.trim()]);
    this.lookups.add(resolver);
    // c-ares' timeout is per try and per server: the round's end bounds the whole lookup.
    const deadline = this.timer.schedule(timeoutMs, () => resolver.cancel());
    this.dnsStats.dnsLookups++;
    const seq = ++this.lookupSeq;
    try {
      const found = await this.resolve(resolver);
      if (!this.running || seq !== this.lookupSeq) return;
      this.found = found;
      this.dnsStats.dnsAddressesFound = found.length;
      this.sendRequestTo(found);
    } catch (err) {
      if (!this.running) return; // cancelled by stop()
      this.dnsStats.dnsFailures++;
      const code = (err as { code?: string }).code ?? String(err);
      this.log.debug(`DNS_PING: looking up ${this.recordType} records of ${this.dnsQuery} failed (${code}); asking only the members this member knows`);
    } finally {
      deadline.cancel();
      this.lookups.delete(resolver);
    }
  }

  private async resolve(resolver: Resolver): Promise<PhysicalAddress[]> {
    const name = this.dnsQuery.trim();
    switch (this.recordType) {
      case 'A':
        return this.withTransportPorts(await resolver.resolve4(name));
      case 'AAAA':
        return this.withTransportPorts(await resolver.resolve6(name));
      case 'SRV': {
        const records = await resolver.resolveSrv(name);
        const perRecord = await Promise.all(records.map(async (r) => {
          try {
            const hosts = isIP(r.name) !== 0 ? [r.name] : await resolver.resolve4(r.name);
            return hosts.map((h) => PhysicalAddress.tryOf(h, r.port)).filter((a) => a !== undefined);
          } catch (err) {
            // One target without an address hides only that member.
            this.dnsStats.dnsFailures++;
            this.log.debug(`DNS_PING: the SRV target ${r.name} of ${name} has no A record (${(err as { code?: string }).code ?? String(err)})`);
            return [];
          }
        }));
        return dedupe(perRecord.flat());
      }
    }
  }

  /** Each address on the transport's bind_port .. bind_port + port_range. */
  private withTransportPorts(hosts: string[]): PhysicalAddress[] {
    const bindPort = (this.stack.getTransport() as { bindPort?: unknown } | undefined)?.bindPort;
    if (typeof bindPort !== 'number' || bindPort <= 0) return [];
    const out: PhysicalAddress[] = [];
    for (const h of hosts) {
      for (let p = bindPort; p <= Math.min(65535, bindPort + this.portRange); p++) {
        const a = PhysicalAddress.tryOf(h, p);
        if (a !== undefined) out.push(a);
      }
    }
    return dedupe(out);
  }
}

function dedupe(list: PhysicalAddress[]): PhysicalAddress[] {
  const seen = new Map<string, PhysicalAddress>();
  for (const a of list) seen.set(a.toString(), a);
  return [...seen.values()];
}
