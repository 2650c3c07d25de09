/**
 * `jsonLinesPartsSink` (issue 15: a sink that writes from every subtask):
 * each subtask writes its own part files, made visible by a rename when a
 * checkpoint completes. Checked against a parallelism-1 run of the same
 * pipeline: every result exactly once across a restart, and across a resume
 * at another parallelism; no work-in-progress file is left behind.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import {
  EddyError,
  generatorSource,
  jsonLinesPartsSink,
  Pipeline,
  type Sink,
  tumbling,
} from '../../src/index.ts';

const FAST = { initialBackoffMs: 1, maxBackoffMs: 5 };

function pipeline(sink: Sink<unknown>): Pipeline {
  const p = new Pipeline({ name: 'parts', batchSize: 50 });
  p.source(
    'in',
    generatorSource({
      count: 6000,
      splits: 2,
      startTime: 0,
      make: (i, g) => ({ i, k: `k${i % 7}`, t: g.time }),
    }),
    { timestamp: (r) => r.t },
  )
    .keyBy((r) => r.k)
    .window(tumbling(500))
    .count()
    .sink(sink);
  return p;
}

/** The parts sink, whose writers opened while `failures.left` > 0 fail on their third write. */
function flaky(dir: string, failures: { left: number }): Sink<unknown> {
  const inner = jsonLinesPartsSink<unknown>({ dir });
  return {
    ...inner,
    async open(ctx) {
      const writer = await inner.open(ctx);
      const failsNow = failures.left-- > 0;
      let writes = 0;
      return {
        ...writer,
        write(values, times) {
          if (failsNow && ++writes === 3) throw new EddyError('EDDY_IO_FAILED', 'the disk went away');
          return writer.write(values, times);
        },
      };
    },
  };
}

async function expected(): Promise<string[]> {
  const out: string[] = [];
  await pipeline({
    kind: 'collect',
    guarantee: 'best-effort',
    open: () => ({
      write(values) {
        for (const v of values) out.push(JSON.stringify(v));
      },
    }),
  }).run({ parallelism: 1 });
  return out.sort();
}

/** Every committed line of every part, sorted; and the files that are not committed parts. */
function read(dir: string): { lines: string[]; parts: string[]; other: string[] } {
  const names = readdirSync(dir);
  const parts = names.filter((n) => /^part-.*\.jsonl$/.test(n));
  const lines = parts.flatMap((n) =>
    readFileSync(join(dir, n), 'utf8')
      .split('\n')
      .filter((l) => l !== ''),
  );
  return { lines: lines.sort(), parts, other: names.filter((n) => !parts.includes(n)) };
}

describe('jsonLinesPartsSink', () => {
  it('writes parts from every subtask; a restart after a failed write loses and repeats nothing', async () => {
    const root = mkdtempSync(join(tmpdir(), 'eddy-parts-'));
    try {
      const out = join(root, 'out');
      mkdirSync(out);
      const running = await pipeline(flaky(out, { left: 2 })).start({
        parallelism: 2,
        checkpoints: { dir: join(root, 'cp'), intervalMs: 5 },
        restart: FAST,
      });
      await running.done;
      assert.ok((running.metrics().restarts ?? 0) >= 1, 'it restarted');
      const got = read(out);
      assert.deepEqual(got.other, [], 'no pending or in-progress file left');
      assert.deepEqual(got.lines, await expected());
      // Both subtasks wrote parts (part-<run>-<subtask>-<checkpoint>.jsonl).
      const subtasks = new Set(got.parts.map((n) => n.split('-')[2]));
      assert.deepEqual([...subtasks].sort(), ['0', '1']);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  it('a run that failed resumes from its checkpoint at another parallelism; every result once', async () => {
    const root = mkdtempSync(join(tmpdir(), 'eddy-parts-'));
    try {
      const out = join(root, 'out');
      mkdirSync(out);
      const checkpoints = { dir: join(root, 'cp'), intervalMs: 5 };
      const first = await pipeline(flaky(out, { left: 2 })).start({
        parallelism: 2,
        checkpoints,
        restart: false,
      });
      await assert.rejects(first.done, /the disk went away/);
      const left = read(out);
      assert.ok(left.lines.length < (await expected()).length, 'the failed run did not finish');
      const second = await pipeline(jsonLinesPartsSink({ dir: out })).start({
        parallelism: 3,
        checkpoints,
        resumeFrom: 'latest',
      });
      await second.done;
      const got = read(out);
      assert.deepEqual(got.other, [], 'no pending or in-progress file left');
      assert.deepEqual(got.lines, await expected());
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  it('in worker threads: each thread writes its own parts, as a run in one thread writes one file', async () => {
    const root = mkdtempSync(join(tmpdir(), 'eddy-parts-'));
    try {
      const out = join(root, 'out');
      mkdirSync(out);
      const module = (await import('../runtime/fixtures/keyed-module.ts')).default;
      const values = {
        events: 40_000,
        keys: 50,
        out: join(root, 'expected.jsonl'),
        rate: 0,
        plain: false,
        parts: '',
      };
      await (await module.build(values)).run({ parallelism: 1 });
      const threaded = await (await module.build({ ...values, parts: out })).startInThreads(
        new URL('../runtime/fixtures/keyed-module.ts', import.meta.url).href,
        { ...values, parts: out },
        { parallelism: 2, checkpoints: { dir: join(root, 'cp'), intervalMs: 20 } },
      );
      await threaded.done;
      const got = read(out);
      assert.deepEqual(got.other, []);
      assert.deepEqual(
        got.lines,
        readFileSync(values.out, 'utf8')
          .split('\n')
          .filter((l) => l !== '')
          .sort(),
      );
      assert.deepEqual([...new Set(got.parts.map((n) => n.split('-')[2]))].sort(), ['0', '1']);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  it('a missing directory or a bad option fails fast, naming it', async () => {
    assert.throws(() => jsonLinesPartsSink({ dir: '' }), /jsonLinesPartsSink needs a dir/);
    await assert.rejects(
      pipeline(jsonLinesPartsSink({ dir: join(tmpdir(), 'eddy-no-such-dir', 'x') })).run(),
      /jsonLinesPartsSink cannot write to .*eddy-no-such-dir.*mkdir -p/,
    );
  });
});
