import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { packBatch, unpackBatch } from '../../src/runtime/threads/protocol.ts';

describe('batches between threads', () => {
  it('regression (issue 19): keys and values with lone surrogates cross exactly, so distinct keys stay distinct', () => {
    // fast-check's fullUnicode strings never hold lone surrogates: build strings of arbitrary UTF-16 units.
    const units = fc
      .array(fc.oneof(fc.integer({ min: 0xd800, max: 0xdfff }), fc.integer({ min: 0, max: 0xffff })), {
        maxLength: 6,
      })
      .map((cs) => String.fromCharCode(...cs));
    fc.assert(
      fc.property(fc.array(units, { minLength: 1, maxLength: 30 }), (keys) => {
        const values = keys.map((k) => ({ k, nested: [k, { k }] }));
        const batch = { values, times: keys.map(() => 0), keys, groups: keys.map(() => 0) };
        const back = unpackBatch(structuredClone(packBatch(batch).message));
        assert.deepEqual(back.keys, keys);
        assert.deepEqual(back.values, values);
      }),
      { numRuns: 300 },
    );
    const lone = packBatch({ values: ['\uD800'], times: [0], keys: ['\uD800'], groups: [0] }).message;
    const back = unpackBatch(structuredClone(lone));
    assert.equal(back.keys![0], '\uD800');
    assert.notEqual(back.keys![0], '\uFFFD');
    assert.equal(back.values[0], '\uD800');
  });

  it("carries records' floors when a batch has them, and none when it has none", () => {
    const floors = [Number.NEGATIVE_INFINITY, 999, Number.NEGATIVE_INFINITY];
    const withFloors = unpackBatch(
      structuredClone(packBatch({ values: [1, 2, 3], times: [1, 2, 3], floors }).message),
    );
    assert.deepEqual(withFloors.floors, floors);
    const without = unpackBatch(structuredClone(packBatch({ values: [{ a: 1 }], times: [1] }).message));
    assert.equal(without.floors, undefined);
  });

  it('round-trips any batch: flat numeric records as columns, everything else generically', () => {
    // msgpackr writes -0 as the integer 0 (a known loss, also in checkpoints).
    const double = () => fc.double().map((x) => (Object.is(x, -0) ? 0 : x));
    const flat = fc.record({ a: double(), b: fc.integer() }, { noNullPrototype: true });
    const other = fc.oneof(
      fc.record({ a: fc.string(), b: fc.integer() }, { noNullPrototype: true }),
      fc.record({ a: double() }, { noNullPrototype: true }),
      fc.integer(),
      fc.string(),
      fc.constant(null),
    );
    fc.assert(
      fc.property(
        fc.oneof(
          fc.array(flat, { minLength: 1, maxLength: 40 }),
          fc.array(fc.oneof(flat, other), { minLength: 1, maxLength: 40 }),
        ),
        fc.boolean(),
        (values, numericKeys) => {
          const keys = values.map((_, i) => (numericKeys ? i * 3 : `k${i}`));
          const batch = {
            values,
            times: values.map((_, i) => 1000 + i),
            keys,
            groups: values.map((_, i) => i % 128),
          };
          const { message } = packBatch(batch);
          const back = unpackBatch(structuredClone(message));
          assert.deepEqual(back.values, values);
          assert.deepEqual(back.times, batch.times);
          assert.deepEqual(back.keys, keys);
          assert.deepEqual(Array.from(back.groups!), batch.groups);
        },
      ),
      { numRuns: 300 },
    );
  });

  it("sends columns only when every record has exactly the first one's fields, in order, all numbers", () => {
    const send = (values: unknown[]) => {
      const { message } = packBatch({ values, times: values.map(() => 0) });
      assert.deepEqual(unpackBatch(structuredClone(message)).values, values);
      return message.fields;
    };
    assert.deepEqual(
      send([
        { a: 1, b: 2 },
        { a: 3, b: -0.5 },
      ]),
      ['a', 'b'],
    );
    assert.equal(
      send([
        { a: 1, b: 2 },
        { b: 3, a: 4 },
      ]),
      undefined,
    );
    assert.equal(
      send([
        { a: 1, b: 2 },
        { a: 3, b: 4, c: 5 },
      ]),
      undefined,
    );
    assert.equal(send([{ a: 1, b: 2 }, { a: 3 }]), undefined);
    assert.equal(
      send([
        { a: 1, b: 2 },
        { a: 3, b: '4' },
      ]),
      undefined,
    );
    assert.equal(send([{ a: 1, b: 2 }, Object.assign(Object.create({ z: 1 }), { a: 3, b: 4 })]), undefined);
    assert.equal(send([{ a: 1, b: 2 }, [3, 4]]), undefined);
  });

  it('generates code for a bounded number of shapes; records of the others still arrive whole', () => {
    const sent = Array.from({ length: 100 }, (_, i) => {
      const values = [{ [`f${i}`]: i, g: -i }];
      const { message } = packBatch({ values, times: [0] });
      assert.deepEqual(unpackBatch(structuredClone(message)).values, values);
      return message.fields !== undefined;
    });
    // Shapes past the cache's limit go the general way.
    assert.ok(sent.slice(-30).every((columns) => !columns));
  });

  it('a __proto__ field arrives as a plain field, never as a prototype', () => {
    const evil = JSON.parse('{"__proto__": 1, "x": 2}') as Record<string, number>;
    const back = unpackBatch(structuredClone(packBatch({ values: [evil], times: [0] }).message));
    const v = back.values[0] as Record<string, unknown>;
    assert.equal(Object.getPrototypeOf(v), Object.prototype);
    assert.equal(v['x'], 2);
  });
});
