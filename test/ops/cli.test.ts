/**
 * `eddy run --metrics-port` end to end (issue 17): the CLI starts the
 * server before the run, announces where (as a pino JSON line with
 * --log-format json), serves a threaded run's merged figures, and closes it
 * with the run; refusals exit 2 with a line naming the fix.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { eddy } from '../helpers/cli.ts';
import { eventually, parseExposition } from './exposition.ts';
import { expected } from './fixtures/held-open.ts';

const bin = new URL('../../bin/eddy.js', import.meta.url).pathname;
const heldOpen = new URL('./fixtures/held-open.ts', import.meta.url).pathname;

describe('eddy run --metrics-port (issue 17)', () => {
  it('serves a threaded run (--parallelism 2) behind a token, logs JSON, and closes with the run', {
    timeout: 90_000,
  }, async () => {
    const events = 20_000;
    const { deadLetters, kept } = expected(events);
    const dir = mkdtempSync(join(tmpdir(), 'h7-cli-'));
    const child = spawn(
      process.execPath,
      [
        bin,
        'run',
        heldOpen,
        '--events',
        String(events),
        '--parallelism',
        '2',
        '--metrics-port',
        '0',
        '--log-format',
        'json',
        '--quiet',
        '--checkpoint-dir',
        dir,
        '--checkpoint-interval',
        '300',
      ],
      { env: { ...process.env, EDDY_METRICS_TOKEN: 'tok-123' }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      const announced = await eventually(
        async () => {
          const line = stderr.split('\n').find((l) => l.includes('"url"'));
          return line === undefined ? undefined : (JSON.parse(line) as Record<string, unknown>);
        },
        30_000,
        'the metrics line',
      );
      assert.equal(announced['pipeline'], 'held-open');
      assert.equal(announced['level'], 30);
      assert.equal(announced['mode'], 'threads');
      assert.match(String(announced['runId']), /^[0-9a-f]{8}$/);
      assert.match(String(announced['msg']), /^metrics on http:\/\/127\.0\.0\.1:\d+\/metrics/);
      const url = String(announced['url']);
      const auth = { headers: { authorization: 'Bearer tok-123' } };

      const refused = await fetch(`${url}/metrics`);
      assert.equal(refused.status, 401);
      await refused.body?.cancel();

      // Worker threads report every 500 ms: wait until the merged counts reach what the source produced.
      const m = await eventually(
        async () => {
          const res = await fetch(`${url}/metrics`, auth);
          const x = parseExposition(await res.text());
          return x.get('eddy_step_records_in_total', { step: 'sum' }) === kept &&
            (x.get('eddy_checkpoints_completed_total') ?? 0) >= 1
            ? x
            : undefined;
        },
        45_000,
        `${kept} records into "sum" and a checkpoint`,
      );
      assert.equal(
        m.get('eddy_run_info', {
          pipeline: 'held-open',
          mode: 'threads',
          run_id: String(announced['runId']),
        }),
        1,
      );
      assert.equal(m.get('eddy_source_records_total'), events);
      assert.equal(m.get('eddy_step_records_in_total', { step: 'check' }), events);
      assert.equal(m.get('eddy_step_dead_letters_total', { step: 'check' }), deadLetters);
      assert.equal(m.get('eddy_step_records_out_total', { step: 'keep' }), kept);
      assert.ok(m.get('eddy_checkpoint_duration_seconds_count', { kind: 'checkpoint' })! >= 1);
      assert.equal(m.get('eddy_ready'), 1);
      const ready = await fetch(`${url}/readyz`, auth);
      assert.equal(ready.status, 200);
      assert.equal(((await ready.json()) as { phase: string }).phase, 'running');

      // Ctrl-C drains: the run ends, and the server with it.
      child.kill('SIGINT');
      assert.equal(await exited, 0, stderr);
      assert.match(stdout, /held-open finished in .* on 2 threads — 20,000 events/);
      await assert.rejects(fetch(`${url}/healthz`, auth));
    } finally {
      child.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses flags it cannot honour, naming the fix, before running anything', async () => {
    const env = { ...process.env, EDDY_METRICS_TOKEN: '' };
    const wide = await eddy(['run', heldOpen, '--metrics-port', '0', '--metrics-host', '0.0.0.0'], { env });
    assert.equal(wide.code, 2);
    assert.match(
      wide.stderr,
      /^eddy run: --metrics-host 0\.0\.0\.0 would serve metrics and health beyond this machine without a token; set EDDY_METRICS_TOKEN=<secret> \(or pass --metrics-token <secret>\)/,
    );
    for (const [args, message] of [
      [['--metrics-port', 'http'], /--metrics-port must be a port number from 0 to 65535/],
      [['--metrics-port', '70000'], /--metrics-port must be a port number/],
      [['--metrics-token', 't'], /--metrics-token configures the metrics server: add --metrics-port <port>/],
      [['--log-level', 'loud'], /--log-level must be one of trace, debug, info, warn, error, fatal, silent/],
      [['--log-format', 'xml'], /--log-format must be text or json/],
    ] as const) {
      const out = await eddy(['run', heldOpen, ...args], { env });
      assert.equal(out.code, 2, out.stderr);
      assert.match(out.stderr, message);
      assert.equal(out.stderr.split('\n').filter(Boolean).length, 1, out.stderr);
    }
  });
});
