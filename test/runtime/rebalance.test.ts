/**
 * The key-group rebalancing plan (issue 18): which groups to move between
 * threads, from loads measured per group. Property tests over seeded random
 * loads and tables; a failure names its seed.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { contiguousAssignment } from '../../src/core/key-groups.ts';
import type { PipelineMetrics, StepMetrics } from '../../src/core/metrics.ts';
import { checkRebalance, groupLoads, planMoves, REBALANCE_DEFAULTS } from '../../src/runtime/rebalance.ts';
import { Rng } from '../differential/cases.ts';

const O = { threshold: 0.2, maxMoves: 8 };

function loadsOf(table: Int32Array, loads: ArrayLike<number>, n: number): number[] {
  const per = new Array<number>(n).fill(0);
  for (let g = 0; g < table.length; g++) per[table[g]!]! += loads[g]!;
  return per;
}

describe('rebalance plan', () => {
  it('moves the hot groups of the busy subtask to the idle one, and nothing when loads are even', () => {
    const table = contiguousAssignment(128, 2);
    const loads = new Float64Array(128).fill(1);
    loads[3] = 100;
    loads[10] = 100;
    const plan = planMoves(table, loads, 2, O)!;
    assert.deepEqual(
      plan.moves.map((m) => [m.from, m.to]),
      plan.moves.map(() => [0, 1]),
    );
    assert.ok(plan.moves.some((m) => m.group === 3 || m.group === 10));
    assert.ok(plan.skewAfter <= 1.2, String(plan.skewAfter));
    assert.equal(planMoves(table, new Float64Array(128).fill(5), 2, O), undefined);
    // One group heavier than everything else: moving it only moves the peak.
    const single = new Float64Array(128).fill(0);
    single[0] = 1000;
    single[64] = 1;
    assert.equal(planMoves(table, single, 2, O), undefined);
  });

  it('holds its invariants over random loads and tables', () => {
    for (let seed = 1; seed <= 500; seed++) {
      const r = new Rng(seed);
      const n = 2 + r.int(4);
      const table = new Int32Array(128);
      for (let g = 0; g < 128; g++) table[g] = r.int(n);
      const loads = new Float64Array(128);
      for (let g = 0; g < 128; g++) loads[g] = r.int(4) === 0 ? 0 : r.next() ** 4 * 1000;
      const maxMoves = 1 + r.int(10);
      const plan = planMoves(table, loads, n, { threshold: 0.2, maxMoves });
      const before = loadsOf(table, loads, n);
      const mean = before.reduce((a, b) => a + b, 0) / n;
      const at = `seed ${seed}`;
      if (plan === undefined) continue;
      assert.ok(Math.max(...before) > 1.2 * mean, `${at}: a plan only when uneven`);
      assert.ok(plan.moves.length >= 1 && plan.moves.length <= maxMoves, at);
      assert.equal(
        new Set(plan.moves.map((m) => m.group)).size,
        plan.moves.length,
        `${at}: a group moves once`,
      );
      const expected = Int32Array.from(table);
      for (const m of plan.moves) {
        assert.equal(table[m.group], m.from, at);
        assert.notEqual(m.from, m.to, at);
        expected[m.group] = m.to;
      }
      assert.deepEqual(plan.assignment, expected, at);
      const after = loadsOf(plan.assignment, loads, n);
      assert.ok(Math.abs(Math.max(...after) / mean - plan.skewAfter) < 1e-9, at);
      assert.ok(Math.max(...after) < Math.max(...before), `${at}: the peak comes down`);
      for (let k = 0; k < n; k++) assert.ok(after[k]! <= Math.max(...before) + 1e-9, `${at}: no new peak`);
    }
  });

  it('weighs each group by its share of its subtask’s busy time, over the interval', () => {
    const table = contiguousAssignment(128, 2);
    const step = (records: Record<number, number>, busy: number[]): StepMetrics =>
      ({
        keyGroupRecords: Array.from({ length: 128 }, (_, g) => records[g] ?? 0),
        subtaskBusyMicros: busy,
      }) as unknown as StepMetrics;
    const metrics = (s: StepMetrics): PipelineMetrics => ({
      steps: { w: s },
      sourceRecords: 0,
      watermark: 0,
    });
    const before = metrics(step({ 0: 100, 1: 100, 64: 100 }, [100, 50]));
    const now = metrics(step({ 0: 300, 1: 200, 64: 200 }, [400, 150]));
    const loads = groupLoads(before, now, table, 2)!;
    assert.equal(loads.records, 400);
    assert.equal(loads.loads[0], 200);
    assert.equal(loads.loads[1], 100);
    assert.equal(loads.loads[64], 100);
    // A subtask that has not reported yet: no judgement.
    assert.equal(groupLoads(undefined, metrics(step({}, [1])), table, 2), undefined);
  });

  it('checks its options, naming the bad value and the fix', () => {
    assert.equal(checkRebalance(undefined), undefined);
    assert.equal(checkRebalance(false), undefined);
    assert.deepEqual(checkRebalance(true), REBALANCE_DEFAULTS);
    assert.throws(() => checkRebalance({ intervalMs: 1 }), /intervalMs must be from 10.*received 1.*30000/s);
    assert.throws(() => checkRebalance({ maxMoves: 0 }), /maxMoves must be a whole number >= 1/);
    assert.throws(() => checkRebalance('yes' as never), /rebalance must be true, false or an object/);
  });
});
