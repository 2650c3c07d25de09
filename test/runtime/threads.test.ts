import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';

const run = promisify(execFile);
const bin = new URL('../../bin/eddy.js', import.meta.url).pathname;
const module = new URL('./fixtures/keyed-module.ts', import.meta.url).pathname;

function lines(path: string): string[] {
  return readFileSync(path, 'utf8').trim().split('\n').filter(Boolean).sort();
}

describe('subtasks in worker threads', () => {
  it('a keyed pipeline on 2 and 3 threads gives exactly the results of 1 thread', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'eddy-threads-'));
    try {
      const outs: string[][] = [];
      for (const parallelism of [1, 2, 3]) {
        const out = join(dir, `p${parallelism}.jsonl`);
        const { stdout } = await run(
          process.execPath,
          [
            bin,
            'run',
            module,
            '--events',
            '120000',
            '--out',
            out,
            '--parallelism',
            String(parallelism),
            '--quiet',
          ],
          { timeout: 120_000, cwd: dir },
        );
        if (parallelism > 1) assert.match(stdout, new RegExp(`on ${parallelism} threads — 120,000 events`));
        outs.push(lines(out));
      }
      assert.ok(outs[0]!.length > 1000, `many windows (${outs[0]!.length})`);
      const total = outs[0]!.reduce((n, l) => n + (JSON.parse(l).value[0] as number), 0);
      assert.equal(total, 120_000, 'every event is counted once');
      assert.deepEqual(outs[1], outs[0]);
      assert.deepEqual(outs[2], outs[0]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('asks for parallelism 1 when checkpoints are requested with threads', async () => {
    await assert.rejects(
      run(process.execPath, [bin, 'run', module, '--parallelism', '2', '--resume']),
      (e: { code: number; stderr: string }) => {
        assert.equal(e.code, 2);
        assert.match(e.stderr, /checkpoints across threads are not supported yet/);
        return true;
      },
    );
  });
});
