import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Worker } from 'node:worker_threads';
import type { Source, SourceBatch } from '../../src/core/connector.ts';
import { collectSink, Pipeline } from '../../src/index.ts';
import { WatermarkAlignment } from '../../src/runtime/alignment.ts';

const RECORDS = 4000;
const BATCH = 100;

interface Progress {
  /** The highest event time each subtask's reader has handed out (-1: none yet). */
  readonly max: number[];
  readonly done: boolean[];
  /** The most subtask 0 was ahead of subtask 1 (event-time ms) when it polled. */
  lead: number;
}

/**
 * A splittable source of RECORDS records per subtask, event time = index (ms),
 * BATCH per poll. Subtask 0 starts once subtask 1 has read its first batch and
 * then reads as fast as it can; subtask 1 waits 2 ms before every poll. With
 * `quiet`, subtask 1 stays silent until subtask 0 has finished: its reader
 * opens only then ('start'; subtask 0 then does not wait for it), or it
 * answers "nothing yet" after its first batch ('midway').
 */
function unevenSource(progress: Progress, quiet?: 'start' | 'midway'): Source<number> {
  return {
    kind: 'uneven',
    splittable: true,
    open(ctx) {
      const k = ctx.subtask;
      let next = 0;
      const batch = (): SourceBatch<number> | null => {
        if (next >= RECORDS) {
          progress.done[k] = true;
          return null;
        }
        if (k === 0 && progress.max[1]! >= 0 && !progress.done[1]) {
          progress.lead = Math.max(progress.lead, progress.max[0]! - progress.max[1]!);
        }
        const values: number[] = [];
        for (let i = 0; i < BATCH && next < RECORDS; i++) values.push(next++);
        progress.max[k] = next - 1;
        return { values, times: values };
      };
      const reader = {
        poll() {
          if (k === 0) return quiet !== 'start' && progress.max[1]! < 0 ? { values: [] } : batch();
          if (quiet === 'midway' && next === BATCH && !progress.done[0]) return { values: [] };
          return new Promise<SourceBatch<number> | null>((resolve) => setTimeout(() => resolve(batch()), 2));
        },
      };
      if (k === 0 || quiet !== 'start') return reader;
      return new Promise<typeof reader>((resolve) => {
        const check = () => (progress.done[0] ? resolve(reader) : setTimeout(check, 5));
        check();
      });
    },
  };
}

async function run(maxDrift: number, quiet?: 'start' | 'midway') {
  const progress: Progress = { max: [-1, -1], done: [false, false], lead: 0 };
  const p = new Pipeline({ name: 'alignment' });
  const out = collectSink<number>();
  p.source('s', unevenSource(progress, quiet), { maxDrift }).sink(out);
  const job = p.createJob({ parallelism: 2 });
  await job.start();
  // A run that waits forever fails the test (and stops) instead of hanging it; generous, so a
  // loaded machine is not mistaken for a hang.
  const stuck = setTimeout(() => void job.cancel(new Error('the run did not finish in 60 s')), 60_000);
  try {
    await job.done;
  } finally {
    clearTimeout(stuck);
  }
  return { progress, values: out.values, metrics: job.metrics() };
}

describe('watermark alignment between subtasks', () => {
  it('holds a fast subtask within maxDrift of a slow one, losing nothing', async () => {
    const { progress, values, metrics } = await run(300);
    // Checked before each poll, so the lead is at most maxDrift plus one batch (and the watermark's 1 ms).
    assert.ok(progress.lead <= 300 + BATCH + 1, `subtask 0 ran ${progress.lead} ms ahead`);
    assert.equal(values.length, 2 * RECORDS);
    assert.deepEqual(
      [...values].sort((a, b) => a - b),
      Array.from({ length: RECORDS }, (_, i) => [i, i]).flat(),
    );
    assert.ok(metrics.steps['s']!.alignmentWaitMs > 0, 'the fast reader waited');
  });

  it('lets a subtask run ahead without it (maxDrift: Infinity)', async () => {
    const { progress, metrics } = await run(Number.POSITIVE_INFINITY);
    assert.ok(progress.lead > 1000, `subtask 0 was only ${progress.lead} ms ahead`);
    assert.equal(metrics.steps['s']!.alignmentWaitMs, 0);
  });

  // Both would wait forever if a reader with nothing to read held the others back.
  it('a reader that has not started holds nobody back', async () => {
    const { values } = await run(300, 'start');
    assert.equal(values.length, 2 * RECORDS);
  });

  it('a reader that finds nothing for now holds nobody back', async () => {
    const { progress, values } = await run(300, 'midway');
    assert.equal(values.length, 2 * RECORDS);
    assert.ok(progress.lead > 1000, `subtask 0 was only ${progress.lead} ms ahead`);
  });

  it('rejects a negative or fractional maxDrift, naming the fix', () => {
    const p = new Pipeline({ name: 'x' });
    const src = unevenSource({ max: [-1, -1], done: [false, false], lead: 0 });
    assert.throws(() => p.source('s', src, { maxDrift: -1 }), /maxDrift must be an integer >= 0/);
    assert.throws(() => p.source('t', src, { maxDrift: 0.5 }), /maxDrift/);
  });
});

