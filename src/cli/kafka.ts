/**
 * `eddy run <module> --kafka <brokers> --app-id <id>`: the same pipeline
 * module that runs embedded runs as one instance of a Kafka application
 * (`kafkaApp`: a consumer group, state in changelog topics, each partition's
 * output, offsets and state in one transaction). Start the command on several
 * machines with the same `--app-id` and they share the partitions; stop one
 * (SIGTERM or Ctrl-C) and it commits a savepoint and leaves the group.
 *
 * The module is built as it is embedded; then its Kafka connectors become the
 * application's (`deployOnKafka`): each `kafkaSource` becomes the
 * application's input (its `groupId` gives way to the application id), each
 * `kafkaSink` writes inside the application's transactions. The first
 * `keyBy` decides the partitioning: records go through the internal topic
 * `<app-id>-repartition`, keyed by what the map and filter steps before that
 * `keyBy` and the `keyBy` itself make of them, as Kafka Streams repartitions
 * before a keyed step.
 */
import { Admin } from '@platformatic/kafka';
import type { Pipeline } from '../api/pipeline.ts';
import type { KafkaAppMetrics } from '../connectors/kafka/app-options.ts';
import { kafkaSinkOptions } from '../connectors/kafka/sink.ts';
import { kafkaSourceOptions } from '../connectors/kafka/source.ts';
import {
  describeTopics,
  ensureTopic,
  INTERNAL_HEADROOM_BYTES,
  KAFKA_DEFAULT_MAX_MESSAGE_BYTES,
} from '../connectors/kafka/topics.ts';
import type { Key } from '../core/key-groups.ts';
import type { PipelineMetrics, StateScanOptions } from '../core/metrics.ts';
import { type KafkaApp, kafkaApp } from '../deploy/kafka/app.ts';
import { cutStage, planStages, type StagePlan, stageNames } from '../deploy/kafka/stages.ts';
import { configError } from '../errors/index.ts';
import { type MessagingStep, messagingSteps, observeWithOpenTelemetry } from '../ops/otel.ts';
import type { RunOps } from '../ops/run-ops.ts';
import { consumersOf, type PlanNode } from '../plan/graph.ts';
import { mergeMetrics } from '../runtime/controller.ts';

/**
 * Turns a pipeline built for the embedded runtime into one of `app`: its
 * Kafka sources become the application's source (one), its Kafka sinks the
 * application's sinks. Fails fast, naming the step and the fix, on what a
 * Kafka application cannot run yet: a source that is not Kafka, and more
 * than one keyed stage (issue 13).
 */
export function deployOnKafka(p: Pipeline, app: KafkaApp): void {
  const graph = p.scope.graph;
  const nodes = [...graph.nodes.values()];
  const keyBys = nodes.filter((n) => n.kind === 'keyBy');
  if (keyBys.length > 1)
    throw configError(
      `eddy run --kafka: the pipeline keys its records ${keyBys.length} times (steps ${keyBys.map((n) => `"${n.id}"`).join(', ')}); one Kafka application runs one keyed stage`,
      keyBys.map((n) => n.id),
      'split it into stages first (planStages and cutStage in deploy/kafka/stages.ts, as runOnKafka does), or run the module embedded (without --kafka)',
    );
  const consumers = consumersOf(nodes);
  for (const n of nodes) {
    if (n.source !== undefined) {
      if (n.source.source.kind === 'kafka-app') continue; // a later stage's: already the application's
      const o = kafkaSourceOptions(n.source.source);
      if (o === undefined)
        throw configError(
          `eddy run --kafka: step "${n.id}" reads a "${n.source.source.kind}" source; a Kafka application reads Kafka topics`,
          n.source.source.kind,
          'read the input with kafkaSource({ topics, groupId }) (--app-id takes the place of the groupId), or run the module without --kafka',
        );
      const keyBy = keyByOf(n, consumers, keyBys[0]);
      const source = app.source({
        topics: o.topics,
        ...(o.format === undefined ? {} : { format: o.format }),
        ...(o.parse === undefined ? {} : { parse: o.parse }),
        ...(o.limits === undefined ? {} : { limits: o.limits }),
        ...(o.bufferSize === undefined ? {} : { bufferSize: o.bufferSize }),
        ...(o.deadLetterTopic === undefined ? {} : { deadLetterTopic: o.deadLetterTopic }),
        ...(keyBy === undefined ? {} : { keyBy }),
      });
      graph.nodes.set(n.id, { ...n, source: { source, options: n.source.options } });
    } else if (n.sink !== undefined) {
      const o = kafkaSinkOptions(n.sink);
      if (o === undefined) continue; // console, file, …: each instance writes its own
      const sink = app.sink({
        topic: o.topic,
        ...(o.key === undefined ? {} : { key: o.key }),
        ...(o.format === undefined ? {} : { format: o.format }),
        ...(o.createTopic === undefined ? {} : { createTopic: o.createTopic }),
        ...(o.onProduceError === undefined ? {} : { onProduceError: o.onProduceError }),
        ...(o.deadLetterTopic === undefined ? {} : { deadLetterTopic: o.deadLetterTopic }),
      });
      graph.nodes.set(n.id, { ...n, sink });
    }
  }
}

