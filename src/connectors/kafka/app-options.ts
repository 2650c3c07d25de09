/**
 * A Kafka application's options, the options of its source and sink, and
 * what it reports about itself (issue 13); `kafkaPartition`, the partition
 * (= key group) of a key. Types and one function, shared by `app.ts` and
 * `app-sink.ts`.
 */
import type { DecodeLimits } from '../../codec/index.ts';
import { type Key, keyGroupOf } from '../../core/key-groups.ts';
import type { PipelineMetrics } from '../../core/metrics.ts';
import type { KafkaFormat } from './formats.ts';
import type { CreateTopicOptions } from './topics.ts';

/**
 * The partition eddy writes a record with key `key` to, of `partitions`: the
 * key's key group. Producers of an application's input topics must partition
 * this way (the Kafka sinks do), so that a partition holds exactly the keys of
 * its key group.
 */
export function kafkaPartition(key: Key, partitions: number): number {
  return keyGroupOf(key, partitions);
}

/** What a running Kafka application reports about itself (`KafkaApp#metrics`). */
export interface KafkaAppMetrics {
  /** Restarts after failures so far: partition tasks started again from their last commit, and retries to start tasks. */
  readonly restarts: number;
  /** Partition tasks stopped here because their partition moved to another process. */
  readonly moved: number;
  /** The partitions this process runs tasks for, as `topic:partition`. */
  readonly tasks: readonly string[];
  /** Each key-group task's pipeline metrics, by `topic:partition`. */
  readonly pipelines: Readonly<Record<string, PipelineMetrics>>;
  /** Group generations this process joined (each a rebalance it took part in). */
  readonly rebalances: number;
  /**
   * Load-aware assignment (`KafkaAppOptions.loadBalance`): whether this
   * process led the last assignment, the probing rebalances it started, and
   * the load it reports for each partition it runs (`topic:partition` →
   * records per second plus backlog ÷ 60). With standbys and warm-up:
   * the key-group partitions this process warms up because the load rule
   * would move them here (`movesWarming`), and, as the leader, the moves it
   * holds back while their receivers warm up (`movesHeld`).
   */
  readonly loadBalance: {
    readonly leader: boolean;
    readonly probes: number;
    readonly movesWarming: readonly number[];
    readonly movesHeld: number;
    readonly loads: Readonly<Record<string, number>>;
  };
  /** Commits of key-group tasks here: how many, how many failed, and their duration (ms) — the last and the largest. */
  readonly commits: {
    readonly count: number;
    readonly failed: number;
    readonly lastMs: number;
    readonly maxMs: number;
  };
  /** The last restores of key-group partitions here (newest last, at most 32): how long, how many records read, and whether from a warm standby. */
  readonly restores: readonly RestoreMetrics[];
  /**
   * The restores of key-group partitions under way here, by partition: when
   * each began, the changelog records read so far, the offset it reads next
   * and the end it reads to (from a standby copy here, `Standbys.inFlight`,
   * or from the changelog's start, `RestoresUnderway`).
   */
  readonly restoring: readonly RestoreProgress[];
  /** The key-group partitions this process keeps warm standby copies of (`warmStandby`, `standbyReplicas`). */
  readonly standbys: readonly number[];
  /** Whether this process is warming up its copies before it takes partitions (`warmupTimeoutMs`). */
  readonly warmingUp: boolean;
  /**
   * Consumer lag of each input partition this process runs, by
   * `topic:partition`: its end (last stable offset, read_committed) as last
   * asked of the brokers, the next offset this process fetches, what it has
   * fetched but not processed, and `lag` = end − next. The ends are asked
   * for when `metrics()` is called and the last answer is older than 5 s (in
   * the background: the call returns what is known), so nothing is asked
   * while nobody looks. A transaction's commit marker takes an offset, so a
   * partition fed by transactions may show a lag of 1 when caught up.
   */
  readonly lag: Readonly<Record<string, PartitionLag>>;
}

/** One input partition's consumer lag (see `KafkaAppMetrics.lag`). */
export interface PartitionLag {
  /** The partition's last stable offset, as last asked (-1 before the first answer). */
  readonly end: number;
  /** The next offset this process fetches. */
  readonly next: number;
  /** Records fetched but not yet processed. */
  readonly buffered: number;
  /** `end − next` (≥ 0), or -1 before the first answer. */
  readonly lag: number;
  /** How old `end` is, in ms (-1 before the first answer). */
  readonly ageMs: number;
}

