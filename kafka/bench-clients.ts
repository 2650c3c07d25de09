// Compares Node.js Kafka clients against a running broker (npm run kafka:up):
// produce and consume rates, and whether each client can do what exactly-once
// scale-out needs. Not part of the test suite, and the clients are not project
// dependencies: run it from a scratch directory that has them installed.
//
//   mkdir -p /tmp/kclient && cd /tmp/kclient && npm init -y >/dev/null
//   npm install @platformatic/kafka@2 kafkajs
//   cp <repo>/kafka/bench-clients.ts . && node bench-clients.ts --clients platformatic,kafkajs
//
// @confluentinc/kafka-javascript is a native addon (librdkafka); where no prebuilt
// binary can be downloaded it compiles from source against the running Node's
// headers, so it may have to run under another Node (see docs/KAFKA.md). Node < 22.6
// cannot run .ts: strip the types first with Node 24,
//   node -e "const m=require('node:module'),fs=require('node:fs');fs.writeFileSync('b.mjs',
//     m.stripTypeScriptTypes(fs.readFileSync('bench-clients.ts','utf8')))"
//
// Options: --brokers 127.0.0.1:9092 (or KAFKA_BROKERS), --clients a,b,c,
// --messages 200000, --size 100, --batch 1000, --window 4, --skip-features,
// --run-class <repo>/kafka/run-class.sh (Kafka's CLI tools, used to check results).
// Prints a Markdown table and writes bench-clients-<client>.json beside itself.

import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

type Feature = { ok: boolean | null; note: string };
type Result = {
  client: string;
  version: string;
  node: string;
  produceMsgsPerSec: number;
  produceMs: number;
  consumeMsgsPerSec: number;
  consumeMs: number;
  consumeFirstMessageMs: number;
  consumeSteadyMsgsPerSec: number;
  features: Record<string, Feature>;
};
type Msg = { key: Buffer; value: Buffer };

// What each client adapter provides; each method uses only that client's own API.
interface Adapter {
  name: string;
  version: string;
  createTopic(topic: string, partitions: number, compacted?: boolean): Promise<void>;
  // Idempotent, acks=all producer; sends `batches`, keeping `window` sends in flight.
  produce(topic: string, batches: Msg[][], window: number): Promise<{ producerId: string }>;
  // A fresh group reads the topic from the beginning until `count` messages arrived.
  consume(topic: string, group: string, count: number): Promise<{ firstMs: number; totalMs: number }>;
  // Transactions: abort then commit; return counts seen by read_committed and read_uncommitted.
  transactions(topic: string): Promise<{ committed: number; uncommitted: number }>;
  // Consume `input` in group `group`, produce to `output` and commit the consumed
  // offsets inside the producer's transaction (sendOffsetsToTransaction).
  consumeTransformProduce(input: string, output: string, group: string, count: number): Promise<void>;
  // Two members of one group with the cooperative-sticky assignor; resolve once both have partitions.
  cooperative(topic: string, group: string): Promise<{ a: number; b: number } | string>;
  close(): Promise<void>;
}

