/**
 * Operator chaining (operators/chain.ts): a run of map, filter, flatMap and a
 * final keyBy runs as one generated loop. Checked against the same functions
 * applied one by one, over random records: the output, its keys and key
 * groups, each member step's record counts, a throw dead-lettered with the
 * step that threw and that step's input (and the loop going on with the next
 * record), a bad key refused, records' floors carried, and the keyBy-only
 * fast path falling back to the general loop when a key function throws.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import type { Batch } from '../../src/core/batch.ts';
import { keyGroupOf } from '../../src/core/key-groups.ts';
import { StepCounters } from '../../src/core/metrics.ts';
import { ChainOperator, type Stage } from '../../src/operators/chain.ts';
import type { OperatorContext, Output } from '../../src/operators/operator.ts';

interface Dead {
  readonly reason: string;
  readonly payload: unknown;
  readonly time: number;
  readonly step: string;
}

/** Runs `stages` as a chain over one batch; returns what it emitted and the dead letters. */
function runChain(stages: Stage[], batch: Batch, maxParallelism = 128) {
  const members = stages.map((s, i) => new StepCounters(`s${i}`, s.kind));
  const chain = new ChainOperator(stages, maxParallelism, members);
  const dead: Dead[] = [];
  const ctx = {
    stepId: 's0',
    errorPolicy: 'dead-letter',
    deadLetter: (_code: string, reason: string, payload: unknown, time: number, step?: string) =>
      dead.push({ reason, payload, time, step: step ?? 's0' }),
  } as unknown as OperatorContext;
  chain.onStart(ctx);
  const emitted: Batch[] = [];
  const out = { emitBatch: (b: Batch) => emitted.push(b) } as unknown as Output;
  chain.processBatch(batch, 0, out);
  return { emitted, dead, members };
}

describe('a chain of stateless steps', () => {
  it('equals its functions applied one by one, with counts per step and throws dead-lettered', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: -50, max: 50 }), { maxLength: 60 }), (xs) => {
        const map = (v: unknown) => {
          if (v === 13) throw new Error('thirteen');
          return (v as number) * 2;
        };
        const filter = (v: unknown) => (v as number) % 3 !== 0;
        const flatMap = (v: unknown) => [v, (v as number) + 1];
        const keyBy = (v: unknown) => `k${Math.abs(v as number) % 7}`;
        const stages: Stage[] = [
          { kind: 'map', fn: map },
          { kind: 'filter', fn: filter },
          { kind: 'flatMap', fn: flatMap as (v: unknown) => unknown },
          { kind: 'keyBy', fn: keyBy },
        ];
        const times = xs.map((_, i) => 1000 + i);
        const { emitted, dead, members } = runChain(stages, { values: xs, times });
        // The oracle: one step after the other.
        const want: { v: number; t: number }[] = [];
        const wantDead: Dead[] = [];
        let mapped = 0;
        let kept = 0;
        xs.forEach((x, i) => {
          if (x === 13) {
            wantDead.push({
              reason: 'user function threw: thirteen',
              payload: 13,
              time: times[i]!,
              step: 's0',
            });
            return;
          }
          mapped++;
          const m = x * 2;
          if (m % 3 === 0) return;
          kept++;
          for (const y of [m, m + 1]) want.push({ v: y, t: times[i]! });
        });
        const got = emitted.flatMap((b) => b.values.map((v, i) => ({ v: v as number, t: b.times[i]! })));
        assert.deepEqual(got, want);
        for (const b of emitted)
          b.values.forEach((v, i) => {
            assert.equal(b.keys![i], keyBy(v));
            assert.equal(b.groups![i], keyGroupOf(b.keys![i]!, 128));
          });
        assert.deepEqual(dead, wantDead);
        // The task counts the first step's input and the last's output; the chain the rest.
        assert.equal(members[0]!.recordsOut, mapped);
        assert.equal(members[1]!.recordsIn, mapped);
        assert.equal(members[1]!.recordsOut, kept);
        assert.equal(members[2]!.recordsIn, kept);
        assert.equal(members[2]!.recordsOut, want.length);
        assert.equal(members[3]!.recordsIn, want.length);
      }),
    );
  });

  it('a key that is not a string or number is a dead letter of the keyBy step', () => {
    const { emitted, dead } = runChain(
      [
        { kind: 'map', fn: (v) => v },
        { kind: 'keyBy', fn: (v) => (v === 2 ? { no: 1 } : `k${v}`) },
      ],
      { values: [1, 2, 3], times: [1, 2, 3] },
    );
    assert.deepEqual(
      emitted.flatMap((b) => b.values),
      [1, 3],
    );
    assert.equal(dead.length, 1);
    assert.equal(dead[0]!.step, 's1');
    assert.equal(dead[0]!.payload, 2);
    assert.match(dead[0]!.reason, /key must be a string or number, got object/);
  });

  it('carries floors through, record by record', () => {
    const { emitted } = runChain([{ kind: 'filter', fn: (v) => (v as number) > 1 }], {
      values: [1, 2, 3],
      times: [10, 20, 30],
      floors: [5, 6, 7],
    });
    assert.deepEqual(emitted[0]!.values, [2, 3]);
    assert.deepEqual(emitted[0]!.floors, [6, 7]);
  });

  it('a chain that is only a keyBy falls back to the general loop when a key function throws', () => {
    const { emitted, dead } = runChain(
      [
        {
          kind: 'keyBy',
          fn: (v) => {
            if (v === 'bad') throw new Error('no key');
            return v;
          },
        },
      ],
      { values: ['a', 'bad', 'b'], times: [1, 2, 3] },
    );
    assert.deepEqual(
      emitted.flatMap((b) => b.values),
      ['a', 'b'],
    );
    assert.deepEqual(
      emitted.flatMap((b) => b.keys),
      ['a', 'b'],
    );
    assert.equal(dead.length, 1);
    assert.equal(dead[0]!.payload, 'bad');
    // Fast path, no throw: the batch's own values and times go on, with keys and groups.
    const fast = runChain([{ kind: 'keyBy', fn: (v) => v as string }], { values: ['x', 'y'], times: [7, 8] });
    assert.deepEqual(fast.emitted[0]!.keys, ['x', 'y']);
    assert.deepEqual(fast.emitted[0]!.groups, [keyGroupOf('x', 128), keyGroupOf('y', 128)]);
  });
});
