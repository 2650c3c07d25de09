/**
 * Load-aware assignment across instances (issue 18): two instances of one
 * Kafka application share 4 partitions, two each, under an even load. Then
 * the load shifts while nobody joins or leaves: both partitions of one
 * instance get 30 times the records of the other's. By count nothing would
 * move; the leader's probing rebalance weighs the loads the instances
 * report, and one of the hot partitions moves to the idle instance, so that
 * each runs one, restored there from its warm standby. The counts go on
 * exactly across the moves: per key 1, 2, 3, … with no gap and no repeat
 * (read_committed).
 *
 * With placed standbys (`standbyReplicas: 1`) of three instances, the
 * member the load rule picks as the receiver may keep no copy of the hot
 * partition: the leader holds the move back until it has warmed one up
 * (`plannedMovesTo`), so the partition is restored from that copy, where
 * it used to move cold.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { MessageToProduce, Producer } from '@platformatic/kafka';
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

/**
 * Produces a steady stream until `mix()` says stop (undefined): every 50 ms,
 * `mix()[p]` records to partition p, cycling over its keys; `sent` counts
 * each key's records.
 */
async function feed(
  producer: Producer,
  input: string,
  keys: readonly (readonly string[])[],
  mix: () => readonly number[] | undefined,
  sent: Map<string, number>,
): Promise<void> {
  for (let now = mix(); now !== undefined; now = mix()) {
    const messages: MessageToProduce[] = [];
    now.forEach((n, p) => {
      for (let i = 0; i < n; i++) {
        const key = keys[p]![i % keys[p]!.length]!;
        messages.push(keyedRecord(input, key, keys.length));
        sent.set(key, (sent.get(key) ?? 0) + 1);
      }
    });
    await producer.send({ messages });
    await sleep(50);
  }
}

