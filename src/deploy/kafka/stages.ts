/**
 * Several keyed stages in one Kafka application (issue 13), as Kafka Streams
 * splits a topology at each repartition into sub-topologies.
 *
 * The first `keyBy` after the source is the application's own partitioning
 * (`app.source({ keyBy })`). Each `keyBy` of an already keyed stream starts a
 * new stage: the stage before it ends in a sink that writes its records,
 * partitioned by the new key with `kafkaPartition`, to the internal topic
 * `<app-id>-<keyBy step>-stage`, inside that stage's transactions and with
 * event time, lateness and watermarks carried (`carried.ts`); the new stage
 * is a Kafka application of its own (`<app-id>-<keyBy step>`: consumer
 * group, changelog, transactions) whose source reads that topic. Each stage
 * commits its output, state and input offsets together, so the chain is
 * exactly-once; steps keep their ids, so state keeps its names.
 * With `preAggregate: true` (or `'split'`), the first keyBy's window
 * aggregation starts a *merge* stage of its own, fed by a combiner in the
 * root stage's tasks (pre-aggregate.ts).
 *
 * `planStages` finds the stages of a built pipeline and refuses what cannot
 * be split (a step fed by two stages: a union or join of streams keyed
 * differently); `cutStage` keeps one stage's steps in a pipeline built
 * afresh, with the sinks and source that connect it to its neighbours.
 */
import type { Pipeline } from '../../api/pipeline.ts';
import type { Sink, Source } from '../../core/connector.ts';
import type { Key } from '../../core/key-groups.ts';
import { configError } from '../../errors/index.ts';
import { DEAD_LETTERS_ID, type PlanNode } from '../../plan/graph.ts';
import {
  type Envelope,
  preAggregatedWindow,
  preAggregateIds,
  preAggregates,
  StageUnwrap,
  stageCombiner,
} from './pre-aggregate.ts';

/** One stage: the root (index 0, read from the input topics) or one started by a keyBy. */
export interface StagePlan {
  /** '' for the root; else the id of the keyBy step that starts it (of the window step, for a merge stage). */
  readonly keyBy: string;
  /**
   * A merge stage (pre-aggregate.ts): it starts at window step `keyBy`,
   * whose partials the root stage's tasks write where they read the input.
   */
  readonly merge?: true;
  /** The stage that feeds it (-1 for the root). */
  readonly parent: number;
  /** Its steps (not the dead-letter steps, which every stage has). */
  readonly steps: ReadonlySet<string>;
}

/** The application id of a stage and the topic that feeds it. */
export function stageNames(applicationId: string, keyBy: string): { applicationId: string; topic: string } {
  return { applicationId: `${applicationId}-${keyBy}`, topic: `${applicationId}-${keyBy}-stage` };
}

/** Steps fed, directly or not, only by the dead-letter stream: every stage has its own. */
function deadLetterSteps(nodes: readonly PlanNode[]): Set<string> {
  const out = new Set<string>([DEAD_LETTERS_ID]);
  for (const n of nodes) if (n.inputs.length > 0 && n.inputs.every((r) => out.has(r.node))) out.add(n.id);
  return out;
}

/** The stages of a built pipeline, root first, each after its parent. */
export function planStages(p: Pipeline): StagePlan[] {
  const nodes = [...p.scope.graph.nodes.values()];
  const dead = deadLetterSteps(nodes);
  const stageOf = new Map<string, number>();
  const keyed = new Map<string, boolean>();
  const stages: { keyBy: string; parent: number; steps: Set<string> }[] = [
    { keyBy: '', parent: -1, steps: new Set() },
  ];
  for (const n of nodes) {
    if (dead.has(n.id)) continue;
    const inputs = n.inputs.map((r) => r.node).filter((id) => !dead.has(id));
    const from = new Set(inputs.map((id) => stageOf.get(id)!));
    if (from.size > 1)
      throw configError(
        `eddy run --kafka: step "${n.id}" (${n.kind}) reads streams of different keyed stages (${inputs.map((id) => `"${id}"`).join(', ')}); in a Kafka application each keyBy of a keyed stream starts a stage of its own, and a step reads from one stage`,
        n.id,
        'key both streams the same way before the step, or run the module embedded (without --kafka)',
      );
    const parent = from.size === 0 ? 0 : [...from][0]!;
    const inputKeyed = inputs.some((id) => keyed.get(id) === true);
    let stage = parent;
    if (n.kind === 'keyBy' && inputKeyed) {
      stage = stages.length;
      stages.push({ keyBy: n.id, parent, steps: new Set() });
    }
    stageOf.set(n.id, stage);
    stages[stage]!.steps.add(n.id);
    keyed.set(n.id, n.kind === 'keyBy' || inputKeyed);
  }
  const firstKeyBys = nodes.filter((n) => n.kind === 'keyBy' && stageOf.get(n.id) === 0 && !dead.has(n.id));
  if (firstKeyBys.length > 1)
    throw configError(
      `eddy run --kafka: the records read are keyed ${firstKeyBys.length} ways (steps ${firstKeyBys.map((n) => `"${n.id}"`).join(', ')}); a Kafka application partitions its input by one key`,
      firstKeyBys.map((n) => n.id),
      'key the input once and key again after it (each further keyBy starts a stage), or run the module embedded',
    );
  const keyBy = firstKeyBys[0];
  if (keyBy === undefined || !preAggregates(p.options.preAggregate)) return stages;
  return withMergeStage(
    nodes.filter((n) => !dead.has(n.id)),
    stages,
    preAggregatedWindow(
      nodes.filter((n) => !dead.has(n.id)),
      keyBy,
    ),
  );
}

