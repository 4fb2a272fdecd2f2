/**
 * tsgroups: reliable group communication for Node.js. This package re-exports the core
 * (Channel, Message, View, Protocol ...), the built-in protocols and the building blocks,
 * and registers the built-in protocols so XML stacks can name them.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Channel } from '@tsgroups/core';
import { registerBuiltinProtocols } from '@tsgroups/protocols';

registerBuiltinProtocols();

// `new Channel()` without a stack uses the shipped UDP stack, as JGroups uses its udp.xml.
for (const rel of ['../../../stacks/udp.xml', '../stacks/udp.xml']) {
  const path = fileURLToPath(new URL(rel, import.meta.url));
  if (Channel.defaultStack === undefined && existsSync(path)) Channel.defaultStack = path;
}

export * from '@tsgroups/core';
export * from '@tsgroups/protocols';
export * from '@tsgroups/blocks';
