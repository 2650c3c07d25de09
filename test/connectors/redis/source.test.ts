/**
 * The Redis Streams source against the local server: XACK waits for the
 * checkpoint that covers the entries (or the next poll without
 * checkpoints), a dead consumer's pending entries are claimed after
 * `claimMinIdleMs`, malformed payloads are dead-lettered with their reason,
 * and misconfiguration fails fast naming the bad value and the fix.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { redisSource } from '../../../src/connectors/redis/index.ts';
import type { SourceContext } from '../../../src/core/connector.ts';
import { collectSink, type DeadLetter, type EddyError, Pipeline, systemClock } from '../../../src/index.ts';
import { waitUntil } from '../broker-service.ts';
import { MALFORMED, REDIS_URL, redisFixture, redisService } from './helpers.ts';

const service = await redisService();

interface Rec {
  readonly id: number;
}

const records = (n: number): Rec[] => Array.from({ length: n }, (_, id) => ({ id }));
/** In id order: with EDDY_PARALLELISM=2 two subtasks share the group and their records interleave. */
const byId = (values: readonly Rec[]) => [...values].sort((a, b) => a.id - b.id);

const context = (over: Partial<SourceContext> = {}): SourceContext => ({
  stepId: 'in',
  clock: systemClock,
  batchSize: 100,
  deadLetter: () => {},
  signal: new AbortController().signal,
  subtask: 0,
  parallelism: 1,
  jobStart: 0,
  checkpointing: true,
  ...over,
});

