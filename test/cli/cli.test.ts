import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';

const run = promisify(execFile);
const bin = new URL('../../bin/eddy.js', import.meta.url).pathname;
const demo = new URL('../../examples/iot/pipeline.ts', import.meta.url).pathname;
const stateless = new URL('./fixtures/stateless.ts', import.meta.url).pathname;
const splitModule = new URL('../runtime/fixtures/keyed-module.ts', import.meta.url).pathname;

describe('eddy CLI', () => {
  it('runs the IoT demo to completion with progress and a summary, writing its outputs', async () => {
    const out = mkdtempSync(join(tmpdir(), 'eddy-cli-'));
    const { stdout, stderr } = await run(
      process.execPath,
      [bin, 'run', demo, '--events', '60000', '--rate', '30000', '--out', out],
      {
        timeout: 60_000,
      },
    );
    assert.match(stderr, /events\/s +total [\d,]+ +watermark lag/);
    assert.match(stdout, /iot-sensors finished in .* 60,000 events/);
    const stats = readFileSync(join(out, 'stats.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    const late = readFileSync(join(out, 'late.jsonl'), 'utf8').trim().split('\n').filter(Boolean);
    const dead = readFileSync(join(out, 'dead-letters.jsonl'), 'utf8').trim().split('\n').filter(Boolean);
    // Every generated reading is in a window, late, or dead-lettered.
    const counted = stats.filter((s) => s.timing === 'on-time').reduce((n, s) => n + s.value.count, 0);
    assert.equal(counted + late.length + dead.length, 60_000);
    assert.ok(dead.length > 0 && JSON.parse(dead[0]!).reason.includes('temperature is NaN'));
  });

  it('SIGTERM writes a savepoint and exits 0; --from-savepoint resumes; every reading is accounted for once', async () => {
    const out = mkdtempSync(join(tmpdir(), 'eddy-cli-sp-'));
    const savepoint = join(out, 'savepoint');
    const args = ['--events', '60000', '--rate', '20000', '--out', out, '--checkpoint-dir', join(out, 'chk')];
    const first = await new Promise<{ code: number | null; stdout: string }>((resolve) => {
      const child = spawn(process.execPath, [
        bin,
        'run',
        demo,
        ...args,
        '--savepoint-dir',
        savepoint,
        '--progress-ms',
        '200',
      ]);
      let stdout = '';
      let signalled = false;
      child.stdout.on('data', (d) => (stdout += d));
      // Stop once it is running (its first progress line), not at a fixed time: a loaded machine starts slowly.
      child.stderr.on('data', (d) => {
        if (!signalled && /events\/s/.test(String(d))) {
          signalled = true;
          setTimeout(() => child.kill('SIGTERM'), 300);
        }
      });
      child.on('exit', (code) => resolve({ code, stdout }));
    });
    assert.equal(first.code, 0);
    assert.match(first.stdout, /stopped with a savepoint after [\d,]+ events/);
    assert.match(first.stdout, /resume with: eddy run .* --from-savepoint /);
    const { stdout } = await run(
      process.execPath,
      [bin, 'run', demo, ...args, '--from-savepoint', savepoint, '--quiet'],
      {
        timeout: 60_000,
      },
    );
    assert.match(stdout, /iot-sensors finished/);
    const lines = (name: string) => readFileSync(join(out, name), 'utf8').trim().split('\n').filter(Boolean);
    const counted = lines('stats.jsonl')
      .map((l) => JSON.parse(l))
      .filter((s) => s.timing === 'on-time')
      .reduce((n, s) => n + s.value.count, 0);
    assert.equal(counted + lines('late.jsonl').length + lines('dead-letters.jsonl').length, 60_000);
  });

  it('runs on every core unless told when a source splits its input, else on one thread', async () => {
    const env = { ...process.env, EDDY_PARALLELISM: '' };
    const out = mkdtempSync(join(tmpdir(), 'eddy-cli-cores-'));
    const keyed = ['--events', '20000', '--out', join(out, 'keyed.jsonl'), '--quiet'];
    const split = await run(process.execPath, [bin, 'run', splitModule, ...keyed], { env, timeout: 60_000 });
    const cores = availableParallelism();
    if (cores > 1) assert.match(split.stdout, new RegExp(`keyed-counts finished in .* on ${cores} threads`));
    else assert.doesNotMatch(split.stdout, /threads/);
    // One reader (the demo's generator has one split; the fixture's too): one thread.
    const demoRun = ['--events', '20000', '--rate', '1000000', '--out', out, '--quiet'];
    const single = await run(process.execPath, [bin, 'run', demo, ...demoRun], { env, timeout: 60_000 });
    assert.match(single.stdout, /iot-sensors finished in [\d.]+ s — 20,000 events/);
    const plain = await run(process.execPath, [bin, 'run', stateless, '--quiet'], { env, timeout: 60_000 });
    assert.match(plain.stdout, /stateless finished in [\d.]+ s — 1,000 events/);
    // EDDY_PARALLELISM stands in for --parallelism; the flag wins over it.
    const one = await run(process.execPath, [bin, 'run', splitModule, ...keyed], {
      env: { ...process.env, EDDY_PARALLELISM: '1' },
      timeout: 60_000,
    });
    assert.doesNotMatch(one.stdout, /threads/);
    const two = await run(process.execPath, [bin, 'run', stateless, '--parallelism', '2', '--quiet'], {
      env: { ...process.env, EDDY_PARALLELISM: '1' },
      timeout: 60_000,
    });
    assert.match(two.stdout, /on 2 threads/);
    await assert.rejects(
      run(process.execPath, [bin, 'run', stateless], { env: { ...process.env, EDDY_PARALLELISM: 'many' } }),
      (e: { stderr: string; code: number }) => {
        assert.equal(e.code, 2);
        assert.match(e.stderr, /EDDY_PARALLELISM must be a whole number >= 1; received "many"/);
        return true;
      },
    );
  });

  it('rejects a bad flag value, naming it', async () => {
    await assert.rejects(
      run(process.execPath, [bin, 'run', demo, '--events', 'lots']),
      (e: { stderr: string; code: number }) => {
        assert.equal(e.code, 2);
        assert.match(e.stderr, /--events must be a number >= 1; received "lots"/);
        return true;
      },
    );
  });

  it('shows the module options with --help', async () => {
    const { stdout } = await run(process.execPath, [bin, 'run', demo, '--help']);
    assert.match(stdout, /--events .*how many readings/);
    assert.match(stdout, /--duration/);
  });
});
