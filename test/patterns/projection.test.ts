/**
 * The CQRS projection example (examples/patterns/projection) against the
 * real Kafka and PostgreSQL: order events — with copies, as an
 * at-least-once producer leaves them — folded into the read-model table by
 * the exactly-once PostgreSQL sink equal a batch fold of the events; then
 * the table is dropped and rebuilt from offset 0 of the topic (a new group,
 * no checkpoint) to the same content.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Admin, ProduceAcks, Producer } from '@platformatic/kafka';
import pg from 'pg';
import type { OutboxEvent } from '../../examples/patterns/outbox/service.ts';
import {
  apply,
  createViewTable,
  type OrderView,
  orderProjection,
} from '../../examples/patterns/projection/projection.ts';
import { Random } from '../../src/util/random.ts';
import { postgresSkip, type ScratchDb, scratchDb, waitUntil } from '../connectors/postgres/helpers.ts';
import { createTopics, exited, kafkaReady, sleep } from '../kafka/helpers.ts';

const kafka = await kafkaReady();
const pgSkip = await postgresSkip();
const skip = kafka.skip || pgSkip;
const BROKERS = kafka.address ?? '127.0.0.1:9092';
const RUN = `h8-proj-${process.pid}-${randomUUID().slice(0, 8)}`;
const PROJECTION = new URL('../../examples/patterns/projection/projection.ts', import.meta.url).pathname;
const STATUSES = ['paid', 'packed', 'shipped', 'delivered', 'returned'];

/** `orders` orders' events in a seeded random interleaving, and the same with an at-least-once producer's copies. */
function orderEvents(seed: number, orders: number): { events: OutboxEvent[]; produced: OutboxEvent[] } {
  const random = new Random(seed);
  const events: OutboxEvent[] = [];
  const versions = new Map<string, number>();
  let id = 0;
  for (let i = 0; i < orders * 8; i++) {
    const order = `order-${random.int(orders)}`;
    const v = (versions.get(order) ?? 0) + 1;
    versions.set(order, v);
    events.push(
      v === 1
        ? {
            eventId: ++id,
            aggregateId: order,
            version: 1,
            type: 'OrderPlaced',
            payload: { customer: `c${random.int(40)}`, total: 1 + random.int(900) },
          }
        : {
            eventId: ++id,
            aggregateId: order,
            version: v,
            type: 'OrderStatusChanged',
            payload: { status: STATUSES[random.int(STATUSES.length)] },
          },
    );
  }
  // An at-least-once producer's copies: some events appear again right after themselves.
  const produced: OutboxEvent[] = [];
  for (const e of events) {
    produced.push(e);
    if (random.int(10) === 0) produced.push(e);
  }
  return { events, produced };
}

