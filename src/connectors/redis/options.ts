/**
 * The options of the Redis Streams source and sink, as schemas (one place
 * for each option's type, bounds, default and documentation).
 *
 * @example
 * ```ts
 * const o = resolveRedisSourceOptions({ stream: 'orders', group: 'stats' });
 * o.claimMinIdleMs; // 60000
 * ```
 */
import { configError } from '../../errors/index.ts';
import { type OptionsSchema, type Resolved, resolveOptions } from '../options.ts';
import { PAYLOAD_OPTIONS, type PayloadOptions } from '../payload.ts';

interface RedisCommonOptions {
  /** The server, `redis://[user:password@]host:port[/db]` (or `rediss://` for TLS). Default `redis://127.0.0.1:6379`. */
  readonly url?: string;
  /** The stream's key. */
  readonly stream: string;
  /** The field of an entry that holds the payload. Default `data`. */
  readonly field?: string;
  /** Create the stream when it does not exist; otherwise a missing stream is a configuration error. Default false. */
  readonly createStream?: boolean;
  /** How long connecting may take before the open fails, ms. Default 5,000. */
  readonly connectTimeoutMs?: number;
  /**
   * How long the server may be unreachable (a restart) before the source or
   * sink fails; meanwhile the client reconnects with backoff and queues
   * commands. Default 60,000.
   */
  readonly reconnectTimeoutMs?: number;
}

const COMMON = {
  url: {
    type: 'string',
    default: 'redis://127.0.0.1:6379',
    pattern: /^rediss?:\/\/[^\s/]+(\/\d+)?$/,
    rule: 'must be a redis:// or rediss:// URL',
    doc: 'the Redis server',
    example: '"redis://127.0.0.1:6379"',
  },
  stream: { type: 'string', required: true, doc: "the stream's key", example: '"orders"' },
  field: { type: 'string', default: 'data', doc: 'the entry field holding the payload', example: '"data"' },
  createStream: {
    type: 'boolean',
    default: false,
    doc: 'create the stream when it does not exist',
    example: 'true',
  },
  connectTimeoutMs: {
    type: 'integer',
    min: 100,
    default: 5000,
    doc: 'how long connecting may take, ms',
    example: '5000',
  },
  reconnectTimeoutMs: {
    type: 'integer',
    min: 0,
    default: 60_000,
    doc: 'how long the server may be unreachable before failing, ms',
    example: '60000',
  },
} as const satisfies OptionsSchema<RedisCommonOptions>;

export interface RedisSourceOptions<T> extends RedisCommonOptions, PayloadOptions<T> {
  /** The consumer group (created at `startId` if missing). */
  readonly group: string;
  /**
   * This reader's consumer name in the group; subtask k appends `-k`. Keep it
   * the same across restarts: a restarted reader first re-reads its own
   * pending entries. Default `eddy-<step id>`.
   */
  readonly consumer?: string;
  /** Where a group created here starts: `0` (the whole stream, default) or `$` (only new entries). */
  readonly startId?: string;
  /**
   * Pending entries of other consumers idle this long are claimed
   * (`XAUTOCLAIM`): those of a crashed reader whose name is not used again
   * (a lower parallelism, another host). Must exceed the checkpoint interval
   * plus a checkpoint's duration, or live readers' entries are stolen and
   * processed twice. Default 60,000.
   */
  readonly claimMinIdleMs?: number;
  /** How often to look for such entries, ms. Default 5,000. */
  readonly claimIntervalMs?: number;
  /**
   * The most entries read and not yet acknowledged; the source reads no more
   * until a checkpoint acknowledges some (Redis has no such bound itself):
   * eddy's backpressure. Default 10,000.
   */
  readonly maxPending?: number;
}

export const REDIS_SOURCE_OPTIONS = {
  ...COMMON,
  group: { type: 'string', required: true, doc: 'the consumer group', example: '"order-stats"' },
  consumer: {
    type: 'string',
    doc: "this reader's consumer name (subtask k appends -k); default eddy-<step id>",
    example: '"stats-host-a"',
  },
  startId: {
    type: 'string',
    default: '0',
    pattern: /^(0|\$|\d+(-\d+)?)$/,
    rule: 'must be 0, $ or an entry id',
    doc: 'where a group created here starts',
    example: '"0"',
  },
  claimMinIdleMs: {
    type: 'integer',
    min: 1,
    default: 60_000,
    doc: "claim other consumers' pending entries idle this long, ms",
    example: '60000',
  },
  claimIntervalMs: {
    type: 'integer',
    min: 10,
    default: 5000,
    doc: 'how often to look for entries to claim, ms',
    example: '5000',
  },
  maxPending: {
    type: 'integer',
    min: 1,
    default: 10_000,
    doc: 'entries read and not yet acknowledged at most (backpressure)',
    example: '10000',
  },
  ...PAYLOAD_OPTIONS,
} as const satisfies OptionsSchema<RedisSourceOptions<unknown>>;

export interface RedisSinkOptions<T> extends RedisCommonOptions {
  /**
   * The entry id of a record (`<ms>-<seq>`, increasing): a replayed record
   * whose id is already in the stream is skipped (idempotent). Default: none —
   * the server assigns `*` ids and a replay after a crash appends duplicates
   * (at-least-once).
   */
  readonly id?: (value: T) => string;
  /** Trim the stream to about this many entries (`MAXLEN ~`). Default: no trimming. */
  readonly maxLen?: number;
  /** Turns a record into the payload. Default `JSON.stringify`. */
  readonly serialize?: (value: T) => string | Uint8Array;
}

export const REDIS_SINK_OPTIONS = {
  ...COMMON,
  id: { type: 'function', doc: "the record's entry id (increasing)", example: '(o) => o.ts + "-" + o.seq' },
  maxLen: { type: 'integer', min: 1, doc: 'trim the stream to about this many entries', example: '1000000' },
  serialize: { type: 'function', doc: 'record to payload', example: '(v) => JSON.stringify(v)' },
} as const satisfies OptionsSchema<RedisSinkOptions<unknown>>;

export type ResolvedRedisSourceOptions<T> = Resolved<RedisSourceOptions<T>, typeof REDIS_SOURCE_OPTIONS>;
export type ResolvedRedisSinkOptions<T> = Resolved<RedisSinkOptions<T>, typeof REDIS_SINK_OPTIONS>;

/** Validates source options once (throws `EDDY_CONFIG_INVALID` naming the option). */
export function resolveRedisSourceOptions<T>(options: RedisSourceOptions<T>): ResolvedRedisSourceOptions<T> {
  return resolveOptions('redisSource', REDIS_SOURCE_OPTIONS, options);
}

/** Validates sink options once (throws `EDDY_CONFIG_INVALID` naming the option). */
export function resolveRedisSinkOptions<T>(options: RedisSinkOptions<T>): ResolvedRedisSinkOptions<T> {
  return resolveOptions('redisSink', REDIS_SINK_OPTIONS, options);
}

const ENTRY_ID = /^\d+-\d+$/;

/** A record's explicit entry id, checked (a function may return anything). */
export function checkedId<T>(id: (value: T) => string): (value: T) => string {
  return (value) => {
    const s = id(value);
    if (typeof s !== 'string' || !ENTRY_ID.test(s)) {
      throw configError(
        'redisSink id() must return an entry id <ms>-<seq>',
        s,
        'return e.g. "1700000000000-0"',
      );
    }
    return s;
  };
}
