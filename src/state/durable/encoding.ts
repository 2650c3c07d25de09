/**
 * Byte encodings of the durable backend: store keys ordered so that a key
 * group and a (key group, namespace) are each one contiguous range, and values
 * in msgpackr.
 *
 * A store key is
 *
 *   table id (u32 BE) | key group (u16 BE) | namespace (8 bytes) | tag (1 byte) | key bytes
 *
 * The namespace is a double made order-preserving (the sign bit flipped for
 * positives, every bit flipped for negatives), so windows sort by start. Table
 * id 0 is reserved for the backend's own metadata.
 */
import { deserialize, serialize } from 'node:v8';
import { Packr } from 'msgpackr';
import type { Key } from '../../core/key-groups.ts';

/** Bytes before the namespace: table id and key group. */
export const GROUP_PREFIX_BYTES = 6;
/** Bytes before the key's tag: table id, key group and namespace. */
export const NAMESPACE_PREFIX_BYTES = 14;
/** The largest key group the u16 field holds. */
export const MAX_KEY_GROUPS = 0x10000;

const TAG_NUMBER = 1;
const TAG_UTF8 = 2;
// Strings with a lone surrogate do not survive UTF-8; they are kept as UTF-16 code units.
const TAG_UTF16 = 3;
const LONE_SURROGATE = /\p{Cs}/u;

/** The longest store key LMDB takes with its default page size. */
const MAX_STORE_KEY_BYTES = 1978;

const scratch = Buffer.alloc(8);

function writeOrderedDouble(buf: Buffer, value: number, at: number): void {
  // -0 and 0 are one Map key, and so one store key; every NaN is the same one.
  const x = value === 0 ? 0 : value;
  if (Number.isNaN(x)) {
    buf.writeUInt32BE(0xfff80000, at);
    buf.writeUInt32BE(0, at + 4);
    return;
  }
  buf.writeDoubleBE(x, at);
  if ((buf[at]! & 0x80) === 0) buf[at] = buf[at]! ^ 0x80;
  else for (let i = at; i < at + 8; i++) buf[i] = ~buf[i]! & 0xff;
}

function readOrderedDouble(buf: Uint8Array, at: number): number {
  if ((buf[at]! & 0x80) !== 0) {
    for (let i = 0; i < 8; i++) scratch[i] = buf[at + i]!;
    scratch[0] = scratch[0]! ^ 0x80;
  } else for (let i = 0; i < 8; i++) scratch[i] = ~buf[at + i]! & 0xff;
  return scratch.readDoubleBE(0);
}

function writePrefix(buf: Buffer, tableId: number, keyGroup: number): void {
  buf.writeUInt32BE(tableId, 0);
  buf.writeUInt16BE(keyGroup, 4);
}

/** The store key of one entry. */
export function encodeKey(tableId: number, keyGroup: number, namespace: number, key: Key): Buffer {
  let buf: Buffer;
  if (typeof key === 'number') {
    buf = Buffer.allocUnsafe(NAMESPACE_PREFIX_BYTES + 9);
    buf[NAMESPACE_PREFIX_BYTES] = TAG_NUMBER;
    writeOrderedDouble(buf, key, NAMESPACE_PREFIX_BYTES + 1);
  } else if (!LONE_SURROGATE.test(key)) {
    buf = Buffer.allocUnsafe(NAMESPACE_PREFIX_BYTES + 1 + Buffer.byteLength(key));
    buf[NAMESPACE_PREFIX_BYTES] = TAG_UTF8;
    buf.write(key, NAMESPACE_PREFIX_BYTES + 1, 'utf8');
  } else {
    buf = Buffer.allocUnsafe(NAMESPACE_PREFIX_BYTES + 1 + key.length * 2);
    buf[NAMESPACE_PREFIX_BYTES] = TAG_UTF16;
    buf.write(key, NAMESPACE_PREFIX_BYTES + 1, 'utf16le');
  }
  writePrefix(buf, tableId, keyGroup);
  writeOrderedDouble(buf, namespace, GROUP_PREFIX_BYTES);
  return buf;
}

