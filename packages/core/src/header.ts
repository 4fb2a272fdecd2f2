import { Writer, type Reader } from './wire/protobuf.js';
import { TsgroupsError } from './errors.js';

/**
 * Encodes one protocol's header into the datagram and back. The static code protobufjs
 * generates from a `.proto` message has exactly this shape (`Foo.encode`, `Foo.decode`).
 */
export interface HeaderCodec<H = unknown> {
  encode(header: H, writer: Writer): unknown;
  decode(reader: Reader, length: number): H;
  /**
   * The exact number of bytes `encode(header, w)` writes. The bundler asks it for every message
   * it packs, so it must be cheap: count (see `varintSize` and friends), never encode. Without
   * it, tsgroups measures by encoding the header into a scratch buffer, which is exact but costs
   * an encoding per message (fine for rare control headers, not for one on every message).
   */
  size?(header: H): number;
}

interface Entry {
  name: string;
  codec: HeaderCodec;
  /** `codec.size`, or a measurement by encoding where the codec has none. */
  size: (header: unknown) => number;
}

/** Ids below this (tsgroups' own, and the first user ids) are found by array index, not by Map. */
const FAST_IDS = 2048;

/** The writer headers without a `size()` are measured with (taken while in use: a nested measure gets its own). */
let scratch: Writer | null = null;

/** The exact encoded size of `header`, found by encoding it (for codecs without a `size()`). */
export function measureHeader<H>(codec: HeaderCodec<H>, header: H): number {
  const w = scratch ?? Writer.create();
  scratch = null;
  w.pos = 0;
  if (w.states !== null) w.states.length = 0;
  try {
    codec.encode(header, w);
    return w.pos;
  } finally {
    // A writer grown by a huge header is not kept.
    if (w.buf.length <= 64 * 1024) scratch = w;
  }
}

/**
 * Header codecs by protocol id. The id travels on the wire in front of each header, so all
 * members of a cluster must register the same protocol under the same id. Ids below 1000 are
 * tsgroups' own; use 1000 and above for your protocols.
 */
export class HeaderRegistry {
  private static readonly codecs = new Map<number, Entry>();
  /** Entries of ids below {@link FAST_IDS} by id: the bundler looks one up for every header it sizes. */
  private static readonly fast: (Entry | undefined)[] = new Array<Entry | undefined>(FAST_IDS).fill(undefined);

  static register(id: number, name: string, codec: HeaderCodec): void {
    if (!Number.isInteger(id) || id <= 0 || id > 0xffff) {
      throw new TsgroupsError('ERR_PROTOCOL_REGISTRY', `protocol ${name}: header id must be an integer 1..65535, got ${id}`);
    }
    const existing = HeaderRegistry.codecs.get(id);
    if (existing && existing.name !== name) {
      throw new TsgroupsError('ERR_PROTOCOL_REGISTRY', `header id ${id} of ${name} is already used by ${existing.name}`);
    }
    const size = codec.size === undefined ? (h: unknown) => measureHeader(codec, h) : codec.size.bind(codec);
    const entry = { name, codec, size };
    HeaderRegistry.codecs.set(id, entry);
    if (id < FAST_IDS) HeaderRegistry.fast[id] = entry;
  }

  static get(id: number): HeaderCodec | undefined {
    return (id < FAST_IDS ? HeaderRegistry.fast[id] : HeaderRegistry.codecs.get(id))?.codec;
  }

  /**
   * The exact number of bytes the codec of protocol `id` writes for `header`.
   * @throws TsgroupsError `ERR_PROTOCOL_REGISTRY` if no codec is registered for `id`
   */
  static sizeOf(id: number, header: unknown): number {
    const e = id < FAST_IDS ? HeaderRegistry.fast[id] : HeaderRegistry.codecs.get(id);
    if (e === undefined) throw new TsgroupsError('ERR_PROTOCOL_REGISTRY', `no header codec registered for protocol id ${id}`);
    return e.size(header);
  }

  static nameOf(id: number): string | undefined {
    return HeaderRegistry.codecs.get(id)?.name;
  }
}
