/**
 * A pipeline: the plan built from sources through steps to sinks, and the way
 * to run it. Runs on the embedded default (this process, in-memory channels,
 * heap state) unless told otherwise.
 */
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { CheckpointStorage, type LoadedCheckpoint, loadCheckpoint } from '../checkpoint/storage.ts';
import type { Source, SourceOptions } from '../core/connector.ts';
import type { DeadLetter } from '../core/dead-letter.ts';
import { type Assignment, contiguousAssignment, type Key } from '../core/key-groups.ts';
import type { KeyState, PipelineMetrics, StateScan, StateScanOptions } from '../core/metrics.ts';
import { configError, EddyError } from '../errors/index.ts';
import type { ErrorPolicy } from '../operators/operator.ts';
import { type MessagingStep, messagingSteps, observeWithOpenTelemetry } from '../ops/otel.ts';
import { checkInt, DEAD_LETTERS_ID, LogicalGraph, type PlanNode } from '../plan/graph.ts';
import type { JobGraph } from '../plan/job-graph.ts';
import { type PreAggregate, physicalPlan } from '../plan/physical.ts';
import type { CheckpointInfo } from '../runtime/checkpoints.ts';
import { Job, type JobOptions } from '../runtime/job.ts';
import type { PhysicalPlan } from '../runtime/physical.ts';
import { checkRebalance } from '../runtime/rebalance.ts';
import { RestartStrategy } from '../runtime/restart.ts';
import { type Attempt, type SuperviseOptions, supervise } from '../runtime/supervisor.ts';
import { checkSpread } from '../runtime/threads/spread.ts';
import type { KeyedStateBackend } from '../state/backend.ts';
import { HeapStateBackend } from '../state/heap.ts';
import {
  CHECKPOINT_OPTIONS,
  checkRunOptions,
  PIPELINE_OPTIONS,
  type PipelineOptions,
  type RunOptions,
  refuseUnknown,
} from './options.ts';
import { type PlanScope, Stream } from './stream.ts';
import { checkDuration, orDefault } from './windows.ts';

export type { CheckpointOptions, PipelineOptions, RunOptions } from './options.ts';

/**
 * A source's options as `pipeline.source` takes them. `timestamp` says where
 * each record's event time comes from:
 * - a function of the record, e.g. `(r) => r.ts`;
 * - `'source'`: the time the source gives each record (a Kafka record's
 *   timestamp, a generator's clock, an `arraySource`'s `times`); the default
 *   for sources that declare they give one (`Source.eventTimes`: generator, Kafka);
 * - `'ingestion'`: the time the record was read (processing time), chosen
 *   on purpose.
 *
 * Left out on a source that gives no time of its own, records carry the time
 * they were read, and a window or join downstream is refused when the run
 * starts: results would depend on how fast the pipeline ran (issue 19).
 *
 * @example
 * ```ts
 * p.source('orders', jsonLinesSource<Order>({ path: 'orders.jsonl' }), { timestamp: (o) => o.ts, maxOutOfOrderness: 2_000 });
 * p.source('clicks', clickSource, { timestamp: 'ingestion' }); // windows by arrival time, on purpose
 * ```
 */
export interface PipelineSourceOptions<T> extends Omit<SourceOptions<T>, 'timestamp'> {
  readonly timestamp?: ((value: T) => number) | 'source' | 'ingestion';
}

/** Steps whose results depend on event time: they group or match records by it. */
const EVENT_TIME_STEPS: ReadonlySet<PlanNode['kind']> = new Set(['window', 'windowJoin', 'intervalJoin']);

/** What a source's event time is, as settled by `pipeline.source`. */
type TimeChoice = 'extracted' | 'source' | 'ingestion' | 'none';

/** Settings read once at construction, defaults in one place. */

