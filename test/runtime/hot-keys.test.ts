/**
 * Hot keys in `metrics()` (issue 18): a keyed step reports its heaviest keys
 * and their share of its load, the same at parallelism 1, 2 and 3 (keys are
 * disjoint across subtasks, so the merged list is the run's), and steps
 * without keys report none.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { arraySource, collectSink, Pipeline } from '../../src/index.ts';

/** 60,000 records: "hot" 40%, "warm" 10%, the rest over 500 keys; a fixed interleaving. */
function input(): { key: string; n: number }[] {
  const out: { key: string; n: number }[] = [];
  for (let i = 0; i < 60_000; i++) {
    const r = (i * 7919) % 100;
    out.push({ key: r < 40 ? 'hot' : r < 50 ? 'warm' : `k${(i * 31) % 500}`, n: 1 });
  }
  return out;
}

describe('hot keys per keyed step (issue 18)', () => {
  for (const parallelism of [1, 2, 3])
    it(`parallelism ${parallelism}: the keyed reduce names "hot" (40%) then "warm" (10%)`, async () => {
      const p = new Pipeline({ name: 'hot-keys', batchSize: 500 });
      p.source('in', arraySource(input()), { timestamp: 'ingestion' })
        .keyBy((r) => r.key, 'by-key')
        .reduce((a, b) => ({ key: a.key, n: a.n + b.n }), 'count')
        .sink(collectSink(), 'out');
      const m = await p.run({ parallelism, hotKeys: true });
      const count = m.steps['count']!;
      assert.ok(count.hotKeysTotal > 0);
      const share = (i: number) => count.hotKeys[i]!.count / count.hotKeysTotal;
      assert.equal(count.hotKeys[0]!.key, 'hot');
      assert.ok(Math.abs(share(0) - 0.4) < 0.03, `hot: ${share(0)}`);
      assert.equal(count.hotKeys[1]!.key, 'warm');
      assert.ok(Math.abs(share(1) - 0.1) < 0.03, `warm: ${share(1)}`);
      assert.equal(count.subtaskBusyMicros.length, parallelism);
      assert.deepEqual(m.steps['in']!.hotKeys, []);
      assert.equal(m.steps['out']!.hotKeysTotal, 0);
    });

  it('off unless asked for: nothing is sampled', async () => {
    const p = new Pipeline({ name: 'hot-keys-off' });
    p.source('in', arraySource(input().slice(0, 1000)), { timestamp: 'ingestion' })
      .keyBy((r) => r.key, 'by-key')
      .reduce((a, b) => ({ key: a.key, n: a.n + b.n }), 'count')
      .sink(collectSink(), 'out');
    const m = await p.run({ parallelism: 2 });
    assert.deepEqual(m.steps['count']!.hotKeys, []);
    assert.equal(m.steps['count']!.hotKeysTotal, 0);
  });
});
