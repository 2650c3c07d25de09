/**
 * Test sources made from another by wrapping its reader's `poll`: a gate, a
 * failure at a chosen point. The wrapped reader keeps the inner one's splits
 * and position, so checkpoints and restores see the real source.
 */
import { existsSync, writeFileSync } from 'node:fs';
import type { Source, SourceBatch, SourceContext } from '../../src/core/connector.ts';

type Poll<T> = (max: number) => Promise<SourceBatch<T> | null>;

/** `source` with each reader's poll replaced by `wrap(ctx, innerPoll)`. */
export function wrapPoll<T>(
  source: Source<T>,
  wrap: (ctx: SourceContext, poll: Poll<T>) => Poll<T>,
): Source<T> {
  return {
    ...source,
    async open(ctx) {
      const reader = await source.open(ctx);
      return {
        ...(reader.splits === undefined ? {} : { splits: reader.splits }),
        ...(reader.position === undefined ? {} : { position: (id?: number) => reader.position!(id) }),
        poll: wrap(ctx, async (max) => reader.poll(max)),
      };
    },
  };
}

/** Throws once in the whole test (across restarts and threads): the first call leaves `marker`, later ones pass. */
export function failOnce(marker: string, what: string): void {
  if (existsSync(marker)) return;
  writeFileSync(marker, 'failed once');
  throw new Error(what);
}
