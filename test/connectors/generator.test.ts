import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { collectSink, generatorSource, Pipeline } from '../../src/index.ts';

async function generate(
  options: Parameters<typeof generatorSource<{ i: number; r: number; ts: number }>>[0],
) {
  const out = collectSink<{ i: number; r: number; ts: number }>();
  const p = new Pipeline({ batchSize: 97 });
  p.source('gen', generatorSource(options)).sink(out);
  await p.run();
  return out;
}

describe('generator source', () => {
  const make = (i: number, g: { time: number; random(): number }) => ({ i, r: g.random(), ts: g.time });

  it('is deterministic for a seed and differs across seeds', async () => {
    const a = await generate({ count: 5000, seed: 7, startTime: 0, disorder: { maxDelay: 300 }, make });
    const b = await generate({ count: 5000, seed: 7, startTime: 0, disorder: { maxDelay: 300 }, make });
    const c = await generate({ count: 5000, seed: 8, startTime: 0, disorder: { maxDelay: 300 }, make });
    assert.deepEqual(a.values, b.values);
    assert.deepEqual(a.times, b.times);
    assert.notDeepEqual(a.values, c.values);
    assert.deepEqual(
      a.values.map((v) => v.i),
      Array.from({ length: 5000 }, (_, i) => i),
    );
  });

  it('makes the same records at any parallelism: every subtask its own splits, none twice or skipped', async () => {
    const options = { count: 3001, seed: 3, startTime: 0, splits: 8, disorder: { maxDelay: 300 }, make };
    const byIndex = (xs: { i: number }[]) => [...xs].sort((a, b) => a.i - b.i);
    const runAt = async (parallelism: number) => {
      const out = collectSink<{ i: number; r: number; ts: number }>();
      const p = new Pipeline({ batchSize: 97 });
      p.source('gen', generatorSource(options)).sink(out);
      await p.run({ parallelism });
      return byIndex(out.values);
    };
    const one = await runAt(1);
    assert.equal(one.length, 3001);
    for (const parallelism of [2, 3, 5, 8]) {
      assert.deepEqual(await runAt(parallelism), one, `parallelism ${parallelism}`);
    }
  });

  it('keeps disorder within maxDelay and makes the asked fraction of records late by at least `by`', async () => {
    const out = await generate({
      count: 20_000,
      seed: 3,
      startTime: 1_000_000,
      eventsPerSecond: 1000,
      disorder: { maxDelay: 500 },
      late: { fraction: 0.05, by: 10_000 },
      make,
    });
    let late = 0;
    for (let i = 0; i < out.times.length; i++) {
      const nominal = 1_000_000 + i; // 1,000 events per second = 1 ms apart
      const behind = nominal - out.times[i]!;
      assert.equal(out.values[i]!.ts, out.times[i], 'the record carries the time the source reports');
      if (behind >= 10_000) late++;
      else assert.ok(behind >= 0 && behind < 500, `record ${i} is ${behind} ms behind`);
    }
    assert.ok(late > 800 && late < 1200, `about 5% late: ${late}`);
  });

  it('regression: event times are exact at rates where 1000 / rate is not a whole number', async () => {
    const out = await generate({ count: 13, startTime: 0, eventsPerSecond: 12, make });
    assert.deepEqual(
      out.times,
      Array.from({ length: 13 }, (_, i) => Math.floor((i * 1000) / 12)),
    );
    assert.equal(out.times[3], 250);
  });

  it('holds its rate: a rate-limited generator takes at least count / rate seconds', async () => {
    const t0 = Date.now();
    await generate({ count: 2000, rate: 10_000, make });
    assert.ok(Date.now() - t0 >= 190, 'took at least ~0.2 s for 2,000 records at 10,000/s');
  });
});
