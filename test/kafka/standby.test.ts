/**
 * Warm standby state (issue 13): a process with `warmStandby` keeps every
 * key-group partition's state current from the changelog, so a partition
 * that moves to it (its owner stopped) restores only what was written since
 * its last round, not the whole changelog. Two applications share a group;
 * the first builds state over several commits, then stops; the standby takes
 * its partitions over reading fewer changelog records than a cold restore of
 * the same partitions (measured in the same run), and its counts go on
 * exactly: per key 1, 2, 3, … across the hand-over (read_committed).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { MessageToProduce } from '@platformatic/kafka';
import { readToEnd } from '../../src/connectors/kafka/read-to-end.ts';
import { internalTopics, type KafkaApp, kafkaApp } from '../../src/deploy/kafka/index.ts';
import {
  appTestSetup,
  type Counted,
  countingPipeline,
  createTopics,
  kafkaReady,
  keyedRecord,
  until,
} from './helpers.ts';

const kafka = await kafkaReady();
const PARTITIONS = 2;
const KEYS = 40;

describe('Kafka application: warm standby', { skip: kafka.skip }, () => {
  it('a moved partition restores from the standby, reading less than a cold restore; counts go on exactly', {
    timeout: 300_000,
  }, async () => {
    const brokers = kafka.address!.split(',');
    const { id, input, output, admin, producer } = appTestSetup(brokers, 'eddy-standby');
    const apps: { app: KafkaApp; stop: AbortController; done: Promise<void> }[] = [];
    let sent = 0;
    const produce = async (rounds: number) => {
      for (let r = 0; r < rounds; r++) {
        const messages: MessageToProduce[] = [];
        for (let k = 0; k < KEYS; k++) {
          const key = `k${k}`;
          messages.push(keyedRecord(input, key, PARTITIONS));
        }
        await producer.send({ messages });
        sent += KEYS;
      }
    };
    const read = async () => {
      const out: Counted[] = [];
      await readToEnd({
        bootstrapBrokers: brokers,
        topic: output,
        clientId: 'eddy-test-standby',
        onMessage: (m) => out.push(JSON.parse(m.value!.toString()) as Counted),
      });
      return out;
    };
    const start = (name: string, warmStandby: boolean) => {
      const app = kafkaApp({
        applicationId: id,
        brokers,
        commitIntervalMs: 100,
        instanceId: name,
        warmStandby,
        standbyIntervalMs: 100,
      });
      const stop = new AbortController();
      const done = app.run(() => countingPipeline(app, input, output, 'standby'), { signal: stop.signal });
      const entry = { app, stop, done };
      apps.push(entry);
      return entry;
    };
    const owned = (app: KafkaApp) => app.metrics().tasks.filter((t) => t.startsWith(input)).length;
    try {
      await createTopics(admin, {
        [input]: { partitions: PARTITIONS },
        [output]: { partitions: PARTITIONS },
      });
      // The first owns both partitions and builds state over many commits (a changelog with history).
      const first = start('first', false);
      await until('the first owns both partitions', () => owned(first.app) === PARTITIONS, {
        timeoutMs: 120_000,
      });
      for (let round = 0; round < 12; round++) {
        await produce(1);
        const want = sent;
        await until(`${want} outputs`, async () => (await read()).length >= want, { timeoutMs: 120_000 });
      }
      // The standby joins: it takes one partition (cold: it had no copy yet) and keeps the other's warm.
      const standby = start('standby', true);
      await until('the standby owns a partition', () => owned(standby.app) === 1 && owned(first.app) === 1, {
        timeoutMs: 120_000,
      });
      await produce(3);
      const before = sent;
      await until(`${before} outputs`, async () => (await read()).length >= before, { timeoutMs: 120_000 });
      // Give the standby's rounds time to reach the end of the changelog, then stop the first.
      await new Promise((r) => setTimeout(r, 1000));
      first.stop.abort();
      await first.done;
      await until('the standby owns both partitions', () => owned(standby.app) === PARTITIONS, {
        timeoutMs: 120_000,
      });
      await produce(2);
      const after = sent;
      await until(`${after} outputs`, async () => (await read()).length >= after, { timeoutMs: 120_000 });
      const m = standby.app.metrics();
      assert.ok(m.rebalances >= 2, `the standby took part in its join and the hand-over: ${m.rebalances}`);
      assert.ok(
        m.commits.count > 0 && m.commits.lastMs > 0 && m.commits.maxMs >= m.commits.lastMs,
        JSON.stringify(m.commits),
      );
      const restores = m.restores;
      const handover = restores.at(-1)!;
      // A cold restore of the same partition, for comparison: a third process without a standby.
      standby.stop.abort();
      await standby.done;
      const third = start('cold', false);
      await until('the cold process owns both partitions', () => owned(third.app) === PARTITIONS, {
        timeoutMs: 120_000,
      });
      const coldRestores = third.app.metrics().restores;
      const coldSame = coldRestores.find((r) => r.partition === handover.partition)!;
      process.stderr.write(
        `standby: hand-over restore of partition ${handover.partition} read ${handover.records} records in ${handover.ms} ms (warm); a cold restore of it read ${coldSame.records} in ${coldSame.ms} ms\n`,
      );
      assert.equal(handover.standby, true);
      assert.ok(
        handover.records < coldSame.records,
        `warm ${handover.records} < cold ${coldSame.records} records`,
      );
      await produce(1);
      const last = sent;
      await until(`${last} outputs`, async () => (await read()).length >= last, { timeoutMs: 120_000 });
      // Exactly-once across both hand-overs: per key 1..n, each once.
      const out = await read();
      const byKey = new Map<string, number[]>();
      for (const o of out) byKey.set(o.key, [...(byKey.get(o.key) ?? []), o.count]);
      for (let k = 0; k < KEYS; k++) {
        const counts = (byKey.get(`k${k}`) ?? []).sort((a, b) => a - b);
        assert.deepEqual(
          counts,
          Array.from({ length: sent / KEYS }, (_, i) => i + 1),
          `key k${k}`,
        );
      }
    } finally {
      for (const a of apps) a.stop.abort();
      await Promise.allSettled(apps.map((a) => a.done));
      await producer.close();
      await admin
        .deleteTopics({ topics: [input, output, ...Object.values(internalTopics(id))] })
        .catch(() => {});
      await admin.close();
    }
  });
});
