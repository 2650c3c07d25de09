/**
 * RabbitMQ connectors: `rabbitmqSource` (a consumer with prefetch as
 * backpressure, acknowledged on checkpoint completion; classic and quorum
 * queues) and `rabbitmqSink` (publisher confirms, at-least-once). Imported
 * as their own entry so that a pipeline without RabbitMQ does not load the
 * client.
 *
 * @example
 * ```ts
 * import { rabbitmqSink, rabbitmqSource } from 'eddy/rabbitmq';
 * p.source('in', rabbitmqSource({ queue: 'orders', declare: 'quorum' })).sink(rabbitmqSink({ queue: 'out', declare: 'quorum' }));
 * ```
 */
export {
  type QueueType,
  RABBIT_SINK_OPTIONS,
  RABBIT_SOURCE_OPTIONS,
  type RabbitSinkOptions,
  type RabbitSourceOptions,
} from './options.ts';
export { type RabbitSink, type RabbitSinkStats, rabbitmqSink } from './sink.ts';
export { type RabbitSource, type RabbitSourceStats, rabbitmqSource } from './source.ts';
