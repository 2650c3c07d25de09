/**
 * Queryable state of a Kafka application (issue 17): `app.queryState(step,
 * key)` reads a key's live state from this instance's task for the key's
 * partition; `eddy run --ui`'s `/api/query` serves the same. A key whose
 * partition another instance runs is named with its partition, and over HTTP
 * the caller is redirected to the instance that runs it (its endpoint, told
 * through the consumer group); a scan on any instance covers every instance.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { MessageToProduce } from '@platformatic/kafka';
import { type KafkaApp, kafkaApp, kafkaPartition } from '../../src/deploy/kafka/index.ts';
import { EddyError, Pipeline } from '../../src/index.ts';
import { Dashboard } from '../../src/ops/dashboard.ts';
import { RunHealth } from '../../src/ops/health.ts';
import { type MetricsServer, startMetricsServer } from '../../src/ops/metrics-server.ts';
import { RunExporter } from '../../src/ops/prometheus.ts';
import { appTestSetup, createTopics, kafkaReady, keyedRecord, until } from './helpers.ts';

const TOKEN = 'query-test-token';
const auth = { authorization: `Bearer ${TOKEN}` };

/** An instance's metrics server with the dashboard (state over HTTP), before its app exists; `attach` wires the app. */
async function serve(): Promise<{
  server: MetricsServer;
  attach(app: KafkaApp): void;
  close(): Promise<void>;
}> {
  const health = new RunHealth();
  const dashboard = new Dashboard({ pipeline: 'query', runId: 'r', mode: 'kafka', parallelism: 1, health });
  const server = await startMetricsServer(
    { host: '127.0.0.1', port: 0, token: TOKEN },
    new RunExporter({ pipeline: 'query', runId: 'r', mode: 'kafka', processMetrics: false }),
    health,
    dashboard,
  );
  return {
    server,
    attach(app) {
      dashboard.attachQuery((step, key) => app.queryState(step, key));
      dashboard.attachScan((step, o) => app.scanState(step, o));
      dashboard.attachInstances(
        (key) => app.locate(key),
        () => app.instances(),
      );
    },
    async close() {
      await server.close();
      dashboard.close();
    },
  };
}

const kafka = await kafkaReady();
const PARTITIONS = 2;

describe('Kafka application: queryable state', { skip: kafka.skip }, () => {
  it('each key’s count, read from the task of its partition; a partition it does not run is named', {
    timeout: 240_000,
  }, async () => {
    const brokers = kafka.address!.split(',');
    const { id, input, output, admin, producer } = appTestSetup(brokers, 'eddy-query');
    const http = await serve();
    const otherHttp = await serve();
    const app = kafkaApp({ applicationId: id, brokers, commitIntervalMs: 200, endpoint: http.server.url });
    http.attach(app);
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
      const other = kafkaApp({
        applicationId: id,
        brokers,
        commitIntervalMs: 200,
        instanceId: 'other',
        endpoint: otherHttp.server.url,
      });
      otherHttp.attach(other);
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
        // Over HTTP: the key's partition runs on the other instance, so the caller is sent there.
        const where = await app.locate(away);
        assert.deepEqual(where, {
          key: away,
          partition: 1 - mine,
          local: false,
          instance: 'other',
          endpoint: otherHttp.server.url,
        });
        const asked = await fetch(`${http.server.url}/state/count/${away}`, {
          headers: auth,
          redirect: 'manual',
        });
        assert.equal(asked.status, 307);
        const location = asked.headers.get('location')!;
        assert.ok(location.startsWith(`${otherHttp.server.url}/state/count/${away}?`), location);
        // The token is not carried across origins by clients: the caller sends it again there. While
        // the other instance still restores the partition it answers 503 (try again), then the state.
        let there: Response | undefined;
        await until(
          'the other instance answers for its partition',
          async () => {
            there = await fetch(location, { headers: auth, redirect: 'manual' });
            assert.ok(there.status === 200 || there.status === 503, `status ${there.status}`);
            if (there.status === 503) assert.equal(there.headers.get('retry-after'), '1');
            return there.status === 200;
          },
          { timeoutMs: 60_000 },
        );
        assert.equal(
          ((await there!.json()) as { entries: { value: { n: number } }[] }).entries[0]!.value.n,
          3,
        );
        // A key that runs here is answered here.
        const local = Array.from({ length: 10 }, (_, k) => `k${k}`).find(
          (k) => k !== away && kafkaPartition(k, PARTITIONS) === mine,
        )!;
        const here = await fetch(`${http.server.url}/state/count/${local}`, {
          headers: auth,
          redirect: 'manual',
        });
        assert.equal(here.status, 200);
        // A redirect sent on too often (instances disagreeing during a rebalance) ends: try again later.
        const looping = await fetch(`${http.server.url}/state/count/${away}?keyType=string&hops=2`, {
          headers: auth,
          redirect: 'manual',
        });
        assert.equal(looping.status, 503);
        assert.equal(looping.headers.get('retry-after'), '1');
        // A scan on either instance covers both: every key in order, both partitions, complete.
        for (const url of [http.server.url, otherHttp.server.url]) {
          const res = await fetch(`${url}/state/count?prefix=k`, { headers: auth });
          assert.equal(res.status, 200);
          const scan = (await res.json()) as {
            keys: { key: string; entries: { value: { n: number } }[] }[];
            partitions: number[];
            complete: boolean;
            instances: { instance: string }[];
          };
          assert.deepEqual(scan.partitions, [0, 1]);
          assert.equal(scan.complete, true);
          assert.deepEqual(
            scan.keys.map((x) => [x.key, x.entries[0]!.value.n]),
            Array.from({ length: 10 }, (_, k) => [`k${k}`, 3]),
          );
          assert.equal(scan.instances.length, 2);
        }
        // scope=local asks for this instance's partitions only (what instances ask each other).
        const partial = await fetch(`${http.server.url}/state/count?prefix=k&scope=local`, { headers: auth });
        assert.equal(((await partial.json()) as { partitions: number[] }).partitions.length, 1);
      } finally {
        otherStop.abort();
        await otherDone.catch(() => {});
      }
    } finally {
      stop.abort();
      await done?.catch(() => {});
      await http.close();
      await otherHttp.close();
      await producer.close();
      await admin.deleteTopics({ topics: [input, output] }).catch(() => {});
      await admin.close();
    }
  });
});
