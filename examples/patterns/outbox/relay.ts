/**
 * The transactional outbox relay: publishes the `outbox` table (service.ts)
 * to a Kafka topic, exactly once and in order per aggregate.
 *
 * - **Read**: `postgresSource` polls the outbox in `id` order (keyset
 *   pagination); a checkpoint keeps the last id read.
 * - **Write**: `kafkaTransactionalSink` produces each checkpoint's events in
 *   one Kafka transaction once the checkpoint is durable; after a crash the
 *   resumed relay produces exactly what is missing (the checkpoint holds the
 *   events, a commit marker says which checkpoint got in).
 * - **Order per aggregate**: the Kafka key is the aggregate id, so all of an
 *   aggregate's events go to one partition, in outbox order.
 *
 * Consumers read with `isolation.level=read_committed` and see each event
 * once; `eventId` (the outbox id) is there for consumers that are
 * themselves at-least-once (see `dedupe`). Rows are never deleted by the
 * relay: prune rows older than the latest checkpoint's position
 * (`DELETE FROM outbox WHERE created_at < now() - interval '7 days'`) on a
 * schedule of your own. Latency is one checkpoint interval plus a commit.
 *
 *   PG_URL=postgres://postgres@127.0.0.1:5432/shop KAFKA_BROKERS=127.0.0.1:9092 \
 *   OUTBOX_TOPIC=order-events node examples/patterns/outbox/relay.ts
 *
 * Stop it with Ctrl-C (SIGINT/SIGTERM): the last checkpoint commits, and the
 * next start goes on from there.
 */
import { kafkaTransactionalSink } from '../../../src/connectors/kafka/tx-sink.ts';
import { postgresSource } from '../../../src/connectors/postgres/index.ts';
import { Pipeline } from '../../../src/index.ts';
import type { OutboxEvent } from './service.ts';

export interface RelayOptions {
  readonly connectionString: string;
  readonly topic: string;
  readonly brokers?: readonly string[];
  /** Stable across restarts, one per relay. Default `outbox-relay-<topic>`. */
  readonly transactionalId?: string;
  /** `'bounded'`: relay what is in the outbox now, then end (a catch-up or a benchmark). Default `'unbounded'`. */
  readonly mode?: 'bounded' | 'unbounded';
  readonly pollIntervalMs?: number;
}

/** The relay pipeline: run it with checkpoints and `resumeFrom: 'latest'`. */
export function outboxRelay(o: RelayOptions): Pipeline {
  const p = new Pipeline({ name: 'outbox-relay', batchSize: 1000 });
  p.source(
    'outbox',
    postgresSource<OutboxEvent>({
      connectionString: o.connectionString,
      table: 'outbox',
      orderBy: ['id'],
      columns: ['id', 'aggregate_id', 'version', 'type', 'payload'],
      mode: o.mode ?? 'unbounded',
      pollIntervalMs: o.pollIntervalMs ?? 100,
      parse: (row) => ({
        eventId: Number(row['id']),
        aggregateId: row['aggregate_id'] as string,
        version: row['version'] as number,
        type: row['type'] as string,
        payload: row['payload'] as Record<string, unknown>,
      }),
    }),
  ).sink(
    kafkaTransactionalSink<OutboxEvent>({
      topic: o.topic,
      transactionalId: o.transactionalId ?? `outbox-relay-${o.topic}`,
      ...(o.brokers === undefined ? {} : { brokers: o.brokers }),
      key: (e) => e.aggregateId,
    }),
    'kafka',
  );
  return p;
}

if (import.meta.main) {
  const env = (name: string, fallback?: string): string => {
    const v = process.env[name] ?? fallback;
    if (v === undefined) throw new Error(`set ${name}`);
    return v;
  };
  const stop = new AbortController();
  process.once('SIGINT', () => stop.abort());
  process.once('SIGTERM', () => stop.abort());
  const started = Date.now();
  const relay = outboxRelay({
    connectionString: env('PG_URL'),
    topic: env('OUTBOX_TOPIC'),
    brokers: env('KAFKA_BROKERS', '127.0.0.1:9092').split(','),
    mode: env('OUTBOX_MODE', 'unbounded') as 'bounded' | 'unbounded',
  });
  const running = await relay.start({
    checkpoints: { dir: env('CHECKPOINTS', './checkpoints/outbox-relay'), intervalMs: 500 },
    resumeFrom: 'latest',
    signal: stop.signal,
  });
  const from = running.metrics().checkpoints?.restoredFrom;
  process.stderr.write(
    `outbox relay: running${from === undefined ? ', from the start of the outbox' : `, resumed from checkpoint ${from}`}\n`,
  );
  await running.done;
  const metrics = running.metrics();
  const relayed = metrics.steps['kafka']?.recordsIn ?? 0;
  process.stdout.write(`${JSON.stringify({ relayed, ms: Date.now() - started })}\n`);
}