/**
 * The key the application repartitions the records of source step
 * `sourceId` by (see keyByOf); undefined when the pipeline has no keyBy.
 */
export function repartitionKey(
  p: Pipeline,
  sourceId: string,
): ((value: unknown) => Key | undefined) | undefined {
  const nodes = [...p.scope.graph.nodes.values()];
  const source = p.scope.graph.nodes.get(sourceId);
  if (source === undefined)
    throw configError('no such source step', sourceId, 'name a step made by p.source');
  return keyByOf(
    source,
    consumersOf(nodes),
    nodes.find((n) => n.kind === 'keyBy'),
  );
}

/**
 * The key a record read by `source` gets at the pipeline's `keyBy`: the map
 * and filter steps between them applied, then the keyBy's function. A record
 * a filter drops, or one a step throws on, gets no key: it stays in its input
 * partition's key group, where the same step drops it or dead-letters it as
 * it would embedded. Undefined when the pipeline has no keyBy.
 */
function keyByOf(
  source: PlanNode,
  consumers: Map<string, [PlanNode, number][][]>,
  keyBy: PlanNode | undefined,
): ((value: unknown) => Key | undefined) | undefined {
  if (keyBy === undefined) return undefined;
  const stages: { kind: string; fn: (value: unknown) => unknown }[] = [];
  let node = source;
  for (;;) {
    const next = (consumers.get(node.id)?.[0] ?? []).filter(([c]) => c.kind !== 'dead-letters');
    const step = next.length === 1 ? next[0]![0] : undefined;
    if (step === keyBy) {
      stages.push(keyBy.stage!);
      break;
    }
    if (step !== undefined && (step.kind === 'map' || step.kind === 'filter') && step.stage !== undefined) {
      stages.push(step.stage);
      node = step;
      continue;
    }
    if (step !== undefined && step.kind === 'timestamps') {
      node = step;
      continue;
    }
    throw configError(
      `eddy run --kafka: between source "${source.id}" and keyBy "${keyBy.id}" the pipeline ${next.length === 1 ? `has a ${step!.kind} step ("${step!.id}")` : `branches (step "${node.id}" feeds ${next.length} steps)`}; a Kafka application keys the records it reads, so only map and filter steps may come before its keyBy`,
      node.id,
      'key the stream right after the source (or after map/filter steps), and branch or flatMap after the keyBy',
    );
  }
  const key = stages.pop()!.fn;
  return (value) => {
    let v = value;
    try {
      for (const s of stages) {
        if (s.kind === 'map') v = s.fn(v);
        else if (!s.fn(v)) return undefined;
      }
    } catch {
      return undefined;
    }
    return key(v) as Key;
  };
}

