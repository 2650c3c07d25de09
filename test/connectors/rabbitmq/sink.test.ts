/**
 * The RabbitMQ sink against the local broker: every record is confirmed by
 * the time `flush` (a checkpoint, the end) returns and reads back as sent;
 * unroutable publishes fail naming the routing key; a missing queue or
 * exchange is named; a connection closed by the broker is ridden out with
 * the unconfirmed messages published again (at-least-once).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { rabbitmqSink } from '../../../src/connectors/rabbitmq/index.ts';
import type { SinkContext } from '../../../src/core/connector.ts';
import { arraySource, EddyError, Pipeline, systemClock } from '../../../src/index.ts';
import { big, runRefusing } from '../../helpers/refused.ts';
import { closeConnections, haveRabbitmqctl, rabbitFixture, rabbitService, uniqueName } from './helpers.ts';

const service = await rabbitService();
const ctl = service.skip === false && (await haveRabbitmqctl());

interface Rec {
  readonly id: number;
  readonly s: string;
}

const records = (n: number, from = 0): Rec[] =>
  Array.from({ length: n }, (_, i) => ({ id: from + i, s: `é ${from + i} "q" \n` }));

const context = (over: Partial<SinkContext> = {}): SinkContext => ({
  stepId: 'out',
  clock: systemClock,
  checkpointing: true,
  ...over,
});

describe('RabbitMQ sink', { skip: service.skip }, () => {
  it('a pipeline writes every record, confirmed, exactly as sent, to a declared quorum queue', async () => {
    const r = await rabbitFixture();
    try {
      const queue = uniqueName('out');
      const p = new Pipeline({ name: 'rabbit-sink' });
      const input = records(2000);
      const sink = rabbitmqSink<Rec>({
        queue,
        declare: 'quorum',
        maxInFlight: 64,
        messageId: (x) => `r-${x.id}`,
      });
      p.source('in', arraySource(input)).sink(sink);
      await p.run();
      assert.equal(sink.stats().confirmed, 2000);
      const got = (await r.drain(queue)).map((s) => JSON.parse(s) as Rec);
      assert.deepEqual(
        [...got].sort((a, b) => a.id - b.id),
        input,
      );
      await r.ch.deleteQueue(queue);
    } finally {
      await r.cleanup();
    }
  });

  it('unroutable messages fail the sink naming the routing key; missing destinations are named', async () => {
    const r = await rabbitFixture();
    try {
      const w = await rabbitmqSink<Rec>({ exchange: 'amq.direct', routingKey: uniqueName('nobody') }).open(
        context(),
      );
      await w.write(records(3), [0, 0, 0]);
      await assert.rejects(
        async () => await w.flush?.(),
        (e: unknown) => {
          assert.ok(e instanceof EddyError && e.code === 'EDDY_CONFIG_INVALID', String(e));
          assert.match(e.message, /exchange amq\.direct .* routed no queue for routing key "h5-nobody-/);
          assert.match(e.message, /bind a queue to the exchange for that key, or fix routingKey/);
          return true;
        },
      );
      await w.close?.();
      const missing = uniqueName('none');
      await assert.rejects(
        async () => await rabbitmqSink({ queue: missing }).open(context()),
        /does not exist.*pass declare/,
      );
      await assert.rejects(
        async () => await rabbitmqSink({ exchange: missing, routingKey: 'k' }).open(context()),
        new RegExp(`exchange "${missing}" does not exist`),
      );
    } finally {
      await r.cleanup();
    }
  });

  it('a flush that starts while a write waits for room completes (regression: one waiter slot lost the other)', async () => {
    const r = await rabbitFixture();
    try {
      const queue = uniqueName('out');
      await r.queue(queue);
      const w = await rabbitmqSink<Rec>({ queue, maxInFlight: 2 }).open(context());
      const writing = w.write(records(300), []);
      const flushing = w.flush?.();
      await Promise.all([writing, flushing]);
      await w.flush?.();
      await w.close?.();
      assert.equal((await r.count(queue)).messages, 300);
    } finally {
      await r.cleanup();
    }
  });

  it('misconfiguration fails at construction, naming the fix', () => {
    assert.throws(() => rabbitmqSink({}), /needs a destination: queue or exchange.*pass \{ queue: "out" \}/);
    assert.throws(() => rabbitmqSink({ queue: 'a', exchange: 'b' }), /takes queue or exchange, not both/);
    assert.throws(() => rabbitmqSink({ exchange: 'b' }), /with an exchange needs routingKey/);
    assert.throws(
      () => rabbitmqSink({ exchange: 'b', routingKey: 'k', declare: 'quorum' }),
      /declare applies to a queue/,
    );
    assert.throws(() => rabbitmqSink({ queue: 'a', maxInFlight: 0 }), /maxInFlight must be at least 1/);
  });

  it('rides out a connection closed by the broker: unconfirmed messages are published again, none lost', {
    skip: !ctl && 'rabbitmqctl is not available to close a connection',
  }, async () => {
    const r = await rabbitFixture();
    try {
      const queue = uniqueName('out');
      await r.queue(queue);
      const stepId = uniqueName('drop');
      const sink = rabbitmqSink<Rec>({ queue, maxInFlight: 200 });
      const w = await sink.open(context({ stepId }));
      await w.write(records(1000), []);
      assert.equal(await closeConnections(stepId), 1);
      await w.write(records(1000, 1000), []);
      await w.flush?.();
      await w.close?.();
      const ids = (await r.drain(queue)).map((s) => (JSON.parse(s) as Rec).id);
      const distinct = new Set(ids);
      assert.equal(
        distinct.size,
        2000,
        `every record arrived (${ids.length} messages, ${distinct.size} distinct)`,
      );
      assert.ok(sink.stats().reconnects >= 1, JSON.stringify(sink.stats()));
      process.stdout.write(`# sink drop: ${ids.length - 2000} duplicates, ${JSON.stringify(sink.stats())}\n`);
    } finally {
      await r.cleanup();
    }
  });

  it('a record over maxMessageBytes is dead-lettered with the reason, the others published', async () => {
    const r = await rabbitFixture();
    try {
      const queue = uniqueName('big');
      await r.queue(queue);
      const sink = rabbitmqSink<Rec>({ queue, maxMessageBytes: 10_000 });
      const dead = await runRefusing(
        sink,
        [0, 1, 2, 3, 4].map((id) => ({ id, s: id === 2 ? big(20_000) : '' })),
      );
      assert.equal(dead.length, 1);
      assert.match(
        dead[0]!.reason,
        /rabbitmqSink: a record of 200\d\d bytes is larger than the broker's max_message_size \(maxMessageBytes\) \(10000 bytes\)/,
      );
      assert.deepEqual(
        (await r.drain(queue)).map((s) => (JSON.parse(s) as Rec).id),
        [0, 1, 3, 4],
      );
      assert.equal(sink.stats().refused, 1);
    } finally {
      await r.cleanup();
    }
  });
});
