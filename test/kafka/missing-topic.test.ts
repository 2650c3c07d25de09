/**
 * Issue 19, point 11, against the real broker: a kafkaSink to a topic that
 * does not exist waited for ever (and so did Ctrl-C's drain); so did an
 * app.sink on a broker that does not create topics. Now the sink fails when
 * it opens, naming the topic and the fix, or creates the topic when
 * `createTopic` says so. (The broker here creates topics on a metadata
 * request that asks for it; eddy's lookups never ask.) A kafkaSource of a
 * topic that does not exist fails as clearly (it failed with the client's
 * bare "Unknown topic").
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, it } from 'node:test';
import { Admin } from '@platformatic/kafka';
import { readToEnd } from '../../src/connectors/kafka/read-to-end.ts';
import { describeTopics } from '../../src/connectors/kafka/topics.ts';
import { kafkaApp, kafkaPartition, kafkaSink, kafkaSource } from '../../src/deploy/kafka/index.ts';
import { arraySource, EddyError, Pipeline } from '../../src/index.ts';
import { createTopics, kafkaReady, testProducer } from './helpers.ts';

const kafka = await kafkaReady();

describe('a sink or source topic that does not exist (real broker)', { skip: kafka.skip }, () => {
  const brokers = (kafka.address ?? '').split(',');

  it('kafkaSink fails fast naming the topic and the fix; with createTopic it creates the topic and writes', {
    timeout: 60_000,
  }, async () => {
    assert.ok(kafka.address, 'CI=true: the Kafka broker must be running (npm run kafka:up)');
    const missing = `eddy-missing-${randomUUID().slice(0, 8)}`;
    const p = new Pipeline({ name: 'missing' });
    p.source('n', arraySource([1, 2, 3])).sink(kafkaSink({ topic: missing, brokers }));
    const started = Date.now();
    await assert.rejects(p.run(), (e: unknown) => {
      assert.ok(e instanceof EddyError, String(e));
      assert.equal(e.code, 'EDDY_CONFIG_INVALID');
      assert.match(e.message, new RegExp(`topic "${missing}" does not exist`));
      assert.match(e.message, /create the topic first .* or pass createTopic: \{ partitions/);
      return true;
    });
    const took = Date.now() - started;
    assert.ok(took < 20_000, `failed within seconds, not never (${took} ms)`);
    const admin = new Admin({ clientId: 'eddy-test', bootstrapBrokers: brokers });
    try {
      assert.equal((await describeTopics(admin, [missing])).size, 0, 'the lookup did not create the topic');
      const q = new Pipeline({ name: 'create' });
      q.source('n', arraySource([1, 2, 3])).sink(
        kafkaSink({ topic: missing, brokers, createTopic: { partitions: 3, replicationFactor: 1 } }),
      );
      await q.run();
      assert.equal((await describeTopics(admin, [missing])).get(missing)?.partitions, 3);
      const seen: number[] = [];
      await readToEnd({
        bootstrapBrokers: brokers,
        topic: missing,
        clientId: 'eddy-test-read',
        onMessage: (m) => seen.push(JSON.parse(m.value!.toString()) as number),
      });
      assert.deepEqual(
        seen.sort((a, b) => a - b),
        [1, 2, 3],
      );
    } finally {
      await admin.deleteTopics({ topics: [missing] }).catch(() => {});
      await admin.close();
    }
  });

  it('kafkaApp: an app.sink to a missing topic fails run() at once (no restarts), naming it; with createTopic the output arrives', {
    timeout: 120_000,
  }, async () => {
    assert.ok(kafka.address, 'CI=true: the Kafka broker must be running (npm run kafka:up)');
    const n = randomUUID().slice(0, 8);
    const input = `eddy-missing-in-${n}`;
    const output = `eddy-missing-out-${n}`;
    const admin = new Admin({ clientId: 'eddy-test', bootstrapBrokers: brokers });
    const producer = testProducer(brokers);
    try {
      await createTopics(admin, { [input]: { partitions: 2 } });
      await producer.send({
        messages: ['a', 'b', 'c'].map((key, seq) => ({
          topic: input,
          partition: kafkaPartition(key, 2),
          key: Buffer.from(key),
          value: Buffer.from(JSON.stringify({ key, seq })),
        })),
      });
      const build = (app: ReturnType<typeof kafkaApp>, create: boolean) => () => {
        const p = new Pipeline({ name: 'missing-app' });
        p.source('events', app.source<{ key: string; seq: number }>({ topics: [input] }))
          .keyBy((e) => e.key)
          .map((e) => e.seq)
          .sink(app.sink({ topic: output, ...(create ? { createTopic: { partitions: 2 } } : {}) }));
        return p;
      };
      const first = kafkaApp({ applicationId: `eddy-missing-${n}`, brokers, commitIntervalMs: 200 });
      const restarts: string[] = [];
      const stop = new AbortController();
      const timer = setTimeout(() => stop.abort(), 60_000); // bounded even if it never fails
      try {
        await assert.rejects(
          first.run(build(first, false), { signal: stop.signal, onRestart: (why) => restarts.push(why) }),
          (e: unknown) => {
            assert.ok(e instanceof EddyError, String(e));
            assert.match(e.message, new RegExp(`topic "${output}" does not exist.*createTopic`));
            return true;
          },
        );
      } finally {
        clearTimeout(timer);
      }
      assert.deepEqual(restarts, [], 'a missing topic is not retried');
      assert.equal((await describeTopics(admin, [output])).size, 0, 'nothing created the topic');

      const second = kafkaApp({ applicationId: `eddy-missing-${n}`, brokers, commitIntervalMs: 200 });
      const stop2 = new AbortController();
      let failed: unknown;
      const running = second.run(build(second, true), { signal: stop2.signal }).catch((e: unknown) => {
        failed = e;
      });
      const seen: number[] = [];
      try {
        const deadline = Date.now() + 60_000;
        while (seen.length < 3 && failed === undefined && Date.now() < deadline) {
          await new Promise((r) => setTimeout(r, 300));
          seen.length = 0;
          if ((await describeTopics(admin, [output])).size > 0)
            await readToEnd({
              bootstrapBrokers: brokers,
              topic: output,
              clientId: 'eddy-test-read',
              onMessage: (m) => seen.push(JSON.parse(m.value!.toString()) as number),
            });
        }
      } finally {
        stop2.abort();
        await running;
      }
      assert.equal(failed, undefined, `the application failed: ${String(failed)}`);
      assert.deepEqual(
        seen.sort((a, b) => a - b),
        [0, 1, 2],
      );
    } finally {
      await producer.close();
      await admin.deleteTopics({ topics: [input, output, `eddy-missing-${n}-changelog`] }).catch(() => {});
      await admin.close();
    }
  });
  it('kafkaSource of a topic that does not exist fails naming the topic and the fix', {
    timeout: 60_000,
  }, async () => {
    assert.ok(kafka.address, 'CI=true: the Kafka broker must be running (npm run kafka:up)');
    const missing = `eddy-missing-in-${randomUUID().slice(0, 8)}`;
    const p = new Pipeline({ name: 'missing-in' });
    p.source('in', kafkaSource({ topics: [missing], groupId: `eddy-test-${randomUUID()}`, brokers })).sink(
      { kind: 'none', guarantee: 'best-effort', open: () => ({ write() {} }) },
      'out',
    );
    await assert.rejects(p.run(), (e: unknown) => {
      assert.ok(e instanceof EddyError, String(e));
      assert.equal(e.code, 'EDDY_CONFIG_INVALID');
      assert.match(e.message, new RegExp(`kafkaSource: topic "${missing}" .* does not exist`));
      assert.match(e.message, /create it first .* or correct the topic's name/);
      return true;
    });
    const admin = new Admin({ clientId: 'eddy-test', bootstrapBrokers: brokers });
    try {
      assert.equal((await describeTopics(admin, [missing])).size, 0, 'reading did not create the topic');
    } finally {
      await admin.close();
    }
  });
});
