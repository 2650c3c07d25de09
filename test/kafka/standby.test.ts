/**
 * Warm standby state (issue 13): a process with `warmStandby` keeps every
 * key-group partition's state current from the changelog, so a partition
 * that moves to it (its owner stopped) restores only what was written since
 * its last round, not the whole changelog. Two applications share a group;
 * the first builds state over several commits, then stops; the standby takes
 * its partitions over reading fewer changelog records than a cold restore of
 * the same partitions (measured in the same run), and its counts go on
 * exactly: per key 1, 2, 3, … across the hand-over (read_committed).
 *
 * With `standbyReplicas: 1` (placed copies) three instances each keep only
 * the copy the ring places on them (the partition of the instance before
 * them by name), and when one stops, its partition goes to the instance with
 * its copy (not the one a choice by count or load alone would pick), which
 * restores it reading less than its changelog holds; counts go on exactly.
 *
 * Warm-up before hand-over: an instance that joins a running one, and a
 * third that joins two, take no partition until they have read the state of
 * the partitions they will get (they say `warmingUp`), then take them,
 * reading less of their changelogs than they hold; counts go on exactly.
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

/**
 * Instances of one counting application with placed standbys (by count, so
 * which partition moves where does not hang on measured rates), over `parts`
 * partitions: start them by name, see what each runs, produce a round of
 * every key, read the counts, check them exactly, and clean up.
 */
function placedApplication(prefix: string, parts: number) {
  const brokers = kafka.address!.split(',');
  const { id, input, output, admin, producer } = appTestSetup(brokers, prefix);
  const apps = new Map<string, { app: KafkaApp; stop: AbortController; done: Promise<void> }>();
  let sent = 0;
  const read = () => readCounts(brokers, output, `${prefix}-reader`);
  return {
    brokers,
    changelog: internalTopics(id).changelog,
    apps,
    create: () => createTopics(admin, { [input]: { partitions: parts }, [output]: { partitions: parts } }),
    start(name: string): void {
      const app = kafkaApp({
        applicationId: id,
        brokers,
        commitIntervalMs: 100,
        instanceId: name,
        standbyReplicas: 1,
        standbyIntervalMs: 100,
        loadBalance: false,
      });
      const stop = new AbortController();
      const done = app.run(() => countingPipeline(app, input, output, prefix), { signal: stop.signal });
      apps.set(name, { app, stop, done });
    },
    async stop(name: string): Promise<void> {
      apps.get(name)!.stop.abort();
      await apps.get(name)!.done;
    },
    owned: (name: string) =>
      apps
        .get(name)!
        .app.metrics()
        .tasks.filter((t) => t.startsWith(`${input}:`))
        .map((t) => Number(t.slice(input.length + 1))),
    /** One record of every key, then waits until every count so far is out. */
    async round(): Promise<void> {
      const messages: MessageToProduce[] = [];
      for (let k = 0; k < KEYS; k++) messages.push(keyedRecord(input, `k${k}`, parts));
      await producer.send({ messages });
      sent += KEYS;
      const want = sent;
      await until(`${want} outputs`, async () => (await read()).length >= want, { timeoutMs: 120_000 });
    },
    /** Exactly-once: per key 1..rounds, each once. */
    async checkCounts(): Promise<void> {
      const byKey = new Map<string, number[]>();
      for (const o of await read()) byKey.set(o.key, [...(byKey.get(o.key) ?? []), o.count]);
      for (let k = 0; k < KEYS; k++)
        assert.deepEqual(
          (byKey.get(`k${k}`) ?? []).sort((x, y) => x - y),
          Array.from({ length: sent / KEYS }, (_, i) => i + 1),
          `key k${k}`,
        );
    },
    async close(): Promise<void> {
      for (const a of apps.values()) a.stop.abort();
      await Promise.allSettled([...apps.values()].map((a) => a.done));
      await producer.close();
      await admin
        .deleteTopics({ topics: [input, output, ...Object.values(internalTopics(id))] })
        .catch(() => {});
      await admin.close();
    },
  };
}

/** How many records changelog partition `partition` holds. */
async function changelogRecords(brokers: string[], topic: string, partition: number): Promise<number> {
  let n = 0;
  await readToEnd({
    bootstrapBrokers: brokers,
    topic,
    partitions: [partition],
    clientId: 'eddy-test-changelog',
    onMessage: () => {
      n++;
    },
  });
  return n;
}

