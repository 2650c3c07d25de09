/**
 * Regressions of issue 19: whether a record is late must not depend on the
 * parallelism, on worker threads, or on how far other subtasks have got. A
 * record is judged against its own split's watermark floor (Batch.floors), so
 * every run below gives the same late records and the same final windows.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import module, { type LatenessResults, lateness, results } from './fixtures/lateness-module.ts';

const url = new URL('./fixtures/lateness-module.ts', import.meta.url).href;

/** The last count per window (later results of a window update earlier ones). */
function finals(r: LatenessResults): Map<string, string> {
  const m = new Map<string, string>();
  for (const w of r.windows) {
    const [window, value] = w.split('=');
    m.set(window!, value!);
  }
  return m;
}

async function inProcess(which: string, parallelism: number): Promise<LatenessResults> {
  await lateness(which).run({ parallelism });
  return results.get(which)!;
}

async function inThreads(which: string, parallelism: number): Promise<LatenessResults> {
  const p = await module.build({ which });
  const running = await p.startInThreads(url, { which }, { parallelism });
  await running.done;
  return results.get(which)!;
}

describe('lateness is the same at any parallelism (issue 19)', () => {
  it('worker threads judge a record behind its source watermark late, as one thread does (5 runs each)', async () => {
    for (const parallelism of [2, 3])
      for (let run = 0; run < 5; run++) {
        const r = await inThreads('two', parallelism);
        assert.deepEqual(r.late, [0], `t=0 is late on ${parallelism} threads (run ${run})`);
        assert.deepEqual(r.windows, ['1@1000=1']);
      }
    const one = await inProcess('two', 1);
    assert.deepEqual(one.late, [0]);
    assert.deepEqual(one.windows, ['1@1000=1']);
  });

  it('a splittable generator with late records: the same late records and windows at 1, 2, 3 subtasks and on 2 threads', async () => {
    const base = await inProcess('generator', 1);
    assert.ok(base.late.length > 50, `late records (${base.late.length})`);
    const baseLate = [...base.late].sort((a, b) => a - b);
    const baseFinals = finals(base);
    for (const [name, run] of [
      ['2 subtasks', () => inProcess('generator', 2)],
      ['3 subtasks', () => inProcess('generator', 3)],
      ['2 threads', () => inThreads('generator', 2)],
    ] as const) {
      const r = await run();
      assert.deepEqual(
        [...r.late].sort((a, b) => a - b),
        baseLate,
        `late records at ${name}`,
      );
      assert.deepEqual(finals(r), baseFinals, `final windows at ${name}`);
    }
  });
});
