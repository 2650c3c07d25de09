/**
 * The pipeline of `npm run bench -- skew`: a keyed 1 s tumbling count and sum
 * over keys drawn from a Zipf distribution, as a module so that worker
 * threads can build it too. Each record's key comes from its index alone
 * (a hash, then the Zipf inverse CDF), so every thread and every run sees the
 * same input. Results go to a checksum sink: count, sum and an
 * order-independent hash of (key, window, count, sum), so runs with and
 * without pre-aggregation, and at parallelism 1, can be compared.
 */
import type { Sink } from '../src/core/connector.ts';
import { definePipeline, generatorSource, Pipeline, tumbling, type Windowed } from '../src/index.ts';
import { checksumSink, mix } from './checksum.ts';

export const checksum = { n: 0, sum: 0, hash: 0 };

type Result = Windowed<number, { n: number; sum: number; due: number }>;

/**
 * Paced runs: each result's latency (ms from when the newest event in it was
 * due to the result reaching the sink) and its window's start.
 */
export const latencies: { start: number; ms: number }[] = [];

const checked = checksumSink<Result>(
  checksum,
  (v) => v.value.sum,
  (v) => v.key * 1_000_003 + v.window.start / 1000 + v.value.n * 7919,
);
const sink: Sink<Result> = {
  ...checked,
  open: (ctx) => {
    const inner = checked.open(ctx) as { write(values: readonly Result[]): void };
    return {
      write(values) {
        const now = Date.now();
        for (const v of values)
          if (v.value.due > 0) latencies.push({ start: v.window.start, ms: now - v.value.due });
        inner.write(values);
      },
    };
  },
};

/** Record `i`'s rank (0 = the most frequent) under the Zipf `cdf`: from a hash of `i` alone. */
export function zipfRank(cdf: Float64Array, i: number): number {
  const u = (mix(i) >>> 0) / 4294967296;
  let lo = 0;
  let hi = cdf.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (cdf[mid]! < u) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Where the aggregator's extra work goes, so that it cannot be optimised away. */
export let burned = 0;

/** `rounds` rounds of a hash: work that costs the same on every thread. */
function burn(x: number, rounds: number): number {
  let h = x | 0;
  for (let j = 0; j < rounds; j++) h = mix(h + j);
  return h;
}

/** Key `i`'s cumulative probability under Zipf `s` over `keys` keys. */
export function zipfCdf(keys: number, s: number): Float64Array {
  const cdf = new Float64Array(keys);
  let total = 0;
  for (let i = 0; i < keys; i++) total += 1 / (i + 1) ** s;
  let acc = 0;
  for (let i = 0; i < keys; i++) cdf[i] = acc += 1 / (i + 1) ** s / total;
  return cdf;
}

export default definePipeline({
  name: 'bench-skew',
  description: 'keyed 1 s tumbling count/sum over Zipf-distributed keys',
  options: {
    events: { type: 'number', default: 4_000_000, min: 1, description: 'how many events' },
    keys: { type: 'number', default: 10_000, min: 1, description: 'how many keys' },
    zipf: { type: 'number', default: 1.5, min: 0, description: 'the Zipf exponent' },
    preAggregate: {
      type: 'string',
      default: 'true',
      description:
        "local-global aggregation: true, false, 'split' (partial key grouping) or 'auto' (measured)",
    },
    addCost: {
      type: 'number',
      default: 0,
      min: 0,
      description: 'extra work per record in the aggregator (hash rounds), as a costly aggregator would do',
    },
    splits: {
      type: 'number',
      default: 8,
      min: 1,
      description: 'how many shares the source reads (1: only subtask 0 reads, as with MQTT or a file)',
    },
    rate: {
      type: 'number',
      default: 0,
      min: 0,
      description: 'events per second of wall time (0: as fast as it goes); > 0 also times every result',
    },
  },
  build(o) {
    const cdf = zipfCdf(o.keys, o.zipf);
    const keyOf = (i: number) => zipfRank(cdf, i);
    const preAggregate =
      o.preAggregate === 'split' || o.preAggregate === 'auto' ? o.preAggregate : o.preAggregate === 'true';
    const cost = o.addCost;
    const rate = o.rate;
    // Paced: each event carries when it was due (this thread's first event's wall time plus its
    // index over the rate: when the generator's pacing offers it), so a result's latency counts any
    // queue behind it (no coordinated omission).
    let t0 = 0;
    const due = (i: number) => {
      if (t0 === 0) t0 = Date.now() - (i * 1000) / rate;
      return t0 + (i * 1000) / rate;
    };
    const p = new Pipeline({ name: 'bench-skew', preAggregate });
    p.source(
      'events',
      generatorSource({
        count: o.events,
        startTime: 0,
        eventsPerSecond: 200_000,
        splits: o.splits,
        ...(rate > 0 ? { rate } : {}),
        make: (i) => ({ key: keyOf(i), value: i & 1023, due: rate > 0 ? due(i) : 0 }),
      }),
    )
      .keyBy((e) => e.key)
      .window(tumbling(1_000))
      .aggregate(
        {
          create: () => ({ n: 0, sum: 0, due: 0 }),
          add(acc, e: { value: number; due: number }) {
            acc.n++;
            acc.sum += e.value;
            if (e.due > acc.due) acc.due = e.due;
            if (cost > 0) burned = burn(burned + e.value, cost);
            return acc;
          },
          result: (acc) => ({ n: acc.n, sum: acc.sum, due: acc.due }),
          merge(a, b) {
            a.n += b.n;
            a.sum += b.sum;
            if (b.due > a.due) a.due = b.due;
            return a;
          },
        },
        'window',
      )
      .sink(sink);
    return p;
  },
});
