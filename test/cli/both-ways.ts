/**
 * One pipeline module, two deployments (issue 13), for the CLI's Kafka
 * tests: the module runs as a Kafka application of several instances
 * (`eddy run --kafka`), started before the input is produced, and embedded,
 * over the same input topic; each output is read back (the Kafka one as
 * Kafka's Java consumer reads it, read_committed) and must equal the
 * expected result, each window once. Failures print the seed and the
 * instances' logs.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { Admin, type MessageToProduce, ProduceAcks, Producer } from '@platformatic/kafka';
import { kafkaPartition } from '../../src/connectors/kafka/index.ts';
import { readToEnd } from '../../src/connectors/kafka/read-to-end.ts';
import { Random } from '../../src/util/random.ts';
import {
  createTopics,
  exited,
  readCommittedJava,
  startChild,
  until,
  untilProgress,
} from '../kafka/helpers.ts';

const BIN = new URL('../../bin/eddy.js', import.meta.url).pathname;

/** A small seeded generator (mulberry32), so a failure can be replayed from its seed. */
/** A seeded generator of floats in [0, 1), so a failure can be replayed from its seed. */
export function random(seed: number): () => number {
  const rng = new Random(seed);
  return () => rng.next();
}

/** A record for partition `partition` of the input (the topic is filled in later). */
export function inputMessage(key: string, partition: number, value: string): MessageToProduce {
  return { topic: '', key: Buffer.from(key), partition, value: Buffer.from(value) };
}

/** One far-future record per partition, keyed into it: every partition's watermark passes the data. */
export function flushMessages(partitions: number, value: (key: string) => string): MessageToProduce[] {
  const out: MessageToProduce[] = [];
  for (let p = 0; p < partitions; p++) {
    let k = 0;
    while (kafkaPartition(`flush-${k}`, partitions) !== p) k++;
    out.push(inputMessage(`flush-${k}`, p, value(`flush-${k}`)));
  }
  return out;
}

export interface BothWays<R> {
  readonly brokers: string[];
  readonly seed: number;
  /** The module and its options (without --output, --group and the Kafka flags). */
  readonly module: string;
  readonly args: readonly string[];
  readonly partitions: number;
  readonly instances: number;
  /** A short name for topics and the application id. */
  readonly name: string;
  /** The Kafka applications whose partitions every instance must own before the input is produced. */
  readonly stages: (app: string) => string[];
  readonly messages: readonly MessageToProduce[];
  /** Each result window as written, by id (failing on one written twice); the flush windows left out. */
  readonly results: (out: readonly R[], label: string) => Map<string, unknown>;
  readonly expected: Map<string, unknown>;
  /** After the Kafka application stopped (all instances exited 0), before the embedded run. */
  readonly afterKafka?: (app: string) => Promise<void>;
  /**
   * Halfway through the input, instance 0 is stopped (SIGTERM: a savepoint
   * of every stage) once output has been committed, and started again before
   * the rest is produced: nothing may be lost or written twice.
   */
  readonly restartMidway?: boolean;
}

