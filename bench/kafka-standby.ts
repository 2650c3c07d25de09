/**
 * The hand-over stall of a Kafka application's partition, with and without a
 * warm standby (issue 13). One run, on the local broker:
 *
 * 1. "owner" (no standby) counts events per key over `--keys` keys with a
 *    `--pad`-byte string in each key's state, for `--rounds` rounds (every
 *    round updates every key and is committed: the changelog keeps every
 *    round's rewrite of each key group until compaction).
 * 2. "standby" (`warmStandby: true`) joins: it warms up (issue 13,
 *    `warmupTimeoutMs`), then takes one partition over and keeps the other
 *    warm.
 * 3. "owner" stops (a savepoint): "standby" takes its partition over —
 *    the warm restore.
 * 4. "cold" (no standby) joins and "standby" stops: "cold" takes both
 *    partitions over from the changelog — cold restores of the same state.
 *
 * Reported per restore: ms from fencing the previous owner to the state read
 * back (the task's stall before it processes again) and changelog records
 * read; and the hand-over from the stop (abort) to the new owner's restore
 * done. Output: progress on stderr, one JSON line on stdout.
 *
 * `--placed`: the standby keeps its copy as a placed standby
 * (`standbyReplicas: 1`: with two instances, the copy of the other's
 * partitions, reported to the group, which hands it the partition) instead
 * of `warmStandby` (every partition).
 *
 *   npm run bench -- kafka-standby [--keys 100000] [--rounds 8] [--pad 64] [--placed]
 */
import { randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';
import { Admin, type MessageToProduce, ProduceAcks, Producer } from '@platformatic/kafka';
import {
  internalTopics,
  type KafkaApp,
  kafkaApp,
  kafkaPartition,
  type RestoreMetrics,
} from '../src/deploy/kafka/index.ts';
import { paddedCounts } from './kafka-state-app.ts';
import { KEPT_TOPIC_CONFIGS } from './kept-topics.ts';

const PARTITIONS = 2;

export async function main(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      keys: { type: 'string', default: '100000' },
      rounds: { type: 'string', default: '8' },
      pad: { type: 'string', default: '64' },
      placed: { type: 'boolean', default: false },
    },
  });
  const placed = values.placed;
  const keys = Number(values.keys);
  const rounds = Number(values.rounds);
  const pad = 'x'.repeat(Number(values.pad));
  const brokers = (process.env['KAFKA_BROKERS'] ?? '127.0.0.1:9092').split(',');
  const id = `eddy-bench-standby-${randomUUID().slice(0, 8)}`;
  const input = `${id}-in`;
  const output = `${id}-out`;
  const admin = new Admin({ clientId: 'eddy-bench', bootstrapBrokers: brokers });
  const producer = new Producer({ clientId: 'eddy-bench', bootstrapBrokers: brokers, acks: ProduceAcks.ALL });
  const log = (s: string) => process.stderr.write(`kafka-standby: ${s}\n`);
  const apps: { app: KafkaApp; stop: AbortController; done: Promise<void> }[] = [];
  let handled = 0;
  const start = (name: string, warmStandby: boolean) => {
    const app = kafkaApp({
      applicationId: id,
      brokers,
      commitIntervalMs: 500,
      instanceId: name,
      ...(!warmStandby ? {} : placed ? { standbyReplicas: 1 } : { warmStandby: true }),
    });
    const stop = new AbortController();
    const done = app.run(
      () =>
        paddedCounts(app, { name: 'standby-bench', input, output, pad, rounds, onEvent: () => handled++ }),
      { signal: stop.signal },
    );
    const entry = { app, stop, done };
    apps.push(entry);
    return entry;
  };
  const owned = (app: KafkaApp) => app.metrics().tasks.filter((t) => t.startsWith(input)).length;
  const until = async (what: string, ok: () => boolean, ms = 600_000) => {
    const deadline = Date.now() + ms;
    while (!ok()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  try {
    await admin.createTopics({
      topics: [input, output],
      partitions: PARTITIONS,
      replicas: 1,
      configs: KEPT_TOPIC_CONFIGS,
    });
    const owner = start('owner', false);
    await until('the owner owns both partitions', () => owned(owner.app) === PARTITIONS);
    for (let r = 0; r < rounds; r++) {
      for (let k = 0; k < keys; k += 5000) {
        const messages: MessageToProduce[] = [];
        for (let i = k; i < Math.min(keys, k + 5000); i++) {
          const key = `k${i}`;
          messages.push({
            topic: input,
            key: Buffer.from(key),
            partition: kafkaPartition(key, PARTITIONS),
            value: Buffer.from(`{"key":"${key}"}`),
          });
        }
        await producer.send({ messages });
      }
      const want = (r + 1) * keys;
      await until(`round ${r + 1} processed`, () => handled >= want);
      // A commit after each round: the changelog keeps each round's rewrite.
      await new Promise((res) => setTimeout(res, 1200));
      log(`round ${r + 1}/${rounds}: ${handled} events`);
    }
    const standby = start('standby', true);
    await until('the standby owns a partition', () => owned(standby.app) === 1 && owned(owner.app) === 1);
    const coldJoin = standby.app.metrics().restores.at(-1)!;
    log(
      `standby joined: restore of partition ${coldJoin.partition} (warmed up first, unless warm-up is off): ${coldJoin.ms} ms, ${coldJoin.records} records`,
    );
    await new Promise((res) => setTimeout(res, 3000)); // its rounds catch up with the other partition
    let stoppedAt = Date.now();
    owner.stop.abort();
    await owner.done;
    await until('the standby owns both partitions', () => owned(standby.app) === PARTITIONS);
    const warm = standby.app.metrics().restores.at(-1)!;
    const warmHandover = warm.at + warm.ms - stoppedAt;
    log(
      `owner stopped: warm restore of partition ${warm.partition}: ${warm.ms} ms, ${warm.records} records; hand-over ${warmHandover} ms`,
    );
    const cold = start('cold', false);
    await new Promise((res) => setTimeout(res, 3000));
    stoppedAt = Date.now();
    standby.stop.abort();
    await standby.done;
    await until('the cold process owns both partitions', () => owned(cold.app) === PARTITIONS);
    const colds = cold.app.metrics().restores;
    const coldSame = [...colds].reverse().find((r) => r.partition === warm.partition)!;
    const coldHandover = Math.max(...colds.map((r) => r.at + r.ms)) - stoppedAt;
    log(
      `standby stopped: cold restore of partition ${coldSame.partition}: ${coldSame.ms} ms, ${coldSame.records} records; hand-over ${coldHandover} ms`,
    );
    const row = (r: RestoreMetrics) => ({ ms: r.ms, records: r.records });
    process.stdout.write(
      `${JSON.stringify({
        bench: 'kafka-standby',
        standby: placed ? 'standbyReplicas: 1' : 'warmStandby',
        keys,
        rounds,
        padBytes: pad.length,
        partitions: PARTITIONS,
        joinRestore: row(coldJoin),
        warmRestore: row(warm),
        coldRestore: row(coldSame),
        warmHandoverMs: warmHandover,
        coldHandoverMs: coldHandover,
        restoreRatio: coldSame.ms / Math.max(1, warm.ms),
      })}\n`,
    );
  } finally {
    for (const a of apps) a.stop.abort();
    await Promise.allSettled(apps.map((a) => a.done));
    await producer.close();
    await admin
      .deleteTopics({ topics: [input, output, ...Object.values(internalTopics(id))] })
      .catch(() => {});
    await admin.close();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await main(process.argv.slice(2));
