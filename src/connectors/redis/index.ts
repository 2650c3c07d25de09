/**
 * Redis Streams connectors: `redisSource` (a consumer group, `XACK` on
 * checkpoint completion, pending entries reclaimed after a crash) and
 * `redisSink` (`XADD`, idempotent with explicit ids). Imported as their own
 * entry so that a pipeline without Redis does not load the client.
 *
 * @example
 * ```ts
 * import { redisSink, redisSource } from 'eddy/redis';
 * p.source('in', redisSource({ stream: 'orders', group: 'stats' })).sink(redisSink({ stream: 'out' }));
 * ```
 */
export {
  REDIS_SINK_OPTIONS,
  REDIS_SOURCE_OPTIONS,
  type RedisSinkOptions,
  type RedisSourceOptions,
} from './options.ts';
export { type RedisSink, type RedisSinkStats, redisSink } from './sink.ts';
export { type RedisSource, type RedisSourceStats, redisSource } from './source.ts';