/** Every count in `output`, read_committed, in the order read. */
async function readCounts(brokers: string[], output: string, clientId: string): Promise<Counted[]> {
  const out: Counted[] = [];
  await readToEnd({
    bootstrapBrokers: brokers,
    topic: output,
    clientId,
    onMessage: (m) => out.push(JSON.parse(m.value!.toString()) as Counted),
  });
  return out;
}
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
    const read = () => readCounts(brokers, output, 'eddy-test-standby');
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

  it('standbyReplicas: 1 places one copy per partition, on the next instance by name; a stopped instance hands over warm', {
    timeout: 300_000,
  }, async () => {
    const t = placedApplication('eddy-placed', 3);
    try {
      await t.create();
      for (const name of ['a', 'b', 'c']) t.start(name);
      await until(
        'each instance owns one partition',
        () => ['a', 'b', 'c'].every((n) => t.owned(n).length === 1),
        {
          timeoutMs: 120_000,
        },
      );
      // The ring by name: b keeps a's partition, c keeps b's, a keeps c's; nothing else.
      const ring = { a: 'c', b: 'a', c: 'b' } as const;
      const keeps = (n: 'a' | 'b' | 'c') => t.apps.get(n)!.app.metrics().standbys;
      await until(
        "each instance keeps exactly its predecessor's partition",
        () =>
          (['a', 'b', 'c'] as const).every(
            (n) => JSON.stringify(keeps(n)) === JSON.stringify(t.owned(ring[n])),
          ),
        {
          timeoutMs: 120_000,
          context: () =>
            (['a', 'b', 'c'] as const).map((n) => `${n}: owns ${t.owned(n)}, keeps ${keeps(n)}`).join('; '),
        },
      );
      for (let round = 0; round < 8; round++) await t.round();
      const moving = t.owned('b')[0]!;
      // Let c's copy of b's partition read to the end, then stop b: its partition goes to c, warm
      // (without copies, the odd partition out goes to a, first by name).
      await new Promise((r) => setTimeout(r, 1000));
      await t.stop('b');
      await until(
        'a or c runs the stopped partition',
        () => t.owned('a').includes(moving) || t.owned('c').includes(moving),
        { timeoutMs: 120_000 },
      );
      assert.equal(
        t.owned('a').includes(moving) ? 'a' : 'c',
        'c',
        'the partition went to the instance with its warm copy',
      );
      const restore = t.apps
        .get('c')!
        .app.metrics()
        .restores.filter((r) => r.partition === moving)
        .at(-1)!;
      const held = await changelogRecords(t.brokers, t.changelog, moving);
      process.stderr.write(
        `standby (placed): partition ${moving} restored on c reading ${restore.records} of its changelog's ${held} records, in ${restore.ms} ms\n`,
      );
      assert.ok(restore.records < held, `warm ${restore.records} < ${held} records`);
      await t.round();
      await t.checkCounts();
    } finally {
      await t.close();
    }
  });

  it('a joining instance warms up the partitions it will get before it takes them', {
    timeout: 300_000,
  }, async () => {
    const t = placedApplication('eddy-warmup', 4);
    /** Starts `name`, waits until it runs partitions, checks it took none while warming up and read them warm. */
    const joinWarm = async (name: string) => {
      t.start(name);
      const app = t.apps.get(name)!.app;
      let sawWarming = false;
      await until(
        `${name} runs a partition`,
        () => {
          if (app.metrics().warmingUp) {
            sawWarming = true;
            assert.deepEqual(t.owned(name), [], 'nothing is taken while warming up');
          }
          return t.owned(name).length > 0;
        },
        { timeoutMs: 120_000 },
      );
      assert.ok(sawWarming, `${name} said it was warming up`);
      assert.equal(app.metrics().warmingUp, false);
      for (const p of t.owned(name)) {
        const restore = app
          .metrics()
          .restores.filter((r) => r.partition === p)
          .at(-1)!;
        const held = await changelogRecords(t.brokers, t.changelog, p);
        process.stderr.write(
          `standby (warm-up): partition ${p} taken by ${name} reading ${restore.records} of its changelog's ${held} records, in ${restore.ms} ms\n`,
        );
        assert.ok(restore.records < held, `warm ${restore.records} < ${held} records`);
      }
    };
    try {
      await t.create();
      t.start('a');
      await until('a runs every partition', () => t.owned('a').length === 4, { timeoutMs: 120_000 });
      for (let round = 0; round < 4; round++) await t.round();
      // b joins a that has run alone since it started (its subscription in the group is as of then).
      await joinWarm('b');
      await until(
        'a and b share the partitions',
        () => t.owned('a').length === 2 && t.owned('b').length === 2,
        {
          timeoutMs: 120_000,
        },
      );
      for (let round = 0; round < 4; round++) await t.round();
      await joinWarm('c');
      await t.round();
      await t.checkCounts();
    } finally {
      await t.close();
    }
  });
});