export interface KafkaRunOptions {
  readonly file: string;
  readonly name: string;
  readonly build: () => Pipeline | Promise<Pipeline>;
  readonly brokers: readonly string[];
  readonly applicationId: string;
  readonly instanceId?: string;
  /** Where this instance answers state queries for the others (`KafkaAppOptions.endpoint`). */
  readonly endpoint?: string;
  /** How often each partition commits (ms); the application's default when undefined. */
  readonly commitIntervalMs?: number;
  /** Warm standby copies of each partition on other instances (`KafkaAppOptions.standbyReplicas`). */
  readonly standbyReplicas?: number;
  readonly progressMs: number;
  readonly quiet: boolean;
  /** Whether a SIGTERM came while eddy was loading: stop as soon as the application runs. */
  readonly terminatedEarly: boolean;
  /** The metrics server and health of the run (issue 17): given the application's metrics, assignments and commits. */
  readonly ops?: Pick<RunOps, 'attachKafka' | 'assigned' | 'onCheckpoint' | 'graph'>;
}

/** What `runOnKafka` saw: the partitions' merged metrics when it stopped, and restarts. */
export interface KafkaRunResult {
  readonly metrics: PipelineMetrics;
  readonly restarts: number;
  readonly seconds: number;
}

/**
 * Runs the module as one instance of the Kafka application until SIGTERM or
 * SIGINT, which stop it with a savepoint (each partition commits its state,
 * offsets and output without ending its input, then the instance leaves the
 * group); a second Ctrl-C exits at once (130). Rejects when the application
 * fails (its restart strategy gave up, or a misconfiguration).
 */
