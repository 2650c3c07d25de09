/**
 * A pipeline written for the embedded runtime, run as a Kafka application
 * (issue 13): the library form of `eddy run --kafka`. Build the pipeline as
 * for an embedded run (`kafkaSource` in, `kafkaSink` out, any number of
 * `keyBy`s); `kafkaPipeline(options).run(build)` runs it as one instance of
 * the application.
 *
 * A pipeline that keys a keyed stream again runs as one `kafkaApp` per keyed
 * stage, as Kafka Streams splits a topology into sub-topologies at its
 * repartition topics (`stages.ts`): the first stage's application id is
 * `options.applicationId`, each later one's `<applicationId>-<keyBy step>`;
 * a stage ends in a sink writing the topic `<applicationId>-<keyBy
 * step>-stage` inside its transactions, with event time carried
 * (`carried.ts`), and the next stage reads it. The topics between stages are
 * made before any stage starts, with as many partitions as the input topics
 * have at most. Every stage runs in this process; one that fails stops the
 * others, and `run` rejects with its error.
 *
 * With `preAggregate: true` (or `'split'`) on the pipeline, the first
 * keyBy's window aggregation is combined in the tasks that read the input
 * and merged in a stage of its own (`<applicationId>-<window step>`):
 * pre-aggregate.ts.
 */
import { Admin } from '@platformatic/kafka';
import type { Pipeline } from '../../api/pipeline.ts';
import type { KafkaAppMetrics } from '../../connectors/kafka/app-options.ts';
import { brokersOf } from '../../connectors/kafka/brokers.ts';
import { kafkaSourceOptions } from '../../connectors/kafka/source.ts';
import {
  describeTopics,
  ensureTopic,
  INTERNAL_HEADROOM_BYTES,
  KAFKA_DEFAULT_MAX_MESSAGE_BYTES,
} from '../../connectors/kafka/topics.ts';
import type { Key } from '../../core/key-groups.ts';
import type { PipelineMetrics, StateScanOptions } from '../../core/metrics.ts';
import { configError } from '../../errors/index.ts';
import { mergeMetrics } from '../../runtime/controller.ts';
import { type KafkaApp, type KafkaAppRunOptions, kafkaApp } from './app.ts';
import { deployOnKafka } from './deploy.ts';
import type { KafkaAppOptions } from './options.ts';
import { cutStage, planStages, type StagePlan, stageNames } from './stages.ts';

export interface KafkaPipelineRunOptions extends Omit<KafkaAppRunOptions, 'onAssigned'> {
  /** Called when the partitions a stage's application runs here change. */
  readonly onAssigned?: (
    stage: { readonly index: number; readonly applicationId: string },
    partitions: readonly number[],
    generation: number,
  ) => void;
  /** Called with each pipeline built for a stage, once it is that stage's (its graph, its messaging steps). */
  readonly onBuilt?: (p: Pipeline, stage: number) => void;
}

/** `new KafkaPipeline(options)`: see the module's comment. */
export function kafkaPipeline(options: KafkaAppOptions): KafkaPipeline {
  return new KafkaPipeline(options);
}

export class KafkaPipeline {
  readonly #options: KafkaAppOptions;
  #stages: StagePlan[] = [];
  #apps: KafkaApp[] = [];
  #stagePartitions = 0;
  #planned: Promise<Pipeline> | undefined;

  constructor(options: KafkaAppOptions) {
    this.#options = options;
  }

  /** Each stage's application (empty until `plan` or `run`). */
  get apps(): readonly KafkaApp[] {
    return this.#apps;
  }

