/**
 * Runs one subtask of a logical plan: one task per step (chains fused), source
 * loops that pull batches and wait whenever a step downstream asks them to
 * (backpressure), and "drained" once every source has ended and every step
 * has finished. A {@link Job} runs one executor per subtask, wires their
 * exchanges, and coordinates checkpoints, completion and failure.
 */

import { randomUUID } from 'node:crypto';
import {
  readAllNow,
  type SubtaskMeta,
  type SubtaskRestore,
  type TaskWatermarks,
} from '../checkpoint/snapshot.ts';
import type { Batch } from '../core/batch.ts';
import { DEFAULT_BATCH_SIZE, DEFAULT_LINGER_MS } from '../core/batch.ts';
import { type Clock, systemClock } from '../core/clock.ts';
import type { Sink, SourceReader } from '../core/connector.ts';
import { type DeadLetter, payloadText } from '../core/dead-letter.ts';
import { type Assignment, contiguousAssignment, type Key, keyGroupOf } from '../core/key-groups.ts';
import {
  type KeyState,
  mergeScans,
  type PipelineMetrics,
  type StateScan,
  type StateScanOptions,
  StepCounters,
  type StepMetrics,
  scanMatches,
} from '../core/metrics.ts';
import { EddyError } from '../errors/index.ts';
import { ChainOperator } from '../operators/chain.ts';
import type { ErrorPolicy, Operator, OperatorContext, OperatorSnapshot } from '../operators/operator.ts';
import { SinkOperator } from '../operators/sink.ts';
import { PassThroughOperator } from '../operators/stateless.ts';
import type { KeyedStateBackend, StateSnapshot } from '../state/backend.ts';
import { HeapStateBackend } from '../state/heap.ts';
import { DEFAULT_MAX_DRIFT_MS, type WatermarkAlignment } from './alignment.ts';
import type { PhysicalPlan, Vertex } from './physical.ts';
import { type AnyEdge, type ChannelTarget, type ExchangeEdge, Task } from './task.ts';
import { SourceFeeder } from './timestamps.ts';

export interface ExecutorOptions {
  readonly clock?: Clock;
  readonly batchSize?: number;
  readonly lingerMs?: number;
  readonly errorPolicy?: ErrorPolicy;
  readonly maxParallelism: number;
  readonly stateBackend?: KeyedStateBackend;
  /** Makes each subtask's backend (a job with parallelism > 1 needs one per subtask). */
  readonly stateBackendFactory?: (subtask: number) => KeyedStateBackend | Promise<KeyedStateBackend>;
  /** How long a source loop sleeps after an empty poll, in ms. */
  readonly pollIntervalMs?: number;
  /** Sources are not pulled; the caller feeds them through {@link Executor.input} (the test driver). */
  readonly manualSources?: boolean;
  /** Where dead letters go when no step reads `deadLetters()`. Default: standard error. */
  readonly defaultDeadLetters?: (letter: DeadLetter) => void;
  /** Replaces the sink of a sink step (the test driver captures outputs this way). */
  readonly sinkFor?: (stepId: string, sink: Sink<unknown>) => Sink<unknown>;
  /** Which subtask this is, of how many (default 0 of 1). */
  readonly subtask?: number;
  /** When the job started, on the clock (default: now). */
  readonly jobStart?: number;
  /** This attempt of the job, the same in every subtask and thread, never reused (default: made here). */
  readonly attempt?: string;
  readonly parallelism?: number;
  /** Whether the job takes checkpoints (sinks then commit only on checkpoint completion). */
  readonly checkpointing?: boolean;
  /** What this subtask gets back from the checkpoint the job resumes from. */
  readonly restore?: SubtaskRestore;
  /** Called once when this subtask fails; the job then stops every subtask. */
  readonly onFail?: (error: unknown) => void;
  /** The job's watermark alignment board (parallelism > 1): splittable sources keep within `maxDrift` of each other. */
  readonly alignment?: WatermarkAlignment;
  /**
   * Backpressure promises, shared by the executors of one thread: a slow
   * sink in subtask 0 then holds back the sources of every subtask that
   * feeds it, not only its own (issue 19). Default: this executor's own.
   */
  readonly pressure?: Promise<void>[];
  /**
   * Handed to the job's sources and sinks as their context's `deployment`
   * (a Kafka application's partition task); in-thread jobs only, as it is
   * not sent to worker threads.
   */
  readonly deployment?: unknown;
  /** Keyed steps follow their heaviest keys (`StepMetrics.hotKeys`, issue 18); off costs nothing. */
  readonly hotKeys?: boolean;
  /** Which subtask owns each key group (default: contiguous ranges; a rebalanced run moves groups). */
  readonly assignment?: Assignment;
  /** Keyed steps count their records per key group (`StepMetrics.keyGroupRecords`), for rebalancing. */
  readonly countKeyGroups?: boolean;
}

