/**
 * A job: one {@link Executor} per subtask, wired together through their
 * exchanges, plus what spans them — checkpoint coordination, completion and
 * failure. Subtasks run in this thread; keyed state is split by key group
 * (subtask k owns the groups `workerForKeyGroup` gives it), keyed records are
 * routed to their owner by hash exchanges, and sinks run in subtask 0.
 *
 * Checkpoints follow aligned barriers across all subtasks: every source loop
 * of every subtask stops at the gate, work in flight drains until no subtask
 * has any (draining one can hand records to another), then each subtask takes
 * its synchronous snapshot, the gates open, and the snapshots are encoded and
 * written as one checkpoint while records flow again.
 */
import {
  type CheckpointMeta,
  CheckpointRestore,
  keyedChunks,
  metaChunk,
  stateChunk,
} from '../checkpoint/snapshot.ts';
import {
  type CheckpointStorage,
  type Chunk,
  type LoadedCheckpoint,
  writeCheckpointDir,
} from '../checkpoint/storage.ts';
import { EddyError } from '../errors/index.ts';
import type { LogicalGraph } from '../plan/graph.ts';
import type { KeyedStateBackend } from '../state/backend.ts';
import { HeapStateBackend } from '../state/heap.ts';
import { workerForKeyGroup } from '../state/key-groups.ts';
import { systemClock } from './clock.ts';
import { Executor, type ExecutorOptions, type SubtaskSnapshot } from './executor.ts';
import type { PipelineMetrics, StepMetrics } from './metrics.ts';
import type { SourceFeeder } from './timestamps.ts';

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

export interface JobOptions
  extends Omit<ExecutorOptions, 'subtask' | 'parallelism' | 'restore' | 'onFail' | 'jobStart'> {
  /** How many subtasks (default 1). */
  readonly parallelism?: number;
  /** Periodic checkpoints: where, and how often (ms; 0 = only on demand and at the end). */
  readonly checkpoints?: { readonly storage: CheckpointStorage; readonly intervalMs: number };
  /** Resume from this checkpoint or savepoint. */
  readonly restoreFrom?: LoadedCheckpoint;
  /** The pipeline's name, written into checkpoints. */
  readonly pipelineName?: string;
  /** Called after each checkpoint or savepoint completes (or fails: `error` is set). */
  readonly onCheckpoint?: (info: CheckpointInfo) => void;
}

export class Job {
  readonly #graph: LogicalGraph;
  readonly #options: JobOptions;
  readonly parallelism: number;
  readonly #executors: Executor[] = [];
  readonly #checkpoints: JobOptions['checkpoints'];
  #restoredFrom: number | undefined;
  #inFlight: Promise<CheckpointInfo> | undefined;
  #nextCheckpointId = 1;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #completed = 0;
  #failed = 0;
  #last: CheckpointInfo | undefined;
  #heldGates = false;
  #finished = false;
  #settle!: { resolve: () => void; reject: (e: unknown) => void };
  /** Settles when the run has finished (every subtask drained and closed) or failed. */
  readonly done: Promise<void>;

  constructor(graph: LogicalGraph, options: JobOptions) {
    this.#graph = graph;
    this.#options = options;
    this.parallelism = options.parallelism ?? 1;
    if (
      !Number.isInteger(this.parallelism) ||
      this.parallelism < 1 ||
      this.parallelism > options.maxParallelism
    ) {
      throw new EddyError(
        'EDDY_CONFIG_INVALID',
        `parallelism must be a whole number from 1 to maxParallelism (${options.maxParallelism}); received ${String(options.parallelism)}; pass e.g. parallelism: 2`,
      );
    }
    if (options.stateBackend !== undefined && this.parallelism > 1) {
      throw new EddyError(
        'EDDY_CONFIG_INVALID',
        'a stateBackend instance serves one subtask; with parallelism > 1 pass stateBackendFactory: (subtask) => backend',
      );
    }
    this.#checkpoints = options.checkpoints;
    this.done = new Promise((resolve, reject) => {
      this.#settle = { resolve, reject };
    });
    this.done.catch(() => {}); // observed through run(); avoid an unhandled rejection here
  }

