import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
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
      // 2 and 3 with pre-aggregation before the exchange (the aggregator merges), then 2 without.
      for (const [parallelism, plain] of [
        [1, false],
        [2, false],
        [3, false],
        [2, true],
      ] as const) {
        const out = join(dir, `p${parallelism}-${plain}.jsonl`);
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
            ...(plain ? ['--plain'] : []),
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
      assert.deepEqual(outs[3], outs[0]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a worker thread that fails as it starts fails the run with its error', async () => {
    const failing = new URL('./fixtures/failing-worker-module.ts', import.meta.url).pathname;
    const r = await run(process.execPath, [bin, 'run', failing, '--parallelism', '2', '--quiet'], {
      timeout: 60_000,
    }).then(
      () => assert.fail('the run should fail'),
      (e: { code: number; stderr: string }) => e,
    );
    assert.equal(r.code, 1);
    assert.match(r.stderr, /this worker cannot start/);
    assert.doesNotMatch(r.stderr, /ReferenceError/);
  });

  it('SIGKILLed at random and resumed with --resume on 2 threads, the committed output equals the 1-thread run', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'eddy-threads-crash-'));
    try {
      const events = '60000';
      const expectedOut = join(dir, 'expected.jsonl');
      const once = ['--events', events, '--out', expectedOut, '--parallelism', '1', '--quiet'];
      await run(process.execPath, [bin, 'run', module, ...once], {
        timeout: 60_000,
        cwd: dir,
      });
      const out = join(dir, 'out.jsonl');
      const args = [
        bin,
        'run',
        module,
        '--events',
        events,
        '--rate',
        '20000',
        '--out',
        out,
        '--parallelism',
        '2',
      ];
      const cp = [
        '--checkpoint-dir',
        join(dir, 'chk'),
        '--checkpoint-interval',
        '150',
        '--progress-ms',
        '100',
      ];
      let kills = 0;
      let log = '';
      for (let attempt = 0; attempt < 3; attempt++) {
        const code = await new Promise<number | null>((resolve) => {
          const child = spawn(process.execPath, [...args, ...cp, ...(attempt > 0 ? ['--resume'] : [])], {
            cwd: dir,
          });
          let armed = false;
          child.stderr.on('data', (d) => {
            log += String(d);
            // Kill once it is running: 200–700 ms after its first progress line.
            if (!armed && /events\/s/.test(String(d))) {
              armed = true;
              setTimeout(() => child.kill('SIGKILL'), 200 + Math.floor(Math.random() * 500));
            }
          });
          child.on('exit', (c) => resolve(c));
        });
        if (code === 0) break;
        kills++;
      }
      const { stdout, stderr } = await run(process.execPath, [...args, ...cp, '--resume', '--quiet'], {
        timeout: 60_000,
        cwd: dir,
      });
      assert.match(stdout, /finished in .* on 2 threads/);
      // Runs resumed (rather than starting over, which would also give the right file).
      assert.match(log + stderr, /resumed from checkpoint \d+/);
      assert.ok(kills >= 1, 'at least one run was killed');
      assert.deepEqual(lines(out), lines(expectedOut));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
