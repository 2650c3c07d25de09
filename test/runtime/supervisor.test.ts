/**
 * Restarts (issue 19 point 10): a failed run starts again from its newest
 * checkpoint after a backoff, until the failure-rate limit; errors a restart
 * would only repeat fail at once.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { generatorSource, jsonLinesSink, Pipeline, type Sink, tumbling } from '../../src/index.ts';
import flakyModule from './fixtures/flaky-module.ts';

const FAST = { initialBackoffMs: 1, maxBackoffMs: 5 };

function pipeline(sink: Sink<unknown>, errorPolicy: 'dead-letter' | 'fail' = 'dead-letter') {
  const p = new Pipeline({ name: 'restarts', batchSize: 50, errorPolicy });
  p.source(
    'in',
    generatorSource({
      count: 5000,
      splits: 2,
      startTime: 0,
      make: (i, g) => ({ i, k: `k${i % 5}`, t: g.time }),
    }),
    { timestamp: (r) => r.t },
  )
    .map((r) => {
      if (errorPolicy === 'fail' && r.i === 1234) throw new Error('user code is wrong');
      return r;
    })
    .keyBy((r) => r.k)
    .window(tumbling(1000))
    .count()
    .sink(sink);
  return p;
}

/** A JSON Lines sink whose `failures` first attempts fail on their second write. */
function flakySink(path: string, failures: { left: number }): Sink<unknown> {
  const inner = jsonLinesSink<unknown>({ path });
  return {
    ...inner,
    async open(ctx) {
      const writer = await inner.open(ctx);
      const failsNow = failures.left-- > 0;
      let writes = 0;
      return {
        ...writer,
        write(values, times) {
          if (failsNow && ++writes === 2) throw new Error('the disk went away');
          return writer.write(values, times);
        },
      };
    },
  };
}

const lines = (path: string) => readFileSync(path, 'utf8').trim().split('\n').sort();

describe('restarts', () => {
  it('a run whose sink fails twice restarts from its checkpoints and writes every result once', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'eddy-restart-'));
    try {
      await pipeline(jsonLinesSink({ path: join(dir, 'expected.jsonl') })).run();
      const restarts: string[] = [];
      const running = await pipeline(flakySink(join(dir, 'out.jsonl'), { left: 2 })).start({
        checkpoints: { dir: join(dir, 'cp'), intervalMs: 5 },
        restart: FAST,
        onRestart: ({ error, restart }) => restarts.push(`${restart}: ${String(error)}`),
      });
      await running.done;
      assert.deepEqual(restarts, ['1: Error: the disk went away', '2: Error: the disk went away']);
      assert.equal(running.metrics().restarts, 2);
      assert.deepEqual(lines(join(dir, 'out.jsonl')), lines(join(dir, 'expected.jsonl')));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('past the failure-rate limit the run fails with the last error', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'eddy-restart-'));
    try {
      let attempts = 0;
      const failing: Sink<unknown> = {
        kind: 'failing',
        guarantee: 'best-effort',
        open: () => {
          attempts++;
          return {
            write: () => {
              throw new Error(`attempt ${attempts} failed`);
            },
          };
        },
      };
      const running = await pipeline(failing).start({
        checkpoints: { dir: join(dir, 'cp'), intervalMs: 0 },
        restart: { ...FAST, maxFailures: 3, intervalMs: 60_000 },
      });
      await assert.rejects(
        running.done,
        /attempt 4 failed.*failed 4 times within 60000 ms \(restart limit: 3\)/,
      );
      assert.equal(attempts, 4);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a user function failing under errorPolicy "fail" is not restarted; without checkpoints nothing is', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'eddy-restart-'));
    try {
      let restarted = 0;
      const userError = await pipeline(jsonLinesSink({ path: join(dir, 'a.jsonl') }), 'fail').start({
        checkpoints: { dir: join(dir, 'cp'), intervalMs: 0 },
        restart: FAST,
        onRestart: () => restarted++,
      });
      await assert.rejects(userError.done, /user code is wrong/);
      const noCheckpoints = await pipeline(flakySink(join(dir, 'b.jsonl'), { left: 1 })).start({
        onRestart: () => restarted++,
      });
      await assert.rejects(noCheckpoints.done, /the disk went away/);
      assert.equal(restarted, 0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a run on worker threads whose thread fails restarts every thread from the checkpoint', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'eddy-restart-'));
    try {
      const expected = join(dir, 'expected.jsonl');
      const once = { marker: join(dir, 'already'), out: expected };
      // The reference run: the marker is made by a first failing attempt of its own, restarted.
      const values = { marker: join(dir, 'marker'), out: join(dir, 'out.jsonl') };
      const p = await flakyModule.build(values);
      const running = await p.startInThreads(
        new URL('./fixtures/flaky-module.ts', import.meta.url).href,
        values,
        {
          parallelism: 2,
          checkpoints: { dir: join(dir, 'cp'), intervalMs: 5 },
          restart: FAST,
        },
      );
      await running.done;
      assert.equal(running.metrics().restarts, 1);
      await (await flakyModule.build({ ...once, marker: values.marker })).run();
      assert.deepEqual(lines(values.out), lines(expected));
      const total = lines(values.out).reduce((n, l) => n + (JSON.parse(l) as { value: number }).value, 0);
      assert.equal(total, 4000);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