describe('CQRS projection into PostgreSQL', { skip, timeout: 600_000 }, () => {
  let db: ScratchDb;
  let admin: Admin;
  const topic = `${RUN}-events`;
  const groups: string[] = [];
  before(async () => {
    db = await scratchDb('proj');
    admin = new Admin({ clientId: 'h8-proj', bootstrapBrokers: BROKERS.split(',') });
  });
  after(async () => {
    await admin.deleteTopics({ topics: [topic] }).catch(() => {});
    await admin.deleteGroups({ groups }).catch(() => {});
    await admin.close();
    await db?.drop();
  });

  /** Runs the projection until the table holds `expected`, then stops it (its last checkpoint commits). */
  async function project(groupId: string, expectedRows: number, versionSum: number): Promise<number> {
    groups.push(groupId);
    const dir = mkdtempSync(join(tmpdir(), 'h8-proj-'));
    const stop = new AbortController();
    const started = Date.now();
    try {
      const run = orderProjection({
        connectionString: db.url,
        topic,
        groupId,
        brokers: BROKERS.split(','),
      }).run({
        checkpoints: { dir, intervalMs: 200 },
        signal: stop.signal,
      });
      let failed: unknown;
      run.catch((e: unknown) => {
        failed = e;
      });
      await waitUntil(
        async () => {
          if (failed !== undefined) throw failed;
          const r = await db.query<{ n: string; s: string | null }>(
            'SELECT count(*) AS n, sum(version) AS s FROM order_view',
          );
          return Number(r[0]!.n) === expectedRows && Number(r[0]!.s) === versionSum;
        },
        'the read model to catch up',
        240_000,
      );
      const ms = Date.now() - started;
      stop.abort();
      await run;
      return ms;
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }

  it('folds events (with copies) into the read model exactly once; dropped and rebuilt from offset 0 to the same content', async (t) => {
    await createTopics(admin, { [topic]: { partitions: 4 } });
    const { events, produced } = orderEvents(16, 500);
    const producer = new Producer({
      clientId: 'h8-proj',
      bootstrapBrokers: BROKERS.split(','),
      idempotent: true,
      acks: ProduceAcks.ALL,
    });
    try {
      for (let i = 0; i < produced.length; i += 1000)
        await producer.send({
          messages: produced.slice(i, i + 1000).map((e) => ({
            topic,
            key: Buffer.from(e.aggregateId),
            value: Buffer.from(JSON.stringify(e)),
          })),
        });
    } finally {
      await producer.close();
    }
    // The batch fold.
    const expected = new Map<string, OrderView>();
    for (const e of events) expected.set(e.aggregateId, apply(expected.get(e.aggregateId), e)!);
    const versionSum = [...expected.values()].reduce((s, v) => s + v.version, 0);

    const setup = new pg.Client({ connectionString: db.url });
    await setup.connect();
    const table = async () =>
      (
        await setup.query<OrderView>(
          'SELECT order_id, customer, status, total::float8 AS total, version FROM order_view ORDER BY order_id',
        )
      ).rows;
    try {
      await createViewTable(setup);
      const ms = await project(`${RUN}-g1`, expected.size, versionSum);
      t.diagnostic(
        `projection throughput: ${produced.length} events (with ${produced.length - events.length} copies) in ${ms} ms = ${Math.round((produced.length / ms) * 1000)} events/s (incl. start and group join)`,
      );
      const first = await table();
      assert.deepEqual(
        first,
        [...expected.values()].sort((a, b) => (a.order_id < b.order_id ? -1 : 1)),
      );
      // Rebuild: drop the read model, read the topic again from offset 0.
      await setup.query('DROP TABLE order_view');
      await createViewTable(setup);
      await project(`${RUN}-g2`, expected.size, versionSum);
      assert.deepEqual(await table(), first, 'rebuilt to the same content');
    } finally {
      await setup.end();
    }
  });
  it('SIGKILLed mid-stream while the events arrive, and resumed each time: the read model equals the batch fold', async (t) => {
    const killTopic = `${RUN}-kill`;
    await createTopics(admin, { [killTopic]: { partitions: 4 } });
    const seed = Number(process.env['CRASH_TEST_SEED'] ?? Date.now() % 100_000);
    t.diagnostic(`CRASH_TEST_SEED=${seed}`);
    const random = new Random(seed);
    const { events, produced } = orderEvents(seed, 300);
    const expected = new Map<string, OrderView>();
    for (const e of events) expected.set(e.aggregateId, apply(expected.get(e.aggregateId), e)!);
    const killDb = await scratchDb('projkill');
    const setup = new pg.Client({ connectionString: killDb.url });
    await setup.connect();
    await createViewTable(setup);
    const dir = mkdtempSync(join(tmpdir(), 'h8-proj-kill-'));
    const groupId = `${RUN}-kill`;
    groups.push(groupId);
    const env = {
      ...process.env,
      PG_URL: killDb.url,
      EVENTS_TOPIC: killTopic,
      GROUP_ID: groupId,
      // Static membership: each restart takes the partitions back without waiting out the killed session.
      GROUP_INSTANCE_ID: 'projection-1',
      CHECKPOINTS: join(dir, 'checkpoints'),
      KAFKA_BROKERS: BROKERS,
    };
    const log: string[] = [];
    const start = () => {
      const child = spawn(process.execPath, [PROJECTION], { env, stdio: ['ignore', 'pipe', 'pipe'] });
      child.stdout!.on('data', (d) => log.push(String(d)));
      child.stderr!.on('data', (d) => log.push(String(d)));
      return child;
    };
    const producer = new Producer({
      clientId: 'h8-proj-kill',
      bootstrapBrokers: BROKERS.split(','),
      idempotent: true,
      acks: ProduceAcks.ALL,
    });
    try {
      // Four shares of the events, each produced while a projection runs and is then SIGKILLed.
      const share = Math.ceil(produced.length / 4);
      let kills = 0;
      for (let i = 0; i < produced.length; i += share) {
        const child = start();
        await producer.send({
          messages: produced.slice(i, i + share).map((e) => ({
            topic: killTopic,
            key: Buffer.from(e.aggregateId),
            value: Buffer.from(JSON.stringify(e)),
          })),
        });
        // Pacing only (not an assertion): how much each run gets done before it is killed.
        await sleep(800 + random.int(2000));
        child.kill('SIGKILL');
        await exited(child);
        kills++;
      }
      const last = start();
      try {
        const versionSum = [...expected.values()].reduce((n, v) => n + v.version, 0);
        await waitUntil(
          async () => {
            const r = await killDb.query<{ n: string; s: string | null }>(
              'SELECT count(*) AS n, sum(version) AS s FROM order_view',
            );
            return Number(r[0]!.n) === expected.size && Number(r[0]!.s) === versionSum;
          },
          `the read model to catch up (log: ${log.join('').slice(-2000)})`,
          240_000,
        );
      } finally {
        last.kill('SIGKILL');
        await exited(last);
      }
      const rows = (
        await setup.query<OrderView>(
          'SELECT order_id, customer, status, total::float8 AS total, version FROM order_view ORDER BY order_id',
        )
      ).rows;
      t.diagnostic(`projection kill test: ${kills} kills, ${produced.length} events, ${rows.length} rows`);
      assert.deepEqual(
        rows,
        [...expected.values()].sort((a, b) => (a.order_id < b.order_id ? -1 : 1)),
      );
    } finally {
      await producer.close();
      await setup.end();
      await killDb.drop();
      await admin.deleteTopics({ topics: [killTopic] }).catch(() => {});
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
