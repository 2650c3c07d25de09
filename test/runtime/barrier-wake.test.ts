/**
 * A checkpoint's barrier does not wait for a poll that waits for records
 * (`SourceReader.wake`): closing the gate wakes the reader, its poll returns
 * what it has, and the source loop parks at once instead of after its pause.
 * Before, a Kafka application's task waited up to its poll's 50 ms, or until
 * the next fetch, at every commit (the Kafka latency bench: 10 ms of a 38 ms
 * commit at 84,000 events/s).
 *
 * The reader here waits for records for ever unless woken, so without the
 * wake the checkpoint never completes and the test fails at its timeout; no
 * timing is measured.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { CheckpointStorage } from '../../src/checkpoint/storage.ts';
import type { Source, SourceBatch } from '../../src/core/connector.ts';
import { collectSink, Pipeline } from '../../src/index.ts';

/** Hands out `first`, then waits for records that never come until `wake`; counts the wakes. */
function quietSource(first: number[], o: { wakes: number; polls: number }): Source<number> {
  return {
    kind: 'quiet',
    open() {
      let handed = false;
      let wake: (() => void) | undefined;
      return {
        poll(): SourceBatch<number> | Promise<SourceBatch<number>> {
          o.polls++;
          if (!handed) {
            handed = true;
            return { values: first, times: first };
          }
          return new Promise((resolve) => {
            wake = () => resolve({ values: [] });
          });
        },
        wake() {
          o.wakes++;
          const w = wake;
          wake = undefined;
          w?.();
        },
        position: () => ({ handed }),
      };
    },
  };
}

describe('a checkpoint barrier and a poll waiting for records', () => {
  it('wakes the poll: the checkpoint completes though no record comes', { timeout: 60_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'eddy-wake-'));
    const counts = { wakes: 0, polls: 0 };
    const p = new Pipeline({ name: 'barrier-wake' });
    const out = collectSink<number>();
    p.source('s', quietSource([1, 2, 3], counts)).sink(out);
    const job = p.createJob({
      parallelism: 1,
      checkpoints: { storage: new CheckpointStorage(dir, 3), intervalMs: 0 },
    });
    try {
      await job.start();
      // The reader is in its waiting poll once it has been polled twice.
      while (counts.polls < 2) await new Promise((r) => setTimeout(r, 5));
      for (let i = 1; i <= 3; i++) {
        const info = await job.triggerCheckpoint();
        assert.equal(info.error, undefined, String(info.error));
        assert.equal(counts.wakes, i, 'the gate woke the reader once per checkpoint');
        // Polled again after the gate opened: waiting again for the next barrier to wake it.
        while (counts.polls < 2 + i) await new Promise((r) => setTimeout(r, 5));
      }
      assert.deepEqual(out.values, [1, 2, 3]);
    } finally {
      await job.cancel(new Error('done'));
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