/** Yield to the event loop after this much uninterrupted work, so timers and I/O keep running. */
const SLICE_MS = 8;

export class Executor {
  readonly #plan: PhysicalPlan;
  // Step id -> its kind (metrics tell sources and sinks apart).
  readonly #kindOf = new Map<string, string>();
  readonly #clock: Clock;
  readonly #batchSize: number;
  readonly #lingerMs: number;
  readonly #errorPolicy: ErrorPolicy;
  readonly #state: KeyedStateBackend;
  readonly #pollInterval: number;
  readonly #manual: boolean;
  readonly #tasks = new Map<string, Task>();
  readonly #counters = new Map<string, StepCounters>();
  readonly #hotKeys: boolean;
  readonly #countKeyGroups: boolean;
  readonly #assignment: Assignment | undefined;
  readonly #maxParallelism: number;
  readonly #feeders = new Map<string, SourceFeeder>();
  readonly #pressure: Promise<void>[];
  // Full links to other threads: sources wait on these too.
  readonly #linkPressure: Promise<void>[] = [];
  readonly #abort = new AbortController();
  readonly #cancels = new Set<() => void>();
  readonly #defaultDeadLetters: (letter: DeadLetter) => void;
  readonly #sinkFor: ((stepId: string, sink: Sink<unknown>) => Sink<unknown>) | undefined;
  #deadLetterBuffer: DeadLetter[] = [];
  #deadLetterTask!: Task;
  // Set once the dead-letter entry has received its end: later letters go to the default output.
  #deadLettersEnded = false;

  #closed = false;
  #cancelled = false;
  readonly subtask: number;
  readonly parallelism: number;
  readonly #checkpointing: boolean;
  readonly #jobStart: number;
  readonly #attempt: string;
  readonly #deployment: unknown;
  readonly #restore: SubtaskRestore | undefined;
  readonly #onFail: ((error: unknown) => void) | undefined;
  readonly #alignment: WatermarkAlignment | undefined;
  // Exchange edges out of this subtask, to be pointed at the other subtasks' tasks by the job.
  readonly #exchanges: { edge: ExchangeEdge; consumer: string }[] = [];
  // Tasks that do nothing in this subtask (sinks gathered into subtask 0).
  readonly #inactive: string[] = [];
  // Checkpointing: the gate source loops wait at, how many loops run and how many wait.
  readonly #readers = new Map<string, SourceReader<unknown>>();
  // Open readers with `checkpointComplete` (told of each completed checkpoint), and those of them
  // whose loop has ended: they stay open for the final checkpoint and `close()` closes them.
  readonly #acking = new Set<SourceReader<unknown>>();
  readonly #ended = new Set<SourceReader<unknown>>();
  #gate: Promise<void> | undefined;
  #openGate: (() => void) | undefined;
  #liveSources = 0;
  #parked = 0;
  #parkWaiter: (() => void) | undefined;
  #drainedResolve!: () => void;
  /** Resolves once every source has ended and every task of this subtask has finished. */
  readonly drained: Promise<void>;

