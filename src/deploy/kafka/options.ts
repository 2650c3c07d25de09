/**
 * A Kafka application's options as data (STYLE.md: options are a schema; issue
 * 13): each option's type, bounds, default and one line of documentation in
 * `KAFKA_APP_OPTIONS`, checked once by `kafkaApp` (unknown names refused, so
 * a typo is an error rather than a silent default) and read by
 * `eddy run --kafka` for its flags' bounds and defaults; and the options of
 * its source and sink (`KAFKA_APP_SOURCE_OPTIONS`, `KAFKA_APP_SINK_OPTIONS`),
 * checked once by `app.source` and `app.sink`. The entries they share with
 * `kafkaSource` and `kafkaSink` (`bufferSize`, `reconnectTimeoutMs`, …) are
 * those connectors' own (`connectors/kafka/options.ts`): one default each.
 */

import type { KafkaAppSinkOptions, KafkaAppSourceOptions } from '../../connectors/kafka/app-options.ts';
import { KAFKA_SINK_OPTIONS, KAFKA_SOURCE_OPTIONS } from '../../connectors/kafka/options.ts';
import { MAX_STANDBY_REPLICAS } from '../../connectors/kafka/standby.ts';
import { type OptionsSchema, type Resolved, resolveOptions } from '../../connectors/options.ts';
import type { RestartOptions } from '../../runtime/restart.ts';

export interface KafkaAppOptions {
  /** The consumer group, the prefix of the transactional id and of the changelog topic. */
  readonly applicationId: string;
  readonly brokers?: readonly string[];
  /** How often a transaction commits (ms). Default 1000. Output becomes visible at commits. */
  readonly commitIntervalMs?: number;
  /** A name for this process in the clients' ids (broker logs, metrics); default random. */
  readonly instanceId?: string;
  /**
   * Where this instance answers state queries (Kafka Streams'
   * `application.server`), e.g. `http://10.0.0.5:9464`: the metrics server of
   * `eddy run --ui`. Told to the other instances through the consumer group,
   * so that a query for a key whose partition runs here is redirected here
   * (`locate`, `instances`; `GET /state/<step>/<key>` on any instance).
   */
  readonly endpoint?: string;
  /**
   * How long (ms) the application keeps trying to start again while the
   * brokers cannot be reached (a broker restart, a network partition) before
   * `run` fails. Default 60,000.
   */
  readonly reconnectTimeoutMs?: number;
  /**
   * How long (ms) the group waits for a silent process (crashed, partitioned)
   * before its partitions go to the others. Default 30,000; lower means faster
   * fail-over and more false alarms on long pauses.
   */
  readonly sessionTimeoutMs?: number;
  /**
   * Warm standby state (Kafka Streams' standby replicas): this process keeps
   * a copy of every key-group partition's state current from the changelog
   * in the background (a read every `standbyIntervalMs`), so a partition that
   * moves here (a process stopped, crashed or joined) restores only what was
   * written since, instead of its whole changelog. Costs the memory of the
   * whole state in every process and a changelog read per round. Default off.
   */
  readonly warmStandby?: boolean;
  /**
   * Warm standby copies placed across the instances (Kafka Streams'
   * `num.standby.replicas`), instead of `warmStandby`'s copy of everything
   * everywhere: each key-group partition is kept warm by this many other
   * instances, the ones after its owner in the instances' order by name
   * (`connectors/kafka/standby.ts`), so each process holds about
   * `standbyReplicas` × its share of the state besides its own. Each
   * instance tells the group which copies it keeps, and a partition whose
   * owner left goes first to an instance with a warm copy (and room under
   * its share). Placement follows the group: copies no longer placed here
   * are dropped. Default 0 (none); not with `warmStandby`.
   */
  readonly standbyReplicas?: number;
  /** How often (ms) a warm standby reads the changelog. Default 1000. */
  readonly standbyIntervalMs?: number;
  /**
   * Warm-up before hand-over (Kafka Streams' KIP-441), with `warmStandby` or
   * `standbyReplicas`: a process that joins a running application first
   * reads the state of the partitions the group would give it, taking none,
   * and asks for them once its copies have caught up, so they move to it
   * warm; after this long (ms) it asks for them anyway. Default 60,000; 0:
   * it takes its partitions at once (and restores them cold).
   */
  readonly warmupTimeoutMs?: number;
  /**
   * When a failed partition task (a failed commit or run) starts again, and
   * when the application gives up: exponential backoff with a failure-rate
   * limit, per partition, and the same for the application's own attempts to
   * start its tasks. Exhausted, `run` rejects with the last error. Defaults:
   * `RESTART_DEFAULTS` (100 ms doubling to 30 s; more than 10 failures in 60 s fails).
   */
  readonly restart?: RestartOptions;
  /**
   * Load-aware assignment (issue 18). Each instance tells the group, when it
   * joins, the load of every partition it runs (records per second, plus its
   * backlog to drain within a minute), and the group's leader assigns by load
   * instead of by count, moving at most `maxMoves` partitions a round and only
   * while the busiest instance carries more than `1 + threshold` times the
   * mean (`load-balance.ts`). Every `probeIntervalMs` the leader starts a
   * rebalance so that fresh loads are weighed (Kafka Streams' probing
   * rebalance; cooperative, so partitions that stay keep running).
   * Defaults: on, threshold 0.2, maxMoves 2, probeIntervalMs 300,000 (0: no
   * probing; loads are then weighed when instances join or leave). `false`:
   * by count only.
   */
  readonly loadBalance?:
    | false
    | { readonly threshold?: number; readonly maxMoves?: number; readonly probeIntervalMs?: number };
  /**
   * How a partition's state goes into the changelog at each commit.
   * `'entries'` (default): one record per state entry, only the entries
   * changed since the last commit and a tombstone per removed one (Kafka
   * Streams' layout), so a commit's bytes follow the changes. `'key-groups'`:
   * every state table of a changed partition rewritten whole, in parts (the
   * layout before; cheaper to restore per byte, much heavier to commit for
   * large state). Either reads a changelog the other wrote: the first commit
   * after a switch rewrites the partition in its own layout.
   */
  readonly changelog?: 'entries' | 'key-groups';
}

