/**
 * The embedded runtime's options as schemas (issue 13): `new Pipeline`,
 * `run({ checkpoints })` and `run({ rebalance })` take their defaults and
 * bounds from one declaration each, refuse names they do not declare
 * (naming the option and the ones there are), and `eddy run --help` shows
 * the same defaults.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { CHECKPOINT_OPTIONS, PIPELINE_OPTIONS, RUN_OPTIONS } from '../../src/api/options.ts';
import { arraySource, collectSink, EddyError, Pipeline } from '../../src/index.ts';
import { checkRebalance, REBALANCE_DEFAULTS, REBALANCE_OPTIONS } from '../../src/runtime/rebalance.ts';

const BIN = new URL('../../bin/eddy.js', import.meta.url).pathname;
const refused = (name: string) => (e: unknown) =>
  e instanceof EddyError && e.code === 'EDDY_CONFIG_INVALID' && e.message.includes(`no option "${name}"`);

describe('embedded options as schemas', () => {
  it('a pipeline takes its defaults from PIPELINE_OPTIONS and refuses an undeclared option', () => {
    const p = new Pipeline();
    assert.equal(p.name, PIPELINE_OPTIONS.name.default);
    assert.equal(p.options.maxParallelism, PIPELINE_OPTIONS.maxParallelism.default);
    assert.equal(p.options.batchSize, PIPELINE_OPTIONS.batchSize.default);
    assert.equal(p.options.lingerMs, PIPELINE_OPTIONS.lingerMs.default);
    assert.equal(p.options.errorPolicy, PIPELINE_OPTIONS.errorPolicy.default);
    assert.equal(p.options.state, PIPELINE_OPTIONS.state.default);
    assert.equal(p.options.preAggregate, PIPELINE_OPTIONS.preAggregate.default);
    // A typo is an error naming it, not a silent default.
    assert.throws(() => new Pipeline({ batchsize: 10 } as never), refused('batchsize'));
    assert.throws(
      () => new Pipeline({ maxParallelism: PIPELINE_OPTIONS.maxParallelism.max + 1 }),
      /maxParallelism must be at most 32768/,
    );
  });

  it('checkpoints refuse an undeclared option; their defaults are CHECKPOINT_OPTIONS', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'eddy-options-'));
    try {
      const p = new Pipeline({ name: 'opts' });
      p.source('in', arraySource([1, 2, 3])).sink(collectSink());
      await assert.rejects(p.run({ checkpoints: { dir, intervalMS: 5 } as never }), refused('intervalMS'));
      assert.equal(CHECKPOINT_OPTIONS.intervalMs.default, 10_000);
      assert.equal(CHECKPOINT_OPTIONS.retain.default, 3);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('run options: RUN_OPTIONS refuses an undeclared name and a wrong type; restart refuses an undeclared setting', async () => {
    const p = () => {
      const q = new Pipeline({ name: 'run-opts' });
      q.source('in', arraySource([1, 2, 3])).sink(collectSink());
      return q;
    };
    // `paralelism: 2` ran at parallelism 1 without a word.
    await assert.rejects(p().run({ paralelism: 2 } as never), refused('paralelism'));
    await assert.rejects(p().run({ hotKeys: 'yes' } as never), /run option hotKeys must be true or false/);
    await assert.rejects(p().run({ onCheckpoint: 1 } as never), /run option onCheckpoint must be a function/);
    await assert.rejects(p().run({ resumeFrom: '' }), /run option resumeFrom must be a non-empty string/);
    await assert.rejects(p().run({ signal: {} } as never), /run option signal is not valid/);
    await assert.rejects(p().run({ restart: { maxFailure: 3 } } as never), refused('maxFailure'));
    // Every declared option is a RunOptions name and the other way round (the type checks one way).
    assert.deepEqual(Object.keys(RUN_OPTIONS).sort(), [
      'checkpoints',
      'clock',
      'hotKeys',
      'onCheckpoint',
      'onRebalance',
      'onRestart',
      'parallelism',
      'rebalance',
      'restart',
      'resumeFrom',
      'signal',
      'spread',
    ]);
    const metrics = await p().run({ hotKeys: false, signal: new AbortController().signal });
    assert.equal(metrics.steps['in']?.recordsOut, 3);
  });

  it('rebalance settings: defaults from REBALANCE_OPTIONS, an undeclared one refused', () => {
    assert.equal(REBALANCE_DEFAULTS.intervalMs, REBALANCE_OPTIONS.intervalMs.default);
    assert.deepEqual(checkRebalance({ maxMoves: 3 }), { ...REBALANCE_DEFAULTS, maxMoves: 3 });
    assert.throws(() => checkRebalance({ interval: 1000 } as never), refused('interval'));
  });

  it('eddy run --help shows the schemas’ defaults', () => {
    const help = spawnSync(process.execPath, [BIN, '--help'], { encoding: 'utf8' }).stdout;
    assert.match(
      help,
      new RegExp(
        `--checkpoint-interval <ms> +How often to checkpoint \\(default ${CHECKPOINT_OPTIONS.intervalMs.default};`,
      ),
    );
    assert.match(help, new RegExp(`--rebalance \\(default ${REBALANCE_OPTIONS.intervalMs.default}\\)`));
  });
});
