/**
 * The transactional outbox (examples/patterns/outbox) against the real
 * PostgreSQL and Kafka: four concurrent service writers change orders and
 * append their events to the outbox, while the relay example runs and is
 * SIGKILLed again and again, each time resumed from its latest checkpoint;
 * then Kafka's own Java read_committed consumer must see every event
 * exactly once, each aggregate's events in version order in one partition.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Admin } from '@platformatic/kafka';
import pg from 'pg';
import {
  changeStatus,
  createOutboxSchema,
  type OutboxEvent,
  placeOrder,
} from '../../examples/patterns/outbox/service.ts';
import { readToEnd } from '../../src/connectors/kafka/read-to-end.ts';
import { Random } from '../../src/util/random.ts';
import { postgresSkip, type ScratchDb, scratchDb } from '../connectors/postgres/helpers.ts';
import {
  createTopics,
  exited,
  kafkaReady,
  readCommittedJava,
  sleep,
  untilProgress,
} from '../kafka/helpers.ts';

const kafka = await kafkaReady();
const pgSkip = await postgresSkip();
const skip = kafka.skip || pgSkip;
const BROKERS = kafka.address ?? '127.0.0.1:9092';
const RELAY = new URL('../../examples/patterns/outbox/relay.ts', import.meta.url).pathname;
const RUN = `h8-outbox-${process.pid}-${randomUUID().slice(0, 8)}`;
const STATUSES = ['paid', 'packed', 'shipped', 'delivered', 'returned', 'refunded'];

function relay(env: Record<string, string>, log: string[]): ChildProcess {
  const child = spawn(process.execPath, [RELAY], {
    env: { ...process.env, KAFKA_BROKERS: BROKERS, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout!.setEncoding('utf8');
  child.stderr!.setEncoding('utf8');
  child.stdout!.on('data', (s: string) => log.push(s));
  child.stderr!.on('data', (s: string) => log.push(s));
  return child;
}

async function count(topic: string): Promise<number> {
  let n = 0;
  await readToEnd({
    bootstrapBrokers: BROKERS.split(','),
    topic,
    clientId: 'h8-outbox-count',
    onMessage: () => n++,
  });
  return n;
}

describe('transactional outbox relay', { skip, timeout: 900_000 }, () => {
  let db: ScratchDb;
  let admin: Admin;
  const topics: string[] = [];
  before(async () => {
    db = await scratchDb('outbox');
    admin = new Admin({ clientId: 'h8-outbox', bootstrapBrokers: BROKERS.split(',') });
  });
  after(async () => {
    if (topics.length > 0) await admin.deleteTopics({ topics }).catch(() => {});
    await admin.deleteGroups({ groups: topics.map((t) => `eddy-sink-outbox-relay-${t}`) }).catch(() => {});
    await admin.close();
    await db?.drop();
  });

  it('SIGKILLed mid-stream while services write: every event once, in order per aggregate (Java read_committed)', async (t) => {
    const topic = `${RUN}-events`;
    await createTopics(admin, { [topic]: { partitions: 4 } });
    topics.push(topic);
    const setup = new pg.Client({ connectionString: db.url });
    await setup.connect();
    await createOutboxSchema(setup);
    await setup.end();
    const seed = Number(process.env['CRASH_TEST_SEED'] ?? Date.now() % 100_000);
    t.diagnostic(`CRASH_TEST_SEED=${seed}`);
    const random = new Random(seed);
    const AGGREGATES = 400;
    const CHANGES = 9;
    const TOTAL = AGGREGATES * (1 + CHANGES);

    // Four service instances, each writing its own orders' events in a random interleaving.
    const writers = [0, 1, 2, 3].map(async (w) => {
      const c = new pg.Client({ connectionString: db.url });
      await c.connect();
      try {
        const mine = Array.from({ length: AGGREGATES / 4 }, (_, i) => ({
          id: `order-${i * 4 + w}`,
          done: 0,
        }));
        const r = new Random(seed * 7 + w);
        let open = mine.slice();
        while (open.length > 0) {
          const a = open[r.int(open.length)]!;
          if (a.done === 0)
            await placeOrder(c, { orderId: a.id, customer: `c${r.int(50)}`, total: 1 + r.int(500) });
          else await changeStatus(c, a.id, STATUSES[r.int(STATUSES.length)]!);
          a.done++;
          if (a.done > CHANGES) open = open.filter((x) => x !== a);
          // Pacing only (not an assertion): spreads the writes over the relay's kills.
          if (r.int(4) === 0) await sleep(1);
        }
      } finally {
        await c.end();
      }
    });

    const dir = mkdtempSync(join(tmpdir(), 'h8-outbox-'));
    const log: string[] = [];
    const env = { PG_URL: db.url, OUTBOX_TOPIC: topic, CHECKPOINTS: join(dir, 'checkpoints') };
    try {
      let kills = 0;
      for (; kills < 4; kills++) {
        const child = relay(env, log);
        await sleep(1500 + random.int(2500));
        child.kill('SIGKILL');
        await exited(child);
      }
      await Promise.all(writers);
      // The killed relays have exited: whatever the log gets from here on is the last one's.
      const lastFrom = log.length;
      const last = relay(env, log);
      const caughtUpAt = Date.now();
      await untilProgress('the relay has published every event', () => count(topic), TOTAL, {
        context: () => log.join('').slice(-3000),
      });
      t.diagnostic(`catch-up after the last kill: ${Date.now() - caughtUpAt} ms`);
      // The earlier relays may have published everything already: stop the last one only once it runs
      // (a SIGTERM while it still loads ends it by the signal's default action, exit code null).
      await untilProgress(
        'the last relay runs',
        () => (log.slice(lastFrom).join('').includes('outbox relay: running') ? 1 : 0),
        1,
        {
          context: () => log.join('').slice(-3000),
        },
      );
      last.kill('SIGTERM');
      assert.equal(await exited(last), 0, log.join('').slice(-3000));

      const records = await readCommittedJava(BROKERS, topic);
      const seen = new Map<number, number>();
      const byAggregate = new Map<string, { versions: number[]; partitions: Set<number> }>();
      for (const r of records) {
        const e = JSON.parse(r.value) as OutboxEvent;
        seen.set(e.eventId, (seen.get(e.eventId) ?? 0) + 1);
        const a = byAggregate.get(e.aggregateId) ?? { versions: [], partitions: new Set<number>() };
        a.versions.push(e.version);
        a.partitions.add(r.partition);
        byAggregate.set(e.aggregateId, a);
      }
      const ids = await db.query<{ id: string }>('SELECT id FROM outbox ORDER BY id');
      let lost = 0;
      let doubled = 0;
      for (const { id } of ids) {
        const n = seen.get(Number(id)) ?? 0;
        if (n === 0) lost++;
        if (n > 1) doubled += n - 1;
      }
      let disordered = 0;
      for (const a of byAggregate.values()) {
        if (a.partitions.size !== 1) disordered++;
        else if (a.versions.some((v, i) => v !== i + 1)) disordered++;
      }
      t.diagnostic(
        `outbox kill test: ${kills} kills; in ${ids.length}, out ${records.length}, lost ${lost}, doubled ${doubled}, aggregates out of order ${disordered}`,
      );
      assert.equal(ids.length, TOTAL);
      assert.equal(lost, 0);
      assert.equal(doubled, 0);
      assert.equal(records.length, TOTAL);
      assert.equal(byAggregate.size, AGGREGATES);
      assert.equal(disordered, 0, 'each aggregate in one partition, versions 1, 2, 3, ...');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('throughput: a bounded relay of 50,000 outbox rows', async (t) => {
    const topic = `${RUN}-rate`;
    await createTopics(admin, { [topic]: { partitions: 4 } });
    topics.push(topic);
    await db.query('TRUNCATE outbox');
    const N = 50_000;
    await db.query(
      `INSERT INTO outbox (aggregate_id, version, type, payload)
       SELECT 'order-' || (g % 1000), g / 1000 + 1, 'OrderStatusChanged', '{"status":"paid"}'::jsonb FROM generate_series(0, $1 - 1) g`,
      [N],
    );
    const dir = mkdtempSync(join(tmpdir(), 'h8-outbox-rate-'));
    const log: string[] = [];
    try {
      const child = relay(
        { PG_URL: db.url, OUTBOX_TOPIC: topic, OUTBOX_MODE: 'bounded', CHECKPOINTS: dir },
        log,
      );
      assert.equal(await exited(child), 0, log.join(''));
      const { relayed, ms } = JSON.parse(log.join('').trim().split('\n').at(-1)!) as {
        relayed: number;
        ms: number;
      };
      assert.equal(relayed, N);
      assert.equal(await count(topic), N);
      t.diagnostic(`outbox throughput: ${N} events in ${ms} ms = ${Math.round((N / ms) * 1000)} events/s`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
