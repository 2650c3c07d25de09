/**
 * A pipeline written for the embedded runtime made one of a Kafka
 * application (`deployOnKafka`): its `kafkaSource` becomes the application's
 * source (its `groupId` gives way to the application id), its `kafkaSink`s
 * write inside the application's transactions, and the first `keyBy`
 * decides the partitioning: records go through the internal topic
 * `<app-id>-repartition`, keyed by what the map and filter steps before
 * that `keyBy` and the `keyBy` itself make of them, as Kafka Streams
 * repartitions before a keyed step. Used by `kafkaPipeline` (pipeline.ts)
 * and so by `eddy run --kafka`.
 */
import type { Pipeline } from '../../api/pipeline.ts';
import { kafkaSinkOptions } from '../../connectors/kafka/sink.ts';
import { kafkaSourceOptions } from '../../connectors/kafka/source.ts';
import type { Key } from '../../core/key-groups.ts';
import { configError } from '../../errors/index.ts';
import { consumersOf, type PlanNode } from '../../plan/graph.ts';
import type { KafkaApp } from './app.ts';

/**
 * Turns a pipeline built for the embedded runtime into one of `app`: its
 * Kafka sources become the application's source (one), its Kafka sinks the
 * application's sinks. Fails fast, naming the step and the fix, on what a
 * Kafka application cannot run: a source that is not Kafka, and more than
 * one keyed stage. With `anyPartition`, the records are used where they are
 * read (the input stage of pre-aggregation, pre-aggregate.ts) (`kafkaPipeline` cuts a pipeline into one application per
 * keyed stage first: pipeline.ts).
 */
export function deployOnKafka(
  p: Pipeline,
  app: KafkaApp,
  how: { readonly anyPartition?: boolean } = {},
): void {
  const graph = p.scope.graph;
  const nodes = [...graph.nodes.values()];
  const keyBys = nodes.filter((n) => n.kind === 'keyBy');
  if (keyBys.length > 1)
    throw configError(
      `on Kafka: the pipeline keys its records ${keyBys.length} times (steps ${keyBys.map((n) => `"${n.id}"`).join(', ')}); one Kafka application runs one keyed stage`,
      keyBys.map((n) => n.id),
      'run it with kafkaPipeline (one application per keyed stage), or embedded',
    );
  const consumers = consumersOf(nodes);
  for (const n of nodes) {
    if (n.source !== undefined) {
      if (n.source.source.kind === 'kafka-app') continue; // a later stage's: already the application's
      const o = kafkaSourceOptions(n.source.source);
      if (o === undefined)
        throw configError(
          `on Kafka: step "${n.id}" reads a "${n.source.source.kind}" source; a Kafka application reads Kafka topics`,
          n.source.source.kind,
          'read the input with kafkaSource({ topics, groupId }) (the application id takes the place of the groupId), or run the pipeline embedded',
        );
      // The input stage of pre-aggregation (pre-aggregate.ts) reads records where they are.
      const keyBy = how.anyPartition === true ? undefined : keyByOf(n, consumers, keyBys[0]);
      const source = app.source({
        topics: o.topics,
        ...(o.format === undefined ? {} : { format: o.format }),
        ...(o.parse === undefined ? {} : { parse: o.parse }),
        ...(o.limits === undefined ? {} : { limits: o.limits }),
        ...(o.bufferSize === undefined ? {} : { bufferSize: o.bufferSize }),
        ...(o.deadLetterTopic === undefined ? {} : { deadLetterTopic: o.deadLetterTopic }),
        ...(keyBy === undefined ? {} : { keyBy }),
        ...(how.anyPartition === true ? { anyPartition: true } : {}),
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
      `on Kafka: between source "${source.id}" and keyBy "${keyBy.id}" the pipeline ${next.length === 1 ? `has a ${step!.kind} step ("${step!.id}")` : `branches (step "${node.id}" feeds ${next.length} steps)`}; a Kafka application keys the records it reads, so only map and filter steps may come before its keyBy`,
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