/** A pipeline that is running. */
export interface RunningPipeline {
  /** A snapshot of every step's metrics (of the current attempt, with the number of restarts). */
  metrics(): PipelineMetrics;
  /** Stops the sources; resolves `done` once everything pulled has drained. */
  stop(): void;
  /**
   * Pauses the sources, finishes work in flight, writes a savepoint to `dir`
   * and stops without ending the input (open windows stay in the savepoint).
   * Resume with `run({ resumeFrom: dir })`.
   */
  stopWithSavepoint(dir: string): Promise<CheckpointInfo>;
  /** Takes a checkpoint now (needs `checkpoints`). */
  checkpoint(): Promise<CheckpointInfo>;
  /**
   * The state `key` has in keyed step `step` now (queryable state, as Kafka
   * Streams' interactive queries): every entry of the key in the step's
   * tables — a rolling aggregate's value, each open window's accumulator —
   * read from the subtask (thread) that holds its key group. A point-in-time
   * read of live state, not of a checkpoint.
   */
  queryState(step: string, key: Key): Promise<KeyState>;
  /**
   * The keys of keyed step `step` that `o` asks for — string keys with a
   * prefix, keys in a range [from, to) — each with its state, in key order,
   * at most `o.limit` (default 100), read from every subtask (thread).
   */
  scanState(step: string, o?: StateScanOptions): Promise<StateScan>;
  /** Resolves when the run ends (bounded sources exhausted, or stopped), rejects when it fails. */
  readonly done: Promise<void>;
}

/**
 * A dataflow pipeline.
 *
 * @example
 * ```ts
 * const p = new Pipeline({ name: 'iot' });
 * const out = collectSink<Windowed<string, number>>();
 * p.source('readings', generatorSource({ count: 1000, make: (i, g) => ({ device: `d${i % 10}`, temp: g.random() * 40, ts: g.time }) }), { timestamp: (r) => r.ts })
 *   .keyBy((r) => r.device)
 *   .window(tumbling(10_000))
 *   .aggregate({ create: () => 0, add: (n) => n + 1, result: (n) => n })
 *   .sink(out);
 * await p.run();
 * ```
 */
export class Pipeline {
  readonly name: string;
  readonly options: Required<Omit<PipelineOptions, 'name'>>;
  /** The logical plan. Internal. */
  readonly scope: PlanScope;
  #running = false;
  /** Where each source's event time comes from (see `PipelineSourceOptions.timestamp`). */
  readonly #times = new Map<string, TimeChoice>();

  constructor(options: PipelineOptions = {}) {
    if (options === null || typeof options !== 'object')
      throw configError('Pipeline options must be an object', options, "pass e.g. { name: 'orders' }");
    refuseUnknown('Pipeline', PIPELINE_OPTIONS, options);
    const S = PIPELINE_OPTIONS;
    const o = {
      name: orDefault(options.name, S.name.default),
      maxParallelism: orDefault(options.maxParallelism, S.maxParallelism.default),
      batchSize: orDefault(options.batchSize, S.batchSize.default),
      lingerMs: orDefault(options.lingerMs, S.lingerMs.default),
      errorPolicy: orDefault<ErrorPolicy>(options.errorPolicy, S.errorPolicy.default),
      state: orDefault<NonNullable<PipelineOptions['state']>>(options.state, S.state.default),
      preAggregate: orDefault<PreAggregate>(options.preAggregate, S.preAggregate.default),
    };
    this.name = o.name;
    const maxParallelism = checkInt('maxParallelism', o.maxParallelism, S.maxParallelism.min);
    if (maxParallelism > S.maxParallelism.max)
      throw configError(
        `maxParallelism must be at most ${S.maxParallelism.max}`,
        maxParallelism,
        'pick a smaller number of key groups',
      );
    if (!S.preAggregate.check(o.preAggregate))
      throw configError(
        "preAggregate must be true, false, 'split' or 'auto'",
        o.preAggregate,
        'leave it out for true (combine in each subtask before the keyed exchange)',
      );
    if (!S.errorPolicy.check(o.errorPolicy)) {
      throw configError('errorPolicy must be "dead-letter" or "fail"', o.errorPolicy, 'pick one of the two');
    }
    const state = o.state;
    if (!S.state.check(state)) {
      throw configError(
        'state must be "heap" or { kind: "durable", path }',
        state,
        'pass state: { kind: "durable", path: ".eddy/state" } or leave it out for the heap',
      );
    }
    this.options = {
      state,
      maxParallelism,
      batchSize: checkInt('batchSize', o.batchSize, S.batchSize.min),
      lingerMs: checkDuration('lingerMs', o.lingerMs, {
        min: S.lingerMs.min,
        max: S.lingerMs.max,
        example: S.lingerMs.example,
      }),
      errorPolicy: o.errorPolicy,
      preAggregate: o.preAggregate,
    };
    const graph = new LogicalGraph();
    graph.add({ id: DEAD_LETTERS_ID, kind: 'dead-letters', inputs: [], outputs: ['main'], keyed: false });
    this.scope = { graph, maxParallelism };
  }

