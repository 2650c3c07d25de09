/**
 * The operator of a sink step: it hands batches to the connector's writer and
 * passes the writer's "wait" promise upstream as backpressure. With
 * checkpoints it drives the writer's two-phase commit: pre-commit at the
 * barrier (the committable goes into the checkpoint), commit once the
 * checkpoint is durable.
 */
import type { Sink, SinkWriter } from '../connectors/types.ts';
import type { Batch } from '../runtime/batch.ts';
import type { Operator, OperatorContext, OperatorSnapshot } from '../runtime/operator.ts';

export class SinkOperator implements Operator {
  readonly #sink: Sink<unknown>;
  #writer: SinkWriter<unknown> | undefined;
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
      ...(restored === undefined ? {} : { restored }),
    });
  }

  processBatch(batch: Batch): void | Promise<void> {
    return this.#writer!.write(batch.values, batch.times);
  }

  async onCheckpoint(checkpointId: number): Promise<OperatorSnapshot | undefined> {
    const writer = this.#writer;
    if (writer?.preCommit === undefined) {
      await writer?.flush?.();
      return undefined;
    }
    const committable = await writer.preCommit(checkpointId);
    this.#pending.set(checkpointId, committable);
    return { data: committable };
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
    await this.#writer?.flush?.();
  }

  async onClose(): Promise<void> {
    const writer = this.#writer;
    this.#writer = undefined;
    await writer?.close?.();
  }
}
