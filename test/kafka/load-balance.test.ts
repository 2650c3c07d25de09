/**
 * Load-aware assignment across instances (issue 18): two instances of one
 * Kafka application share 4 partitions.
 *
 * 1. Partition 0 carries about 97 % of the records when the second instance
 *    joins: weighed by the loads the first reports, the hot partition goes to
 *    one instance alone and the three cold ones to the other (by count it
 *    would be two and two, one of them with the hot partition).
 * 2. The load shifts (partitions 1-3 hot, 0 cold) while nobody joins or
 *    leaves: only the leader's probing rebalance can see it, and it moves a
 *    hot partition to the idle instance (two and two).
 *
 * The counts go on exactly across every move: per key 1, 2, 3, … with no gap
 * and no repeat (read_committed).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { MessageToProduce } from '@platformatic/kafka';
import { readToEnd } from '../../src/connectors/kafka/read-to-end.ts';
import { type KafkaApp, kafkaApp, kafkaPartition } from '../../src/deploy/kafka/index.ts';
import {
  appTestSetup,
  type Counted,
  countingPipeline,
  createTopics,
  kafkaReady,
  keyedRecord,
  sleep,
  until,
} from './helpers.ts';

const kafka = await kafkaReady();
const PARTITIONS = 4;

describe('Kafka application: load-aware assignment', { skip: kafka.skip }, () => {
  it('the hot partition ends up alone on one instance, the cold ones on the other; counts stay exact', {
    timeout: 300_000,
  }, async () => {
    const brokers = kafka.address!.split(',');
    const { id, input, output, admin, producer } = appTestSetup(brokers, 'eddy-balance');
    // Three keys in each partition; records per partition per batch as `mix` says.
    const keysOf = (p: number, n: number) => {
      const out: string[] = [];
      for (let i = 0; out.length < n; i++) if (kafkaPartition(`k${i}`, PARTITIONS) === p) out.push(`k${i}`);
      return out;
    };
    const keys = Array.from({ length: PARTITIONS }, (_, p) => keysOf(p, 3));
    let mix = [90, 1, 1, 1];
    const sent = new Map<string, number>();
    const apps: { app: KafkaApp; stop: AbortController; done: Promise<void> }[] = [];
    const start = (name: string) => {
      const app = kafkaApp({
        applicationId: id,
        brokers,
        commitIntervalMs: 200,
        instanceId: name,
        loadBalance: { probeIntervalMs: 2000 },
      });
      const stop = new AbortController();
      const done = app.run(() => countingPipeline(app, input, output, 'balance'), { signal: stop.signal });
      apps.push({ app, stop, done });
      return app;
    };
    const mine = (app: KafkaApp) =>
      app
        .metrics()
        .tasks.filter((t) => t.startsWith(`${input}:`))
        .map((t) => Number(t.split(':').at(-1)))
        .sort();
    let producing = true;
    let feeding: Promise<void> | undefined;
    try {
      await createTopics(admin, {
        [input]: { partitions: PARTITIONS },
        [output]: { partitions: PARTITIONS },
      });
      const a = start('a');
      await until('a runs every partition', () => mine(a).length === PARTITIONS, { timeoutMs: 120_000 });
      // A steady stream, each partition's share as `mix` says.
      feeding = (async () => {
        while (producing) {
          const messages: MessageToProduce[] = [];
          mix.forEach((n, p) => {
            for (let i = 0; i < n; i++) {
              const key = keys[p]![i % 3]!;
              messages.push(keyedRecord(input, key, PARTITIONS));
              sent.set(key, (sent.get(key) ?? 0) + 1);
            }
          });
          await producer.send({ messages });
          await sleep(50);
        }
      })();
      const b = start('b');
      await until(
        'the hot partition alone on one instance, the three cold ones on the other',
        () => {
          const [x, y] = [mine(a), mine(b)];
          const alone = (h: number[], c: number[]) =>
            JSON.stringify(h) === '[0]' && JSON.stringify(c) === '[1,2,3]';
          return alone(x, y) || alone(y, x);
        },
        { timeoutMs: 180_000 },
      );
      // The hot partition's reported load is the largest.
      const loads = Object.assign({}, ...apps.map((e) => e.app.metrics().loadBalance.loads)) as Record<
        string,
        number
      >;
      const hotLoad = loads[`${input}:0`] ?? 0;
      for (const p of [1, 2, 3]) assert.ok(hotLoad > (loads[`${input}:${p}`] ?? 0), JSON.stringify(loads));
      // 2. The load shifts; nobody joins or leaves.
      const probesBefore = apps.reduce((n, e) => n + e.app.metrics().loadBalance.probes, 0);
      mix = [1, 30, 30, 30];
      await until('two partitions on each instance', () => mine(a).length === 2 && mine(b).length === 2, {
        timeoutMs: 180_000,
      });
      const probes = apps.reduce((n, e) => n + e.app.metrics().loadBalance.probes, 0);
      assert.ok(probes > probesBefore, `the leader probed (${probesBefore} → ${probes})`);
      producing = false;
      await feeding;
      // Every record counted exactly once across the moves: per key 1..n, each once.
      const total = [...sent.values()].reduce((x, y) => x + y, 0);
      let out: Counted[] = [];
      await until(
        'every record counted',
        async () => {
          out = [];
          await readToEnd({
            bootstrapBrokers: brokers,
            topic: output,
            clientId: 'eddy-test-balance',
            onMessage: (m) => out.push(JSON.parse(m.value!.toString()) as Counted),
          });
          return out.length >= total;
        },
        { timeoutMs: 120_000 },
      );
      const byKey = new Map<string, number[]>();
      for (const c of out) byKey.set(c.key, [...(byKey.get(c.key) ?? []), c.count]);
      for (const [key, n] of sent)
        assert.deepEqual(
          (byKey.get(key) ?? []).sort((x, y) => x - y),
          Array.from({ length: n }, (_, i) => i + 1),
          `key ${key}: counts 1..${n} once each`,
        );
    } finally {
      producing = false;
      await feeding?.catch(() => {});
      for (const e of apps) e.stop.abort();
      await Promise.all(apps.map((e) => e.done.catch(() => {})));
      await producer.close();
      await admin.deleteTopics({ topics: [input, output] }).catch(() => {});
      await admin.close();
    }
  });
});
