/**
 * The one job controller (issue 13): what spans a run's subtasks wherever
 * they run — in this thread (`job.ts`) or in worker threads
 * (`threads/cluster.ts`). It owns the checkpoint chain (ids, one at a time,
 * the periodic timer, counters), the final checkpoint at the end of the
 * input, stop-with-savepoint, failure, and the merged metrics. A deployment
 * only says how to reach its subtasks: their checkpoint participants (the
 * protocol is `checkpoint/coordinator.ts`), their metrics, and how to close
 * or cancel them.
 */
import type { Participant } from '../checkpoint/coordinator.ts';
import type { CheckpointStore } from '../checkpoint/storage.ts';
import type { PipelineMetrics, StepMetrics } from '../core/metrics.ts';
import { EddyError } from '../errors/index.ts';
import { type CheckpointInfo, type CheckpointMetrics, takeCheckpoint } from './checkpoints.ts';

/** How a controller reaches the subtasks of its run. */
export interface Subtasks {
  /** One checkpoint participant per subtask. */
  readonly participants: readonly Participant[];
  /** Each subtask's metrics (for another thread's, the latest it reported). */
  metrics(): readonly PipelineMetrics[];
  /** Closes every subtask once its input has ended (after the final checkpoint). */
  close(): Promise<void>;
  /**
   * Stops every subtask without ending the input: after a savepoint
   * (`'savepoint'`: in order, sinks closed without committing more), or
   * because the run failed (`'failure'`: as fast as it can).
   */
  cancel(why: 'savepoint' | 'failure'): Promise<void>;
}

export interface ControllerOptions {
  readonly parallelism: number;
  readonly maxParallelism: number;
  /** The pipeline's name, written into checkpoints. */
  readonly pipeline: string;
  /** Periodic checkpoints: where, and how often (ms; 0 = only on demand and at the end). */
  readonly checkpoints?: { readonly storage: CheckpointStore; readonly intervalMs: number } | undefined;
  /** The checkpoint the run resumed from. */
  readonly restoredFrom?: number | undefined;
  /** Called after each checkpoint or savepoint completes (or fails: `error` is set). */
  readonly onCheckpoint?: ((info: CheckpointInfo) => void) | undefined;
}

/**
 * How long until the next periodic checkpoint, the last one having started
 * at `startedAt` and ended by `now`: `intervalMs` start to start, at once if
 * the last one took longer.
 */
export function checkpointDelay(startedAt: number, intervalMs: number, now: number): number {
  return Math.max(0, startedAt + intervalMs - now);
}

export class JobController {
  readonly #o: ControllerOptions;
  #subtasks: Subtasks | undefined;
  #inFlight: Promise<CheckpointInfo> | undefined;
  #nextId: number;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #completed = 0;
  #failed = 0;
  #last: CheckpointInfo | undefined;
  #heldGates = false;
  #finished = false;
  #finalPending = false;
  #settle!: { resolve: () => void; reject: (e: unknown) => void };
  /** Settles when the run has finished (every subtask drained and closed) or failed. */
  readonly done: Promise<void>;
  // Resolves with the error when the run fails: a checkpoint in flight then ends with it instead of
  // waiting for subtasks that were cancelled (a stop at a savepoint or checkpoint would hang).
  readonly #failure: Promise<unknown>;
  #onFailure!: (error: unknown) => void;

