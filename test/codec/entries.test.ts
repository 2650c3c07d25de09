import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { Packr, Unpackr } from 'msgpackr';
import { decode, encode } from '../../src/codec/chunks.ts';
import { EntryWriter } from '../../src/codec/entries.ts';

const OPTIONS = { useRecords: true, moreTypes: true, mapsAsObjects: false } as const;

/** What a value should read back as: itself where eddy's writer covers it, else what msgpackr gives back. */
function expected(v: unknown): unknown {
  if (typeof v !== 'object' || v === null) return v;
  if (Array.isArray(v) && Object.getPrototypeOf(v) === Array.prototype) return v.map(expected);
  if (Object.getPrototypeOf(v) === Object.prototype) {
    const o: Record<string, unknown> = {};
    // An own __proto__ key stays an own property (assigning it would set the prototype).
    for (const k in v)
      Object.defineProperty(o, k, {
        value: expected((v as Record<string, unknown>)[k]),
        enumerable: true,
        writable: true,
        configurable: true,
      });
    return o;
  }
  return new Unpackr(OPTIONS).unpack(new Packr(OPTIONS).pack(v));
}

function roundTrip(entries: (readonly [unknown, number, unknown])[], w = new EntryWriter()): unknown[] {
  w.begin();
  for (const [k, ns, v] of entries) w.entry(k, ns, v);
  assert.equal(w.count, entries.length);
  return decode(w.finish()) as unknown[];
}

/** Strings of any UTF-16 code units, lone surrogates included (fast-check's strings are well-formed). */
const units = fc
  .array(fc.oneof(fc.integer({ min: 0xd800, max: 0xdfff }), fc.integer({ min: 0, max: 0xffff })), {
    maxLength: 8,
  })
  .map((cs) => String.fromCharCode(...cs));

