import { Buffer } from 'node:buffer';
import { DefaultSerializer, deserialize } from 'node:v8';
import { TsgroupsError } from './errors.js';

/** Turns application values into payload bytes and back. */
export interface Marshaller {
  objectToBuffer(obj: unknown): Uint8Array;
  objectFromBuffer(buf: Uint8Array, offset: number, length: number): unknown;
}

/** The first byte of a payload written by {@link jsonMarshaller}: how the rest is encoded. */
const enum Tag {
  Undefined = 0,
  /** UTF-8 text (a well-formed string). */
  String = 1,
  /** JSON text. */
  Json = 2,
  /** Node's structured-clone format (`node:v8`), for what JSON cannot hold. */
  Structured = 3,
}

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

/** Deeper values are refused: they are either cyclic or deeper than anyone sends on purpose. */
const MAX_DEPTH = 1000;

/**
 * The default marshaller. A value comes back from `getObject()` equal to the one that was
 * sent, or `send` refuses it with `ERR_MARSHALLING` naming where the bad part is
 * (`value.a[3]: an instance of Foo`). It carries:
 * - strings (as UTF-8), and JSON values: finite numbers, booleans, null, plain objects and
 *   arrays (as JSON text);
 * - besides those, anywhere inside: `undefined` (also as a property value or an array
 *   element), NaN, ±Infinity, -0, bigint, `Date`, `Map`, `Set`, `ArrayBuffer`, typed arrays
 *   (`Buffer` included) and `DataView`, and arrays with holes. A value that holds any of these
 *   is written in Node's structured-clone format (`node:v8`) instead of JSON.
 *
 * It refuses functions, symbols, class instances and other built-in objects (RegExp, Error,
 * Promise, WeakMap, SharedArrayBuffer ...), and values nested more than 1000 levels deep (which
 * is what a cyclic value looks like). Only own enumerable string-keyed properties travel (as
 * with JSON and structured clone); an object with a null prototype arrives as a plain object.
 *
 * Cost: strings and plain JSON values take one cheap walk to check them, then `JSON.stringify`.
 * The first byte of the payload says which encoding follows (0 undefined, 1 UTF-8, 2 JSON,
 * 3 structured clone).
 */
export const jsonMarshaller: Marshaller = {
  objectToBuffer(obj: unknown): Uint8Array {
    if (typeof obj === 'string' && (obj as unknown as WellFormed).isWellFormed()) return withTag(Tag.String, obj);
    if (obj === undefined) return new Uint8Array([Tag.Undefined]);
    // A finite number other than -0 is its own JSON text (JSON.stringify writes String(n)).
    if (typeof obj === 'number' && obj - obj === 0 && (obj !== 0 || 1 / obj > 0)) return withTag(Tag.Json, String(obj));
    const kind = classify(obj, 0);
    if (kind === BAD) throw refusal();
    if (kind === JSON_SAFE) {
      let json: string;
      try {
        json = JSON.stringify(obj);
      } catch (err) {
        // A getter that throws, or a value changed under our feet: JSON's own complaint.
        throw new TsgroupsError('ERR_MARSHALLING', `cannot marshal value: ${(err as Error).message}`, { cause: err });
      }
      return withTag(Tag.Json, json);
    }
    try {
      const ser = new DefaultSerializer();
      ser.writeRawBytes(STRUCTURED_TAG);
      ser.writeHeader();
      ser.writeValue(obj);
      return ser.releaseBuffer();
    } catch (err) {
      throw new TsgroupsError('ERR_MARSHALLING', `cannot marshal value: ${(err as Error).message}`, { cause: err });
    }
  },
  objectFromBuffer(buf: Uint8Array, offset: number, length: number): unknown {
    if (length < 1) throw new TsgroupsError('ERR_MARSHALLING', 'empty payload: no value was marshalled into it');
    const tag = buf[offset];
    try {
      switch (tag) {
        case Tag.Undefined:
          if (length === 1) return undefined;
          break;
        case Tag.String:
          return decodeUtf8(buf, offset + 1, offset + length);
        case Tag.Json:
          return JSON.parse(decodeUtf8(buf, offset + 1, offset + length));
        case Tag.Structured:
          return deserialize(buf.subarray(offset + 1, offset + length));
      }
    } catch (err) {
      throw new TsgroupsError('ERR_MARSHALLING', `payload is not a marshalled value: ${(err as Error).message}`, { cause: err });
    }
    throw new TsgroupsError('ERR_MARSHALLING', `payload is not a marshalled value (tag ${tag}, ${length} bytes)`);
  },
};

const STRUCTURED_TAG = new Uint8Array([Tag.Structured]);

