/**
 * The RabbitMQ source against the local broker: acknowledgements wait for
 * the checkpoint that covers the messages (or the next poll without
 * checkpoints), redeliveries are counted and, with message ids, not handed
 * out again after a restore, malformed payloads are dead-lettered with the
 * reason, classic and quorum queues are read, a connection closed by the
 * broker is ridden out (or fails loudly past reconnectTimeoutMs), and
 * misconfiguration fails fast naming the bad value and the fix.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { rabbitmqSource } from '../../../src/connectors/rabbitmq/index.ts';
import type { SourceContext, SourceReader } from '../../../src/core/connector.ts';
import { collectSink, type DeadLetter, EddyError, Pipeline, systemClock } from '../../../src/index.ts';
import { waitUntil } from '../broker-service.ts';
import {
  closeConnections,
  haveRabbitmqctl,
  MALFORMED,
  RABBIT_URL,
  rabbitFixture,
  rabbitService,
  uniqueName,
} from './helpers.ts';

const service = await rabbitService();
const ctl = service.skip === false && (await haveRabbitmqctl());

interface Rec {
  readonly id: number;
}

const records = (n: number, from = 0): Rec[] => Array.from({ length: n }, (_, i) => ({ id: from + i }));
const json = (rs: readonly Rec[]) => rs.map((r) => JSON.stringify(r));
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

/** Polls until `n` records came out (or fails after the time limit). */
async function take<T>(reader: SourceReader<T>, n: number): Promise<T[]> {
  const out: T[] = [];
  await waitUntil(`${n} records polled`, async () => {
    const b = await reader.poll(n - out.length);
    if (b !== null) out.push(...b.values);
    return out.length >= n;
  });
  return out;
}

