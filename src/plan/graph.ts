/**
 * The logical plan: what the DSL builds. Each DSL call checks its arguments,
 * settles a step id and adds one node here; nothing runs until the plan is
 * handed to a runtime. A node knows its inputs, its named outputs and how to
 * make its operator, so the runtime can make one operator per worker.
 */

import type { Sink, Source, SourceOptions } from '../core/connector.ts';
import type { Aggregator, WindowAssigner } from '../core/windows.ts';
import { configError, EddyError } from '../errors/index.ts';
import type { Stage } from '../operators/chain.ts';
import type { Operator } from '../operators/operator.ts';
import type { JobGraph } from './job-graph.ts';

/** A reference to one output of one node: what a stream handle points at. */
export interface StreamRef {
  readonly node: string;
  /** The output tag index: 0 is the main output, 1.. are side outputs. */
  readonly tag: number;
}

export type NodeKind =
  | 'source'
  | 'sink'
  | 'dead-letters'
  | 'map'
  | 'filter'
  | 'flatMap'
  | 'keyBy'
  | 'timestamps'
  | 'union'
  | 'branch'
  | 'reduce'
  | 'aggregate'
  | 'process'
  | 'window'
  | 'windowJoin'
  | 'intervalJoin'
  | 'tableJoin'
  | 'table'
  | 'mapAsync';

export interface PlanNode {
  readonly id: string;
  readonly kind: NodeKind;
  readonly inputs: readonly StreamRef[];
  /** Output tag names; index 0 is always 'main'. */
  readonly outputs: readonly string[];
  /** Whether the operator reads keys set by an upstream keyBy (and so holds keyed state). */
  readonly keyed: boolean;
  /** Makes the node's operator; undefined for sources, sinks and chainable stages. */
  readonly operator?: () => Operator;
  /** For map, filter, flatMap and keyBy: the stage the planner chains with its neighbours. */
  readonly stage?: Stage;
  /**
   * For a window aggregation: its assigner, aggregator and early-result
   * period, from which the planner decides whether to pre-aggregate before
   * the exchange (`plan/physical.ts`).
   */
  readonly window?: {
    readonly assigner: WindowAssigner;
    readonly aggregator: Aggregator<unknown, unknown, unknown>;
    readonly earlyEvery: number;
  };
  readonly source?: { readonly source: Source<unknown>; readonly options: SourceOptions<unknown> };
  readonly sink?: Sink<unknown>;
}

const STEP_ID = /^[A-Za-z][A-Za-z0-9_.-]{0,63}$/;

/** The id of the built-in dead-letter node. */
export const DEAD_LETTERS_ID = 'dead-letters';

export class LogicalGraph {
  readonly nodes = new Map<string, PlanNode>();
  #counter = 0;

  /**
   * Settles a step id: the user's name, checked, or `kind-N`. Ids must be
   * unique because checkpointed state is keyed by them.
   */
  stepId(kind: string, name: string | undefined): string {
    if (name === undefined) {
      let id: string;
      do id = `${kind}-${++this.#counter}`;
      while (this.nodes.has(id));
      return id;
    }
    if (typeof name !== 'string' || !STEP_ID.test(name)) {
      throw new EddyError(
        'EDDY_STEP_ID_INVALID',
        `step name ${JSON.stringify(name)} is not valid; use 1-64 letters, digits, '_', '.' or '-', starting with a letter`,
      );
    }
    if (this.nodes.has(name)) {
      throw new EddyError(
        'EDDY_STEP_ID_INVALID',
        `step "${name}" already exists; give each step a unique name`,
      );
    }
    return name;
  }

  add(node: PlanNode): PlanNode {
    if (this.nodes.has(node.id)) {
      throw new EddyError(
        'EDDY_STEP_ID_INVALID',
        `step "${node.id}" already exists; give each step a unique name`,
      );
    }
    for (const input of node.inputs) {
      const from = this.nodes.get(input.node);
      if (from === undefined || input.tag >= from.outputs.length) {
        throw new EddyError('EDDY_INTERNAL', `step "${node.id}" reads a stream that does not exist`);
      }
    }
    this.nodes.set(node.id, node);
    return node;
  }

  /** Nodes in an order where every node comes after its inputs (insertion order is one). */
  ordered(): PlanNode[] {
    return [...this.nodes.values()];
  }

  /** The steps and the streams between them, as a person looks at them (no operators or functions). */
  describe(): JobGraph {
    const nodes = this.ordered();
    return {
      nodes: nodes.map((n) => ({ id: n.id, kind: n.kind, keyed: n.keyed })),
      edges: nodes.flatMap((n) =>
        n.inputs.map((r) => ({ from: r.node, to: n.id, output: this.nodes.get(r.node)!.outputs[r.tag]! })),
      ),
    };
  }
}

/** Checks that a value is a positive integer (or 0 when allowed); throws a config error naming it. */
export function checkInt(what: string, value: unknown, min: number, stepId?: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min) {
    throw configError(
      `${what} must be an integer >= ${min}`,
      value,
      `pass a whole number of at least ${min}`,
      stepId,
    );
  }
  return value;
}

/** Checks that a value is a function; throws a config error naming it. */
export function checkFn(what: string, value: unknown, stepId?: string): void {
  if (typeof value !== 'function') {
    throw configError(`${what} must be a function`, value, 'pass a function', stepId);
  }
}

/** The nodes that read each output: result.get(nodeId)[tag] = [[consumer, inputIndex], ...]. */
export function consumersOf(nodes: readonly PlanNode[]): Map<string, [PlanNode, number][][]> {
  const result = new Map<string, [PlanNode, number][][]>();
  for (const node of nodes)
    result.set(
      node.id,
      node.outputs.map(() => []),
    );
  for (const node of nodes) {
    node.inputs.forEach((ref, i) => {
      result.get(ref.node)![ref.tag]!.push([node, i]);
    });
  }
  return result;
}
