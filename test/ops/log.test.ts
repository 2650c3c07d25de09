import assert from 'node:assert/strict';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { runLog } from '../../src/ops/log.ts';

describe('run log (issue 17)', () => {
  it('text: the CLI line unchanged, less severe lines dropped', async () => {
    const lines: string[] = [];
    const log = await runLog({
      level: 'warn',
      format: 'text',
      pipeline: 'p',
      runId: 'r',
      text: (l) => lines.push(l),
    });
    log.info('eddy: resumed from checkpoint 3 in .eddy/checkpoints/p');
    log.warn('eddy: the run failed: boom; restart 1 from the newest checkpoint in 0.1 s', { restart: 1 });
    assert.deepEqual(lines, ['eddy: the run failed: boom; restart 1 from the newest checkpoint in 0.1 s']);
  });

  it('json: one pino object per line with the pipeline, the run id and the fields', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'h7-log-'));
    const fd = openSync(join(dir, 'log'), 'w');
    try {
      const log = await runLog({ level: 'info', format: 'json', pipeline: 'iot', runId: 'abc', fd });
      log.info('eddy: resumed from checkpoint 3', { checkpoint: 3 });
      log.warn('eddy: the run failed: boom; restart 1', { restart: 1 });
      const quiet = await runLog({ level: 'error', format: 'json', pipeline: 'iot', runId: 'abc', fd });
      quiet.warn('eddy: not written');
      log.flush();
      const lines = readFileSync(join(dir, 'log'), 'utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l));
      assert.equal(lines.length, 2);
      assert.deepEqual(
        lines.map(({ level, pipeline, runId, msg, checkpoint, restart }) => ({
          level,
          pipeline,
          runId,
          msg,
          checkpoint,
          restart,
        })),
        [
          {
            level: 30,
            pipeline: 'iot',
            runId: 'abc',
            msg: 'resumed from checkpoint 3',
            checkpoint: 3,
            restart: undefined,
          },
          {
            level: 40,
            pipeline: 'iot',
            runId: 'abc',
            msg: 'the run failed: boom; restart 1',
            checkpoint: undefined,
            restart: 1,
          },
        ],
      );
      assert.ok(!Number.isNaN(Date.parse(lines[0].time)));
    } finally {
      closeSync(fd);
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