  constructor(plan: PhysicalPlan, options: ExecutorOptions) {
    this.#plan = plan;
    this.#clock = options.clock ?? systemClock;
    this.#batchSize = options.batchSize ?? DEFAULT_BATCH_SIZE;
    this.#lingerMs = options.lingerMs ?? DEFAULT_LINGER_MS;
    this.#errorPolicy = options.errorPolicy ?? 'dead-letter';
    this.#maxParallelism = options.maxParallelism;
    this.#state = options.stateBackend ?? new HeapStateBackend(options.maxParallelism);
    this.#pollInterval = options.pollIntervalMs ?? 10;
    this.#manual = options.manualSources ?? false;
    this.#hotKeys = options.hotKeys === true;
    this.#countKeyGroups = options.countKeyGroups === true;
    this.#assignment = options.assignment;
    this.#defaultDeadLetters =
      options.defaultDeadLetters ?? ((l) => process.stderr.write(`eddy dead letter: ${JSON.stringify(l)}\n`));
    this.#sinkFor = options.sinkFor;
    this.subtask = options.subtask ?? 0;
    this.parallelism = options.parallelism ?? 1;
    this.#checkpointing = options.checkpointing ?? false;
    this.#jobStart = options.jobStart ?? this.#clock.now();
    this.#attempt = options.attempt ?? newAttempt();
    this.#deployment = options.deployment;
    this.#restore = options.restore;
    this.#onFail = options.onFail;
    this.#alignment = options.alignment;
    this.#pressure = options.pressure ?? [];
    this.drained = new Promise((resolve) => {
      this.#drainedResolve = resolve;
    });
  }

  get state(): KeyedStateBackend {
    return this.#state;
  }

  /** Builds the tasks (call before `wire` and `start`). */
  build(): void {
    this.#build();
    const restore = this.#restore;
    if (restore !== undefined) {
      for (const [id, w] of Object.entries(restore.tasks)) this.#tasks.get(id)?.restoreWatermarks(w);
      // A checkpoint taken without combiners: each starts where its window step was.
      for (const [local, step] of this.#plan.combinerOf) {
        const w = restore.tasks[step];
        if (restore.tasks[local] === undefined && w !== undefined)
          this.#tasks.get(local)?.restoreWatermarks(w);
      }
    }
  }

