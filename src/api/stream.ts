/**
 * The typed stream handles of the DSL. Each method checks its arguments,
 * settles a step id, adds one node to the logical plan and returns a new
 * handle; nothing runs here. Types flow by inference: `map((r) => r.temp)` on a
 * `Stream<Reading>` gives a `Stream<number>`.
 */
import type { Sink } from '../core/connector.ts';
import type { Key } from '../core/key-groups.ts';
import { configError } from '../errors/index.ts';
import type { Stage } from '../operators/chain.ts';
import { IntervalJoinOperator, TableJoinOperator, WindowJoinOperator } from '../operators/joins.ts';
import { MapAsyncOperator } from '../operators/map-async.ts';
import type { Operator } from '../operators/operator.ts';
import {
  type OutputTag,
  type ProcessFunction,
  ProcessOperator,
  RollingAggregateOperator,
  reduceAggregator,
} from '../operators/process.ts';
import { BranchOperator, PassThroughOperator, TimestampsOperator } from '../operators/stateless.ts';
import { LATE_TAG, WindowOperator } from '../operators/window.ts';
import {
  checkFn,
  checkInt,
  type LogicalGraph,
  type NodeKind,
  type PlanNode,
  type StreamRef,
} from '../plan/graph.ts';
import type { StateDescriptor, StateSpec } from '../state/handles.ts';
import {
  type Aggregator,
  checkAssigner,
  checkDuration,
  MAX_DURATION_MS,
  MAX_TIMER_MS,
  orDefault,
  type WindowAssigner,
  type Windowed,
} from './windows.ts';

/** What every handle shares: the plan it adds to and the plan-wide settings. */
export interface PlanScope {
  readonly graph: LogicalGraph;
  readonly maxParallelism: number;
}

/** Adds a chainable stateless step (map, filter, flatMap, keyBy). */
function addStage(scope: PlanScope, name: string | undefined, ref: StreamRef, stage: Stage): string {
  const id = scope.graph.stepId(stage.kind, name);
  scope.graph.add({ id, kind: stage.kind, inputs: [ref], outputs: ['main'], keyed: false, stage });
  return id;
}

function addNode(
  scope: PlanScope,
  kind: NodeKind,
  name: string | undefined,
  inputs: readonly StreamRef[],
  make: (id: string) => Operator,
  options: {
    outputs?: readonly string[];
    keyed?: boolean;
    /** A window aggregation's assigner and aggregator, for the planner (see `PlanNode.window`). */
    window?: PlanNode['window'];
  } = {},
): string {
  const id = scope.graph.stepId(kind, name);
  const window = options.window;
  scope.graph.add({
    id,
    kind,
    inputs,
    outputs: ['main', ...(options.outputs ?? [])],
    keyed: options.keyed ?? false,
    operator: () => make(id),
    ...(window === undefined ? {} : { window }),
  });
  return id;
}

function sameScope(a: PlanScope, b: { scope: PlanScope }, what: string): void {
  if (a.graph !== b.scope.graph) {
    throw configError(
      `${what} must come from the same pipeline`,
      'a stream of another pipeline',
      'build both streams on one Pipeline',
    );
  }
}

/**
 * A stream of records of type `T`.
 *
 * @example
 * ```ts
 * const celsius: Stream<number> = readings.map((r) => r.temp).filter((t) => t > -50);
 * ```
 */
export class Stream<T> {
  /** The plan this stream belongs to. Internal. */
  readonly scope: PlanScope;
  /** The plan output this handle reads. Internal. */
  readonly ref: StreamRef;

  constructor(scope: PlanScope, ref: StreamRef) {
    this.scope = scope;
    this.ref = ref;
  }

  /** The id of the step that produces this stream. */
  get id(): string {
    return this.ref.node;
  }

