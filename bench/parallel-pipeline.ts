/**
 * The pipeline of `npm run bench -- parallel`: a keyed 10 s tumbling
 * aggregation over a split generator, as a module so that worker threads can
 * build it too. Results go to a checksum sink (count and sum), printed by the
 * bench so both parallelisms can be checked against each other.
 */
import { definePipeline, generatorSource, Pipeline, session, tumbling } from '../src/index.ts';
import { checksumSink } from './checksum.ts';

export const checksum = { n: 0, sum: 0 };

const sink = checksumSink<{ value: number }>(checksum, (v) => v.value);

export default definePipeline({
  name: 'bench-parallel',
  description: 'keyed 10 s tumbling aggregation over a split generator',
  options: {
    events: { type: 'number', default: 10_000_000, min: 1, description: 'how many events' },
    keys: { type: 'number', default: 10_000, min: 1, description: 'how many keys' },
    sessions: {
      type: 'boolean',
      default: false,
      description:
        'session windows (500 ms gap) instead of 10 s tumbling: no pre-aggregation before the exchange',
    },
  },
  build(o) {
    const p = new Pipeline({ name: 'bench-parallel' });
    p.source(
      'events',
      generatorSource({
        count: o.events,
        startTime: 0,
        eventsPerSecond: 100_000,
        splits: 8,
        make: (i) => ({ key: (i * 7919) % o.keys, value: i & 1023, ts: 0 }),
      }),
    )
      .keyBy((e) => e.key)
      .window(o.sessions ? session(500) : tumbling(10_000))
      .aggregate({
        create: () => ({ n: 0, sum: 0 }),
        add(acc, e: { value: number }) {
          acc.n++;
          acc.sum += e.value;
          return acc;
        },
        result: (acc) => acc.sum,
        // Partials merge, so at parallelism > 1 each subtask pre-aggregates before the exchange.
        merge(a, b) {
          a.n += b.n;
          a.sum += b.sum;
          return a;
        },
      })
      .sink(sink);
    return p;
  },
});
