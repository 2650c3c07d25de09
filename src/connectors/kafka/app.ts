/**
 * A Kafka application: eddy scaled out over processes that share nothing but a
 * Kafka cluster (no eddy master). Every process runs the same pipeline with the
 * same `applicationId`; the consumer group (that id, cooperative-sticky
 * assignment) spreads the input partitions over them, and partition p of the
 * input is key group p of the pipeline's keyed state.
 *
 * A process runs one task per partition it owns (task.ts): a job of the
 * pipeline over that partition alone, with its own transactional producer.
 * Each checkpoint of a task is one Kafka transaction (changelog.ts): the sinks'
 * output, the partition's changed state in the changelog topic, and its
 * consumed offset. A crash loses only open transactions, which read_committed
 * consumers never see; a partition's next owner fences the old one through
 * the partition's transactional id, restores the key group from the changelog
 * and continues from the committed offset: exactly-once.
 *
 * When the group's assignment changes, only the partitions that move stop
 * (here) and start (there, after their restore); the tasks of partitions that
 * stay keep running, their open transactions included.
 *
 * With `keyBy` on the source, the input partitions' tasks only forward their
 * records, keyed, to the internal repartition topic (in their transactions,
 * with their offsets), and the repartition topic's partitions are the key
 * groups.
 *
 * @example
 * ```ts
 * const app = kafkaApp({ applicationId: 'order-totals' });
 * await app.run(() => {
 *   const p = new Pipeline({ name: 'order-totals' });
 *   p.source('orders', app.source<Order>({ topics: ['orders'] }))
 *     .keyBy((o) => o.customer)
 *     .aggregate(sumOf((o) => o.amount))
 *     .sink(app.sink({ topic: 'totals', key: (t) => t.key }));
 *   return p;
 * });
 * ```
 */
import {
  Admin,
  Consumer,
  FetchIsolationLevels,
  type Message,
  type MessagesStream,
  MessagesStreamFallbackModes,
  MessagesStreamModes,
} from '@platformatic/kafka';

import type { Pipeline } from '../../api/pipeline.ts';
import type { DecodeLimits } from '../../codec/index.ts';
import { configError, EddyError } from '../../errors/index.ts';
import type { CheckpointInfo } from '../../runtime/job.ts';
import { HeapStateBackend } from '../../state/heap.ts';
import { type Key, keyGroupOf } from '../../state/key-groups.ts';
import type { Sink, SinkWriter, Source, SourceBatch, SourceReader } from '../types.ts';
import { committedReads } from './aborted.ts';
import { perTopicCooperativeSticky } from './assignor.ts';
import { brokersOf } from './brokers.ts';
import { ChangelogStore, readChangelog } from './changelog.ts';
import { checkDeadLetterTopic, deadLetterMessage } from './dead-letters.ts';
import { decodeValue, type KafkaFormat, resolveFormat } from './formats.ts';
import { PartitionTask, type TxMessage, TxWriter } from './task.ts';

/**
 * The partition eddy writes a record with key `key` to, of `partitions`: the
 * key's key group. Producers of an application's input topics must partition
 * this way (the Kafka sinks do), so that a partition holds exactly the keys of
 * its key group.
 */
export function kafkaPartition(key: Key, partitions: number): number {
  return keyGroupOf(key, partitions);
}

export interface KafkaAppOptions {
  /** The consumer group, the prefix of the transactional id and of the changelog topic. */
  readonly applicationId: string;
  readonly brokers?: readonly string[];
  /** How often a transaction commits (ms). Default 1000. Output becomes visible at commits. */
  readonly commitIntervalMs?: number;
  /** A name for this process in the clients' ids (broker logs, metrics); default random. */
  readonly instanceId?: string;
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
   */
  readonly keyBy?: (value: T) => Key;
}

export interface KafkaAppSinkOptions<T> {
  readonly topic: string;
  /** The record's key; keyed records go to partition `kafkaPartition(key, partitions)`. */
  readonly key?: (value: T) => string | number;
  /** Turns a record into the JSON value written; default the record itself. */
  readonly format?: (value: T) => unknown;
}

export interface KafkaAppRunOptions {
  /** Aborting stops the application: it drains, commits a last time and leaves the group. */
  readonly signal?: AbortSignal;
  /** Called after each commit (or failed commit). */
  readonly onCheckpoint?: (info: CheckpointInfo) => void;
  /** Called when a partition's task stops without the application stopping (it moved away, or its commit failed and it goes back to its last commit), with why. */
  readonly onRestart?: (reason: string) => void;
  /** Called when the partitions this process runs change: the key groups (partitions) it owns and the group generation. */
  readonly onAssigned?: (partitions: readonly number[], generation: number) => void;
}

export function kafkaApp(options: KafkaAppOptions): KafkaApp {
  return new KafkaApp(options);
}

interface SourceConfig {
  topics: string[];
  bufferSize: number;
  /** The topic whose partitions are the key groups: the repartition topic, or the one input topic. */
  keyed: string;
  keyBy: ((value: unknown) => Key) | undefined;
  deadLetterTopic: string | undefined;
  format: KafkaFormat;
  parse: ((value: unknown) => unknown) | undefined;
}

