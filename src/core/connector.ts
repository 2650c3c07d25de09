/**
 * The contracts between the runtime and connectors. A source hands out batches
 * when asked (pull), so a slow pipeline simply asks less often; a sink receives
 * batches and may return a promise to make upstream wait (backpressure).
 */
import type { Clock } from './clock.ts';

export interface SourceContext {
  readonly stepId: string;
  readonly clock: Clock;
  /** The most records one poll should return. */
  readonly batchSize: number;
  /** Records the source could not decode go here, with the reason, instead of stopping the pipeline. */
  deadLetter(code: string, reason: string, payload: unknown): void;
  /** Aborted when the pipeline stops; a source waiting on I/O should give up then. */
  readonly signal: AbortSignal;
  /**
   * Set when the run resumes from a checkpoint: what `position()` returned
   * there. The reader must continue right after it.
   */
  readonly restored?: unknown;
  /** Which subtask opens this reader, of how many. A splittable source reads only this subtask's share. */
  readonly subtask: number;
  readonly parallelism: number;
  /** When the job started (the clock's time): the same for every subtask. */
  readonly jobStart: number;
}

/** One poll's worth of records. */
export interface SourceBatch<T> {
  readonly values: T[];
  /** Event times the source knows (a Kafka record's timestamp, a generator's clock); else taken from options. */
  readonly times?: number[];
  /**
   * The split these records come from (a partition, a file). Watermarks are
   * tracked per split: the source's is the lowest over splits that are not
   * idle. An empty batch with a split registers it before its first record.
   */
  readonly split?: string;
}

export interface SourceReader<T> {
  /**
   * The next records, at most `max`; an empty batch when none are ready now
   * (the runtime polls again shortly); `null` once the source is exhausted.
   */
  poll(max: number): SourceBatch<T> | null | Promise<SourceBatch<T> | null>;
  /**
   * Where the reader is: every record handed out so far lies before it. Called
   * between polls at a checkpoint; the value is given back as
   * `SourceContext.restored` on recovery. Must be plain data (numbers,
   * strings, arrays, objects). A source without it cannot be checkpointed.
   */
  position?(): unknown;
  close?(): void | Promise<void>;
  /**
   * The splits this reader will read, when it knows them on opening (a
   * generator's): each holds the source's watermark back from the start,
   * before its first record. Splits found later register with an empty batch.
   */
  readonly splits?: readonly string[];
}

/**
 * A source of records of type `T`.
 *
 * @example
 * ```ts
 * const numbers: Source<number> = {
 *   kind: 'numbers',
 *   open() { let i = 0; return { poll: (max) => (i >= 10 ? null : { values: [i++] }) }; },
 * };
 * ```
 */
export interface Source<T> {
  readonly kind: string;
  /**
   * Whether every subtask opens a reader that reads its own share (a Kafka
   * consumer in a group, a generator's splits). Otherwise only subtask 0 reads.
   * A splittable source's `position()` is an object keyed by split id, so a
   * restore at another parallelism can hand each split to its new owner: every
   * subtask gets the positions of all splits as `restored`.
   */
  readonly splittable?: boolean;
  /** How many splits a splittable source has, when known up front (a generator's): with 1, only one subtask reads. */
  readonly splits?: number;
  /**
   * Whether its batches carry each record's event time (`SourceBatch.times`:
   * a generator's clock, a Kafka record's timestamp). Such a source needs no
   * `timestamp` option before a window or join; any other does.
   */
  readonly eventTimes?: boolean;
  open(ctx: SourceContext): SourceReader<T> | Promise<SourceReader<T>>;
}

/** How a source's records get event time and watermarks. */
export interface SourceOptions<T> {
  /** Extracts a record's event time (epoch ms). Default: the time the source gives, else ingestion time. */
  readonly timestamp?: (value: T) => number;
  /** How far out of order (ms) records may arrive before they count as late. Default 0. */
  readonly maxOutOfOrderness?: number;
  /** After this long (ms of processing time) without records the source is idle and stops holding back watermarks. */
  readonly idleTimeout?: number;
  /** The most records per batch. */
  readonly batchSize?: number;
  /**
   * At parallelism > 1, how far (ms of event time) one subtask's reader of a
   * splittable source may run ahead of the slowest subtask's before it waits
   * (watermark alignment). Default 1,000; `Infinity` turns alignment off.
   */
  readonly maxDrift?: number;
}

/** What a sink promises about duplicates after a failure. */
export type DeliveryGuarantee = 'exactly-once' | 'idempotent' | 'at-least-once' | 'best-effort';

export interface SinkContext {
  readonly stepId: string;
  readonly clock: Clock;
  /** Whether the run takes checkpoints: an exactly-once sink then makes output visible only in `commit`. */
  readonly checkpointing: boolean;
  /**
   * Set when the run resumes from a checkpoint: what `preCommit` returned for
   * it. Its commit may or may not have happened before the crash, so the
   * writer finishes it (idempotently) and discards anything written after it.
   */
  readonly restored?: unknown;
}

export interface SinkWriter<T> {
  /** Writes a batch; return a promise to make upstream wait until there is room. */
  write(values: readonly T[], times: readonly number[]): void | Promise<void>;
  /** Makes everything written so far durable (called at the end). */
  flush?(): void | Promise<void>;
  /**
   * Two-phase commit, phase one, at a checkpoint barrier: make everything
   * written so far durable but not yet visible, and return what `commit`
   * needs (plain data; stored in the checkpoint).
   */
  preCommit?(checkpointId: number): unknown | Promise<unknown>;
  /** Phase two, once the checkpoint is complete: make the pre-committed output visible. */
  commit?(checkpointId: number, committable: unknown): void | Promise<void>;
  close?(): void | Promise<void>;
}

/**
 * A destination for records of type `T`.
 *
 * @example
 * ```ts
 * const log: Sink<string> = {
 *   kind: 'log', guarantee: 'best-effort',
 *   open: () => ({ write: (values) => { for (const v of values) console.log(v); } }),
 * };
 * ```
 */
export interface Sink<T> {
  readonly kind: string;
  readonly guarantee: DeliveryGuarantee;
  open(ctx: SinkContext): SinkWriter<T> | Promise<SinkWriter<T>>;
}
