/**
 * The JetStream sink against the local server: a record's `Nats-Msg-Id`
 * makes a second publish of it a duplicate the server drops — with the
 * record's own id, and with position ids restored from a checkpoint's
 * committable — while a fresh start never collides with an earlier run.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { natsSink } from '../../../src/connectors/nats/index.ts';
import type { SinkContext } from '../../../src/core/connector.ts';
import { type EddyError, systemClock } from '../../../src/index.ts';
import { NATS_URL, natsFixture, natsService, uniqueName } from './helpers.ts';

const service = await natsService();

const context = (restored?: unknown): SinkContext => ({
  stepId: 'out',
  clock: systemClock,
  checkpointing: true,
  ...(restored === undefined ? {} : { restored }),
});

describe('NATS JetStream sink', { skip: service.skip }, () => {
  it('with messageId, a replayed batch is dropped by the server', async () => {
    const nats = await natsFixture();
    try {
      const stream = uniqueName('OUT');
      await nats.stream(stream);
      const sink = natsSink<{ id: string; n: number }>({
        stream,
        servers: NATS_URL,
        subject: (r) => `${stream}.n${r.n % 3}`,
        messageId: (r) => r.id,
      });
      const values = Array.from({ length: 100 }, (_, n) => ({ id: `e${n}`, n }));
      const w = await sink.open(context());
      await w.write(values, []);
      await w.write(values.slice(10, 60), []);
      await w.close?.();
      assert.deepEqual(sink.stats(), { published: 100, duplicates: 50, retried: 0 });
      const got = (await nats.readAll(stream)).map((s) => JSON.parse(s));
      assert.deepEqual(got, values);
    } finally {
      await nats.cleanup();
    }
  });

  it('position ids continue from a restored committable; a fresh start is a new run', async () => {
    const nats = await natsFixture();
    try {
      const stream = uniqueName('OUT');
      await nats.stream(stream);
      const sink = natsSink<number>({ stream, servers: NATS_URL, subject: `${stream}.x` });
      const first = await sink.open(context());
      await first.write([0, 1, 2], []);
      const committable = await first.preCommit!(1);
      await first.write([3, 4], []); // after the checkpoint; then the "crash"
      await first.close?.();
      const again = await sink.open(context(committable));
      await again.write([3, 4, 5], []); // the replay: 3 and 4 are duplicates
      await again.close?.();
      assert.deepEqual(sink.stats(), { published: 6, duplicates: 2, retried: 0 });
      const fresh = await sink.open(context());
      await fresh.write([0], []);
      await fresh.close?.();
      assert.deepEqual(sink.stats(), { published: 7, duplicates: 2, retried: 0 });
      assert.deepEqual((await nats.readAll(stream)).map(Number), [0, 1, 2, 3, 4, 5, 0]);
    } finally {
      await nats.cleanup();
    }
  });

  it('fails fast on a missing stream and a bad subject', async () => {
    const nats = await natsFixture();
    try {
      assert.throws(
        () => natsSink({ stream: 'S', subject: 'a.*' }),
        /subject is not valid.*received "a\.\*"/,
      );
      const missing = uniqueName('MISSING');
      await assert.rejects(
        Promise.resolve(natsSink({ stream: missing, subject: 'x', servers: NATS_URL }).open(context())),
        (e: EddyError) =>
          e.code === 'EDDY_CONFIG_INVALID' &&
          e.message.includes(missing) &&
          e.message.includes('createStream: true'),
      );
    } finally {
      await nats.cleanup();
    }
  });
});
