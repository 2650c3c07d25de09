/**
 * Event time through a Kafka application's repartition topic: the
 * forwarding tasks carry each input partition's watermark to the key
 * groups (deploy/kafka/forwarder.ts), so a record on time in the partition
 * it was read from is on time where it is counted, however the forwarding
 * tasks' records mix. Input partition 0 is read, forwarded and counted
 * (its windows are complete in it) before partition 1 receives records of
 * the same windows; with `maxOutOfOrderness: 0` each partition is in order.
 * Judged on the mixed stream (before), partition 1's records came after
 * partition 0 had moved the key groups' watermark past their windows, and
 * were dropped as late; carried, the key groups wait for partition 1's
 * watermark, and every count equals the batch count. No timing: every wait
 * is for a condition.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { MessageToProduce } from '@platformatic/kafka';
import { kafkaApp } from '../../src/deploy/kafka/index.ts';
import { Pipeline, tumbling } from '../../src/index.ts';
import { appTestSetup, createTopics, kafkaReady, readCommittedJava, until } from './helpers.ts';

const kafka = await kafkaReady();
const WINDOW = 1000;
const KEYS = 10;
const PER_PARTITION = 200;

interface Click {
  readonly key: string;
  readonly ts: number;
}

/** Partition `partition`'s clicks: every key, event time rising over five windows. */
function clicks(partition: number): Click[] {
  return Array.from({ length: PER_PARTITION }, (_, i) => ({
    key: `k${(i * 7 + partition) % KEYS}`,
    ts: Math.floor((i * 5 * WINDOW) / PER_PARTITION),
  }));
}

describe('Kafka application: event time through the repartition topic', { skip: kafka.skip }, () => {
  it('a partition read later than another loses nothing to lateness (watermarks carried)', {
    timeout: 300_000,
  }, async () => {
    const brokers = kafka.address!.split(',');
    const { id, input, output, admin, producer } = appTestSetup(brokers, 'eddy-repart-time');
    const send = (partition: number, records: readonly Click[]) =>
      producer.send({
        messages: records.map(
          (c): MessageToProduce => ({ topic: input, partition, value: Buffer.from(JSON.stringify(c)) }),
        ),
      });
    const app = kafkaApp({ applicationId: id, brokers, commitIntervalMs: 200 });
    const stop = new AbortController();
    let done: Promise<void> | undefined;
    try {
      await createTopics(admin, { [input]: { partitions: 2 }, [output]: { partitions: 2 } });
      done = app.run(
        () => {
          const p = new Pipeline({ name: 'repart-time' });
          p.source('in', app.source<Click>({ topics: [input], keyBy: (c) => c.key }), {
            timestamp: (c) => c.ts,
            maxOutOfOrderness: 0,
          })
            .keyBy((c) => c.key)
            .window(tumbling(WINDOW))
            .count('n')
            .map((w) => ({ key: w.key, start: w.window.start, n: w.value }))
            .sink(app.sink({ topic: output, key: (r) => r.key }));
          return p;
        },
        { signal: stop.signal },
      );
      await until('every partition assigned', () => app.metrics().tasks.length === 4, { timeoutMs: 120_000 });
      const first = clicks(0);
      await send(0, first);
      // Partition 0's records forwarded and taken by the key groups' jobs.
      const counted = () =>
        Object.entries(app.metrics().pipelines)
          .filter(([split]) => split.startsWith(`${id}-repartition`))
          .reduce((sum, [, m]) => sum + m.sourceRecords, 0);
      await until('partition 0 counted by the key groups', () => counted() >= first.length, {
        timeoutMs: 120_000,
      });
      const second = clicks(1);
      await send(1, second);
      // Far-future records in both partitions close every window.
      const end = { key: 'end', ts: 100 * WINDOW };
      await send(0, [end]);
      await send(1, [end]);
      const expected = new Map<string, number>();
      for (const c of [...first, ...second]) {
        const at = `${c.key}@${Math.floor(c.ts / WINDOW) * WINDOW}`;
        expected.set(at, (expected.get(at) ?? 0) + 1);
      }
      const rows = await readCommittedJava(kafka.address!, output, {
        atLeast: expected.size,
        timeoutMs: 180_000,
      });
      const got = new Map<string, number>();
      for (const r of rows) {
        const w = JSON.parse(r.value) as { key: string; start: number; n: number };
        if (w.key !== 'end') got.set(`${w.key}@${w.start}`, (got.get(`${w.key}@${w.start}`) ?? 0) + w.n);
      }
      assert.deepEqual(
        [...got].sort(([a], [b]) => a.localeCompare(b)),
        [...expected].sort(([a], [b]) => a.localeCompare(b)),
      );
    } finally {
      stop.abort();
      await done?.catch(() => {});
      await producer.close();
      await admin.deleteTopics({ topics: [input, output] }).catch(() => {});
      await admin.close();
    }
  });
});
