/**
 * CQRS / event-sourced projection: the order events of a Kafka topic (as the
 * outbox relay publishes them, key = order id) folded per order into a
 * read-model table in PostgreSQL.
 *
 * - **Fold**: `keyBy(aggregateId)` and one value of keyed state per order,
 *   the view so far. An event applies only when its `version` (its
 *   position in the aggregate's stream) is the next one: a copy (an
 *   at-least-once producer, a replay) is skipped — idempotent by event
 *   position — and a gap is dead-lettered rather than folded wrongly.
 * - **Write**: `postgresSink` in its exactly-once mode, upserting by
 *   `order_id`: each checkpoint's rows and the checkpoint id in one
 *   database transaction, so the table always shows a consistent cut of
 *   the topic, and a restore neither loses nor re-applies an update.
 * - **Rebuild**: the topic is the source of truth. Drop the table (or
 *   change the fold), create it again and run with a new `groupId` and no
 *   checkpoint: the projection reads from offset 0 and arrives at the same
 *   content (test/patterns/projection.test.ts does exactly that).
 *
 *   PG_URL=postgres://postgres@127.0.0.1:5432/shop KAFKA_BROKERS=127.0.0.1:9092 \
 *   EVENTS_TOPIC=order-events node examples/patterns/projection/projection.ts
 */
import type pg from 'pg';
import { kafkaSource } from '../../../src/connectors/kafka/index.ts';
import { postgresSink } from '../../../src/connectors/postgres/index.ts';
import { Pipeline, valueState } from '../../../src/index.ts';
import type { OutboxEvent } from '../outbox/service.ts';

/** One row of the read model. */
export interface OrderView {
  readonly order_id: string;
  readonly customer: string;
  readonly status: string;
  readonly total: number;
  /** The version of the last event applied: the projection's position in the order's stream. */
  readonly version: number;
}

export async function createViewTable(db: pg.ClientBase): Promise<void> {
  await db.query(`CREATE TABLE IF NOT EXISTS order_view (
    order_id text PRIMARY KEY, customer text NOT NULL, status text NOT NULL,
    total numeric NOT NULL, version int NOT NULL)`);
}

/** Applies one event to the view; undefined when it is not the next one (see the header). */
export function apply(view: OrderView | undefined, e: OutboxEvent): OrderView | undefined {
  const at = view?.version ?? 0;
  if (e.version !== at + 1) return undefined;
  if (e.type === 'OrderPlaced')
    return {
      order_id: e.aggregateId,
      customer: String(e.payload['customer']),
      status: 'placed',
      total: Number(e.payload['total']),
      version: e.version,
    };
  if (view === undefined) return undefined;
  return { ...view, status: String(e.payload['status'] ?? view.status), version: e.version };
}

export interface ProjectionOptions {
  readonly connectionString: string;
  readonly topic: string;
  /** A new group (with no checkpoint) reads the topic from offset 0: a rebuild. */
  readonly groupId: string;
  readonly brokers?: readonly string[];
  /** Static group membership: a restarted projection takes its partitions back at once. */
  readonly groupInstanceId?: string;
}

export function orderProjection(o: ProjectionOptions): Pipeline {
  const p = new Pipeline({ name: 'order-projection' });
  p.source(
    'events',
    kafkaSource<OutboxEvent>({
      topics: [o.topic],
      groupId: o.groupId,
      ...(o.brokers === undefined ? {} : { brokers: o.brokers }),
      ...(o.groupInstanceId === undefined ? {} : { groupInstanceId: o.groupInstanceId }),
    }),
  )
    .keyBy((e) => e.aggregateId)
    .withState({ view: valueState<OrderView>() })
    .process<OrderView>(
      {
        processElement(e, ctx) {
          const before = ctx.state.view.get();
          if (before !== undefined && e.version <= before.version) return; // a copy: already applied
          const after = apply(before, e);
          if (after === undefined)
            throw new Error(
              `order ${e.aggregateId}: event version ${e.version} after ${before?.version ?? 0}`,
            );
          ctx.state.view.set(after);
          ctx.emit(after);
        },
      },
      { name: 'fold' },
    )
    .sink(
      postgresSink<OrderView>({
        connectionString: o.connectionString,
        table: 'order_view',
        key: ['order_id'],
        sinkId: `order_view/${o.groupId}`,
      }),
      'read-model',
    );
  return p;
}

if (import.meta.main) {
  const stop = new AbortController();
  process.once('SIGINT', () => stop.abort());
  process.once('SIGTERM', () => stop.abort());
  const topic = process.env['EVENTS_TOPIC'] ?? 'order-events';
  await orderProjection({
    connectionString: process.env['PG_URL'] ?? 'postgres://postgres@127.0.0.1:5432/postgres',
    topic,
    groupId: process.env['GROUP_ID'] ?? `order-projection-${topic}`,
    brokers: (process.env['KAFKA_BROKERS'] ?? '127.0.0.1:9092').split(','),
    ...(process.env['GROUP_INSTANCE_ID'] === undefined
      ? {}
      : { groupInstanceId: process.env['GROUP_INSTANCE_ID'] }),
  }).run({
    checkpoints: { dir: process.env['CHECKPOINTS'] ?? './checkpoints/order-projection', intervalMs: 1000 },
    resumeFrom: 'latest',
    signal: stop.signal,
  });
}
