/**
 * Issue 13: several keyed stages in one Kafka application. The module
 * test/cli/fixtures/two-stages.ts keys clicks by user (views per user and
 * window), then keys the results again by activity tier (users and views per
 * tier and window). Run embedded, and as a Kafka application of two
 * instances (`eddy run --kafka`: two stage applications joined by a topic,
 * event time and watermarks carried across), over the same seeded, out of
 * order input; both outputs must equal a batch computation written without
 * the engine, each window once. The later stage's windows fire on the
 * watermark carried from every task of the first: with a watermark taken
 * from the records alone, results of a first-stage task that runs ahead
 * would close windows the others still feed.
 *
 * As in kafka-mode.test.ts: one far-future click per partition moves every
 * watermark past the data, and those windows are left out; the Kafka output
 * is read as Kafka's Java consumer reads it (read_committed).
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { describe, it } from 'node:test';
import { Admin, type MessageToProduce, ProduceAcks, Producer } from '@platformatic/kafka';
import { kafkaPartition } from '../../src/connectors/kafka/index.ts';
import { readToEnd } from '../../src/connectors/kafka/read-to-end.ts';
import { eddy } from '../helpers/cli.ts';
import {
  createTopics,
  exited,
  kafkaReady,
  readCommittedJava,
  startChild,
  until,
  untilProgress,
} from '../kafka/helpers.ts';
import { type Click, type TierCount, tierOf } from './fixtures/two-stages.ts';

const kafka = await kafkaReady();
const BIN = new URL('../../bin/eddy.js', import.meta.url).pathname;
const MODULE = new URL('./fixtures/two-stages.ts', import.meta.url).pathname;
const PARTITIONS = 3;
const WINDOW = 1000;
const DISORDER = 500;
const BASE = 1_700_000_000_000;
const USERS = 12;
const CLICKS = 3000;

/** A small seeded generator (mulberry32), so a failure can be replayed from its seed. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The input in production order, per partition: event time rises 10 ms a click, each click up to DISORDER - 1 early. */
function input(seed: number): { messages: MessageToProduce[]; clicks: Click[]; end: number } {
  const r = random(seed);
  const messages: MessageToProduce[] = [];
  const clicks: Click[] = [];
  const message = (topicKey: string, partition: number, value: string): MessageToProduce => ({
    topic: '',
    key: Buffer.from(topicKey),
    partition,
    value: Buffer.from(value),
  });
  for (let i = 0; i < CLICKS; i++) {
    const user = `u${Math.floor(r() * USERS)}`;
    const ts = BASE + i * 10 - Math.floor(r() * (DISORDER - 1));
    const partition = kafkaPartition(user, PARTITIONS);
    const roll = r();
    if (roll < 0.01)
      messages.push(message(user, partition, `{"user":"${user}","page":`)); // malformed
    else if (roll < 0.03) {
      const c: Click = { page: '/', ts };
      clicks.push(c);
      messages.push(message(user, partition, JSON.stringify(c))); // no user: filtered
    } else {
      const c: Click = { user, page: `/p${Math.floor(r() * 5)}`, ts };
      clicks.push(c);
      messages.push(message(user, partition, JSON.stringify(c)));
    }
  }
  const end = BASE + CLICKS * 10 + 10 * WINDOW;
  // One far-future click per partition: every partition's watermark passes the data.
  for (let p = 0; p < PARTITIONS; p++) {
    let k = 0;
    while (kafkaPartition(`flush-${k}`, PARTITIONS) !== p) k++;
    messages.push(message(`flush-${k}`, p, JSON.stringify({ user: `flush-${k}`, page: '/', ts: end })));
  }
  return { messages, clicks, end };
}

/** The batch computation: views per user and window, then per tier and window the users and views. */
function oracle(clicks: readonly Click[]): Map<string, string> {
  const views = new Map<string, number>();
  for (const c of clicks) {
    if (c.user === undefined) continue;
    const id = `${c.user}@${c.ts - (c.ts % WINDOW)}`;
    views.set(id, (views.get(id) ?? 0) + 1);
  }
  const tiers = new Map<string, { users: number; views: number }>();
  for (const [id, n] of views) {
    const start = id.slice(id.indexOf('@') + 1);
    const key = `${tierOf(n)}@${start}`;
    const t = tiers.get(key) ?? { users: 0, views: 0 };
    tiers.set(key, { users: t.users + 1, views: t.views + n });
  }
  return new Map([...tiers].map(([k, t]) => [k, `${t.users}/${t.views}`]));
}

/** Each window's result as written, failing on a window written twice. */
function counted(out: readonly TierCount[], end: number, label: string): Map<string, string> {
  const counts = new Map<string, string>();
  for (const v of out) {
    if (v.start >= end - (end % WINDOW) - WINDOW) continue; // the flush windows
    const id = `${v.tier}@${v.start}`;
    assert.ok(!counts.has(id), `${label}: window ${id} written twice`);
    counts.set(id, `${v.users}/${v.views}`);
  }
  return counts;
}

