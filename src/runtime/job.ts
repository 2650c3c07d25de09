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
import { barrier, collect, type Participant } from '../checkpoint/coordinator.ts';
import { CheckpointRestore, keyedChunks, stateChunk } from '../checkpoint/snapshot.ts';
import {
  type CheckpointStore,
  type Chunk,
  type LoadedCheckpoint,
  writeCheckpointDir,
} from '../checkpoint/storage.ts';
import { systemClock } from '../core/clock.ts';
import { workerForKeyGroup } from '../core/key-groups.ts';
import type { PipelineMetrics, StepMetrics } from '../core/metrics.ts';
import { EddyError } from '../errors/index.ts';
import type { KeyedStateBackend } from '../state/backend.ts';
import { HeapStateBackend } from '../state/heap.ts';
import { WatermarkAlignment } from './alignment.ts';
import { Executor, type ExecutorOptions, type SubtaskSnapshot } from './executor.ts';
import type { PhysicalPlan } from './physical.ts';
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
  readonly checkpoints?: { readonly storage: CheckpointStore; readonly intervalMs: number };
  /** Resume from this checkpoint or savepoint. */
  readonly restoreFrom?: LoadedCheckpoint;
  /** The pipeline's name, written into checkpoints. */
  readonly pipelineName?: string;
  /** Called after each checkpoint or savepoint completes (or fails: `error` is set). */
  readonly onCheckpoint?: (info: CheckpointInfo) => void;
}

export class Job {
  readonly #plan: PhysicalPlan;
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

