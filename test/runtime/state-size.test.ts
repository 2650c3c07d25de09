/**
 * State size per step in `metrics()` (issue 17): entries now (one per key of
 * a keyed reduce, summed over subtasks) and encoded bytes in the last
 * checkpoint; steps without state report none, and runs without checkpoints
 * no bytes.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { arraySource, collectSink, Pipeline, session, tumbling } from '../../src/index.ts';

function pipeline(): Pipeline {
  const p = new Pipeline({ name: 'state-size', batchSize: 64 });
  p.source('in', arraySource(Array.from({ length: 5000 }, (_, i) => ({ key: `k${i % 100}`, n: i }))), {
    timestamp: 'ingestion',
  })
    .map((r) => r, 'copy')
    .keyBy((r) => r.key, 'by-key')
    .reduce((a, b) => ({ key: a.key, n: a.n + b.n }), 'sum')
    .sink(collectSink(), 'out');
  return p;
}

describe('state size per step (issue 17)', () => {
  for (const parallelism of [1, 2, 3])
    it(`parallelism ${parallelism}: 100 keys → 100 entries in "sum"; bytes from the last checkpoint`, async () => {
      const dir = mkdtempSync(join(tmpdir(), 'h7-state-size-'));
      try {
        const m = await pipeline().run({ parallelism, checkpoints: { dir, intervalMs: 0 } });
        assert.equal(m.steps['sum']!.stateEntries, 100);
        assert.ok((m.steps['sum']!.stateBytes ?? 0) > 100 * 4, `${m.steps['sum']!.stateBytes} bytes`);
        assert.equal(m.steps['copy']!.stateEntries, 0);
        assert.equal(m.steps['copy']!.stateBytes, 0);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });

  it('without checkpoints: entries, and no bytes', async () => {
    const m = await pipeline().run({ parallelism: 2 });
    assert.equal(m.steps['sum']!.stateEntries, 100);
    assert.equal(m.steps['sum']!.stateBytes, undefined);
  });

  for (const [name, assigner] of [
    ['session windows', session(300)],
    ['tumbling windows', tumbling(1000)],
  ] as const)
    for (const parallelism of [1, 2])
      it(`${name}, parallelism ${parallelism}: every window's state is gone once the watermark passed it and its lateness`, async () => {
        // 100 keys, a record every 100 ms of event time over 5,000 s, with pauses that close sessions.
        const records = Array.from({ length: 5000 }, (_, i) => ({
          key: `k${i % 100}`,
          t: i * 100 + (i % 7) * 1000,
        }));
        const p = new Pipeline({ name: 'window-state', batchSize: 64 });
        p.source('in', arraySource(records), { timestamp: (r) => r.t, maxOutOfOrderness: 7000 })
          .keyBy((r) => r.key)
          .window(assigner, { allowedLateness: 2000 })
          .count('windows')
          .sink(collectSink(), 'out');
        const m = await p.run({ parallelism });
        assert.ok(m.steps['windows']!.recordsOut > 0);
        assert.equal(m.steps['windows']!.stateEntries, 0, 'no window left in state');
      });
});
