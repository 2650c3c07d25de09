/**
 * Physical planning, in one place (issue 13): from the logical graph the DSL
 * built to the vertices the runtime runs at a parallelism.
 *
 * - **Combiners.** With parallelism above 1, a window aggregation whose
 *   aggregator merges gets a step `<id>.local` before its exchange
 *   (`WindowCombiner`): the step then reads the records the combiner passed
 *   on (input 0) and its partials (input 1). The combiner runs in the
 *   subtasks of its input, or, with `preAggregate: 'split'`, after an
 *   exchange that spreads each key group over two subtasks by their load
 *   (partial key grouping): a hot key's records, or those of a source only
 *   subtask 0 reads, are then combined by two subtasks instead of one, at
 *   the price of every record crossing subtasks.
 * - **Default dead letters.** If nothing reads `deadLetters()`, a sink is
 *   added for them (the runtime writes them to standard error).
 * - **Chaining.** A stateless stage joins its input's chain when that input
 *   is a stage (not a keyBy, which must end a chain) read by nothing else.
 * - **Exchanges.** With parallelism above 1, a keyed step's inputs arrive by
 *   hash (each record to the subtask owning its key group) and a sink's are
 *   gathered into subtask 0 unless the sink is `parallel` (a writer per
 *   subtask); every other input stays in its subtask.
 */

import type { Operator } from '../operators/operator.ts';
import { PARTIALS_TAG, RAW_TAG, WindowCombiner } from '../operators/window-combine.ts';
import type { Arrival, PhysicalPlan, Vertex } from '../runtime/physical.ts';
import { consumersOf, DEAD_LETTERS_ID, type LogicalGraph, type PlanNode } from './graph.ts';

/** The id of the sink the plan adds when nothing reads the dead letters. */
export const DEFAULT_DEAD_LETTERS_ID = 'dead-letters.default';

/**
 * How window aggregations whose aggregator merges are pre-aggregated at
 * parallelism > 1 (`PipelineOptions.preAggregate`): not at all (`false`), in
 * each upstream subtask before the keyed exchange (`true`), or after an
 * exchange that spreads each key over two subtasks (`'split'`), or as
 * `'split'` with the spreading turned on and off while a threaded run runs,
 * by what it measures (`'auto'`; `runtime/threads/spread.ts`).
 */
export type PreAggregate = boolean | 'split' | 'auto';