  /** A job running `plan`; its parallelism is the plan's (the planner decided exchanges and combiners for it). */
  constructor(plan: PhysicalPlan, options: JobOptions) {
    this.#plan = plan;
    this.#options = options;
    this.parallelism = plan.parallelism;
    if (
      !Number.isInteger(this.parallelism) ||
      this.parallelism < 1 ||
      this.parallelism > options.maxParallelism
    ) {
      throw new EddyError(
        'EDDY_CONFIG_INVALID',
        `parallelism must be a whole number from 1 to maxParallelism (${options.maxParallelism}); received ${String(plan.parallelism)}; pass e.g. parallelism: 2`,
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
            { steps: this.#plan.steps, sources: this.#plan.sources },
            (id) => this.#plan.splittable.includes(id),
          );
    this.#restoredFrom = restore?.checkpointId;
    if (restore !== undefined) this.#nextCheckpointId = restore.checkpointId + 1;
    const jobStart = (o.clock ?? systemClock).now();
    // Subtasks reading shares of the same source keep within each source's maxDrift of each other.
    const alignment =
      n > 1 && o.manualSources !== true ? new WatermarkAlignment(this.#plan.splittable, n) : undefined;
    // One backpressure list for every subtask of this thread: a full sink holds back all sources.
    const pressure: Promise<void>[] = [];
    try {
      for (let k = 0; k < n; k++) {
        const backend: KeyedStateBackend =
          o.stateBackend ?? (await o.stateBackendFactory?.(k)) ?? new HeapStateBackend(o.maxParallelism);
        const subtaskRestore = restore?.restoreSubtask(k, backend);
        this.#executors.push(
          new Executor(this.#plan, {
            ...o,
            stateBackend: backend,
            subtask: k,
            parallelism: n,
            jobStart,
            checkpointing: this.#checkpoints !== undefined,
            ...(subtaskRestore === undefined ? {} : { restore: subtaskRestore }),
            ...(alignment === undefined ? {} : { alignment }),
            pressure,
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
        alignmentWaitMs: sum(parts, (p) => p.alignmentWaitMs),
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
    if (this.#finished && !this.#finalPending && kind === 'checkpoint') {
      this.#failed++;
      return {
        id: this.#nextCheckpointId,
        kind,
        dir: '',
        bytes: 0,
        entries: 0,
        alignmentMs: 0,
        syncMs: 0,
        asyncMs: 0,
        durationMs: 0,
        error: new EddyError('EDDY_STATE_INVALID', 'the run has stopped; no checkpoint taken'),
      };
    }
    const info = await takeCheckpoint({
      participants: this.#executors.map((ex) => localParticipant(ex)),
      id: this.#nextCheckpointId++,
      kind,
      parallelism: this.parallelism,
      maxParallelism: this.#options.maxParallelism,
      pipeline: this.#options.pipelineName ?? 'pipeline',
      storage: this.#checkpoints?.storage,
      savepointDir,
    });
    if (info.error === undefined) {
      this.#completed++;
      this.#last = info;
    } else this.#failed++;
    if (kind === 'savepoint' && info.error === undefined) this.#heldGates = true;
    this.#options.onCheckpoint?.(info);
    return info;
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

  /**
   * Stops at once without draining and without a final checkpoint: what was in
   * flight is dropped, sinks are closed without committing. `done` rejects
   * with `reason`. Used when the last checkpoint must be the state to go back
   * to (a Kafka rebalance or a failed transaction).
   */
  async cancel(reason: unknown): Promise<void> {
    await this.#fail(reason);
  }

  /** Whether a savepoint holds the sources paused. */
  get paused(): boolean {
    return this.#heldGates;
  }
}

/** Takes one checkpoint or savepoint over `participants`; never throws: a failure is in `error`. */
export async function takeCheckpoint(o: {
  readonly participants: readonly Participant[];
  readonly id: number;
  readonly kind: 'checkpoint' | 'savepoint';
  readonly parallelism: number;
  readonly maxParallelism: number;
  readonly pipeline: string;
  readonly storage: CheckpointStore | undefined;
  readonly savepointDir: string | undefined;
}): Promise<CheckpointInfo> {
  const t0 = performance.now();
  const timings = { alignmentMs: 0, syncMs: 0 };
  let dir = o.savepointDir ?? o.storage?.dir ?? '';
  const result = (extra: Partial<CheckpointInfo>): CheckpointInfo => ({
    id: o.id,
    kind: o.kind,
    dir,
    bytes: 0,
    entries: 0,
    ...timings,
    asyncMs: 0,
    durationMs: performance.now() - t0,
    ...extra,
  });
  try {
    await barrier(o.participants, o.id, o.kind === 'savepoint', timings);
  } catch (error) {
    return result({ error });
  }
  try {
    const t2 = performance.now();
    const { chunks, entries } = await collect(o.participants, o.parallelism);
    const header = {
      id: o.id,
      kind: o.kind,
      pipeline: o.pipeline,
      createdAt: Date.now(),
      maxParallelism: o.maxParallelism,
      parallelism: o.parallelism,
    };
    const written =
      o.savepointDir !== undefined || o.storage === undefined
        ? await writeCheckpointDir(o.savepointDir ?? dir, header, chunks)
        : await o.storage.write(header, chunks);
    dir = written.dir;
    // Durable: sinks may now make the checkpoint's output visible.
    for (const p of o.participants) await p.complete(o.id);
    if (o.savepointDir === undefined) await o.storage?.prune();
    return result({ bytes: written.bytes, entries, asyncMs: performance.now() - t2 });
  } catch (error) {
    return result({ error });
  }
}

/** An executor in this thread as a checkpoint participant; `links` are its links to other threads. */
export function localParticipant(
  ex: Executor,
  links: ReadonlyMap<number, { sent: number; received: number }> = new Map(),
): Participant {
  let taken: SubtaskSnapshot | undefined;
  return {
    async park() {
      ex.closeGate();
      await ex.whenParked();
    },
    async drain() {
      const busy = await ex.drainInFlight();
      const sent: Record<number, number> = {};
      const received: Record<number, number> = {};
      for (const [k, l] of links) {
        sent[k] = l.sent;
        received[k] = l.received;
      }
      return { busy, sent, received };
    },
    async snapshot(id) {
      taken = ex.snapshot(id);
    },
    openGate: () => ex.openGate(),
    async collect() {
      const snap = taken!;
      taken = undefined;
      return collectSubtask(snap);
    },
    complete: (id) => ex.checkpointComplete(id),
  };
}

/** Awaits a subtask's snapshot parts (sinks' pre-commits, background encoding) and encodes them. */
export async function collectSubtask(
  snap: SubtaskSnapshot,
): Promise<{ meta: SubtaskSnapshot['meta']; chunks: Chunk[]; entries: number }> {
  const chunks: Chunk[] = [];
  let entries = 0;
  for (const { task, snapshot } of snap.operators) {
    const s = await snapshot;
    if (s?.keyed !== undefined) chunks.push(...keyedChunks(task, s.keyed));
    if (s?.data !== undefined) snap.meta.operators[task] = s.data;
  }
  for (const c of await snap.state.complete(() => new Promise((resolve) => setImmediate(resolve)))) {
    chunks.push(stateChunk(c));
    entries += c.entries;
  }
  return { meta: snap.meta, chunks, entries };
}

function sum<T>(items: readonly T[], f: (t: T) => number): number {
  let n = 0;
  for (const t of items) n += f(t);
  return n;
}