  constructor(options: ControllerOptions) {
    this.#o = options;
    this.#nextId = (options.restoredFrom ?? 0) + 1;
    this.done = new Promise((resolve, reject) => {
      this.#settle = { resolve, reject };
    });
    this.#failure = new Promise((resolve) => {
      this.#onFailure = resolve;
    });
    this.done.catch(() => {}); // observed by the run's owner; avoid an unhandled rejection here
  }

  /** The run's subtasks are up: checkpoints may start (the periodic ones are scheduled). */
  attach(subtasks: Subtasks): void {
    this.#subtasks = subtasks;
    this.#schedule();
  }

  /** Whether the run has ended (finished, failed, or stopped with a savepoint). */
  get finished(): boolean {
    return this.#finished;
  }

  /** Whether a savepoint holds the sources paused. */
  get paused(): boolean {
    return this.#heldGates;
  }

  /**
   * Every subtask has drained: the end of the input is a checkpoint too (it
   * commits the sinks' last output, and a restart after it finds every source
   * exhausted rather than replaying the tail); then the subtasks close.
   */
  async finish(): Promise<void> {
    if (this.#finished) return;
    this.#finished = true;
    this.#clearTimer();
    try {
      if (this.#o.checkpoints !== undefined) {
        this.#finalPending = true;
        const info = await this.#checkpoint('checkpoint');
        this.#finalPending = false;
        if (info.error !== undefined) throw info.error;
      }
      await this.#subtasks?.close();
      this.#settle.resolve();
    } catch (e) {
      await this.#subtasks?.cancel('failure').catch(() => {});
      this.#settle.reject(e);
    }
  }

  /** The run failed (or is cancelled): every subtask stops at once, `done` rejects with `error`. */
  async fail(error: unknown): Promise<void> {
    if (this.#finished && !this.#finalPending) return;
    this.#finished = true;
    this.#clearTimer();
    this.#onFailure(error);
    await this.#subtasks?.cancel('failure').catch(() => {});
    this.#settle.reject(error);
  }

  /**
   * Takes a savepoint into `dir` and stops without ending the input (open
   * windows stay open in the savepoint). Resolves once the savepoint is
   * durable and sinks have committed; `done` then resolves.
   */
  async stopWithSavepoint(dir: string): Promise<CheckpointInfo> {
    return this.#stopAt(this.#checkpoint('savepoint', dir));
  }

  /**
   * Takes a checkpoint into the run's storage and stops at it, as
   * `stopWithSavepoint` does (the sources stay paused from the barrier, sinks
   * commit it, nothing after it reaches a sink): the run can start again from
   * exactly that checkpoint — a rebalancing run does, with key groups moved.
   * On failure the sources resume and the run goes on.
   */
  async stopWithCheckpoint(): Promise<CheckpointInfo> {
    if (this.#o.checkpoints === undefined)
      throw new EddyError('EDDY_CONFIG_INVALID', 'this run takes no checkpoints; it cannot stop at one');
    return this.#stopAt(this.#checkpoint('checkpoint', undefined, true));
  }

  /** Stops the run at a checkpoint or savepoint that holds the sources paused; on its failure they resume. */
  async #stopAt(taking: Promise<CheckpointInfo>): Promise<CheckpointInfo> {
    const info = await taking;
    this.#heldGates = false;
    if (info.error !== undefined) {
      for (const p of this.#subtasks?.participants ?? []) p.openGate();
      throw info.error;
    }
    // The sources stayed paused since the barrier, so nothing after it reached a sink.
    this.#finished = true;
    this.#clearTimer();
    await this.#subtasks?.cancel('savepoint');
    this.#settle.resolve();
    return info;
  }

  /** Takes a checkpoint now (after the one in flight, if any). */
  triggerCheckpoint(): Promise<CheckpointInfo> {
    if (this.#o.checkpoints === undefined) {
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
      restoredFrom: this.#o.restoredFrom,
    };
  }

  /** Every step's metrics summed over subtasks (watermarks: the lowest over subtasks that saw records). */
  metrics(): PipelineMetrics {
    const merged = mergeMetrics(this.#subtasks?.metrics() ?? []);
    if (this.#o.checkpoints === undefined && this.#o.restoredFrom === undefined) return merged;
    return { ...merged, checkpoints: this.checkpointMetrics() };
  }

  #clearTimer(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  /**
   * Periodic checkpoints start `intervalMs` apart, start to start (as Flink
   * triggers them), or as soon as the previous one ends when it took longer;
   * one at a time. Timed from the end of the previous one instead, the
   * period was the interval plus a checkpoint's duration: with Kafka
   * transactions of 100 ms that took 30–45 ms, a record waited a third
   * longer for its commit than with Kafka Streams' commit interval.
   */
  #schedule(startedAt = performance.now()): void {
    const interval = this.#o.checkpoints?.intervalMs ?? 0;
    if (interval <= 0 || this.#finished) return;
    const delay = checkpointDelay(startedAt, interval, performance.now());
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      if (this.#finished) return;
      const started = performance.now();
      void this.#checkpoint('checkpoint').then(() => this.#schedule(started));
    }, delay);
  }

  /** Takes a checkpoint (or savepoint) after the one in flight; never rejects: failures are in the result. */
  #checkpoint(
    kind: 'checkpoint' | 'savepoint',
    savepointDir?: string,
    hold = false,
  ): Promise<CheckpointInfo> {
    const previous = this.#inFlight ?? Promise.resolve(undefined);
    const next = previous.then(() => this.#take(kind, savepointDir, hold));
    this.#inFlight = next;
    return next;
  }

  async #take(
    kind: 'checkpoint' | 'savepoint',
    savepointDir?: string,
    hold = false,
  ): Promise<CheckpointInfo> {
    const subtasks = this.#subtasks;
    if ((this.#finished && !this.#finalPending && kind === 'checkpoint') || subtasks === undefined) {
      this.#failed++;
      return notTaken(
        this.#nextId,
        kind,
        0,
        new EddyError(
          'EDDY_STATE_INVALID',
          subtasks === undefined
            ? 'the run has not started; no checkpoint taken'
            : 'the run has stopped; no checkpoint taken',
        ),
      );
    }
    const id = this.#nextId++;
    const t0 = performance.now();
    const info = await Promise.race([
      takeCheckpoint({
        participants: subtasks.participants,
        id,
        kind,
        parallelism: this.#o.parallelism,
        maxParallelism: this.#o.maxParallelism,
        pipeline: this.#o.pipeline,
        storage: this.#o.checkpoints?.storage,
        savepointDir,
        hold: hold || kind === 'savepoint',
      }),
      this.#failure.then((error) =>
        notTaken(
          id,
          kind,
          performance.now() - t0,
          new EddyError('EDDY_STATE_INVALID', `the run failed during ${kind} ${id}`, { cause: error }),
        ),
      ),
    ]);
    if (info.error === undefined) {
      this.#completed++;
      this.#last = info;
    } else this.#failed++;
    if ((hold || kind === 'savepoint') && info.error === undefined) this.#heldGates = true;
    this.#o.onCheckpoint?.(info);
    return info;
  }
}

/** What a checkpoint that was not taken (or did not finish) reports. */
function notTaken(
  id: number,
  kind: 'checkpoint' | 'savepoint',
  durationMs: number,
  error: EddyError,
): CheckpointInfo {
  return {
    id,
    kind,
    dir: '',
    bytes: 0,
    entries: 0,
    alignmentMs: 0,
    syncMs: 0,
    asyncMs: 0,
    durationMs,
    error,
  };
}

/** Sums every step's counters over subtasks; a watermark is the lowest over the subtasks where the step saw records. */
export function mergeMetrics(all: readonly PipelineMetrics[]): PipelineMetrics {
  const first = all[0];
  if (first === undefined) return { steps: {}, sourceRecords: 0, watermark: Number.NaN };
  const steps: Record<string, StepMetrics> = {};
  for (const [id, m] of Object.entries(first.steps)) {
    const parts = all.map((x) => x.steps[id]).filter((p) => p !== undefined);
    const live = parts.filter((p) => p.recordsIn > 0 || p.recordsOut > 0);
    steps[id] = {
      ...m,
      recordsIn: sum(parts, (p) => p.recordsIn),
      recordsOut: sum(parts, (p) => p.recordsOut),
      batchesIn: sum(parts, (p) => p.batchesIn),
      lateRecords: sum(parts, (p) => p.lateRecords),
      deadLetters: sum(parts, (p) => p.deadLetters),
      deadLettersByCode: sumByKey(parts.map((p) => p.deadLettersByCode)),
      lastDeadLetter: latest(parts.map((p) => p.lastDeadLetter)),
      alignmentWaitMs: sum(parts, (p) => p.alignmentWaitMs),
      backpressureMs: sum(parts, (p) => p.backpressureMs),
      busyMicros: sum(parts, (p) => p.busyMicros),
      subtaskBusyMicros: parts.flatMap((p) => p.subtaskBusyMicros ?? [p.busyMicros]),
      // Keyed subtasks hold disjoint keys, sampled at the same rate: their counts compare.
      hotKeys: parts
        .flatMap((p) => p.hotKeys ?? [])
        .sort((a, b) => b.count - a.count)
        .slice(0, 10),
      hotKeysTotal: sum(parts, (p) => p.hotKeysTotal ?? 0),
      ...(parts.some((p) => p.keyGroupRecords !== undefined)
        ? { keyGroupRecords: sumArrays(parts.map((p) => p.keyGroupRecords)) }
        : {}),
      stateEntries: sum(parts, (p) => p.stateEntries ?? 0),
      stateBytes: parts.every((p) => p.stateBytes === undefined)
        ? undefined
        : sum(parts, (p) => p.stateBytes ?? 0),
      watermark: Math.min(...(live.length > 0 ? live : parts).map((p) => p.watermark)),
    };
  }
  const watermarks = all.map((x) => x.watermark).filter((w) => !Number.isNaN(w));
  return {
    steps,
    sourceRecords: sum(all, (x) => x.sourceRecords),
    watermark: watermarks.length === 0 ? Number.NaN : Math.min(...watermarks),
  };
}

/** Element-wise sums (subtasks count disjoint key groups, so their counts add up). */
function sumArrays(all: readonly (readonly number[] | undefined)[]): number[] {
  const out: number[] = [];
  for (const a of all) if (a !== undefined) for (let i = 0; i < a.length; i++) out[i] = (out[i] ?? 0) + a[i]!;
  return out;
}

function sumByKey(all: readonly Readonly<Record<string, number>>[]): Record<string, number> {
  const out = new Map<string, number>();
  for (const counts of all)
    for (const [k, n] of Object.entries(counts ?? {})) out.set(k, (out.get(k) ?? 0) + n);
  return Object.fromEntries(out);
}

function latest<T extends { readonly at: number }>(all: readonly (T | undefined)[]): T | undefined {
  let best: T | undefined;
  for (const x of all) if (x !== undefined && (best === undefined || x.at > best.at)) best = x;
  return best;
}

function sum<T>(items: readonly T[], f: (t: T) => number): number {
  let n = 0;
  for (const t of items) n += f(t);
  return n;
}