export async function runOnKafka(o: KafkaRunOptions): Promise<KafkaRunResult> {
  // A pipeline that keys a keyed stream again runs as one application per keyed stage (stages.ts).
  const stages = planStages(await o.build());
  const appOf = (applicationId: string) =>
    kafkaApp({
      applicationId,
      brokers: o.brokers,
      ...(o.instanceId === undefined ? {} : { instanceId: o.instanceId }),
      ...(o.endpoint === undefined ? {} : { endpoint: o.endpoint }),
      ...(o.commitIntervalMs === undefined ? {} : { commitIntervalMs: o.commitIntervalMs }),
      ...(o.standbyReplicas === undefined ? {} : { standbyReplicas: o.standbyReplicas }),
    });
  const apps = stages.map((st, i) =>
    appOf(i === 0 ? o.applicationId : stageNames(o.applicationId, st.keyBy).applicationId),
  );
  const app = apps[0]!;
  // The topics between stages, made before any stage starts (a later stage reads one from its start).
  const stagePartitions =
    stages.length > 1
      ? await stageTopics(
          await o.build(),
          o.brokers,
          stages.slice(1).map((st) => stageNames(o.applicationId, st.keyBy).topic),
        )
      : 0;
  // The metrics server and dashboard see every stage: metrics together, state queries sent to the
  // stage whose steps hold the state; locating a key is the first stage's (its keys are the input's).
  o.ops?.attachKafka(apps.length === 1 ? app : stagesView(apps, stages));
  const stop = new AbortController();
  const onStop = (signal: string) => () => {
    if (stop.signal.aborted) {
      if (signal === 'SIGINT') {
        process.stderr.write('\neddy: interrupted again — exiting at once\n');
        process.exit(130);
      }
      process.stderr.write('eddy: already stopping\n');
      return;
    }
    final = metrics(); // stopped partitions leave metrics(): their figures as of the stop
    process.stderr.write(
      `\neddy: ${signal} — each partition commits a savepoint (state, offsets, output), then this instance leaves the group${signal === 'SIGINT' ? ' (press again to exit at once)' : ''}\n`,
    );
    stop.abort();
  };
  // Every stage's steps; the input events are the first stage's.
  const metrics = (): PipelineMetrics => {
    const m = mergeMetrics(apps.flatMap((a) => Object.values(a.metrics().pipelines)));
    if (apps.length === 1) return m;
    const first = mergeMetrics(Object.values(app.metrics().pipelines));
    return { ...m, sourceRecords: first.sourceRecords };
  };
  let final = metrics();
  // The instance's figures (its partitions' together) through OpenTelemetry, as an embedded run's.
  // Its broker steps, known once the pipeline is built (on the first assignment).
  const brokers = new Map<string, MessagingStep>();
  const unobserve = observeWithOpenTelemetry(o.name, metrics, brokers);
  const onTerm = onStop('SIGTERM');
  const onInt = onStop('SIGINT');
  process.on('SIGTERM', onTerm);
  process.on('SIGINT', onInt);
  if (o.terminatedEarly) onTerm();
  const started = performance.now();
  let last = { at: started, records: 0 };
  const ticker = o.quiet
    ? undefined
    : setInterval(() => {
        const m = metrics();
        const tasks = apps.flatMap((a) => a.metrics().tasks);
        const restarts = apps.reduce((n, a) => n + a.metrics().restarts, 0);
        const now = performance.now();
        const rate = Math.max(0, ((m.sourceRecords - last.records) * 1000) / (now - last.at));
        process.stderr.write(
          `eddy: ${((now - started) / 1000).toFixed(1)} s — ${m.sourceRecords.toLocaleString('en-US')} events on ${tasks.length === 0 ? 'no partitions yet' : tasks.join(' ')} (${Math.round(rate).toLocaleString('en-US')}/s)${restarts > 0 ? `; ${restarts} restarts` : ''}\n`,
        );
        last = { at: now, records: m.sourceRecords };
      }, o.progressMs);
  try {
    // Every stage runs until the stop; one that fails stops the others, and `run` rejects with it.
    const runs = apps.map((a, i) =>
      a
        .run(
          async () => {
            const p = await o.build();
            if (i === 0) o.ops?.graph(p.graph());
            if (apps.length > 1)
              cutStage(p, stages, i, {
                ...(i === 0
                  ? {}
                  : {
                      source: a.source({
                        topics: [stageNames(o.applicationId, stages[i]!.keyBy).topic],
                        carried: true,
                      }),
                    }),
                sinkFor: (keyBy, key) =>
                  a.sink({
                    topic: stageNames(o.applicationId, keyBy).topic,
                    key: (v) => key(v),
                    carryEventTime: true,
                    createTopic: { partitions: stagePartitions },
                  }),
              });
            deployOnKafka(p, a);
            for (const [step, target] of messagingSteps(p.scope.graph.nodes.values()))
              brokers.set(step, target);
            return p;
          },
          {
            signal: stop.signal,
            onRestart: (reason) => process.stderr.write(`eddy: ${reason}\n`),
            onAssigned: (partitions, generation) => {
              process.stderr.write(
                `eddy: ${o.name} (Kafka application ${a.applicationId}) runs partitions ${partitions.length === 0 ? 'none' : partitions.join(', ')} (generation ${generation})\n`,
              );
              if (i === 0) o.ops?.assigned(partitions, generation);
            },
            ...(o.ops === undefined ? {} : { onCheckpoint: o.ops.onCheckpoint }),
          },
        )
        .catch((e: unknown) => {
          if (!stop.signal.aborted) {
            final = metrics();
            stop.abort();
          }
          throw e;
        }),
    );
    const settled = await Promise.allSettled(runs);
    const failed = settled.find((r) => r.status === 'rejected');
    if (failed !== undefined) throw (failed as PromiseRejectedResult).reason;
  } finally {
    unobserve();
    if (ticker !== undefined) clearInterval(ticker);
    process.off('SIGTERM', onTerm);
    process.off('SIGINT', onInt);
  }
  const now = metrics();
  return {
    metrics: now.sourceRecords >= final.sourceRecords ? now : final,
    restarts: apps.reduce((n, a) => n + a.metrics().restarts, 0),
    seconds: (performance.now() - started) / 1000,
  };
}

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
        `eddy run --kafka: none of the input topics (${inputs.join(', ')}) exists`,
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
export function stagesView(apps: readonly KafkaApp[], stages: readonly StagePlan[]) {
  const of = (step: string) =>
    apps[
      Math.max(
        0,
        stages.findIndex((st) => st.steps.has(step)),
      )
    ]!;
  const first = apps[0]!;
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
        standbys: all.flatMap((m) => m.standbys),
        lag: Object.assign({}, ...all.map((m) => m.lag)),
      };
    },
    queryState: (step: string, key: Key) => of(step).queryState(step, key),
    scanState: (step: string, o: StateScanOptions) => of(step).scanState(step, o),
    locate: (key: Key) => first.locate(key),
    instances: () => first.instances(),
  };
}