describe('state entry codec', () => {
  it('regression (issue 19): strings with lone surrogates come back exactly, as keys, values, field names and in fallbacks', () => {
    const w = new EntryWriter();
    fc.assert(
      fc.property(fc.array(fc.tuple(units, units), { minLength: 1, maxLength: 20 }), (pairs) => {
        const entries: [unknown, number, unknown][] = pairs.map(([a, b], i) => [
          a,
          i,
          // A plain string, a record with the string as a field name and value, and a Map (msgpackr's way).
          i % 3 === 0 ? b : i % 3 === 1 ? { [a]: b, x: [b] } : new Map([[a, b]]),
        ]);
        assert.deepStrictEqual(roundTrip(entries, w), entries.flat());
        // The chunk codec (timers, source positions) too.
        assert.deepStrictEqual(decode(encode(entries)), entries);
      }),
      { numRuns: 1000 },
    );
    assert.equal(roundTrip([['\uD800', 0, 'x\uDC00']], w)[0], '\uD800');
  });

  it('reads back any entries: plain values exactly (-0, NaN, unicode, nesting), the rest as msgpackr would', () => {
    const value = fc.anything({
      maxDepth: 3,
      withBigInt: true,
      withDate: true,
      withMap: true,
      withSet: true,
      withTypedArray: true,
      withNullPrototype: true,
      withBoxedValues: false,
      withObjectString: true,
      withUnicodeString: true,
    });
    const key = fc.oneof(fc.integer(), fc.double(), fc.string({ unit: 'binary' }));
    const ns = fc.oneof(fc.constant(0), fc.integer({ min: -1e13, max: 1e13 }), fc.double());
    // One writer across cases: each chunk must start clean (shapes, position).
    const w = new EntryWriter();
    fc.assert(
      fc.property(fc.array(fc.tuple(key, ns, value), { maxLength: 30 }), (entries) => {
        const flat = roundTrip(entries, w);
        assert.deepStrictEqual(
          flat,
          entries.flatMap(([k, n, v]) => [k, n, expected(v)]),
        );
      }),
      { numRuns: 2000 },
    );
  });

  it('keeps records of many shapes apart, in any order, including nested ones', () => {
    const shape = fc.constantFrom(['n', 'sum'], ['sum', 'n'], ['n'], ['a', 'b', 'c'], [] as string[], [
      '1',
      'x',
    ]);
    const record = shape.chain((keys) =>
      fc.tuple(...keys.map(() => fc.oneof(fc.integer(), fc.double(), fc.string()))).map((vals) => {
        const o: Record<string, unknown> = {};
        keys.forEach((k, i) => {
          o[k] = vals[i];
        });
        return o;
      }),
    );
    const value = fc.oneof(
      record,
      fc.tuple(record, record).map(([a, b]) => ({ ...a, inner: b })),
    );
    fc.assert(
      fc.property(fc.array(value, { maxLength: 60 }), (values) => {
        const entries = values.map((v, i) => [i, 0, v] as const);
        assert.deepStrictEqual(
          roundTrip(entries),
          entries.flatMap((e) => [...e]),
        );
      }),
      { numRuns: 500 },
    );
  });

  it('writes a namespace once for a run of entries, telling 0 from -0 and NaN from itself', () => {
    const entries: (readonly [unknown, number, unknown])[] = [
      0,
      -0,
      -0,
      0,
      0,
      Number.NaN,
      Number.NaN,
      1.5e12,
      1.5e12,
    ].map((ns, i) => [i, ns, i] as const);
    const back = roundTrip(entries);
    assert.deepStrictEqual(
      back,
      entries.flatMap((e) => [...e]),
    );
    // Nine entries of one window: its 9-byte start once, then one byte each.
    const w = new EntryWriter();
    w.begin();
    for (let i = 0; i < 9; i++) w.entry(i, 1_700_000_000_123.5, 0);
    assert.equal(w.finish().length, 6 + 9 * 2 + 9 + 8);
  });

  it('a key named __proto__ comes back as an own property, never as the prototype', () => {
    const evil = JSON.parse('{"__proto__": {"polluted": true}, "n": 1}') as Record<string, unknown>;
    const [, , back] = roundTrip([['k', 0, evil]]) as [unknown, unknown, Record<string, unknown>];
    assert.equal(Object.getPrototypeOf(back), Object.prototype);
    assert.deepEqual(Object.getOwnPropertyDescriptor(back, '__proto__')?.value, { polluted: true });
    assert.equal((back as { polluted?: boolean }).polluted, undefined);
    assert.equal(({} as { polluted?: boolean }).polluted, undefined);
  });

  it('grows past its first buffer and keeps long and non-ASCII strings', () => {
    const long = 'é'.repeat(50_000);
    const entries = Array.from(
      { length: 5_000 },
      (_, i) => [`device-${i}`, i * 10_000, { s: long.slice(0, i), n: i }] as const,
    );
    // One writer: ~25 MB in one chunk, then a small one (after it gave the big buffer up).
    const w = new EntryWriter();
    assert.deepStrictEqual(
      roundTrip(entries, w),
      entries.flatMap((e) => [...e]),
    );
    assert.deepStrictEqual(roundTrip([['a', 1, { n: 1 }]], w), ['a', 1, { n: 1 }]);
  });

  it('a truncated or corrupt chunk fails with a message, never a wrong value', () => {
    const w = new EntryWriter();
    w.begin();
    for (let i = 0; i < 100; i++) w.entry(`k${i}`, 1_700_000_000_000, { n: i, sum: i * 1.5 });
    const bytes = w.finish();
    for (const cut of [7, 50, bytes.length - 1]) {
      assert.throws(() => decode(bytes.subarray(0, cut)), /state chunk ends in the middle/);
    }
    const bad = Uint8Array.from(bytes);
    bad[6] = 0xff; // the first key's tag
    assert.throws(() => decode(bad), /unknown value tag 0xff/);
    const extra = new Uint8Array(bytes.length + 1);
    extra.set(bytes);
    assert.throws(() => decode(extra), /1 bytes after its entries/);
  });
});
