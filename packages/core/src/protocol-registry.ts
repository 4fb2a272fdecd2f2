import { TsgroupsError } from './errors.js';
import { HeaderRegistry } from './header.js';
import type { Protocol, ProtocolClass } from './protocol.js';

const byName = new Map<string, ProtocolClass>();

/**
 * Makes a protocol class usable in XML stacks under its `protocolName` (and any aliases),
 * and registers its header codec under its id. Built-in protocols are registered the same way.
 */
export function registerProtocol<P extends Protocol>(cls: ProtocolClass<P>, ...aliases: string[]): void {
  const name = cls.protocolName;
  if (!name || typeof name !== 'string' || name === 'Protocol') {
    throw new TsgroupsError('ERR_PROTOCOL_REGISTRY', `protocol class ${cls.name} must declare a static protocolName`);
  }
  for (const n of [name, ...aliases]) {
    const existing = byName.get(n);
    if (existing && existing !== cls) {
      throw new TsgroupsError('ERR_PROTOCOL_REGISTRY', `protocol name ${n} is already registered by ${existing.name}`);
    }
  }
  if (cls.headerCodec) HeaderRegistry.register(cls.id, name, cls.headerCodec);
  for (const n of [name, ...aliases]) byName.set(n, cls as ProtocolClass);
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
