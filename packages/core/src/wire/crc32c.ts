import { createRequire } from 'node:module';

/**
 * CRC32C (Castagnoli, polynomial 0x1EDC6F41, reflected 0x82F63B78), as iSCSI (RFC 3720) and
 * ext4 use it. Node has no built-in CRC32C (zlib.crc32 is the other polynomial, and only from
 * Node 20.15 on). `@node-rs/crc32` computes it with the CPU's CRC32C instructions (2.5-5 GB/s
 * here, 2-4 times the table below), which makes the transports' checksum cheap enough to be on by
 * default; where its prebuilt binary does not load (a platform without one), the table-driven
 * version below does the same job (slicing by 8, about 1 GB/s). No copy of the data either way.
 */
type NativeCrc32c = (input: Buffer, initialState?: number) => number;

/** Where `@node-rs/crc32` was loaded from (null: not loadable), for threads that load it too. */
export let crc32cNativeModule: string | null = null;

const native: NativeCrc32c | null = (() => {
  try {
    const req = createRequire(import.meta.url);
    const fn = (req('@node-rs/crc32') as { crc32c: NativeCrc32c }).crc32c;
    crc32cNativeModule = req.resolve('@node-rs/crc32');
    return fn;
  } catch {
    return null;
  }
})();

/** Ranges at least this long go to the native CRC32C; shorter ones to the table (faster there). */
const NATIVE_FROM = 256;

/** Which implementation {@link crc32c} uses (for ranges of 256 bytes and more). */
export const crc32cImplementation: 'native' | 'js' = native === null ? 'js' : 'native';

const POLY = 0x82f63b78;

/** Eight 256-entry tables: TABLE[k * 256 + b] is the CRC of byte b followed by k zero bytes. */
const TABLE = (() => {
  const t = new Int32Array(8 * 256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ POLY : c >>> 1;
    t[n] = c;
  }
  for (let n = 0; n < 256; n++) {
    let c = t[n]!;
    for (let k = 1; k < 8; k++) {
      c = t[c & 0xff]! ^ (c >>> 8);
      t[k * 256 + n] = c;
    }
  }
  return t;
})();

/**
 * The CRC32C of `buf[start..end)`, as an unsigned 32-bit number.
 * @param crc a previous result, to continue a checksum over several pieces
 */
export function crc32c(buf: Uint8Array, start = 0, end = buf.length, crc = 0): number {
  // Below ~256 bytes (an RPC's datagram, an ack) the table beats the call into the native module.
  if (native !== null && end - start >= NATIVE_FROM) {
    // A Buffer view of the range (no copy): the native function takes Buffers only.
    const view = start === 0 && end === buf.length && Buffer.isBuffer(buf) ? buf : Buffer.from(buf.buffer, buf.byteOffset + start, end - start);
    return native(view, crc);
  }
  return crc32cTable(buf, start, end, crc);
}

/** The table-driven CRC32C (exported for tests that compare both implementations). */
export function crc32cTable(buf: Uint8Array, start = 0, end = buf.length, crc = 0): number {
  const t = TABLE;
  let c = ~crc;
  let i = start;
  const end8 = end - ((end - start) & 7);
  for (; i < end8; i += 8) {
    const a = c ^ (buf[i]! | (buf[i + 1]! << 8) | (buf[i + 2]! << 16) | (buf[i + 3]! << 24));
    c =
      t[1792 + (a & 0xff)]! ^
      t[1536 + ((a >>> 8) & 0xff)]! ^
      t[1280 + ((a >>> 16) & 0xff)]! ^
      t[1024 + (a >>> 24)]! ^
      t[768 + buf[i + 4]!]! ^
      t[512 + buf[i + 5]!]! ^
      t[256 + buf[i + 6]!]! ^
      t[buf[i + 7]!]!;
  }
  for (; i < end; i++) c = t[(c ^ buf[i]!) & 0xff]! ^ (c >>> 8);
  return ~c >>> 0;
}
