import type { Reader, Writer } from './wire/protobuf.js';
import { TsgroupsError } from './errors.js';

/**
 * Encodes one protocol's header into the datagram and back. The static code protobufjs
 * generates from a `.proto` message has exactly this shape (`Foo.encode`, `Foo.decode`).
 */
export interface HeaderCodec<H = unknown> {
  encode(header: H, writer: Writer): unknown;
  decode(reader: Reader, length: number): H;
}

interface Entry {
  name: string;
  codec: HeaderCodec;
}

/**
 * Header codecs by protocol id. The id travels on the wire in front of each header, so all
 * members of a cluster must register the same protocol under the same id. Ids below 1000 are
 * tsgroups' own; use 1000 and above for your protocols.
 */
export class HeaderRegistry {
  private static readonly codecs = new Map<number, Entry>();

  static register(id: number, name: string, codec: HeaderCodec): void {
    if (!Number.isInteger(id) || id <= 0 || id > 0xffff) {
      throw new TsgroupsError('ERR_PROTOCOL_REGISTRY', `protocol ${name}: header id must be an integer 1..65535, got ${id}`);
    }
    const existing = HeaderRegistry.codecs.get(id);
    if (existing && existing.name !== name) {
      throw new TsgroupsError('ERR_PROTOCOL_REGISTRY', `header id ${id} of ${name} is already used by ${existing.name}`);
    }
    HeaderRegistry.codecs.set(id, { name, codec });
  }

  static get(id: number): HeaderCodec | undefined {
    return HeaderRegistry.codecs.get(id)?.codec;
  }

  static nameOf(id: number): string | undefined {
    return HeaderRegistry.codecs.get(id)?.name;
  }
}
