/**
 * mqttSink killed mid-stream (SIGKILL) and resumed from its newest
 * checkpoint: at-least-once against the real broker — every record reaches
 * a subscriber at least once (a checkpoint covers only records whose PUBACK
 * came; the generator replays from its position); the duplicates, records
 * published after the last checkpoint and published again, are counted.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { runChild } from '../../helpers/crash.ts';
import { killPipeline, type Reading } from './fixtures/kill-pipeline.ts';
import { URL as BROKER, mqttSkip, plainClient, uniquePrefix, waitUntil } from './helpers.ts';

const skip = await mqttSkip();
const child = new URL('./fixtures/kill-child.ts', import.meta.url).pathname;

describe('MQTT sink: crash and resume', { skip, timeout: 240_000 }, () => {
  it('a run SIGKILLed after its second checkpoint and resumed: every record at least once at a subscriber', async () => {
    const topic = `${uniquePrefix('kill')}/out`;
    const dir = mkdtempSync(join(tmpdir(), 'eddy-mqtt-kill-'));
    const collector = await plainClient({ clientId: `kill-collector-${process.pid}-${Date.now()}` });
    const seen = new Map<number, number>();
    collector.on('message', (_t, payload) => {
      const r = JSON.parse(String(payload)) as Reading;
      seen.set(r.id, (seen.get(r.id) ?? 0) + 1);
    });
    try {
      await collector.subscribeAsync(topic, { qos: 1 });
      const n = 3000;
      const log = await runChild(child, [BROKER, topic, String(n), dir]);
      assert.match(log, /killing after checkpoint \d+\n+exit null SIGKILL/, log);
      const beforeResume = seen.size;
      assert.ok(
        beforeResume > 0 && beforeResume < n,
        `the crashed run published part of the output (${beforeResume})`,
      );

      await killPipeline({ url: BROKER, topic, count: n }).run({
        parallelism: 1,
        checkpoints: { dir, intervalMs: 100 },
        resumeFrom: 'latest',
        restart: false,
      });
      await waitUntil(() => seen.size >= n, 'every record at the subscriber', 60_000).catch(() => {});
      const missing = Array.from({ length: n }, (_, i) => i).filter((i) => !seen.has(i));
      assert.deepEqual(missing.slice(0, 20), [], `${missing.length} of ${n} records never arrived`);
      let doubled = 0;
      for (const c of seen.values()) if (c > 1) doubled++;
      process.stdout.write(
        `# mqtt sink kill test: ${n} records, ${beforeResume} at the subscriber before the kill, 0 lost, ${doubled} more than once\n`,
      );
    } finally {
      await collector.endAsync().catch(() => {});
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
