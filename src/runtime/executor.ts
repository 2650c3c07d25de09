/**
 * Runs a logical plan in this process: one task per step, source loops that
 * pull batches and wait whenever a step downstream asks them to (backpressure),
 * and completion once every source has ended and every step has drained.
 */
import { type DeadLetter, payloadText } from '../api/dead-letter.ts';
import {
  type CheckpointMeta,
  keyedChunks,
  metaChunk,
  type Restore,
  readAllNow,
  restoreFrom,
  stateChunk,
} from '../checkpoint/snapshot.ts';
import {
  type CheckpointStorage,
  type Chunk,
  type LoadedCheckpoint,
  writeCheckpointDir,
} from '../checkpoint/storage.ts';
import type { Sink, SourceReader } from '../connectors/types.ts';
import { EddyError } from '../errors/index.ts';
import { ChainOperator } from '../operators/chain.ts';
import { SinkOperator } from '../operators/sink.ts';
import { PassThroughOperator } from '../operators/stateless.ts';
import { consumersOf, DEAD_LETTERS_ID, type LogicalGraph, type PlanNode } from '../plan/graph.ts';
import type { KeyedStateBackend } from '../state/backend.ts';
import { HeapStateBackend } from '../state/heap.ts';
import { DEFAULT_BATCH_SIZE, DEFAULT_LINGER_MS } from './batch.ts';
import { type Clock, systemClock } from './clock.ts';
import { type PipelineMetrics, StepCounters, type StepMetrics } from './metrics.ts';
import type { ErrorPolicy, Operator, OperatorContext, OperatorSnapshot } from './operator.ts';
import { type Edge, Task, type TaskWatermarks } from './task.ts';
import { SourceFeeder } from './timestamps.ts';

export interface ExecutorOptions {
  readonly clock?: Clock;
  readonly batchSize?: number;
  readonly lingerMs?: number;
  readonly errorPolicy?: ErrorPolicy;
  readonly maxParallelism: number;
  readonly stateBackend?: KeyedStateBackend;
  /** How long a source loop sleeps after an empty poll, in ms. */
  readonly pollIntervalMs?: number;
  /** Sources are not pulled; the caller feeds them through {@link Executor.input} (the test driver). */
  readonly manualSources?: boolean;
  /** Where dead letters go when no step reads `deadLetters()`. Default: standard error. */
  readonly defaultDeadLetters?: (letter: DeadLetter) => void;
  /** Replaces the sink of a sink step (the test driver captures outputs this way). */
  readonly sinkFor?: (stepId: string, sink: Sink<unknown>) => Sink<unknown>;
  /** Periodic checkpoints: where, and how often (ms; 0 = only on demand and at the end). */
  readonly checkpoints?: { readonly storage: CheckpointStorage; readonly intervalMs: number };
  /** Resume from this checkpoint or savepoint. */
  readonly restoreFrom?: LoadedCheckpoint;
  /** Which key groups this executor owns (default all): a restore takes only their state. */
  readonly ownsKeyGroup?: (keyGroup: number) => boolean;
  /** The pipeline's name, written into checkpoints. */
  readonly pipelineName?: string;
  /** Called after each checkpoint or savepoint completes (or fails: `error` is set). */
  readonly onCheckpoint?: (info: CheckpointInfo) => void;
}

/** What one checkpoint or savepoint took. */
export interface CheckpointInfo {
  readonly id: number;
  readonly kind: 'checkpoint' | 'savepoint';
  /** Where it was written. */
  readonly dir: string;
  readonly bytes: number;
  /** State entries in it. */
  readonly entries: number;
  /** From the trigger until every source was paused and in-flight work drained. */
  readonly alignmentMs: number;
  /** The synchronous part at the barrier (sources paused). */
  readonly syncMs: number;
  /** Encoding and writing, while processing went on. */
  readonly asyncMs: number;
  /** From the trigger until it was durable and committed. */
  readonly durationMs: number;
  readonly error?: unknown;
}