  /**
   * Adds a source. Event time comes from `options.timestamp` (a function of
   * the record, `'source'` or `'ingestion'`), else from the source when it
   * gives one, else the time of ingestion — which a window or join refuses
   * (see {@link PipelineSourceOptions}).
   */
  source<T>(id: string, source: Source<T>, options: PipelineSourceOptions<T> = {}): Stream<T> {
    if (source === null || typeof source !== 'object' || typeof source.open !== 'function') {
      throw configError(
        'source must be a Source (an object with open())',
        source,
        'pass e.g. generatorSource({...}) or jsonLinesSource({...})',
      );
    }
    if (options === null || typeof options !== 'object')
      throw configError(
        'source options must be an object',
        options,
        'pass e.g. { timestamp: (r) => r.ts }',
        id,
      );
    checkDuration('maxOutOfOrderness', orDefault(options.maxOutOfOrderness, 0), {
      min: 0,
      stepId: id,
      example: '2_000 for 2 s of disorder',
    });
    checkDuration('idleTimeout', orDefault(options.idleTimeout, 0), {
      min: 0,
      stepId: id,
      example: '5_000, or 0 for never',
    });
    if (options.batchSize !== undefined) checkInt('batchSize', options.batchSize, 1, id);
    if (options.maxDrift !== undefined && options.maxDrift !== Number.POSITIVE_INFINITY)
      checkDuration('maxDrift', options.maxDrift, {
        min: 0,
        stepId: id,
        example: '1_000, or Infinity for no alignment',
      });
    const { timestamp, ...rest } = options;
    let choice: TimeChoice;
    if (typeof timestamp === 'function') choice = 'extracted';
    else if (timestamp === 'source' || timestamp === 'ingestion') choice = timestamp;
    else if (timestamp === undefined) choice = source.eventTimes === true ? 'source' : 'none';
    else
      throw configError(
        "timestamp must be a function of the record, 'source' or 'ingestion'",
        timestamp,
        "pass e.g. (r) => r.ts; 'source' for the time the source gives; 'ingestion' for the time of reading",
        id,
      );
    // The runtime extracts with a function, else takes the source's times, else the time of reading:
    // 'source' and 'ingestion' only tell the plan check that the choice was made.
    const runtimeOptions: SourceOptions<T> = typeof timestamp === 'function' ? { ...rest, timestamp } : rest;
    const stepId = this.scope.graph.stepId('source', id);
    this.scope.graph.add({
      id: stepId,
      kind: 'source',
      inputs: [],
      outputs: ['main'],
      keyed: false,
      source: { source: source as Source<unknown>, options: runtimeOptions as SourceOptions<unknown> },
    });
    this.#times.set(stepId, choice);
    return new Stream<T>(this.scope, { node: stepId, tag: 0 });
  }

  /** Every record any step could not process, with the reason. */
  deadLetters(): Stream<DeadLetter> {
    return new Stream<DeadLetter>(this.scope, { node: DEAD_LETTERS_ID, tag: 0 });
  }

  /**
   * Checks the plan without running it: it has a source and a sink, and every
   * window and join reads event time (see {@link PipelineSourceOptions}).
   */
  validate(): void {
    this.#validate(true);
  }

