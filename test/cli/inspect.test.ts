/**
 * `eddy inspect` (issues 17, 18): the plan of a module at a parallelism, as
 * text and JSON (pre-aggregations, keyed exchanges, gathered sinks,
 * connectors and guarantees), usage errors exit 2 naming the fix, and
 * `--live` reads a running job's dashboard: its steps, hot keys and DS2.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { PlanDescription } from '../../src/cli/inspect.ts';
import { eddy } from '../helpers/cli.ts';
import { eventually } from '../ops/exposition.ts';

const bin = new URL('../../bin/eddy.js', import.meta.url).pathname;
const iot = new URL('../../examples/iot/pipeline.ts', import.meta.url).pathname;
const heldOpen = new URL('../ops/fixtures/held-open.ts', import.meta.url).pathname;

describe('eddy inspect', () => {
  it('prints the plan at a parallelism: pre-aggregation before the keyed exchange, sinks in subtask 0', async () => {
    const r = await eddy(['inspect', iot, '--parallelism', '2', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const plan = JSON.parse(r.stdout) as PlanDescription;
    assert.equal(plan.pipeline, 'iot-sensors');
    assert.equal(plan.parallelism, 2);
    const step = (id: string) => plan.steps.find((s) => s.id === id)!;
    assert.deepEqual(step('stats-10s').inputs, ['by-device']);
    assert.equal(step('stats-10s').keyed, true);
    assert.deepEqual(step('late-file').inputs, ['stats-10s.late']);
    assert.equal(step('stats-file').guarantee, 'exactly-once');
    assert.equal(step('readings').connector, 'generator');
    const task = (id: string) => plan.tasks.find((t) => t.id === id)!;
    assert.equal(task('stats-10s.local').preAggregates, 'stats-10s');
    assert.equal(task('stats-10s').arrival, 'hash');
    assert.equal(task('stats-file').arrival, 'gather');

    const one = JSON.parse((await eddy(['inspect', iot, '--json'])).stdout) as PlanDescription;
    assert.equal(
      one.tasks.some((t) => t.preAggregates !== undefined),
      false,
    );
    assert.ok(one.tasks.every((t) => t.arrival === 'local'));

    const text = await eddy(['inspect', iot, '--parallelism', '2']);
    assert.equal(text.code, 0);
    assert.match(
      text.stdout,
      /^iot-sensors: 13 steps; at parallelism 2, 15 tasks per subtask; 128 key groups/,
    );
    assert.match(
      text.stdout,
      /stats-10s\.local {2}\(pre-aggregates for stats-10s before the exchange; adaptive split exchange: kept in its subtask/,
    );
    assert.match(text.stdout, /stats-10s {2}\(operator; keyed exchange/);
  });

  it('usage errors exit 2 and say what to do', async () => {
    const none = await eddy(['inspect']);
    assert.equal(none.code, 2);
    assert.match(none.stderr, /name one pipeline module/);
    const bad = await eddy(['inspect', iot, '--parallelism', 'two']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--parallelism must be a whole number >= 1; received "two"/);
    const missing = await eddy(['inspect', 'nope/pipeline.ts']);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /^eddy inspect: no pipeline module at nope\/pipeline\.ts/);
    const unknown = await eddy(['inspect', iot, '--paralelism', '2']);
    assert.equal(unknown.code, 2);
    const url = await eddy(['inspect', '--live', 'not a url']);
    assert.equal(url.code, 2);
    assert.match(url.stderr, /--live needs the dashboard's address/);
  });

  it('--live reads a running job: its steps, hot keys and DS2; a server without --ui is named', {
    timeout: 90_000,
  }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'h7-inspect-'));
    const started = (extra: string[]) => {
      const child = spawn(
        process.execPath,
        [
          bin,
          'run',
          heldOpen,
          '--events',
          '20000',
          '--quiet',
          '--checkpoint-dir',
          join(dir, extra.join('')),
          ...extra,
        ],
        { stdio: ['ignore', 'pipe', 'pipe'] },
      );
      let stderr = '';
      child.stderr.on('data', (d) => (stderr += d));
      return { child, stderr: () => stderr };
    };
    const ui = started(['--ui']);
    const plain = started(['--metrics-port', '0']);
    try {
      const uiUrl = await eventually(
        async () => /eddy: dashboard on (http:\/\/127\.0\.0\.1:\d+\/)/.exec(ui.stderr())?.[1],
        30_000,
        'the dashboard address',
      );
      const plainUrl = await eventually(
        async () => /eddy: metrics on (http:\/\/127\.0\.0\.1:\d+)\/metrics/.exec(plain.stderr())?.[1],
        30_000,
        'the metrics address',
      );
      // Once the keyed reduce has seen its records, its hot keys are known.
      const r = await eventually(
        async () => {
          const x = await eddy(['inspect', '--live', uiUrl]);
          return x.code === 0 && /Hot keys:/.test(x.stdout) ? x : undefined;
        },
        60_000,
        'hot keys in eddy inspect --live',
      );
      assert.match(r.stdout, /^http:\/\/127\.0\.0\.1:\d+: running — /);
      assert.match(r.stdout, /\n {2}sum: k[0-6] \d+%/);
      assert.match(r.stdout, /\nDS2: /);
      const json = await eddy(['inspect', '--live', uiUrl, '--json']);
      assert.equal(json.code, 0);
      assert.ok((JSON.parse(json.stdout) as { steps: unknown[] }).steps.length > 0);
      const noUi = await eddy(['inspect', '--live', plainUrl]);
      assert.equal(noUi.code, 1);
      assert.match(noUi.stderr, /serves no dashboard; start the job with eddy run --ui/);
    } finally {
      ui.child.kill('SIGKILL');
      plain.child.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
