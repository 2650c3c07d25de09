/**
 * NATS JetStream connectors: `natsSource` (a durable pull consumer,
 * acknowledged on checkpoint completion) and `natsSink` (publishes with
 * `Nats-Msg-Id` deduplication). Imported as their own entry so that a
 * pipeline without NATS does not load the client.
 *
 * @example
 * ```ts
 * import { natsSink, natsSource } from 'eddy/nats';
 * p.source('in', natsSource({ stream: 'ORDERS', consumer: 'stats' })).sink(natsSink({ stream: 'OUT', subject: 'out.orders' }));
 * ```
 */
export {
  NATS_SINK_OPTIONS,
  NATS_SOURCE_OPTIONS,
  type NatsSinkOptions,
  type NatsSourceOptions,
} from './options.ts';
export { type NatsSink, type NatsSinkStats, natsSink } from './sink.ts';
export { type NatsSource, type NatsSourceStats, natsSource } from './source.ts';