  #next<R>(id: string, tag = 0): Stream<R> {
    return new Stream<R>(this.scope, { node: id, tag });
  }

  /** Transforms each record. */
  map<R>(fn: (value: T) => R, name?: string): Stream<R> {
    checkFn('map function', fn);
    return this.#next(addStage(this.scope, name, this.ref, { kind: 'map', fn: fn as Stage['fn'] }));
  }

  /** Keeps the records for which `fn` is true. A type guard narrows the stream's type. */
  filter<S extends T>(fn: (value: T) => value is S, name?: string): Stream<S>;
  filter(fn: (value: T) => boolean, name?: string): Stream<T>;
  filter(fn: (value: T) => boolean, name?: string): Stream<T> {
    checkFn('filter predicate', fn);
    return this.#next(addStage(this.scope, name, this.ref, { kind: 'filter', fn: fn as Stage['fn'] }));
  }

  /** Turns each record into zero or more records. */
  flatMap<R>(fn: (value: T) => Iterable<R>, name?: string): Stream<R> {
    checkFn('flatMap function', fn);
    return this.#next(addStage(this.scope, name, this.ref, { kind: 'flatMap', fn: fn as Stage['fn'] }));
  }

  /**
   * Partitions the stream by key, for keyed state, windows and joins. Keys are
   * strings or numbers.
   */
  keyBy<K extends Key>(fn: (value: T) => K, name?: string): KeyedStream<T, K> {
    checkFn('keyBy function', fn);
    const id = addStage(this.scope, name, this.ref, { kind: 'keyBy', fn: fn as Stage['fn'] });
    return new KeyedStream<T, K>(this.scope, { node: id, tag: 0 });
  }

  /**
   * Re-assigns event time from the records and generates watermarks that allow
   * `maxOutOfOrderness` ms of disorder. Usually event time is set at the source instead.
   */
  withTimestamps(
    fn: (value: T) => number,
    options: { maxOutOfOrderness?: number } = {},
    name?: string,
  ): Stream<T> {
    checkFn('timestamp function', fn);
    const bound = checkDuration('maxOutOfOrderness', orDefault(options.maxOutOfOrderness, 0), {
      min: 0,
      example: '2_000 for 2 s of disorder',
    });
    return this.#next(
      addNode(this.scope, 'timestamps', name, [this.ref], () => new TimestampsOperator(fn as never, bound)),
    );
  }

  /** Merges this stream with others of the same type; the watermark is the lowest of theirs. */
  union(...others: Stream<T>[]): Stream<T> {
    for (const o of others) sameScope(this.scope, o, 'streams in a union');
    const refs = [this.ref, ...others.map((o) => o.ref)];
    return this.#next(
      addNode(this.scope, 'union', undefined, refs, () => new PassThroughOperator({ dropKeys: true })),
    );
  }

  /**
   * Splits the stream: each record goes to the first branch whose predicate
   * holds, or to `rest` when none does.
   *
   * @example
   * ```ts
   * const { hot, cold, rest } = readings.branch({ hot: (r) => r.temp > 30, cold: (r) => r.temp < 0 });
   * ```
   */
  branch<N extends string>(
    predicates: Readonly<Record<N, (value: T) => boolean>>,
    name?: string,
  ): Readonly<Record<N | 'rest', Stream<T>>> {
    const names = Object.keys(predicates) as N[];
    if (names.length === 0)
      throw configError(
        'branch needs at least one predicate',
        predicates,
        'pass e.g. { hot: (r) => r.temp > 30 }',
      );
    if ((names as string[]).includes('rest')) {
      throw configError(
        'branch names may not be "rest"',
        'rest',
        'the "rest" branch is added for records no predicate matches; rename yours',
      );
    }
    for (const n of names) checkFn(`branch predicate "${n}"`, predicates[n]);
    const preds = names.map((n) => predicates[n]);
    const id = addNode(this.scope, 'branch', name, [this.ref], () => new BranchOperator(preds as never), {
      outputs: [...names, 'rest'],
    });
    const result: Record<string, Stream<T>> = Object.create(null);
    names.forEach((n, i) => {
      result[n] = this.#next(id, i + 1);
    });
    result['rest'] = this.#next(id, names.length + 1);
    return result as Record<N | 'rest', Stream<T>>;
  }

  /**
   * Calls an async function per record with at most `concurrency` calls in
   * flight; results keep the input order. A call that throws, rejects or times
   * out sends its record to the dead-letter output.
   */
  mapAsync<R>(fn: (value: T) => Promise<R> | R, options: MapAsyncStepOptions = {}): Stream<R> {
    return this.#next(addMapAsync(this.scope, this.ref, fn, options));
  }

  /** Writes the stream to a sink; returns the sink step's id. */
  sink(sink: Sink<T>, name?: string): string {
    if (sink === null || typeof sink !== 'object' || typeof sink.open !== 'function') {
      throw configError(
        'sink must be a Sink (an object with open())',
        sink,
        'pass e.g. consoleSink() or collectSink()',
      );
    }
    const id = this.scope.graph.stepId('sink', name);
    this.scope.graph.add({
      id,
      kind: 'sink',
      inputs: [this.ref],
      outputs: ['main'],
      keyed: false,
      sink: sink as Sink<unknown>,
    });
    return id;
  }
}

