/**
 * What the Kafka suites share: a broker that is ready (not just listening),
 * bounded waits on conditions instead of fixed sleeps, child processes, and
 * Kafka's own Java read_committed consumer as an independent reader.
 *
 * Issue 19: "the Kafka EOS tests failed with 'key k0: 0 outputs, expected
 * 250' when the broker came up mid-run". A port that accepts connections is
 * not a broker that can run a transaction: right after a start, the group and
 * transaction coordinators are still loading (or creating) their internal
 * topics. `kafkaReady` waits for both, and the tests wait on progress rather
 * than on wall-clock deadlines sized for a quiet machine.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { Admin, type MessageToProduce, ProduceAcks, Producer } from '@platformatic/kafka';
import { type KafkaApp, kafkaPartition } from '../../src/deploy/kafka/index.ts';
import { Pipeline, valueState } from '../../src/index.ts';
import { kafkaService, type Service } from '../helpers/services.ts';

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * The Kafka service (skipped loudly when absent, a failure under CI=true),
 * once it answers metadata requests and its group and transaction
 * coordinators work: a transaction commits and a group's offsets can be read.
 * Bounded: fails after `timeoutMs`.
 */
export async function kafkaReady(timeoutMs = 120_000): Promise<Service> {
  const deadline = Date.now() + timeoutMs;
  let service = await kafkaService();
  // Under CI the broker must be there: one still starting gets the time it needs (bounded), rather
  // than failing the suite because it opened its port a second after the tests began.
  while (service.address === undefined && process.env['CI'] === 'true' && Date.now() < deadline) {
    await sleep(1000);
    service = await kafkaService();
  }
  if (service.address === undefined) return service;
  const brokers = service.address.split(',');
  let last: unknown;
  for (let attempt = 0; Date.now() < deadline; attempt++) {
    try {
      await withTimeout(probe(brokers), 30_000);
      return service;
    } catch (e) {
      last = e;
      await sleep(Math.min(2000, 200 * 2 ** attempt));
    }
  }
  throw new Error(
    `the Kafka broker at ${service.address} listens but did not become ready within ${timeoutMs} ms: ${String(last)}`,
  );
}