/** Letters, digits, ".", "_" or "-", at most 200: ids that go into client ids and topic names. */
const ID = /^[\w.-]{1,200}$/;

export const KAFKA_APP_OPTIONS = {
  applicationId: {
    type: 'string',
    required: true,
    pattern: ID,
    rule: 'must be 1-200 letters, digits, ".", "_" or "-"',
    doc: 'the consumer group, and the prefix of the transactional ids and internal topics',
    example: '"order-totals"',
  },
  brokers: {
    type: 'any',
    doc: 'host:port of the brokers (default: KAFKA_BROKERS, else 127.0.0.1:9092)',
    example: '["127.0.0.1:9092"]',
  },
  commitIntervalMs: {
    type: 'integer',
    min: 10,
    default: 1000,
    doc: 'how often a transaction commits (ms); output becomes visible at commits',
    example: '1000',
  },
  instanceId: {
    type: 'string',
    pattern: ID,
    rule: 'must be 1-200 letters, digits, ".", "_" or "-"',
    doc: "this process's name in client ids and to the other instances (default: the process id)",
    example: '"host-1"',
  },
  endpoint: {
    type: 'any',
    doc: 'where this instance answers state queries for the others (an http(s) URL)',
    example: '"http://10.0.0.5:9464"',
  },
  // One default with kafkaSource's: a module run embedded and as an application rides out the same outage.
  reconnectTimeoutMs: {
    ...KAFKA_SOURCE_OPTIONS.reconnectTimeoutMs,
    doc: 'how long (ms) to keep trying to start again while the brokers cannot be reached',
  },
  sessionTimeoutMs: {
    type: 'integer',
    min: 1000,
    default: 30_000,
    doc: 'how long (ms) the group waits for a silent process before moving its partitions',
    example: '30000',
  },
  warmStandby: {
    type: 'boolean',
    default: false,
    doc: 'keep a warm copy of every partition here (not with standbyReplicas)',
    example: 'true',
  },
  standbyReplicas: {
    type: 'integer',
    min: 0,
    max: MAX_STANDBY_REPLICAS,
    default: 0,
    doc: 'warm copies of each partition kept by that many other instances (not with warmStandby)',
    example: '1',
  },
  standbyIntervalMs: {
    type: 'integer',
    min: 10,
    default: 1000,
    doc: 'how often (ms) warm copies read the changelog',
    example: '1000',
  },
  warmupTimeoutMs: {
    type: 'integer',
    min: 0,
    default: 60_000,
    doc: 'how long (ms) a joining process with standbys warms up before taking partitions (0: at once)',
    example: '60000',
  },
  restart: {
    type: 'any',
    doc: 'backoff and failure-rate limit of task restarts (RestartOptions)',
    example: '{ maxFailures: 10 }',
  },
  loadBalance: {
    type: 'any',
    doc: 'load-aware assignment: false, or { threshold, maxMoves, probeIntervalMs }',
    example: '{ threshold: 0.2 }',
  },
  changelog: {
    type: 'string',
    pattern: /^(entries|key-groups)$/,
    rule: 'must be "entries" or "key-groups"',
    default: 'entries',
    doc: 'changelog layout: one record per changed entry, or each changed partition rewritten whole',
    example: '"entries"',
  },
} as const satisfies OptionsSchema<KafkaAppOptions>;