function sorted(m: Map<string, string>): [string, string][] {
  return [...m].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

async function readAll(brokers: string[], topic: string): Promise<TierCount[]> {
  const out: TierCount[] = [];
  await readToEnd({
    bootstrapBrokers: brokers,
    topic,
    clientId: 'eddy-test-tiers',
    onMessage: (m) => out.push(JSON.parse(m.value!.toString()) as TierCount),
  });
  return out;
}

describe('eddy run --kafka: a module with two keyed stages, embedded and as a Kafka application', {
  skip: kafka.skip,
}, () => {
  it('two instances (two stage applications each) give the batch result, as the embedded run does', {
    timeout: 600_000,
  }, async () => {
    const brokers = kafka.address!.split(',');
    const seed = Number(process.env['EDDY_SEED'] ?? Date.now() % 100_000);
    const id = randomUUID().slice(0, 8);
    const topics = {
      input: `eddy-tiers-in-${id}`,
      embedded: `eddy-tiers-embedded-${id}`,
      app: `eddy-tiers-app-${id}`,
    };
    const admin = new Admin({ clientId: 'eddy-test', bootstrapBrokers: brokers });
    try {
      await createTopics(admin, {
        [topics.input]: { partitions: PARTITIONS },
        [topics.embedded]: { partitions: PARTITIONS },
        [topics.app]: { partitions: PARTITIONS },
      });
    } finally {
      await admin.close();
    }
    const { messages, clicks, end } = input(seed);
    const want = oracle(clicks);
    const context = (log: string[]) => () =>
      `seed ${seed} (EDDY_SEED=${seed} replays it)\n${log.join('').slice(-3000)}`;
    const common = [
      'run',
      MODULE,
      '--brokers',
      brokers.join(','),
      '--input',
      topics.input,
      '--window',
      String(WINDOW),
      '--disorder',
      String(DISORDER),
      '--quiet',
    ];

    const count = async (topic: string) => counted(await readAll(brokers, topic), end, topic).size;
    // As a Kafka application of two instances, started before the input is produced.
    const logs: string[][] = [[], []];
    const app = `eddy-tiers-${id}`;
    const instances: ChildProcess[] = logs.map((l, i) =>
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
        l,
      ),
    );
    const all = () => logs.map((l, i) => `--- instance ${i}\n${l.join('').slice(-2000)}`).join('\n');
    // Each instance owns a partition of each stage before the input arrives, so both do work in both.
    const owns = (l: string[]) =>
      new RegExp(`application ${app}\\) runs partitions \\d`).test(l.join('')) &&
      new RegExp(`application ${app}-by-tier\\) runs partitions \\d`).test(l.join(''));
    await until('each of the two instances owns a partition of each stage', () => logs.every(owns), {
      timeoutMs: 180_000,
      context: all,
    }).catch((e: unknown) => {
      for (const child of instances) child.kill('SIGTERM');
      throw e;
    });
    const producer = new Producer({
      clientId: 'eddy-test',
      bootstrapBrokers: brokers,
      acks: ProduceAcks.ALL,
    });
    try {
      for (let i = 0; i < messages.length; i += 500)
        await producer.send({
          messages: messages.slice(i, i + 500).map((m) => ({ ...m, topic: topics.input })),
        });
    } finally {
      await producer.close();
    }
    await untilProgress('the Kafka application committed every window', () => count(topics.app), want.size, {
      everyMs: 1000,
      context: () => `seed ${seed}\n${all()}`,
    }).finally(() => {
      for (const child of instances) child.kill('SIGTERM');
    });
    const codes = await Promise.all(instances.map(exited));
    assert.deepEqual(codes, [0, 0], `every instance stops with a savepoint and exits 0\n${all()}`);
    for (const [i, l] of logs.entries())
      assert.match(
        l.join(''),
        /SIGTERM — each partition commits a savepoint/,
        `instance ${i} stopped with a savepoint`,
      );
    // Kafka's Java consumer decides what is committed: every window once, equal to the batch count.
    const committed = (await readCommittedJava(brokers.join(','), topics.app)).map(
      (r) => JSON.parse(r.value) as TierCount,
    );
    assert.deepEqual(sorted(counted(committed, end, 'kafka')), sorted(want), `seed ${seed}`);
    // Reset with the module: both stages' applications and the topic between them go.
    const stageTopic = `${app}-by-tier-stage`;
    const before = new Admin({ clientId: 'eddy-test', bootstrapBrokers: brokers });
    try {
      assert.ok((await before.listTopics()).includes(stageTopic));
      const withoutModule = await eddy([
        'kafka',
        'reset',
        '--app-id',
        app,
        '--brokers',
        brokers.join(','),
        '--dry-run',
      ]);
      assert.equal(withoutModule.code, 0, withoutModule.stderr);
      assert.match(withoutModule.stdout, new RegExp(`not touched: ${stageTopic}.*pass the pipeline module`));
      const reset = await eddy(['kafka', 'reset', '--app-id', app, '--brokers', brokers.join(','), MODULE]);
      assert.equal(reset.code, 0, reset.stderr);
      assert.match(
        reset.stdout,
        new RegExp(`stage ${app}-by-tier:\\n  internal topics deleted: .*${stageTopic}`),
      );
      await until('the stage topic is gone', async () => !(await before.listTopics()).includes(stageTopic));
    } finally {
      await before.close();
    }
    // Embedded, over the same input: the module as it is; Ctrl-C drains it once the output holds every window.
    const log: string[] = [];
    const embedded = startChild(
      BIN,
      [...common, '--output', topics.embedded, '--group', `eddy-tiers-embedded-${id}`],
      log,
    );
    try {
      await untilProgress('the embedded run wrote every window', () => count(topics.embedded), want.size, {
        everyMs: 1000,
        context: context(log),
      });
    } finally {
      embedded.kill('SIGINT');
    }
    assert.equal(await exited(embedded), 0, `the embedded run exits 0\n${context(log)()}`);
    assert.deepEqual(sorted(counted(await readAll(brokers, topics.embedded), end, 'embedded')), sorted(want));
  });
});
