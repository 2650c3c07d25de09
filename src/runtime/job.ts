/**
 * A job: one {@link Executor} per subtask, wired together through their
 * exchanges, plus what spans them — checkpoint coordination, completion and
 * failure. Subtasks run in this thread; keyed state is split by key group
 * (subtask k owns the groups `workerForKeyGroup` gives it, or those the
 * `assignment` table gives it), keyed records are
 * routed to their owner by hash exchanges, and sinks run in subtask 0.
 *
 * Checkpoints follow aligned barriers across all subtasks: every source loop
 * of every subtask stops at the gate, work in flight drains until no subtask
 * has any (draining one can hand records to another), then each subtask takes
 * its synchronous snapshot, the gates open, and the snapshots are encoded and
 * written as one checkpoint while records flow again.
 */
import { CheckpointRestore } from '../checkpoint/snapshot.ts';
import type { CheckpointStore, LoadedCheckpoint } from '../checkpoint/storage.ts';
import { systemClock } from '../core/clock.ts';
import { type Key, keyGroupOf, validAssignment, workerForKeyGroup } from '../core/key-groups.ts';
import {
  type KeyState,
  mergeScans,
  type PipelineMetrics,
  type StateScan,
  type StateScanOptions,
} from '../core/metrics.ts';
import { EddyError } from '../errors/index.ts';
import type { KeyedStateBackend } from '../state/backend.ts';
import { HeapStateBackend } from '../state/heap.ts';
import { WatermarkAlignment } from './alignment.ts';
import { type CheckpointInfo, type CheckpointMetrics, localParticipant } from './checkpoints.ts';
import { JobController } from './controller.ts';
import { Executor, type ExecutorOptions, newAttempt } from './executor.ts';
import type { PhysicalPlan } from './physical.ts';
import type { SourceFeeder } from './timestamps.ts';