const args = process.argv.slice(2);
function opt(name: string, fallback: string): string {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] !== undefined ? args[i + 1]! : fallback;
}
const brokers = opt('brokers', process.env.KAFKA_BROKERS ?? '127.0.0.1:9092');
const clients = opt('clients', 'platformatic,kafkajs,confluent').split(',');
const messages = Number(opt('messages', '200000'));
const size = Number(opt('size', '100'));
const batchSize = Number(opt('batch', '1000'));
const window = Number(opt('window', '4'));
const runClass = opt('run-class', '/work/main/kafka/run-class.sh');
const skipFeatures = args.includes('--skip-features');
const runId = Date.now().toString(36);
// Some packages do not export ./package.json, so read it from node_modules beside this file.
const pkgVersion = (name: string): string =>
  (JSON.parse(readFileSync(new URL(`./node_modules/${name}/package.json`, import.meta.url), 'utf8')) as { version: string })
    .version;

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no result within ${ms} ms`)), ms);
  });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

async function inWindow<T>(items: T[], window: number, send: (item: T) => Promise<unknown>): Promise<void> {
  const inflight = new Set<Promise<unknown>>();
  for (const item of items) {
    const p = send(item).finally(() => inflight.delete(p));
    inflight.add(p);
    if (inflight.size >= window) await Promise.race(inflight);
  }
  await Promise.all(inflight);
}

function makeBatches(n: number, bytes: number, per: number): Msg[][] {
  const value = Buffer.alloc(bytes, 'x');
  const out: Msg[][] = [];
  for (let i = 0; i < n; i += per) {
    const batch: Msg[] = [];
    for (let j = i; j < Math.min(n, i + per); j++) batch.push({ key: Buffer.from(`k${j % 1000}`), value });
    out.push(batch);
  }
  return out;
}

// Committed offsets and assignment strategy as the broker sees them, via Kafka's own CLI.
function groupCommitted(group: string): number {
  const out = execFileSync(
    'bash',
    [
      runClass,
      'org.apache.kafka.tools.consumer.group.ConsumerGroupCommand',
      '--bootstrap-server',
      brokers,
      '--describe',
      '--offsets',
      '--group',
      group,
    ],
    { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] },
  );
  let sum = 0;
  for (const line of out.split('\n')) {
    const cols = line.trim().split(/\s+/);
    if (cols[0] === group && /^\d+$/.test(cols[3] ?? '')) sum += Number(cols[3]);
  }
  return sum;
}
function groupStrategy(group: string): string {
  const out = execFileSync(
    'bash',
    [
      runClass,
      'org.apache.kafka.tools.consumer.group.ConsumerGroupCommand',
      '--bootstrap-server',
      brokers,
      '--describe',
      '--state',
      '--group',
      group,
    ],
    { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] },
  );
  const header = out.split('\n').find((l) => l.includes('ASSIGNMENT-STRATEGY'));
  const row = out.split('\n').find((l) => l.trim().startsWith(group));
  if (!header || !row) return 'unknown';
  const idx = header.trim().split(/\s+/).indexOf('ASSIGNMENT-STRATEGY');
  return row.trim().split(/\s+/)[idx] ?? 'unknown';
}

// ---------------------------------------------------------------------------
// @platformatic/kafka
async function platformatic(): Promise<Adapter> {
  const pk = await import('@platformatic/kafka');
  const { Admin, Producer, Consumer, ProduceAcks, FetchIsolationLevels } = pk;
  const version = pkgVersion('@platformatic/kafka');
  const base = { bootstrapBrokers: [brokers], clientId: `bench-platformatic-${runId}` };
  const admin = new Admin(base);
  const closers: Array<{ close(): Promise<void> }> = [admin];

  const consumeAll = async (
    topic: string,
    group: string,
    count: number,
    isolationLevel: number,
    idleMs = 0,
  ): Promise<{ firstMs: number; totalMs: number; seen: number }> => {
    const consumer = new Consumer({ ...base, groupId: group, isolationLevel, maxWaitTime: 200 });
    const t0 = performance.now();
    let first = 0;
    let seen = 0;
    const stream = await consumer.consume({ topics: [topic], mode: 'earliest', autocommit: false });
    await new Promise<void>((resolve, reject) => {
      let idle: NodeJS.Timeout | undefined;
      stream.on('error', reject);
      stream.on('data', () => {
        if (seen++ === 0) first = performance.now();
        if (seen >= count) {
          if (idleMs === 0) resolve();
          else {
            clearTimeout(idle);
            idle = setTimeout(resolve, idleMs);
          }
        }
      });
      if (count === 0) setTimeout(resolve, idleMs);
    });
    const t1 = performance.now();
    await stream.close();
    await consumer.close(true);
    return { firstMs: first - t0, totalMs: t1 - first, seen };
  };

  return {
    name: '@platformatic/kafka',
    version,
    async createTopic(topic, partitions, compacted = false) {
      await admin.createTopics({
        topics: [topic],
        partitions,
        replicas: 1,
        configs: compacted ? [{ name: 'cleanup.policy', value: 'compact' }] : [],
      });
    },
    async produce(topic, batches, w) {
      const producer = new Producer({ ...base, idempotent: true, acks: ProduceAcks.ALL, autocreateTopics: false });
      closers.push(producer);
      await inWindow(batches, w, (batch) =>
        producer.send({ messages: batch.map((m) => ({ topic, key: m.key, value: m.value })) }),
      );
      return { producerId: String(producer.producerId) };
    },
    async consume(topic, group, count) {
      const r = await consumeAll(topic, group, count, FetchIsolationLevels.READ_COMMITTED);
      return { firstMs: r.firstMs, totalMs: r.totalMs };
    },
    async transactions(topic) {
      const producer = new Producer({ ...base, transactionalId: `tx-p-${runId}`, idempotent: true, acks: ProduceAcks.ALL });
      closers.push(producer);
      const msgs = Array.from({ length: 5 }, (_, i) => ({ topic, key: Buffer.from(`k${i}`), value: Buffer.from(`v${i}`) }));
      const aborted = await producer.beginTransaction();
      await aborted.send({ messages: msgs });
      await aborted.abort();
      const committed = await producer.beginTransaction();
      await committed.send({ messages: msgs });
      await committed.commit();
      const rc = await consumeAll(topic, `rc-${runId}`, 5, FetchIsolationLevels.READ_COMMITTED, 1500);
      const ru = await consumeAll(topic, `ru-${runId}`, 10, FetchIsolationLevels.READ_UNCOMMITTED, 1500);
      return { committed: rc.seen, uncommitted: ru.seen };
    },
    async consumeTransformProduce(input, output, group, count) {
      const producer = new Producer({ ...base, transactionalId: `tx-ctp-${runId}`, idempotent: true, acks: ProduceAcks.ALL });
      closers.push(producer);
      const consumer = new Consumer({ ...base, groupId: group, isolationLevel: FetchIsolationLevels.READ_COMMITTED });
      const stream = await consumer.consume({ topics: [input], mode: 'earliest', autocommit: false });
      const got: Array<import('@platformatic/kafka').Message> = [];
      await new Promise<void>((resolve) => {
        stream.on('data', (m) => {
          got.push(m);
          if (got.length === count) {
            stream.pause();
            resolve();
          }
        });
      });
      const tx = await producer.beginTransaction();
      await tx.send({ messages: got.map((m) => ({ topic: output, key: m.key, value: m.value })) });
      await tx.addConsumer(consumer);
      // The last message of each partition carries the offset to commit (offset + 1).
      const last = new Map<number, import('@platformatic/kafka').Message>();
      for (const m of got) last.set(m.partition, m);
      for (const m of last.values()) await tx.addOffset(m);
      await tx.commit();
      await stream.close();
      await consumer.close(true);
    },
    async cooperative(topic, group) {
      const protocols = [{ name: 'cooperative-sticky', version: 3 }];
      const a = new Consumer({ ...base, clientId: 'coop-a', groupId: group, protocols });
      const b = new Consumer({ ...base, clientId: 'coop-b', groupId: group, protocols });
      closers.push(a, b);
      const sa = await a.consume({ topics: [topic], mode: 'earliest', autocommit: false, protocols });
      sa.resume();
      await sleep(1000);
      const sb = await b.consume({ topics: [topic], mode: 'earliest', autocommit: false, protocols });
      sb.resume();
      const count = (c: typeof a) => (c.assignments ?? []).reduce((n, x) => n + x.partitions.length, 0);
      for (let i = 0; i < 100 && !(count(a) > 0 && count(b) > 0 && count(a) + count(b) === 4); i++) await sleep(100);
      const result = { a: count(a), b: count(b) };
      await sa.close();
      await sb.close();
      return result;
    },
    async close() {
      for (const c of closers.reverse()) await Promise.resolve(c.close()).catch(() => {});
    },
  };
}

// ---------------------------------------------------------------------------
// kafkajs
async function kafkajs(): Promise<Adapter> {
  const mod = await import('kafkajs');
  const kjs = (mod as unknown as { default?: typeof mod }).default ?? mod;
  const { Kafka, logLevel } = kjs;
  const kafka = new Kafka({ clientId: `bench-kafkajs-${runId}`, brokers: [brokers], logLevel: logLevel.ERROR });
  const admin = kafka.admin();
  await admin.connect();
  const closers: Array<{ disconnect(): Promise<void> }> = [admin];

  const consumeAll = async (topic: string, group: string, count: number, readUncommitted: boolean, idleMs = 0) => {
    const consumer = kafka.consumer({ groupId: group, readUncommitted, maxWaitTimeInMs: 200 });
    const t0 = performance.now();
    let first = 0;
    let seen = 0;
    await consumer.connect();
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    await new Promise<void>((resolve, reject) => {
      let idle: NodeJS.Timeout | undefined;
      consumer
        .run({
          autoCommit: false,
          eachBatch: async ({ batch }) => {
            if (seen === 0 && batch.messages.length > 0) first = performance.now();
            seen += batch.messages.length;
            if (seen >= count) {
              if (idleMs === 0) resolve();
              else {
                clearTimeout(idle);
                idle = setTimeout(resolve, idleMs);
              }
            }
          },
        })
        .catch(reject);
    });
    const t1 = performance.now();
    await consumer.disconnect();
    return { firstMs: first - t0, totalMs: t1 - first, seen };
  };

  return {
    name: 'kafkajs',
    version: pkgVersion('kafkajs'),
    async createTopic(topic, partitions, compacted = false) {
      await admin.createTopics({
        topics: [
          {
            topic,
            numPartitions: partitions,
            replicationFactor: 1,
            configEntries: compacted ? [{ name: 'cleanup.policy', value: 'compact' }] : [],
          },
        ],
      });
    },
    async produce(topic, batches, w) {
      // KIP-98 as KafkaJS implements it: one in-flight request per broker when idempotent.
      const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false });
      await producer.connect();
      closers.push(producer);
      await inWindow(batches, w, (batch) => producer.send({ topic, acks: -1, messages: batch }));
      return { producerId: 'n/a (not exposed)' };
    },
    async consume(topic, group, count) {
      const r = await consumeAll(topic, group, count, false);
      return { firstMs: r.firstMs, totalMs: r.totalMs };
    },
    async transactions(topic) {
      const producer = kafka.producer({ transactionalId: `tx-p-${runId}`, idempotent: true, maxInFlightRequests: 1 });
      await producer.connect();
      closers.push(producer);
      const msgs = Array.from({ length: 5 }, (_, i) => ({ key: `k${i}`, value: `v${i}` }));
      const aborted = await producer.transaction();
      await aborted.send({ topic, acks: -1, messages: msgs });
      await aborted.abort();
      const committed = await producer.transaction();
      await committed.send({ topic, acks: -1, messages: msgs });
      await committed.commit();
      const rc = await consumeAll(topic, `rc-${runId}`, 5, false, 1500);
      const ru = await consumeAll(topic, `ru-${runId}`, 10, true, 1500);
      return { committed: rc.seen, uncommitted: ru.seen };
    },
    async consumeTransformProduce(input, output, group, count) {
      const producer = kafka.producer({ transactionalId: `tx-ctp-${runId}`, idempotent: true, maxInFlightRequests: 1 });
      await producer.connect();
      closers.push(producer);
      const consumer = kafka.consumer({ groupId: group });
      await consumer.connect();
      await consumer.subscribe({ topics: [input], fromBeginning: true });
      const got: Array<{ partition: number; offset: string; key: Buffer | null; value: Buffer | null }> = [];
      await new Promise<void>((resolve, reject) => {
        consumer
          .run({
            autoCommit: false,
            eachMessage: async ({ partition, message }) => {
              got.push({ partition, offset: message.offset, key: message.key, value: message.value });
              if (got.length === count) resolve();
            },
          })
          .catch(reject);
      });
      await consumer.stop();
      const tx = await producer.transaction();
      await tx.send({ topic: output, acks: -1, messages: got.map((m) => ({ key: m.key, value: m.value })) });
      const last = new Map<number, string>();
      for (const m of got) last.set(m.partition, m.offset);
      await tx.sendOffsets({
        consumerGroupId: group,
        topics: [
          {
            topic: input,
            partitions: [...last].map(([partition, offset]) => ({ partition, offset: String(BigInt(offset) + 1n) })),
          },
        ],
      });
      await tx.commit();
      await consumer.disconnect();
    },
    async cooperative() {
      return 'not supported: PartitionAssigners has roundRobin only (eager protocol)';
    },
    async close() {
      for (const c of closers.reverse()) await c.disconnect().catch(() => {});
    },
  };
}

// ---------------------------------------------------------------------------
// @confluentinc/kafka-javascript (librdkafka), through its KafkaJS-compatible API
async function confluent(): Promise<Adapter> {
  const mod = await import('@confluentinc/kafka-javascript');
  const ck = (mod as unknown as { default?: typeof mod }).default ?? mod;
  const { Kafka, logLevel, PartitionAssigners } = ck.KafkaJS;
  const kafka = new Kafka({ kafkaJS: { clientId: `bench-confluent-${runId}`, brokers: [brokers], logLevel: logLevel.ERROR } });
  const admin = kafka.admin();
  await admin.connect();
  const closers: Array<{ disconnect(): Promise<void> }> = [admin];

  const consumeAll = async (topic: string, group: string, count: number, readUncommitted: boolean, idleMs = 0) => {
    const consumer = kafka.consumer({
      kafkaJS: { groupId: group, fromBeginning: true, autoCommit: false, readUncommitted },
      'js.consumer.max.batch.size': -1,
    });
    const t0 = performance.now();
    let first = 0;
    let seen = 0;
    await consumer.connect();
    await consumer.subscribe({ topics: [topic] });
    await new Promise<void>((resolve, reject) => {
      let idle: NodeJS.Timeout | undefined;
      consumer
        .run({
          eachBatch: async ({ batch }) => {
            if (seen === 0 && batch.messages.length > 0) first = performance.now();
            seen += batch.messages.length;
            if (seen >= count) {
              if (idleMs === 0) resolve();
              else {
                clearTimeout(idle);
                idle = setTimeout(resolve, idleMs);
              }
            }
          },
        })
        .catch(reject);
    });
    const t1 = performance.now();
    await consumer.disconnect();
    return { firstMs: first - t0, totalMs: t1 - first, seen };
  };

  return {
    name: '@confluentinc/kafka-javascript',
    version: `${pkgVersion('@confluentinc/kafka-javascript')} (librdkafka ${ck.librdkafkaVersion})`,
    async createTopic(topic, partitions, compacted = false) {
      await admin.createTopics({
        topics: [
          {
            topic,
            numPartitions: partitions,
            replicationFactor: 1,
            configEntries: compacted ? [{ name: 'cleanup.policy', value: 'compact' }] : [],
          },
        ],
      });
    },
    async produce(topic, batches, w) {
      const producer = kafka.producer({ kafkaJS: { idempotent: true, acks: -1 } });
      await producer.connect();
      closers.push(producer);
      await inWindow(batches, w, (batch) => producer.send({ topic, messages: batch }));
      return { producerId: 'n/a (not exposed)' };
    },
    async consume(topic, group, count) {
      const r = await consumeAll(topic, group, count, false);
      return { firstMs: r.firstMs, totalMs: r.totalMs };
    },
    async transactions(topic) {
      const producer = kafka.producer({ kafkaJS: { transactionalId: `tx-p-${runId}`, idempotent: true, acks: -1 } });
      await producer.connect();
      closers.push(producer);
      const msgs = Array.from({ length: 5 }, (_, i) => ({ key: `k${i}`, value: `v${i}` }));
      const aborted = await producer.transaction();
      await aborted.send({ topic, messages: msgs });
      await aborted.abort();
      const committed = await producer.transaction();
      await committed.send({ topic, messages: msgs });
      await committed.commit();
      const rc = await consumeAll(topic, `rc-${runId}`, 5, false, 1500);
      const ru = await consumeAll(topic, `ru-${runId}`, 10, true, 1500);
      return { committed: rc.seen, uncommitted: ru.seen };
    },
    async consumeTransformProduce(input, output, group, count) {
      const producer = kafka.producer({ kafkaJS: { transactionalId: `tx-ctp-${runId}`, idempotent: true, acks: -1 } });
      await producer.connect();
      closers.push(producer);
      const consumer = kafka.consumer({ kafkaJS: { groupId: group, fromBeginning: true, autoCommit: false } });
      await consumer.connect();
      await consumer.subscribe({ topics: [input] });
      const got: Array<{ partition: number; offset: string; key: Buffer | null; value: Buffer | null }> = [];
      const done = new Promise<void>((resolve, reject) => {
        consumer
          .run({
            eachMessage: async ({ partition, message }) => {
              got.push({ partition, offset: message.offset, key: message.key, value: message.value });
              if (got.length === count) resolve();
            },
          })
          .catch(reject);
      });
      await done;
      const tx = await producer.transaction();
      await tx.send({ topic: output, messages: got.map((m) => ({ key: m.key, value: m.value })) });
      const last = new Map<number, string>();
      for (const m of got) last.set(m.partition, m.offset);
      // The consumer object (not a group id) is passed, so librdkafka sends the
      // group metadata (generation, member id) the broker fences zombies with.
      await tx.sendOffsets({
        consumer,
        topics: [
          {
            topic: input,
            partitions: [...last].map(([partition, offset]) => ({ partition, offset: String(BigInt(offset) + 1n) })),
          },
        ],
      });
      await tx.commit();
      await consumer.disconnect();
    },
    async cooperative(topic, group) {
      const mk = () =>
        kafka.consumer({
          kafkaJS: { groupId: group, fromBeginning: true, partitionAssigners: [PartitionAssigners.cooperativeSticky] },
        });
      const a = mk();
      const b = mk();
      closers.push(a, b);
      for (const c of [a, b]) {
        await c.connect();
        await c.subscribe({ topics: [topic] });
        c.run({ eachMessage: async () => {} }).catch(() => {});
        await sleep(1000);
      }
      const count = (c: typeof a) => c.assignment().length;
      for (let i = 0; i < 100 && !(count(a) > 0 && count(b) > 0 && count(a) + count(b) === 4); i++) await sleep(100);
      return { a: count(a), b: count(b) };
    },
    async close() {
      for (const c of closers.reverse()) await c.disconnect().catch(() => {});
    },
  };
}

const factories: Record<string, () => Promise<Adapter>> = { platformatic, kafkajs, confluent };

async function feature(name: string, results: Record<string, Feature>, run: () => Promise<Feature>) {
  try {
    results[name] = await withTimeout(run(), 60_000, name);
  } catch (error) {
    results[name] = { ok: false, note: `error: ${(error as Error).message.split('\n')[0]}` };
  }
  console.error(`  ${name}: ${results[name]!.ok} ${results[name]!.note}`);
}

async function bench(key: string): Promise<Result> {
  const factory = factories[key];
  if (!factory) throw new Error(`unknown client "${key}"; expected one of ${Object.keys(factories).join(', ')}`);
  const a = await factory();
  console.error(`# ${a.name} ${a.version} on Node ${process.version}`);
  const topic = `bench-${key}-${runId}`;
  await a.createTopic(topic, 4);
  const batches = makeBatches(messages, size, batchSize);

  const p0 = performance.now();
  const { producerId } = await a.produce(topic, batches, window);
  const produceMs = performance.now() - p0;
  console.error(`  produce: ${messages} x ${size} B in ${produceMs.toFixed(0)} ms (producer id ${producerId})`);

  const c = await withTimeout(a.consume(topic, `bench-g-${key}-${runId}`, messages), 120_000, 'consume');
  console.error(`  consume: ${messages} in ${(c.firstMs + c.totalMs).toFixed(0)} ms, first batch after ${c.firstMs.toFixed(0)} ms`);

  const features: Record<string, Feature> = {};
  features['idempotent producer'] = { ok: true, note: `acks=all, ${messages} messages` };
  if (!skipFeatures) {
    const txTopic = `tx-${key}-${runId}`;
    await a.createTopic(txTopic, 2);
    await feature('transactional producer', features, async () => {
      const r = await a.transactions(txTopic);
      features['read_committed'] = {
        ok: r.committed === 5 && r.uncommitted === 10,
        note: `read_committed saw ${r.committed}/5, read_uncommitted saw ${r.uncommitted}/10`,
      };
      return { ok: r.committed === 5, note: 'abort + commit' };
    });
    const input = `ctp-in-${key}-${runId}`;
    const output = `ctp-out-${key}-${runId}`;
    await a.createTopic(input, 2);
    await a.createTopic(output, 2);
    await a.produce(input, makeBatches(20, 10, 20), 1);
    await feature('sendOffsets in transaction', features, async () => {
      const group = `ctp-g-${key}-${runId}`;
      await a.consumeTransformProduce(input, output, group, 20);
      const committed = groupCommitted(group);
      return { ok: committed === 20, note: `committed offsets sum ${committed}/20` };
    });
    const coopTopic = `coop-${key}-${runId}`;
    await a.createTopic(coopTopic, 4);
    await feature('cooperative-sticky', features, async () => {
      const group = `coop-g-${key}-${runId}`;
      const r = await a.cooperative(coopTopic, group);
      if (typeof r === 'string') return { ok: false, note: r };
      const strategy = groupStrategy(group);
      return { ok: strategy === 'cooperative-sticky' && r.a + r.b === 4, note: `${strategy}, split ${r.a}+${r.b}` };
    });
    await feature('admin: compacted topic', features, async () => {
      await a.createTopic(`compact-${key}-${runId}`, 2, true);
      return { ok: true, note: 'cleanup.policy=compact' };
    });
  }
  await a.close();
  return {
    client: a.name,
    version: a.version,
    node: process.version,
    produceMsgsPerSec: Math.round(messages / (produceMs / 1000)),
    produceMs: Math.round(produceMs),
    consumeMsgsPerSec: Math.round(messages / ((c.firstMs + c.totalMs) / 1000)),
    consumeMs: Math.round(c.firstMs + c.totalMs),
    consumeFirstMessageMs: Math.round(c.firstMs),
    consumeSteadyMsgsPerSec: Math.round(messages / (Math.max(c.totalMs, 1) / 1000)),
    features,
  };
}

const results: Result[] = [];
for (const key of clients) {
  try {
    const r = await bench(key);
    results.push(r);
    writeFileSync(new URL(`./bench-clients-${key}.json`, import.meta.url), `${JSON.stringify(r, null, 2)}\n`);
  } catch (error) {
    console.error(`# ${key} failed: ${(error as Error).stack}`);
  }
}
console.log(`\n${messages} messages of ${size} B, batches of ${batchSize}, ${window} sends in flight\n`);
console.log(
  '| client | version | node | produce msg/s | consume msg/s (incl. group join) | first batch after | consume msg/s after first batch |',
);
console.log('| --- | --- | --- | ---: | ---: | ---: | ---: |');
for (const r of results) {
  console.log(
    `| ${r.client} | ${r.version} | ${r.node} | ${r.produceMsgsPerSec} | ${r.consumeMsgsPerSec} | ${r.consumeFirstMessageMs} ms | ${r.consumeSteadyMsgsPerSec} |`,
  );
}
for (const r of results) {
  console.log(`\n${r.client}:`);
  for (const [name, f] of Object.entries(r.features)) console.log(`- ${name}: ${f.ok ? 'yes' : 'no'} (${f.note})`);
}
process.exit(0);