/** ES2024's String.prototype.isWellFormed (Node 20 has it; the ES2023 lib does not declare it). */
interface WellFormed {
  isWellFormed(): boolean;
}

// ---- the walk: what a value holds, in one pass ----
// classify() returns JSON_SAFE, STRUCTURED (needs the structured-clone encoding) or BAD. On BAD
// it has recorded what is wrong in `badWhat` and the path to it in `badPath` (innermost first),
// which each level fills in on the way back: nothing is allocated while a value is fine.
const JSON_SAFE = 0;
const STRUCTURED = 1;
const BAD = -1;

let badWhat = '';
const badPath: string[] = [];

function bad(what: string): number {
  badWhat = what;
  badPath.length = 0;
  return BAD;
}

function classify(v: unknown, depth: number): number {
  switch (typeof v) {
    case 'string':
      // JSON escapes lone surrogates; structured clone keeps them too. Only a top-level
      // string goes as UTF-8, and only when it is well formed (see objectToBuffer).
      return JSON_SAFE;
    case 'boolean':
      return JSON_SAFE;
    case 'number':
      // NaN, ±Infinity (JSON writes null) and -0 (JSON writes 0).
      return v - v === 0 && (v !== 0 || 1 / v > 0) ? JSON_SAFE : STRUCTURED;
    case 'undefined':
    case 'bigint':
      return STRUCTURED;
    case 'object':
      return v === null ? JSON_SAFE : classifyObject(v, depth);
    case 'function':
      return bad('a function');
    default:
      return bad(`a ${typeof v}`);
  }
}

function classifyObject(v: object, depth: number): number {
  if (depth >= MAX_DEPTH) return bad(`nested more than ${MAX_DEPTH} levels deep (a cyclic value?)`);
  const proto: unknown = Object.getPrototypeOf(v);
  if (proto === Object.prototype || proto === null) return classifyPlain(v as Record<string, unknown>, depth);
  if (proto === Array.prototype) return classifyArray(v as unknown[], depth);
  return classifyBuiltIn(v, proto as { constructor?: unknown }, depth);
}

// The loops below settle strings, booleans, null and numbers inline: most of a JSON value is
// made of them, and a call per property would double the cost of the walk.
function classifyPlain(o: Record<string, unknown>, depth: number): number {
  let kind = JSON_SAFE;
  for (const key in o) {
    const x = o[key];
    if (typeof x === 'string' || typeof x === 'boolean' || x === null) continue;
    if (typeof x === 'number') {
      if (!(x - x === 0 && (x !== 0 || 1 / x > 0))) kind = STRUCTURED;
      continue;
    }
    const k = classify(x, depth + 1);
    if (k === BAD) {
      badPath.push(propertyStep(key));
      return BAD;
    }
    kind |= k;
  }
  return kind;
}

function classifyArray(a: unknown[], depth: number): number {
  let kind = JSON_SAFE;
  for (let i = 0; i < a.length; i++) {
    const x = a[i];
    if (typeof x === 'string' || typeof x === 'boolean' || x === null) continue;
    if (typeof x === 'number') {
      if (!(x - x === 0 && (x !== 0 || 1 / x > 0))) kind = STRUCTURED;
      continue;
    }
    // A hole (JSON writes null) needs structured clone, as does undefined.
    const k = x === undefined ? STRUCTURED : classify(x, depth + 1);
    if (k === BAD) {
      badPath.push(`[${i}]`);
      return BAD;
    }
    kind |= k;
  }
  return kind;
}

/** Typed arrays that structured clone gives back with the same type. */
const VIEW_TYPES = new Set([
  'Int8Array',
  'Uint8Array',
  'Uint8ClampedArray',
  'Int16Array',
  'Uint16Array',
  'Int32Array',
  'Uint32Array',
  'Float32Array',
  'Float64Array',
  'BigInt64Array',
  'BigUint64Array',
  'DataView',
  'Buffer',
]);

/**
 * Anything but a plain object or array of this realm: the built-ins we carry, recognized by
 * their internal tag so that values from another realm (`vm`, jest) are judged the same way.
 */