describe('Redis Streams source', { skip: service.skip }, () => {
  it('with checkpoints, XACKs only when the checkpoint after the entries completes', async () => {
    const r = await redisFixture();
    const dir = mkdtempSync(join(tmpdir(), 'h1-redis-src-'));
    try {
      const stream = r.key('s');
      await r.add(
        stream,
        records(300).map((x) => JSON.stringify(x)),
      );
      const out = collectSink<Rec>();
      const p = new Pipeline({ name: 'redis-acks' });
      p.source('in', redisSource<Rec>({ stream, group: 'g', url: REDIS_URL })).sink(out);
      const running = await p.start({ checkpoints: { dir, intervalMs: 0 }, restart: false });
      await waitUntil('300 records arrive', () => out.values.length === 300);
      assert.equal(await r.pending(stream, 'g'), 300, 'processed but not checkpointed: all pending');
      assert.equal((await running.checkpoint()).error, undefined);
      await waitUntil('the checkpoint acknowledged them', async () => (await r.pending(stream, 'g')) === 0);
      running.stop();
      await running.done;
      assert.deepEqual(byId(out.values), records(300));
    } finally {
      rmSync(dir, { recursive: true, force: true });
      await r.cleanup();
    }
  });

  it('without checkpoints, XACKs at the next poll; malformed payloads are dead-lettered with the reason', async () => {
    const r = await redisFixture();
    try {
      const stream = r.key('s');
      await r.add(stream, [
        ...records(200).map((x) => JSON.stringify(x)),
        ...MALFORMED.map((m) => m.payload),
      ]);
      await r.redis.xadd(stream, '*', 'other', 'x'); // no data field
      const out = collectSink<Rec>();
      const dead = collectSink<DeadLetter>();
      const p = new Pipeline({ name: 'redis-plain' });
      const source = redisSource<Rec>({ stream, group: 'g' });
      p.source('in', source).sink(out);
      p.deadLetters().sink(dead);
      const running = await p.start({ restart: false });
      await waitUntil(
        'every entry is handled and acknowledged',
        async () =>
          out.values.length === 200 &&
          dead.values.length === MALFORMED.length + 1 &&
          (await r.pending(stream, 'g')) === 0,
      );
      running.stop();
      await running.done;
      assert.deepEqual(byId(out.values), records(200));
      const entries = await r.readAll(stream);
      const reasons = dead.values.map((d) => d.reason);
      assert.ok(dead.values.every((d) => d.code === 'EDDY_DECODE_FAILED'));
      for (const [i, m] of MALFORMED.entries()) {
        const reason = reasons.find((x) => x.startsWith(`${m.code}: `));
        assert.ok(reason?.endsWith(`(stream ${stream} entry ${entries[200 + i]!.id})`), reasons.join(' | '));
      }
      assert.ok(reasons.some((x) => x.startsWith('missing-field: the entry has no field "data"')));
      assert.equal(source.stats().acked, 200 + MALFORMED.length + 1);
    } finally {
      await r.cleanup();
    }
  });

  it("claims a dead consumer's pending entries after claimMinIdleMs, and re-reads its own after a restart", async () => {
    const r = await redisFixture();
    try {
      const stream = r.key('s');
      await r.add(
        stream,
        records(20).map((x) => JSON.stringify(x)),
      );
      // Consumer a reads and "crashes": nothing acknowledged.
      const a = redisSource<Rec>({ stream, group: 'g', consumer: 'a' });
      const ra = await a.open(context());
      const first = await ra.poll(10);
      assert.deepEqual(first?.values, records(10));
      await ra.close?.();
      // Restarted under the same name, it first re-reads its own pending entries.
      const again = await a.open(context());
      assert.deepEqual((await again.poll(10))?.values, records(10));
      assert.equal(a.stats().redelivered, 10);
      await again.close?.();
      // Another consumer claims them once they are idle long enough.
      const b = redisSource<Rec>({
        stream,
        group: 'g',
        consumer: 'b',
        claimMinIdleMs: 200,
        claimIntervalMs: 50,
      });
      const rb = await b.open(context());
      const got: Rec[] = [];
      await waitUntil('b has every record', async () => {
        got.push(...((await rb.poll(100))?.values ?? []));
        return got.length >= 20;
      });
      assert.deepEqual(
        got.map((x) => x.id).sort((x, y) => x - y),
        records(20).map((x) => x.id),
      );
      assert.equal(b.stats().claimed, 10);
      rb.position!(1);
      await rb.checkpointComplete!(1);
      assert.equal(await r.pending(stream, 'g'), 0);
      await rb.close?.();
    } finally {
      await r.cleanup();
    }
  });

  it('fails fast on misconfiguration, naming the value and the fix', async () => {
    const r = await redisFixture();
    try {
      assert.throws(
        () => redisSource({ stream: 's', group: 'g', url: 'http://127.0.0.1:6379' }),
        /option url must be a redis:\/\/ or rediss:\/\/ URL; received "http:\/\/127\.0\.0\.1:6379"/,
      );
      assert.throws(() => redisSource({ stream: 's' } as never), /redisSource needs group/);
      assert.throws(
        () => redisSource({ stream: 's', group: 'g', claimMinIdle: 5 } as never),
        /no option "claimMinIdle".*claimMinIdleMs/,
      );
      const missing = r.key('missing');
      await assert.rejects(
        Promise.resolve(redisSource({ stream: missing, group: 'g' }).open(context())),
        (e: EddyError) =>
          e.code === 'EDDY_CONFIG_INVALID' &&
          e.message.includes(`stream "${missing}" does not exist`) &&
          e.message.includes('createStream: true'),
      );
      await assert.rejects(
        Promise.resolve(
          redisSource({ stream: 's', group: 'g', url: 'redis://127.0.0.1:1', connectTimeoutMs: 1000 }).open(
            context(),
          ),
        ),
        (e: EddyError) => e.code === 'EDDY_IO_FAILED' && e.message.includes('redis://127.0.0.1:1'),
      );
      const created = r.key('new');
      const reader = await redisSource({ stream: created, group: 'g', createStream: true }).open(context());
      await reader.close?.();
      assert.equal(await r.redis.type(created), 'stream');
    } finally {
      await r.cleanup();
    }
  });
});
