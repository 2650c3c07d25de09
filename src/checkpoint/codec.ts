/**
 * The binary encoding of checkpoint chunks other than state entries (those
 * are written by `entry-codec.ts`; `decode` reads both). msgpackr with records: measured
 * here on 1M window accumulators `[key, namespace, {count, sum}]` it packed in
 * ~0.21 s against ~1.6 s for `v8.serialize` and ~0.9 s for JSON (which also
 * loses NaN, ±Infinity and undefined). Each chunk is packed on its own with a
 * fresh record table, so any chunk can be decoded alone (a restore at another
 * parallelism reads only the key groups it owns).
 */
import { Packr, Unpackr } from 'msgpackr';
import { decodeEntries, ENTRIES_MAGIC } from './entry-codec.ts';

const OPTIONS = { useRecords: true, moreTypes: true, mapsAsObjects: false } as const;

/** Encodes one value (a chunk's entries, a source position, ...) self-contained. */
export function encode(value: unknown): Uint8Array {
  return new Packr(OPTIONS).pack(value);
}

/** Decodes what {@link encode} or an `EntryWriter` produced. */
export function decode(bytes: Uint8Array): unknown {
  if (bytes[0] === ENTRIES_MAGIC) return decodeEntries(bytes);
  return new Unpackr(OPTIONS).unpack(bytes);
}