/**
 * The stages with the root's window step `w` and all that follows it in the
 * root moved to a merge stage (index 1; pre-aggregate.ts), which then feeds
 * the stages they fed.
 */
function withMergeStage(nodes: readonly PlanNode[], stages: readonly StagePlan[], w: PlanNode): StagePlan[] {
  const root = stages[0]!;
  const moved = new Set<string>([w.id]);
  for (const n of nodes) if (root.steps.has(n.id) && n.inputs.some((r) => moved.has(r.node))) moved.add(n.id);
  return [
    { keyBy: '', parent: -1, steps: new Set([...root.steps].filter((id) => !moved.has(id))) },
    { keyBy: w.id, parent: 0, merge: true, steps: moved },
    // A keyed stream of the root is read after the keyBy, so after w (its only reader): every stage
    // the root fed, the merge stage now feeds.
    ...stages.slice(1).map((st) => ({ ...st, parent: st.parent + 1 })),
  ];
}

/** What connects a stage to its neighbours, made by the caller for the stage's application. */
export interface StageLinks {
  /** For the stage: the source that reads the topic its keyBy's records are written to. */
  readonly source?: Source<unknown>;
  /** For each stage it feeds (by keyBy id): the sink that writes to that stage's topic, keyed by `key`. */
  readonly sinkFor: (keyBy: string, key: (value: unknown) => Key) => Sink<unknown>;
}

/**
 * Keeps stage `index`'s steps (and the dead-letter steps) in `p`, a build of
 * the pipeline planned by `stages`: its keyBy reads `links.source`, and each
 * stage it feeds gets a sink step `<keyBy>-stage` writing to it.
 */
export function cutStage(p: Pipeline, stages: readonly StagePlan[], index: number, links: StageLinks): void {
  const graph = p.scope.graph;
  const nodes = [...graph.nodes.values()];
  const dead = deadLetterSteps(nodes);
  const stage = stages[index]!;
  const kept: PlanNode[] = [];
  if (index > 0) {
    if (links.source === undefined)
      throw configError('a later stage needs its source', stage.keyBy, 'pass links.source');
    kept.push({
      id: `${stage.keyBy}-stage`,
      kind: 'source',
      inputs: [],
      outputs: ['main'],
      keyed: false,
      source: { source: links.source, options: {} },
    });
  }
  const ids = stage.merge === true ? preAggregateIds(stage.keyBy) : undefined;
  if (ids !== undefined) {
    // The envelopes keyed again by their key, then split into records and partials for the window step.
    kept.push({
      id: ids.keys,
      kind: 'keyBy',
      inputs: [{ node: `${stage.keyBy}-stage`, tag: 0 }],
      outputs: ['main'],
      keyed: false,
      stage: { kind: 'keyBy', fn: (e) => (e as Envelope).k },
    });
    kept.push({
      id: ids.unwrap,
      kind: 'process',
      inputs: [{ node: ids.keys, tag: 0 }],
      outputs: ['main', 'partials'],
      keyed: true,
      operator: () => new StageUnwrap(),
    });
  }
  for (const n of nodes) {
    if (dead.has(n.id)) kept.push(n);
    else if (stage.steps.has(n.id))
      kept.push(
        index === 0 || n.id !== stage.keyBy
          ? n
          : ids === undefined
            ? { ...n, inputs: [{ node: `${stage.keyBy}-stage`, tag: 0 }] }
            : {
                ...n,
                inputs: [
                  { node: ids.unwrap, tag: 0 },
                  { node: ids.unwrap, tag: 1 },
                ],
              },
      );
  }
  for (const child of stages) {
    if (child.parent !== index || child === stage) continue;
    if (child.merge === true) {
      // The window step's records combined here, where they were read; partials and records passed
      // on go to the merge stage by key.
      const w = graph.nodes.get(child.keyBy)!;
      const { combiner } = preAggregateIds(w.id);
      kept.push({
        id: combiner,
        kind: 'window',
        inputs: w.inputs,
        outputs: ['main'],
        keyed: false,
        operator: stageCombiner(w),
      });
      kept.push({
        id: `${child.keyBy}-stage`,
        kind: 'sink',
        inputs: [{ node: combiner, tag: 0 }],
        outputs: ['main'],
        keyed: false,
        sink: links.sinkFor(child.keyBy, (e) => (e as Envelope).k),
      });
      continue;
    }
    const keyBy = graph.nodes.get(child.keyBy)!;
    const key = keyBy.stage!.fn as (value: unknown) => Key;
    kept.push({
      id: `${child.keyBy}-stage`,
      kind: 'sink',
      inputs: keyBy.inputs,
      outputs: ['main'],
      keyed: false,
      sink: links.sinkFor(child.keyBy, key),
    });
  }
  const known = new Set(kept.map((n) => n.id));
  for (const n of kept)
    for (const r of n.inputs)
      if (!known.has(r.node))
        throw configError(
          `eddy run --kafka: step "${n.id}" reads step "${r.node}" of another stage`,
          n.id,
          'run the module embedded (without --kafka)',
        );
  graph.nodes.clear();
  // Sources first (a later stage's reads its topic), then every step after its inputs, as built.
  for (const n of kept) graph.nodes.set(n.id, n);
}