export interface JobOptions
  extends Omit<ExecutorOptions, 'subtask' | 'parallelism' | 'restore' | 'onFail' | 'jobStart' | 'attempt'> {
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
  #controller: JobController;
  /** Settles when the run has finished (every subtask drained and closed) or failed. */
  get done(): Promise<void> {
    return this.#controller.done;
  }

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
    if (
      options.assignment !== undefined &&
      !validAssignment(options.assignment, options.maxParallelism, this.parallelism)
    ) {
      throw new EddyError(
        'EDDY_CONFIG_INVALID',
        `assignment must give each of the ${options.maxParallelism} key groups a subtask from 0 to ${this.parallelism - 1}; pass contiguousAssignment(${options.maxParallelism}, ${this.parallelism}) or leave it out`,
      );
    }
    this.#controller = this.#newController(undefined);
  }

  #newController(restoredFrom: number | undefined): JobController {
    const o = this.#options;
    return new JobController({
      parallelism: this.parallelism,
      maxParallelism: o.maxParallelism,
      pipeline: o.pipelineName ?? 'pipeline',
      checkpoints: o.checkpoints,
      restoredFrom,
      onCheckpoint: o.onCheckpoint,
    });
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
    // Checkpoint ids go on from the one resumed from.
    if (restore !== undefined) this.#controller = this.#newController(restore.checkpointId);
    const controller = this.#controller;
    const jobStart = (o.clock ?? systemClock).now();
    const attempt = newAttempt();
    // Subtasks reading shares of the same source keep within each source's maxDrift of each other.
    const alignment =
      n > 1 && o.manualSources !== true ? new WatermarkAlignment(this.#plan.splittable, n) : undefined;
    // One backpressure list for every subtask of this thread: a full sink holds back all sources.
    const pressure: Promise<void>[] = [];
    try {
      for (let k = 0; k < n; k++) {
        const backend: KeyedStateBackend =
          o.stateBackend ?? (await o.stateBackendFactory?.(k)) ?? new HeapStateBackend(o.maxParallelism);
        const subtaskRestore = restore?.restoreSubtask(k, backend, o.assignment);
        backend.restored?.();
        this.#executors.push(
          new Executor(this.#plan, {
            ...o,
            stateBackend: backend,
            subtask: k,
            parallelism: n,
            jobStart,
            attempt,
            checkpointing: o.checkpoints !== undefined,
            ...(subtaskRestore === undefined ? {} : { restore: subtaskRestore }),
            ...(alignment === undefined ? {} : { alignment }),
            pressure,
            onFail: (e) => void controller.fail(e),
          }),
        );
      }
      for (const ex of this.#executors) ex.build();
      for (const ex of this.#executors) ex.wire(this.#executors);
      for (const ex of this.#executors) await ex.startOperators();
    } catch (e) {
      await controller.fail(e);
      for (const ex of this.#executors) await ex.cancel().catch(() => {});
      return;
    }
    const executors = this.#executors;
    controller.attach({
      participants: executors.map((ex) => localParticipant(ex)),
      metrics: () => executors.map((ex) => ex.metrics()),
      close: async () => {
        for (const ex of executors) await ex.close();
      },
      cancel: async () => {
        for (const ex of executors) await ex.cancel().catch(() => {});
      },
    });
    void Promise.all(executors.map((ex) => ex.drained)).then(() => controller.finish());
    for (const ex of executors) ex.startSources();
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
  stopWithSavepoint(dir: string): Promise<CheckpointInfo> {
    return this.#controller.stopWithSavepoint(dir);
  }

  /** Takes a checkpoint now (after the one in flight, if any). */
  triggerCheckpoint(): Promise<CheckpointInfo> {
    return this.#controller.triggerCheckpoint();
  }

  checkpointMetrics(): CheckpointMetrics {
    return this.#controller.checkpointMetrics();
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

  #ownerOf(keyGroup: number): number {
    const table = this.#options.assignment;
    return table === undefined
      ? workerForKeyGroup(this.#options.maxParallelism, this.parallelism, keyGroup)
      : table[keyGroup]!;
  }

  /** The state backend of the subtask that owns `keyGroup`. */
  stateFor(keyGroup: number): KeyedStateBackend {
    return this.#executors[this.#ownerOf(keyGroup)]!.state;
  }

  /** Every subtask's state backend. */
  states(): KeyedStateBackend[] {
    return this.#executors.map((ex) => ex.state);
  }

  /** Every step's metrics summed over subtasks (watermarks: the lowest). */
  /** The keys of `step`'s state that `o` asks for, from every subtask (see `Executor.scanState`). */
  scanState(step: string, o: StateScanOptions = {}): StateScan {
    if (this.#executors.length === 0)
      throw new EddyError('EDDY_CONFIG_INVALID', 'the job has not started; scan its state once it runs');
    return mergeScans(
      step,
      this.#executors.map((e) => e.scanState(step, o)),
      o,
    );
  }

  /** `key`'s state in `step`, from the subtask of its key group (see `Executor.queryState`). */
  queryState(step: string, key: Key): KeyState {
    if (this.#executors.length === 0)
      throw new EddyError('EDDY_CONFIG_INVALID', 'the job has not started; query its state once it runs');
    const max = this.#options.maxParallelism;
    return this.#executors[this.#ownerOf(keyGroupOf(key, max))]!.queryState(step, key);
  }

  metrics(): PipelineMetrics {
    return this.#controller.metrics();
  }

  /**
   * Stops at once without draining and without a final checkpoint: what was in
   * flight is dropped, sinks are closed without committing. `done` rejects
   * with `reason`. Used when the last checkpoint must be the state to go back
   * to (a Kafka rebalance or a failed transaction).
   */
  async cancel(reason: unknown): Promise<void> {
    await this.#controller.fail(reason);
  }

  /** Whether a savepoint holds the sources paused. */
  get paused(): boolean {
    return this.#controller.paused;
  }
}
