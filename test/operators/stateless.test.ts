/**
 * The pass-through (src/operators/stateless.ts), which also runs `union`
 * since issue 13 folded union into it: it hands batches on as they are —
 * keys, groups and floors included — and with `dropKeys` (a union, whose
 * output is not keyed) drops the keys and groups a keyed input carries,
 * keeping values, times and floors.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Batch } from '../../src/core/batch.ts';
import type { Output } from '../../src/operators/operator.ts';
import { PassThroughOperator } from '../../src/operators/stateless.ts';

/** An output that keeps the batches emitted on it. */
function recorder(): { out: Output; batches: Batch[] } {
  const batches: Batch[] = [];
  const out = {
    emitBatch: (b: Batch) => batches.push(b),
  } as unknown as Output;
  return { out, batches };
}

const keyed: Batch = { values: ['a', 'b'], times: [1, 2], keys: ['k1', 'k2'], groups: [3, 4] };
const keyedWithFloors: Batch = { ...keyed, floors: [Number.NEGATIVE_INFINITY, 0] };
const plain: Batch = { values: ['a'], times: [1], floors: [0] };

describe('PassThroughOperator', () => {
  it('hands every batch on as it is, keys included (a source step, the dead-letter entry)', () => {
    const { out, batches } = recorder();
    const op = new PassThroughOperator();
    op.processBatch(keyed, 0, out);
    op.processBatch(plain, 0, out);
    assert.equal(batches[0], keyed, 'the same batch, not a copy');
    assert.equal(batches[1], plain);
  });

  it('with dropKeys (a union): drops the keys and groups of keyed batches from any input, keeps the rest', () => {
    const { out, batches } = recorder();
    const op = new PassThroughOperator({ dropKeys: true });
    op.processBatch(keyed, 0, out);
    op.processBatch(keyedWithFloors, 1, out);
    op.processBatch(plain, 1, out);
    assert.deepEqual(batches[0], { values: ['a', 'b'], times: [1, 2] });
    assert.equal(batches[0]!.values, keyed.values, 'values and times are shared, not copied');
    assert.deepEqual(batches[1], {
      values: ['a', 'b'],
      times: [1, 2],
      floors: [Number.NEGATIVE_INFINITY, 0],
    });
    assert.equal(batches[2], plain, 'an unkeyed batch goes on as it is');
  });
});
