import { randomFillSync } from 'node:crypto';
import { hostname } from 'node:os';

const HEX: string[] = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

/**
 * The identity of one member: a random 128-bit UUID, new on every connect.
 *
 * Addresses are interned: while any reference to an address is alive, every decode of the same
 * 16 bytes returns the same object, so addresses work as keys of a plain `Map` or `Set`.
 * Compare with {@link Address.equals} or `===`; both agree.
 */
export class Address {
  /** The 16 bytes of the UUID. Do not modify. */
  readonly bytes: Uint8Array;
  /** The UUID as a 16-character latin1 string: cheap to hash and compare. */
  readonly key: string;

  private constructor(bytes: Uint8Array, key: string) {
    this.bytes = bytes;
    this.key = key;
  }

  /** A new random (version 4) UUID address. */
  static random(): Address {
    const b = randomFillSync(new Uint8Array(16));
    b[6] = (b[6]! & 0x0f) | 0x40;
    b[8] = (b[8]! & 0x3f) | 0x80;
    return Address.fromBytes(b, 0);
  }

  /** The address whose UUID is the 16 bytes at `offset` (copied). Returns the interned instance. */
  static fromBytes(buf: Uint8Array, offset = 0): Address {
    if (buf.length - offset < 16) throw new RangeError('an address needs 16 bytes');
    let key = '';
    for (let i = 0; i < 16; i++) key += String.fromCharCode(buf[offset + i]!);
    return Address.fromKey(key, buf, offset);
  }

  /** Parses the canonical `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx` form. */
  static parse(uuid: string): Address {
    const hex = uuid.replace(/-/g, '');
    if (!/^[0-9a-fA-F]{32}$/.test(hex)) throw new RangeError(`not a UUID: ${uuid}`);
    const b = new Uint8Array(16);
    for (let i = 0; i < 16; i++) b[i] = parseInt(hex.slice(i * 2, i * 2 + 2), 16);
    return Address.fromBytes(b);
  }

  private static fromKey(key: string, buf: Uint8Array, offset: number): Address {
    const ref = interned.get(key);
    const existing = ref?.deref();
    if (existing) return existing;
    // Uint8Array.prototype.slice copies even when buf is a Node Buffer (whose slice is a view).
    const addr = new Address(Uint8Array.prototype.slice.call(buf, offset, offset + 16), key);
    interned.set(key, new WeakRef(addr));
    reaper.register(addr, key);
    return addr;
  }

  equals(other: Address | null | undefined): boolean {
    return other != null && other.key === this.key;
  }

  /** Total order by UUID bytes (used to pick merge leaders and sort members deterministically). */
  compareTo(other: Address): number {
    return this.key < other.key ? -1 : this.key > other.key ? 1 : 0;
  }

  /** The canonical UUID text. */
  toUUIDString(): string {
    const b = this.bytes;
    let s = '';
    for (let i = 0; i < 16; i++) {
      if (i === 4 || i === 6 || i === 8 || i === 10) s += '-';
      s += HEX[b[i]!];
    }
    return s;
  }

  /** The logical name if one is known, else the UUID. */
  toString(): string {
    return NameCache.get(this) ?? this.toUUIDString();
  }

  toJSON(): string {
    return this.toUUIDString();
  }
}

const interned = new Map<string, WeakRef<Address>>();
const reaper = new FinalizationRegistry<string>((key) => {
  const ref = interned.get(key);
  if (ref && ref.deref() === undefined) interned.delete(key);
});

/** Maps addresses to logical names (learned locally and through discovery); only for display. */
export class NameCache {
  private static readonly names = new Map<string, string>();
  static readonly maxSize = 10_000;

  static add(addr: Address, name: string): void {
    if (NameCache.names.size >= NameCache.maxSize && !NameCache.names.has(addr.key)) {
      // Drop the oldest entry: names only serve logging, so a bound matters more than history.
      const first = NameCache.names.keys().next().value;
      if (first !== undefined) NameCache.names.delete(first);
    }
    NameCache.names.set(addr.key, name);
  }
  static get(addr: Address): string | undefined {
    return NameCache.names.get(addr.key);
  }
  static remove(addr: Address): void {
    NameCache.names.delete(addr.key);
  }
}

/** A default logical name in JGroups' style: the host name and a random number. */
export function generateLogicalName(): string {
  return `${hostname()}-${Math.floor(Math.random() * 65535)}`;
}
