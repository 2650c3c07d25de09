/**
 * The binary encoding of checkpoint chunks other than state entries (those
 * are written by `entries.ts`; `decode` reads both). msgpackr with records: measured
 * here on 1M window accumulators `[key, namespace, {count, sum}]` it packed in
 * ~0.21 s against ~1.6 s for `v8.serialize` and ~0.9 s for JSON (which also
 * loses NaN, ±Infinity and undefined). Each chunk is packed on its own with a
 * fresh record table, so any chunk can be decoded alone (a restore at another
 * parallelism reads only the key groups it owns).
 */
import { deserialize, serialize } from 'node:v8';
import { Packr, Unpackr } from 'msgpackr';
import { decodeEntries, ENTRIES_MAGIC, REPLACEMENT } from './entries.ts';

const OPTIONS = { useRecords: true, moreTypes: true, mapsAsObjects: false } as const;
/** After ENTRIES_MAGIC (a byte msgpack never starts with): a v8.serialize chunk follows. */
const V8_CHUNK = 0xff;

/**
 * Encodes one value (a chunk's entries, a source position, timers, ...)
 * self-contained. A value msgpackr would not give back exactly — a string
 * with a lone surrogate, which UTF-8 cannot hold (a timer's key '\uD800'
 * came back as U+FFFD, issue 19) — goes through v8.serialize instead.
 */
export function encode(value: unknown): Uint8Array {
  const packed = new Packr(OPTIONS).pack(value);
  if (packed.indexOf(REPLACEMENT) < 0) return packed;
  const v8 = serialize(value);
  const out = Buffer.allocUnsafe(v8.length + 2);
  out[0] = ENTRIES_MAGIC;
  out[1] = V8_CHUNK;
  v8.copy(out, 2);
  return out;
}

/** Decodes what {@link encode} or an `EntryWriter` produced. */
export function decode(bytes: Uint8Array): unknown {
  if (bytes[0] === ENTRIES_MAGIC)
    return bytes[1] === V8_CHUNK ? deserialize(bytes.subarray(2)) : decodeEntries(bytes);
  return new Unpackr(OPTIONS).unpack(bytes);
}
