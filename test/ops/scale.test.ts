/**
 * DS2's scale recommendation (issue 18) on a synthetic bottleneck whose
 * answer is known: figures made by hand, no timing.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { PipelineMetrics, StepMetrics } from '../../src/core/metrics.ts';
import { recommend } from '../../src/ops/scale.ts';

function step(
  id: string,
  kind: string,
  recordsIn: number,
  recordsOut: number,
  busySeconds: number,
): StepMetrics {
  return {
    id,
    kind,
    recordsIn,
    recordsOut,
    batchesIn: 0,
    watermark: 0,
    lateRecords: 0,
    deadLetters: 0,
    deadLettersByCode: {},
    lastDeadLetter: undefined,
    alignmentWaitMs: 0,
    backpressureMs: 0,
    busyMicros: busySeconds * 1e6,
    subtaskBusyMicros: [busySeconds * 1e6],
    hotKeys: [],
    hotKeysTotal: 0,
    stateEntries: 0,
    stateBytes: undefined,
    batchMicros: { count: 0, p50: 0, p99: 0, max: 0 },
  };
}

function metrics(steps: StepMetrics[]): PipelineMetrics {
  const sourceRecords = steps.filter((s) => s.kind === 'source').reduce((n, s) => n + s.recordsOut, 0);
  return { steps: Object.fromEntries(steps.map((s) => [s.id, s])), sourceRecords, watermark: 0 };
}

describe('scale recommendation (DS2, issue 18)', () => {
  // In 10 s at parallelism 2: the source read 100k; "parse" (1 in, 1 out) was busy 2 s in all
  // (50k records per busy second); "filter" kept half; "enrich" took 8 s of busy time for its
  // 50k (6,250/s): the bottleneck. The sink wrote 50k in 0.5 s.
  const before = metrics([
    step('src', 'source', 0, 0, 0),
    step('parse', 'map', 0, 0, 0),
    step('keep', 'filter', 0, 0, 0),
    step('enrich', 'process', 0, 0, 0),
    step('out', 'sink', 0, 0, 0),
  ]);
  const after = metrics([
    step('src', 'source', 0, 100_000, 3),
    step('parse', 'map', 100_000, 100_000, 2),
    step('keep', 'filter', 100_000, 50_000, 0.5),
    step('enrich', 'process', 50_000, 50_000, 8),
    step('out', 'sink', 50_000, 0, 0.5),
  ]);

  it('finds the bottleneck and the source rate the job sustains at its parallelism', () => {
    const r = recommend(before, after, { seconds: 10, parallelism: 2 });
    assert.equal(r.sourceRate, 10_000);
    assert.equal(r.bottleneck, 'enrich');
    // enrich: 6,250 records/busy-s per subtask × 2 subtasks ÷ 0.5 enrich records per source record.
    assert.equal(r.sustainableRate, 25_000);
    const enrich = r.steps.find((s) => s.id === 'enrich')!;
    assert.equal(enrich.trueRate, 6_250);
    assert.equal(enrich.inputRate, 5_000);
    assert.equal(enrich.needed, 1);
    assert.equal(r.parallelism, 1);
    assert.equal(
      r.steps.some((s) => s.id === 'src'),
      false,
    );
  });

  it('plans for a target source rate through the observed selectivities', () => {
    const r = recommend(before, after, { seconds: 10, parallelism: 2, targetRate: 100_000 });
    const needed = Object.fromEntries(r.steps.map((s) => [s.id, s.needed]));
    // parse: 100k/s ÷ 50k = 2; keep: 100k ÷ 200k = 1; enrich: 50k ÷ 6,250 = 8; out: 50k ÷ 100k = 1.
    assert.deepEqual(needed, { parse: 2, keep: 1, enrich: 8, out: 1 });
    assert.equal(r.parallelism, 8);
    assert.equal(r.steps.find((s) => s.id === 'enrich')!.targetInputRate, 50_000);
  });

  it('says nothing when nothing ran', () => {
    const r = recommend(before, before, { seconds: 1, parallelism: 1 });
    assert.deepEqual(r.steps, []);
    assert.equal(r.bottleneck, undefined);
    assert.equal(r.sustainableRate, Number.POSITIVE_INFINITY);
    assert.equal(r.parallelism, 1);
  });
});
