/**
 * The options of the RabbitMQ source and sink, as schemas (one place for
 * each option's type, bounds, default and documentation), and the checks
 * that need more than a schema (the sink's destination).
 *
 * @example
 * ```ts
 * const o = resolveRabbitSourceOptions({ queue: 'orders' });
 * o.prefetch; // 1000
 * ```
 */
import { configError } from '../../errors/index.ts';
import { type OptionsSchema, type Resolved, resolveOptions } from '../options.ts';
import { PAYLOAD_OPTIONS, type PayloadOptions } from '../payload.ts';

/** How a queue is declared when eddy declares it (durable either way). */
export type QueueType = 'classic' | 'quorum';

interface RabbitCommonOptions {
  /** The broker, `amqp://user:password@host:port/vhost` (or `amqps://`). Default `amqp://guest:guest@127.0.0.1:5672`. */
  readonly url?: string;
  /**
   * Declare the queue, durable, as a classic or a quorum queue (replicated,
   * the choice for data that must survive a node) when it does not exist.
   * Absent: the queue must exist, else the open fails naming the fix. A queue
   * that exists with another type is refused by the broker (named too).
   */
  readonly declare?: QueueType;
  /** How long connecting may take before the open fails, ms. Default 5,000. */
  readonly connectTimeoutMs?: number;
  /**
   * How long the broker may be unreachable (a restart, a dropped connection)
   * before the source or sink fails; meanwhile it reconnects with backoff
   * (100 ms doubling to 5 s). Default 60,000.
   */
  readonly reconnectTimeoutMs?: number;
}

const QUEUE_TYPE = {
  type: 'any',
  check: (v: unknown) => v === 'classic' || v === 'quorum',
  doc: 'declare the queue (durable) as "classic" or "quorum" when missing; absent: it must exist',
  example: '"quorum"',
} as const;

const COMMON = {
  url: {
    type: 'string',
    default: 'amqp://guest:guest@127.0.0.1:5672',
    pattern: /^amqps?:\/\/[^\s]+$/,
    rule: 'must be an amqp:// or amqps:// URL',
    doc: 'the RabbitMQ broker',
    example: '"amqp://guest:guest@127.0.0.1:5672"',
  },
  declare: QUEUE_TYPE,
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
    doc: 'how long the broker may be unreachable before failing, ms',
    example: '60000',
  },
} as const satisfies OptionsSchema<RabbitCommonOptions>;

export interface RabbitSourceOptions<T> extends RabbitCommonOptions, PayloadOptions<T> {
  /** The queue consumed from. Every subtask, and every process, consuming it shares its messages. */
  readonly queue: string;
  /**
   * The most messages delivered and not yet acknowledged on this consumer
   * (`basic.qos`): the broker stops delivering at this many — eddy's
   * backpressure towards the broker. With checkpoints a message is
   * acknowledged when the checkpoint after it completes, so this is also the
   * most one checkpoint interval can read: size it above rate × interval, or
   * the source waits for each checkpoint. Default 1,000 (at most 65,535).
   */
  readonly prefetch?: number;
}

export const RABBIT_SOURCE_OPTIONS = {
  ...COMMON,
  queue: { type: 'string', required: true, doc: 'the queue consumed from', example: '"orders"' },
  prefetch: {
    type: 'integer',
    min: 1,
    max: 65_535,
    default: 1000,
    doc: 'messages delivered and not yet acknowledged at most (backpressure); above rate x checkpoint interval',
    example: '1000',
  },
  ...PAYLOAD_OPTIONS,
} as const satisfies OptionsSchema<RabbitSourceOptions<unknown>>;

export interface RabbitSinkOptions<T> extends RabbitCommonOptions {
  /** Publish to this queue through the default exchange (checked, or declared with `declare`). */
  readonly queue?: string;
  /** Publish to this exchange (it must exist) with `routingKey`. */
  readonly exchange?: string;
  /** The routing key: one, or one per record. Default: `queue`. */
  readonly routingKey?: string | ((value: T) => string);
  /**
   * Publishes sent and not yet confirmed by the broker at most; the pipeline
   * waits beyond it (backpressure). Default 1,000.
   */
  readonly maxInFlight?: number;
  /** Mark messages persistent (delivery mode 2): a durable queue keeps them across a broker restart. Default true. */
  readonly persistent?: boolean;
  /** The message's `messageId` property, from the record's own identity, for consumers that deduplicate (eddy's source does). */
  readonly messageId?: (value: T) => string;
  /** Turns a record into the payload. Default `JSON.stringify`. */
  readonly serialize?: (value: T) => string | Uint8Array;
  /**
   * The broker's `max_message_size`: a larger record is dead-lettered with
   * the reason instead of published (the broker would close the channel,
   * and the sink publish it again on reconnecting). AMQP does not tell a
   * client the limit. Default 134,217,728 (RabbitMQ's default, 128 MiB).
   */
  readonly maxMessageBytes?: number;
}