describe('watermark alignment between worker threads', () => {
  const module = new URL('./fixtures/uneven-module.ts', import.meta.url).href;
  const run = async (drift: number) => {
    const { default: mod } = (await import(module)) as typeof import('./fixtures/uneven-module.ts');
    const values = { drift };
    const pipeline = await mod.build(values);
    const running = await pipeline.startInThreads(module, values, { parallelism: 2 });
    await running.done;
    return running.metrics();
  };

  it('makes the fast thread wait for the slow one (the board is shared), and not without it', async () => {
    const aligned = await run(300);
    assert.equal(aligned.sourceRecords, 40_000);
    assert.ok(aligned.steps['s']!.alignmentWaitMs > 0, 'the fast reader waited');
    const free = await run(Number.POSITIVE_INFINITY);
    assert.equal(free.sourceRecords, 40_000);
    assert.equal(free.steps['s']!.alignmentWaitMs, 0);
  });
});

describe('WatermarkAlignment board', () => {
  it('gives the lowest known watermark; unknown slots count for nothing, finished ones as +Infinity', () => {
    const board = new WatermarkAlignment(['a', 'b'], 3);
    assert.equal(board.indexOf('b'), 1);
    assert.equal(board.indexOf('c'), -1);
    assert.equal(board.lowest(0), Number.NEGATIVE_INFINITY);
    board.publish(0, 2, 500.7);
    assert.equal(board.lowest(0), 500);
    board.publish(0, 0, 200);
    assert.equal(board.lowest(0), 200);
    board.publish(0, 0, Number.POSITIVE_INFINITY);
    assert.equal(board.lowest(0), 500);
    board.publish(0, 2, Number.POSITIVE_INFINITY);
    assert.equal(board.lowest(0), Number.POSITIVE_INFINITY);
    // Sources do not see each other's slots.
    assert.equal(board.lowest(1), Number.NEGATIVE_INFINITY);
    board.publish(1, 1, -5);
    assert.equal(board.lowest(1), -5);
  });

  it('wakes a waiting reader at the next publish, or at once if one came after its look', {
    timeout: 5000,
  }, async () => {
    const board = new WatermarkAlignment(['a'], 2);
    const seen = board.version(0);
    let woke = false;
    // Without the wake-up this waits its full 20 s and the test times out.
    const waiting = board.changed(0, seen, 20_000).then(() => {
      woke = true;
    });
    await new Promise((r) => setImmediate(r));
    assert.equal(woke, false);
    board.publish(0, 1, 7);
    await waiting;
    assert.ok(woke);
    await board.changed(0, seen, 20_000);
  });

  it('sees what a reader in a worker thread publishes, and wakes for it', { timeout: 10_000 }, async () => {
    const board = new WatermarkAlignment(['a'], 2);
    const seen = board.version(0);
    const worker = new Worker(new URL('./fixtures/alignment-worker.ts', import.meta.url), {
      workerData: board.buffer,
    });
    await board.changed(0, seen, 20_000);
    assert.equal(board.lowest(0), 42);
    await worker.terminate();
  });

  it('is shared through its buffer, as worker threads share it', () => {
    const board = new WatermarkAlignment(['a'], 2);
    const other = new WatermarkAlignment(['a'], 2, board.buffer);
    other.publish(0, 1, 42);
    assert.equal(board.lowest(0), 42);
    assert.throws(() => new WatermarkAlignment(['a', 'b'], 2, board.buffer), /expected 48/);
  });
});
