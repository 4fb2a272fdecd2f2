// A marshaller for docs/getting-started.md (shown there verbatim, run by
// test/docs-example.test.ts): Node's structured clone format carries what JSON cannot, such as
// Map, Set, Date, BigInt, typed arrays and cyclic objects.
import { deserialize, serialize } from 'node:v8';
import { type Marshaller, TsgroupsError } from 'tsgroups';

export const v8Marshaller: Marshaller = {
  objectToBuffer(obj: unknown): Uint8Array {
    try {
      return serialize(obj);
    } catch (err) {
      throw new TsgroupsError('ERR_MARSHALLING', `cannot marshal value: ${(err as Error).message}`, { cause: err });
    }
  },
  objectFromBuffer(buf: Uint8Array, offset: number, length: number): unknown {
    try {
      return deserialize(buf.subarray(offset, offset + length));
    } catch (err) {
      throw new TsgroupsError('ERR_MARSHALLING', `payload is not a marshalled value: ${(err as Error).message}`, { cause: err });
    }
  },
};