function classifyBuiltIn(v: object, proto: { constructor?: unknown }, depth: number): number {
  const ctor = typeof proto.constructor === 'function' ? (proto.constructor as { name: string }).name : '';
  const tag = Object.prototype.toString.call(v).slice(8, -1);
  switch (tag) {
    case 'Object':
      if (ctor === 'Object' && Object.getPrototypeOf(proto) === null) return classifyPlain(v as Record<string, unknown>, depth);
      break;
    case 'Array':
      if (ctor === 'Array' && Array.isArray(v)) return classifyArray(v as unknown[], depth);
      break;
    case 'Date':
    case 'ArrayBuffer':
      if (ctor === tag) return STRUCTURED;
      break;
    case 'Map':
      if (ctor === 'Map') return classifyMap(v as Map<unknown, unknown>, depth);
      break;
    case 'Set':
      if (ctor === 'Set') return classifySet(v as Set<unknown>, depth);
      break;
    default:
      if (ArrayBuffer.isView(v) && VIEW_TYPES.has(ctor)) return STRUCTURED;
  }
  if (ctor === '' || ctor === 'Object') return bad(`an object with a custom prototype`);
  if (tag !== 'Object' && ctor === tag) return bad(`${/^[AEIOU]/.test(tag) ? 'an' : 'a'} ${tag}`);
  return bad(`an instance of ${ctor}`);
}

function classifyMap(m: Map<unknown, unknown>, depth: number): number {
  let i = 0;
  for (const [key, value] of m) {
    if (classify(key, depth + 1) === BAD) {
      badPath.push(`.keys()[${i}]`);
      return BAD;
    }
    if (classify(value, depth + 1) === BAD) {
      badPath.push(`.get(${describeKey(key, i)})`);
      return BAD;
    }
    i++;
  }
  return STRUCTURED;
}

function classifySet(s: Set<unknown>, depth: number): number {
  let i = 0;
  for (const x of s) {
    if (classify(x, depth + 1) === BAD) {
      badPath.push(`.values()[${i}]`);
      return BAD;
    }
    i++;
  }
  return STRUCTURED;
}

const IDENTIFIER = /^[A-Za-z_$][\w$]*$/;

function propertyStep(key: string): string {
  return IDENTIFIER.test(key) ? `.${key}` : `[${JSON.stringify(key)}]`;
}

function describeKey(key: unknown, i: number): string {
  if (typeof key === 'string') return key.length <= 40 ? JSON.stringify(key) : `${JSON.stringify(key.slice(0, 37))}...`;
  if (typeof key === 'number' || typeof key === 'boolean') return String(key);
  if (typeof key === 'bigint') return `${key}n`;
  return `<key #${i}>`;
}

/** The error for the value classify() found BAD: `value.a[3]: an instance of Foo`. */
function refusal(): TsgroupsError {
  const steps = badPath.reverse();
  const path = steps.length > 12 ? `${steps.slice(0, 6).join('')}...${steps.slice(-4).join('')}` : steps.join('');
  badPath.length = 0;
  return new TsgroupsError(
    'ERR_MARSHALLING',
    `cannot marshal value${path}: ${badWhat} (the default marshaller carries JSON values, undefined, NaN, ` +
      `±Infinity, -0, bigint, Date, Map, Set, ArrayBuffer, typed arrays and DataView; setMarshaller() takes another)`,
  );
}

/** Up to this many characters, text is tried as ASCII by hand: cheaper than a call into Node's encoder for the short texts of RPCs. */
const SHORT_TEXT = 64;
const latin1Slice = (Buffer.prototype as unknown as { latin1Slice(this: Uint8Array, start: number, end: number): string }).latin1Slice;

/** The UTF-8 text of `buf[start, end)`; throws on malformed UTF-8. */
function decodeUtf8(buf: Uint8Array, start: number, end: number): string {
  if (end - start <= SHORT_TEXT) {
    let ascii = true;
    for (let i = start; i < end; i++) {
      if (buf[i]! > 0x7f) {
        ascii = false;
        break;
      }
    }
    // ASCII is valid UTF-8 and reads the same as Latin-1.
    if (ascii) return latin1Slice.call(buf, start, end);
  }
  return decoder.decode(buf.subarray(start, end));
}

function withTag(tag: Tag, text: string): Uint8Array {
  const len = text.length;
  if (len <= SHORT_TEXT) {
    const out = Buffer.allocUnsafe(1 + len);
    out[0] = tag;
    let i = 0;
    for (; i < len; i++) {
      const c = text.charCodeAt(i);
      if (c > 0x7f) break;
      out[i + 1] = c;
    }
    if (i === len) return out;
  }
  // The exact size, then one encoding pass into a buffer that is not zero-filled (small ones
  // come from Node's pool): about twice as fast as encodeInto() into a worst-case array.
  const n = Buffer.byteLength(text, 'utf8');
  const out = Buffer.allocUnsafe(1 + n);
  out[0] = tag;
  out.write(text, 1, n, 'utf8');
  return out;
}

export function utf8Encode(text: string): Uint8Array {
  return encoder.encode(text);
}

export function utf8Decode(buf: Uint8Array): string {
  return new TextDecoder().decode(buf);
}