  /** The test driver feeds sources by hand with explicit times, so it skips the event-time check. */
  #validate(eventTime: boolean): void {
    const nodes = [...this.scope.graph.nodes.values()];
    if (!nodes.some((n) => n.kind === 'source')) {
      throw new EddyError(
        'EDDY_PLAN_INVALID',
        `pipeline "${this.name}" has no source; add one with pipeline.source(id, source)`,
      );
    }
    if (!nodes.some((n) => n.kind === 'sink')) {
      throw new EddyError(
        'EDDY_PLAN_INVALID',
        `pipeline "${this.name}" has no sink, so its results go nowhere; end a stream with .sink(...)`,
      );
    }
    if (eventTime) for (const n of nodes) if (EVENT_TIME_STEPS.has(n.kind)) this.#checkEventTime(n);
  }

  /**
   * Refuses an event-time step fed, through any path, by a source without
   * event time: its records carry the time they were read, so windows would
   * close by how fast the run went and results would change from run to run,
   * silently. A `withTimestamps` step on the path gives event time.
   */
  #checkEventTime(step: PlanNode): void {
    const what =
      step.kind === 'window' ? 'a window' : step.kind === 'windowJoin' ? 'a window join' : 'an interval join';
    const seen = new Set<string>();
    const stack = step.inputs.map((i) => i.node);
    for (let id = stack.pop(); id !== undefined; id = stack.pop()) {
      if (seen.has(id)) continue;
      seen.add(id);
      const node = this.scope.graph.nodes.get(id)!;
      if (node.kind === 'timestamps') continue;
      if (node.kind === 'dead-letters') {
        throw new EddyError(
          'EDDY_PLAN_INVALID',
          `${what} needs event time, but it reads the dead-letter stream, whose times are when records were dead-lettered (processing time); received pipeline.deadLetters() upstream of it; re-time them on purpose first, e.g. .withTimestamps((d) => d.at)`,
          { stepId: step.id },
        );
      }
      if (node.kind === 'source' && this.#times.get(id) === 'none') {
        throw new EddyError(
          'EDDY_PLAN_INVALID',
          `${what} needs event time, but source "${id}" has no timestamp and gives no time of its own, so its records would carry the time they were read and results would depend on how fast the run went; received no timestamp option for a ${JSON.stringify(node.source?.source.kind)} source; pass { timestamp: (r) => r.ts } to pipeline.source("${id}", ...), or { timestamp: 'ingestion' } to use the time of reading on purpose`,
          { stepId: step.id },
        );
      }
      for (const input of node.inputs) stack.push(input.node);
    }
  }

  /** The settings every subtask's executor shares. Internal. */
  executorOptions(): {
    maxParallelism: number;
    batchSize: number;
    lingerMs: number;
    errorPolicy: ErrorPolicy;
  } {
    const { maxParallelism, batchSize, lingerMs, errorPolicy } = this.options;
    return { maxParallelism, batchSize, lingerMs, errorPolicy };
  }

  /**
   * The pipeline's steps and the streams between them, as plain data: what
   * `eddy run --ui` draws. Step ids are the ones `metrics()` reports.
   */
  graph(): JobGraph {
    return this.scope.graph.describe();
  }

  /** The plan the runtime runs at `parallelism` (chaining, combiners, exchanges decided). Internal. */
  physicalPlan(parallelism: number): PhysicalPlan {
    return physicalPlan(
      this.scope.graph,
      parallelism,
      this.options.maxParallelism,
      this.options.preAggregate,
    );
  }

  /** The state backend of subtask `subtask` as the pipeline's `state` option asks. Internal. */
  async stateBackendFor(subtask: number): Promise<KeyedStateBackend> {
    const state = this.options.state;
    if (state === 'heap') return new HeapStateBackend(this.options.maxParallelism);
    // Imported on use: the native store is not loaded by pipelines that keep state on the heap.
    return (await import('../state/durable/index.ts')).durableStateBackend({
      path: join(state.path, `subtask-${subtask}`),
      maxParallelism: this.options.maxParallelism,
      ...(state.cacheEntries === undefined ? {} : { cacheEntries: state.cacheEntries }),
    });
  }

  /** Builds the job for a run. Internal: used by `start` and by the test driver. */
  createJob(options: Pick<RunOptions, 'clock' | 'signal' | 'parallelism'> & Partial<JobOptions> = {}): Job {
    this.#validate(options.manualSources !== true);
    if (this.#running)
      throw new EddyError(
        'EDDY_STATE_INVALID',
        `pipeline "${this.name}" is already running; build a new Pipeline to run it again`,
      );
    this.#running = true;
    return this.#job(options);
  }

  /** A job of this pipeline (a first run, or a restart of one). */
  #job(options: Pick<RunOptions, 'clock' | 'signal' | 'parallelism'> & Partial<JobOptions>): Job {
    const { signal: _signal, ...rest } = options;
    const env = process.env['EDDY_PARALLELISM'];
    const parallelism = rest.parallelism ?? (env === undefined || env === '' ? 1 : Number(env));
    return new Job(this.physicalPlan(parallelism), {
      ...this.executorOptions(),
      stateBackendFactory: (subtask: number) => this.stateBackendFor(subtask),
      ...rest,
      parallelism,
      pipelineName: this.name,
    });
  }

  /** Starts the pipeline and returns at once. */
  async start(options: RunOptions = {}): Promise<RunningPipeline> {
    checkRunOptions(options);
    // In-process parallelism never spreads (the judge runs on worker threads), but a bad
    // setting fails here as it would there.
    checkSpread(options.spread);
    const {
      checkpoints: _c,
      resumeFrom: _r,
      onCheckpoint: _o,
      restart: _s,
      onRestart: _n,
      rebalance,
      onRebalance: _b,
      ...rest
    } = options;
    if (checkRebalance(rebalance) !== undefined)
      throw configError(
        'rebalance moves key groups between worker threads; this run has none',
        rebalance,
        'run on threads (eddy run --parallelism 2 or more, or startInThreads) or leave rebalance out',
      );
    const extra = await prepareCheckpoints(options);
    const launch = async (job: Job): Promise<Attempt> => {
      options.signal?.addEventListener('abort', () => job.stop(), { once: true });
      await job.start();
      return {
        metrics: () => job.metrics(),
        stop: () => job.stop(),
        stopWithSavepoint: (dir) => job.stopWithSavepoint(dir),
        checkpoint: () => job.triggerCheckpoint(),
        queryState: async (step, key) => job.queryState(step, key),
        scanState: async (step, o) => job.scanState(step, o),
        done: job.done,
      };
    };
    return observed(
      this.name,
      await supervise(
        () => launch(this.createJob({ ...rest, ...extra })),
        (restoreFrom) => {
          const { restoreFrom: _first, ...again } = extra;
          return launch(
            this.#job({ ...rest, ...again, ...(restoreFrom === undefined ? {} : { restoreFrom }) }),
          );
        },
        supervision(options, extra),
      ),
      messagingSteps(this.scope.graph.nodes.values()),
    );
  }

  /**
   * How many threads `eddy run` uses unless told: the machine's cores
   * (`os.availableParallelism()`, at most `maxParallelism`) when a source
   * splits its input (a generator with `splits` > 1, a Kafka, NATS, Redis
   * or RabbitMQ source), so that every thread
   * reads its share; else 1. With a single reader the main thread reads, runs
   * the steps before the exchange and pre-aggregates windows for every key,
   * so another thread gets little to do and costs more than it gives
   * (measured: the IoT demo took 4.5 s on 2 threads against 3.9 s on 1).
   * `--parallelism` overrides it either way.
   */
  defaultParallelism(): number {
    const split = [...this.scope.graph.nodes.values()].some((n) => {
      const s = n.source?.source;
      return s?.splittable === true && (s.splits ?? 2) > 1;
    });
    return split ? Math.max(1, Math.min(availableParallelism(), this.options.maxParallelism)) : 1;
  }

  /**
   * Starts the pipeline with its subtasks in `parallelism` worker threads.
   * Each thread imports `moduleUrl` (a `definePipeline` module) and builds the
   * pipeline with `values`, which must give this same pipeline. Internal: used
   * by `eddy run --parallelism`.
   */
  async startInThreads(
    moduleUrl: string,
    values: Record<string, unknown>,
    options: RunOptions & { readonly parallelism: number },
  ): Promise<RunningPipeline> {
    checkRunOptions(options);
    this.validate();
    const extra = await prepareCheckpoints(options);
    const { startThreaded } = await import('../runtime/threads/cluster.ts');
    const { rebalancing } = await import('../runtime/threads/rebalancer.ts');
    const { restoreFrom: first, ...again } = extra;
    const settings = checkRebalance(options.rebalance);
    const spread = checkSpread(options.spread);
    if (settings !== undefined && again.checkpoints === undefined)
      throw configError(
        'rebalance needs checkpoints: key groups move at one',
        options.rebalance,
        'pass checkpoints: { dir } as well (eddy run --checkpoint-dir)',
      );
    const threads = (restoreFrom: LoadedCheckpoint | undefined, assignment?: Assignment) =>
      startThreaded(this, moduleUrl, values, {
        ...again,
        ...(restoreFrom === undefined ? {} : { restoreFrom }),
        parallelism: options.parallelism,
        hotKeys: options.hotKeys === true,
        spread,
        ...(assignment === undefined ? {} : { assignment, countKeyGroups: true }),
      });
    // The key groups' places outlive an attempt: a restart after a failure finds them where they were moved.
    const shared = {
      assignment: contiguousAssignment(this.options.maxParallelism, options.parallelism),
      rebalances: 0,
    };
    const launch =
      settings === undefined
        ? threads
        : (restoreFrom: LoadedCheckpoint | undefined) =>
            rebalancing(threads, restoreFrom, shared, {
              ...settings,
              parallelism: options.parallelism,
              onRebalance: options.onRebalance,
            });
    return observed(
      this.name,
      await supervise(() => launch(first), launch, supervision(options, extra)),
      messagingSteps(this.scope.graph.nodes.values()),
    );
  }

  /** Runs the pipeline until its sources are exhausted (or `signal` aborts); resolves with the final metrics. */
  async run(options: RunOptions = {}): Promise<PipelineMetrics> {
    const running = await this.start(options);
    await running.done;
    return running.metrics();
  }
}