/** Checkpoint counters for the metrics snapshot. */
export interface CheckpointMetrics {
  readonly completed: number;
  readonly failed: number;
  readonly last: CheckpointInfo | undefined;
  /** The checkpoint this run resumed from, if any. */
  readonly restoredFrom: number | undefined;
}

/** Yield to the event loop after this much uninterrupted work, so timers and I/O keep running. */
const SLICE_MS = 8;

export class Executor {
  readonly #graph: LogicalGraph;
  readonly #clock: Clock;
  readonly #batchSize: number;
  readonly #lingerMs: number;
  readonly #errorPolicy: ErrorPolicy;
  readonly #state: KeyedStateBackend;
  readonly #pollInterval: number;
  readonly #manual: boolean;
  readonly #tasks = new Map<string, Task>();
  readonly #counters = new Map<string, StepCounters>();
  readonly #maxParallelism: number;
  readonly #feeders = new Map<string, SourceFeeder>();
  readonly #pressure: Promise<void>[] = [];
  readonly #abort = new AbortController();
  readonly #cancels = new Set<() => void>();
  readonly #defaultDeadLetters: (letter: DeadLetter) => void;
  readonly #sinkFor: ((stepId: string, sink: Sink<unknown>) => Sink<unknown>) | undefined;
  #deadLetterBuffer: DeadLetter[] = [];
  #deadLetterTask!: Task;
  #afterDeadLetters = new Set<string>();
  #closed = false;
  #cancelled = false;
  // Checkpointing: the gate source loops wait at, how many loops run and how many wait.
  readonly #readers = new Map<string, SourceReader<unknown>>();
  readonly #checkpoints: ExecutorOptions['checkpoints'];
  readonly #restoreFrom: LoadedCheckpoint | undefined;
  readonly #owns: (keyGroup: number) => boolean;
  readonly #pipelineName: string;
  readonly #onCheckpoint: ((info: CheckpointInfo) => void) | undefined;
  #restore: Restore | undefined;
  #gate: Promise<void> | undefined;
  #liveSources = 0;
  #parked = 0;
  #parkWaiter: (() => void) | undefined;
  // A savepoint keeps the sources paused after its barrier until the run stops.
  #heldGate: (() => void) | undefined;
  #inFlight: Promise<CheckpointInfo> | undefined;
  #nextCheckpointId = 1;
  #checkpointTimer: ReturnType<typeof setTimeout> | undefined;
  #completedCheckpoints = 0;
  #failedCheckpoints = 0;
  #lastCheckpoint: CheckpointInfo | undefined;
  #settle!: { resolve: () => void; reject: (e: unknown) => void };
  /** Settles when the run has finished (every step drained and closed) or failed. */
  readonly done: Promise<void>;

  constructor(graph: LogicalGraph, options: ExecutorOptions) {
    this.#graph = graph;
    this.#clock = options.clock ?? systemClock;
    this.#batchSize = options.batchSize ?? DEFAULT_BATCH_SIZE;
    this.#lingerMs = options.lingerMs ?? DEFAULT_LINGER_MS;
    this.#errorPolicy = options.errorPolicy ?? 'dead-letter';
    this.#maxParallelism = options.maxParallelism;
    this.#state = options.stateBackend ?? new HeapStateBackend(options.maxParallelism);
    this.#pollInterval = options.pollIntervalMs ?? 10;
    this.#manual = options.manualSources ?? false;
    this.#defaultDeadLetters =
      options.defaultDeadLetters ?? ((l) => process.stderr.write(`eddy dead letter: ${JSON.stringify(l)}\n`));
    this.#sinkFor = options.sinkFor;
    this.#checkpoints = options.checkpoints;
    this.#restoreFrom = options.restoreFrom;
    this.#owns = options.ownsKeyGroup ?? (() => true);
    this.#pipelineName = options.pipelineName ?? 'pipeline';
    this.#onCheckpoint = options.onCheckpoint;
    this.done = new Promise((resolve, reject) => {
      this.#settle = { resolve, reject };
    });
    this.done.catch(() => {}); // observed through run(); avoid an unhandled rejection here
  }

