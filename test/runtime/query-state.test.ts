/**
 * Queryable state (issue 17): `running.queryState(step, key)` reads a key's
 * live state from the subtask that holds its key group — at parallelism 1, 2
 * and 3 in this thread, and in worker threads through `eddy run --ui`'s
 * `/api/query` — and equals what the input makes; a key without state has
 * no entries; an unknown step is named.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { EddyError } from '../../src/index.ts';
import { eventually } from '../ops/exposition.ts';
import { build, expected } from '../ops/fixtures/held-open.ts';

const bin = new URL('../../bin/eddy.js', import.meta.url).pathname;
const heldOpen = new URL('../ops/fixtures/held-open.ts', import.meta.url).pathname;

/** What the held-open pipeline's keyed reduce holds for key `k<j>` after `events` records. */
function sumOf(j: number, events: number): number {
  let sum = 0;
  for (let i = 0; i < events; i++) if (i % 7 === j && i % 97 !== 0 && i % 3 !== 0) sum += i;
  return sum;
}

describe('queryable state (issue 17)', () => {
  for (const parallelism of [1, 2, 3])
    it(`parallelism ${parallelism}: every key's rolling sum, read live from its subtask`, async () => {
      const events = 5000;
      const { kept } = expected(events);
      const running = await build(events).start({ parallelism });
      try {
        await eventually(
          async () => (running.metrics().steps['sum']!.recordsIn === kept ? true : undefined),
          30_000,
          `${kept} records into "sum"`,
        );
        const subtasks = new Set<number>();
        for (let j = 0; j < 7; j++) {
          const s = await running.queryState('sum', `k${j}`);
          assert.equal(s.entries.length, 1, JSON.stringify(s));
          assert.equal((s.entries[0]!.value as { value: number }).value, sumOf(j, events), `k${j}`);
          assert.ok(s.subtask < parallelism);
          subtasks.add(s.subtask);
        }
        if (parallelism > 1) assert.ok(subtasks.size > 1, 'keys live in more than one subtask');
        assert.deepEqual((await running.queryState('sum', 'k99')).entries, []);
        // A scan: every key (from every subtask), in order; a range; a limit.
        const all = await running.scanState('sum', { prefix: 'k' });
        assert.deepEqual(
          all.keys.map((k) => [k.key, (k.entries[0]!.value as { value: number }).value]),
          Array.from({ length: 7 }, (_, j) => [`k${j}`, sumOf(j, events)]),
        );
        assert.equal(all.truncated, false);
        const range = await running.scanState('sum', { from: 'k2', to: 'k5', limit: 2 });
        assert.deepEqual(
          range.keys.map((k) => k.key),
          ['k2', 'k3'],
        );
        assert.equal(range.truncated, true);
        assert.deepEqual((await running.scanState('sum', { prefix: 'x' })).keys, []);
        await assert.rejects(
          running.queryState('nope', 'k1'),
          (e: unknown) =>
            e instanceof EddyError && /no step "nope" in this pipeline; the steps are .*sum/.test(e.message),
        );
      } finally {
        running.stop();
        await running.done;
      }
    });

  it('in worker threads, through eddy run --ui: /api/query reads each key from its thread', {
    timeout: 90_000,
  }, async () => {
    const events = 20_000;
    const { kept } = expected(events);
    const dir = mkdtempSync(join(tmpdir(), 'h7-query-'));
    const child = spawn(
      process.execPath,
      [
        bin,
        'run',
        heldOpen,
        '--ui',
        '--parallelism',
        '2',
        '--events',
        String(events),
        '--quiet',
        '--checkpoint-dir',
        dir,
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    try {
      const url = await eventually(
        async () => /eddy: dashboard on (http:\/\/127\.0\.0\.1:\d+)\//.exec(stderr)?.[1],
        30_000,
        'the dashboard address',
      );
      await eventually(
        async () => {
          const s = (await (await fetch(`${url}/api/state`)).json()) as {
            steps: { id: string; recordsIn: number }[];
          };
          return s.steps.find((x) => x.id === 'sum')?.recordsIn === kept ? true : undefined;
        },
        60_000,
        `${kept} records into "sum"`,
      );
      const subtasks = new Set<number>();
      for (let j = 0; j < 7; j++) {
        const res = await fetch(`${url}/api/query?step=sum&key=k${j}`);
        assert.equal(res.status, 200);
        const s = (await res.json()) as { subtask: number; entries: { value: { value: number } }[] };
        assert.equal(s.entries[0]?.value.value, sumOf(j, events), `k${j}`);
        subtasks.add(s.subtask);
      }
      assert.deepEqual([...subtasks].sort(), [0, 1], 'keys from both threads');
      // The same as a path, /state/<step>/<key>.
      const byPath = await fetch(`${url}/state/sum/k3`);
      assert.equal(byPath.status, 200);
      assert.equal(
        ((await byPath.json()) as { entries: { value: { value: number } }[] }).entries[0]?.value.value,
        sumOf(3, events),
      );
      // A scan over HTTP, /state/<step>?prefix=&from=&to=&limit=, across both threads.
      const scanned = await fetch(`${url}/state/sum?prefix=k&limit=5`);
      assert.equal(scanned.status, 200);
      const body = (await scanned.json()) as { keys: { key: string; subtask: number }[]; truncated: boolean };
      assert.deepEqual(
        body.keys.map((k) => k.key),
        ['k0', 'k1', 'k2', 'k3', 'k4'],
      );
      assert.equal(body.truncated, true);
      assert.equal((await fetch(`${url}/state/sum?limit=0`)).status, 400);
      const unknown = await fetch(`${url}/api/query?step=nope&key=k1`);
      assert.equal(unknown.status, 404);
      assert.match(((await unknown.json()) as { reason: string }).reason, /no step "nope"/);
      assert.equal((await fetch(`${url}/api/query?step=sum`)).status, 400);
    } finally {
      child.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
