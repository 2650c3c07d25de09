/**
 * Killed mid-stream and resumed from its last checkpoint, a JetStream →
 * JetStream pipeline loses nothing (the source acknowledges only what a
 * completed checkpoint covers, so the server redelivers the rest) and
 * doubles nothing (the sink's position-based `Nats-Msg-Id`s make the
 * replayed records duplicates the server drops). Checked by reading the
 * output stream with the official client against the expectation computed
 * here from the input.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { runChild } from '../../helpers/crash.ts';
import { waitUntil } from '../broker-service.ts';
import { crashPipeline, type In } from './fixtures/pipeline.ts';
import { MALFORMED, natsFixture, natsService, uniqueName } from './helpers.ts';

const service = await natsService();
const child = new URL('./fixtures/crash-child.ts', import.meta.url).pathname;

describe('NATS JetStream: crash and resume', { skip: service.skip }, () => {
  it('a run SIGKILLed after its second checkpoint and resumed: every record once in the output, malformed ones dead-lettered', async () => {
    const nats = await natsFixture();
    const dir = mkdtempSync(join(tmpdir(), 'h1-nats-crash-'));
    try {
      const input = uniqueName('IN');
      const output = uniqueName('OUT');
      const consumer = uniqueName('c');
      await nats.stream(input);
      await nats.stream(output);
      const n = 1500;
      const records: In[] = Array.from({ length: n }, (_, i) => ({ id: i, v: i * 3 }));
      // The malformed payloads come last: the crash is long before them, so the resumed run meets them.
      await nats.publish(input, [
        ...records.map((r) => JSON.stringify(r)),
        ...MALFORMED.map((m) => m.payload),
      ]);

      // 1. The run that crashes (in a child process, SIGKILL: no final checkpoint, no clean close).
      const log = await runChild(child, [input, consumer, output, dir]);
      assert.match(log, /killing after checkpoint \d+\n+exit null SIGKILL/, log);
      const written = (await nats.readAll(output)).length;
      assert.ok(written > 0 && written < n, `the crashed run published part of the output (${written})`);

      // 2. Resumed from the newest checkpoint, until the consumer has nothing delivered or pending.
      const { pipeline, source, sink, deadLetters } = crashPipeline({ input, consumer, output });
      const running = await pipeline.start({
        parallelism: 1,
        checkpoints: { dir, intervalMs: 200 },
        resumeFrom: 'latest',
        restart: false,
      });
      await waitUntil('every input message is acknowledged', async () => {
        const s = await nats.consumerState(input, consumer);
        return s.pending === 0 && s.ackPending === 0 && deadLetters.length >= MALFORMED.length;
      });
      running.stop();
      await running.done;

      // 3. The output, read independently, equals the expectation: each record exactly once.
      const got = (await nats.readAll(output)).map((s) => JSON.parse(s) as { id: number; v2: number });
      const expected = records.map((r) => ({ id: r.id, v2: r.v * 2 + 1 }));
      assert.equal(got.length, n, `${got.length} messages in the output for ${n} inputs`);
      assert.deepEqual(
        [...got].sort((a, b) => a.id - b.id),
        expected,
      );
      // The replay really happened and was deduplicated by the server.
      assert.ok(source.stats().redelivered > 0, `redeliveries counted: ${JSON.stringify(source.stats())}`);
      assert.ok(
        sink.stats().duplicates >= 50,
        `replayed records dropped as duplicates: ${JSON.stringify(sink.stats())}`,
      );
      // Malformed input: dead-lettered with the decoder's reason.
      const reasons = deadLetters.map((d) => d.reason);
      for (const m of MALFORMED) {
        assert.ok(
          reasons.some((r) => r.startsWith(`${m.code}:`)),
          `${m.code} dead-lettered; reasons: ${reasons.join(' | ')}`,
        );
      }
      assert.ok(deadLetters.every((d) => d.code === 'EDDY_DECODE_FAILED' && d.step === 'in'));
    } finally {
      rmSync(dir, { recursive: true, force: true });
      await nats.cleanup();
    }
  });
});