export interface MapAsyncStepOptions {
  /** At most this many calls in flight (default 16). */
  readonly concurrency?: number;
  /** Fail a call after this many ms (default 0: no limit). */
  readonly timeout?: number;
  readonly name?: string;
}

/** The most mapAsync calls in flight a step may allow. */
const MAX_CONCURRENCY = 65_536;

function addMapAsync(scope: PlanScope, ref: StreamRef, fn: unknown, options: MapAsyncStepOptions): string {
  checkFn('mapAsync function', fn);
  const concurrency = checkInt('mapAsync concurrency', orDefault(options.concurrency, 16), 1);
  // Records wait in memory while every slot is busy; past this many slots that is no bound at all.
  if (concurrency > MAX_CONCURRENCY)
    throw configError(
      `mapAsync concurrency must be at most ${MAX_CONCURRENCY}`,
      concurrency,
      'pass the most calls the service can take at once, e.g. 64',
    );
  const timeout = checkDuration('mapAsync timeout', orDefault(options.timeout, 0), {
    min: 0,
    max: MAX_TIMER_MS,
    example: '5_000 for 5 s, or 0 for no limit',
  });
  return addNode(
    scope,
    'mapAsync',
    options.name,
    [ref],
    () => new MapAsyncOperator(fn as never, { concurrency, timeout }),
  );
}

/** A stream with a side output of late records. */
export class LateAwareStream<R, Late> extends Stream<R> {
  /** The records that arrived after their window's allowed lateness. */
  late(): Stream<Late> {
    return new Stream<Late>(this.scope, { node: this.ref.node, tag: LATE_TAG });
  }
}

/** The result of a process step: its main output and its declared side outputs. */
export class ProcessedStream<R> extends Stream<R> {
  readonly #tags: readonly string[];

  constructor(scope: PlanScope, ref: StreamRef, tags: readonly string[]) {
    super(scope, ref);
    this.#tags = tags;
  }

  /** The records the process function sent to `tag` with `ctx.output`. */
  sideOutput<X>(tag: OutputTag<X>): Stream<X> {
    const index = this.#tags.indexOf(tag.name);
    if (index < 0) {
      throw configError(
        `side output "${tag.name}" is not declared on step "${this.id}"`,
        tag.name,
        'pass it in the sideOutputs option of process()',
      );
    }
    return new Stream<X>(this.scope, { node: this.ref.node, tag: index + 1 });
  }
}

export interface ProcessStepOptions {
  readonly name?: string;
  readonly sideOutputs?: readonly OutputTag<unknown>[];
}

export interface WindowStepOptions {
  /** Keep windows this many ms past their end; late records within it update the result. Default 0. */
  readonly allowedLateness?: number;
  /** Emit early results for windows that changed, every this many ms of processing time. Default: never. */
  readonly earlyEvery?: number;
}

/**
 * A stream partitioned by key `K`: the place for keyed state, windows and joins.
 *
 * @example
 * ```ts
 * readings.keyBy((r) => r.device).window(tumbling(10_000)).aggregate(average);
 * ```
 */
export class KeyedStream<T, K extends Key> extends Stream<T> {
  /** A rolling reduce: emits the key's reduced value after every record. */
  reduce(fn: (a: T, b: T) => T, name?: string): Stream<T> {
    checkFn('reduce function', fn);
    const agg = reduceAggregator(fn);
    const id = addNode(
      this.scope,
      'reduce',
      name,
      [this.ref],
      () => new RollingAggregateOperator(agg as never, false),
      { keyed: true },
    );
    return new Stream<T>(this.scope, { node: id, tag: 0 });
  }

  /** A rolling aggregate: emits `{ key, value }` with the key's current result after every record. */
  aggregate<A, R>(agg: Aggregator<T, A, R>, name?: string): Stream<{ key: K; value: R }> {
    checkAggregator(agg, false);
    const id = addNode(
      this.scope,
      'aggregate',
      name,
      [this.ref],
      () => new RollingAggregateOperator(agg as never, true),
      {
        keyed: true,
      },
    );
    return new Stream(this.scope, { node: id, tag: 0 });
  }