/** `kafkaApp`'s options, checked against `KAFKA_APP_OPTIONS`, defaults filled in. */
export function resolveKafkaAppOptions(
  options: KafkaAppOptions,
): Resolved<KafkaAppOptions, typeof KAFKA_APP_OPTIONS> {
  return resolveOptions('kafkaApp', KAFKA_APP_OPTIONS, options);
}

/**
 * The options of `app.source`: `kafkaSource`'s reading options (the same
 * entries), plus how the application keys its input and reads a stage.
 *
 * @example
 * ```ts
 * KAFKA_APP_SOURCE_OPTIONS.bufferSize === KAFKA_SOURCE_OPTIONS.bufferSize; // true
 * ```
 */
export const KAFKA_APP_SOURCE_OPTIONS = {
  topics: KAFKA_SOURCE_OPTIONS.topics,
  format: KAFKA_SOURCE_OPTIONS.format,
  deadLetterTopic: {
    ...KAFKA_SOURCE_OPTIONS.deadLetterTopic,
    doc: 'undecodable records (and those parse or keyBy rejects) are also written here, unchanged, with the reason in eddy.* headers, inside the same transactions',
  },
  parse: KAFKA_SOURCE_OPTIONS.parse,
  limits: KAFKA_SOURCE_OPTIONS.limits,
  bufferSize: KAFKA_SOURCE_OPTIONS.bufferSize,
  keyBy: {
    type: 'function',
    doc: "the pipeline's key, when the input topics are not partitioned by it: records go through <applicationId>-repartition first (needed with several topics)",
    example: '(order) => order.customer',
  },
  carried: {
    type: 'boolean',
    default: false,
    doc: 'the topic is written by an earlier stage (app.sink with carryEventTime): take event time and watermarks from it',
    example: 'true',
  },
  anyPartition: {
    type: 'boolean',
    default: false,
    doc: "use records in the partition they were read from whatever their key (a stage that keeps no keyed state: preAggregate's input stage on Kafka); not with keyBy",
    example: 'true',
  },
} as const satisfies OptionsSchema<KafkaAppSourceOptions<unknown>>;

/**
 * The options of `app.sink`: `kafkaSink`'s writing options (shared entries),
 * plus what a stage carries to the next.
 *
 * @example
 * ```ts
 * KAFKA_APP_SINK_OPTIONS.onProduceError.default; // 'fail'
 * ```
 */
export const KAFKA_APP_SINK_OPTIONS = {
  topic: KAFKA_SINK_OPTIONS.topic,
  key: {
    type: 'function',
    doc: "the record's key: a keyed record goes to partition kafkaPartition(key, partitions)",
    example: '(t) => t.customer',
  },
  format: {
    type: 'function',
    doc: 'turns a record into the JSON value written; default the record itself',
    example: '(r) => ({ id: r.id })',
  },
  onProduceError: {
    ...KAFKA_SINK_OPTIONS.onProduceError,
    doc: 'a record the topic refuses (too large, no key for a compacted topic): fail the task, or dead-letter it in the same transaction and go on',
  },
  deadLetterTopic: {
    ...KAFKA_SINK_OPTIONS.deadLetterTopic,
    doc: 'where onProduceError: "dead-letter" writes; default app.source\'s deadLetterTopic',
  },
  createTopic: KAFKA_SINK_OPTIONS.createTopic,
  carryEventTime: {
    type: 'boolean',
    default: false,
    doc: 'the topic feeds a later stage (app.source with carried): write event times, floors and watermarks with the records',
    example: 'true',
  },
} as const satisfies OptionsSchema<KafkaAppSinkOptions<unknown>>;
