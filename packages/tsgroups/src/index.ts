/**
 * tsgroups: reliable group communication for Node.js. This package re-exports the core
 * (Channel, Message, View, Protocol ...), the built-in protocols and the building blocks,
 * registers the built-in protocols so XML stacks can name them, and ships its stacks
 * (udp.xml, loopback.xml ...) so that `new Channel('loopback.xml')` finds them by name.
 */
import { fileURLToPath } from 'node:url';
import { addStackDirectory, Channel } from '@tsgroups/core';
import { registerBuiltinProtocols } from '@tsgroups/protocols';

registerBuiltinProtocols();

// The package's stacks/ folder sits next to dist/ (and src/), wherever the package is installed.
addStackDirectory(fileURLToPath(new URL('../stacks/', import.meta.url)));

// `new Channel()` without a stack uses the shipped UDP stack, as JGroups uses its udp.xml.
Channel.defaultStack ??= 'udp.xml';

export * from '@tsgroups/core';
export * from '@tsgroups/protocols';
export * from '@tsgroups/blocks';
