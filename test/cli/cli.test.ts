import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';

const run = promisify(execFile);
const bin = new URL('../../bin/eddy.js', import.meta.url).pathname;
const demo = new URL('../../examples/iot/pipeline.ts', import.meta.url).pathname;

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
