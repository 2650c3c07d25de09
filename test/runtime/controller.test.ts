/**
 * The one job controller (issue 13): the lifecycle every deployment shares —
 * checkpoint ids and counters, the final checkpoint, savepoints, failure —
 * over fake subtasks, and the one way metrics are merged.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { Participant } from '../../src/checkpoint/coordinator.ts';
import { CheckpointStorage } from '../../src/checkpoint/storage.ts';
import type { PipelineMetrics, StepMetrics } from '../../src/core/metrics.ts';
import { checkpointDelay, JobController, mergeMetrics, type Subtasks } from '../../src/runtime/controller.ts';

function fakeSubtasks(n: number, log: string[]): Subtasks {
  const participants: Participant[] = Array.from({ length: n }, (_, k) => ({
    park: async () => void log.push(`park ${k}`),
    drain: async () => ({ busy: false, sent: {}, received: {} }),
    snapshot: async (id) => void log.push(`snapshot ${k} ${id}`),
    openGate: () => void log.push(`open ${k}`),
    collect: async () => ({ meta: { tasks: {}, sources: {}, operators: {} }, chunks: [], entries: 0 }),
    complete: async (id) => void log.push(`complete ${k} ${id}`),
  }));
  return {
    participants,
    metrics: () => [],
    close: async () => void log.push('close'),
    cancel: async (why) => void log.push(`cancel ${why}`),
  };
}

const step = (recordsIn: number, watermark: number): StepMetrics =>
  ({
    recordsIn,
    recordsOut: recordsIn,
    batchesIn: 1,
    lateRecords: 0,
    deadLetters: 0,
    alignmentWaitMs: 0,
    watermark,
  }) as StepMetrics;

describe('job controller', () => {
  it('starts periodic checkpoints intervalMs apart, start to start, or at once after a long one', () => {
    // Started at 1,000 with a 100 ms interval: a checkpoint that ended at 1,030 waits 70 ms more (not 100).
    assert.equal(checkpointDelay(1000, 100, 1030), 70);
    assert.equal(checkpointDelay(1000, 100, 1000), 100);
    // One that took the whole interval or longer: the next starts at once (one at a time, as in Flink).
    assert.equal(checkpointDelay(1000, 100, 1100), 0);
    assert.equal(checkpointDelay(1000, 100, 1750), 0);
  });

  it('numbers checkpoints on from the one resumed from, takes a final one at the end, then closes', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'eddy-controller-'));
    try {
      const log: string[] = [];
      const infos: number[] = [];
      const c = new JobController({
        parallelism: 2,
        maxParallelism: 128,
        pipeline: 'p',
        checkpoints: { storage: new CheckpointStorage(dir, 3), intervalMs: 0 },
        restoredFrom: 7,
        onCheckpoint: (i) => infos.push(i.id),
      });
      c.attach(fakeSubtasks(2, log));
      const info = await c.triggerCheckpoint();
      assert.equal(info.error, undefined);
      assert.equal(info.id, 8);
      await c.finish();
      await c.done;
      assert.deepEqual(infos, [8, 9]);
      assert.equal(log.at(-1), 'close');
      assert.deepEqual(c.checkpointMetrics(), {
        completed: 2,
        failed: 0,
        last: c.checkpointMetrics().last,
        restoredFrom: 7,
      });
      const after = await c.triggerCheckpoint();
      assert.match(String(after.error), /the run has stopped/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a savepoint stops the subtasks in order; a failure stops them at once and rejects done', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'eddy-controller-'));
    try {
      const log: string[] = [];
      const c = new JobController({ parallelism: 1, maxParallelism: 128, pipeline: 'p' });
      c.attach(fakeSubtasks(1, log));
      const info = await c.stopWithSavepoint(join(dir, 'sp'));
      assert.equal(info.kind, 'savepoint');
      await c.done;
      assert.equal(log.at(-1), 'cancel savepoint');
      const log2: string[] = [];
      const d = new JobController({ parallelism: 1, maxParallelism: 128, pipeline: 'p' });
      d.attach(fakeSubtasks(1, log2));
      await d.fail(new Error('boom'));
      await assert.rejects(d.done, /boom/);
      assert.deepEqual(log2, ['cancel failure']);
      await assert.rejects(d.triggerCheckpoint(), /takes no checkpoints/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a failure during a stop at a savepoint or checkpoint ends it with the error instead of waiting for cancelled subtasks', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'eddy-controller-'));
    try {
      for (const stop of ['savepoint', 'checkpoint'] as const) {
        const log: string[] = [];
        const subtasks = fakeSubtasks(2, log);
        // Subtask 1 never parks: the barrier waits for it, as for a thread that died.
        let parking!: () => void;
        const parked = new Promise<void>((resolve) => {
          parking = resolve;
        });
        const stuck = {
          ...subtasks.participants[1]!,
          park: () => {
            parking();
            return new Promise<void>(() => {});
          },
        };
        const c = new JobController({
          parallelism: 2,
          maxParallelism: 128,
          pipeline: 'p',
          checkpoints: { storage: new CheckpointStorage(dir, 3), intervalMs: 0 },
        });
        c.attach({ ...subtasks, participants: [subtasks.participants[0]!, stuck] });
        const stopping = stop === 'savepoint' ? c.stopWithSavepoint(join(dir, 'sp')) : c.stopWithCheckpoint();
        await parked;
        await c.fail(new Error('thread 1 died'));
        await assert.rejects(stopping, new RegExp(`the run failed during ${stop} 1`));
        await assert.rejects(c.done, /thread 1 died/);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('merges metrics one way for every deployment: sums, and the lowest watermark of the subtasks that saw records', () => {
    const a: PipelineMetrics = { steps: { w: step(10, 500) }, sourceRecords: 10, watermark: 500 };
    const b: PipelineMetrics = { steps: { w: step(5, 300) }, sourceRecords: 5, watermark: 300 };
    const idle: PipelineMetrics = {
      steps: { w: step(0, Number.NEGATIVE_INFINITY) },
      sourceRecords: 0,
      watermark: Number.NaN,
    };
    const m = mergeMetrics([a, b, idle]);
    assert.equal(m.steps['w']!.recordsIn, 15);
    // Threaded runs used to report subtask 0's watermark (500) here.
    assert.equal(m.steps['w']!.watermark, 300);
    assert.equal(m.sourceRecords, 15);
    assert.equal(m.watermark, 300);
  });
});