  get state(): KeyedStateBackend {
    return this.#state;
  }

  /** Whether this run takes checkpoints. */
  get checkpointing(): boolean {
    return this.#checkpoints !== undefined;
  }

  /** Builds the tasks, restores a checkpoint if given, starts every operator, then starts the sources. */
  async start(): Promise<void> {
    this.#build();
    try {
      if (this.#restoreFrom !== undefined) this.#restoreState(this.#restoreFrom);
      for (const task of this.#tasks.values()) await task.start(this.#context(task));
    } catch (e) {
      await this.#fail(e);
      return;
    }
    this.#scheduleCheckpoint();
    const others = [...this.#tasks.values()].filter((t) => !this.#afterDeadLetters.has(t.id));
    void Promise.all(others.map((t) => t.ended)).then(() => {
      this.#flushDeadLetters();
      this.#deadLetterTask.receiveEnd(0);
    });
    void this.#deadLetterTask.ended.then(() => this.#finish());
    if (this.#manual) return;
    for (const node of this.#graph.ordered()) {
      if (node.kind === 'source') void this.#runSource(node);
    }
  }

  /** Stops pulling from sources; what was pulled drains through and the run finishes. */
  stop(): void {
    this.#abort.abort();
  }

  /**
   * Takes a savepoint into `dir` and stops without ending the input (open
   * windows stay open in the savepoint): what SIGTERM does. Resolves once the
   * savepoint is durable and sinks have committed; `done` then resolves.
   */
  async stopWithSavepoint(dir: string): Promise<CheckpointInfo> {
    const info = await this.#checkpoint('savepoint', dir);
    // The sources stayed paused since the barrier, so nothing after it reached a sink.
    const release = this.#heldGate;
    this.#heldGate = undefined;
    if (info.error !== undefined) {
      this.#gate = undefined;
      release?.();
      throw info.error;
    }
    this.#cancelled = true;
    this.#abort.abort();
    this.#gate = undefined;
    release?.();
    await this.#close();
    this.#settle.resolve();
    return info;
  }

  /** Takes a checkpoint now (after the one in flight, if any). */
  triggerCheckpoint(): Promise<CheckpointInfo> {
    if (this.#checkpoints === undefined) {
      return Promise.reject(
        new EddyError(
          'EDDY_CONFIG_INVALID',
          'this run takes no checkpoints; pass checkpoints: { dir } to run() to enable them',
        ),
      );
    }
    return this.#checkpoint('checkpoint');
  }

  checkpointMetrics(): CheckpointMetrics {
    return {
      completed: this.#completedCheckpoints,
      failed: this.#failedCheckpoints,
      last: this.#lastCheckpoint,
      restoredFrom: this.#restore?.checkpointId,
    };
  }

  /** Feeds a source by hand (only with `manualSources`). */
  input(sourceId: string): SourceFeeder {
    const feeder = this.#feeders.get(sourceId);
    if (feeder === undefined) {
      throw new EddyError(
        'EDDY_CONFIG_INVALID',
        `no source step "${sourceId}"; pass the id given to pipeline.source()`,
      );
    }
    return feeder;
  }

  /** The ids of the source steps. */
  sourceIds(): string[] {
    return [...this.#feeders.keys()];
  }

  /** Hands on dead letters buffered since the last call. */
  flushDeadLetters(): void {
    this.#flushDeadLetters();
  }

  /** Resolves once every backpressure promise raised so far has settled. */
  async drainPressure(): Promise<void> {
    while (this.#pressure.length > 0) await Promise.all(this.#pressure.splice(0));
  }

  metrics(): PipelineMetrics {
    const steps: Record<string, StepMetrics> = {};
    let sourceRecords = 0;
    let watermark = Number.POSITIVE_INFINITY;
    for (const [id, counters] of this.#counters) {
      const m = counters.snapshot();
      steps[id] = m;
      const node = this.#graph.nodes.get(id);
      if (node?.kind === 'source') sourceRecords += m.recordsOut;
      // Dead letters carry no event time: sinks fed by them do not hold the pipeline's watermark.
      if (node?.kind === 'sink' && !this.#afterDeadLetters.has(id) && m.watermark < watermark)
        watermark = m.watermark;
    }
    return {
      steps,
      sourceRecords,
      watermark: watermark === Number.POSITIVE_INFINITY ? Number.NaN : watermark,
      ...(this.#checkpoints === undefined && this.#restore === undefined
        ? {}
        : { checkpoints: this.checkpointMetrics() }),
    };
  }

  #build(): void {
    const nodes = this.#graph.ordered();
    let consumers = consumersOf(nodes);
    if (consumers.get(DEAD_LETTERS_ID)?.[0]?.length === 0) {
      const write = this.#defaultDeadLetters;
      nodes.push({
        id: 'dead-letters.default',
        kind: 'sink',
        inputs: [{ node: DEAD_LETTERS_ID, tag: 0 }],
        outputs: ['main'],
        keyed: false,
        sink: {
          kind: 'stderr',
          guarantee: 'best-effort',
          open: () => ({
            write: (values) => {
              for (const l of values) write(l as DeadLetter);
            },
          }),
        },
      });
      consumers = consumersOf(nodes);
    }
    // Everything fed by the dead-letter step must not be waited for before it ends.
    const afterDeadLetters = new Set<string>([DEAD_LETTERS_ID]);
    for (const node of nodes)
      if (node.inputs.some((r) => afterDeadLetters.has(r.node))) afterDeadLetters.add(node.id);
    this.#afterDeadLetters = afterDeadLetters;
    // Chaining: a stateless stage joins its input's chain when that input is a
    // stage (not a keyBy, which must end a chain) read by nothing else.
    const chains = new Map<string, PlanNode[]>();
    const headOf = new Map<string, string>();
    for (const node of nodes) {
      if (node.stage === undefined) continue;
      const parent = this.#graph.nodes.get(node.inputs[0]!.node)!;
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
    for (const node of nodes) this.#counters.set(node.id, new StepCounters(node.id, node.kind));
    // Downstream first, so every edge can point at an existing task.
    for (let i = nodes.length - 1; i >= 0; i--) {
      const node = nodes[i]!;
      if (headOf.has(node.id) && headOf.get(node.id) !== node.id) continue; // runs in its chain's task
      const members = chains.get(node.id) ?? [node];
      const last = members.at(-1)!;
      const edges: Edge[][] = consumers
        .get(last.id)!
        .map((list) => list.map(([consumer, input]) => ({ task: this.#tasks.get(consumer.id)!, input })));
      const counters = members.map((m) => this.#counters.get(m.id)!);
      const inputs = node.kind === 'source' || node.kind === 'dead-letters' ? 1 : node.inputs.length;
      const operator =
        node.stage === undefined
          ? this.#operatorOf(node)
          : new ChainOperator(
              members.map((m) => m.stage!),
              this.#maxParallelism,
              counters,
            );
      const task = new Task(node.id, operator, inputs, edges, counters, this.#pressure, this.#batchSize);
      this.#tasks.set(node.id, task);
      if (node.kind === 'dead-letters') this.#deadLetterTask = task;
      if (node.kind === 'source') {
        const options = node.source!.options;
        this.#feeders.set(
          node.id,
          new SourceFeeder(task, this.#clock, options, (value, error) =>
            this.#deadLetter(
              node.id,
              'EDDY_USER_FUNCTION_FAILED',
              `timestamp extractor failed: ${String(error)}`,
              value,
              Number.NaN,
            ),
          ),
        );
      }
    }
  }

  #operatorOf(node: PlanNode): Operator {
    if (node.kind === 'source' || node.kind === 'dead-letters') return new PassThroughOperator();
    if (node.kind === 'sink') return new SinkOperator(this.#sinkFor?.(node.id, node.sink!) ?? node.sink!);
    return node.operator!();
  }

  #context(task: Task): OperatorContext {
    const stepId = task.id;
    return {
      stepId,
      clock: this.#clock,
      state: this.#state,
      metrics: task.counters,
      errorPolicy: this.#errorPolicy,
      batchSize: this.#batchSize,
      lingerMs: this.#lingerMs,
      output: task.output,
      checkpointing: this.#checkpoints !== undefined,
      restored: this.#restore?.operators.get(stepId),
      deadLetter: (code, reason, payload, time, step = stepId) => {
        (this.#counters.get(step) ?? task.counters).deadLetters++;
        this.#deadLetter(step, code, reason, payload, time);
      },
      scheduleProcessingTime: (at, fn) =>
        this.#schedule(at, () => {
          fn();
          task.output.flush();
        }),
      fail: (error) => void this.#fail(error),
    };
  }

  #schedule(at: number, fn: () => void): () => void {
    let cancel: (() => void) | undefined;
    const wrapped = () => {
      if (cancel !== undefined) this.#cancels.delete(cancel);
      if (this.#closed) return;
      try {
        fn();
        this.#flushDeadLetters();
      } catch (e) {
        void this.#fail(e);
      }
    };
    const inner = this.#clock.schedule(at, wrapped);
    cancel = () => {
      this.#cancels.delete(cancel!);
      inner();
    };
    this.#cancels.add(cancel);
    return cancel;
  }

  #deadLetter(step: string, code: string, reason: string, payload: unknown, time: number): void {
    this.#deadLetterBuffer.push({
      step,
      code,
      reason,
      payload: payloadText(payload),
      eventTime: time,
      at: this.#clock.now(),
    });
  }

  #flushDeadLetters(): void {
    const letters = this.#deadLetterBuffer;
    if (letters.length === 0) return;
    this.#deadLetterBuffer = [];
    this.#deadLetterTask.receive({ values: letters, times: letters.map((l) => l.at) }, 0);
  }

  async #runSource(node: PlanNode): Promise<void> {
    const feeder = this.#feeders.get(node.id)!;
    const task = this.#tasks.get(node.id)!;
    const signal = this.#abort.signal;
    let reader: SourceReader<unknown> | undefined;
    this.#liveSources++;
    try {
      const restored = this.#restore?.meta.sources[node.id];
      if (restored !== undefined) feeder.restore(restored.feeder);
      reader = await node.source!.source.open({
        stepId: node.id,
        clock: this.#clock,
        batchSize: node.source!.options.batchSize ?? this.#batchSize,
        signal,
        deadLetter: (code, reason, payload) => {
          task.counters.deadLetters++;
          this.#deadLetter(node.id, code, reason, payload, Number.NaN);
        },
        ...(restored === undefined ? {} : { restored: restored.position }),
      });
      if (this.#checkpoints !== undefined && typeof reader.position !== 'function') {
        throw new EddyError(
          'EDDY_CONFIG_INVALID',
          `source "${node.id}" (${node.source!.source.kind}) cannot be checkpointed: its reader has no position(); use a source that supports checkpoints or run without checkpoints`,
          { stepId: node.id },
        );
      }
      this.#readers.set(node.id, reader);
      const max = node.source!.options.batchSize ?? this.#batchSize;
      let slice = performance.now();
      while (!signal.aborted && !this.#closed) {
        if (this.#gate !== undefined) {
          await this.#park();
          slice = performance.now();
          if (signal.aborted || this.#closed) break;
        }
        if (this.#pressure.length > 0) await this.drainPressure();
        let polled = reader.poll(max);
        if (polled instanceof Promise) polled = await polled;
        if (polled === null || this.#closed) break;
        if (polled.values.length === 0) {
          if (polled.split !== undefined) feeder.register(polled.split);
          this.#flushDeadLetters();
          feeder.noData();
          await sleep(this.#pollInterval, signal);
          slice = performance.now();
          continue;
        }
        feeder.feed(polled.values, polled.times, polled.split);
        this.#flushDeadLetters();
        if (performance.now() - slice > SLICE_MS) {
          await new Promise((r) => setImmediate(r));
          slice = performance.now();
        }
      }
      this.#sourceDone();
      await reader.close?.();
      if (this.#closed || this.#cancelled) return;
      await this.drainPressure();
      this.#flushDeadLetters();
      feeder.end();
    } catch (e) {
      this.#sourceDone();
      await reader?.close?.();
      await this.#fail(e);
    }
  }

  /** A source loop waits here while a checkpoint is being aligned. */
  async #park(): Promise<void> {
    const gate = this.#gate!;
    this.#parked++;
    this.#parkWaiter?.();
    await gate;
    this.#parked--;
  }

  #sourceDone(): void {
    this.#liveSources--;
    this.#parkWaiter?.();
  }

  #scheduleCheckpoint(): void {
    const interval = this.#checkpoints?.intervalMs ?? 0;
    if (interval <= 0 || this.#closed) return;
    this.#checkpointTimer = setTimeout(() => {
      this.#checkpointTimer = undefined;
      if (this.#closed || this.#abort.signal.aborted) return;
      void this.#checkpoint('checkpoint').then(() => this.#scheduleCheckpoint());
    }, interval);
  }

  /** Takes a checkpoint (or savepoint); never rejects: failures are reported in the result. */
  #checkpoint(kind: 'checkpoint' | 'savepoint', savepointDir?: string): Promise<CheckpointInfo> {
    const previous = this.#inFlight ?? Promise.resolve(undefined);
    const next = previous.then(() => this.#takeCheckpoint(kind, savepointDir));
    this.#inFlight = next;
    return next;
  }

  async #takeCheckpoint(kind: 'checkpoint' | 'savepoint', savepointDir?: string): Promise<CheckpointInfo> {
    const id = this.#nextCheckpointId++;
    const t0 = performance.now();
    let alignmentMs = 0;
    let syncMs = 0;
    let dir = savepointDir ?? this.#checkpoints?.storage.dir ?? '';
    const fail = (error: unknown): CheckpointInfo => {
      this.#failedCheckpoints++;
      const info: CheckpointInfo = {
        id,
        kind,
        dir,
        bytes: 0,
        entries: 0,
        alignmentMs,
        syncMs,
        asyncMs: 0,
        durationMs: performance.now() - t0,
        error,
      };
      this.#onCheckpoint?.(info);
      return info;
    };
    if (this.#closed)
      return fail(new EddyError('EDDY_STATE_INVALID', 'the run has stopped; no checkpoint taken'));
    let release!: () => void;
    this.#gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const tasks = [...this.#tasks.values()].reverse(); // upstream first
    const pending: Promise<OperatorSnapshot | undefined>[] = [];
    const taskIds: string[] = [];
    let meta: CheckpointMeta;
    let state: ReturnType<typeof readAllNow>;
    const chunks: Chunk[] = [];
    try {
      // Alignment: every source loop stops at the gate, then in-flight work drains through.
      while (this.#parked < this.#liveSources && !this.#closed) {
        await new Promise<void>((resolve) => {
          this.#parkWaiter = resolve;
        });
      }
      this.#parkWaiter = undefined;
      await this.drainPressure();
      for (const task of tasks) {
        const wait = task.operator.onBarrier?.(task.output);
        if (wait !== undefined) await wait;
        task.output.flush();
      }
      this.#flushDeadLetters();
      await this.drainPressure();
      if (this.#closed) throw new EddyError('EDDY_STATE_INVALID', 'the run stopped during the checkpoint');
      const t1 = performance.now();
      alignmentMs = t1 - t0;
      // The barrier: everything below runs synchronously, with nothing in flight.
      const tasksMeta: Record<string, TaskWatermarks> = {};
      const sources: CheckpointMeta['sources'] = {};
      for (const [id, reader] of this.#readers) {
        sources[id] = { position: reader.position!(), feeder: this.#feeders.get(id)!.snapshot() };
      }
      for (const task of tasks) {
        tasksMeta[task.id] = task.snapshotWatermarks();
        const snap = task.operator.onCheckpoint?.(id);
        if (snap === undefined) continue;
        taskIds.push(task.id);
        pending.push(Promise.resolve(snap));
      }
      state = this.#state.snapshot?.() ?? readAllNow(this.#state);
      meta = { tasks: tasksMeta, sources, operators: {} };
      syncMs = performance.now() - t1;
    } catch (e) {
      return fail(e);
    } finally {
      if (kind === 'savepoint') this.#heldGate = release;
      else {
        this.#gate = undefined;
        release();
      }
    }
    // Asynchronous part: records flow again meanwhile.
    try {
      const t2 = performance.now();
      const snaps = await Promise.all(pending);
      for (let i = 0; i < snaps.length; i++) {
        const snap = snaps[i];
        if (snap === undefined) continue;
        if (snap.keyed !== undefined) chunks.push(...keyedChunks(taskIds[i]!, snap.keyed));
        if (snap.data !== undefined) meta.operators[taskIds[i]!] = snap.data;
      }
      const stateChunks = await state.complete(() => new Promise((resolve) => setImmediate(resolve)));
      let entries = 0;
      for (const c of stateChunks) {
        chunks.push(stateChunk(c));
        entries += c.entries;
      }
      chunks.push(metaChunk(meta));
      const header = {
        id,
        kind,
        pipeline: this.#pipelineName,
        createdAt: Date.now(),
        maxParallelism: this.#maxParallelism,
        parallelism: 1,
      };
      const storage = this.#checkpoints?.storage;
      const written =
        savepointDir !== undefined || storage === undefined
          ? await writeCheckpointDir(savepointDir ?? dir, header, chunks)
          : await storage.write(header, chunks);
      dir = written.dir;
      // Durable: sinks may now make the checkpoint's output visible.
      for (const task of tasks) await task.operator.onCheckpointComplete?.(id);
      if (savepointDir === undefined) await storage?.prune();
      this.#completedCheckpoints++;
      const info: CheckpointInfo = {
        id,
        kind,
        dir,
        bytes: written.bytes,
        entries,
        alignmentMs,
        syncMs,
        asyncMs: performance.now() - t2,
        durationMs: performance.now() - t0,
      };
      this.#lastCheckpoint = info;
      this.#onCheckpoint?.(info);
      return info;
    } catch (e) {
      return fail(e);
    }
  }

  /** Puts a checkpoint's state back before any operator starts. */
  #restoreState(loaded: LoadedCheckpoint): void {
    const known = new Set<string>([...this.#graph.nodes.keys(), ...this.#tasks.keys()]);
    const restore = restoreFrom(loaded, this.#state, this.#owns, known);
    for (const id of Object.keys(restore.meta.sources)) {
      if (!this.#feeders.has(id)) {
        throw new EddyError(
          'EDDY_CHECKPOINT_INVALID',
          `${loaded.dir} holds the position of source "${id}", which this pipeline has no source for; keep source ids stable or start without the checkpoint`,
        );
      }
    }
    for (const [id, w] of Object.entries(restore.meta.tasks)) this.#tasks.get(id)?.restoreWatermarks(w);
    this.#restore = restore;
    this.#nextCheckpointId = restore.checkpointId + 1;
  }

  async #finish(): Promise<void> {
    if (this.#closed) return;
    try {
      await this.drainPressure();
      if (this.#checkpoints !== undefined) {
        // The end of the input is a checkpoint too: it commits the sinks' last output, and a
        // restart after it finds every source exhausted rather than replaying the tail.
        const info = await this.#checkpoint('checkpoint');
        if (info.error !== undefined) throw info.error;
      }
      await this.#close();
      this.#settle.resolve();
    } catch (e) {
      this.#settle.reject(e);
    }
  }

  async #fail(error: unknown): Promise<void> {
    if (this.#closed) return;
    this.#abort.abort();
    await this.#close().catch(() => {});
    this.#settle.reject(error);
  }

  async #close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#checkpointTimer !== undefined) clearTimeout(this.#checkpointTimer);
    this.#parkWaiter?.();
    for (const cancel of [...this.#cancels]) cancel();
    for (const task of this.#tasks.values()) await task.operator.onClose?.();
    await this.#state.close?.();
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}