type Decoded = { ok: true; value: unknown } | { ok: false; code: string; reason: string; eddyCode: string };

export class KafkaApp {
  readonly applicationId: string;
  readonly changelogTopic: string;
  readonly repartitionTopic: string;
  readonly #brokers: string[];
  readonly #intervalMs: number;
  readonly #reconnectTimeoutMs: number;
  readonly #sessionTimeoutMs: number;
  readonly #instanceId: string;
  #source: SourceConfig | undefined;
  /** Partition counts of the sinks' topics, looked up once. */
  readonly #sinkPartitions = new Map<string, Promise<number>>();

  // Live while running.
  #consumer: Consumer | undefined;
  #stream: MessagesStream<Buffer, Buffer, Buffer, Buffer> | undefined;
  #streamId = 0;
  #streamBroken = false;
  /** The running tasks by `topic:partition`. */
  readonly #tasks = new Map<string, PartitionTask>();
  /** The task whose job is starting: its source and sinks open into it. */
  #opening: PartitionTask | undefined;
  #partitions = 0;
  #fatal: Error | undefined;
  /** The last completed assignment, from the consumer's join event. */
  #joined: { generation: number; assignments: { topic: string; partitions: number[] }[] } | undefined;
  #kick: () => void = () => {};
  /** Set when the consumer left the group for good (see #newConsumer). */
  #consumerLost = false;
  /** The generation last reported to onAssigned. */
  #reported = -1;
  #pipelineName = '';

