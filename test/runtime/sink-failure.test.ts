/**
 * A sink whose write fails fails the run with its error, at every
 * parallelism, and the rejection is seen once: at parallelism 2 the failed
 * write's backpressure promise, shared by the thread's subtasks, also went
 * unhandled in the subtask whose sources had already ended (reported with
 * issue 16; node:test counts an unhandled rejection as a failure).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { arraySource, generatorSource, Pipeline, type Sink } from '../../src/index.ts';

function refusing(mode: 'sync' | 'async'): Sink<unknown> {
  return {
    kind: 'refusing',
    guarantee: 'at-least-once',
    open: () => ({
      write:
        mode === 'sync'
          ? () => {
              throw new Error('the destination refused the batch');
            }
          : async () => {
              await new Promise((r) => setTimeout(r, 2));
              throw new Error('the destination refused the batch');
            },
    }),
  };
}

describe('a sink whose write fails', () => {
  for (const parallelism of [1, 2, 3])
    for (const mode of ['sync', 'async'] as const)
      for (const split of [false, true])
        it(`fails the run once: parallelism ${parallelism}, ${mode} write, ${split ? 'split' : 'unsplit'} source`, async () => {
          const unhandled: unknown[] = [];
          const onUnhandled = (e: unknown) => unhandled.push(e);
          process.on('unhandledRejection', onUnhandled);
          try {
            const p = new Pipeline({ name: 'refused' });
            const source = split
              ? generatorSource({ count: 2000, splits: 3, make: (i) => ({ id: i }) })
              : arraySource(Array.from({ length: 50 }, (_, i) => ({ id: i })));
            p.source('s', source, { batchSize: 7 }).sink(refusing(mode));
            await assert.rejects(p.run({ parallelism, restart: false }), /the destination refused the batch/);
            // Unhandled rejections are reported after a turn of the event loop.
            await new Promise((r) => setTimeout(r, 50));
            assert.deepEqual(unhandled.map(String), []);
          } finally {
            process.off('unhandledRejection', onUnhandled);
          }
        });
});
