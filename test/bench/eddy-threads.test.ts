import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { pacedStream, runRoundHere } from '../../bench/nexmark/harness/eddy.ts';
import {
  runThreadedRound,
  sharedStart,
  stridedLinesSource,
} from '../../bench/nexmark/harness/eddy-threads.ts';
import { constant } from '../../bench/nexmark/harness/profiles.ts';
import { exportEvents } from '../../bench/peers/export.ts';
import type { SourceContext, SourceReader } from '../../src/index.ts';

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'eddy-threads-'));
});
after(() => rm(dir, { recursive: true, force: true }));

async function drain<T>(
  reader: SourceReader<T>,
  max: number,
  limit = Number.POSITIVE_INFINITY,
): Promise<T[]> {
  const out: T[] = [];
  while (out.length < limit) {
    const b = await reader.poll(max);
    if (b === null) break;
    out.push(...b.values);
  }
  return out;
}

const ctxOf = (subtask: number, parallelism: number, restored?: unknown) =>
  ({ subtask, parallelism, restored }) as unknown as SourceContext;

describe('the fair harness’s strided file source', () => {
  it('gives subtask k of n the lines k, k + n, …: every line once, in order, across reads and a restore', async () => {
    const path = join(dir, 'lines.jsonl');
    // Some lines not ASCII: a read's text then has fewer characters than bytes.
    // Line 300 is longer than a decoding region (16 KiB).
    const lines = Array.from({ length: 1000 }, (_, i) =>
      JSON.stringify({ i, pad: (i % 300 === 7 ? 'é' : 'x').repeat(i === 300 ? 40_000 : i % 97) }),
    );
    // An empty line is skipped (it is no line of any subtask); the last line has no newline.
    await writeFile(path, `${lines.slice(0, 500).join('\n')}\n\n${lines.slice(500).join('\n')}`);
    for (const n of [1, 2, 3]) {
      const counts = new Float64Array(16);
      const got: number[][] = [];
      for (let k = 0; k < n; k++) {
        const source = stridedLinesSource(path, counts);
        const first = await source.open(ctxOf(k, n));
        const head = await drain(first, 7, 50);
        const position = first.position!();
        await first.close?.();
        const again = await source.open(ctxOf(k, n, position));
        const rest = await drain(again, 64);
        got.push([...head, ...rest].map((e) => (e as unknown as { i: number }).i));
      }
      for (let k = 0; k < n; k++) {
        const want = lines.map((_, i) => i).filter((i) => i % n === k);
        assert.deepEqual(got[k], want, `n=${n} k=${k}`);
      }
      // Each subtask counts what it handed out, on its own slot of the board.
      assert.equal(
        Array.from(counts).reduce((a, b) => a + b, 0),
        1000,
      );
    }
  });
});

describe('a fair round on worker threads', () => {
  it('reads every event once and gives the outputs of one thread, with and without checkpoints', async () => {
    const file = join(dir, 'events.jsonl');
    await exportEvents(file, { count: 20_000, seed: 3 });
    for (const query of ['q5', 'q8']) {
      const spec = {
        query,
        eventsFile: file,
        events: 20_000,
        profile: { kind: 'max' as const },
        intervalMs: 1000,
      };
      const one = await runRoundHere(spec);
      const two = await runThreadedRound({ ...spec, parallelism: 2 });
      assert.equal(two.events, 20_000);
      assert.equal(two.outputs, one.outputs, `${query}: 2 threads against 1`);
      const three = await runThreadedRound({
        ...spec,
        parallelism: 3,
        checkpoint: { dir: join(dir, `ck-${query}`), intervalMs: 50 },
      });
      assert.equal(three.outputs, one.outputs, `${query}: 3 threads with checkpoints against 1`);
    }
  });
});

describe('the paced schedule of a threaded round', () => {
  it('starts once for all subtasks: the first to end its warm-up fixes the origin', async () => {
    const cell = new BigInt64Array(new SharedArrayBuffer(8));
    const first = sharedStart(cell)();
    await new Promise((r) => setTimeout(r, 20));
    const later = sharedStart(cell)();
    // Both read the origin the first call fixed (µs on the shared cell: equal to well under 1 ms).
    assert.ok(Math.abs(later - first) < 0.01, `${first} and ${later}`);
    assert.notEqual(cell[0], 0n);
  });

  it('paces from the shared origin: a subtask whose warm-up ends late is behind it and reads what is due at once', async () => {
    const file = join(dir, 'paced.jsonl');
    await exportEvents(file, { count: 5_000, seed: 5 });
    // The origin was fixed a second ago (by another subtask) at 2,000 events/s: 2,000 were due then.
    const origin = performance.now() - 1000;
    const source = pacedStream(
      stridedLinesSource(file, new Float64Array(16)),
      constant(2_000),
      { t0: 0 },
      100,
      () => origin,
    );
    const reader = await source.open({ ...ctxOf(0, 1), signal: new AbortController().signal });
    const warm = await drain(reader, 1024, 100);
    assert.equal(warm.length, 100);
    // One poll: every event due by now (at least 2,000: the clock only moves on), with no wait.
    const b = await reader.poll(5_000);
    assert.ok(b !== null && b.values.length >= 2_000, `handed ${b?.values.length}`);
    await reader.close?.();
  });
});
