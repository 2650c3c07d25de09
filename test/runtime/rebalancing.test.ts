/**
 * Key groups moving between worker threads (issue 18): a skewed keyed count
 * on 2 threads moves hot key groups off the busy thread at a checkpoint, then
 * fails once and restarts from a later checkpoint; the output
 * (exactly-once JSON Lines) equals counts worked out from the record indices
 * alone. Every wait is for a condition, never for a time.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { keyGroupOf } from '../../src/core/key-groups.ts';
import type { RebalanceInfo, RunningPipeline } from '../../src/index.ts';
import rebalanceModule, { COUNT, HOT, keyOf, timeOf, WINDOW_MS } from './fixtures/rebalance-module.ts';

const MODULE = new URL('./fixtures/rebalance-module.ts', import.meta.url).href;

/** The expected windows, from the indices: `key@start` → count. */
function oracle(): Map<string, number> {
  const out = new Map<string, number>();
  for (let i = 0; i < COUNT; i++) {
    const t = timeOf(i);
    const id = `${keyOf(i)}@${t - (t % WINDOW_MS)}`;
    out.set(id, (out.get(id) ?? 0) + 1);
  }
  return out;
}

/**
 * Waits for `ok`; fails at once if the run ends first. The deadline only turns a hang (a bug) into
 * a failure that says what the run looked like, well inside the test's timeout.
 */
async function until(
  what: string,
  ok: () => boolean,
  failed: Promise<unknown>,
  state: () => unknown,
): Promise<void> {
  let done = false;
  void failed.then(
    () => {
      done = true;
    },
    () => {
      done = true;
    },
  );
  const deadline = Date.now() + 150_000;
  while (!ok()) {
    if (done) throw new Error(`the run ended before ${what}`);
    if (Date.now() > deadline) throw new Error(`no ${what} after 150 s: ${JSON.stringify(state())}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('rebalancing key groups between threads', () => {
  it('moves hot key groups off the busy thread at a checkpoint, restarts after a later failure, and counts every record once', {
    timeout: 240_000,
  }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'eddy-rebalance-'));
    const values = {
      gateAt: 3000,
      gate: join(dir, 'gate'),
      marker: join(dir, 'failed'),
      out: join(dir, 'out.jsonl'),
    };
    let running: RunningPipeline | undefined;
    try {
      const p = await rebalanceModule.build(values);
      const infos: RebalanceInfo[] = [];
      const restartErrors: string[] = [];
      running = await p.startInThreads(MODULE, values, {
        parallelism: 2,
        checkpoints: { dir: join(dir, 'cp'), intervalMs: 100 },
        restart: { initialBackoffMs: 1, maxBackoffMs: 5 },
        rebalance: { intervalMs: 50, minRecords: 1000 },
        onRebalance: (info) => infos.push(info),
        onRestart: (info) => restartErrors.push(String(info.error)),
      });
      await until(
        'a rebalance',
        () => (running!.metrics().rebalances ?? 0) >= 1,
        running.done,
        () => {
          const step = running!.metrics().steps['counts'];
          return {
            records: step?.recordsIn,
            busy: step?.subtaskBusyMicros,
            groups: step?.keyGroupRecords?.reduce((a, b) => a + b, 0),
          };
        },
      );
      const first = infos[0]!;
      assert.ok(first.moves.length >= 1);
      for (const m of first.moves) assert.deepEqual([m.from, m.to], [0, 1], JSON.stringify(m));
      const hotGroups = new Set(HOT.map((k) => keyGroupOf(k, 128)));
      assert.ok(
        first.moves.some((m) => hotGroups.has(m.group)),
        `a hot group moved: ${JSON.stringify(first.moves)}`,
      );
      assert.ok(first.skewBefore > 1.2 && first.skewAfter < first.skewBefore, JSON.stringify(first));
      if (process.env['EDDY_TEST_VERBOSE']) process.stderr.write(`${JSON.stringify(infos)}\n`);
      writeFileSync(values.gate, 'open');
      await running.done;
      const m = running.metrics();
      assert.equal(
        m.restarts,
        1,
        `the reader failed once after the move; ${m.restarts} restarts: ${restartErrors.join(' | ')}; marker ${existsSync(values.marker)}; rebalances ${m.rebalances}`,
      );
      assert.ok((m.rebalances ?? 0) >= 1);
      const got = new Map<string, number>();
      for (const line of readFileSync(values.out, 'utf8').trim().split('\n')) {
        const r = JSON.parse(line) as { key: string; window: { start: number }; value: number };
        const id = `${r.key}@${r.window.start}`;
        assert.equal(got.has(id), false, `window ${id} written twice`);
        got.set(id, r.value);
      }
      assert.deepEqual(new Map([...got].sort()), new Map([...oracle()].sort()));
    } finally {
      // A failed assertion must not leave the run (and so this file's process) going at the gate.
      if (running !== undefined) {
        writeFileSync(values.gate, 'open');
        running.stop();
        await running.done.catch(() => {});
      }
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('fails fast without checkpoints or threads', async () => {
    const values = {
      gateAt: 3000,
      gate: '',
      marker: '',
      out: join(tmpdir(), 'eddy-rebalance-never-written.jsonl'),
    };
    const p = await rebalanceModule.build(values);
    await assert.rejects(
      p.startInThreads(MODULE, values, { parallelism: 2, rebalance: true }),
      /rebalance needs checkpoints.*pass checkpoints: \{ dir \}/,
    );
    const q = await rebalanceModule.build(values);
    await assert.rejects(q.start({ rebalance: true }), /rebalance moves key groups between worker threads/);
    const r = await rebalanceModule.build(values);
    await assert.rejects(
      r.startInThreads(MODULE, values, { parallelism: 2, rebalance: { threshold: 0 } }),
      /rebalance.threshold must be a number from 0.05 to 10/,
    );
  });
});