  /** Points this subtask's exchange edges at the consumers' tasks in every subtask. */
  wire(subtasks: readonly Executor[]): void {
    this.wireTo((k, consumer) => subtasks[k]!.#tasks.get(consumer)!);
  }

  /** Points exchange edges at `target(subtask, consumer)`: a local task, or a proxy for another thread's. */
  wireTo(target: (subtask: number, consumer: string) => ChannelTarget): void {
    for (const { edge, consumer } of this.#exchanges) {
      edge.targets.length = 0;
      for (let k = 0; k < this.parallelism; k++) edge.targets.push(target(k, consumer));
    }
  }

  /** Hands a backpressure promise to this subtask's sources (an exchange to another thread is full). */
  pushPressure(wait: Promise<void>): void {
    this.#linkPressure.push(wait);
  }

  /**
   * Delivers a batch from another thread to task `consumer`. Resolves when the
   * steps it went through have room again (a slow sink), not counting full
   * links to other threads: waiting on those could wait in a circle.
   */
  deliver(consumer: string, batch: Batch, channel: number): Promise<unknown> | undefined {
    const from = this.#pressure.length;
    this.#tasks.get(consumer)!.receive(batch, channel);
    this.#flushDeadLetters();
    return this.#pressure.length > from ? Promise.all(this.#pressure.slice(from)) : undefined;
  }

  /** The task a step runs in (for wiring and inspection). */
  task(id: string): Task | undefined {
    return this.#tasks.get(id);
  }

  /** Starts every operator (state is already restored). */
  async startOperators(): Promise<void> {
    for (const task of this.#tasks.values()) await task.start(this.#context(task));
  }

  /** Starts the sources, and the bookkeeping that notices when everything has drained. */
  startSources(): void {
    const others = [...this.#tasks.values()].filter((t) => !this.#plan.afterDeadLetters.has(t.id));
    void Promise.all(others.map((t) => t.ended))
      .then(() => {
        this.#flushDeadLetters();
        this.#deadLettersEnded = true;
        this.#deadLetterTask.receiveEnd(0);
      })
      // A task whose end failed fails the run below (every task's `ended`).
      .catch(() => {});
    // Drained once every task has ended, the steps after the dead letters too: the entry's end only
    // starts their end, and a sink's end-of-input flush may take a while (a file sink). Waiting for
    // the entry alone let the run finish, and close that sink, during its flush, losing letters.
    // A write that failed (a sink refusing a batch) rejects its pressure promise, and the list is
    // shared by the subtasks of a thread: the run fails with it here too, once, instead of the
    // rejection going unhandled when no source loop is left to see it.
    void Promise.all([...this.#tasks.values()].map((t) => t.ended))
      .then(async () => {
        await this.drainPressure();
        this.#drainedResolve();
      })
      .catch((e: unknown) => this.#fail(e));
    // Gathered sinks run in subtask 0 only: here they have nothing to wait for.
    for (const id of this.#inactive) {
      const task = this.#tasks.get(id)!;
      for (let c = 0; c < task.channels; c++) task.receiveEnd(c);
    }
    for (const vertex of this.#plan.vertices) {
      if (vertex.role !== 'source') continue;
      // Fed by hand (the test driver), sources take records in subtask 0 only.
      if (this.subtask > 0 && (this.#manual || vertex.source!.source.splittable !== true)) {
        // A source that cannot split its input reads it in subtask 0 only.
        this.#feeders.get(vertex.id)!.end();
        continue;
      }
      if (!this.#manual) void this.#runSource(vertex);
    }
  }

  /** Stops pulling from sources; what was pulled drains through and the run finishes. */
  stop(): void {
    this.#abort.abort();
  }

  /** Stops without ending the input: sources quit where they are and nothing more is emitted. */
  async cancel(): Promise<void> {
    this.#cancelled = true;
    this.#abort.abort();
    this.openGate();
    await this.close();
  }

  // ---- checkpoint phases, driven by the job's coordinator ----

  /** Phase 1: closes the gate; every source loop stops there after its current poll. */
  closeGate(): void {
    if (this.#gate !== undefined) return;
    this.#gate = new Promise<void>((resolve) => {
      this.#openGate = resolve;
    });
    // A poll waiting for records returns now: the barrier does not wait for the next records.
    for (const reader of this.#readers.values()) reader.wake?.();
  }

  /** Resolves once every running source loop waits at the gate (or the subtask has stopped). */
  async whenParked(): Promise<void> {
    while (this.#parked < this.#liveSources && !this.#closed) {
      await new Promise<void>((resolve) => {
        this.#parkWaiter = resolve;
      });
    }
    this.#parkWaiter = undefined;
  }

  /**
   * Phase 2: lets work in flight finish (backpressure, async operators, dead
   * letters). Returns whether anything was in flight: the job repeats this over
   * all subtasks until none was, since draining one can send records to another.
   */
  async drainInFlight(): Promise<boolean> {
    let busy = this.#pressure.length > 0 || this.#deadLetterBuffer.length > 0;
    await this.drainPressure();
    for (const task of [...this.#tasks.values()].reverse()) {
      const wait = task.operator.onBarrier?.(task.output);
      if (wait !== undefined) {
        busy = true;
        await wait;
      }
      task.output.flush();
    }
    this.#flushDeadLetters();
    if (this.#pressure.length > 0) busy = true;
    await this.drainPressure();
    if (this.#closed) throw new EddyError('EDDY_STATE_INVALID', 'the run stopped during the checkpoint');
    return busy;
  }

  /**
   * Phase 3, with every source paused and nothing in flight: records source
   * positions and watermarks, asks each operator for its snapshot (sinks
   * pre-commit), and starts the state backend's snapshot. Synchronous; the
   * returned promises complete after the gate has opened.
   */
  snapshot(checkpointId: number): SubtaskSnapshot {
    const tasks: Record<string, TaskWatermarks> = {};
    const sources: SubtaskMeta['sources'] = {};
    for (const [id, reader] of this.#readers) {
      sources[id] = { position: reader.position!(checkpointId), feeder: this.#feeders.get(id)!.snapshot() };
    }
    const operators: { task: string; snapshot: Promise<OperatorSnapshot | undefined> }[] = [];
    for (const task of [...this.#tasks.values()].reverse()) {
      tasks[task.id] = task.snapshotWatermarks();
      const snap = task.operator.onCheckpoint?.(checkpointId);
      if (snap === undefined) continue;
      const snapshot = Promise.resolve(snap);
      // Awaited when the snapshot is collected, which may come later (other threads' phases): a
      // failing pre-commit must fail the checkpoint there, not the process as an unhandled rejection.
      snapshot.catch(() => {});
      operators.push({ task: task.id, snapshot });
    }
    return {
      meta: { tasks, sources, operators: {} },
      operators,
      state: this.#state.snapshot?.() ?? readAllNow(this.#state),
    };
  }

  /** Phase 4: lets the sources go on. */
  openGate(): void {
    const open = this.#openGate;
    this.#gate = undefined;
    this.#openGate = undefined;
    open?.();
  }

  /**
   * Phase 5, once the checkpoint is durable: operators (sinks) commit, then
   * sources acknowledge what they handed out before its barrier — after the
   * commit, so a crash between the two redelivers rather than loses.
   */
  async checkpointComplete(checkpointId: number): Promise<void> {
    for (const task of [...this.#tasks.values()].reverse())
      await task.operator.onCheckpointComplete?.(checkpointId);
    for (const reader of [...this.#acking]) await reader.checkpointComplete!(checkpointId);
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
    // Not spliced out before they settle: the list may be shared with other subtasks' source
    // loops, which must go on seeing a pending promise until it has settled.
    while (this.#pressure.length > 0 || this.#linkPressure.length > 0) {
      const waits = [...this.#pressure, ...this.#linkPressure];
      await Promise.all(waits);
      const settled = new Set(waits);
      removeFrom(this.#pressure, settled);
      removeFrom(this.#linkPressure, settled);
    }
  }

  /** `key`'s state in `step` as this subtask holds it (the caller picks the subtask of its key group). */
  queryState(step: string, key: Key): KeyState {
    if (!this.#counters.has(step))
      throw new EddyError(
        'EDDY_CONFIG_INVALID',
        `no step "${step}" in this pipeline; the steps are ${[...this.#counters.keys()].join(', ')}`,
      );
    const keyGroup = keyGroupOf(key, this.#maxParallelism);
    const entries: { table: string; namespace: number; value: unknown }[] = [];
    for (const [s, table, t] of this.#state.tables())
      if (s === step)
        for (const [k, namespace, value] of t.entries(keyGroup))
          if (k === key) entries.push({ table, namespace, value });
    return { step, key, keyGroup, subtask: this.subtask, entries };
  }

  /**
   * The keys of `step`'s state in this subtask that `o` asks for, each with
   * its entries, in key order, at most `o.limit` (see `StateScanOptions`).
   */
  scanState(step: string, o: StateScanOptions = {}): StateScan {
    if (!this.#counters.has(step))
      throw new EddyError(
        'EDDY_CONFIG_INVALID',
        `no step "${step}" in this pipeline; the steps are ${[...this.#counters.keys()].join(', ')}`,
      );
    const found = new Map<Key, KeyState>();
    for (const [s, table, t] of this.#state.tables()) {
      if (s !== step) continue;
      for (const keyGroup of t.keyGroups())
        for (const [key, namespace, value] of t.entries(keyGroup)) {
          if (!scanMatches(key, o)) continue;
          let k = found.get(key);
          if (k === undefined)
            found.set(key, (k = { step, key, keyGroup, subtask: this.subtask, entries: [] }));
          (k.entries as { table: string; namespace: number; value: unknown }[]).push({
            table,
            namespace,
            value,
          });
        }
    }
    return mergeScans(step, [{ step, keys: [...found.values()], truncated: false }], o);
  }

  /** The encoded bytes of each step's state in a checkpoint just collected (see `collectSubtask`). */
  noteStateBytes(byStep: ReadonlyMap<string, number>): void {
    for (const [id, counters] of this.#counters) counters.stateBytes = byStep.get(id) ?? 0;
  }

  /**
   * Turns the spreading of adaptive split edges on or off (`preAggregate:
   * 'auto'`); from the next batch on. Returns how many edges it set.
   */
  setSpread(on: boolean): number {
    let n = 0;
    for (const { edge } of this.#exchanges)
      if (edge.spread !== undefined) {
        edge.spread.on = on;
        n++;
      }
    return n;
  }

  metrics(): PipelineMetrics {
    const entries = new Map<string, number>();
    for (const [step, , table] of this.#state.tables())
      entries.set(step, (entries.get(step) ?? 0) + table.size());
    for (const [id, counters] of this.#counters) counters.stateEntries = entries.get(id) ?? 0;
    const steps: Record<string, StepMetrics> = {};
    let sourceRecords = 0;
    let watermark = Number.POSITIVE_INFINITY;
    for (const [id, counters] of this.#counters) {
      const m = counters.snapshot();
      steps[id] = m;
      const kind = this.#kindOf.get(id);
      if (kind === 'source') sourceRecords += m.recordsOut;
      // Dead letters carry no event time: sinks fed by them do not hold the pipeline's watermark.
      if (kind === 'sink' && !this.#plan.afterDeadLetters.has(id) && m.watermark < watermark)
        watermark = m.watermark;
    }
    const loop = performance.eventLoopUtilization();
    return {
      steps,
      sourceRecords,
      watermark: watermark === Number.POSITIVE_INFINITY ? Number.NaN : watermark,
      // This thread's event loop: how busy it has been, all work included (sources, exchanges).
      thread: { at: performance.now() + performance.timeOrigin, activeMs: loop.active },
    };
  }

  /** Makes this subtask's task for each vertex of the plan, downstream first (edges point at existing tasks). */
  #build(): void {
    const plan = this.#plan;
    const n = this.parallelism;
    const byId = new Map(plan.vertices.map((v) => [v.id, v]));
    for (const v of plan.vertices)
      for (const step of v.steps) {
        this.#counters.set(step.id, new StepCounters(step.id, step.kind));
        this.#kindOf.set(step.id, step.kind);
      }
    // An exchanged input has one channel per upstream subtask.
    const channelBase = (consumer: Vertex, input: number): number =>
      consumer.arrival === 'local' ? input : input * n;
    const workerOf = this.#assignment ?? contiguousAssignment(this.#maxParallelism, n);
    for (let i = plan.vertices.length - 1; i >= 0; i--) {
      const vertex = plan.vertices[i]!;
      const edges: AnyEdge[][] = vertex.outputs.map((list) =>
        list.map(({ vertex: id, input }): AnyEdge => {
          const consumer = byId.get(id)!;
          if (consumer.arrival === 'local')
            return { task: this.#tasks.get(id)!, input: channelBase(consumer, input) };
          const edge: ExchangeEdge = {
            kind: consumer.arrival,
            targets: [],
            channel: channelBase(consumer, input) + this.subtask,
            workerOf,
            ...(consumer.arrival === 'split' ? { sent: new Float64Array(n) } : {}),
            ...(consumer.adaptive === true ? { spread: { on: false, self: this.subtask } } : {}),
          };
          this.#exchanges.push({ edge, consumer: id });
          return edge;
        }),
      );
      const counters = vertex.steps.map((step) => this.#counters.get(step.id)!);
      // A keyed step follows its heaviest keys (issue 18); its batches carry them.
      if (this.#hotKeys && vertex.keyed === true) counters[0]!.sampleKeys();
      if (this.#countKeyGroups && vertex.keyed === true) counters[0]!.countKeyGroups(this.#maxParallelism);
      const perInput = vertex.arrival === 'local' ? 1 : n;
      const inputOf = new Int32Array(vertex.inputs * perInput);
      for (let c = 0; c < inputOf.length; c++) inputOf[c] = Math.floor(c / perInput);
      const inactive = vertex.arrival === 'gather' && this.subtask > 0;
      if (inactive) this.#inactive.push(vertex.id);
      const operator = inactive ? new PassThroughOperator() : this.#operatorOf(vertex, counters);
      const task = new Task(vertex.id, operator, inputOf, edges, counters, this.#pressure, this.#batchSize);
      this.#tasks.set(vertex.id, task);
      if (vertex.role === 'dead-letters') this.#deadLetterTask = task;
      if (vertex.role === 'source') {
        this.#feeders.set(
          vertex.id,
          new SourceFeeder(task, this.#clock, vertex.source!.options, (value, error) =>
            this.#deadLetter(
              vertex.id,
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

  #operatorOf(vertex: Vertex, counters: readonly StepCounters[]): Operator {
    switch (vertex.role) {
      case 'source':
      case 'dead-letters':
        return new PassThroughOperator();
      case 'sink': {
        const sink = vertex.sink ?? this.#defaultDeadLetterSink();
        return new SinkOperator(this.#sinkFor?.(vertex.id, sink) ?? sink);
      }
      case 'chain':
        return new ChainOperator(vertex.chain!, this.#maxParallelism, counters);
      case 'operator':
        return vertex.operator!();
    }
  }

  /** Where dead letters go when nothing reads them (the plan's default sink). */
  #defaultDeadLetterSink(): Sink<unknown> {
    const write = this.#defaultDeadLetters;
    return {
      kind: 'stderr',
      guarantee: 'best-effort',
      open: () => ({
        write: (values) => {
          for (const l of values) write(l as DeadLetter);
        },
      }),
    };
  }

  #context(task: Task): OperatorContext {
    const stepId = task.id;
    const combines = this.#plan.combinerOf.get(stepId);
    return {
      stepId,
      clock: this.#clock,
      state: this.#state,
      metrics: task.counters,
      errorPolicy: this.#errorPolicy,
      batchSize: this.#batchSize,
      lingerMs: this.#lingerMs,
      output: task.output,
      checkpointing: this.#checkpointing,
      subtask: this.subtask,
      parallelism: this.parallelism,
      attempt: this.#attempt,
      ...(this.#deployment === undefined ? {} : { deployment: this.#deployment }),
      // A combiner missing from the checkpoint starts at its window step's watermark.
      restored:
        this.#restore?.operators.get(stepId) ??
        (combines === undefined ? undefined : this.#restore?.operators.get(combines)),
      deadLetter: (code, reason, payload, time, step = stepId) => {
        this.#deadLetter(step, code, reason, payload, time, task.counters);
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

  /** Counts the letter on `step` (or on `fallback`, the task's own counters, for a step id the plan does not know). */
  #deadLetter(
    step: string,
    code: string,
    reason: string,
    payload: unknown,
    time: number,
    fallback?: StepCounters,
  ): void {
    const at = this.#clock.now();
    (this.#counters.get(step) ?? fallback)?.noteDeadLetter(code, reason, at);
    const letter = { step, code, reason, payload: payloadText(payload), eventTime: time, at };
    // A letter raised by the dead-letter branch itself (its map threw, its sink refused a record)
    // would go round that branch again, perhaps for ever; one raised after the entry has ended
    // (a sink's end-of-input flush) has nowhere left to go. Both go to the default output instead.
    if (this.#deadLettersEnded || this.#plan.afterDeadLetters.has(step)) this.#defaultDeadLetters(letter);
    else this.#deadLetterBuffer.push(letter);
  }

  #flushDeadLetters(): void {
    const letters = this.#deadLetterBuffer;
    if (letters.length === 0) return;
    this.#deadLetterBuffer = [];
    this.#deadLetterTask.receive({ values: letters, times: letters.map((l) => l.at) }, 0);
  }

  async #runSource(node: Vertex): Promise<void> {
    const feeder = this.#feeders.get(node.id)!;
    const task = this.#tasks.get(node.id)!;
    const signal = this.#abort.signal;
    let reader: SourceReader<unknown> | undefined;
    this.#liveSources++;
    try {
      const restored = this.#restore?.sources[node.id];
      if (restored !== undefined) feeder.restore(restored.feeder);
      reader = await node.source!.source.open({
        stepId: node.id,
        clock: this.#clock,
        batchSize: node.source!.options.batchSize ?? this.#batchSize,
        signal,
        deadLetter: (code, reason, payload) => {
          this.#deadLetter(node.id, code, reason, payload, Number.NaN, task.counters);
        },
        subtask: this.subtask,
        parallelism: this.parallelism,
        jobStart: this.#jobStart,
        checkpointing: this.#checkpointing,
        ...(this.#deployment === undefined ? {} : { deployment: this.#deployment }),
        ...(restored === undefined ? {} : { restored: restored.position }),
      });
      if (this.#checkpointing && typeof reader.position !== 'function') {
        throw new EddyError(
          'EDDY_CONFIG_INVALID',
          `source "${node.id}" (${node.source!.source.kind}) cannot be checkpointed: its reader has no position(); use a source that supports checkpoints or run without checkpoints`,
          { stepId: node.id },
        );
      }
      this.#readers.set(node.id, reader);
      if (this.#checkpointing && typeof reader.checkpointComplete === 'function') this.#acking.add(reader);
      for (const split of reader.splits ?? []) feeder.register(split);
      const max = node.source!.options.batchSize ?? this.#batchSize;
      // Watermarks and floors come with the records (a Kafka application's later stage).
      const carried = node.source!.source.carriesWatermarks === true;
      const maxDrift = node.source!.options.maxDrift ?? DEFAULT_MAX_DRIFT_MS;
      const aligned = this.#alignment?.reader(node.id, this.subtask, maxDrift);
      // The last poll found nothing.
      let starving = false;
      let slice = performance.now();
      while (!signal.aborted && !this.#closed) {
        if (this.#gate !== undefined) {
          await this.#park();
          slice = performance.now();
          if (signal.aborted || this.#closed) break;
        }
        if (this.#pressure.length > 0 || this.#linkPressure.length > 0) {
          // Timed only when there is pressure to wait for: the metrics' backpressured time (issue 17).
          const t = performance.now();
          await this.drainPressure();
          task.counters.backpressureMs += performance.now() - t;
          // The gate closed meanwhile: park before polling and processing another batch.
          if (this.#gate !== undefined) continue;
        }
        // Ahead of the slowest subtask's reader by more than maxDrift: wait for it to move.
        const behind = aligned?.check(feeder.published, starving);
        if (behind !== undefined) {
          const t = performance.now();
          await aligned!.wait(behind);
          slice = performance.now();
          task.counters.alignmentWaitMs += slice - t;
          continue;
        }
        let polled = reader.poll(max);
        if (polled instanceof Promise) polled = await polled;
        if (polled === null || this.#closed) break;
        starving = polled.values.length === 0;
        if (starving) {
          // A watermark carried from upstream may move without records (a marker read alone).
          if (carried) {
            if (polled.watermark !== undefined) feeder.watermark(polled.watermark);
            if (polled.idle !== undefined) feeder.carriedIdle(polled.idle);
          }
          if (polled.split !== undefined) feeder.register(polled.split);
          this.#flushDeadLetters();
          feeder.noData();
          // A barrier waiting (the gate closed): park now rather than after the pause.
          if (this.#gate === undefined) await sleep(this.#pollInterval, signal);
          slice = performance.now();
          continue;
        }
        if (carried) {
          feeder.feedCarried(polled.values, polled.times, polled.floors);
          if (polled.watermark !== undefined) feeder.watermark(polled.watermark);
          if (polled.idle !== undefined) feeder.carriedIdle(polled.idle);
        } else feeder.feed(polled.values, polled.times, polled.split);
        aligned?.publish(feeder.published);
        this.#flushDeadLetters();
        if (performance.now() - slice > SLICE_MS) {
          await new Promise((r) => setImmediate(r));
          slice = performance.now();
        }
      }
      this.#sourceDone();
      aligned?.finish();
      if (this.#acking.has(reader) && !this.#closed && !this.#cancelled) this.#ended.add(reader);
      else await this.#closeReader(reader);
      if (this.#closed || this.#cancelled) return;
      await this.drainPressure();
      this.#flushDeadLetters();
      feeder.end();
    } catch (e) {
      this.#sourceDone();
      if (reader !== undefined) await this.#closeReader(reader);
      await this.#fail(e);
    }
  }

  async #closeReader(reader: SourceReader<unknown>): Promise<void> {
    this.#acking.delete(reader);
    this.#ended.delete(reader);
    await reader.close?.();
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

  async #fail(error: unknown): Promise<void> {
    if (this.#closed || this.#cancelled) return;
    this.#cancelled = true;
    this.#abort.abort();
    this.#onFail?.(error);
  }

  /** Stops timers and closes every operator and the state backend. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#parkWaiter?.();
    this.openGate();
    for (const cancel of [...this.#cancels]) cancel();
    for (const task of this.#tasks.values()) task.halt();
    for (const task of this.#tasks.values()) await task.operator.onClose?.();
    for (const reader of [...this.#ended]) await this.#closeReader(reader);
    await this.#state.close?.();
  }
}

/** Removes the members of `gone` from `list`, in place. */
function removeFrom<T>(list: T[], gone: ReadonlySet<T>): void {
  let k = 0;
  for (let i = 0; i < list.length; i++) if (!gone.has(list[i]!)) list[k++] = list[i]!;
  list.length = k;
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

/** One subtask's part of a checkpoint, as taken at the barrier. */
export interface SubtaskSnapshot {
  readonly meta: SubtaskMeta;
  /** Operator snapshots (sinks pre-commit asynchronously), by task. */
  readonly operators: readonly { task: string; snapshot: Promise<OperatorSnapshot | undefined> }[];
  readonly state: StateSnapshot;
}

/** A new job attempt's id: base 36, random, so that no two attempts share one. */
export function newAttempt(): string {
  return BigInt(`0x${randomUUID().replaceAll('-', '').slice(0, 16)}`).toString(36);
}
