/**
 * Killed mid-stream and resumed from its last checkpoint, a RabbitMQ →
 * RabbitMQ pipeline loses nothing: the source acknowledges only what a
 * completed checkpoint covers, so the broker requeues the rest, and the
 * restored source skips the requeued messages its checkpoint covers (by
 * message id). The sink is at-least-once: what the crashed run published
 * after its last checkpoint is published again by the resumed run — those
 * duplicates are counted and bounded, not zero. Checked by draining the
 * output queue with amqplib against the expectation computed here.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { waitUntil } from '../broker-service.ts';
import { crashPipeline, type In, type Out } from './fixtures/pipeline.ts';
import { MALFORMED, rabbitFixture, rabbitService, uniqueName } from './helpers.ts';

const service = await rabbitService();
const child = new URL('./fixtures/crash-child.ts', import.meta.url).pathname;

describe('RabbitMQ: crash and resume', { skip: service.skip }, () => {
  it('a run SIGKILLed after its second checkpoint and resumed: every record in the output, duplicates counted, malformed ones dead-lettered', async () => {
    const r = await rabbitFixture();
    const dir = mkdtempSync(join(tmpdir(), 'h5-rabbit-crash-'));
    try {
      const input = uniqueName('in');
      const output = uniqueName('out');
      await r.queue(input, 'quorum');
      await r.queue(output, 'quorum');
      const n = 1500;
      const records: In[] = Array.from({ length: n }, (_, i) => ({ id: i, v: i * 3 }));
      // The malformed payloads come last: the crash is long before them, so the resumed run meets them.
      await r.publish(
        input,
        [...records.map((x) => JSON.stringify(x)), ...MALFORMED.map((m) => m.payload)],
        [...records.map((x) => `in-${x.id}`), ...MALFORMED.map((_, i) => `bad-${i}`)],
      );

      // 1. The run that crashes (a child process, SIGKILL: no final checkpoint, no clean close).
      const log = await new Promise<string>((resolve, reject) => {
        const cp = spawn(process.execPath, [child, input, output, dir], {
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        let out = '';
        cp.stdout.on('data', (d) => (out += String(d)));
        cp.stderr.on('data', (d) => (out += String(d)));
        const timer = setTimeout(() => cp.kill('SIGKILL'), 180_000);
        cp.on('error', reject);
        cp.on('exit', (code, signal) => {
          clearTimeout(timer);
          resolve(`${out}\nexit ${code} ${signal}`);
        });
      });
      assert.match(log, /killing after checkpoint \d+\n+exit null SIGKILL/, log);
      const beforeResume = await r.drain(output);
      assert.ok(
        beforeResume.length > 0 && beforeResume.length < n,
        `the crashed run published part of the output (${beforeResume.length})`,
      );

      // 2. Resumed from the newest checkpoint, until every record id has reached the output.
      const { pipeline, source, sink, deadLetters } = crashPipeline({ input, output });
      const running = await pipeline.start({
        parallelism: 1,
        checkpoints: { dir, intervalMs: 200 },
        resumeFrom: 'latest',
        restart: false,
      });
      const got: Out[] = beforeResume.map((s) => JSON.parse(s) as Out);
      await waitUntil('every record id is in the output and the malformed ones dead-lettered', async () => {
        for (const s of await r.drain(output)) got.push(JSON.parse(s) as Out);
        return new Set(got.map((x) => x.id)).size === n && deadLetters.length >= MALFORMED.length;
      });
      // A checkpoint acknowledges the rest; then nothing may come back to the input queue.
      assert.equal((await running.checkpoint()).error, undefined);
      running.stop();
      await running.done;
      for (const s of await r.drain(output)) got.push(JSON.parse(s) as Out);
      assert.equal((await r.count(input)).messages, 0, 'every input message acknowledged');

      // 3. The output, read independently, covers the expectation; duplicates are counted.
      const expected = records.map((x) => ({ id: x.id, v2: x.v * 2 + 1 }));
      const firsts = new Map<number, Out>();
      for (const x of got) if (!firsts.has(x.id)) firsts.set(x.id, x);
      assert.deepEqual(
        [...firsts.values()].sort((a, b) => a.id - b.id),
        expected,
        '0 lost, every value as expected',
      );
      for (const x of got) assert.deepEqual(x, expected[x.id], 'a duplicate equals its original');
      const duplicates = got.length - n;
      const s = source.stats();
      process.stdout.write(
        `# rabbitmq kill test: ${n} records, ${beforeResume.length} published before SIGKILL, ${got.length} in the output, 0 lost, ${duplicates} duplicates; resumed source ${JSON.stringify(s)}\n`,
      );
      // At-least-once: duplicates are what the crashed run published after its last checkpoint, at most.
      assert.ok(duplicates >= 0 && duplicates <= beforeResume.length, `${duplicates} duplicates`);
      assert.ok(s.redelivered > 0, `redeliveries counted: ${JSON.stringify(s)}`);
      // The completed checkpoint's messages were acknowledged before the kill, so what comes back is
      // what it does not cover: processed again, nothing skipped (skipping is for a checkpoint whose
      // acknowledgement the crash cut off; see source.test.ts).
      assert.equal(s.skipped, 0, JSON.stringify(s));
      assert.ok(sink.stats().confirmed >= n - beforeResume.length, JSON.stringify(sink.stats()));
      // Malformed input: dead-lettered with the decoder's reason and the message id.
      const reasons = deadLetters.map((d) => d.reason);
      for (const [i, m] of MALFORMED.entries()) {
        assert.ok(
          reasons.some(
            (x) => x.startsWith(`${m.code}:`) && x.endsWith(`(queue ${input}, message id "bad-${i}")`),
          ),
          `${m.code} dead-lettered; reasons: ${reasons.join(' | ')}`,
        );
      }
      assert.ok(deadLetters.every((d) => d.code === 'EDDY_DECODE_FAILED' && d.step === 'in'));
    } finally {
      rmSync(dir, { recursive: true, force: true });
      await r.cleanup();
    }
  });
});
