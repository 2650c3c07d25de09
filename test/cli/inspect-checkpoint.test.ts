/**
 * `eddy inspect <checkpoint dir>` (issue 17): what a checkpoint holds, read
 * offline — state per step with its entry count, key groups, bytes and sample
 * keys, and the sources' positions — checked against what the run that wrote
 * it had seen; a torn checkpoint is refused with the reason.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { CheckpointSummary } from '../../src/cli/inspect-checkpoint.ts';
import { collectSink, Pipeline, type RunningPipeline, type Source, tumbling } from '../../src/index.ts';
import { eddy } from '../helpers/cli.ts';

/** 600 readings of 12 devices, event time 0–5,990 ms; then the source stays open (no window fires). */
function readings(): Source<{ device: string; v: number }> {
  return {
    kind: 'held-open',
    open: () => {
      let next = 0;
      return {
        position: () => next,
        poll(max) {
          if (next >= 600) return { values: [] };
          const n = Math.min(max, 600 - next);
          const values = Array.from({ length: n }, (_, k) => ({
            device: `d${(next + k) % 12}`,
            v: next + k,
          }));
          const times = Array.from({ length: n }, (_, k) => (next + k) * 10);
          next += n;
          return { values, times };
        },
      };
    },
    eventTimes: true,
  };
}

describe('eddy inspect <checkpoint dir>', () => {
  it('lists the state per step with entries, key groups and sample keys, and the source positions', {
    timeout: 60_000,
  }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'eddy-inspect-cp-'));
    let running: RunningPipeline | undefined;
    try {
      const p = new Pipeline({ name: 'inspected' });
      p.source('readings', readings())
        .keyBy((r) => r.device)
        .window(tumbling(60_000))
        .count()
        .sink(collectSink(), 'out');
      running = await p.start({ parallelism: 1, checkpoints: { dir, intervalMs: 0 } });
      while ((running.metrics().steps['readings']?.recordsOut ?? 0) < 600)
        await new Promise((r) => setTimeout(r, 10));
      await running.checkpoint();

      // The run's directory, the run still going: its newest complete checkpoint is read.
      const json = await eddy(['inspect', dir, '--json', '--samples', '20']);
      assert.equal(json.code, 0, json.stderr);
      const s = JSON.parse(json.stdout) as CheckpointSummary;
      assert.equal(s.pipeline, 'inspected');
      assert.equal(s.parallelism, 1);
      const state = s.state.filter((t) => t.kind === 'state');
      assert.equal(state.length, 1, JSON.stringify(s.state));
      assert.equal(state[0]!.entries, 12, 'one window accumulator per device');
      assert.ok(state[0]!.keyGroups >= 1 && state[0]!.keyGroups <= 12);
      assert.ok(state[0]!.bytes > 0);
      assert.deepEqual(
        [...state[0]!.sampleKeys].sort(),
        Array.from({ length: 12 }, (_, i) => `d${i}`).sort(),
      );
      const source = s.sources.find((x) => x.source === 'readings')!;
      assert.equal(source.position, 600);

      const text = await eddy(['inspect', dir]);
      assert.equal(text.code, 0, text.stderr);
      assert.match(text.stdout, /checkpoint \d+ of pipeline "inspected"/);
      assert.match(text.stdout, /12 entries in \d+ key groups/);
      assert.match(text.stdout, /subtask 0 · readings: position 600/);

      // A torn checkpoint: refused, saying why.
      const only = join(dir, `chk-${s.id}`);
      writeFileSync(join(only, 'data.bin'), 'torn');
      const torn = await eddy(['inspect', only]);
      assert.equal(torn.code, 1);
      assert.match(torn.stderr, /data\.bin is torn or corrupted/);
    } finally {
      running?.stop();
      await running?.done.catch(() => {});
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
