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
  /**
   * Whether the run takes checkpoints, so that `position` and
   * `checkpointComplete` will be called (absent: no). A source that
   * acknowledges to a broker does so on completion then, else on its own.
   */
  readonly checkpointing?: boolean;
  /**
   * What the deployment that runs the job hands its connectors (a Kafka
   * application's partition task, whose transaction its source and sinks
   * join); absent in the embedded runtime.
   */
  readonly deployment?: unknown;
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
  /**
   * With `Source.carriesWatermarks`: the source's watermark after this batch,
   * carried from upstream (an earlier stage's watermark, read from a topic);
   * undefined leaves it where it is. Records are not held to a bound then.
   */
  readonly watermark?: number;
  /**
   * With `Source.carriesWatermarks`: per record, the floor it carried from
   * upstream (`Batch.floors`: the watermark of its own source when it was
   * late there), or -Infinity for a record that was on time.
   */
  readonly floors?: number[];
  /**
   * With `Source.carriesWatermarks`: every upstream task is idle (true), or
   * one is active again (false); undefined leaves it as it is.
   */
  readonly idle?: boolean;
}

export interface SourceReader<T> {
  /**
   * The next records, at most `max`; an empty batch when none are ready now
   * (the runtime polls again shortly); `null` once the source is exhausted.
   */
  poll(max: number): SourceBatch<T> | null | Promise<SourceBatch<T> | null>;
  /**
   * Ends a `poll` that waits for records early, with what it has (an empty
   * batch if nothing): a checkpoint's barrier waits for the poll to return.
   * Optional; without it the barrier waits until records come or the poll
   * gives up on its own.
   */
  wake?(): void;
  /**
   * Where the reader is: every record handed out so far lies before it. Called
   * between polls at a checkpoint's barrier, with that checkpoint's id (the
   * runtime always passes it; a wrapper may not); the value is given back as `SourceContext.restored` on recovery. Must be plain
   * data (numbers, strings, arrays, objects). A source without it cannot be
   * checkpointed.
   */
  position?(checkpointId?: number): unknown;
  /**
   * Checkpoint `checkpointId` is complete (durable, and sinks have committed
   * its output): acknowledge to the broker exactly the records handed out
   * before the `position(checkpointId)` call of that checkpoint — never one
   * handed out after it, which the checkpoint does not cover. Flink's
   * `notifyCheckpointComplete`, for sources whose broker tracks delivery
   * (a JetStream consumer, a Redis consumer group) rather than an offset the
   * checkpoint stores.
   *
   * A completion subsumes earlier checkpoints: a checkpoint that failed or
   * was aborted is never notified, and the records of its barrier are
   * acknowledged by the next one that completes. So keep what was handed out
   * per barrier and, on completion of `id`, acknowledge every barrier up to
   * and including `id`. Called in the thread that runs the reader, once per
   * completed checkpoint or savepoint, in id order; the gate is open again by
   * then, so it may run while a `poll` awaits I/O. A rejection becomes the
   * checkpoint's error (a periodic one is counted as failed and the run goes
   * on; the final one fails the run); a source that can ride out a broker
   * outage should rather keep the acknowledgements for the next completion —
   * unacknowledged records are redelivered, so nothing is lost either way.
   *
   * With the hook, the runtime closes the reader only after the run's final
   * checkpoint has completed (or the run stopped), so the last records are
   * acknowledged too. Runs without checkpoints never call it: such a source
   * acknowledges on its own, e.g. at the next `poll` (the runtime polls again
   * only once the previous batch has passed the synchronous steps and any
   * backpressure has settled — as the Kafka source commits offsets).
   *
   * @example
   * ```ts
   * const barriers = new Map<number, number>(); // checkpoint id -> records handed out before it
   * let handedOut = 0, acked = 0;
   * const reader: SourceReader<Msg> = {
   *   poll: (max) => { const values = take(max); handedOut += values.length; return { values }; },
   *   position: (id) => { barriers.set(id, handedOut); return null; },
   *   checkpointComplete: async (id) => {
   *     for (const [cp, upTo] of barriers) if (cp <= id) { await ackUpTo(upTo); acked = upTo; barriers.delete(cp); }
   *   },
   * };
   * ```
   */
  checkpointComplete?(checkpointId: number): void | Promise<void>;
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
  /** A broker source: what it reads, for OpenTelemetry's messaging conventions. */
  readonly messaging?: MessagingTarget;
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
  /**
   * Whether the source knows its watermark and each record's lateness from
   * upstream (`SourceBatch.watermark`, `SourceBatch.floors`): a later stage
   * of a Kafka application reading what an earlier one wrote. Its records'
   * event times are the source's; `maxOutOfOrderness` and `timestamp` do not
   * apply.
   */
  readonly carriesWatermarks?: boolean;
  /**
   * Whether a run resumed from a checkpoint gets the records after the
   * checkpoint's position again (a file offset, a Kafka offset, a table's
   * last row, a broker that redelivers what was not acknowledged). Absent
   * means yes. `false` (an MQTT subscription, an HTTP endpoint) means the
   * source cannot go back: what was read after the last checkpoint is lost
   * by a crash — at-most-once — so a runner should say so rather than
   * refuse the source or promise more.
   */
  readonly replayable?: boolean;
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

/**
 * What OpenTelemetry's messaging semantic conventions call a broker
 * connector: its metrics carry `messaging.system` and
 * `messaging.destination.name` (issue 17).
 */
export interface MessagingTarget {
  /** `messaging.system`: `kafka`, `rabbitmq`, `nats`, `mqtt`, `redis`. */
  readonly system: string;
  /** `messaging.destination.name`: the topic, stream, queue or exchange (several joined with ","). */
  readonly destination: string;
}

/** What a sink promises about duplicates after a failure. */
export type DeliveryGuarantee = 'exactly-once' | 'idempotent' | 'at-least-once' | 'best-effort';

export interface SinkContext {
  readonly stepId: string;
  readonly clock: Clock;
  /** Whether the run takes checkpoints: an exactly-once sink then makes output visible only in `commit`. */
  readonly checkpointing: boolean;
  /**
   * Which subtask opens this writer, of how many (a `parallel` sink has one
   * writer per subtask; others one, in subtask 0), and this attempt of the
   * job: base-36 letters and digits, the same in every subtask and worker
   * thread, never reused by another attempt (a restart is a new one). Given
   * by the runtime; absent when a writer is opened by hand.
   */
  readonly subtask?: number;
  readonly parallelism?: number;
  readonly attempt?: string;
  /**
   * Set when the run resumes from a checkpoint: what `preCommit` returned for
   * it. Its commit may or may not have happened before the crash, so the
   * writer finishes it (idempotently) and discards anything written after it.
   */
  readonly restored?: unknown;
  /**
   * Sends a record the destination cannot take (larger than it accepts) to
   * the pipeline's dead letters with the reason — the payload is cut to
   * 64 KiB there — instead of failing the run, which would restart and meet
   * the same record again. Given by the runtime; absent when a writer is
   * opened by hand (a test), and then the sink fails instead (`refuse`).
   */
  readonly deadLetter?: (code: string, reason: string, payload: unknown) => void;
  /**
   * What the deployment that runs the job hands its connectors (a Kafka
   * application's partition task, whose transaction its source and sinks
   * join); absent in the embedded runtime.
   */
  readonly deployment?: unknown;
}

export interface SinkWriter<T> {
  /** Writes a batch; return a promise to make upstream wait until there is room. */
  write(values: readonly T[], times: readonly number[], floors?: readonly number[]): void | Promise<void>;
  /**
   * The watermark of the sink's input advanced (every record after it is
   * later, unless it carries a floor). Optional: for a sink that hands event
   * time on (a Kafka application's stage writing for the next stage).
   */
  watermark?(watermark: number): void;
  /** The sink's input went idle (true) or is active again (false). Optional, as `watermark`. */
  idle?(idle: boolean): void;
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
  /** A broker sink: what it writes to, for OpenTelemetry's messaging conventions. */
  readonly messaging?: MessagingTarget;
  /**
   * Each subtask writes through a writer of its own, where it is, instead of
   * every record being gathered into subtask 0 (the default): for sinks whose
   * writers are independent of each other and keep their guarantee each on
   * its own (a Kafka producer per subtask, say). A keyed upstream then keeps
   * each key's records in order, as each key is in one subtask.
   */
  readonly parallel?: boolean;
  open(ctx: SinkContext): SinkWriter<T> | Promise<SinkWriter<T>>;
}
