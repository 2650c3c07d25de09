/**
 * Consumer lag of a Kafka application (issues 13 and 17): `metrics().lag`
 * per input partition, and the Prometheus gauges made from it. While the
 * pipeline is held (an async step that does not answer), records produced
 * to its input show as lag or as fetched-but-unprocessed; once it is let go
 * both go to zero. No timing: every wait is for a condition.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { MessageToProduce } from '@platformatic/kafka';
import { kafkaApp } from '../../src/deploy/kafka/index.ts';
import { Pipeline } from '../../src/index.ts';
import { RunExporter } from '../../src/ops/prometheus.ts';
import { startRunOps } from '../../src/ops/run-ops.ts';
import { parseExposition } from '../ops/exposition.ts';
import { appTestSetup, createTopics, kafkaReady, keyedRecord, until } from './helpers.ts';

const kafka = await kafkaReady();
const PARTITIONS = 2;

describe('Kafka application: consumer lag', { skip: kafka.skip }, () => {
  it('shows what the partitions hold and the application has not processed; zero once it catches up', {
    timeout: 240_000,
  }, async () => {
    const brokers = kafka.address!.split(',');
    const { id, input, output, admin, producer } = appTestSetup(brokers, 'eddy-lag');
    let held = true;
    const waiting: (() => void)[] = [];
    const gate = () => (held ? new Promise<void>((resolve) => waiting.push(resolve)) : undefined);
    const produce = async (perPartition: number) => {
      const messages: MessageToProduce[] = [];
      for (let i = 0; i < perPartition * PARTITIONS * 4; i++) {
        const key = `k${i % 40}`;
        messages.push(keyedRecord(input, key, PARTITIONS));
      }
      // 40 keys over 2 partitions: count per partition from the keys themselves.
      await producer.send({ messages });
      const per = new Map<number, number>();
      for (const m of messages) per.set(m.partition!, (per.get(m.partition!) ?? 0) + 1);
      return per;
    };
    const app = kafkaApp({ applicationId: id, brokers, commitIntervalMs: 200 });
    const exporter = new RunExporter({ pipeline: 'lag', runId: 'r', mode: 'kafka', processMetrics: false });
    exporter.attachKafka(() => app.metrics());
    // What `eddy run --kafka --metrics-port 0 --stall-timeout 1.5` adds: probes that see a stuck partition.
    const ops = await startRunOps(
      {
        metrics: { host: '127.0.0.1', port: 0, token: undefined },
        ui: false,
        stallTimeoutMs: 1_500,
        logLevel: 'silent',
        logFormat: 'text',
      },
      { pipeline: 'lag', mode: 'kafka' },
    );
    ops.attachKafka(app);
    const healthz = async () => {
      const res = await fetch(`${ops.url}/healthz`);
      return { status: res.status, reason: ((await res.json()) as { reason: string }).reason };
    };
    const stop = new AbortController();
    let done: Promise<void> | undefined;
    try {
      await createTopics(admin, {
        [input]: { partitions: PARTITIONS },
        [output]: { partitions: PARTITIONS },
      });
      done = app.run(
        () => {
          const p = new Pipeline({ name: 'lag' });
          p.source('in', app.source<{ key: string }>({ topics: [input], bufferSize: 64 }))
            .keyBy((e) => e.key)
            .mapAsync(async (e) => {
              await gate();
              return e;
            })
            .sink(app.sink({ topic: output, key: (e) => e.key }));
          return p;
        },
        { signal: stop.signal },
      );
      const inputTasks = () => app.metrics().tasks.filter((t) => t.startsWith(`${input}:`));
      await until('both input partitions assigned', () => inputTasks().length === PARTITIONS, {
        timeoutMs: 120_000,
      });
      // More than the held pipeline takes in (a fetch response arrives whole, and a source batch holds
      // up to 1,024 records): the rest must show as lag or buffered.
      const per = await produce(1000);
      const total = [...per.values()].reduce((a, b) => a + b, 0);
      // Held: each partition's records are either not fetched (lag) or fetched and waiting (buffered).
      await until(
        'the held records show as lag or buffered on every partition',
        () => {
          const lag = app.metrics().lag;
          return [...per].every(([p, n]) => {
            const l = lag[`${input}:${p}`];
            return l !== undefined && l.lag >= 0 && l.end === n && l.lag + l.buffered > 0;
          });
        },
        { timeoutMs: 120_000 },
      );
      const heldLag = app.metrics().lag;
      for (const [p, n] of per) {
        const l = heldLag[`${input}:${p}`]!;
        assert.ok(l.lag <= n && l.next <= n && l.ageMs >= 0, JSON.stringify(l));
        assert.equal(l.lag, n - l.next);
      }
      const scraped = parseExposition(await exporter.scrape());
      const gauge = (name: string, p: number) => scraped.get(name, { partition: `${input}:${p}` });
      for (const [p] of per) {
        assert.equal(gauge('eddy_kafka_consumer_lag_records', p), heldLag[`${input}:${p}`]!.lag);
        assert.equal(typeof gauge('eddy_kafka_consumer_buffered_records', p), 'number');
      }
      assert.ok(total > 0);
      // Held for longer than the stall timeout with input waiting: the instance is not healthy.
      let stuck = { status: 0, reason: '' };
      await until(
        '/healthz reports the stuck partition',
        async () => (stuck = await healthz()).status === 503,
        {
          timeoutMs: 60_000,
        },
      );
      assert.match(stuck.reason, new RegExp(`^stuck: partition ${input}:\\d has \\d+ records waiting`));
      // Let go: everything is processed, and the lag goes to zero.
      held = false;
      for (const w of waiting.splice(0)) w();
      await until(
        'no lag and nothing buffered',
        () => {
          const lag = app.metrics().lag;
          return [...per].every(([p, n]) => {
            const l = lag[`${input}:${p}`];
            return l !== undefined && l.end === n && l.lag === 0 && l.buffered === 0 && l.next === n;
          });
        },
        { timeoutMs: 120_000 },
      );
      await until('/healthz is healthy again', async () => (await healthz()).status === 200, {
        timeoutMs: 60_000,
      });
    } finally {
      await ops.end();
      held = false;
      for (const w of waiting.splice(0)) w();
      stop.abort();
      await done?.catch(() => {});
      await producer.close();
      await admin.deleteTopics({ topics: [input, output] }).catch(() => {});
      await admin.close();
    }
  });
});
