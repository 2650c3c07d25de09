/**
 * Killed mid-stream and resumed from its last checkpoint, a Redis Streams →
 * Redis Streams pipeline loses nothing (entries are acknowledged only when a
 * checkpoint covers them; the restarted reader re-reads its pending ones)
 * and doubles nothing (explicit sink ids: a replayed record whose entry
 * exists is skipped). Checked by reading the output stream with plain
 * commands against the expectation computed here from the input.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { runChild } from '../../helpers/crash.ts';
import { waitUntil } from '../broker-service.ts';
import { crashPipeline, type In } from './fixtures/pipeline.ts';
import { MALFORMED, redisFixture, redisService } from './helpers.ts';

const service = await redisService();
const child = new URL('./fixtures/crash-child.ts', import.meta.url).pathname;

describe('Redis Streams: crash and resume', { skip: service.skip }, () => {
  it('a run SIGKILLed after its second checkpoint and resumed: every record once in the output, malformed ones dead-lettered', async () => {
    const r = await redisFixture();
    const dir = mkdtempSync(join(tmpdir(), 'h1-redis-crash-'));
    try {
      const input = r.key('in');
      const output = r.key('out');
      const group = 'g';
      const n = 1500;
      const records: In[] = Array.from({ length: n }, (_, i) => ({ id: i, v: i * 3 }));
      await r.add(input, [...records.map((x) => JSON.stringify(x)), ...MALFORMED.map((m) => m.payload)]);

      const log = await runChild(child, [input, group, output, dir]);
      assert.match(log, /killing after checkpoint \d+\n+exit null SIGKILL/, log);
      const written = (await r.readAll(output)).length;
      assert.ok(written > 0 && written < n, `the crashed run wrote part of the output (${written})`);
      assert.ok((await r.pending(input, group)) > 0, 'the crash left entries pending');

      const { pipeline, source, sink, deadLetters } = crashPipeline({ input, group, output });
      const running = await pipeline.start({
        parallelism: 1,
        checkpoints: { dir, intervalMs: 200 },
        resumeFrom: 'latest',
        restart: false,
      });
      await waitUntil('every input entry is read and acknowledged', async () => {
        const info = (await r.redis.xinfo('GROUPS', input)) as unknown[][];
        const g = info.find((row) => row[row.indexOf('name') + 1] === group)!;
        const lastDelivered = String(g[g.indexOf('last-delivered-id') + 1]);
        const [last] = (await r.redis.xrevrange(input, '+', '-', 'COUNT', 1))[0]!;
        return (
          lastDelivered === last &&
          (await r.pending(input, group)) === 0 &&
          deadLetters.length >= MALFORMED.length
        );
      });
      running.stop();
      await running.done;

      const got = (await r.readAll(output)).map((e) => ({
        entry: e.id,
        ...(JSON.parse(e.data) as { id: number; v2: number }),
      }));
      assert.equal(got.length, n, `${got.length} entries in the output for ${n} inputs`);
      assert.deepEqual(
        got,
        records.map((x) => ({ entry: `${x.id + 1}-0`, id: x.id, v2: x.v * 2 + 1 })),
      );
      assert.ok(source.stats().redelivered > 0, `pending entries re-read: ${JSON.stringify(source.stats())}`);
      assert.ok(sink.stats().duplicates > 0, `replayed records skipped: ${JSON.stringify(sink.stats())}`);
      const reasons = deadLetters.map((d) => d.reason);
      for (const m of MALFORMED) {
        assert.ok(
          reasons.some((x) => x.startsWith(`${m.code}:`)),
          `${m.code} dead-lettered; reasons: ${reasons.join(' | ')}`,
        );
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
      await r.cleanup();
    }
  });
});