  /**
   * Builds the pipeline once to cut it into stages, makes each stage's
   * application, and makes the topics between stages; resolves with that
   * whole pipeline (before any cut). `run` does it when not done; call it
   * first to see the applications before they run (an ops server attached
   * to `view()`).
   */
  plan(build: () => Pipeline | Promise<Pipeline>): Promise<Pipeline> {
    this.#planned ??= (async () => {
      const p = await build();
      this.#stages = planStages(p);
      const id = this.#options.applicationId;
      this.#apps = this.#stages.map((st, i) =>
        kafkaApp({
          ...this.#options,
          applicationId: i === 0 ? id : stageNames(id, st.keyBy).applicationId,
        }),
      );
      if (this.#stages.length > 1)
        this.#stagePartitions = await stageTopics(
          p,
          brokersOf(this.#options.brokers),
          this.#stages.slice(1).map((st) => stageNames(id, st.keyBy).topic),
        );
      return p;
    })();
    return this.#planned;
  }

  /**
   * Runs every stage as one instance of its application until `o.signal`
   * aborts (each stops with a savepoint) or one fails (the others stop; it
   * rejects with that error).
   */
  async run(build: () => Pipeline | Promise<Pipeline>, o: KafkaPipelineRunOptions = {}): Promise<void> {
    await this.plan(build);
    const id = this.#options.applicationId;
    const stages = this.#stages;
    const apps = this.#apps;
    const stop = new AbortController();
    const onAbort = () => stop.abort();
    if (o.signal?.aborted === true) stop.abort();
    o.signal?.addEventListener('abort', onAbort, { once: true });
    try {
      const runs = apps.map((a, i) =>
        a
          .run(
            async () => {
              const p = await build();
              if (apps.length > 1)
                cutStage(p, stages, i, {
                  ...(i === 0
                    ? {}
                    : {
                        source: a.source({
                          topics: [stageNames(id, stages[i]!.keyBy).topic],
                          carried: true,
                        }),
                      }),
                  sinkFor: (keyBy, key) =>
                    a.sink({
                      topic: stageNames(id, keyBy).topic,
                      key: (v) => key(v),
                      carryEventTime: true,
                      createTopic: { partitions: this.#stagePartitions },
                    }),
                });
              deployOnKafka(p, a, { anyPartition: i === 0 && stages[1]?.merge === true });
              o.onBuilt?.(p, i);
              return p;
            },
            {
              signal: stop.signal,
              ...(o.onRestart === undefined ? {} : { onRestart: o.onRestart }),
              ...(o.onCheckpoint === undefined ? {} : { onCheckpoint: o.onCheckpoint }),
              ...(o.onAssigned === undefined
                ? {}
                : {
                    onAssigned: (partitions: readonly number[], generation: number) =>
                      o.onAssigned!({ index: i, applicationId: a.applicationId }, partitions, generation),
                  }),
            },
          )
          .catch((e: unknown) => {
            stop.abort();
            throw e;
          }),
      );
      const settled = await Promise.allSettled(runs);
      const failed = settled.find((r) => r.status === 'rejected');
      if (failed !== undefined) throw (failed as PromiseRejectedResult).reason;
    } finally {
      o.signal?.removeEventListener('abort', onAbort);
    }
  }

  /**
   * The steps of every stage's partitions here, merged; the input events
   * (`sourceRecords`) are the first stage's.
   */
  metrics(): PipelineMetrics {
    const m = mergeMetrics(this.#apps.flatMap((a) => Object.values(a.metrics().pipelines)));
    if (this.#apps.length <= 1) return m;
    const first = mergeMetrics(Object.values(this.#apps[0]!.metrics().pipelines));
    return { ...m, sourceRecords: first.sourceRecords };
  }

  /**
   * The stages as one application for an ops server: metrics merged, state
   * queries sent to the stage whose steps hold the state; locating a key is
   * the first stage's (its keys are the input's).
   */
  view(): KafkaPipelineView {
    return this.#apps.length === 1 ? this.#apps[0]! : stagesView(this.#apps, this.#stages);
  }
}

/** What an ops server reads of a Kafka application (one, or several stages as one). */
export type KafkaPipelineView = Pick<
  KafkaApp,
  'metrics' | 'queryState' | 'scanState' | 'locate' | 'instances'
>;

/**
 * Makes the topics between stages (those missing) with as many partitions as
 * the pipeline's input topics have at most, and room for records as large as
 * theirs plus eddy's headers; resolves with that partition count.
 */
async function stageTopics(
  p: Pipeline,
  brokers: readonly string[],
  topics: readonly string[],
): Promise<number> {
  const inputs = [...p.scope.graph.nodes.values()].flatMap((n) =>
    n.source === undefined ? [] : (kafkaSourceOptions(n.source.source)?.topics ?? []),
  );
  const admin = new Admin({ clientId: 'eddy-stages', bootstrapBrokers: [...brokers] });
  try {
    const info = [...(await describeTopics(admin, inputs)).values()];
    if (info.length === 0)
      throw configError(
        `on Kafka: none of the input topics (${inputs.join(', ')}) exists`,
        inputs,
        'create the input topics first',
      );
    const partitions = Math.max(...info.map((t) => t.partitions));
    const limit = Math.max(KAFKA_DEFAULT_MAX_MESSAGE_BYTES, ...info.map((t) => t.maxMessageBytes));
    for (const topic of topics)
      await ensureTopic(admin, { topic, partitions, minMaxMessageBytes: limit + INTERNAL_HEADROOM_BYTES });
    return partitions;
  } finally {
    await admin.close().catch(() => {});
  }
}

/** Several stage applications as one for the ops server (metrics merged, queries routed by step). */
export function stagesView(apps: readonly KafkaApp[], stages: readonly StagePlan[]): KafkaPipelineView {
  const of = (step: string) =>
    apps[
      Math.max(
        0,
        stages.findIndex((st) => st.steps.has(step)),
      )
    ]!;
  const first = apps[0]!;
  // Keyed state is the first keyed stage's: the merge stage's when the root only pre-aggregates.
  const keyed = stages[1]?.merge === true ? apps[1]! : first;
  return {
    metrics: (): KafkaAppMetrics => {
      const all = apps.map((a) => a.metrics());
      const sum = (f: (m: KafkaAppMetrics) => number) => all.reduce((n, m) => n + f(m), 0);
      return {
        ...all[0]!,
        restarts: sum((m) => m.restarts),
        moved: sum((m) => m.moved),
        rebalances: sum((m) => m.rebalances),
        commits: {
          count: sum((m) => m.commits.count),
          failed: sum((m) => m.commits.failed),
          lastMs: all[0]!.commits.lastMs,
          maxMs: Math.max(...all.map((m) => m.commits.maxMs)),
        },
        tasks: all.flatMap((m) => m.tasks),
        pipelines: Object.assign({}, ...all.map((m) => m.pipelines)),
        restores: all.flatMap((m) => m.restores),
        restoring: all.flatMap((m) => m.restoring ?? []),
        standbys: all.flatMap((m) => m.standbys),
        lag: Object.assign({}, ...all.map((m) => m.lag)),
      };
    },
    queryState: (step: string, key: Key) => of(step).queryState(step, key),
    scanState: (step: string, o: StateScanOptions) => of(step).scanState(step, o),
    locate: (key: Key) => keyed.locate(key),
    instances: () => first.instances(),
  };
}
