import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';

const run = promisify(execFile);
const bin = new URL('../../bin/eddy.js', import.meta.url).pathname;
const demo = new URL('../../examples/iot/pipeline.ts', import.meta.url).pathname;
const stateless = new URL('./fixtures/stateless.ts', import.meta.url).pathname;
const splitModule = new URL('../runtime/fixtures/keyed-module.ts', import.meta.url).pathname;
const deadLetters = new URL('./fixtures/dead-letters.ts', import.meta.url).pathname;
const buildError = new URL('./fixtures/build-error.ts', import.meta.url).pathname;

interface Exit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `eddy` and resolves when it exits, whatever the code (execFile rejects on a non-zero one). */
function eddy(args: readonly string[], timeout = 60_000): Promise<Exit> {
  return new Promise((resolve) => {
    execFile(process.execPath, [bin, ...args], { timeout }, (error, stdout, stderr) => {
      const e = error as { code?: number; signal?: NodeJS.Signals } | null;
      resolve({
        code: e === null ? 0 : typeof e.code === 'number' ? e.code : null,
        signal: e?.signal ?? null,
        stdout,
        stderr,
      });
    });
  });
}

/** No line of `text` is a stack frame. */
function noStack(text: string): void {
  assert.doesNotMatch(text, /^\s+at /m, text);
}

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

  it('starts Node with 16 MB semi-spaces (bounded RSS) unless the user set them or EDDY_SEMI_SPACE_MB says otherwise', async () => {
    const flags = new URL('./fixtures/node-flags.ts', import.meta.url).pathname;
    const env: NodeJS.ProcessEnv = { ...process.env, EDDY_PARALLELISM: '1' };
    delete env['EDDY_SEMI_SPACE_MB'];
    delete env['NODE_OPTIONS'];
    const said = (stderr: string) =>
      [...stderr.matchAll(/^node flags: (.*)$/gm)].map((m) => JSON.parse(m[1]!) as string[]);
    const byDefault = await run(process.execPath, [bin, 'run', flags, '--quiet'], { env, timeout: 60_000 });
    assert.deepEqual(said(byDefault.stderr), [['--max-semi-space-size=16']]);
    assert.match(byDefault.stdout, /stateless finished in [\d.]+ s — 1,000 events/);
    // Worker threads share the process's V8 flags (and inherit its execArgv).
    const threads = await run(process.execPath, [bin, 'run', flags, '--parallelism', '2', '--quiet'], {
      env,
      timeout: 60_000,
    });
    for (const f of said(threads.stderr)) assert.deepEqual(f, ['--max-semi-space-size=16']);
    const own = await run(process.execPath, ['--max-semi-space-size=32', bin, 'run', flags, '--quiet'], {
      env,
      timeout: 60_000,
    });
    assert.deepEqual(said(own.stderr), [['--max-semi-space-size=32']]);
    const off = await run(process.execPath, [bin, 'run', flags, '--quiet'], {
      env: { ...env, EDDY_SEMI_SPACE_MB: '0' },
      timeout: 60_000,
    });
    assert.deepEqual(said(off.stderr), [[]]);
    await assert.rejects(
      run(process.execPath, [bin, 'run', flags], { env: { ...env, EDDY_SEMI_SPACE_MB: 'big' } }),
      (e: { stderr: string; code: number }) => {
        assert.equal(e.code, 2);
        assert.match(e.stderr, /EDDY_SEMI_SPACE_MB must be a whole number of megabytes .*; received "big"/);
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

  describe('issue 19: no silent surprises', () => {
    it('a run that dead-letters every record prints the count per step and exits 65, naming the ratio and the flag', async () => {
      const all = await eddy(['run', deadLetters, '--quiet']);
      assert.equal(all.code, 65, all.stderr);
      assert.match(
        all.stdout,
        /dead-letters finished in .*; dead-lettered: 1,000 of 1,000 read \(100 %\): parse 1,000/,
      );
      assert.match(
        all.stderr,
        /100 % of the records read were dead-lettered \(1,000 of 1,000\), more than --max-dead-letter-ratio 0.5 allows; .*pass --max-dead-letter-ratio 1 to accept it/,
      );
      // A third is below the default; the flag lowers the bar, and 1 accepts any share.
      const third = await eddy(['run', deadLetters, '--quiet', '--bad-every', '3']);
      assert.equal(third.code, 0, third.stderr);
      assert.match(third.stdout, /dead-lettered: 334 of 1,000 read \(33.4 %\): parse 334/);
      const strict = await eddy([
        'run',
        deadLetters,
        '--quiet',
        '--bad-every',
        '3',
        '--max-dead-letter-ratio',
        '0.2',
      ]);
      assert.equal(strict.code, 65);
      assert.match(strict.stderr, /33.4 % .* more than --max-dead-letter-ratio 0.2 allows/);
      const lenient = await eddy(['run', deadLetters, '--quiet', '--max-dead-letter-ratio', '1']);
      assert.equal(lenient.code, 0, lenient.stderr);
      const bad = await eddy(['run', deadLetters, '--max-dead-letter-ratio=-1']);
      assert.equal(bad.code, 2);
      assert.match(
        bad.stderr,
        /--max-dead-letter-ratio must be a number >= 0 .*; received "-1"; pass e.g. 0.01/,
      );
      // A clean run says so.
      const clean = await eddy(['run', stateless, '--quiet']);
      assert.match(clean.stdout, /dead-lettered: none/);
    });

    it('after a build error eddy run exits, although the module left a client open', async () => {
      // Before: the error was printed and the open socket kept the process alive until the timeout.
      const thrown = await eddy(['run', buildError, '--fail', 'build']);
      assert.equal(thrown.signal, null, 'eddy did not exit by itself');
      assert.equal(thrown.code, 1);
      assert.match(thrown.stderr, /the schema registry said no/);
      const refused = await eddy(['run', buildError, '--fail', 'plan']);
      assert.equal(refused.signal, null, 'eddy did not exit by itself');
      assert.equal(refused.code, 1);
      assert.match(
        refused.stderr,
        /^eddy: \[per-device\] a window needs event time, but source "readings" has no timestamp/,
      );
      noStack(refused.stderr);
    });

    it('eddy run --help without a module exits 0 with usage; an unknown flag gets a "did you mean"', async () => {
      const help = await eddy(['run', '--help']);
      assert.equal(help.code, 0);
      assert.match(help.stdout, /Usage:\n +eddy run <module.ts> \[options\]/);
      assert.match(help.stdout, /--max-dead-letter-ratio <r>/);
      for (const [typo, meant] of [
        ['--evnets', '--events'],
        ['--checkpoint-intervall', '--checkpoint-interval'],
        ['--qiuet', '--quiet'],
        ['--max-dead-letters-ratio', '--max-dead-letter-ratio'],
      ] as const) {
        const r = await eddy(['run', demo, typo, '5']);
        assert.equal(r.code, 2);
        assert.match(
          r.stderr,
          new RegExp(
            `^eddy run: unknown option ${typo} \\(did you mean ${meant}\\?\\); run "eddy run .* --help" for the options\n$`,
          ),
        );
      }
      const far = await eddy(['run', demo, '--colour']);
      assert.match(far.stderr, /^eddy run: unknown option --colour; run /);
      const command = await eddy(['rnu', demo]);
      assert.equal(command.code, 2);
      assert.match(command.stderr, /unknown command "rnu" \(did you mean "run"\?\)/);
    });

    it('a missing module or output directory is one clear line, not a stack trace', async () => {
      const dir = mkdtempSync(join(tmpdir(), 'eddy-cli-missing-'));
      const module = await eddy(['run', join(dir, 'nope.ts')]);
      assert.equal(module.code, 2);
      assert.match(module.stderr, /^eddy run: no pipeline module at .*nope.ts .*; check the path/);
      assert.equal(module.stderr.trim().split('\n').length, 1, module.stderr);
      // The sink cannot open its file: a configuration error, so no restart (a restart would only fail
      // again until the restart limit) — one line, and the run exits.
      const missing = join(dir, 'no', 'such', 'dir');
      const out = await eddy([
        'run',
        splitModule,
        '--events',
        '100',
        '--parallelism',
        '1',
        '--quiet',
        '--out',
        join(missing, 'x.jsonl'),
      ]);
      assert.equal(out.code, 1);
      assert.equal(out.stderr.trim().split('\n').length, 1, out.stderr);
      assert.match(
        out.stderr,
        new RegExp(
          `the directory ${missing} does not exist; .*create it \\(mkdir -p ${missing}\\) or pass another path`,
        ),
      );
      assert.doesNotMatch(out.stderr, /restart/);
      noStack(out.stderr);
    });

    /** Runs the split module on 2 threads and sends SIGTERM once it runs, then again at `again`. */
    function terminateTwice(
      savepoint: string,
      again: (kill: () => void, seen: { stdout: string }) => void,
    ): Promise<Exit> {
      return new Promise((resolve) => {
        const dir = mkdtempSync(join(tmpdir(), 'eddy-cli-2term-'));
        const child = spawn(process.execPath, [
          bin,
          'run',
          splitModule,
          '--events',
          '5000000',
          '--rate',
          '50000',
          '--parallelism',
          '2',
          '--out',
          join(dir, 'out.jsonl'),
          '--checkpoint-dir',
          join(dir, 'chk'),
          '--savepoint-dir',
          savepoint,
          '--progress-ms',
          '100',
        ]);
        const seen = { stdout: '', stderr: '' };
        let signalled = false;
        const kill = () => child.kill('SIGTERM');
        child.stdout.on('data', (d) => {
          seen.stdout += d;
          if (signalled) again(kill, seen);
        });
        // Stop once it runs (its first progress line), not at a fixed time: a loaded machine starts slowly.
        child.stderr.on('data', (d) => {
          seen.stderr += d;
          if (!signalled && /events\/s/.test(seen.stderr)) {
            signalled = true;
            kill();
            again(kill, seen);
          }
        });
        child.on('exit', (code, signal) => resolve({ code, signal, ...seen }));
      });
    }

    function oneSavepoint(r: Exit, savepoint: string): void {
      assert.equal(r.signal, null, `killed by ${r.signal}; stderr: ${r.stderr}`);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout.match(/stopped with a savepoint/g)?.length, 1, r.stdout);
      assert.equal(r.stderr.match(/writing a savepoint/g)?.length, 1, r.stderr);
      assert.ok(existsSync(join(savepoint, 'manifest.json')), 'the savepoint is complete');
    }

    it('two SIGTERMs 50 ms apart exit 0 with one savepoint', async () => {
      const savepoint = join(mkdtempSync(join(tmpdir(), 'eddy-cli-sp2-')), 'sp');
      let sent = false;
      const r = await terminateTwice(savepoint, (kill) => {
        if (sent) return;
        sent = true;
        setTimeout(kill, 50);
      });
      oneSavepoint(r, savepoint);
    });

    it('a second SIGTERM while eddy closes after its savepoint does not kill it', async () => {
      // Before: the handlers were gone once the savepoint was written, and this SIGTERM killed the process.
      const savepoint = join(mkdtempSync(join(tmpdir(), 'eddy-cli-sp3-')), 'sp');
      let sent = false;
      const r = await terminateTwice(savepoint, (kill, seen) => {
        if (sent || !/stopped with a savepoint/.test(seen.stdout)) return;
        sent = true;
        kill();
      });
      oneSavepoint(r, savepoint);
    });
  });
});