  constructor(options: KafkaAppOptions) {
    if (typeof options?.applicationId !== 'string' || !/^[\w.-]{1,200}$/.test(options.applicationId)) {
      throw configError(
        'kafkaApp needs an applicationId of letters, digits, ".", "_" or "-"',
        options?.applicationId,
        'pass { applicationId: "order-totals" }',
      );
    }
    this.applicationId = options.applicationId;
    this.#brokers = brokersOf(options.brokers);
    this.#intervalMs = options.commitIntervalMs ?? 1000;
    if (!Number.isInteger(this.#intervalMs) || this.#intervalMs < 10) {
      throw configError(
        'commitIntervalMs must be a whole number ≥ 10',
        options.commitIntervalMs,
        'pass e.g. 1000',
      );
    }
    this.#reconnectTimeoutMs = options.reconnectTimeoutMs ?? 60_000;
    this.#sessionTimeoutMs = options.sessionTimeoutMs ?? 30_000;
    if (!Number.isInteger(this.#sessionTimeoutMs) || this.#sessionTimeoutMs < 1000) {
      throw configError(
        'sessionTimeoutMs must be a whole number ≥ 1000',
        options.sessionTimeoutMs,
        'pass e.g. 30000',
      );
    }
    this.#instanceId = options.instanceId ?? `${process.pid}`;
    this.changelogTopic = `${this.applicationId}-changelog`;
    this.repartitionTopic = `${this.applicationId}-repartition`;
  }

  /** The application's input: its consumer group reads `topics`; one source per application. */
  source<T>(options: KafkaAppSourceOptions<T>): Source<T> {
    if (
      !Array.isArray(options?.topics) ||
      options.topics.length === 0 ||
      options.topics.some((t) => typeof t !== 'string' || t === '')
    ) {
      throw configError('app.source needs topics', options?.topics, 'pass { topics: ["orders"] }');
    }
    const keyBy = options.keyBy;
    if (keyBy !== undefined && typeof keyBy !== 'function') {
      throw configError(
        'app.source keyBy must be a function',
        keyBy,
        'pass { keyBy: (order) => order.customer }',
      );
    }
    if (keyBy === undefined && options.topics.length > 1) {
      throw configError(
        'app.source with several topics needs keyBy (their partitions are assigned independently, so they are repartitioned into one topic)',
        options.topics,
        'pass { keyBy: (value) => value.key }',
      );
    }
    checkDeadLetterTopic('app.source', options.deadLetterTopic);
    this.#source = {
      topics: [...options.topics],
      bufferSize: options.bufferSize ?? 10_000,
      keyed: keyBy === undefined ? options.topics[0]! : this.repartitionTopic,
      keyBy: keyBy as ((value: unknown) => Key) | undefined,
      deadLetterTopic: options.deadLetterTopic,
      format: resolveFormat(options.format, options.limits),
      parse: options.parse,
    };
    const app = this;
    return {
      kind: 'kafka-app',
      splittable: true,
      open(ctx): SourceReader<T> {
        const task = app.#opening;
        if (task === undefined || task.kind !== 'state')
          throw new EddyError('EDDY_STATE_INVALID', 'app.source is read by kafkaApp.run only');
        const config = app.#source!;
        const dlq =
          config.deadLetterTopic === undefined
            ? undefined
            : { topic: config.deadLetterTopic, writer: new TxWriter(task) };
        const reject = (m: Message, code: string, reason: string, eddyCode: string) => {
          const where = `${m.topic}[${m.partition}]@${m.offset}`;
          ctx.deadLetter(eddyCode, `${where}: ${reason}`, m.value ?? '');
          if (dlq !== undefined)
            void dlq.writer
              .send([deadLetterMessage(dlq.topic, { message: m, code, reason }) as TxMessage])
              .catch(() => {});
        };
        let stopped = false;
        ctx.signal.addEventListener('abort', () => {
          stopped = true;
          task.wake?.();
        });
        return {
          async poll(max): Promise<SourceBatch<T> | null> {
            if (stopped || task.closed) return null;
            if (task.backlog() === 0) {
              await waitForRecords(task, 50);
              if (task.backlog() === 0) return { values: [] };
            }
            if (config.format.prepare !== undefined) {
              // Whatever the format needs for these records (Avro schemas), fetched once per batch.
              const slice = task.buffer.slice(task.head, task.head + max).map((m) => m.value);
              await config.format.prepare(slice);
            }
            return app.#take(task, max, reject) as SourceBatch<T>;
          },
          position() {
            // At the barrier: the offset goes into the checkpoint's transaction, and so do the dead
            // letters so far; later ones wait for the next transaction (the sinks seal themselves).
            task.atBarrier = task.taken;
            dlq?.writer.seal();
            task.marksAtBarrier = Buffer.from(
              JSON.stringify([...task.marks].map(([split, o]) => [split, String(o)])),
            );
            return task.taken === undefined ? {} : { [task.split]: String(task.taken) };
          },
        };
      },
    };
  }

  /** Writes to `topic` inside the application's transactions: visible (read_committed) once a checkpoint commits. */
  sink<T>(options: KafkaAppSinkOptions<T>): Sink<T> {
    if (typeof options?.topic !== 'string' || options.topic === '') {
      throw configError('app.sink needs a topic', options?.topic, 'pass { topic: "results" }');
    }
    const app = this;
    return {
      kind: 'kafka-app',
      guarantee: 'exactly-once',
      async open() {
        const task = app.#opening;
        if (task === undefined)
          throw new EddyError('EDDY_STATE_INVALID', 'app.sink is written by kafkaApp.run only');
        const partitions = await app.#partitionsOf(options.topic);
        return new AppSinkWriter(task, options as KafkaAppSinkOptions<unknown>, partitions) as SinkWriter<T>;
      },
    };
  }

  #partitionsOf(topic: string): Promise<number> {
    let known = this.#sinkPartitions.get(topic);
    if (known === undefined) {
      known = (async () => {
        const admin = new Admin({ clientId: `${this.applicationId}-sink`, bootstrapBrokers: this.#brokers });
        try {
          const meta = await admin.metadata({ topics: [topic], autocreateTopics: true });
          return meta.topics.get(topic)?.partitionsCount ?? 1;
        } finally {
          await admin.close().catch(() => {});
        }
      })();
      known.catch(() => this.#sinkPartitions.delete(topic));
      this.#sinkPartitions.set(topic, known);
    }
    return known;
  }

  /** Decodes a record's value and checks it with `parse`. */
  #decode(m: Message): Decoded {
    const config = this.#source!;
    const r = decodeValue(config.format, config.parse, m.value);
    return r.ok ? r : { ...r, eddyCode: 'EDDY_DECODE_FAILED' };
  }

  /** Hands out up to `max` buffered records of a key-group partition. */
  #take(
    task: PartitionTask,
    max: number,
    reject: (m: Message, code: string, reason: string, eddyCode: string) => void,
  ): SourceBatch<unknown> {
    const values: unknown[] = [];
    const times: number[] = [];
    const repartitioned = task.topic === this.repartitionTopic;
    while (task.head < task.buffer.length && values.length < max) {
      const m = task.buffer[task.head++]!;
      task.taken = m.offset + 1n;
      if (repartitioned) {
        const forwarded = forwardedOf(m);
        if (forwarded !== undefined) {
          if (this.#duplicate(task, forwarded)) continue;
          if (forwarded.rejected !== undefined) {
            const r = rejectedInput(m, forwarded);
            reject(r.original, r.code, r.reason, r.eddyCode);
            continue;
          }
        }
      }
      const d = this.#decode(m);
      if (!d.ok) {
        reject(m, d.code, d.reason, d.eddyCode);
        continue;
      }
      values.push(d.value);
      times.push(Number(m.timestamp));
    }
    task.compact();
    this.#maybeResume();
    return { values, times, split: task.split };
  }

  /**
   * Whether a repartition record carries an input record taken before, and
   * marks it taken: per input partition, the highest input offset seen. A
   * second guard behind fencing and the read_committed filter (aborted.ts);
   * the marks are checkpointed with the key group (changelog record `x`).
   */
  #duplicate(task: PartitionTask, f: Forwarded): boolean {
    const seen = task.marks.get(f.split);
    if (seen !== undefined && f.offset <= seen) return true;
    task.marks.set(f.split, f.offset);
    return false;
  }

  /**
   * Runs the application until `signal` aborts. `build` makes the pipeline
   * (with this app's source and sinks); it is called once for every partition
   * task this process starts.
   */
  async run(build: () => Pipeline | Promise<Pipeline>, options: KafkaAppRunOptions = {}): Promise<void> {
    let first: Pipeline | undefined = await build();
    if (this.#source === undefined) {
      throw configError(
        'the pipeline has no app.source',
        undefined,
        'read the input with app.source({ topics })',
      );
    }
    this.#pipelineName = first.name;
    const pipelines = async () => {
      const p = first ?? (await build());
      first = undefined;
      return p;
    };
    const { topics: inputs, keyBy } = this.#source;
    const topics = keyBy !== undefined ? [...inputs, this.repartitionTopic] : inputs;
    await this.#prepareTopics(inputs, keyBy !== undefined);

    this.#newConsumer();
    // The first stream makes the consumer join the group; it is reopened whenever the tasks change.
    await this.#openStream(topics);

    const stop = options.signal;
    const onStop = () => this.#kick();
    stop?.addEventListener('abort', onStop);
    let failingSince: number | undefined;
    let backoff = 250;
    try {
      while (!stop?.aborted) {
        const changed = new Promise<void>((resolve) => {
          const t = setTimeout(resolve, 1000);
          this.#kick = () => {
            clearTimeout(t);
            resolve();
          };
        });
        try {
          await this.#reconcile(topics, pipelines, options);
          failingSince = undefined;
          backoff = 250;
        } catch (e) {
          if (this.#fatal !== undefined) throw this.#fatal;
          // The brokers are unreachable (or the group is in flux) while starting: try again, for a while.
          failingSince ??= Date.now();
          if (Date.now() - failingSince > this.#reconnectTimeoutMs) throw e;
          options.onRestart?.(`starting partitions failed (${errorText(e)}); trying again in ${backoff} ms`);
          await sleep(backoff);
          backoff = Math.min(backoff * 2, 5000);
          continue;
        }
        if (this.#fatal !== undefined) throw this.#fatal;
        await changed;
      }
      // Stopped: every task drains, commits a last time and closes.
      await Promise.all([...this.#tasks.values()].map((t) => this.#stopTask(t, { drain: true })));
    } finally {
      stop?.removeEventListener('abort', onStop);
      this.#kick = () => {};
      await Promise.all([...this.#tasks.values()].map((t) => this.#stopTask(t, { drain: false })));
      await this.#stream?.close().catch(() => {});
      await this.#consumer?.close(true).catch(() => {});
    }
  }

  /**
   * A consumer in the application's group. The client gives up rejoining the
   * group after a few failed attempts (a broker down for longer) and stays out
   * of it, so the application then makes a new one (#reconcile): the tasks
   * keep running meanwhile, and the new member gets its partitions back from
   * the sticky assignor.
   */
  #newConsumer(): void {
    this.#joined = undefined;
    this.#consumerLost = false;
    const consumer = committedReads(
      new Consumer({
        clientId: `${this.applicationId}-${this.#instanceId}-consumer`,
        bootstrapBrokers: this.#brokers,
        groupId: this.applicationId,
        autocommit: false,
        isolationLevel: FetchIsolationLevels.READ_COMMITTED,
        // Partitions stay where they are when the group changes; only the moved ones are handed over.
        protocols: [{ name: 'cooperative-sticky', version: 3 }],
        partitionAssigner: perTopicCooperativeSticky,
        sessionTimeout: this.#sessionTimeoutMs,
        rebalanceTimeout: Math.max(this.#sessionTimeoutMs, 60_000),
        heartbeatInterval: Math.min(3000, Math.floor(this.#sessionTimeoutMs / 3)),
        // Kafka's own consumer defaults. The client's are 50 MB for both, so one fetch of a backlog
        // could be 50 MB decoded at once: memory far past bufferSize and a long wait for the first record.
        maxBytes: 50 * 1024 * 1024,
        maxBytesPerPartition: 1024 * 1024,
      }),
    );
    this.#consumer = consumer;
    consumer.on('error', () => {
      if (this.#consumer !== consumer) return;
      this.#consumerLost = true;
      this.#kick();
    });
    consumer.on(
      'consumer:group:join',
      (p: { generationId?: number; assignments?: { topic: string; partitions: number[] }[] }) => {
        // The assignment is taken from this event only: the consumer's own fields change at different
        // moments of a rebalance (the generation at the join, the assignment at the sync).
        if (this.#consumer !== consumer) return;
        if (p.generationId !== undefined && p.assignments !== undefined)
          this.#joined = { generation: p.generationId, assignments: p.assignments };
        this.#kick();
      },
    );
    consumer.on('consumer:group:rebalance', () => this.#kick());
  }

  /** Creates what the application needs (the changelog and repartition topics) and checks the input. */
  async #prepareTopics(inputs: string[], repartition: boolean): Promise<void> {
    const admin = new Admin({ clientId: `${this.applicationId}-admin`, bootstrapBrokers: this.#brokers });
    try {
      const meta = await admin.metadata({ topics: inputs, autocreateTopics: true });
      const counts = new Set(inputs.map((t) => meta.topics.get(t)?.partitionsCount ?? 0));
      if (counts.has(0) || (!repartition && counts.size !== 1)) {
        throw configError(
          'the input topics of a Kafka application must exist',
          inputs.map((t) => `${t}:${meta.topics.get(t)?.partitionsCount ?? 0} partitions`).join(', '),
          'create them first',
        );
      }
      // The key groups: the repartition topic's partitions (as many as the widest input), or the input's.
      this.#partitions = Math.max(...counts);
      const dlq = this.#source!.deadLetterTopic;
      if (dlq !== undefined) {
        // Transactional sends do not create topics on the fly.
        await admin.metadata({ topics: [dlq], autocreateTopics: true });
      }
      const existing = await admin.listTopics();
      const internal: [string, string][] = [[this.changelogTopic, 'compact']];
      if (repartition) internal.push([this.repartitionTopic, 'delete']);
      for (const [topic, policy] of internal) {
        if (existing.includes(topic)) continue;
        await admin
          .createTopics({
            topics: [topic],
            partitions: this.#partitions,
            replicas: -1,
            configs: [{ name: 'cleanup.policy', value: policy }],
          })
          .catch((e: unknown) => {
            if (!/already exists/i.test(errorText(e))) throw e;
          });
      }
      if (existing.includes(this.changelogTopic)) {
        const have = (await admin.metadata({ topics: [this.changelogTopic] })).topics.get(
          this.changelogTopic,
        );
        if (have?.partitionsCount !== this.#partitions) {
          throw configError(
            `the changelog topic ${this.changelogTopic} has ${have?.partitionsCount} partitions, but the application's key groups are ${this.#partitions}`,
            have?.partitionsCount,
            'keep the input partition count, or start a new application id',
          );
        }
      }
    } finally {
      await admin.close().catch(() => {});
    }
  }

  /**
   * Brings the running tasks in line with the group's assignment: stops the
   * tasks of partitions that moved away (or failed), starts those of
   * partitions that arrived (or failed) after fencing and restoring them,
   * and leaves the rest running. Then reopens the stream if anything changed.
   */
  async #reconcile(
    topics: string[],
    pipelines: () => Promise<Pipeline>,
    options: KafkaAppRunOptions,
  ): Promise<void> {
    if (this.#consumerLost) {
      options.onRestart?.('the consumer lost the group; joining again with a new one');
      // The old member leaves first (if the broker still counts it): else the group waits for its
      // session to expire before the new one's join completes.
      await this.#consumer!.close(true).catch(() => {});
      this.#newConsumer();
      try {
        await this.#openStream(topics);
      } catch (e) {
        this.#consumerLost = true; // not in the group yet either: next round, another one
        throw e;
      }
      return; // the new member's assignment comes with its join
    }
    const joined = this.#joined;
    const consumer = this.#consumer!;
    // A rebalance in progress: wait for its assignment.
    if (joined === undefined || joined.generation !== consumer.generationId) return;
    const source = this.#source!;
    const want = new Map<string, { topic: string; partition: number; kind: 'state' | 'forward' }>();
    for (const a of joined.assignments) {
      if (!topics.includes(a.topic)) continue;
      const kind = a.topic === source.keyed ? 'state' : 'forward';
      for (const partition of a.partitions)
        want.set(`${a.topic}:${partition}`, { topic: a.topic, partition, kind });
    }
    let changed = this.#streamBroken;
    for (const task of [...this.#tasks.values()]) {
      const failure = task.failure;
      if (want.has(task.split) && failure === undefined) continue;
      changed = true;
      options.onRestart?.(
        failure === undefined
          ? `partition ${task.split} moved to another process (generation ${joined.generation})`
          : `partition ${task.split} goes back to its last commit: ${failure}`,
      );
      await this.#stopTask(task, { drain: false });
    }
    const arriving = [...want.entries()].filter(([split]) => !this.#tasks.has(split));
    if (arriving.length > 0) {
      changed = true;
      // Fence, read offsets and state of all arriving partitions at once; start their jobs one by one.
      const firstStream = this.#streamId + 1;
      const prepared = await Promise.allSettled(
        arriving.map(([, w]) => this.#prepareTask(w.topic, w.partition, w.kind, firstStream)),
      );
      const failed = prepared.find((r) => r.status === 'rejected');
      if (failed !== undefined || this.#joined !== joined) {
        for (const r of prepared) if (r.status === 'fulfilled') await r.value.task.close();
        if (failed !== undefined) throw (failed as PromiseRejectedResult).reason;
        return; // the group moved on meanwhile: next round
      }
      for (const r of prepared) {
        const { task, restore } = (r as PromiseFulfilledResult<Prepared>).value;
        this.#tasks.set(task.split, task);
        void task.ended.then((reason) => {
          if (reason !== undefined) this.#kick();
        });
        if (task.kind === 'forward') void this.#forwardLoop(task);
        else await this.#startJob(task, restore, await pipelines(), options);
      }
    }
    if (changed) await this.#openStream(topics);
    if (!changed && joined.generation === this.#reported) return;
    this.#reported = joined.generation;
    options.onAssigned?.(
      [...this.#tasks.values()]
        .filter((t) => t.kind === 'state')
        .map((t) => t.partition)
        .sort((a, b) => a - b),
      joined.generation,
    );
  }

  /** A task for an arriving partition: fenced, at its committed offset, its key group read from the changelog. */
  async #prepareTask(
    topic: string,
    partition: number,
    kind: 'state' | 'forward',
    firstStream: number,
  ): Promise<Prepared> {
    const task = new PartitionTask({
      topic,
      partition,
      kind,
      applicationId: this.applicationId,
      clientId: `${this.applicationId}-${this.#instanceId}-producer`,
      brokers: this.#brokers,
      groupId: this.applicationId,
      coordinator: async () => (await this.#consumer!.findGroupCoordinator()) as number,
      firstStream,
    });
    try {
      // Fencing first: the previous owner's open transaction is aborted (or completes) before the
      // offset and the state are read, so both are final.
      await task.fence();
      task.next = await this.#committedOffset(topic, partition);
      if (kind === 'forward') return { task, restore: undefined };
      const restore = await readChangelog({
        bootstrapBrokers: this.#brokers,
        topic: this.changelogTopic,
        partitions: [partition],
        maxParallelism: this.#partitions,
        pipeline: this.#pipelineName,
        clientId: `${this.applicationId}-${this.#instanceId}`,
      });
      const marks = restore.extras.get(partition);
      if (marks !== undefined) {
        const pairs = JSON.parse(marks.toString('utf8')) as [string, string][];
        task.marks = new Map(pairs.map(([split, o]) => [split, BigInt(o)]));
      }
      return { task, restore };
    } catch (e) {
      await task.close();
      throw e;
    }
  }

  /** Starts the job of a key-group partition, restored from its changelog. */
  async #startJob(
    task: PartitionTask,
    restore: Prepared['restore'],
    pipeline: Pipeline,
    options: KafkaAppRunOptions,
  ): Promise<void> {
    const store = new ChangelogStore({
      topic: this.changelogTopic,
      send: (messages) => task.send(messages as TxMessage[]),
      commit: () => task.commit(),
      owned: () => new Set([task.partition]),
      written: restore!.written,
      extras: () =>
        task.marksAtBarrier === undefined ? new Map() : new Map([[task.partition, task.marksAtBarrier]]),
    });
    task.idle = () => store.idle();
    const job = pipeline.createJob({
      parallelism: 1,
      maxParallelism: this.#partitions,
      stateBackend: new HeapStateBackend(this.#partitions),
      checkpoints: { storage: store, intervalMs: this.#intervalMs },
      ...(restore!.loaded === undefined ? {} : { restoreFrom: restore!.loaded }),
      onCheckpoint: (info) => {
        if (task.closed) return;
        options.onCheckpoint?.(info);
        // A misconfiguration (state outside the owned key group) fails the same way every time.
        if (info.error instanceof EddyError && info.error.code === 'EDDY_CONFIG_INVALID') {
          this.#fatal ??= info.error;
          this.#kick();
        }
        if (info.error !== undefined) task.fail(`a commit failed: ${errorText(info.error)}`);
      },
    });
    task.job = job;
    this.#opening = task;
    try {
      await job.start();
    } finally {
      this.#opening = undefined;
    }
    job.done.then(
      () => task.fail('the run ended'),
      (e: unknown) => task.fail(`the run failed: ${errorText(e)}`),
    );
  }

  /**
   * A forwarding task: decodes its partition's records, keys them and sends
   * them to the repartition topic (bytes and timestamp unchanged, the input
   * position in a header), committing its offset with them every interval.
   * Records that cannot be keyed go along marked as rejected, to the key
   * group of their input partition, whose job dead-letters them.
   */
  async #forwardLoop(task: PartitionTask): Promise<void> {
    const config = this.#source!;
    const out = new TxWriter(task);
    let lastCommit = Date.now();
    let dirty = false;
    try {
      while (!task.closed) {
        if (task.backlog() === 0) await waitForRecords(task, 50);
        if (task.closed) break;
        if (task.backlog() > 0) {
          const slice = task.buffer.slice(task.head, task.head + 1000);
          task.head += slice.length;
          if (config.format.prepare !== undefined) await config.format.prepare(slice.map((m) => m.value));
          const messages: TxMessage[] = [];
          for (const m of slice) {
            let rejected: Decoded | undefined;
            let key: Key | undefined;
            const d = this.#decode(m);
            if (!d.ok) rejected = d;
            else {
              try {
                key = config.keyBy!(d.value);
              } catch (e) {
                rejected = {
                  ok: false,
                  code: 'key-failed',
                  reason: `keyBy threw: ${errorText(e)}`,
                  eddyCode: 'EDDY_USER_FUNCTION_FAILED',
                };
              }
            }
            const headers = new Map<Buffer, Buffer>();
            for (const [k, v] of m.headers ?? []) if (k !== undefined && v !== undefined) headers.set(k, v);
            // A Map: with a plain object for headers the client's send never settles (2.12).
            headers.set(SOURCE_HEADER_KEY, Buffer.from(`${m.offset} ${m.topic}:${m.partition}`));
            if (rejected !== undefined && !rejected.ok)
              headers.set(
                REJECT_HEADER_KEY,
                Buffer.from(
                  JSON.stringify([rejected.code, rejected.eddyCode, rejected.reason, String(m.timestamp)]),
                ),
              );
            messages.push({
              topic: this.repartitionTopic,
              ...(key === undefined ? (m.key ? { key: m.key } : {}) : { key: Buffer.from(String(key)) }),
              partition:
                key === undefined ? m.partition % this.#partitions : kafkaPartition(key, this.#partitions),
              value: m.value ?? Buffer.alloc(0),
              timestamp: m.timestamp,
              headers,
            });
          }
          task.taken = slice.at(-1)!.offset + 1n;
          void out.send(messages).catch(() => {});
          dirty = true;
          task.compact();
          this.#maybeResume();
        }
        const draining = task.draining && task.backlog() === 0;
        if (dirty && (draining || Date.now() - lastCommit >= this.#intervalMs)) {
          task.atBarrier = task.taken;
          await task.commit();
          dirty = false;
          lastCommit = Date.now();
        }
        if (draining) break;
      }
    } catch (e) {
      task.fail(`forwarding failed: ${errorText(e)}`);
    } finally {
      task.loopDone();
    }
  }

  /** Stops a task: with `drain`, its job (or forwarding) finishes what it has and commits a last time. */
  async #stopTask(task: PartitionTask, o: { drain: boolean }): Promise<void> {
    if (this.#tasks.get(task.split) === task) this.#tasks.delete(task.split);
    if (task.closed) return;
    task.stopping = true;
    if (o.drain) {
      task.draining = true;
      task.wake?.();
      if (task.job !== undefined) {
        task.job.stop();
        await task.job.done.catch(() => {});
      } else await task.loopEnded;
    } else if (task.job !== undefined) {
      await task.job.cancel(new EddyError('EDDY_IO_FAILED', `${task.split} stopped`)).catch(() => {});
      await task.job.done.catch(() => {});
    }
    await task.idle();
    await task.close();
    if (task.job === undefined) await task.loopEnded;
  }

  /**
   * (Re)opens the message stream: each task's partition at the offset after
   * what it has buffered (or its committed offset), other partitions at their
   * end (until a task runs for them).
   * The new stream is opened before the old one is closed, so the consumer
   * stays in the group.
   */
  async #openStream(topics: string[]): Promise<void> {
    const old = this.#stream;
    const id = ++this.#streamId;
    const offsets = [...this.#tasks.values()].map((t) => ({
      topic: t.topic,
      partition: t.partition,
      offset: t.next,
    }));
    const consuming = this.#consumer!.consume({
      topics,
      autocommit: false,
      mode: MessagesStreamModes.MANUAL,
      offsets,
      // Partitions without a task yet are read from their end: their records would be dropped, and
      // reading a long backlog only to drop it slows the restores running meanwhile.
      fallbackMode: MessagesStreamFallbackModes.LATEST,
    });
    let stream: MessagesStream<Buffer, Buffer, Buffer, Buffer>;
    try {
      stream = (await consuming) as MessagesStream<Buffer, Buffer, Buffer, Buffer>;
    } catch (e) {
      // Joining failed for good (the brokers are away): the next round starts over with a new consumer.
      this.#consumerLost = true;
      throw e;
    }
    this.#streamBroken = false;
    if (old !== undefined) {
      old.removeAllListeners('data');
      await old.close().catch(() => {});
    }
    this.#stream = stream;
    const bufferSize = this.#source!.bufferSize;
    stream.on('data', (m: Message) => {
      if (this.#stream !== stream) return;
      const task = this.#tasks.get(`${m.topic}:${m.partition}`);
      // Only a stream opened after the task started reads its partition from where the task is.
      if (task === undefined || task.closed || id < task.firstStream || m.offset < task.next) return;
      task.next = m.offset + 1n;
      task.buffer.push(m);
      if (task.backlog() >= bufferSize && !stream.isPaused()) stream.pause();
      task.wake?.();
    });
    stream.on('error', () => {
      if (this.#stream !== stream) return;
      // The tasks keep what they buffered; the next round opens a new stream where they are.
      this.#streamBroken = true;
      this.#kick();
    });
  }

  #maybeResume(): void {
    const stream = this.#stream;
    if (stream === undefined || !stream.isPaused()) return;
    const half = this.#source!.bufferSize / 2;
    for (const t of this.#tasks.values()) if (t.backlog() >= half) return;
    stream.resume();
  }

  /**
   * The committed offset of a partition, once no transaction that commits
   * an offset for it is pending (the broker answers "unstable" until then);
   * the earliest offset if none was committed.
   */
  async #committedOffset(topic: string, partition: number): Promise<bigint> {
    const admin = new Admin({ clientId: `${this.applicationId}-offsets`, bootstrapBrokers: this.#brokers });
    try {
      const deadline = Date.now() + 60_000;
      for (;;) {
        try {
          const groups = await admin.listConsumerGroupOffsets({
            groups: [
              { groupId: this.applicationId, topics: [{ name: topic, partitionIndexes: [partition] }] },
            ],
            requireStable: true,
          });
          for (const t of groups[0]?.topics ?? [])
            for (const p of t.partitions)
              if (t.name === topic && p.partitionIndex === partition && p.committedOffset >= 0n)
                return p.committedOffset;
          break;
        } catch (e) {
          if (Date.now() > deadline || !/UNSTABLE_OFFSET_COMMIT/.test(errorText(e))) throw e;
          await sleep(50);
        }
      }
      const earliest = await this.#consumer!.listOffsets({ topics: [topic], timestamp: -2n });
      return earliest.get(topic)?.[partition] ?? 0n;
    } finally {
      await admin.close().catch(() => {});
    }
  }
}

type Prepared = { task: PartitionTask; restore: Awaited<ReturnType<typeof readChangelog>> | undefined };

/** Waits until the task has records, is woken, or `ms` pass. */
function waitForRecords(task: PartitionTask, ms: number): Promise<void> {
  return new Promise<void>((resolve) => {
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      task.wake = undefined;
      resolve();
    }
    task.wake = done;
  });
}

/** On a repartition record: `<offset> <topic>:<partition>` of the input record it carries. */
const SOURCE_HEADER = 'eddy.source';
const SOURCE_HEADER_KEY = Buffer.from(SOURCE_HEADER);
/** On a repartition record the forwarder could not key: JSON [code, eddyCode, reason, input timestamp]. */
const REJECT_HEADER = 'eddy.rejected';
const REJECT_HEADER_KEY = Buffer.from(REJECT_HEADER);

interface Forwarded {
  /** The input partition (`topic:partition`) and offset of the record carried. */
  split: string;
  offset: bigint;
  /** The forwarder's JSON [code, eddyCode, reason, input timestamp] when it could not key the record. */
  rejected: string | undefined;
}

/** Where the record a repartition record carries came from (read for every record: no copies). */
function forwardedOf(m: Message): Forwarded | undefined {
  let source: string | undefined;
  let rejected: string | undefined;
  for (const [k, v] of m.headers ?? []) {
    const name = k?.toString();
    if (name === SOURCE_HEADER) source = v?.toString();
    else if (name === REJECT_HEADER) rejected = v?.toString();
  }
  if (source === undefined) return undefined;
  const space = source.indexOf(' ');
  return { split: source.slice(space + 1), offset: BigInt(source.slice(0, space)), rejected };
}

/** A record the forwarder rejected, as it was in its input partition, and why. */
function rejectedInput(
  m: Message,
  f: Forwarded,
): { original: Message; code: string; eddyCode: string; reason: string } {
  const [code, eddyCode, reason, ts] = JSON.parse(f.rejected!) as [string, string, string, string];
  const headers = new Map<Buffer, Buffer>();
  for (const [k, v] of m.headers ?? []) {
    const name = k?.toString();
    if (name !== SOURCE_HEADER && name !== REJECT_HEADER && k !== undefined && v !== undefined)
      headers.set(k, v);
  }
  const colon = f.split.lastIndexOf(':');
  const original = {
    ...m,
    topic: f.split.slice(0, colon),
    partition: Number(f.split.slice(colon + 1)),
    offset: f.offset,
    timestamp: BigInt(ts),
    headers,
  } as Message;
  return { original, code, eddyCode, reason };
}

/** A sink writing into its task's transactions. */
class AppSinkWriter implements SinkWriter<unknown> {
  readonly #o: KafkaAppSinkOptions<unknown>;
  readonly #partitions: number;
  readonly #tx: TxWriter;

  constructor(task: PartitionTask, o: KafkaAppSinkOptions<unknown>, partitions: number) {
    this.#o = o;
    this.#partitions = partitions;
    this.#tx = new TxWriter(task);
  }

  write(values: readonly unknown[]): void | Promise<void> {
    const { key, format, topic } = this.#o;
    const messages = values.map((v): TxMessage => {
      const value = Buffer.from(JSON.stringify(format === undefined ? v : format(v)));
      if (key === undefined) return { topic, value };
      const k = key(v);
      return { topic, key: Buffer.from(String(k)), partition: kafkaPartition(k, this.#partitions), value };
    });
    const sent = this.#tx.send(messages);
    // A failed send also fails the next commit (the writer keeps it); the runtime may not await this one.
    sent.catch(() => {});
    return sent;
  }

  /** At the barrier: everything so far is in the transaction; later output waits for the commit. */
  async preCommit(): Promise<null> {
    await this.#tx.settled();
    this.#tx.seal();
    return null;
  }

  async commit(): Promise<void> {
    this.#tx.unseal();
  }

  flush(): Promise<void> {
    return this.#tx.settled();
  }
}

/** An error's message with its causes (the client nests the broker's error codes). */
function errorText(e: unknown, depth = 0): string {
  if (!(e instanceof Error)) return String(e);
  const parts = [e.message];
  const x = e as Error & { errors?: unknown[]; apiCode?: number; apiId?: string; cause?: unknown };
  if (x.apiId !== undefined) parts.push(`(${x.apiId} ${x.apiCode ?? ''})`);
  if (depth < 3) {
    for (const inner of x.errors ?? []) parts.push(`: ${errorText(inner, depth + 1)}`);
    if (x.cause !== undefined) parts.push(`: ${errorText(x.cause, depth + 1)}`);
  }
  return parts.join(' ');
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
