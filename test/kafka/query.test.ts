/**
 * Queryable state of a Kafka application (issue 17): `app.queryState(step,
 * key)` reads a key's live state from this instance's task for the key's
 * partition; `eddy run --ui`'s `/api/query` serves the same. A key whose
 * partition another instance runs is named with its partition.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { MessageToProduce } from '@platformatic/kafka';
import { type KafkaApp, kafkaApp, kafkaPartition } from '../../src/connectors/kafka/index.ts';
import { EddyError, Pipeline } from '../../src/index.ts';
import { appTestSetup, createTopics, kafkaReady, keyedRecord, until } from './helpers.ts';

const kafka = await kafkaReady();
const PARTITIONS = 2;

describe('Kafka application: queryable state', { skip: kafka.skip }, () => {
  it('each key’s count, read from the task of its partition; a partition it does not run is named', {
    timeout: 240_000,
  }, async () => {
    const brokers = kafka.address!.split(',');
    const { id, input, output, admin, producer } = appTestSetup(brokers, 'eddy-query');
    const app = kafkaApp({ applicationId: id, brokers, commitIntervalMs: 200 });
    /** A rolling count per key in the step "count": the first record of a key is n = 1. */
    const counting = (a: KafkaApp) => {
      const p = new Pipeline({ name: 'query' });
      p.source('in', a.source<{ key: string; n?: number }>({ topics: [input] }))
        .keyBy((e) => e.key)
        .reduce((x) => ({ key: x.key, n: (x.n ?? 1) + 1 }), 'count')
        .sink(a.sink({ topic: output, key: (e) => e.key }));
      return p;
    };
    const stop = new AbortController();
    let done: Promise<void> | undefined;
    try {
      await createTopics(admin, {
        [input]: { partitions: PARTITIONS },
        [output]: { partitions: PARTITIONS },
      });
      done = app.run(() => counting(app), { signal: stop.signal });
      await until(
        'both partitions run here',
        () => app.metrics().tasks.filter((t) => t.startsWith(input)).length === PARTITIONS,
        {
          timeoutMs: 120_000,
        },
      );
      const messages: MessageToProduce[] = [];
      for (let round = 0; round < 3; round++)
        for (let k = 0; k < 10; k++) {
          const key = `k${k}`;
          messages.push(keyedRecord(input, key, PARTITIONS));
        }
      await producer.send({ messages });
      // Three records per key: the rolling reduce holds n = 3 for each.
      const n = async (key: string) => {
        const s = await app.queryState('count', key);
        return (s.entries[0]?.value as { n?: number } | undefined)?.n;
      };
      await until(
        'every key counted three times',
        async () => {
          for (let k = 0; k < 10; k++) if ((await n(`k${k}`)) !== 3) return false;
          return true;
        },
        { timeoutMs: 120_000 },
      );
      const s = await app.queryState('count', 'k4');
      assert.equal(s.keyGroup, kafkaPartition('k4', PARTITIONS));
      assert.deepEqual((await app.queryState('count', 'nobody')).entries, []);
      // A scan over the partitions this instance runs (both, here): every key in order.
      const all = await app.scanState('count', { prefix: 'k' });
      assert.deepEqual(all.partitions, [0, 1]);
      assert.deepEqual(
        all.keys.map((x) => [x.key, (x.entries[0]?.value as { n?: number } | undefined)?.n]),
        Array.from({ length: 10 }, (_, k) => [`k${k}`, 3]),
      );
      await assert.rejects(app.queryState('nope', 'k1'), /no step "nope"/);
      // Another instance joins and takes a partition: a key there is named with it.
      const other = kafkaApp({ applicationId: id, brokers, commitIntervalMs: 200, instanceId: 'other' });
      const otherStop = new AbortController();
      const otherDone = other.run(() => counting(other), { signal: otherStop.signal });
      try {
        await until(
          'each instance runs one partition',
          () => app.metrics().tasks.filter((t) => t.startsWith(input)).length === 1,
          {
            timeoutMs: 120_000,
          },
        );
        const mine = Number(
          app
            .metrics()
            .tasks.find((t) => t.startsWith(input))!
            .split(':')
            .at(-1),
        );
        const away = Array.from({ length: 10 }, (_, k) => `k${k}`).find(
          (k) => kafkaPartition(k, PARTITIONS) !== mine,
        )!;
        // A scan now covers only this instance's partition, and says which.
        const mineOnly = await app.scanState('count', { prefix: 'k' });
        assert.deepEqual(mineOnly.partitions, [mine]);
        assert.ok(mineOnly.keys.every((x) => kafkaPartition(String(x.key), PARTITIONS) === mine));
        assert.ok(mineOnly.keys.length > 0 && mineOnly.keys.length < 10);
        await assert.rejects(
          app.queryState('count', away),
          (e: unknown) =>
            e instanceof EddyError &&
            new RegExp(
              `key "${away}" is in partition ${1 - mine}, which another instance of the application runs`,
            ).test(e.message),
        );
      } finally {
        otherStop.abort();
        await otherDone.catch(() => {});
      }
    } finally {
      stop.abort();
      await done?.catch(() => {});
      await producer.close();
      await admin.deleteTopics({ topics: [input, output] }).catch(() => {});
      await admin.close();
    }
  });
});
