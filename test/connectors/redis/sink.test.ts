/**
 * The Redis Streams sink against the local server: with explicit ids a
 * replayed batch adds nothing (each refused id is checked to exist); an id
 * out of order that does not exist fails instead of being dropped; with `*`
 * a replay appends again (at-least-once, as documented).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { redisSink } from '../../../src/connectors/redis/index.ts';
import type { SinkContext } from '../../../src/core/connector.ts';
import { type EddyError, systemClock } from '../../../src/index.ts';
import { redisFixture, redisService } from './helpers.ts';

const service = await redisService();

const context: SinkContext = { stepId: 'out', clock: systemClock, checkpointing: true };

describe('Redis Streams sink', { skip: service.skip }, () => {
  it('explicit ids: a replay is skipped, an id out of order that no entry has fails', async () => {
    const r = await redisFixture();
    try {
      const stream = r.key('out');
      const sink = redisSink<{ t: number }>({ stream, createStream: true, id: (v) => `${v.t}-0` });
      assert.equal(sink.guarantee, 'idempotent');
      const values = Array.from({ length: 50 }, (_, i) => ({ t: 1000 + i }));
      const w = await sink.open(context);
      await w.write(values, []);
      await w.write(values.slice(20), []); // the replay after a crash
      assert.deepEqual(sink.stats(), { added: 50, duplicates: 30, refused: 0 });
      await assert.rejects(
        Promise.resolve(w.write([{ t: 5 }], [])),
        (e: EddyError) => e.code === 'EDDY_IO_FAILED' && /id 5-0 is below the last entry/.test(e.message),
      );
      await w.close?.();
      assert.deepEqual(
        (await r.readAll(stream)).map((e) => [e.id, JSON.parse(e.data)]),
        values.map((v) => [`${v.t}-0`, v]),
      );
    } finally {
      await r.cleanup();
    }
  });

  it('without ids the server assigns them and a replay appends again (at-least-once)', async () => {
    const r = await redisFixture();
    try {
      const stream = r.key('out');
      await r.redis.xadd(stream, '*', 'data', '"existing"');
      const sink = redisSink<number>({ stream, field: 'data' });
      assert.equal(sink.guarantee, 'at-least-once');
      const w = await sink.open(context);
      await w.write([1, 2], []);
      await w.write([2], []);
      await w.close?.();
      assert.deepEqual(
        (await r.readAll(stream)).map((e) => JSON.parse(e.data)),
        ['existing', 1, 2, 2],
      );
    } finally {
      await r.cleanup();
    }
  });

  it('a missing stream is a configuration error unless createStream', async () => {
    const r = await redisFixture();
    try {
      const missing = r.key('missing');
      await assert.rejects(
        Promise.resolve(redisSink({ stream: missing }).open(context)),
        (e: EddyError) =>
          e.code === 'EDDY_CONFIG_INVALID' &&
          e.message.includes(missing) &&
          e.message.includes('createStream: true'),
      );
    } finally {
      await r.cleanup();
    }
  });
});