  /** Groups the records of each key into event-time windows. */
  window(assigner: WindowAssigner, options: WindowStepOptions = {}): WindowedStream<T, K> {
    return new WindowedStream<T, K>(this, assigner, options);
  }

  /** Declares keyed state for a `process` step. */
  withState<S extends StateSpec>(spec: S): StatefulKeyedStream<T, K, S> {
    if (spec === null || typeof spec !== 'object')
      throw configError('state spec must be an object', spec, 'pass e.g. { count: valueState<number>() }');
    for (const [name, d] of Object.entries(spec) as [string, Partial<StateDescriptor<unknown>> | null][]) {
      if (d === null || typeof d !== 'object' || !['value', 'map', 'list'].includes(d.kind as string))
        throw configError(
          `state "${name}" must be declared with valueState(), mapState() or listState()`,
          d,
          `pass e.g. { ${name}: valueState<number>() }`,
        );
      // Descriptors may be written by hand, so the TTL is checked here, where every one passes.
      checkDuration(`state "${name}" ttl`, d.ttl, { min: 0, example: '{ ttl: 60_000 }, or 0 for none' });
    }
    return new StatefulKeyedStream<T, K, S>(this, spec);
  }

  /** Low-level processing with timers (and no state; see `withState`). */
  process<R>(
    fn: ProcessFunction<T, K, Record<never, never>, R>,
    options: ProcessStepOptions = {},
  ): ProcessedStream<R> {
    return addProcess(this, fn as never, {}, options);
  }

  /**
   * Like `Stream.mapAsync`, but records of one key are called one at a time in
   * order, while different keys run concurrently.
   */
  override mapAsync<R>(fn: (value: T) => Promise<R> | R, options: MapAsyncStepOptions = {}): Stream<R> {
    return new Stream<R>(this.scope, { node: addMapAsync(this.scope, this.ref, fn, options), tag: 0 });
  }

  /** Starts a windowed join with another stream keyed the same way: `a.join(b).window(w).apply(fn)`. */
  join<U>(other: KeyedStream<U, K>): JoinBuilder<T, U, K> {
    sameScope(this.scope, other, 'joined streams');
    return new JoinBuilder<T, U, K>(this, other);
  }

  /**
   * Joins each record with the other stream's records of the same key whose
   * event time lies in `[t + lower, t + upper]`.
   */
  intervalJoin<U, R>(
    other: KeyedStream<U, K>,
    bounds: { readonly lower: number; readonly upper: number },
    fn: (left: T, right: U, key: K) => R,
    name?: string,
  ): LateAwareStream<R, T | U> {
    sameScope(this.scope, other, 'joined streams');
    checkFn('interval join function', fn);
    if (bounds === null || typeof bounds !== 'object')
      throw configError(
        'interval join bounds must be { lower, upper }',
        bounds,
        'pass e.g. { lower: -5000, upper: 5000 }',
      );
    const bound = (which: 'lower' | 'upper') =>
      checkDuration(`interval join ${which} bound`, bounds[which], {
        min: -MAX_DURATION_MS,
        must: 'a whole number of milliseconds (negative: before the record)',
        example: '{ lower: -5000, upper: 5000 }',
      });
    const lower = bound('lower');
    const upper = bound('upper');
    if (lower > upper) {
      throw configError(
        'interval join bounds need lower <= upper',
        `${lower}..${upper}`,
        'pass e.g. { lower: -5000, upper: 5000 }',
      );
    }
    const id = addNode(
      this.scope,
      'intervalJoin',
      name,
      [this.ref, other.ref],
      () => new IntervalJoinOperator(lower, upper, fn as never),
      {
        outputs: ['late'],
        keyed: true,
      },
    );
    return new LateAwareStream<R, T | U>(this.scope, { node: id, tag: 0 });
  }

  /**
   * Treats this keyed stream as a changelog: the table holds each key's latest
   * row, `rowOf(record)` (default: the record itself); a `null` row deletes the key.
   */
  toTable<V = T>(rowOf?: (value: T) => V | null): Table<K, V> {
    if (rowOf !== undefined) checkFn('toTable row function', rowOf);
    return new Table<K, V>(this, rowOf as ((value: unknown) => unknown) | undefined);
  }

