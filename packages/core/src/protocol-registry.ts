import { TsgroupsError } from './errors.js';
import { HeaderRegistry } from './header.js';
import { type Protocol, type ProtocolClass, protocolNameOf } from './protocol.js';

const byName = new Map<string, ProtocolClass>();
const byId = new Map<number, ProtocolClass>();

/**
 * Protocol ids below this are tsgroups' own (as JGroups reserves its ids below 1000); a user
 * protocol with a header takes an id from here on.
 */
export const FIRST_USER_PROTOCOL_ID = 1000;

/**
 * Makes a protocol class usable in XML stacks, and registers its header codec under its id.
 *
 * - `registerProtocol(MyProto)`: known by its own `static protocolName`, or else by its class
 *   name (`MyProto`);
 * - `registerProtocol('MY_PROTO', MyProto)`: known by the given name;
 * - more names after the class are aliases.
 *
 * A protocol's id (which keys its header on the wire) must be unique: 0 means "no header";
 * ids from 1 to 999 are reserved for the built-in protocols, so a user protocol takes 1000 or
 * more.
 * @throws TsgroupsError `ERR_PROTOCOL_REGISTRY` if a name or id is taken by another class, or
 *   the id is reserved or out of range
 */
export function registerProtocol<P extends Protocol>(cls: ProtocolClass<P>, ...aliases: string[]): void;
export function registerProtocol<P extends Protocol>(name: string, cls: ProtocolClass<P>, ...aliases: string[]): void;
export function registerProtocol(first: string | ProtocolClass, ...rest: unknown[]): void {
  register(first, rest, false);
}

/**
 * For the built-in protocols (`@tsgroups/protocols`) only: registers a class whose id lies in
 * the reserved range.
 * @internal
 */
export function registerBuiltinProtocol(cls: ProtocolClass, ...aliases: string[]): void {
  register(cls, aliases, true);
}

function register(first: string | ProtocolClass, rest: unknown[], builtin: boolean): void {
  const [cls, names] = typeof first === 'string' ? [rest[0] as ProtocolClass, [first, ...rest.slice(1)]] : [first, rest];
  if (typeof cls !== 'function') {
    throw new TsgroupsError('ERR_PROTOCOL_REGISTRY', 'registerProtocol: expected a protocol class');
  }
  if (typeof first !== 'string') names.unshift(protocolNameOf(cls));
  for (const n of names) {
    if (typeof n !== 'string' || !/^[A-Za-z_][\w.-]*$/.test(n) || n === 'Protocol') {
      throw new TsgroupsError(
        'ERR_PROTOCOL_REGISTRY',
        `protocol class ${cls.name || '(anonymous)'}: ${JSON.stringify(n)} is not a usable protocol name; ` +
          'declare a static protocolName or pass a name: registerProtocol("MY_PROTO", MyProto)',
      );
    }
    const existing = byName.get(n);
    if (existing && existing !== cls) {
      throw new TsgroupsError('ERR_PROTOCOL_REGISTRY', `protocol name ${n} is already registered by ${existing.name}`);
    }
  }
  const id = cls.id;
  const name = names[0] as string;
  if (id !== 0) {
    if (!Number.isInteger(id) || id < 0 || id > 0xffff) {
      throw new TsgroupsError('ERR_PROTOCOL_REGISTRY', `protocol ${name}: id must be an integer 0..65535, got ${id}`);
    }
    if (!builtin && id < FIRST_USER_PROTOCOL_ID) {
      throw new TsgroupsError(
        'ERR_PROTOCOL_REGISTRY',
        `protocol ${name}: id ${id} is reserved for tsgroups' own protocols (1..${FIRST_USER_PROTOCOL_ID - 1}); ` +
          `use ${FIRST_USER_PROTOCOL_ID} or more`,
      );
    }
    const other = byId.get(id);
    if (other && other !== cls) {
      throw new TsgroupsError('ERR_PROTOCOL_REGISTRY', `protocol ${name}: id ${id} is already used by ${protocolNameOf(other)}`);
    }
  }
  if (cls.headerCodec) HeaderRegistry.register(id, name, cls.headerCodec);
  if (id !== 0) byId.set(id, cls);
  for (const n of names) byName.set(n as string, cls);
}

/**
 * Finds a protocol class by its XML name. A dotted name (`pbcast.GMS`,
 * `org.jgroups.protocols.UDP`) falls back to its last segment, as JGroups configs use them.
 */
export function lookupProtocol(name: string): ProtocolClass | undefined {
  const exact = byName.get(name);
  if (exact) return exact;
  const dot = name.lastIndexOf('.');
  return dot >= 0 ? byName.get(name.slice(dot + 1)) : undefined;
}

export function registeredProtocolNames(): string[] {
  return [...byName.keys()].sort();
}
