/**
 * Regressions of issue 19 point 7: at parallelism > 1 a sink writer received
 * up to 10 `write()` calls at once, the JSON Lines sink warned of too many
 * 'drain' listeners, and a slow sink did not hold the sources back.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { generatorSource, jsonLinesSink, Pipeline, type Sink, type Source } from '../../src/index.ts';
import { wrapPoll } from '../helpers/wrap-source.ts';

const BATCH = 50;

/** Counts the records every subtask's reader handed out. */
function counted<T>(source: Source<T>, handed: { n: number }): Source<T> {
  return wrapPoll(source, (_ctx, poll) => async (max) => {
    const b = await poll(max);
    if (b !== null) handed.n += b.values.length;
    return b;
  });
}

function generator() {
  return generatorSource({
    count: 20_000,
    splits: 6,
    startTime: 0,
    make: (i, g) => ({ i, k: i % 97, t: g.time }),
  });
}

describe('sinks (issue 19)', () => {
  it('a write is never called before the previous one settled, and a slow sink holds the sources back', async () => {
    for (const parallelism of [2, 3]) {
      const handed = { n: 0 };
      let written = 0;
      let pending = false;
      let overlaps = 0;
      let ahead = 0;
      const slow: Sink<{ i: number }> = {
        kind: 'slow',
        guarantee: 'best-effort',
        open: () => ({
          write(values) {
            if (pending) overlaps++;
            pending = true;
            ahead = Math.max(ahead, handed.n - written);
            return new Promise<void>((resolve) =>
              setTimeout(() => {
                written += values.length;
                pending = false;
                resolve();
              }, 1),
            );
          },
        }),
      };
      const p = new Pipeline({ batchSize: BATCH });
      p.source('gen', counted(generator(), handed), { timestamp: (r) => r.t })
        .keyBy((r) => r.k)
        .map((r) => r)
        .sink(slow);
      await p.run({ parallelism });
      assert.equal(written, 20_000, `every record written at ${parallelism}`);
      assert.equal(overlaps, 0, `writes overlapped at ${parallelism}`);
      // Each subtask's reader may have one batch out beyond what waits on the sink, and a few in flight.
      assert.ok(
        ahead <= 4 * parallelism * BATCH,
        `the sources ran ${ahead} records ahead of the sink at ${parallelism}`,
      );
    }
  });

  it('the JSON Lines sink under parallelism 3: every line once, no listener warning', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'eddy-sink-'));
    const warnings: string[] = [];
    const onWarning = (w: Error) => warnings.push(`${w.name}: ${w.message}`);
    process.on('warning', onWarning);
    try {
      const path = join(dir, 'out.jsonl');
      const p = new Pipeline({ batchSize: BATCH });
      p.source('gen', generator(), { timestamp: (r) => r.t })
        .keyBy((r) => r.k)
        // ~2 KB per line, so the file stream's buffer fills and writers wait for 'drain'.
        .map((r) => ({ i: r.i, pad: 'x'.repeat(2000) }))
        .sink(jsonLinesSink({ path }));
      await p.run({ parallelism: 3 });
      await new Promise((r) => setImmediate(r));
      const ids = readFileSync(path, 'utf8')
        .trim()
        .split('\n')
        .map((l) => (JSON.parse(l) as { i: number }).i)
        .sort((a, b) => a - b);
      assert.deepEqual(
        ids,
        Array.from({ length: 20_000 }, (_, i) => i),
      );
      assert.deepEqual(
        warnings.filter((w) => /MaxListeners/.test(w)),
        [],
      );
    } finally {
      process.off('warning', onWarning);
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a checkpoint pre-commits before any write after its barrier, and never alongside one', async () => {
    // The snapshot of a checkpoint finishes after the sources go on: batches after the barrier reach
    // the sink while its pre-commit waits for the writes before it. They must wait for the
    // pre-commit: a writer is not made for overlapping calls, and a record written before the
    // pre-commit would go into this checkpoint's committable (an exactly-once sink would write it
    // twice after a restore from this checkpoint).
    const dir = mkdtempSync(join(tmpdir(), 'eddy-sink-barrier-'));
    try {
      let busy: string | undefined;
      const overlaps: string[] = [];
      const written: number[] = [];
      const committed: number[][] = [];
      const enter = (what: string) => {
        if (busy !== undefined) overlaps.push(`${what} during ${busy}`);
        busy = what;
      };
      const slowly = () => new Promise((r) => setTimeout(r, 3));
      const sink: Sink<{ i: number }> = {
        kind: 'strict',
        guarantee: 'exactly-once',
        open: () => ({
          async write(values) {
            enter('write');
            await slowly();
            for (const v of values) written.push(v.i);
            busy = undefined;
          },
          async preCommit() {
            enter('preCommit');
            await slowly();
            const part = written.splice(0);
            busy = undefined;
            return part;
          },
          commit(_id, part) {
            committed.push(part as number[]);
          },
        }),
      };
      const p = new Pipeline({ name: 'barrier' });
      p.source('n', generatorSource({ count: 3000, make: (i) => ({ i }) }), { batchSize: 20 }).sink(sink);
      await p.run({ checkpoints: { dir, intervalMs: 5 }, restart: false });
      assert.deepEqual(overlaps, []);
      // Every record once across the committables, in order.
      assert.deepEqual(
        committed.flat(),
        Array.from({ length: 3000 }, (_, i) => i),
      );
      assert.ok(committed.length > 2, `several checkpoints (${committed.length})`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
