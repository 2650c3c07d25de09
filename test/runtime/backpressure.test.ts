import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { generatorSource, Pipeline, type Sink } from '../../src/index.ts';

describe('backpressure', () => {
  it('a sink 10x slower than the source slows the source: in-flight records and heap stay bounded', async () => {
    const batchSize = 256;
    let generated = 0;
    let written = 0;
    let maxInFlight = 0;
    let maxHeap = 0;
    const heapBefore = process.memoryUsage().heapUsed;
    // Each write waits 1 ms per 100 records: the generator makes records far faster than that.
    const slow: Sink<{ payload: string }> = {
      kind: 'slow',
      guarantee: 'best-effort',
      open: () => ({
        async write(values) {
          written += values.length;
          maxInFlight = Math.max(maxInFlight, generated - written);
          maxHeap = Math.max(maxHeap, process.memoryUsage().heapUsed);
          await new Promise((r) => setTimeout(r, Math.ceil(values.length / 100)));
        },
      }),
    };
    const p = new Pipeline({ batchSize });
    p.source(
      'fast',
      generatorSource({
        count: 60_000,
        make: (i) => {
          generated++;
          return { payload: `${i}`.padEnd(1000, '.') }; // 1 KB per record: 60 MB if it all queued up
        },
      }),
    )
      .map((r) => r)
      .sink(slow);
    await p.run();
    assert.equal(written, 60_000);
    // The source never runs more than a couple of batches ahead of the sink.
    assert.ok(
      maxInFlight <= 4 * batchSize,
      `at most ${4 * batchSize} records between source and sink; saw ${maxInFlight}`,
    );
    const grewMb = (maxHeap - heapBefore) / 1e6;
    assert.ok(grewMb < 30, `heap grew ${grewMb.toFixed(1)} MB while 60 MB passed through`);
  });
});