  /** Builds every subtask (restoring a checkpoint if given), starts their operators, then their sources. */
  async start(): Promise<void> {
    const o = this.#options;
    const n = this.parallelism;
    const restore =
      o.restoreFrom === undefined
        ? undefined
        : new CheckpointRestore(
            o.restoreFrom,
            n,
            o.maxParallelism,
            {
              steps: new Set(this.#graph.nodes.keys()),
              sources: new Set(
                [...this.#graph.nodes.values()].filter((x) => x.kind === 'source').map((x) => x.id),
              ),
            },
            (id) => this.#graph.nodes.get(id)?.source?.source.splittable === true,
          );
    this.#restoredFrom = restore?.checkpointId;
    if (restore !== undefined) this.#nextCheckpointId = restore.checkpointId + 1;
    const jobStart = (o.clock ?? systemClock).now();
    try {
      for (let k = 0; k < n; k++) {
        const backend: KeyedStateBackend =
          o.stateBackend ?? (await o.stateBackendFactory?.(k)) ?? new HeapStateBackend(o.maxParallelism);
        const subtaskRestore = restore?.restoreSubtask(k, backend);
        this.#executors.push(
          new Executor(this.#graph, {
            ...o,
            stateBackend: backend,
            subtask: k,
            parallelism: n,
            jobStart,
            checkpointing: this.#checkpoints !== undefined,
            ...(subtaskRestore === undefined ? {} : { restore: subtaskRestore }),
            onFail: (e) => void this.#fail(e),
          }),
        );
      }
      for (const ex of this.#executors) ex.build();
      for (const ex of this.#executors) ex.wire(this.#executors);
      for (const ex of this.#executors) await ex.startOperators();
    } catch (e) {
      await this.#fail(e);
      return;
    }
    void Promise.all(this.#executors.map((ex) => ex.drained)).then(() => this.#finish());
    for (const ex of this.#executors) ex.startSources();
    this.#schedule();
  }

  /** Stops pulling from sources; what was pulled drains through and the run finishes. */
  stop(): void {
    for (const ex of this.#executors) ex.stop();
  }

  /**
   * Takes a savepoint into `dir` and stops without ending the input (open
   * windows stay open in the savepoint). Resolves once the savepoint is
   * durable and sinks have committed; `done` then resolves.
   */
  async stopWithSavepoint(dir: string): Promise<CheckpointInfo> {
    const info = await this.#checkpoint('savepoint', dir);
    this.#heldGates = false;
    if (info.error !== undefined) {
      for (const ex of this.#executors) ex.openGate();
      throw info.error;
    }
    // The sources stayed paused since the barrier, so nothing after it reached a sink.
    this.#finished = true;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    for (const ex of this.#executors) await ex.cancel();
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
      completed: this.#completed,
      failed: this.#failed,
      last: this.#last,
      restoredFrom: this.#restoredFrom,
    };
  }

  /** Feeds a source by hand (only with `manualSources`): records enter in subtask 0. */
  input(sourceId: string): SourceFeeder {
    return this.#executors[0]!.input(sourceId);
  }

  sourceIds(): string[] {
    return this.#executors[0]!.sourceIds();
  }

  flushDeadLetters(): void {
    for (const ex of this.#executors) ex.flushDeadLetters();
  }

  async drainPressure(): Promise<void> {
    for (const ex of this.#executors) await ex.drainPressure();
  }

  /** The state backend of the subtask that owns `keyGroup`. */
  stateFor(keyGroup: number): KeyedStateBackend {
    return this.#executors[workerForKeyGroup(this.#options.maxParallelism, this.parallelism, keyGroup)]!
      .state;
  }

  /** Every subtask's state backend. */
  states(): KeyedStateBackend[] {
    return this.#executors.map((ex) => ex.state);
  }

  /** Every step's metrics summed over subtasks (watermarks: the lowest). */
  metrics(): PipelineMetrics {
    const all = this.#executors.map((ex) => ex.metrics());
    const first = all[0]!;
    const steps: Record<string, StepMetrics> = {};
    for (const [id, m] of Object.entries(first.steps)) {
      const parts = all.map((x) => x.steps[id]!);
      const live = parts.filter((p) => p.recordsIn > 0 || p.recordsOut > 0);
      steps[id] = {
        ...m,
        recordsIn: sum(parts, (p) => p.recordsIn),
        recordsOut: sum(parts, (p) => p.recordsOut),
        batchesIn: sum(parts, (p) => p.batchesIn),
        lateRecords: sum(parts, (p) => p.lateRecords),
        deadLetters: sum(parts, (p) => p.deadLetters),
        watermark: Math.min(...(live.length > 0 ? live : parts).map((p) => p.watermark)),
      };
    }
    const watermarks = all.map((x) => x.watermark).filter((w) => !Number.isNaN(w));
    return {
      steps,
      sourceRecords: sum(all, (x) => x.sourceRecords),
      watermark: watermarks.length === 0 ? Number.NaN : Math.min(...watermarks),
      ...(this.#checkpoints === undefined && this.#restoredFrom === undefined
        ? {}
        : { checkpoints: this.checkpointMetrics() }),
    };
  }

  #schedule(): void {
    const interval = this.#checkpoints?.intervalMs ?? 0;
    if (interval <= 0 || this.#finished) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      if (this.#finished) return;
      void this.#checkpoint('checkpoint').then(() => this.#schedule());
    }, interval);
  }

  /** Takes a checkpoint (or savepoint) after the one in flight; never rejects: failures are in the result. */
  #checkpoint(kind: 'checkpoint' | 'savepoint', savepointDir?: string): Promise<CheckpointInfo> {
    const previous = this.#inFlight ?? Promise.resolve(undefined);
    const next = previous.then(() => this.#take(kind, savepointDir));
    this.#inFlight = next;
    return next;
  }

  async #take(kind: 'checkpoint' | 'savepoint', savepointDir?: string): Promise<CheckpointInfo> {
    const id = this.#nextCheckpointId++;
    const t0 = performance.now();
    let alignmentMs = 0;
    let syncMs = 0;
    let dir = savepointDir ?? this.#checkpoints?.storage.dir ?? '';
    const fail = (error: unknown): CheckpointInfo => {
      this.#failed++;
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
      this.#options.onCheckpoint?.(info);
      return info;
    };
    if (this.#finished && kind === 'checkpoint' && savepointDir === undefined && !this.#finalPending)
      return fail(new EddyError('EDDY_STATE_INVALID', 'the run has stopped; no checkpoint taken'));
    const executors = this.#executors;
    let snapshots: SubtaskSnapshot[];
    try {
      // Barrier: every source loop of every subtask stops; then in-flight work drains everywhere.
      for (const ex of executors) ex.closeGate();
      await Promise.all(executors.map((ex) => ex.whenParked()));
      for (let busy = true; busy; ) {
        busy = false;
        for (const ex of executors) if (await ex.drainInFlight()) busy = true;
      }
      const t1 = performance.now();
      alignmentMs = t1 - t0;
      snapshots = executors.map((ex) => ex.snapshot(id));
      syncMs = performance.now() - t1;
    } catch (e) {
      for (const ex of executors) ex.openGate();
      return fail(e);
    }
    // A savepoint keeps the sources paused until the job stops.
    if (kind === 'savepoint') this.#heldGates = true;
    else for (const ex of executors) ex.openGate();
    try {
      const t2 = performance.now();
      const chunks: Chunk[] = [];
      let entries = 0;
      for (const snap of snapshots) {
        for (const { task, snapshot } of snap.operators) {
          const s = await snapshot;
          if (s?.keyed !== undefined) chunks.push(...keyedChunks(task, s.keyed));
          if (s?.data !== undefined) snap.meta.operators[task] = s.data;
        }
        for (const c of await snap.state.complete(() => new Promise((resolve) => setImmediate(resolve)))) {
          chunks.push(stateChunk(c));
          entries += c.entries;
        }
      }
      const meta: CheckpointMeta = { parallelism: this.parallelism, subtasks: snapshots.map((s) => s.meta) };
      chunks.push(metaChunk(meta));
      const header = {
        id,
        kind,
        pipeline: this.#options.pipelineName ?? 'pipeline',
        createdAt: Date.now(),
        maxParallelism: this.#options.maxParallelism,
        parallelism: this.parallelism,
      };
      const storage = this.#checkpoints?.storage;
      const written =
        savepointDir !== undefined || storage === undefined
          ? await writeCheckpointDir(savepointDir ?? dir, header, chunks)
          : await storage.write(header, chunks);
      dir = written.dir;
      // Durable: sinks may now make the checkpoint's output visible.
      for (const ex of executors) await ex.checkpointComplete(id);
      if (savepointDir === undefined) await storage?.prune();
      this.#completed++;
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
      this.#last = info;
      this.#options.onCheckpoint?.(info);
      return info;
    } catch (e) {
      return fail(e);
    }
  }

  #finalPending = false;

  async #finish(): Promise<void> {
    if (this.#finished) return;
    this.#finished = true;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    try {
      if (this.#checkpoints !== undefined) {
        // The end of the input is a checkpoint too: it commits the sinks' last output, and a
        // restart after it finds every source exhausted rather than replaying the tail.
        this.#finalPending = true;
        const info = await this.#checkpoint('checkpoint');
        if (info.error !== undefined) throw info.error;
      }
      for (const ex of this.#executors) await ex.close();
      this.#settle.resolve();
    } catch (e) {
      for (const ex of this.#executors) await ex.close().catch(() => {});
      this.#settle.reject(e);
    }
  }

  async #fail(error: unknown): Promise<void> {
    if (this.#finished && !this.#finalPending) return;
    this.#finished = true;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    for (const ex of this.#executors) await ex.cancel().catch(() => {});
    this.#settle.reject(error);
  }

  /** Whether a savepoint holds the sources paused. */
  get paused(): boolean {
    return this.#heldGates;
  }
}

function sum<T>(items: readonly T[], f: (t: T) => number): number {
  let n = 0;
  for (const t of items) n += f(t);
  return n;
}
