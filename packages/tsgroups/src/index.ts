/**
 * tsgroups: reliable group communication for Node.js. This package re-exports the core
 * (Channel, Message, View, Protocol ...), the built-in protocols and the building blocks,
 * and registers the built-in protocols so XML stacks can name them.
 */
import { registerBuiltinProtocols } from '@tsgroups/protocols';

registerBuiltinProtocols();

export * from '@tsgroups/core';
export * from '@tsgroups/protocols';
export * from '@tsgroups/blocks';