export const RABBIT_SINK_OPTIONS = {
  ...COMMON,
  queue: {
    type: 'string',
    doc: 'publish to this queue through the default exchange',
    example: '"orders-enriched"',
  },
  exchange: { type: 'string', doc: 'publish to this exchange (must exist)', example: '"events"' },
  routingKey: {
    type: 'any',
    check: (v) => typeof v === 'function' || (typeof v === 'string' && v.length <= 255),
    doc: 'the routing key (at most 255 bytes), or a function of the record; default the queue',
    example: '"orders.eu"',
  },
  maxInFlight: {
    type: 'integer',
    min: 1,
    max: 1_000_000,
    default: 1000,
    doc: 'publishes awaiting their confirm at most (backpressure)',
    example: '1000',
  },
  persistent: {
    type: 'boolean',
    default: true,
    doc: 'persistent messages (delivery mode 2)',
    example: 'true',
  },
  messageId: {
    type: 'function',
    doc: "the message's messageId from the record's identity",
    example: '(o) => o.id',
  },
  serialize: { type: 'function', doc: 'record to payload', example: '(v) => JSON.stringify(v)' },
  maxMessageBytes: {
    type: 'integer',
    min: 1,
    max: 536_870_912,
    default: 134_217_728,
    doc: "the broker's max_message_size; larger records are dead-lettered",
    example: '134217728',
  },
} as const satisfies OptionsSchema<RabbitSinkOptions<unknown>>;

export type ResolvedRabbitSourceOptions<T> = Resolved<RabbitSourceOptions<T>, typeof RABBIT_SOURCE_OPTIONS>;
export type ResolvedRabbitSinkOptions<T> = Resolved<RabbitSinkOptions<T>, typeof RABBIT_SINK_OPTIONS>;

/** Validates source options once (throws `EDDY_CONFIG_INVALID` naming the option). */
export function resolveRabbitSourceOptions<T>(
  options: RabbitSourceOptions<T>,
): ResolvedRabbitSourceOptions<T> {
  return resolveOptions('rabbitmqSource', RABBIT_SOURCE_OPTIONS, options);
}

/** Validates sink options once (throws `EDDY_CONFIG_INVALID` naming the option). */
export function resolveRabbitSinkOptions<T>(options: RabbitSinkOptions<T>): ResolvedRabbitSinkOptions<T> {
  const o = resolveOptions('rabbitmqSink', RABBIT_SINK_OPTIONS, options);
  if (o.queue === undefined && o.exchange === undefined) {
    throw configError(
      'rabbitmqSink needs a destination: queue or exchange',
      options,
      'pass { queue: "out" } or { exchange: "events", routingKey: "orders" }',
    );
  }
  if (o.queue !== undefined && o.exchange !== undefined) {
    throw configError(
      'rabbitmqSink takes queue or exchange, not both',
      { queue: o.queue, exchange: o.exchange },
      'pass { queue } to publish to one queue, or { exchange, routingKey } and bind queues to the exchange',
    );
  }
  if (o.exchange !== undefined && o.routingKey === undefined) {
    throw configError(
      'rabbitmqSink with an exchange needs routingKey',
      o.exchange,
      'pass { exchange, routingKey: "orders" } (or a function of the record)',
    );
  }
  if (o.declare !== undefined && o.queue === undefined) {
    throw configError(
      'rabbitmqSink declare applies to a queue, and no queue is given',
      o.declare,
      'pass { queue, declare } or drop declare (exchanges must exist)',
    );
  }
  return o;
}

/** The routing key of a record, checked (a function may return anything). */
export function routingKeyOf<T>(o: ResolvedRabbitSinkOptions<T>): (value: T) => string {
  const key = o.routingKey ?? o.queue!;
  if (typeof key === 'string') return () => key;
  return (value) => {
    const k = key(value);
    if (typeof k !== 'string' || Buffer.byteLength(k) > 255) {
      throw configError(
        'rabbitmqSink routingKey() must return a string of at most 255 bytes',
        k,
        'return e.g. "orders.eu"',
      );
    }
    return k;
  };
}

/** The URL with any password hidden, for messages. */
export const safeUrl = (url: string) => url.replace(/\/\/([^@/]*):[^@/]*@/, '//$1:***@');
