/**
 * The operator of a sink step: it hands batches to the connector's writer and
 * passes the writer's "wait" promise upstream as backpressure. With
 * checkpoints it drives the writer's two-phase commit: pre-commit at the
 * barrier (the committable goes into the checkpoint), commit once the
 * checkpoint is durable.
 */

import type { Batch } from '../core/batch.ts';
import type { Sink, SinkWriter } from '../core/connector.ts';
import type { Operator, OperatorContext, OperatorSnapshot } from './operator.ts';

export class SinkOperator implements Operator {
  readonly #sink: Sink<unknown>;
  #writer: SinkWriter<unknown> | undefined;
  // The last write that has not settled: the next waits for it (see processBatch).
  #inFlight: Promise<void> | undefined;
  // Pre-committed at a barrier, waiting for that checkpoint to complete: checkpoint id -> committable.
  readonly #pending = new Map<number, unknown>();

  constructor(sink: Sink<unknown>) {
    this.#sink = sink;
  }

  async onStart(ctx: OperatorContext): Promise<void> {
    const restored = ctx.restored?.data;
    this.#writer = await this.#sink.open({
      stepId: ctx.stepId,
      clock: ctx.clock,
      checkpointing: ctx.checkpointing,
      ...(ctx.subtask === undefined ? {} : { subtask: ctx.subtask }),
      ...(ctx.parallelism === undefined ? {} : { parallelism: ctx.parallelism }),
      ...(ctx.attempt === undefined ? {} : { attempt: ctx.attempt }),
      ...(ctx.deployment === undefined ? {} : { deployment: ctx.deployment }),
      deadLetter: (code, reason, payload) => ctx.deadLetter(code, reason, payload, Number.NaN),
      ...(restored === undefined ? {} : { restored }),
    });
  }

  /**
   * A writer's `write` is never called again before the promise of its
   * previous call has settled (issue 19): batches can arrive while one is
   * pending (from other subtasks' channels, or from a worker thread), and
   * writers — a file stream, a producer — are not made for overlapping
   * calls. Later batches queue behind the pending write, and the queue's
   * promise is this step's backpressure, so sources wait while it is long.
   */
  processBatch(batch: Batch): void | Promise<void> {
    const pending = this.#inFlight;
    const writer = this.#writer!;
    const written =
      pending === undefined
        ? writer.write(batch.values, batch.times, batch.floors)
        : pending.then(() => writer.write(batch.values, batch.times, batch.floors));
    if (written === undefined) return;
    const settled: Promise<void> = written.then(() => {
      if (this.#inFlight === settled) this.#inFlight = undefined;
    });
    this.#inFlight = settled;
    // Awaited as backpressure by the source loops, the next checkpoint and the end of input, which
    // fail the run with its error; a job cancelled meanwhile (a Kafka partition task stopped after a
    // failed commit) awaits it no more, and its rejection must not then end the process.
    settled.catch(() => {});
    return settled;
  }

  /** Tells a writer that hands event time on (`SinkWriter.watermark`); forwards the watermark unchanged. */
  onWatermark(watermark: number): number {
    const writer = this.#writer;
    if (writer?.watermark !== undefined) {
      // In order with the writes: after the batches before it.
      const pending = this.#inFlight;
      if (pending === undefined) writer.watermark(watermark);
      else void pending.then(() => writer.watermark!(watermark)).catch(() => {});
    }
    return watermark;
  }

  /** Tells a writer that hands event time on (`SinkWriter.idle`) that its input went idle or is active. */
  onIdle(idle: boolean): void {
    const writer = this.#writer;
    if (writer?.idle === undefined) return;
    const pending = this.#inFlight;
    if (pending === undefined) writer.idle(idle);
    else void pending.then(() => writer.idle!(idle)).catch(() => {});
  }

  /**
   * At the barrier (called synchronously there): the writes before it
   * finish, then the writer flushes or pre-commits. The snapshot finishes
   * while the sources go on, so batches after the barrier arrive meanwhile;
   * they queue behind the pre-commit, so the writer is never called during
   * it and no record after the barrier lands in this checkpoint's
   * committable (an exactly-once sink would write it again after a restore).
   */
  async onCheckpoint(checkpointId: number): Promise<OperatorSnapshot | undefined> {
    const before = this.#inFlight;
    let release!: () => void;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    // A write that failed before the barrier still fails the writes after it, as without a checkpoint.
    const after = before === undefined ? gate : before.then(() => gate);
    after.catch(() => {});
    this.#inFlight = after;
    try {
      await before;
      const writer = this.#writer;
      if (writer?.preCommit === undefined) {
        await writer?.flush?.();
        return undefined;
      }
      const committable = await writer.preCommit(checkpointId);
      this.#pending.set(checkpointId, committable);
      return { data: committable };
    } finally {
      release();
      if (this.#inFlight === after) this.#inFlight = undefined;
    }
  }

  async onCheckpointComplete(checkpointId: number): Promise<void> {
    const writer = this.#writer;
    // Commits in order; a checkpoint that failed leaves its committable to be covered by a later one.
    for (const [id, committable] of [...this.#pending]) {
      if (id > checkpointId) break;
      this.#pending.delete(id);
      if (id === checkpointId) await writer?.commit?.(id, committable);
    }
  }

  async onEnd(): Promise<void> {
    await this.#inFlight;
    await this.#writer?.flush?.();
  }

  async onClose(): Promise<void> {
    const writer = this.#writer;
    this.#writer = undefined;
    await writer?.close?.();
  }
}
