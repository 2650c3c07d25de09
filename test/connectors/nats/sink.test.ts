/**
 * The JetStream sink against the local server: a record's `Nats-Msg-Id`
 * makes a second publish of it a duplicate the server drops — with the
 * record's own id, and with position ids restored from a checkpoint's
 * committable — while a fresh start never collides with an earlier run.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { jetstreamManager } from '@nats-io/jetstream';
import { natsSink } from '../../../src/connectors/nats/index.ts';
import type { SinkContext } from '../../../src/core/connector.ts';
import { type EddyError, systemClock } from '../../../src/index.ts';
import { big, runRefusing } from '../../helpers/refused.ts';
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
      assert.deepEqual(sink.stats(), { published: 100, duplicates: 50, retried: 0, refused: 0 });
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
      assert.deepEqual(sink.stats(), { published: 6, duplicates: 2, retried: 0, refused: 0 });
      const fresh = await sink.open(context());
      await fresh.write([0], []);
      await fresh.close?.();
      assert.deepEqual(sink.stats(), { published: 7, duplicates: 2, retried: 0, refused: 0 });
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

  it("a record over the server's max_payload is dead-lettered with the reason, the run goes on", async () => {
    const nats = await natsFixture();
    try {
      const stream = uniqueName('OUT');
      await nats.stream(stream);
      const sink = natsSink<{ id: number; pad: string }>({
        stream,
        subject: `${stream}.out`,
        servers: NATS_URL,
      });
      const records = [0, 1, 2, 3, 4].map((id) => ({ id, pad: id === 2 ? big(2 * 1024 * 1024) : '' }));
      const dead = await runRefusing(sink, records);
      assert.equal(dead.length, 1);
      assert.match(
        dead[0]!.reason,
        /natsSink: a record of \d+ bytes is larger than the server's max_payload \(1048576 bytes\)/,
      );
      assert.match(dead[0]!.payload, /^\{"id":2,"pad":"xxx/);
      assert.deepEqual(
        (await nats.readAll(stream)).map((m) => (JSON.parse(m) as { id: number }).id),
        [0, 1, 3, 4],
      );
      assert.equal(sink.stats().refused, 1);
    } finally {
      await nats.cleanup();
    }
  });

  it("a record over the stream's max_msg_size is dead-lettered too", async () => {
    const nats = await natsFixture();
    const jsm = await jetstreamManager(nats.nc);
    const stream = uniqueName('SMALL');
    try {
      await jsm.streams.add({ name: stream, subjects: [`${stream}.>`], max_msg_size: 10_000 });
      const sink = natsSink<{ id: number; pad: string }>({
        stream,
        subject: `${stream}.out`,
        servers: NATS_URL,
      });
      const dead = await runRefusing(
        sink,
        [0, 1, 2].map((id) => ({ id, pad: id === 1 ? big(20_000) : '' })),
      );
      assert.equal(dead.length, 1);
      assert.match(
        dead[0]!.reason,
        new RegExp(`larger than stream ${stream}'s max_msg_size \\(10000 bytes\\)`),
      );
      assert.deepEqual(sink.stats(), { published: 2, duplicates: 0, retried: 0, refused: 1 });
    } finally {
      await jsm.streams.delete(stream).catch(() => {});
      await nats.cleanup();
    }
  });
});
