import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { collectSink, generatorSource, Pipeline, tumbling } from '../../src/index.ts';
import { TestDriver } from '../../src/testing/index.ts';

describe('TestDriver at parallelism 2', () => {
  it('regression: end() returns for a splittable source fed by hand (records enter subtask 0 only)', async () => {
    const p = new Pipeline();
    p.source('g', generatorSource({ count: 0, make: (i) => i, splits: 4 }), { timestamp: (x) => x })
      .keyBy((x) => x % 5)
      .window(tumbling(10))
      .count('w')
      .sink(collectSink(), 'out');
    const d = await TestDriver.create(p, { parallelism: 2 });
    d.input<number>('g').send([1, 2, 3, 11, 12]);
    await d.end();
    const out = d.output<{ key: number; value: number }>('out');
    assert.equal(
      out.reduce((n, w) => n + w.value, 0),
      5,
    );
    assert.deepEqual(new Set(out.map((w) => w.key)), new Set([1, 2, 3]));
  });
});
