import { TsgroupsError } from './errors.js';

/** Turns application values into payload bytes and back. */
export interface Marshaller {
  objectToBuffer(obj: unknown): Uint8Array;
  objectFromBuffer(buf: Uint8Array, offset: number, length: number): unknown;
}

const enum Tag {
  Undefined = 0,
  String = 1,
  Json = 2,
}

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

/**
 * The default marshaller: strings as UTF-8, other JSON-safe values as JSON, each behind a
 * one-byte tag so that `getObject()` returns exactly the type that was sent.
 */
export const jsonMarshaller: Marshaller = {
  objectToBuffer(obj: unknown): Uint8Array {
    if (obj === undefined) return new Uint8Array([Tag.Undefined]);
    if (typeof obj === 'string') return withTag(Tag.String, obj);
    let json: string | undefined;
    try {
      json = JSON.stringify(obj);
    } catch (err) {
      throw new TsgroupsError('ERR_MARSHALLING', `cannot marshal value: ${(err as Error).message}`, { cause: err });
    }
    if (json === undefined) throw new TsgroupsError('ERR_MARSHALLING', `cannot marshal a value of type ${typeof obj}`);
    return withTag(Tag.Json, json);
  },
  objectFromBuffer(buf: Uint8Array, offset: number, length: number): unknown {
    if (length < 1) throw new TsgroupsError('ERR_MARSHALLING', 'empty payload: no value was marshalled into it');
    const tag = buf[offset];
    try {
      switch (tag) {
        case Tag.Undefined:
          return undefined;
        case Tag.String:
          return decoder.decode(buf.subarray(offset + 1, offset + length));
        case Tag.Json:
          return JSON.parse(decoder.decode(buf.subarray(offset + 1, offset + length)));
      }
    } catch (err) {
      throw new TsgroupsError('ERR_MARSHALLING', `payload is not a marshalled value: ${(err as Error).message}`, { cause: err });
    }
    throw new TsgroupsError('ERR_MARSHALLING', `payload is not a marshalled value (tag ${tag})`);
  },
};

function withTag(tag: Tag, text: string): Uint8Array {
  // Worst case is 3 bytes per UTF-16 unit; encodeInto avoids a second copy.
  const out = new Uint8Array(1 + text.length * 3);
  out[0] = tag;
  const { written } = encoder.encodeInto(text, out.subarray(1));
  return out.subarray(0, 1 + written);
}

export function utf8Encode(text: string): Uint8Array {
  return encoder.encode(text);
}

export function utf8Decode(buf: Uint8Array): string {
  return new TextDecoder().decode(buf);
}