/** Waits until `output` holds a count for every record sent, then checks per key 1..n, each once. */
async function countsExact(
  brokers: string[],
  output: string,
  sent: ReadonlyMap<string, number>,
): Promise<void> {
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
}
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
    let mix = [3, 3, 3, 3];
    const sent = new Map<string, number>();
    const apps: { app: KafkaApp; stop: AbortController; done: Promise<void> }[] = [];
    const start = (name: string) => {
      const app = kafkaApp({
        applicationId: id,
        brokers,
        commitIntervalMs: 200,
        instanceId: name,
        loadBalance: { probeIntervalMs: 2000 },
        // With warm standbys: a partition that moves for its load restores from the standby.
        warmStandby: true,
        standbyIntervalMs: 200,
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
      feeding = feed(producer, input, keys, () => (producing ? mix : undefined), sent);
      const b = start('b');
      await until('two partitions on each instance', () => mine(a).length === 2 && mine(b).length === 2, {
        timeoutMs: 180_000,
      });
      // The load shifts; nobody joins or leaves: a's two partitions get hot.
      const hot = mine(a);
      const probesBefore = apps.reduce((n, e) => n + e.app.metrics().loadBalance.probes, 0);
      mix = mix.map((_, p) => (hot.includes(p) ? 30 : 1));
      await until(
        'one hot partition on each instance',
        () =>
          mine(a).filter((p) => hot.includes(p)).length === 1 &&
          mine(b).filter((p) => hot.includes(p)).length === 1,
        { timeoutMs: 180_000 },
      );
      const probes = apps.reduce((n, e) => n + e.app.metrics().loadBalance.probes, 0);
      assert.ok(probes > probesBefore, `the leader probed (${probesBefore} → ${probes})`);
      // The hot partition that moved to b was restored there from b's warm standby.
      const moved = mine(b).find((p) => hot.includes(p))!;
      assert.ok(
        b.metrics().restores.some((r) => r.partition === moved && r.standby),
        JSON.stringify(b.metrics().restores),
      );
      // The instance that kept a hot partition reports its load, well above a cold one's minimum.
      const kept = mine(a).find((p) => hot.includes(p))!;
      assert.ok(
        (a.metrics().loadBalance.loads[`${input}:${kept}`] ?? 0) > 1,
        JSON.stringify(a.metrics().loadBalance),
      );
      producing = false;
      await feeding;
      // Every record counted exactly once across the moves: per key 1..n, each once.
      await countsExact(brokers, output, sent);
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

  it('with placed standbys, a load move waits while its receiver warms a copy up, then restores from it; counts stay exact', {
    timeout: 300_000,
  }, async (t) => {
    const brokers = kafka.address!.split(',');
    const { id, input, output, admin, producer } = appTestSetup(brokers, 'eddy-balance-warm');
    const PARTS = 6;
    const keys = Array.from({ length: PARTS }, (_, p) => {
      const out: string[] = [];
      for (let i = 0; out.length < 3; i++) if (kafkaPartition(`w${i}`, PARTS) === p) out.push(`w${i}`);
      return out;
    });
    let mix = [3, 3, 3, 3, 3, 3];
    const sent = new Map<string, number>();
    const apps = new Map<string, { app: KafkaApp; stop: AbortController; done: Promise<void> }>();
    const start = (name: string) => {
      const app = kafkaApp({
        applicationId: id,
        brokers,
        commitIntervalMs: 200,
        instanceId: name,
        loadBalance: { probeIntervalMs: 2000 },
        // One copy of each partition, on the next instance by name: the lightest may hold none.
        standbyReplicas: 1,
        standbyIntervalMs: 200,
      });
      const stop = new AbortController();
      const done = app.run(() => countingPipeline(app, input, output, 'balance-warm'), {
        signal: stop.signal,
      });
      apps.set(name, { app, stop, done });
      return app;
    };
    const mine = (name: string) =>
      apps
        .get(name)!
        .app.metrics()
        .tasks.filter((t) => t.startsWith(`${input}:`))
        .map((t) => Number(t.split(':').at(-1)))
        .sort();
    let producing = true;
    let feeding: Promise<void> | undefined;
    try {
      await createTopics(admin, { [input]: { partitions: PARTS }, [output]: { partitions: PARTS } });
      start('a');
      await until('a runs every partition', () => mine('a').length === PARTS, { timeoutMs: 120_000 });
      feeding = feed(producer, input, keys, () => (producing ? mix : undefined), sent);
      start('b');
      start('c');
      const names = ['a', 'b', 'c'];
      await until('two partitions on each instance', () => names.every((n) => mine(n).length === 2), {
        timeoutMs: 180_000,
      });
      // Copies made while joining are dropped once unplaced for 30 s: each then keeps its predecessor's.
      await until(
        'each instance keeps two copies',
        () => names.every((n) => apps.get(n)!.app.metrics().standbys.length === 2),
        { timeoutMs: 120_000 },
      );
      // The hot instance's copies are on the next by name; the third, made the lightest, has none.
      const hotName = names.find((n) => mine(n).length === 2)!;
      const next = names[(names.indexOf(hotName) + 1) % 3]!;
      const light = names.find((n) => n !== hotName && n !== next)!;
      const hot = mine(hotName);
      const warmBefore = apps.get(light)!.app.metrics().standbys;
      assert.ok(!hot.some((p) => warmBefore.includes(p)), `${light} keeps no copy of ${hot}: ${warmBefore}`);
      const cold = new Set([...mine(next)]);
      mix = mix.map((_, p) => (hot.includes(p) ? 30 : cold.has(p) ? 4 : 1));
      await until(`a hot partition moves to ${light}`, () => mine(light).some((p) => hot.includes(p)), {
        timeoutMs: 180_000,
      });
      const moved = mine(light).find((p) => hot.includes(p))!;
      const restore = apps
        .get(light)!
        .app.metrics()
        .restores.find((r) => r.partition === moved);
      // Restored from the copy warmed up for the move (before, the move was cold: no copy there).
      assert.ok(restore?.standby === true, JSON.stringify(apps.get(light)!.app.metrics().restores));
      t.diagnostic(`moved ${moved} to ${light}: ${JSON.stringify(restore)}`);
      producing = false;
      await feeding;
      await countsExact(brokers, output, sent);
    } finally {
      producing = false;
      await feeding?.catch(() => {});
      for (const e of apps.values()) e.stop.abort();
      await Promise.all([...apps.values()].map((e) => e.done.catch(() => {})));
      await producer.close();
      await admin.deleteTopics({ topics: [input, output] }).catch(() => {});
      await admin.close();
    }
  });
});
