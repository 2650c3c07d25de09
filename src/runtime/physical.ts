/**
 * The physical plan: what the runtime runs, made once by the planner
 * (`plan/physical.ts`) from the logical graph for a parallelism. It already
 * says everything planning decides — which steps run chained in one task,
 * where a combiner pre-aggregates, which inputs arrive by exchange, whether
 * dead letters need a default sink — so the executor only instantiates it
 * (one task per vertex in each subtask) and the runtime never reads the DSL's
 * graph (issue 13: planning happens once, in one place).
 */
import type { Sink, Source, SourceOptions } from '../core/connector.ts';
import type { Stage } from '../operators/chain.ts';
import type { Operator } from '../operators/operator.ts';

/**
 * How a vertex's inputs arrive: from its own subtask (`local`), from every
 * subtask to the one that owns the record's key group (`hash`), from every
 * subtask into subtask 0 (`gather`: sinks that are not parallel), or from
 * every subtask to the less loaded of two subtasks chosen by the record's key
 * group (`split`: partial key grouping, for a combiner that holds no state
 * across a barrier, so a key may be spread).
 */
export type Arrival = 'local' | 'hash' | 'gather' | 'split';

/** One task of each subtask. */
export interface Vertex {
  /** The task's id: its first step's. */
  readonly id: string;
  /** The logical steps it runs, in order (a chain runs several; each keeps its own counters). */
  readonly steps: readonly { readonly id: string; readonly kind: string }[];
  /**
   * What runs: a source's hand-over of what its reader polls, a sink, the
   * dead-letter stream's entry, a chain of stateless stages, or an operator
   * the plan makes (one per subtask).
   */
  readonly role: 'source' | 'sink' | 'dead-letters' | 'chain' | 'operator';
  readonly chain?: readonly Stage[];
  readonly operator?: () => Operator;
  readonly source?: { readonly source: Source<unknown>; readonly options: SourceOptions<unknown> };
  /** The sink; absent on the sink the plan adds when nothing reads the dead letters (the runtime's default). */
  readonly sink?: Sink<unknown>;
  /** How many logical inputs it has (a source and the dead-letter entry have one, fed by the runtime). */
  readonly inputs: number;
  readonly arrival: Arrival;
  /**
   * A `split` arrival that starts by keeping every record in its own subtask
   * (as local pre-aggregation does) and spreads only when told to
   * (`preAggregate: 'auto'`: `Executor.setSpread`).
   */
  readonly adaptive?: boolean;
  /** Whether its operator reads keys set by an upstream keyBy (holds keyed state); its batches carry keys. */
  readonly keyed?: boolean;
  /** Per output tag of its last step: the vertices that read it, and as which of their inputs. */
  readonly outputs: readonly (readonly { readonly vertex: string; readonly input: number }[])[];
}

export interface PhysicalPlan {
  readonly parallelism: number;
  readonly maxParallelism: number;
  /** Every vertex after the vertices it reads. */
  readonly vertices: readonly Vertex[];
  /** Vertices fed by the dead-letter stream, directly or not: they end after everything else. */
  readonly afterDeadLetters: ReadonlySet<string>;
  /** A combiner vertex → the window step it pre-aggregates for. */
  readonly combinerOf: ReadonlyMap<string, string>;
  /** Every logical step (what a checkpoint may hold state of). */
  readonly steps: ReadonlySet<string>;
  /** The source steps. */
  readonly sources: ReadonlySet<string>;
  /** The source steps that split their input (every subtask reads a share; aligned), in plan order. */
  readonly splittable: readonly string[];
}