function sorted(m: Map<string, unknown>): [string, unknown][] {
  return [...m].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

async function readAll<R>(brokers: string[], topic: string): Promise<R[]> {
  const out: R[] = [];
  await readToEnd({
    bootstrapBrokers: brokers,
    topic,
    clientId: 'eddy-test-both-ways',
    onMessage: (m) => out.push(JSON.parse(m.value!.toString()) as R),
  });
  return out;
}

/** Runs `o.module` as a Kafka application and embedded; both outputs must equal `o.expected`. */
export async function runBothWays<R>(o: BothWays<R>): Promise<void> {
  const { brokers, seed } = o;
  const id = randomUUID().slice(0, 8);
  const topics = {
    input: `eddy-${o.name}-in-${id}`,
    embedded: `eddy-${o.name}-embedded-${id}`,
    app: `eddy-${o.name}-app-${id}`,
  };
  const admin = new Admin({ clientId: 'eddy-test', bootstrapBrokers: brokers });
  try {
    await createTopics(admin, {
      [topics.input]: { partitions: o.partitions },
      [topics.embedded]: { partitions: o.partitions },
      [topics.app]: { partitions: o.partitions },
    });
  } finally {
    await admin.close();
  }
  const common = [
    'run',
    o.module,
    '--brokers',
    brokers.join(','),
    '--input',
    topics.input,
    ...o.args,
    '--quiet',
  ];
  const count = async (topic: string) => o.results(await readAll<R>(brokers, topic), topic).size;
  const logs: string[][] = Array.from({ length: o.instances }, () => []);
  const app = `eddy-${o.name}-${id}`;
  const start = (i: number) =>
    startChild(
      BIN,
      [
        ...common,
        '--output',
        topics.app,
        '--kafka',
        brokers.join(','),
        '--app-id',
        app,
        '--instance-id',
        `i${i}`,
        '--checkpoint-interval',
        '300',
      ],
      logs[i]!,
    );
  const instances: ChildProcess[] = logs.map((_, i) => start(i));
  const all = () => logs.map((l, i) => `--- instance ${i}\n${l.join('').slice(-2000)}`).join('\n');
  // Each instance owns a partition of each stage before the input arrives, so all of them do work.
  const patterns = o.stages(app).map((a) => new RegExp(`application ${a}\\) runs partitions \\d`));
  const owns = (l: string[]) => patterns.every((p) => p.test(l.join('')));
  await until('each instance owns a partition of each stage', () => logs.every(owns), {
    timeoutMs: 180_000,
    context: all,
  }).catch((e: unknown) => {
    for (const child of instances) child.kill('SIGTERM');
    throw e;
  });
  const producer = new Producer({ clientId: 'eddy-test', bootstrapBrokers: brokers, acks: ProduceAcks.ALL });
  const produce = async (from: number, to: number) => {
    for (let i = from; i < to; i += 500)
      await producer.send({
        messages: o.messages.slice(i, Math.min(i + 500, to)).map((m) => ({ ...m, topic: topics.input })),
      });
  };
  try {
    const half = o.restartMidway === true ? Math.floor(o.messages.length / 2) : o.messages.length;
    await produce(0, half);
    if (o.restartMidway === true) {
      await untilProgress('some output is committed before the restart', () => count(topics.app), 1, {
        everyMs: 500,
        context: () => `seed ${seed}\n${all()}`,
      });
      const assigned = (l: string[]) =>
        patterns.map(
          (p) =>
            l
              .join('')
              .split('\n')
              .filter((x) => p.test(x)).length,
        );
      instances[0]!.kill('SIGTERM');
      assert.equal(await exited(instances[0]!), 0, `instance 0 stops with a savepoint\n${all()}`);
      const before = assigned(logs[0]!);
      instances[0] = start(0);
      await until(
        'the restarted instance owns a partition of each stage again',
        () => assigned(logs[0]!).every((n, k) => n > before[k]!),
        { timeoutMs: 180_000, context: all },
      );
    }
    await produce(half, o.messages.length);
  } catch (e) {
    // The instances never stop by themselves: a failure here must not leave them (and the test) running.
    for (const child of instances) child.kill('SIGKILL');
    throw e;
  } finally {
    await producer.close();
  }
  await untilProgress(
    'the Kafka application committed every window',
    () => count(topics.app),
    o.expected.size,
    {
      everyMs: 1000,
      context: () => `seed ${seed}\n${all()}`,
    },
  ).finally(() => {
    for (const child of instances) child.kill('SIGTERM');
  });
  const codes = await Promise.all(instances.map(exited));
  assert.deepEqual(
    codes,
    instances.map(() => 0),
    `every instance stops with a savepoint and exits 0\n${all()}`,
  );
  for (const [i, l] of logs.entries())
    assert.match(
      l.join(''),
      /SIGTERM — each partition commits a savepoint/,
      `instance ${i} stopped with a savepoint`,
    );
  // Kafka's Java consumer decides what is committed: every window once, equal to the expected result.
  const committed = (await readCommittedJava(brokers.join(','), topics.app, { atLeast: 1 })).map(
    (r) => JSON.parse(r.value) as R,
  );
  assert.deepEqual(sorted(o.results(committed, 'kafka')), sorted(o.expected), `seed ${seed}`);
  await o.afterKafka?.(app);
  // Embedded, over the same input: the module as it is; Ctrl-C drains it once the output holds every window.
  const log: string[] = [];
  const context = () => `seed ${seed} (EDDY_SEED=${seed} replays it)\n${log.join('').slice(-3000)}`;
  const embedded = startChild(
    BIN,
    [...common, '--output', topics.embedded, '--group', `eddy-${o.name}-embedded-${id}`],
    log,
  );
  try {
    await untilProgress(
      'the embedded run wrote every window',
      () => count(topics.embedded),
      o.expected.size,
      {
        everyMs: 1000,
        context,
      },
    );
  } finally {
    embedded.kill('SIGINT');
  }
  assert.equal(await exited(embedded), 0, `the embedded run exits 0\n${context()}`);
  assert.deepEqual(
    sorted(o.results(await readAll<R>(brokers, topics.embedded), 'embedded')),
    sorted(o.expected),
    `seed ${seed}`,
  );
}

export interface Click {
  user?: string;
  page: string;
  ts: number;
}

/**
 * Seeded clicks of 12 users in production order, each user in its
 * kafkaPartition: event time rises 10 ms a click from a fixed base, each
 * click up to `disorder - 1` early; 1 % malformed JSON (dead-lettered), 2 %
 * without a user (a filter drops them); then one far-future click per
 * partition at `end`. With `hot`, half the clicks are user u0's and every
 * click goes to a random partition (input not partitioned by user), and 3 %
 * are 2–5 windows late: those whose window its partition's event time had
 * already closed (a record at or below `max - disorder - 1` of its partition
 * so far, in a window ending at or below that) are left out of `clicks`, as
 * every deployment drops them. `base`: the first click's event time (a
 * fixed one in 2023 unless given).
 */
export function clickInput(
  seed: number,
  o: {
    readonly partitions: number;
    readonly window: number;
    readonly disorder: number;
    readonly hot?: boolean;
    readonly base?: number;
  },
): { messages: MessageToProduce[]; clicks: Click[]; end: number } {
  const base = o.base ?? 1_700_000_000_000;
  const count = 3000;
  const r = random(seed);
  const messages: MessageToProduce[] = [];
  const clicks: Click[] = [];
  // Each partition's highest event time so far, and whether a click at `ts` is dropped as late there.
  const highest = new Array<number>(o.partitions).fill(Number.NEGATIVE_INFINITY);
  const dropped = (partition: number, ts: number) => {
    const floor = highest[partition]! - o.disorder - 1;
    highest[partition] = Math.max(highest[partition]!, ts);
    return ts <= floor && ts - (ts % o.window) + o.window - 1 <= floor;
  };
  for (let i = 0; i < count; i++) {
    const user = o.hot === true && r() < 0.5 ? 'u0' : `u${Math.floor(r() * 12)}`;
    let ts = base + i * 10 - Math.floor(r() * (o.disorder - 1));
    if (o.hot === true && r() < 0.03) ts -= o.window * (2 + Math.floor(r() * 4));
    const partition = o.hot === true ? Math.floor(r() * o.partitions) : kafkaPartition(user, o.partitions);
    const roll = r();
    if (roll < 0.01)
      messages.push(inputMessage(user, partition, `{"user":"${user}","page":`)); // malformed
    else if (roll < 0.03) {
      const c: Click = { page: '/', ts };
      if (!dropped(partition, ts)) clicks.push(c);
      messages.push(inputMessage(user, partition, JSON.stringify(c))); // no user: filtered
    } else {
      const c: Click = { user, page: `/p${Math.floor(r() * 5)}`, ts };
      if (!dropped(partition, ts)) clicks.push(c);
      messages.push(inputMessage(user, partition, JSON.stringify(c)));
    }
  }
  const end = base + count * 10 + 10 * o.window;
  messages.push(...flushMessages(o.partitions, (user) => JSON.stringify({ user, page: '/', ts: end })));
  return { messages, clicks, end };
}