/** A restore of a key-group partition's state under way (`KafkaAppMetrics.restoring`). */
export interface RestoreProgress {
  readonly partition: number;
  /** When it began (epoch ms; `RestoreMetrics.at` once it has finished). */
  readonly at: number;
  /** Changelog records read for it so far. */
  readonly records: number;
  /** The changelog offset it reads next; -1 while its read has not begun. */
  readonly offset: number;
  /** The changelog offset it reads to (the partition's end when its read began); -1 while not known. */
  readonly end: number;
  /** Whether it reads on from a warm copy kept here, rather than from the start. */
  readonly standby: boolean;
}

/** One restore of a key-group partition's state before its task started. */
export interface RestoreMetrics {
  readonly partition: number;
  /** From fencing the previous owner to the state read back, in ms. */
  readonly ms: number;
  /** Changelog records read for it. */
  readonly records: number;
  /** Whether it read on from a warm copy kept here (one that had read the changelog), rather than from the start. */
  readonly standby: boolean;
  readonly at: number;
}

export interface KafkaAppSourceOptions<T> {
  readonly topics: readonly string[];
  /** How values are decoded: JSON (default), a UTF-8 string, the raw bytes, or a format such as `avroFormat(…)`. */
  readonly format?: 'json' | 'string' | 'bytes' | KafkaFormat;
  /**
   * Undecodable records (and those `parse` or `keyBy` rejects) are also
   * written to this topic, unchanged, with the reason in `eddy.*` headers —
   * inside the same transactions as everything else, so each exactly once.
   */
  readonly deadLetterTopic?: string;
  /** Checks and converts a decoded value; throw to dead-letter the record with your message. */
  readonly parse?: (value: unknown) => T;
  readonly limits?: Partial<DecodeLimits>;
  /** Fetched records held before the fetch pauses. Default 10,000. */
  readonly bufferSize?: number;
  /**
   * The key the pipeline's keyed steps use (its `keyBy`), when the input
   * topics are not already partitioned by it with `kafkaPartition`. Records
   * then go through the internal topic `<applicationId>-repartition`
   * (partitioned by this key, inside the same transactions) before the
   * pipeline sees them, so that a partition holds exactly its key group.
   * Without it there must be one input topic, partitioned by the key.
   * A record it gives no key (undefined) stays in its input partition's key
   * group (`eddy run --kafka` does so for records a filter before the keyBy drops).
   */
  readonly keyBy?: (value: T) => Key | undefined;
  /**
   * The topic is written by an earlier stage of the same pipeline (`eddy run
   * --kafka` with several keyBys), whose tasks carry event time, lateness
   * and watermarks with the records (carried.ts): the source takes its
   * watermark from them instead of from a bound over the times seen.
   */
  readonly carried?: boolean;
  /**
   * Records are used in the partition they were read from whatever their
   * key (no `wrong-partition` dead letters): for a stage that keeps no keyed
   * state, as the input stage of pre-aggregation on Kafka
   * (deploy/kafka/pre-aggregate.ts). Not with `keyBy`.
   */
  readonly anyPartition?: boolean;
}

export interface KafkaAppSinkOptions<T> {
  readonly topic: string;
  /** The record's key; keyed records go to partition `kafkaPartition(key, partitions)`. */
  readonly key?: (value: T) => string | number;
  /** Turns a record into the JSON value written; default the record itself. */
  readonly format?: (value: T) => unknown;
  /**
   * What to do with a record the topic refuses (larger than its
   * `max.message.bytes`, or without a key for a compacted topic), as Kafka
   * Streams' ProductionExceptionHandler: `'fail'` (default) fails the task
   * with an error naming the topic, the size and the limit (and, once the
   * restart strategy gives up, the run); `'dead-letter'` writes the record,
   * cut to fit, to the dead-letter topic with the reason, in the same
   * transaction, and goes on.
   */
  readonly onProduceError?: 'fail' | 'dead-letter';
  /** Where `onProduceError: 'dead-letter'` writes; default the app source's `deadLetterTopic`. */
  readonly deadLetterTopic?: string;
  /**
   * Creates the topic if it does not exist. Without it a missing topic fails
   * the run at once, naming the topic (the client would wait for it for ever).
   */
  readonly createTopic?: CreateTopicOptions;
  /**
   * The topic feeds a later stage of the same pipeline (`eddy run --kafka`
   * with several keyBys): each record is written with its event time as its
   * timestamp and its floor if it was late, and each commit adds this task's
   * watermark to every partition (carried.ts), for a source with
   * `carried: true`.
   */
  readonly carryEventTime?: boolean;
}