async function probe(brokers: string[]): Promise<void> {
  const admin = new Admin({ clientId: 'eddy-test-ready', bootstrapBrokers: brokers, retries: 0 });
  const producer = new Producer({
    clientId: 'eddy-test-ready',
    bootstrapBrokers: brokers,
    idempotent: true,
    acks: ProduceAcks.ALL,
    transactionalId: `eddy-test-ready-${randomUUID()}`,
    producerId: -1n,
    producerEpoch: -1,
    retries: 0,
  });
  try {
    await admin.metadata({ topics: [] });
    // The group coordinator (and __consumer_offsets) answers.
    await admin.listConsumerGroupOffsets({ groups: [`eddy-test-ready-${randomUUID()}`] });
    // The transaction coordinator (and __transaction_state) answers InitProducerId (nothing is sent:
    // ending an empty transaction is refused as an invalid state).
    await producer.beginTransaction();
  } finally {
    await producer.close().catch(() => {});
    await admin.close().catch(() => {});
  }
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let t: ReturnType<typeof setTimeout> | undefined;
  return Promise.race([
    p,
    new Promise<never>((_, reject) => {
      t = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(t));
}

/** Waits until `ok()` holds, polling; fails after `timeoutMs` with `what` and `context()`. */
export async function until(
  what: string,
  ok: () => boolean | Promise<boolean>,
  o: { timeoutMs?: number; context?: () => string } = {},
): Promise<void> {
  const deadline = Date.now() + (o.timeoutMs ?? 90_000);
  while (!(await ok())) {
    if (Date.now() > deadline)
      assert.fail(`timed out waiting until ${what}${o.context ? `\n${o.context()}` : ''}`);
    await sleep(100);
  }
}

/**
 * Waits until `count()` reaches `target`, for as long as it keeps rising: fails
 * only when it has not risen for `stallMs` (or after `maxMs` in all), so a
 * loaded machine gets the time it needs and a stuck run still fails.
 */
export async function untilProgress(
  what: string,
  count: () => Promise<number> | number,
  target: number,
  o: { stallMs?: number; maxMs?: number; everyMs?: number; context?: () => string } = {},
): Promise<number> {
  const stallMs = o.stallMs ?? 60_000;
  const end = Date.now() + (o.maxMs ?? 600_000);
  let best = -1;
  let since = Date.now();
  for (;;) {
    const n = await count();
    if (n >= target) return n;
    if (n > best) {
      best = n;
      since = Date.now();
    }
    if (Date.now() - since > stallMs || Date.now() > end)
      assert.fail(
        `timed out waiting until ${what}: ${n} of ${target}, no progress for ${Date.now() - since} ms${o.context ? `\n${o.context()}` : ''}`,
      );
    await sleep(o.everyMs ?? 500);
  }
}

/** The tests' producer: idempotent with acks=all, so a retried send cannot put a record in twice. */
export function testProducer(brokers: readonly string[]): Producer {
  return new Producer({
    clientId: 'eddy-test',
    bootstrapBrokers: [...brokers],
    idempotent: true,
    acks: ProduceAcks.ALL,
  });
}

/** Starts a fixture process; its stderr goes to `log`. */
export function startChild(script: string, args: string[], log: string[]): ChildProcess {
  const child = spawn(process.execPath, [script, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (s: string) => log.push(s));
  return child;
}

/** Resolves with the exit code once the child has exited. */
export function exited(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve) => child.once('exit', (code) => resolve(code)));
}

/** Stops a child with SIGTERM, and SIGKILL if it has not exited after `ms`; resolves with its exit code. */
export async function stopChild(child: ChildProcess, ms = 60_000): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
  child.kill('SIGTERM');
  const t = setTimeout(() => child.kill('SIGKILL'), ms);
  try {
    return await exited(child);
  } finally {
    clearTimeout(t);
  }
}

/**
 * Every record of `topic` as Kafka's own Java consumer sees it with
 * isolation.level=read_committed (kafka-tools, from the broker's jars). The
 * verdict is not left to @platformatic/kafka: its read_committed filter keeps
 * one aborted range per producer per fetch, so it can show records of aborted
 * transactions (docs/KAFKA.md), which would read as duplicates. Bounded: the
 * tool stops after 5 s without records, and is killed after `timeoutMs`.
 *
 * The 5 s include the JVM's start and the consumer's group join, which on a
 * loaded machine can take longer: then it reads nothing. With `atLeast` (the
 * count the caller expects), a shorter read is read again with 30 s of patience
 * (what is committed no longer changes), so a slow start is not taken for lost
 * output and the happy path stays 5 s.
 */
export async function readCommittedJava(
  brokers: string,
  topic: string,
  options: { readonly timeoutMs?: number; readonly atLeast?: number } = {},
): Promise<{ partition: number; offset: number; headers: string; value: string }[]> {
  const first = await readCommittedOnce(brokers, topic, 5000, options.timeoutMs ?? 120_000);
  if (options.atLeast === undefined || first.length >= options.atLeast) return first;
  return readCommittedOnce(brokers, topic, 30_000, options.timeoutMs ?? 120_000);
}

function readCommittedOnce(
  brokers: string,
  topic: string,
  idleMs: number,
  timeoutMs: number,
): Promise<{ partition: number; offset: number; headers: string; value: string }[]> {
  return new Promise((resolve, reject) => {
    const tool = spawn(
      'bash',
      [
        new URL('../../kafka/run-class.sh', import.meta.url).pathname,
        'org.apache.kafka.tools.consumer.ConsoleConsumer',
        '--bootstrap-server',
        brokers,
        '--topic',
        topic,
        '--from-beginning',
        '--isolation-level',
        'read_committed',
        '--formatter-property',
        'print.partition=true',
        '--formatter-property',
        'print.offset=true',
        '--formatter-property',
        'print.headers=true',
        '--timeout-ms',
        String(idleMs),
      ],
      { stdio: ['ignore', 'pipe', 'ignore'] },
    );
    const killer = setTimeout(() => tool.kill('SIGKILL'), timeoutMs);
    let out = '';
    tool.stdout!.setEncoding('utf8');
    tool.stdout!.on('data', (s: string) => {
      out += s;
    });
    tool.once('error', reject);
    tool.once('exit', () => {
      clearTimeout(killer);
      const records = [];
      for (const line of out.split('\n')) {
        const m = /^Partition:(\d+)\tOffset:(\d+)\t(.*?)\t(.*)$/.exec(line);
        if (m !== null)
          records.push({ partition: Number(m[1]), offset: Number(m[2]), headers: m[3]!, value: m[4]! });
      }
      resolve(records);
    });
  });
}

/** Creates each topic: its partitions, one replica, no time retention, and `max.message.bytes` when given. */
export async function createTopics(
  admin: Admin,
  topics: Record<string, { readonly partitions: number; readonly maxMessageBytes?: number }>,
): Promise<void> {
  for (const [topic, t] of Object.entries(topics)) {
    await admin.createTopics({
      topics: [topic],
      partitions: t.partitions,
      replicas: 1,
      // No time retention: test records carry synthetic event times, which a broker's default
      // 7-day retention would delete at its next check (docs/KAFKA.md, "Gotchas").
      configs: [
        { name: 'retention.ms', value: '-1' },
        ...(t.maxMessageBytes === undefined
          ? []
          : [{ name: 'max.message.bytes', value: String(t.maxMessageBytes) }]),
      ],
    });
  }
  // CreateTopics answers before every broker's metadata cache has the topic;
  // a client that looks it up at once may find nothing (seen in a CI run).
  // Wait until the listing shows every topic with a leader for each partition.
  const deadline = Date.now() + 60_000;
  const names = Object.keys(topics);
  for (;;) {
    const listed = new Set(await admin.listTopics());
    if (names.every((t) => listed.has(t))) {
      const meta = await admin.metadata({ topics: names, autocreateTopics: false, forceUpdate: true });
      const ready = names.every((t) => {
        const info = meta.topics.get(t);
        return (
          info !== undefined &&
          info.partitionsCount === topics[t]!.partitions &&
          [...info.partitions.values()].every((p) => p.leader >= 0)
        );
      });
      if (ready) return;
    }
    if (Date.now() > deadline) throw new Error(`topics ${names.join(', ')} not visible 60 s after creation`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** A key's running count as a counting application writes it. */
export interface Counted {
  key: string;
  count: number;
}

/**
 * A Kafka application's pipeline that counts records per key (`{ key }` JSON)
 * in keyed state and writes each new count to `output`: `{ key, count }`,
 * counts 1, 2, 3, … per key when each record is counted exactly once.
 */
export function countingPipeline(app: KafkaApp, input: string, output: string, name = 'counting'): Pipeline {
  const p = new Pipeline({ name });
  p.source('in', app.source<{ key: string }>({ topics: [input] }))
    .keyBy((e) => e.key)
    .withState({ n: valueState<number>() })
    .process<Counted>({
      processElement(e, ctx) {
        const n = (ctx.state.n.get() ?? 0) + 1;
        ctx.state.n.set(n);
        ctx.emit({ key: e.key, count: n });
      },
    })
    .sink(app.sink({ topic: output, key: (c) => c.key }));
  return p;
}

/** A `{ key }` JSON record for a Kafka application's input, in the partition the application expects for the key. */
export function keyedRecord(topic: string, key: string, partitions: number): MessageToProduce {
  return {
    topic,
    key: Buffer.from(key),
    partition: kafkaPartition(key, partitions),
    value: Buffer.from(JSON.stringify({ key })),
  };
}

/** A Kafka application test's id (`<prefix>-<random>`), its input and output topic names, and clients for them. */
export function appTestSetup(brokers: readonly string[], prefix: string) {
  const id = `${prefix}-${randomUUID().slice(0, 8)}`;
  return {
    id,
    input: `${id}-in`,
    output: `${id}-out`,
    admin: new Admin({ clientId: 'eddy-test', bootstrapBrokers: [...brokers] }),
    producer: new Producer({ clientId: 'eddy-test', bootstrapBrokers: [...brokers], acks: ProduceAcks.ALL }),
  };
}