  /**
   * Joins each record with the table's current row for its key (undefined when
   * there is none, unless `inner`, which drops such records).
   */
  joinTable<V, R>(
    table: Table<K, V>,
    fn: (value: T, row: V | undefined, key: K) => R,
    options: { readonly inner?: boolean; readonly name?: string } = {},
  ): Stream<R> {
    sameScope(this.scope, table.stream, 'a stream and its table');
    checkFn('table join function', fn);
    const inner = options.inner ?? false;
    const rowOf = table.rowOf;
    const id = addNode(
      this.scope,
      'tableJoin',
      options.name,
      [this.ref, table.stream.ref],
      () => new TableJoinOperator(fn as never, inner, rowOf),
      {
        keyed: true,
      },
    );
    return new Stream<R>(this.scope, { node: id, tag: 0 });
  }
}

/** A keyed changelog viewed as a table of the latest value per key. */
export class Table<K extends Key, V> {
  readonly stream: KeyedStream<unknown, K>;
  readonly rowOf: ((value: unknown) => unknown) | undefined;
  /** Phantom: carries the row type; never set. */
  declare readonly _row?: V;

  constructor(stream: KeyedStream<unknown, K>, rowOf: ((value: unknown) => unknown) | undefined) {
    this.stream = stream;
    this.rowOf = rowOf;
  }
}

/** A keyed stream with declared state, ready for `process`. */
export class StatefulKeyedStream<T, K extends Key, S extends StateSpec> {
  readonly #keyed: KeyedStream<T, K>;
  readonly #spec: S;

  constructor(keyed: KeyedStream<T, K>, spec: S) {
    this.#keyed = keyed;
    this.#spec = spec;
  }

  /**
   * Runs `fn` per record with the key's state and timers. Name the output type:
   * `.process<Alert>({ processElement(r, ctx) { ctx.emit(...) } })`.
   */
  process<R>(fn: ProcessFunction<T, K, S, R>, options: ProcessStepOptions = {}): ProcessedStream<R> {
    return addProcess(this.#keyed, fn as never, this.#spec, options);
  }
}

function addProcess<R>(
  keyed: KeyedStream<unknown, Key>,
  fn: ProcessFunction<unknown, Key, StateSpec, unknown>,
  spec: StateSpec,
  options: ProcessStepOptions,
): ProcessedStream<R> {
  if (fn === null || typeof fn !== 'object' || typeof fn.processElement !== 'function') {
    throw configError(
      'process function must be an object with processElement()',
      fn,
      'pass { processElement(value, ctx) { ... } }',
    );
  }
  const tags = (options.sideOutputs ?? []).map((t) => t.name);
  if (new Set(tags).size !== tags.length)
    throw configError('side output names must be unique', tags.join(','), 'rename the duplicates');
  const id = addNode(
    keyed.scope,
    'process',
    options.name,
    [keyed.ref],
    () => new ProcessOperator(fn, spec, tags),
    {
      outputs: tags,
      keyed: true,
    },
  );
  return new ProcessedStream<R>(keyed.scope, { node: id, tag: 0 }, tags);
}

/** How long past a window's end its state is kept for late records. */
function checkLateness(value: unknown): number {
  return checkDuration('allowedLateness', orDefault(value, 0), {
    min: 0,
    example: '5_000 to accept records up to 5 s late, or 0',
  });
}

function checkAggregator(agg: unknown, needMerge: boolean): void {
  const a = agg as Partial<Aggregator<unknown, unknown, unknown>> | null;
  if (
    a === null ||
    typeof a !== 'object' ||
    typeof a.create !== 'function' ||
    typeof a.add !== 'function' ||
    typeof a.result !== 'function'
  ) {
    throw configError(
      'aggregator must have create(), add() and result()',
      agg,
      'pass { create, add, result } (and merge for session windows)',
    );
  }
  if (needMerge && typeof a.merge !== 'function') {
    throw configError(
      'session windows merge sessions, so the aggregator needs merge()',
      'no merge',
      'add merge(a, b) to the aggregator',
    );
  }
}

/**
 * A keyed stream grouped into windows; finish it with an aggregation.
 */
export class WindowedStream<T, K extends Key> {
  readonly #keyed: KeyedStream<T, K>;
  readonly #assigner: WindowAssigner;
  readonly #lateness: number;
  readonly #earlyEvery: number;

