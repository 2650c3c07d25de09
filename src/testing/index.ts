/**
 * The test driver: runs a pipeline in-process with inputs you feed by hand,
 * outputs you read back, and a processing-time clock you advance yourself
 * (Kafka Streams' TopologyTestDriver). Feeding is synchronous: when `send`
 * returns, every record it sent has gone as far as the synchronous steps take
 * it; `settle()` waits for async steps.
 *
 * @example
 * ```ts
 * const d = await TestDriver.create(pipeline);
 * d.input<Reading>('readings').send([{ device: 'a', temp: 20, ts: 1000 }]);
 * d.input('readings').watermark(20_000);
 * assert.deepEqual(d.output('averages'), [...]);
 * await d.end();
 * ```
 */

import type { Pipeline } from '../api/pipeline.ts';
import { type CollectSink, collectSink } from '../connectors/memory/index.ts';
import { ManualClock } from '../core/clock.ts';
import type { DeadLetter } from '../core/dead-letter.ts';
import { type Key, keyGroupOf } from '../core/key-groups.ts';
import type { PipelineMetrics } from '../core/metrics.ts';
import { EddyError } from '../errors/index.ts';
import type { Job } from '../runtime/job.ts';

/** A source step fed by hand. */
export interface TestInput<T> {
  /**
   * Sends records; their event time comes from the source's `timestamp` option,
   * else `times`, else the test clock. `split` names the partition they come
   * from (watermarks are per split).
   */
  send(values: T | readonly T[], times?: readonly number[], split?: string): void;
  /** Advances this source's watermark (in addition to the one its records imply). */
  watermark(time: number): void;
  /** Reports a poll that found nothing (drives idleness with the test clock). */
  noData(): void;
  /** Ends this source. */
  end(): void;
}

/** Read-only access to one step's keyed state. */
export interface StateView {
  /** The names of the step's state tables. */
  tables(): readonly string[];
  /** The value in `table` for `key` (namespace 0 unless given: a window's start for window state). */
  get<V = unknown>(table: string, key: Key, namespace?: number): V | undefined;
  /** Every entry of `table` as [key, namespace, value]. */
  entries<V = unknown>(table: string): [Key, number, V][];
}

export class TestDriver {
  readonly clock: ManualClock;
  readonly #executor: Job;
  readonly #sinks: Map<string, CollectSink<unknown>>;
  readonly #deadLetters: DeadLetter[];
  readonly #maxParallelism: number;
  readonly #ended = new Set<string>();

  private constructor(
    executor: Job,
    clock: ManualClock,
    sinks: Map<string, CollectSink<unknown>>,
    deadLetters: DeadLetter[],
    maxParallelism: number,
  ) {
    this.#executor = executor;
    this.clock = clock;
    this.#sinks = sinks;
    this.#deadLetters = deadLetters;
    this.#maxParallelism = maxParallelism;
  }

  /** Starts `pipeline` under the driver. Its sinks are replaced by collectors read with `output`. */
  static async create(
    pipeline: Pipeline,
    options: { startTime?: number; parallelism?: number } = {},
  ): Promise<TestDriver> {
    const clock = new ManualClock(options.startTime ?? 0);
    const sinks = new Map<string, CollectSink<unknown>>();
    const deadLetters: DeadLetter[] = [];
    const executor = pipeline.createJob({
      ...(options.parallelism === undefined ? {} : { parallelism: options.parallelism }),
      clock,
      manualSources: true,
      defaultDeadLetters: (l) => deadLetters.push(l),
      sinkFor: (id) => {
        const sink = collectSink<unknown>();
        sinks.set(id, sink);
        return sink;
      },
    });
    await executor.start();
    return new TestDriver(executor, clock, sinks, deadLetters, pipeline.options.maxParallelism);
  }

  input<T>(sourceId: string): TestInput<T> {
    const feeder = this.#executor.input(sourceId);
    const executor = this.#executor;
    const ended = this.#ended;
    const check = () => {
      if (ended.has(sourceId))
        throw new EddyError('EDDY_STATE_INVALID', `source "${sourceId}" has ended; send before end()`);
    };
    return {
      send(values, times, split) {
        check();
        const list = (Array.isArray(values) ? values : [values]) as readonly unknown[];
        feeder.feed(list, times, split);
        executor.flushDeadLetters();
      },
      watermark(time) {
        check();
        feeder.watermark(time);
        executor.flushDeadLetters();
      },
      noData() {
        feeder.noData();
      },
      end() {
        if (ended.has(sourceId)) return;
        ended.add(sourceId);
        feeder.end();
      },
    };
  }

  /** What reached sink step `sinkId` so far. */
  output<T>(sinkId: string): T[] {
    return this.#sink(sinkId).values as T[];
  }

  /** The event times of what reached `sinkId`, parallel to `output`. */
  outputTimes(sinkId: string): number[] {
    return this.#sink(sinkId).times;
  }

  #sink(sinkId: string): CollectSink<unknown> {
    const sink = this.#sinks.get(sinkId);
    if (sink === undefined) {
      throw new EddyError(
        'EDDY_CONFIG_INVALID',
        `no sink step "${sinkId}"; sinks here: ${[...this.#sinks.keys()].join(', ')}`,
      );
    }
    return sink;
  }

  /** Dead letters that no step of the pipeline read (a pipeline that sinks `deadLetters()` gets them there). */
  deadLetters(): readonly DeadLetter[] {
    return this.#deadLetters;
  }

  /** Advances processing time, firing processing-time timers and early results that fall due. */
  advanceProcessingTime(ms: number): void {
    this.clock.advance(ms);
    this.#executor.flushDeadLetters();
  }

  /** Waits until async steps (mapAsync) have delivered what they hold. */
  async settle(): Promise<void> {
    for (let i = 0; i < 3; i++) {
      await this.#executor.drainPressure();
      await new Promise((r) => setImmediate(r));
    }
  }

  state(stepId: string): StateView {
    const job = this.#executor;
    const mp = this.#maxParallelism;
    return {
      tables: () => [...new Set(job.states().flatMap((b) => b.tableNames(stepId)))],
      get: <V>(table: string, key: Key, namespace = 0) => {
        const g = keyGroupOf(key, mp);
        return job.stateFor(g).table<V>(stepId, table).get(g, key, namespace);
      },
      entries: <V>(table: string) => {
        const result: [Key, number, V][] = [];
        for (const backend of job.states()) {
          const t = backend.table<V>(stepId, table);
          for (const g of t.keyGroups()) for (const [k, ns, v] of t.entries(g)) result.push([k, ns, v]);
        }
        return result;
      },
    };
  }

  metrics(): PipelineMetrics {
    return this.#executor.metrics();
  }

  /** Ends every source that has not ended and waits for the pipeline to finish. */
  async end(): Promise<void> {
    for (const id of this.#executor.sourceIds()) this.input(id).end();
    await this.#executor.done;
  }
}