export function physicalPlan(
  graph: LogicalGraph,
  parallelism: number,
  maxParallelism: number,
  preAggregate: PreAggregate = 'auto',
): PhysicalPlan {
  const combinerOf = new Map<string, string>();
  const split = new Set<string>();
  const nodes =
    preAggregate === false
      ? graph.ordered()
      : withCombiners(
          graph.ordered(),
          parallelism,
          combinerOf,
          preAggregate === 'split' || preAggregate === 'auto' ? split : undefined,
        );
  let consumers = consumersOf(nodes);
  if (consumers.get(DEAD_LETTERS_ID)?.[0]?.length === 0) {
    // No `sink`: the runtime gives this one its default writer.
    nodes.push({
      id: DEFAULT_DEAD_LETTERS_ID,
      kind: 'sink',
      inputs: [{ node: DEAD_LETTERS_ID, tag: 0 }],
      outputs: ['main'],
      keyed: false,
    });
    consumers = consumersOf(nodes);
  }
  // Everything fed by the dead-letter step must not be waited for before it ends.
  const afterDeadLetters = new Set<string>([DEAD_LETTERS_ID]);
  for (const node of nodes)
    if (node.inputs.some((r) => afterDeadLetters.has(r.node))) afterDeadLetters.add(node.id);
  const chains = new Map<string, PlanNode[]>();
  const headOf = new Map<string, string>();
  for (const node of nodes) {
    if (node.stage === undefined) continue;
    const parent = graph.nodes.get(node.inputs[0]!.node)!;
    const parentHead = headOf.get(parent.id);
    if (
      parentHead !== undefined &&
      parent.stage!.kind !== 'keyBy' &&
      consumers.get(parent.id)![0]!.length === 1
    ) {
      chains.get(parentHead)!.push(node);
      headOf.set(node.id, parentHead);
    } else {
      chains.set(node.id, [node]);
      headOf.set(node.id, node.id);
    }
  }
  const arrival = (node: PlanNode): Arrival =>
    parallelism === 1
      ? 'local'
      : split.has(node.id)
        ? 'split'
        : node.keyed
          ? 'hash'
          : node.kind === 'sink' && node.sink?.parallel !== true
            ? 'gather'
            : 'local';
  const vertices: Vertex[] = [];
  for (const node of nodes) {
    if (headOf.has(node.id) && headOf.get(node.id) !== node.id) continue; // runs in its chain's task
    const members = chains.get(node.id) ?? [node];
    const last = members.at(-1)!;
    const role: Vertex['role'] =
      node.stage !== undefined
        ? 'chain'
        : node.kind === 'source' || node.kind === 'sink' || node.kind === 'dead-letters'
          ? node.kind
          : 'operator';
    vertices.push({
      id: node.id,
      steps: members.map((m) => ({ id: m.id, kind: m.kind })),
      role,
      ...(role === 'chain' ? { chain: members.map((m) => m.stage!) } : {}),
      ...(role === 'operator' ? { operator: node.operator! } : {}),
      ...(node.source === undefined ? {} : { source: node.source }),
      ...(node.sink === undefined ? {} : { sink: node.sink }),
      inputs: node.kind === 'source' || node.kind === 'dead-letters' ? 1 : node.inputs.length,
      arrival: arrival(node),
      ...(preAggregate === 'auto' && parallelism > 1 && split.has(node.id) ? { adaptive: true } : {}),
      keyed: node.keyed,
      outputs: consumers
        .get(last.id)!
        .map((list) =>
          list.map(([consumer, input]) => ({ vertex: headOf.get(consumer.id) ?? consumer.id, input })),
        ),
    });
  }
  const sources = nodes.filter((n) => n.kind === 'source');
  return {
    parallelism,
    maxParallelism,
    vertices,
    afterDeadLetters,
    combinerOf,
    steps: new Set(graph.nodes.keys()),
    sources: new Set(sources.map((n) => n.id)),
    splittable: sources.filter((n) => n.source!.source.splittable === true).map((n) => n.id),
  };
}

/**
 * A window aggregation's pre-aggregation before its exchange, when its
 * partials merge (`WindowCombiner`); not for sessions, whose windows depend on
 * every record of the key, nor with early results, which must see every
 * record as it comes.
 */
function combinerFor(node: PlanNode): (() => Operator) | undefined {
  const w = node.window;
  if (w === undefined || typeof w.aggregator.merge !== 'function') return undefined;
  if (w.assigner.kind === 'session' || w.earlyEvery > 0) return undefined;
  return () => new WindowCombiner(w.assigner, w.aggregator, node.id);
}

/**
 * The nodes with a combiner before each window aggregation that takes one
 * (parallelism > 1); with `split`, the combiners' ids are added to it (their
 * input arrives by a split exchange).
 */
function withCombiners(
  nodes: PlanNode[],
  parallelism: number,
  combinerOf: Map<string, string>,
  split: Set<string> | undefined,
): PlanNode[] {
  if (parallelism === 1) return nodes;
  const taken = new Set(nodes.map((node) => node.id));
  const out: PlanNode[] = [];
  for (const node of nodes) {
    const combine = combinerFor(node);
    if (combine === undefined) {
      out.push(node);
      continue;
    }
    let id = `${node.id}.local`;
    for (let i = 2; taken.has(id); i++) id = `${node.id}.local-${i}`;
    taken.add(id);
    combinerOf.set(id, node.id);
    split?.add(id);
    out.push({
      id,
      kind: node.kind,
      inputs: node.inputs,
      outputs: ['main', 'partials'],
      keyed: false,
      operator: combine,
    });
    out.push({
      ...node,
      inputs: [
        { node: id, tag: RAW_TAG },
        { node: id, tag: PARTIALS_TAG },
      ],
    });
  }
  return out;
}