/** Whether `key` makes a store key longer than LMDB takes (only strings of 600+ characters can). */
export function keyTooLong(key: Key): boolean {
  if (typeof key !== 'string' || key.length <= 600) return false;
  const bytes = LONE_SURROGATE.test(key) ? key.length * 2 : Buffer.byteLength(key);
  return NAMESPACE_PREFIX_BYTES + 1 + bytes > MAX_STORE_KEY_BYTES;
}

/** The prefix shared by every entry of one key group of one table. */
export function groupPrefix(tableId: number, keyGroup: number): Buffer {
  const buf = Buffer.allocUnsafe(GROUP_PREFIX_BYTES);
  writePrefix(buf, tableId, keyGroup);
  return buf;
}

/** The prefix shared by every entry of one namespace in one key group of one table. */
export function namespacePrefix(tableId: number, keyGroup: number, namespace: number): Buffer {
  const buf = Buffer.allocUnsafe(NAMESPACE_PREFIX_BYTES);
  writePrefix(buf, tableId, keyGroup);
  writeOrderedDouble(buf, namespace, GROUP_PREFIX_BYTES);
  return buf;
}

/** The first key after every key that starts with `prefix` (the exclusive end of its range). */
export function prefixEnd(prefix: Uint8Array): Buffer {
  const end = Buffer.from(prefix);
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i] !== 0xff) {
      end[i] = end[i]! + 1;
      return end.subarray(0, i + 1);
    }
  }
  // Only reachable for an all-0xff prefix, which table ids below 2^32 - 1 never make.
  throw new RangeError('prefix has no successor');
}

/** The table id of a store key. */
export function keyTable(buf: Uint8Array): number {
  return ((buf[0]! << 24) | (buf[1]! << 16) | (buf[2]! << 8) | buf[3]!) >>> 0;
}

/** The key group of a store key. */
export function keyGroupOfKey(buf: Uint8Array): number {
  return (buf[4]! << 8) | buf[5]!;
}

/** The namespace of a store key. */
export function keyNamespace(buf: Uint8Array): number {
  return readOrderedDouble(buf, GROUP_PREFIX_BYTES);
}

/** The user key of a store key. */
export function keyKey(buf: Uint8Array): Key {
  const tag = buf[NAMESPACE_PREFIX_BYTES];
  const view = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  if (tag === TAG_NUMBER) return readOrderedDouble(buf, NAMESPACE_PREFIX_BYTES + 1);
  if (tag === TAG_UTF8) return view.toString('utf8', NAMESPACE_PREFIX_BYTES + 1);
  return view.toString('utf16le', NAMESPACE_PREFIX_BYTES + 1);
}

// structuredClone keeps Map, Set, Date, undefined, bigint, typed arrays and
// shared references; records keep repeated object shapes compact. Each value
// carries its own record definitions, so any value decodes alone after a reopen.
// copyBuffers: decoded binary must not point into the store's reused read buffer.
// Measured here on ~150-byte objects: ~1M encodes+decodes/s, against ~0.3M for v8.serialize.
const packr = new Packr({ structuredClone: true, copyBuffers: true });

/** U+FFFD in UTF-8: what msgpackr writes for a lone surrogate, which UTF-8 cannot hold. */
const REPLACEMENT = Buffer.from([0xef, 0xbf, 0xbd]);
/** A first byte msgpack never uses: v8.serialize bytes follow. */
const V8_VALUE = 0xc1;

/**
 * Encodes a state value. One with a string msgpackr would not give back
 * exactly (a lone surrogate) goes through v8.serialize, which keeps strings
 * as they are (issue 19); found by one native byte search, rare.
 */
export function encodeValue(value: unknown): Uint8Array {
  const packed = packr.pack(value);
  if (packed.indexOf(REPLACEMENT) < 0) return packed;
  const v8 = serialize(value);
  const out = Buffer.allocUnsafe(v8.length + 1);
  out[0] = V8_VALUE;
  v8.copy(out, 1);
  return out;
}

/** Decodes what {@link encodeValue} produced. */
export function decodeValue(bytes: Uint8Array): unknown {
  if (bytes[0] === V8_VALUE) return deserialize(bytes.subarray(1));
  return packr.unpack(bytes);
}
