import { isIP } from 'node:net';

/**
 * Where a member can be reached on the network: an IP address and a port. Protocols pass it
 * between them (GET_PHYSICAL_ADDRESS, ADD_PHYSICAL_ADDRESS ...) as this type; only the wire
 * and logs see its text form `host:port` (`[::1]:7800` for IPv6).
 */
export class PhysicalAddress {
  private constructor(
    /** An IPv4 or IPv6 literal. */
    readonly host: string,
    readonly port: number,
  ) {}

  /**
   * @throws RangeError if `host` is not an IP literal or `port` is not an integer 0..65535
   */
  static of(host: string, port: number): PhysicalAddress {
    const p = PhysicalAddress.tryOf(host, port);
    if (p === undefined) throw new RangeError(`not a physical address: host ${JSON.stringify(host)}, port ${port}`);
    return p;
  }

  /** The address, or undefined if `host` is not an IP literal or `port` is out of range. */
  static tryOf(host: string, port: number): PhysicalAddress | undefined {
    if (typeof host !== 'string' || isIP(host) === 0) return undefined;
    if (!Number.isInteger(port) || port < 0 || port > 65535) return undefined;
    return new PhysicalAddress(host, port);
  }

  /** Parses `host:port` or `[v6]:port`; undefined for anything else. */
  static parse(text: unknown): PhysicalAddress | undefined {
    if (typeof text !== 'string' || text.length > 64) return undefined;
    const i = text.lastIndexOf(':');
    if (i <= 0) return undefined;
    let host = text.slice(0, i);
    if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1);
    const portText = text.slice(i + 1);
    if (!/^\d{1,5}$/.test(portText)) return undefined;
    return PhysicalAddress.tryOf(host, Number(portText));
  }

  /** True for the same host and port. */
  equals(other: PhysicalAddress | null | undefined): boolean {
    return other != null && other.host === this.host && other.port === this.port;
  }

  /** `host:port`, or `[host]:port` for IPv6: the form {@link parse} reads. */
  toString(): string {
    return isIP(this.host) === 6 ? `[${this.host}]:${this.port}` : `${this.host}:${this.port}`;
  }

  toJSON(): string {
    return this.toString();
  }
}
