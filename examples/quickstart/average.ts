// The README's example, run by the test suite (test/examples.test.ts).
import { collectSink, generatorSource, Pipeline, tumbling } from '../../src/index.ts';

interface Reading {
  device: string;
  temp: number;
  ts: number;
}

const p = new Pipeline({ name: 'quickstart' });
const averages = collectSink<{ device: string; start: number; avg: number }>();

p.source(
  'readings',
  generatorSource({
    count: 10_000,
    seed: 1,
    startTime: 1000,
    disorder: { maxDelay: 500 }, // arrive up to 0.5 s out of order
    make: (i, g): Reading => ({ device: `d${i % 3}`, temp: 20 + g.random() * 5, ts: g.time }),
  }),
  { timestamp: (r) => r.ts, maxOutOfOrderness: 500 },
)
  .keyBy((r) => r.device)
  .window(tumbling(1000))
  .aggregate({
    create: () => ({ sum: 0, n: 0 }),
    add: (a, r) => ({ sum: a.sum + r.temp, n: a.n + 1 }),
    result: (a) => a.sum / a.n,
  })
  .map((w) => ({ device: w.key, start: w.window.start, avg: Math.round(w.value * 10) / 10 }))
  .sink(averages);

await p.run();
console.log(averages.values.slice(0, 3)); // [{ device: 'd0', start: 0, avg: 22.7 }, ...]
export const results = averages.values;
