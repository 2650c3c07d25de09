/**
 * The Kafka connectors' options as data (STYLE.md: options are a schema;
 * issue 13): every option of `kafkaSource` and `kafkaSink` declared once,
 * with its type, bounds, default and one line of documentation, and checked
 * once by `resolveOptions` (`../options.ts`) when the connector is made —
 * unknown names refused, so a typo is an error rather than a silent default.
 * The Kafka application's source and sink (`app.source`, `app.sink`) and its
 * own `reconnectTimeoutMs` take the entries they share from here
 * (`deploy/kafka/options.ts`), so each default lives in one place.
 *
 * @example
 * ```ts
 * console.log(describeOptions(KAFKA_SOURCE_OPTIONS).join('\n')); // bufferSize (integer, default 10000): …
 * ```
 */
import type { DecodeLimits } from '../../codec/index.ts';
import type { OptionsSchema } from '../options.ts';
import type { AvroFormat, KafkaFormat } from './formats.ts';
import type { CreateTopicOptions } from './topics.ts';

/** Kafka's own rule for topic names. */
const TOPIC = /^[A-Za-z0-9._-]{1,249}$/;
const TOPIC_RULE = 'must be a topic name: 1-249 letters, digits, ".", "_" or "-"';

const isFormat = (v: unknown) =>
  v === 'json' ||
  v === 'string' ||
  v === 'bytes' ||
  (typeof v === 'object' && v !== null && typeof (v as { decode?: unknown }).decode === 'function');

const isObject = (v: unknown) => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Options of {@link kafkaSource}; each one's default and bounds are in `KAFKA_SOURCE_OPTIONS`.
 *
 * @example
 * ```ts
 * const options: KafkaSourceOptions<Order> = { topics: ['orders'], groupId: 'order-stats', bufferSize: 5000 };
 * ```
 */
export interface KafkaSourceOptions<T> {
  readonly topics: readonly string[];
  /** The consumer group: every process with the same group shares the partitions. */
  readonly groupId: string;
  /**
   * Static membership (Kafka's `group.instance.id`): a name that stays the
   * same across this process's restarts (a pod or host name). A process that
   * restarts under it takes its partitions back at once, without a rebalance
   * and without waiting for its old session to expire. Each subtask adds
   * `-<subtask>`. Default none (dynamic membership).
   */
  readonly groupInstanceId?: string;
  readonly brokers?: readonly string[];
  /** How values are decoded: JSON (default), a UTF-8 string, the raw bytes, or a format such as `avroFormat(…)`. */
  readonly format?: 'json' | 'string' | 'bytes' | KafkaFormat;
  /** Checks and converts a decoded value; throw to dead-letter the record with your message. */
  readonly parse?: (value: unknown) => T;
  readonly limits?: Partial<DecodeLimits>;
  /** Fetched records eddy holds before it pauses the fetch. Default 10,000. */
  readonly bufferSize?: number;
  /**
   * Undecodable records (and those `parse` rejects) are also produced to this topic, with their key,
   * value and headers unchanged and `eddy.error.*` / `eddy.source.*` headers (dead-letters.ts).
   */
  readonly deadLetterTopic?: string;
  /**
   * How long the brokers may be unreachable (a restart, a network partition) before the source
   * fails. Meanwhile it keeps handing out what it has fetched and reconnects with backoff. Default
   * 60,000 ms.
   */
  readonly reconnectTimeoutMs?: number;
}

/**
 * `kafkaSource`'s options, one entry each: the app source shares `bufferSize`,
 * `topics`, `format`, …, and `kafkaApp` its `reconnectTimeoutMs` default.
 *
 * @example
 * ```ts
 * KAFKA_SOURCE_OPTIONS.bufferSize.default; // 10000
 * ```
 */
export const KAFKA_SOURCE_OPTIONS = {
  topics: {
    type: 'strings',
    required: true,
    needs: 'topics',
    doc: 'the topics read',
    example: '["orders"]',
  },
  groupId: {
    type: 'string',
    required: true,
    needs: 'a groupId',
    doc: 'the consumer group: every process with the same group shares the partitions',
    example: '"my-app"',
  },
  groupInstanceId: {
    type: 'string',
    pattern: /^[A-Za-z0-9._-]{1,200}$/,
    rule: 'must be 1-200 letters, digits, ".", "_" or "-": a name stable across restarts, such as the pod name (or leave it out)',
    doc: 'static membership (group.instance.id): a restarted process takes its partitions back without a rebalance; each subtask adds -<subtask>',
    example: '"pod-7"',
  },
  brokers: {
    type: 'strings',
    pattern: /^[^\s:]+:\d+$/,
    rule: 'must be host:port',
    doc: 'host:port of the brokers (default: KAFKA_BROKERS, else 127.0.0.1:9092)',
    example: '["127.0.0.1:9092"]',
  },
  format: {
    type: 'any',
    check: isFormat,
    default: 'json',
    doc: 'how values are decoded: "json" (safe codec), "string", "bytes" or a KafkaFormat such as avroFormat(…)',
    example: '"json"',
  },
  parse: {
    type: 'function',
    doc: 'checks and converts a decoded value; throw to dead-letter the record with your message',
    example: '(v) => order(v)',
  },
  limits: {
    type: 'any',
    check: isObject,
    doc: 'decode limits of the json and string formats (maxBytes, maxDepth)',
    example: '{ maxBytes: 65536 }',
  },
  bufferSize: {
    type: 'integer',
    min: 1,
    max: 10_000_000,
    default: 10_000,
    doc: 'fetched records held before the fetch pauses (backpressure to the brokers)',
    example: '10000',
  },
  deadLetterTopic: {
    type: 'string',
    pattern: TOPIC,
    rule: TOPIC_RULE,
    doc: 'undecodable records (and those parse rejects) are also produced here, unchanged, with the reason in eddy.* headers',
    example: '"orders-dlq"',
  },
  reconnectTimeoutMs: {
    type: 'integer',
    min: 0,
    default: 60_000,
    doc: 'how long (ms) the brokers may be unreachable before the source fails; meanwhile it reconnects with backoff',
    example: '60000',
  },
} as const satisfies OptionsSchema<KafkaSourceOptions<unknown>>;

