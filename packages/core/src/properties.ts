import { BIND_ADDRESS_FORMS, bindAddressError, isIPv4Multicast, resolveBindAddress } from './bind-address.js';

/**
 * Declared protocol properties: the XML attributes a protocol accepts, with their types,
 * units and bounds. A protocol lists them in `static properties`; the defaults are the values
 * its fields are initialised with.
 *
 * Parsing is strict, so that a typo fails when the stack is built rather than later: an `int` is
 * plain decimal digits (no `0x10`, no `1e3`, no `12abc`); a `number` is a decimal that may have
 * an exponent; a `size` or `duration` is a decimal with an optional unit; a `boolean` is `true`
 * or `false` (any case). Whitespace around a value is ignored. An `address` is a bind address
 * (an IPv4 literal, `localhost`, `loopback`, `site_local` or an interface name, checked against
 * this machine's interfaces); a `multicast-address` is an IPv4 literal in 224.0.0.0/4.
 */
export type PropertyType =
  | 'boolean'
  | 'int'
  | 'number'
  | 'string'
  | 'size'
  | 'duration'
  | 'enum'
  | 'list'
  | 'address'
  | 'multicast-address';

/**
 * The longest duration a property takes: 2^31-1 ms (about 24.8 days), the longest delay Node's
 * timers honour (a longer one fires after 1 ms, with a warning).
 */
export const MAX_DURATION_MS = 2 ** 31 - 1;

export interface PropertyDecl {
  type: PropertyType;
  description?: string;
  /** Inclusive bounds for numeric types (after unit conversion). */
  min?: number;
  max?: number;
  /** Allowed values of an `enum`. */
  values?: readonly string[];
  /** The instance field that holds the value, when it differs from the property name. */
  field?: string;
}

/** Field name (camelCase) to declaration. In XML the name may also be written in snake_case. */
export type PropertyDecls = Record<string, PropertyDecl>;

const SIZE_UNITS: Record<string, number> = {
  '': 1, b: 1,
  k: 1000, kb: 1000, m: 1000 ** 2, mb: 1000 ** 2, g: 1000 ** 3, gb: 1000 ** 3,
  kib: 1024, mib: 1024 ** 2, gib: 1024 ** 3,
};

const DURATION_UNITS: Record<string, number> = {
  '': 1, ms: 1, us: 0.001, s: 1000, sec: 1000, m: 60_000, min: 60_000, h: 3_600_000,
};

/** `4M` = 4,000,000 bytes and `4MiB` = 4,194,304, as in JGroups. */
export function parseSize(text: string): number | undefined {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(text);
  if (!m) return undefined;
  const factor = SIZE_UNITS[m[2]!.toLowerCase()];
  if (factor === undefined) return undefined;
  const n = Math.round(Number(m[1]) * factor);
  return Number.isSafeInteger(n) ? n : undefined;
}

/** A duration in milliseconds: `1500`, `1.5s`, `500ms`, `2m`, `1h`. */
export function parseDuration(text: string): number | undefined {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(text);
  if (!m) return undefined;
  const factor = DURATION_UNITS[m[2]!.toLowerCase()];
  if (factor === undefined) return undefined;
  const n = Number(m[1]) * factor;
  return Number.isFinite(n) ? n : undefined;
}

/** Plain decimal integers only: `42`, `-7`, `+3`; not `0x10`, `1e3`, `1.0` or `12abc`. */
const INT_TEXT = /^[+-]?\d+$/;
/** A decimal number with an optional exponent: `0.25`, `-1.5`, `1e3`, `.5`; not hex, not `Infinity`. */
const NUMBER_TEXT = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$/;

/** `mcast_port` -> `mcastPort`. */
export function snakeToCamel(name: string): string {
  return name.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

/** `mcastPort` -> `mcast_port`. */
export function camelToSnake(name: string): string {
  return name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}

/**
 * Converts `value` (XML text or a typed value) to the declared type, or returns an error text.
 */
export function convertProperty(decl: PropertyDecl, value: unknown): { value: unknown } | { error: string } {
  let out: unknown;
  const text = typeof value === 'string' ? value.trim() : undefined;
  switch (decl.type) {
    case 'boolean':
      if (typeof value === 'boolean') out = value;
      else if (text !== undefined && /^(true|false)$/i.test(text)) out = text.toLowerCase() === 'true';
      else return { error: `expected true or false, got ${JSON.stringify(value)}` };
      break;
    case 'int': {
      const n = typeof value === 'number' ? value : text !== undefined && INT_TEXT.test(text) ? Number(text) : NaN;
      if (!Number.isSafeInteger(n)) return { error: `expected an integer in decimal digits, got ${JSON.stringify(value)}` };
      out = n;
      break;
    }
    case 'number': {
      const n = typeof value === 'number' ? value : text !== undefined && NUMBER_TEXT.test(text) ? Number(text) : NaN;
      if (!Number.isFinite(n)) return { error: `expected a decimal number, got ${JSON.stringify(value)}` };
      out = n;
      break;
    }
    case 'size': {
      const n = typeof value === 'number' ? value : text !== undefined ? parseSize(text) : undefined;
      if (n === undefined || !Number.isSafeInteger(n) || n < 0) {
        return { error: `expected a size in whole bytes such as 65536, 64K or 4M, got ${JSON.stringify(value)}` };
      }
      out = n;
      break;
    }
    case 'duration': {
      const n = typeof value === 'number' ? value : text !== undefined ? parseDuration(text) : undefined;
      if (n === undefined || !Number.isFinite(n) || n < 0) {
        return { error: `expected a duration such as 500, 500ms, 1.5s or 2m, got ${JSON.stringify(value)}` };
      }
      if (n > MAX_DURATION_MS) {
        return { error: `must be at most ${MAX_DURATION_MS} ms (about 24.8 days, the longest timer Node runs), got ${JSON.stringify(value)}` };
      }
      out = n;
      break;
    }
    case 'address':
      if (text === undefined || text === '') return { error: `expected ${BIND_ADDRESS_FORMS}, got ${JSON.stringify(value)}` };
      if (resolveBindAddress(text) === undefined) return { error: bindAddressError(text) };
      out = text;
      break;
    case 'multicast-address':
      if (text === undefined || !isIPv4Multicast(text)) {
        return { error: `expected an IPv4 multicast address (224.0.0.0 to 239.255.255.255), got ${JSON.stringify(value)}` };
      }
      out = text;
      break;
    case 'string':
      if (typeof value !== 'string') return { error: `expected text, got ${JSON.stringify(value)}` };
      out = value;
      break;
    case 'enum':
      if (typeof value !== 'string' || !decl.values?.includes(text!)) {
        return { error: `expected one of ${decl.values?.join(', ')}, got ${JSON.stringify(value)}` };
      }
      out = text;
      break;
    case 'list':
      if (Array.isArray(value)) out = value.map(String);
      else if (typeof value === 'string') out = value.split(',').map((s) => s.trim()).filter((s) => s !== '');
      else return { error: `expected a comma-separated list, got ${JSON.stringify(value)}` };
      break;
  }
  if (typeof out === 'number') {
    if (decl.min !== undefined && out < decl.min) return { error: `must be at least ${decl.min}, got ${out}` };
    if (decl.max !== undefined && out > decl.max) return { error: `must be at most ${decl.max}, got ${out}` };
  }
  return { value: out };
}