  constructor(keyed: KeyedStream<T, K>, assigner: WindowAssigner, options: WindowStepOptions) {
    this.#keyed = keyed;
    this.#assigner = checkAssigner(assigner);
    const o = options ?? {};
    this.#lateness = checkLateness(o.allowedLateness);
    // A processing-time period: it is a timer, so no longer than a timer can wait.
    this.#earlyEvery = checkDuration('earlyEvery', orDefault(o.earlyEvery, 0), {
      min: 0,
      max: MAX_TIMER_MS,
      example: '1_000 for early results every second, or 0 for none',
    });
  }

  /** Aggregates each key's window incrementally; emits a {@link Windowed} result per key and window. */
  aggregate<A, R>(agg: Aggregator<T, A, R>, name?: string): LateAwareStream<Windowed<K, R>, T> {
    checkAggregator(agg, this.#assigner.kind === 'session');
    const assigner = this.#assigner;
    const options = { allowedLateness: this.#lateness, earlyEvery: this.#earlyEvery };
    const id = addNode(
      this.#keyed.scope,
      'window',
      name,
      [this.#keyed.ref],
      () => new WindowOperator(assigner, agg as never, options),
      {
        outputs: ['late'],
        keyed: true,
        window: {
          assigner,
          aggregator: agg as Aggregator<unknown, unknown, unknown>,
          earlyEvery: this.#earlyEvery,
        },
      },
    );
    return new LateAwareStream(this.#keyed.scope, { node: id, tag: 0 });
  }

  /** Reduces each key's window to one record. */
  reduce(fn: (a: T, b: T) => T, name?: string): LateAwareStream<Windowed<K, T>, T> {
    checkFn('reduce function', fn);
    return this.aggregate(reduceAggregator(fn) as Aggregator<T, unknown, T>, name);
  }

  /** Counts each key's records per window. */
  count(name?: string): LateAwareStream<Windowed<K, number>, T> {
    return this.aggregate<number, number>(
      { create: () => 0, add: (n) => n + 1, result: (n) => n, merge: (a, b) => a + b },
      name,
    );
  }
}

/** `a.join(b)`: pick a window next. */
export class JoinBuilder<L, R, K extends Key> {
  readonly #left: KeyedStream<L, K>;
  readonly #right: KeyedStream<R, K>;

  constructor(left: KeyedStream<L, K>, right: KeyedStream<R, K>) {
    this.#left = left;
    this.#right = right;
  }

  /** Joins records of the same key that fall in the same tumbling or sliding window. */
  window(assigner: WindowAssigner, options: { readonly allowedLateness?: number } = {}): WindowJoin<L, R, K> {
    if (assigner !== null && typeof assigner === 'object' && assigner.kind === 'session') {
      throw configError(
        'a window join takes a tumbling or sliding window',
        assigner?.kind,
        'use tumbling(ms) or sliding(size, slide); for sessions aggregate both sides instead',
      );
    }
    const checked = checkAssigner(assigner) as Extract<WindowAssigner, { kind: 'tumbling' | 'sliding' }>;
    return new WindowJoin(this.#left, this.#right, checked, checkLateness(options?.allowedLateness));
  }
}

/** A windowed join waiting for its join function. */
export class WindowJoin<L, R, K extends Key> {
  readonly #left: KeyedStream<L, K>;
  readonly #right: KeyedStream<R, K>;
  readonly #assigner: Extract<WindowAssigner, { kind: 'tumbling' | 'sliding' }>;
  readonly #lateness: number;

  constructor(
    left: KeyedStream<L, K>,
    right: KeyedStream<R, K>,
    assigner: Extract<WindowAssigner, { kind: 'tumbling' | 'sliding' }>,
    lateness: number,
  ) {
    this.#left = left;
    this.#right = right;
    this.#assigner = assigner;
    this.#lateness = lateness;
  }

  /** Emits `fn(left, right, key)` for every pair of the same key and window, when the window closes. */
  apply<O>(fn: (left: L, right: R, key: K) => O, name?: string): LateAwareStream<O, L | R> {
    checkFn('join function', fn);
    const { scope } = this.#left;
    const assigner = this.#assigner;
    const lateness = this.#lateness;
    const id = addNode(
      scope,
      'windowJoin',
      name,
      [this.#left.ref, this.#right.ref],
      () => new WindowJoinOperator(assigner, fn as never, lateness),
      {
        outputs: ['late'],
        keyed: true,
      },
    );
    return new LateAwareStream<O, L | R>(scope, { node: id, tag: 0 });
  }
}
