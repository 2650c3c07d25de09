/**
 * One pipeline with every kind of checkpointed state — tumbling windows with
 * allowed lateness (and a late output), sliding windows, sessions, a keyed
 * process function with value state and event-time timers, an interval join
 * (buffers and cleanup timers) — over a seeded generator with disorder and
 * late records. Shared by the savepoint golden test and the crash test.
 */
import {
  generatorSource,
  Pipeline,
  type PipelineOptions,
  type Sink,
  type Source,
  session,
  sliding,
  tumbling,
  valueState,
} from '../../src/index.ts';
import { idsAgg } from '../helpers/oracle.ts';

export interface GoldenEvent {
  readonly id: number;
  readonly key: string;
  readonly ts: number;
  readonly value: number;
}

export interface GoldenOptions {
  readonly count: number;
  readonly seed: number;
  readonly keys: number;
  /** Records per second of wall time (0 = as fast as possible). */
  readonly rate?: number;
  readonly batchSize?: number;
  /**
   * Whether 2% of records come 2.5 s late (beyond bound + lateness). Default
   * true. Which records count as late depends on when watermarks arrive, which
   * with several subtasks depends on timing: leave it off where runs at
   * different parallelism are compared.
   */
  readonly late?: boolean;
  /** Generator splits (default 4): the records are the same at any parallelism. */
  readonly splits?: number;
}

export function goldenSource(o: GoldenOptions): Source<GoldenEvent> {
  return generatorSource<GoldenEvent>({
    count: o.count,
    seed: o.seed,
    startTime: 0,
    eventsPerSecond: 1000,
    ...(o.rate ? { rate: o.rate } : {}),
    splits: o.splits ?? 4,
    disorder: { maxDelay: 800, fraction: 0.5 },
    late: { fraction: o.late === false ? 0 : 0.02, by: 2500 },
    make: (i, g) => ({ id: i, key: `k${g.int(o.keys)}`, ts: g.time, value: g.int(100) }),
  });
}

/** The names of the outputs, each a sink of JSON-able records. */
export const OUTPUTS = ['tumbling', 'late', 'sliding', 'sessions', 'sequence', 'timers', 'joined'] as const;
export type OutputName = (typeof OUTPUTS)[number];

/** Builds the pipeline over `source`, writing each output to `sinkOf(name)`. */
export function goldenPipeline(
  source: Source<GoldenEvent>,
  sinkOf: (name: OutputName) => Sink<unknown>,
  batchSize = 64,
  state: PipelineOptions['state'] = 'heap',
  preAggregate?: PipelineOptions['preAggregate'],
): Pipeline {
  const p = new Pipeline({
    name: 'golden',
    batchSize,
    state,
    ...(preAggregate === undefined ? {} : { preAggregate }),
  });
  const events = p.source('events', source, { timestamp: (e) => e.ts, maxOutOfOrderness: 1000 });
  const keyed = events.keyBy((e) => e.key, 'by-key');
  const tumbled = keyed.window(tumbling(1000), { allowedLateness: 1000 }).aggregate(idsAgg, 'tumbling');
  tumbled.sink(sinkOf('tumbling'), 'tumbling-out');
  tumbled.late().sink(sinkOf('late'), 'late-out');
  keyed.window(sliding(2000, 500)).aggregate(idsAgg, 'sliding').sink(sinkOf('sliding'), 'sliding-out');
  keyed.window(session(300)).aggregate(idsAgg, 'sessions').sink(sinkOf('sessions'), 'sessions-out');
  // Per-key sequence numbers (rise by exactly 1 per key), and a timer 500 ms after each record.
  const processed = keyed
    .withState({ n: valueState<number>() })
    .process<{ key: string; seq?: number; id?: number; timer?: number }>(
      {
        processElement(e, ctx) {
          const n = (ctx.state.n.get() ?? 0) + 1;
          ctx.state.n.set(n);
          ctx.emit({ key: ctx.key, seq: n, id: e.id });
          ctx.timers.registerEventTime(Math.floor(e.ts / 100) * 100 + 500);
        },
        onTimer(time, _domain, ctx) {
          ctx.emit({ key: ctx.key, timer: time });
        },
      },
      { name: 'sequence' },
    );
  processed.filter((r) => r.seq !== undefined, 'seqs').sink(sinkOf('sequence'), 'sequence-out');
  processed.filter((r) => r.timer !== undefined, 'timer-fires').sink(sinkOf('timers'), 'timers-out');
  const small = events.filter((e) => e.value < 50, 'small').keyBy((e) => e.key, 'small-key');
  const large = events.filter((e) => e.value >= 50, 'large').keyBy((e) => e.key, 'large-key');
  small
    .intervalJoin(large, { lower: -200, upper: 200 }, (a, b) => [a.id, b.id], 'joined')
    .sink(sinkOf('joined'), 'joined-out');
  return p;
}

/**
 * A canonical, order-free form of an output: sorted JSON lines. Sequence
 * records become "key#seq" and "key@id" separately: which event of a key gets
 * which number depends on arrival order, which several upstream subtasks make
 * timing-dependent; the numbers per key and the events per key do not.
 */
export function canonical(records: readonly unknown[]): string[] {
  return records
    .flatMap((r) => {
      const s = r as { key?: string; seq?: number; id?: number };
      return s.seq !== undefined ? [`${s.key}#${s.seq}`, `${s.key}@${s.id}`] : [JSON.stringify(r)];
    })
    .sort();
}
