import { isIPv4 } from 'node:net';
import { networkInterfaces } from 'node:os';

/**
 * The forms an address property (`bind_addr`) accepts, as JGroups' symbolic names do: an IPv4
 * literal, `localhost`/`loopback` (127.0.0.1), `site_local` (the first private IPv4 address of a
 * non-internal interface), or the name of a network interface (its first IPv4 address).
 * Keywords are case-insensitive (`LOOPBACK`, `SITE_LOCAL` work too).
 */
export const BIND_ADDRESS_FORMS = 'an IPv4 address, localhost, loopback, site_local or the name of a network interface with an IPv4 address';

/**
 * Resolves a bind address (see {@link BIND_ADDRESS_FORMS}) to an IPv4 literal, looking at the
 * machine's interfaces now; undefined if the text names nothing this machine has.
 */
export function resolveBindAddress(value: string): string | undefined {
  const v = value.trim();
  if (isIPv4(v)) return v;
  const lower = v.toLowerCase();
  if (lower === 'loopback' || lower === 'localhost') return '127.0.0.1';
  const ifaces = networkInterfaces();
  if (lower === 'site_local') {
    for (const addrs of Object.values(ifaces)) {
      for (const a of addrs ?? []) {
        if (a.family === 'IPv4' && !a.internal && isSiteLocal(a.address)) return a.address;
      }
    }
    return undefined;
  }
  return ifaces[v]?.find((a) => a.family === 'IPv4')?.address;
}

/** Why {@link resolveBindAddress} found nothing for `value`: the text of a configuration error. */
export function bindAddressError(value: string): string {
  const v = value.trim();
  if (v.toLowerCase() === 'site_local') return 'site_local: no interface of this machine has a private IPv4 address';
  return `expected ${BIND_ADDRESS_FORMS}, got ${JSON.stringify(value)} (interfaces: ${Object.keys(networkInterfaces()).join(', ')})`;
}

/** True for an IPv4 literal in 224.0.0.0/4. */
export function isIPv4Multicast(value: string): boolean {
  if (!isIPv4(value)) return false;
  const first = Number(value.slice(0, value.indexOf('.')));
  return first >= 224 && first <= 239;
}

function isSiteLocal(ip: string): boolean {
  const [a, b] = ip.split('.').map(Number) as [number, number];
  return a === 10 || (a === 172 && b >= 16 && b <= 31) || (a === 192 && b === 168);
}