/**
 * Options of {@link kafkaSink}; each one's default and bounds are in `KAFKA_SINK_OPTIONS`.
 *
 * @example
 * ```ts
 * const options: KafkaSinkOptions<Total> = { topic: 'order-totals', key: (t) => t.customer };
 * ```
 */
export interface KafkaSinkOptions<T> {
  readonly topic: string;
  readonly brokers?: readonly string[];
  /** The record's key (partitioning); default none. */
  readonly key?: (value: T) => string;
  /** Turns a record into the value written (as JSON, or as Avro with `avro`); default the record itself. */
  readonly format?: (value: T) => unknown;
  /**
   * Write values as Avro in the schema registry's wire format (magic byte,
   * schema id, body) instead of JSON: `format` (an `avroFormat`, with the
   * schema static or from its registry) and the `schemaId` to write with.
   * The schema is fetched when the sink opens (a missing one fails it,
   * naming the id); a record that does not fit the schema is dead-lettered
   * with avsc's reason, not sent.
   */
  readonly avro?: { readonly format: AvroFormat; readonly schemaId: number };
  /**
   * Creates the topic if it does not exist. Without it a missing topic fails
   * the sink when it opens, naming the topic (the client would wait for it
   * for ever, and so would a drain).
   */
  readonly createTopic?: CreateTopicOptions;
  /**
   * What to do with a record the topic refuses (larger than its
   * `max.message.bytes`, or without a key for a compacted topic), as Kafka
   * Streams' ProductionExceptionHandler: `'fail'` (default) fails the
   * pipeline with an error naming the topic, the size and the limit (and
   * does not restart it: the record would be refused again);
   * `'dead-letter'` writes the record, cut to fit, to `deadLetterTopic` with
   * the reason in `eddy.*` headers — or, without one, to the pipeline's dead
   * letters (`pipeline.deadLetters()`, cut to 64 KiB) — and goes on.
   */
  readonly onProduceError?: 'fail' | 'dead-letter';
  /** Where `onProduceError: 'dead-letter'` writes (created if missing); default the pipeline's dead letters. */
  readonly deadLetterTopic?: string;
}

/**
 * `kafkaSink`'s options, one entry each (the app sink shares `topic`,
 * `onProduceError`, `createTopic`, …).
 *
 * @example
 * ```ts
 * KAFKA_SINK_OPTIONS.onProduceError.default; // 'fail'
 * ```
 */
export const KAFKA_SINK_OPTIONS = {
  topic: {
    type: 'string',
    required: true,
    needs: 'a topic',
    pattern: TOPIC,
    rule: TOPIC_RULE,
    doc: 'the topic written',
    example: '"results"',
  },
  brokers: KAFKA_SOURCE_OPTIONS.brokers,
  key: {
    type: 'function',
    doc: "the record's key (partitioning); default none",
    example: '(r) => r.customer',
  },
  format: {
    type: 'function',
    doc: 'turns a record into the value written (as JSON, or as Avro with avro); default the record itself',
    example: '(r) => ({ id: r.id })',
  },
  avro: {
    type: 'any',
    check: (v) =>
      isObject(v) &&
      isObject((v as { format?: unknown }).format) &&
      typeof (v as { format: { encode?: unknown } }).format.encode === 'function' &&
      Number.isSafeInteger((v as { schemaId?: unknown }).schemaId) &&
      (v as { schemaId: number }).schemaId >= 0,
    doc: "write values as Avro in the schema registry's wire format: an avroFormat and the schemaId to write with",
    example: '{ format: avroFormat({ registry: { url } }), schemaId: 1 }',
  },
  createTopic: {
    type: 'any',
    doc: 'create the topic when missing (checked by checkCreateTopic); without it a missing topic fails the sink when it opens',
    example: '{ partitions: 4 }',
  },
  onProduceError: {
    type: 'string',
    pattern: /^(fail|dead-letter)$/,
    rule: 'must be "fail" or "dead-letter"',
    default: 'fail',
    doc: 'a record the topic refuses (too large, no key for a compacted topic): fail the pipeline, or dead-letter it and go on',
    example: '"dead-letter"',
  },
  deadLetterTopic: {
    ...KAFKA_SOURCE_OPTIONS.deadLetterTopic,
    doc: 'where onProduceError: "dead-letter" writes (created if missing); default the pipeline\'s dead letters',
  },
} as const satisfies OptionsSchema<KafkaSinkOptions<unknown>>;
