/**
 * The operator of a sink step: it hands batches to the connector's writer and
 * passes the writer's "wait" promise upstream as backpressure.
 */
import type { Sink, SinkWriter } from '../connectors/types.ts';
import type { Batch } from '../runtime/batch.ts';
import type { Operator, OperatorContext } from '../runtime/operator.ts';

export class SinkOperator implements Operator {
  readonly #sink: Sink<unknown>;
  #writer: SinkWriter<unknown> | undefined;

  constructor(sink: Sink<unknown>) {
    this.#sink = sink;
  }

  async onStart(ctx: OperatorContext): Promise<void> {
    this.#writer = await this.#sink.open({ stepId: ctx.stepId, clock: ctx.clock });
  }

  processBatch(batch: Batch): void | Promise<void> {
    return this.#writer!.write(batch.values, batch.times);
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