/** The run's figures through OpenTelemetry while it runs (a no-op unless a meter provider is registered). */
function observed(
  name: string,
  running: RunningPipeline,
  brokers: ReadonlyMap<string, MessagingStep>,
): RunningPipeline {
  const stop = observeWithOpenTelemetry(name, () => running.metrics(), brokers);
  running.done.then(stop, stop);
  return running;
}

/** How a run restarts (see `RunOptions.restart`): from the newest checkpoint of its storage. */
function supervision(options: RunOptions, extra: Pick<JobOptions, 'checkpoints'>): SuperviseOptions {
  const storage = extra.checkpoints?.storage;
  const restart =
    options.restart === false ? undefined : (options.restart ?? (storage === undefined ? undefined : {}));
  // Checked now, so a bad setting fails the start rather than the first restart.
  if (restart !== undefined) new RestartStrategy(restart);
  return {
    restart,
    latest: async () =>
      storage instanceof CheckpointStorage
        ? storage.latest((dir, why) => process.stderr.write(`eddy: skipping checkpoint ${dir}: ${why}\n`))
        : undefined,
    ...(options.onRestart === undefined ? {} : { onRestart: options.onRestart }),
  };
}

/** Checks the checkpoint options and finds the checkpoint to resume from (clearing old ones on a fresh start). */
async function prepareCheckpoints(
  options: RunOptions,
): Promise<Pick<JobOptions, 'checkpoints' | 'restoreFrom' | 'onCheckpoint'>> {
  const { checkpoints, resumeFrom, onCheckpoint } = options;
  const extra: {
    -readonly [K in keyof Pick<JobOptions, 'checkpoints' | 'restoreFrom' | 'onCheckpoint'>]?: JobOptions[K];
  } = {};
  let storage: CheckpointStorage | undefined;
  if (checkpoints !== undefined) {
    if (checkpoints === null || typeof checkpoints !== 'object')
      throw configError(
        'checkpoints must be an object',
        checkpoints,
        'pass e.g. { dir: ".eddy/checkpoints" }',
      );
    refuseUnknown('checkpoints', CHECKPOINT_OPTIONS, checkpoints);
    const C = CHECKPOINT_OPTIONS;
    if (typeof checkpoints.dir !== 'string' || checkpoints.dir === '')
      throw configError(
        'checkpoints.dir must be a directory path',
        checkpoints.dir,
        'pass e.g. { dir: ".eddy/checkpoints" }',
      );
    const intervalMs = checkDuration(
      'checkpoints.intervalMs',
      orDefault(checkpoints.intervalMs, C.intervalMs.default),
      {
        min: C.intervalMs.min,
        max: C.intervalMs.max,
        example: '10_000, or 0 for only at the end and on demand',
      },
    );
    const retain = checkInt(
      'checkpoints.retain',
      orDefault(checkpoints.retain, C.retain.default),
      C.retain.min,
    );
    storage = new CheckpointStorage(checkpoints.dir, retain);
    extra.checkpoints = { storage, intervalMs };
  }
  let restore: LoadedCheckpoint | undefined;
  if (resumeFrom === 'latest') {
    if (storage === undefined)
      throw configError(
        'resumeFrom "latest" needs checkpoints',
        resumeFrom,
        'pass checkpoints: { dir } as well',
      );
    await storage.prune();
    restore = await storage.latest((dir, why) =>
      process.stderr.write(`eddy: skipping checkpoint ${dir}: ${why}\n`),
    );
  } else if (resumeFrom !== undefined) {
    if (typeof resumeFrom !== 'string' || resumeFrom === '')
      throw configError(
        'resumeFrom must be "latest" or a savepoint directory',
        resumeFrom,
        'pass the directory a savepoint was written to',
      );
    restore = await loadCheckpoint(resumeFrom);
    await storage?.clear();
  } else await storage?.clear();
  if (restore !== undefined) extra.restoreFrom = restore;
  if (onCheckpoint !== undefined) extra.onCheckpoint = onCheckpoint;
  return extra;
}
