/**
 * The one operator lifecycle. `processBatch` is required; every other hook is
 * optional and defaults to doing nothing (Arroyo's ArrowOperator, Kafka's
 * Processor). Operators never call each other: they write to an {@link Output},
 * and the task that owns them hands the buffered batches downstream.
 */

import type { Batch } from '../core/batch.ts';
import type { Clock } from '../core/clock.ts';
import type { StepCounters } from '../core/metrics.ts';
import type { KeyedStateBackend } from '../state/backend.ts';

/** An operator's own part of a checkpoint, besides its state tables. */
export interface OperatorSnapshot {
  /** Keyed items kept outside the state backend (timers), by name and key group, so a restore can re-split them. */
  readonly keyed?: readonly KeyedItems[];
  /** Anything else the operator needs back (a sink's pending commit). Encoded with the checkpoint codec. */
  readonly data?: unknown;
}

export interface KeyedItems {
  readonly name: string;
  readonly keyGroup: number;
  readonly items: unknown[];
}

/** What an operator gets back when the run resumes from a checkpoint or savepoint. */
export interface RestoredOperator {
  readonly checkpointId: number;
  /** The operator's input watermark at the checkpoint. */
  readonly watermark: number;
  /** Its keyed items for the key groups this worker owns, by name (items of all groups concatenated). */
  readonly keyed: ReadonlyMap<string, unknown[]>;
  /** What its snapshot returned as `data`. */
  readonly data: unknown;
}

/** What to do when a user function throws on a record. */
export type ErrorPolicy = 'dead-letter' | 'fail';

export interface OperatorContext {
  readonly stepId: string;
  readonly clock: Clock;
  readonly state: KeyedStateBackend;
  readonly metrics: StepCounters;
  readonly errorPolicy: ErrorPolicy;
  readonly batchSize: number;
  readonly lingerMs: number;
  /** The task's output (what `processBatch` gets), for work started outside a batch (restored timers). */
  readonly output: Output;
  /** Whether this run takes checkpoints (sinks then commit only on checkpoint completion). */
  readonly checkpointing: boolean;
  /** Which subtask runs this operator, of how many, and this attempt of the job (the same in every subtask, never reused). */
  readonly subtask?: number;
  readonly parallelism?: number;
  readonly attempt?: string;
  /** The deployment's hand-over to connectors (`SinkContext.deployment`); absent when embedded. */
  readonly deployment?: unknown;
  /** Set when the run resumed from a checkpoint: the operator's snapshot. State tables are already restored. */
  readonly restored: RestoredOperator | undefined;
  /**
   * Sends a record that could not be processed to the dead-letter output, with
   * the reason; `stepId` names a chained step other than the task's own.
   */
  deadLetter(code: string, reason: string, payload: unknown, time: number, stepId?: string): void;
  /**
   * Runs `fn` at processing time `at`; whatever it emits is flushed downstream
   * afterwards. Returns a cancel function.
   */
  scheduleProcessingTime(at: number, fn: () => void): () => void;
  /** Reports an error that must stop the pipeline (from async work, where throwing would be lost). */
  fail(error: unknown): void;
}

/**
 * Where an operator writes its results. Records buffer per output tag and move
 * downstream as batches when a buffer fills, when the operator returns, and
 * always before a watermark.
 */
export interface Output {
  /** Emits one record on the main output. */
  emit(value: unknown, time: number): void;
  /**
   * Emits one record on output `tag` (side outputs are 1, 2, ... as the plan
   * numbered them); `floor` passes on the record's watermark floor (see
   * `Batch.floors`) when the record goes on unchanged.
   */
  emitTo(tag: number, value: unknown, time: number, floor?: number): void;
  /** Emits a whole batch (keys and groups included) on output `tag` (default: main) without copying it. */
  emitBatch(batch: Batch, tag?: number): void;
  /** Hands every buffered record downstream now. */
  flush(): void;
  /** Forwards a watermark (after flushing). Only for operators that hold watermarks back themselves. */
  watermark(time: number): void;
}

export interface Operator {
  /** Called once before the first record. */
  onStart?(ctx: OperatorContext): void | Promise<void>;
  /**
   * Processes one batch from input `input` (0 for single-input operators).
   * Returning a promise asks upstream to wait before sending more (backpressure).
   */
  processBatch(batch: Batch, input: number, out: Output): void | Promise<void>;
  /**
   * The combined input watermark advanced to `watermark`. Fire what is due and
   * return the watermark to forward: usually `watermark`; lower to hold it back
   * (the operator then forwards it later through {@link Output.watermark}).
   */
  onWatermark?(watermark: number, out: Output): number;
  /**
   * Every input went idle (no data for the sources' idle timeout), or one
   * became active again. Downstream may now advance its watermark without
   * this task, so anything held back for a later watermark should go now.
   */
  onIdle?(idle: boolean, out: Output): void;
  /**
   * A checkpoint barrier reached the operator (sources are paused): finish
   * work in flight, emitting its results, so that the snapshot is complete.
   */
  onBarrier?(out: Output): void | Promise<void>;
  /**
   * Snapshot what is not in state tables (timers; a sink pre-commits here).
   * Synchronous work happens at the barrier; a returned promise keeps the
   * sources paused until it settles, so keep it short.
   */
  onCheckpoint?(checkpointId: number): OperatorSnapshot | undefined | Promise<OperatorSnapshot | undefined>;
  /** The checkpoint is durable: make its pre-committed output visible. */
  onCheckpointComplete?(checkpointId: number): void | Promise<void>;
  /** Every input has ended; emit what remains. The end is forwarded once the returned promise settles. */
  onEnd?(out: Output): void | Promise<void>;
  /** Called once when the pipeline stops, after the end or on failure. */
  onClose?(): void | Promise<void>;
}
