/**
 * httpSource killed mid-stream (SIGKILL) and resumed: at-most-once, as it
 * declares — nothing is handed out twice (the output, exactly-once from
 * checkpoints, holds no record twice), everything accepted (202) after the
 * restart arrives, and what the crash lost (accepted into the dead process's
 * queue after its last checkpoint) is counted, not hidden.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { idsInFile } from '../../helpers/crash.ts';
import { waitUntil } from '../broker-service.ts';
import { httpKillPipeline } from './fixtures/source-kill.ts';

const child = new URL('./fixtures/source-kill.ts', import.meta.url).pathname;

/** Posts records `from..to-1` as NDJSON; resolves with whether they were accepted (202). */
async function post(url: string, from: number, to: number): Promise<boolean> {
  const body = Array.from({ length: to - from }, (_, k) => JSON.stringify({ id: from + k })).join('\n');
  try {
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/x-ndjson' },
      body,
    });
    await res.arrayBuffer();
    return res.status === 202;
  } catch {
    return false; // the process is gone
  }
}

describe('HTTP source: crash and resume', { timeout: 240_000 }, () => {
  it('SIGKILLed after its second checkpoint and resumed: nothing twice; everything accepted after the restart arrives', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'eddy-http-kill-'));
    const out = join(dir, 'out.jsonl');
    const cp = join(dir, 'cp');
    try {
      const proc = spawn(process.execPath, [child, out, cp], { stdio: ['ignore', 'pipe', 'pipe'] });
      let log = '';
      proc.stdout.on('data', (d) => (log += String(d)));
      proc.stderr.on('data', (d) => (log += String(d)));
      const exited = new Promise<string>((resolve) =>
        proc.on('exit', (code, signal) => resolve(`${code} ${signal}`)),
      );
      const limit = setTimeout(() => proc.kill('SIGKILL'), 120_000);
      await waitUntil('the child listens', () => /listening (\S+)/.test(log));
      const url = /listening (\S+)/.exec(log)![1]!;
      // Posted in batches of 20 while the child runs, until it has killed itself.
      let next = 0;
      let acceptedBefore = 0;
      let gone = false;
      void exited.then(() => (gone = true));
      while (!gone) {
        if (await post(url, next, next + 20)) acceptedBefore += 20;
        next += 20;
        await new Promise((r) => setTimeout(r, 10));
      }
      clearTimeout(limit);
      assert.equal(await exited, 'null SIGKILL', log);
      assert.match(log, /killing after checkpoint \d+/, log);

      const ids = () => idsInFile(out);
      const beforeResume = ids().length;
      const resumed = httpKillPipeline({ out });
      const running = await resumed.pipeline.start({
        parallelism: 1,
        checkpoints: { dir: cp, intervalMs: 100 },
        resumeFrom: 'latest',
        restart: false,
      });
      const after = next;
      try {
        const again = await resumed.url();
        for (let i = after; i < after + 400; i += 20)
          assert.ok(await post(again, i, i + 20), 'accepted after the restart');
        await waitUntil(
          'everything accepted after the restart',
          () => ids().filter((id) => id >= after).length >= 400,
        );
      } finally {
        running.stop();
        await running.done;
      }
      const got = ids();
      const distinct = new Set(got);
      assert.equal(got.length, distinct.size, `nothing twice (${got.length - distinct.size} doubled)`);
      for (let id = after; id < after + 400; id++)
        assert.ok(distinct.has(id), `${id}, accepted after the restart, arrived`);
      const lost = acceptedBefore - got.filter((id) => id < after).length;
      process.stdout.write(
        `# http source kill test: ${acceptedBefore} accepted before the kill, ${beforeResume} in the output then, 0 doubled, ${lost} lost in the crash (at-most-once), all 400 accepted after the restart arrived\n`,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