describe('RabbitMQ source', { skip: service.skip }, () => {
  it('with checkpoints, acknowledges only when the checkpoint after the messages completes', async () => {
    const r = await rabbitFixture();
    try {
      const queue = uniqueName('q');
      await r.queue(queue);
      await r.publish(queue, json(records(300)));
      const source = rabbitmqSource<Rec>({ queue, url: RABBIT_URL });
      // Read and checkpointed, never completed: closing hands all 300 back to the queue.
      const a = await source.open(context());
      assert.deepEqual(await take(a, 300), records(300));
      a.position?.(1);
      await a.close?.();
      await waitUntil('the broker requeued the 300', async () => (await r.count(queue)).messages === 300);
      // Read again (counted as redeliveries), checkpoint 2 completes: acknowledged.
      const b = await source.open(context());
      assert.deepEqual(await take(b, 300), records(300));
      b.position?.(2);
      await b.checkpointComplete?.(2);
      await b.close?.();
      await waitUntil('nothing left', async () => (await r.count(queue)).messages === 0);
      const s = source.stats();
      assert.equal(s.redelivered, 300, JSON.stringify(s));
      assert.equal(s.acked, 300, JSON.stringify(s));
    } finally {
      await r.cleanup();
    }
  });

  it('only what the completed checkpoint covers is acknowledged, not what was read after its barrier', async () => {
    const r = await rabbitFixture();
    try {
      const queue = uniqueName('q');
      await r.queue(queue);
      await r.publish(queue, json(records(100)));
      const source = rabbitmqSource<Rec>({ queue });
      const a = await source.open(context());
      assert.equal((await take(a, 60)).length, 60);
      a.position?.(7);
      assert.equal((await take(a, 40)).length, 40); // after the barrier of 7
      await a.checkpointComplete?.(7);
      await a.close?.();
      await waitUntil(
        'the 40 after the barrier are back',
        async () => (await r.count(queue)).messages === 40,
      );
      assert.deepEqual(
        (await r.drain(queue)).map((s) => (JSON.parse(s) as Rec).id),
        records(40, 60).map((x) => x.id),
      );
    } finally {
      await r.cleanup();
    }
  });

  it('with message ids, a restored reader skips the redeliveries its checkpoint covers', async () => {
    const r = await rabbitFixture();
    try {
      const queue = uniqueName('q');
      await r.queue(queue);
      const input = records(30);
      await r.publish(
        queue,
        json(input),
        input.map((x) => `m-${x.id}`),
      );
      const source = rabbitmqSource<Rec>({ queue, prefetch: 50 });
      const a = await source.open(context());
      assert.deepEqual(await take(a, 10), records(10));
      const position = a.position?.(1); // 0-9 are in this checkpoint's state
      await a.close?.(); // a crash: nothing acknowledged
      const b = await source.open(context({ restored: position }));
      assert.deepEqual(await take(b, 20), records(20, 10), 'the covered 10 are not handed out again');
      b.position?.(2);
      await b.checkpointComplete?.(2);
      await b.close?.();
      await waitUntil('all acknowledged', async () => (await r.count(queue)).messages === 0);
      const s = source.stats();
      assert.equal(s.skipped, 10, JSON.stringify(s));
      assert.ok(s.redelivered >= 30, JSON.stringify(s));
    } finally {
      await r.cleanup();
    }
  });

  it('without checkpoints, acknowledges at the next poll; malformed payloads are dead-lettered with the reason', async () => {
    const r = await rabbitFixture();
    try {
      const queue = uniqueName('q');
      await r.queue(queue);
      await r.publish(queue, [...json(records(200)), ...MALFORMED.map((m) => m.payload)]);
      const out = collectSink<Rec>();
      const dead = collectSink<DeadLetter>();
      const p = new Pipeline({ name: 'rabbit-plain' });
      const source = rabbitmqSource<Rec>({ queue });
      p.source('in', source).sink(out);
      p.deadLetters().sink(dead);
      const running = await p.start({ restart: false });
      await waitUntil(
        'every message is handled and acknowledged',
        () =>
          out.values.length === 200 &&
          dead.values.length === MALFORMED.length &&
          source.stats().acked === 204,
      );
      running.stop();
      await running.done;
      assert.deepEqual(byId(out.values), records(200));
      assert.equal((await r.count(queue)).messages, 0);
      const reasons = dead.values.map((d) => d.reason);
      assert.ok(dead.values.every((d) => d.code === 'EDDY_DECODE_FAILED' && d.step === 'in'));
      for (const m of MALFORMED) {
        const reason = reasons.find((x) => x.startsWith(`${m.code}: `));
        assert.match(
          reason ?? '',
          new RegExp(`\\(queue ${queue}, delivery tag \\d+\\)$`),
          reasons.join(' | '),
        );
      }
    } finally {
      await r.cleanup();
    }
  });

  it('declares a quorum queue and reads it; a type mismatch and a missing queue are named', async () => {
    const r = await rabbitFixture();
    try {
      const queue = uniqueName('qq');
      const source = rabbitmqSource<Rec>({ queue, declare: 'quorum' });
      const a = await source.open(context());
      await r.publish(queue, json(records(50)));
      assert.deepEqual(await take(a, 50), records(50));
      a.position?.(1);
      await a.checkpointComplete?.(1);
      await a.close?.();
      await r.ch.deleteQueue(queue);

      const classic = uniqueName('qc');
      await r.queue(classic, 'classic');
      await assert.rejects(
        async () => await rabbitmqSource({ queue: classic, declare: 'quorum' }).open(context()),
        (e: unknown) => {
          assert.ok(e instanceof EddyError && e.code === 'EDDY_CONFIG_INVALID', String(e));
          assert.match(e.message, /exists with other arguments than declare "quorum"/);
          assert.match(e.message, /pass the type the queue has, or drop declare/);
          return true;
        },
      );
      const missing = uniqueName('none');
      await assert.rejects(
        async () => await rabbitmqSource({ queue: missing }).open(context()),
        (e: unknown) => {
          assert.ok(e instanceof EddyError && e.code === 'EDDY_CONFIG_INVALID', String(e));
          assert.match(e.message, new RegExp(`queue "${missing}" does not exist`));
          assert.match(e.message, /pass declare: "classic" or "quorum"/);
          return true;
        },
      );
    } finally {
      await r.cleanup();
    }
  });

  it('misconfiguration fails at construction, naming the option and the fix; an unreachable broker names the URL', async () => {
    assert.throws(() => rabbitmqSource({ queue: 'q', prefetch: 0 }), /option prefetch must be at least 1/);
    assert.throws(
      () => rabbitmqSource({ queue: 'q', prefetch: 70_000 }),
      /option prefetch must be at most 65535/,
    );
    assert.throws(
      () => rabbitmqSource({ queue: 'q', url: 'http://x' }),
      /url must be an amqp:\/\/ or amqps:\/\/ URL/,
    );
    assert.throws(
      () => rabbitmqSource({ queue: 'q', declare: 'stream' as 'quorum' }),
      /declare is not valid/,
    );
    assert.throws(
      () => rabbitmqSource({ queue: 'q', prefech: 10 } as unknown as { queue: string }),
      /has no option "prefech"/,
    );
    assert.throws(() => rabbitmqSource({} as { queue: string }), /needs queue/);
    await assert.rejects(
      async () =>
        await rabbitmqSource({ queue: 'q', url: 'amqp://u:secret@127.0.0.1:1', connectTimeoutMs: 1000 }).open(
          context(),
        ),
      (e: unknown) => {
        assert.ok(e instanceof EddyError && e.code === 'EDDY_IO_FAILED', String(e));
        assert.match(e.message, /cannot connect to RabbitMQ at amqp:\/\/u:\*\*\*@127\.0\.0\.1:1/);
        assert.doesNotMatch(e.message, /secret/);
        return true;
      },
    );
  });

  it('rides out a connection closed by the broker: reconnects, consumes again, loses nothing', {
    skip: !ctl && 'rabbitmqctl is not available to close a connection',
  }, async () => {
    const r = await rabbitFixture();
    try {
      const queue = uniqueName('q');
      await r.queue(queue);
      await r.publish(queue, json(records(200)));
      const stepId = uniqueName('drop');
      const source = rabbitmqSource<Rec>({ queue, prefetch: 100 });
      const a = await source.open(context({ stepId, checkpointing: false }));
      const got = await take(a, 100);
      assert.equal(await closeConnections(stepId), 1, 'the source connection was closed by the broker');
      await r.publish(queue, json(records(200, 200)));
      const seen = new Set(got.map((x) => x.id));
      await waitUntil('every record seen after the drop', async () => {
        const b = await a.poll(100);
        for (const x of b?.values ?? []) seen.add(x.id);
        return seen.size === 400;
      });
      await a.close?.();
      assert.ok(source.stats().reconnects >= 1, JSON.stringify(source.stats()));
    } finally {
      await r.cleanup();
    }
  });

  it('fails loudly, naming reconnectTimeoutMs, when the broker stays away longer', {
    skip: !ctl && 'rabbitmqctl is not available to close a connection',
  }, async () => {
    const r = await rabbitFixture();
    try {
      const queue = uniqueName('q');
      await r.queue(queue);
      const stepId = uniqueName('gone');
      const a = await rabbitmqSource<Rec>({ queue, reconnectTimeoutMs: 0 }).open(context({ stepId }));
      assert.equal(await closeConnections(stepId), 1);
      let error: unknown;
      await waitUntil('the poll fails', async () => {
        try {
          await a.poll(10);
          return false;
        } catch (e) {
          error = e;
          return true;
        }
      });
      assert.ok(error instanceof EddyError && error.code === 'EDDY_IO_FAILED', String(error));
      assert.match(error.message, /unreachable for \d+ ms .*raise reconnectTimeoutMs \(0\)/);
      await a.close?.();
    } finally {
      await r.cleanup();
    }
  });
});
