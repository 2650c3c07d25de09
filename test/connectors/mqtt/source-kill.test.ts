/**
 * mqttSource killed mid-stream (SIGKILL) and resumed: at-most-once, as it
 * declares — nothing is handed out twice (the output, exactly-once from
 * checkpoints, holds no message twice), what the broker queued for the
 * persistent session while the pipeline was dead all arrives, and what the
 * crash lost (acknowledged into the dead process's buffer after its last
 * checkpoint) is counted, not hidden.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { idsInFile, runChild } from '../../helpers/crash.ts';
import { sourceKillPipeline } from './fixtures/source-kill.ts';
import { URL as BROKER, mqttSkip, plainClient, uniquePrefix, waitUntil } from './helpers.ts';

const skip = await mqttSkip();
const child = new URL('./fixtures/source-kill.ts', import.meta.url).pathname;

describe('MQTT source: crash and resume', { skip, timeout: 240_000 }, () => {
  it('SIGKILLed after its second checkpoint and resumed: nothing twice; what was queued while it was dead arrives', async () => {
    const topic = `${uniquePrefix('srckill')}/in`;
    const clientId = `srckill-${process.pid}-${Date.now()}`;
    const dir = mkdtempSync(join(tmpdir(), 'eddy-mqtt-srckill-'));
    const out = join(dir, 'out.jsonl');
    const publisher = await plainClient({ clientId: `${clientId}-pub` });
    const publish = async (from: number, to: number) => {
      for (let i = from; i < to; i += 100)
        await Promise.all(
          Array.from({ length: Math.min(100, to - i) }, (_, k) =>
            publisher.publishAsync(topic, JSON.stringify({ id: i + k }), { qos: 1 }),
          ),
        );
    };
    try {
      // The session first (the broker queues for it from then on; Mosquitto keeps up to 1000 by default).
      const session = await plainClient({
        clientId,
        clean: false,
        properties: { sessionExpiryInterval: 300 },
      });
      await session.subscribeAsync(topic, { qos: 1 });
      await session.endAsync();

      // Published steadily while the child runs, until it has killed itself.
      let next = 0;
      let publishing = true;
      const background = (async () => {
        while (publishing) {
          await publish(next, next + 20);
          next += 20;
          await new Promise((r) => setTimeout(r, 20));
        }
      })();
      const log = await runChild(child, [BROKER, topic, clientId, out, join(dir, 'cp')], 120_000);
      publishing = false;
      await background;
      assert.match(log, /killing after checkpoint \d+\n+exit null SIGKILL/, log);
      // Published while the pipeline is dead: queued in its session.
      const dead = next;
      await publish(dead, dead + 400);
      const ids = () => idsInFile(out);
      const beforeResume = ids().length;
      const running = await sourceKillPipeline({ url: BROKER, topic, clientId, out }).start({
        parallelism: 1,
        checkpoints: { dir: join(dir, 'cp'), intervalMs: 100 },
        resumeFrom: 'latest',
        restart: false,
      });
      try {
        await waitUntil(
          () => ids().filter((id) => id >= dead).length >= 400,
          'the messages queued while it was dead',
          60_000,
        );
      } finally {
        running.stop();
        await running.done;
      }
      const got = ids();
      const distinct = new Set(got);
      assert.equal(got.length, distinct.size, `nothing twice (${got.length - distinct.size} doubled)`);
      for (let id = dead; id < dead + 400; id++)
        assert.ok(distinct.has(id), `${id}, queued while the pipeline was dead, arrived`);
      const lost = Array.from({ length: dead }, (_, i) => i).filter((i) => !distinct.has(i)).length;
      process.stdout.write(
        `# mqtt source kill test: ${dead + 400} messages, ${beforeResume} in the output before the resume, 0 doubled, ${lost} lost in the crash (at-most-once), all 400 queued while dead arrived\n`,
      );
    } finally {
      await publisher.endAsync().catch(() => {});
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
