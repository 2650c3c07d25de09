/**
 * A Kafka application: eddy scaled out over processes that share nothing but a
 * Kafka cluster (no eddy master). Every process runs the same pipeline with the
 * same `applicationId`; the consumer group (that id) spreads the input
 * partitions over them, and partition p of the input is key group p of the
 * pipeline's keyed state.
 *
 * Each checkpoint is one Kafka transaction (changelog.ts): the sinks' output,
 * the changed key groups in the changelog topic, and the consumed offsets. A
 * crash loses only the open transaction, which read_committed consumers never
 * see; the partitions' next owner restores their key groups from the changelog
 * and continues from the committed offsets: exactly-once.
 *
 * When the group's assignment changes (a process joins, leaves or dies), this
 * process abandons its open transaction, goes back to the last commit, reads
 * the state of the partitions it now owns and starts again. Zombies are fenced
 * by the group: a process that was replaced commits offsets with an old
 * generation and the broker refuses its transaction.
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
import { randomUUID } from 'node:crypto';
import {
  Admin,
  Consumer,
  FetchIsolationLevels,
  type Message,
  type MessagesStream,
  MessagesStreamFallbackModes,
  MessagesStreamModes,
  ProduceAcks,
  Producer,
} from '@platformatic/kafka';

type Transaction = Awaited<ReturnType<Producer['beginTransaction']>>;

import type { Pipeline } from '../../api/pipeline.ts';
import type { DecodeLimits } from '../../codec/index.ts';
import { configError, EddyError } from '../../errors/index.ts';
import type { CheckpointInfo, Job } from '../../runtime/job.ts';
import { HeapStateBackend } from '../../state/heap.ts';
import { type Key, keyGroupOf } from '../../state/key-groups.ts';
import type { Sink, SinkWriter, Source, SourceBatch, SourceReader } from '../types.ts';
import { committedReads } from './aborted.ts';
import { brokersOf } from './brokers.ts';
import { ChangelogStore, readChangelog, type Written } from './changelog.ts';
import { deadLetterMessage } from './dead-letters.ts';
import { decodeValue, type KafkaFormat, resolveFormat } from './formats.ts';

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
  /** This process's id in the transactional id; default random. A restart with the same id fences the old one at once. */
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
  /** Called when the process goes back to its last commit and starts again, with why. */
  readonly onRestart?: (reason: string) => void;
  /** Called when an incarnation starts: the key groups (partitions) this process owns and the group generation. */
  readonly onAssigned?: (partitions: readonly number[], generation: number) => void;
}

type Offsets = Map<string, Message>;

export function kafkaApp(options: KafkaAppOptions): KafkaApp {
  return new KafkaApp(options);
}

export class KafkaApp {
  readonly applicationId: string;
  readonly #brokers: string[];
  readonly #intervalMs: number;
  readonly #reconnectTimeoutMs: number;
  readonly #sessionTimeoutMs: number;
  readonly #transactionalId: string;
  readonly changelogTopic: string;
  #source:
    | {
        topics: string[];
        bufferSize: number;
        /** The topic whose partitions are the key groups: the repartition topic, or the one input topic. */
        keyed: string;
        repartition: boolean;
        deadLetterTopic: string | undefined;
      }
    | undefined;
  readonly repartitionTopic: string;
  /** Writes re-keyed input records to the repartition topic, in the transactions. */
  #forwarder: TxWriter | undefined;
  /** Writes dead letters to the dead-letter topic, in the transactions. */
  #dlq: { topic: string; writer: TxWriter } | undefined;
  /**
   * Per repartition partition: the highest offset taken so far from each input
   * partition (`topic:partition`). A repartition record at or below it is a
   * copy that was already taken, and is skipped: a second guard behind the
   * read_committed filter (aborted.ts; the client's own filter let copies from
   * aborted transactions through). Checkpointed with the partition's state
   * (changelog record `x`), as of the barrier.
   */
  #marks = new Map<number, Map<string, bigint>>();
  #marksAtBarrier = new Map<number, Uint8Array>();
  readonly #sinks = new Set<AppSinkWriter>();

  // Live while running.
  #consumer: Consumer | undefined;
  #stream: MessagesStream<Buffer, Buffer, Buffer, Buffer> | undefined;
  #producer: Producer | undefined;
  #tx: Promise<Transaction> | undefined;
  #buffer: Message[] = [];
  #head = 0;
  #wake: (() => void) | undefined;
  #streamError: Error | undefined;
  #generation = -1;
  #owned = new Set<number>();
  /** The last record handed out per partition, and as of the last checkpoint barrier. */
  #handedOut: Offsets = new Map();
  #atBarrier: Offsets = new Map();
  #restart: ((reason: string) => void) | undefined;
  #partitions = 0;
  #fatal: Error | undefined;
  /** The last completed assignment, from the consumer's join event. */
  #joined: { generation: number; assignments: { topic: string; partitions: number[] }[] } | undefined;

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
    this.#transactionalId = `${this.applicationId}-${options.instanceId ?? randomUUID()}`;
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
    if (
      options.deadLetterTopic !== undefined &&
      (typeof options.deadLetterTopic !== 'string' || options.deadLetterTopic === '')
    ) {
      throw configError(
        'app.source deadLetterTopic must be a topic name',
        options.deadLetterTopic,
        'pass e.g. { deadLetterTopic: "orders-dlq" } or leave it out',
      );
    }
    this.#source = {
      topics: [...options.topics],
      bufferSize: options.bufferSize ?? 10_000,
      keyed: keyBy === undefined ? options.topics[0]! : this.repartitionTopic,
      repartition: keyBy !== undefined,
      deadLetterTopic: options.deadLetterTopic,
    };
    const format = resolveFormat(options.format, options.limits);
    const parse = options.parse;
    const dlqTopic = options.deadLetterTopic;
    const app = this;
    return {
      kind: 'kafka-app',
      splittable: true,
      open(ctx): SourceReader<T> {
        if (dlqTopic !== undefined && app.#dlq === undefined)
          app.#dlq = { topic: dlqTopic, writer: new TxWriter(app) };
        const reject = (m: Message, code: string, reason: string, eddyCode: string) => {
          const where = `${m.topic}[${m.partition}]@${m.offset}`;
          ctx.deadLetter(eddyCode, `${where}: ${reason}`, m.value ?? '');
          const dlq = app.#dlq;
          if (dlq !== undefined)
            void dlq.writer
              .send([deadLetterMessage(dlq.topic, { message: m, code, reason }) as TxMessage])
              .catch(() => {});
        };
        const decode = (m: Message): { ok: true; value: T } | { ok: false } => {
          const r = decodeValue(format, parse, m.value);
          if (r.ok) return { ok: true, value: r.value as T };
          reject(m, r.code, r.reason, 'EDDY_DECODE_FAILED');
          return { ok: false };
        };
        const rejectKey = (m: Message, e: unknown) =>
          reject(m, 'key-failed', `keyBy threw: ${errorText(e)}`, 'EDDY_USER_FUNCTION_FAILED');
        let stopped = false;
        ctx.signal.addEventListener('abort', () => {
          stopped = true;
          app.#wake?.();
        });
        return {
          async poll(max): Promise<SourceBatch<T> | null> {
            if (stopped) return null;
            if (app.#streamError !== undefined) throw app.#streamError;
            if (app.#head >= app.#buffer.length) {
              await new Promise<void>((resolve) => {
                const t = setTimeout(done, 50);
                function done() {
                  clearTimeout(t);
                  app.#wake = undefined;
                  resolve();
                }
                app.#wake = done;
              });
              if (app.#head >= app.#buffer.length) return { values: [] };
            }
            if (format.prepare !== undefined) {
              // Whatever the format needs for these records (Avro schemas), fetched once per batch.
              const slice = app.#buffer.slice(app.#head, app.#head + max).map((m) => m.value);
              await format.prepare(slice);
            }
            const next = app.#buffer[app.#head]!;
            if (keyBy !== undefined && next.topic !== app.repartitionTopic)
              return app.#forward(max, decode, keyBy, rejectKey);
            return app.#take(max, decode);
          },
          position() {
            // At the barrier: these offsets go into the checkpoint's transaction, and so do the
            // re-keyed records forwarded so far; later ones wait for the next transaction.
            app.#atBarrier = new Map(app.#handedOut);
            app.#forwarder?.seal();
            app.#dlq?.writer.seal();
            app.#marksAtBarrier = new Map(
              [...app.#marks].map(([p, marks]) => [
                p,
                Buffer.from(JSON.stringify([...marks].map(([split, o]) => [split, String(o)]))),
              ]),
            );
            const out: Record<string, string> = {};
            for (const [split, m] of app.#atBarrier) out[split] = String(m.offset + 1n);
            return out;
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
        const admin = new Admin({ clientId: `${app.applicationId}-sink`, bootstrapBrokers: app.#brokers });
        let partitions: number;
        try {
          const meta = await admin.metadata({ topics: [options.topic], autocreateTopics: true });
          partitions = meta.topics.get(options.topic)?.partitionsCount ?? 1;
        } finally {
          await admin.close().catch(() => {});
        }
        const writer = new AppSinkWriter(app, options as KafkaAppSinkOptions<unknown>, partitions);
        app.#sinks.add(writer);
        return writer as SinkWriter<T>;
      },
    };
  }

  /** The open transaction of the current checkpoint (begun on first use). Internal. */
  transaction(): Promise<Transaction> {
    if (this.#tx === undefined) {
      const producer = this.#producer;
      if (producer === undefined)
        throw new EddyError('EDDY_STATE_INVALID', 'the Kafka application is not running');
      const begun = producer.beginTransaction();
      this.#tx = begun;
      // A failed begin is not kept: the next call (after the roll-back) begins afresh.
      begun.catch(() => {
        if (this.#tx === begun) this.#tx = undefined;
      });
    }
    return this.#tx;
  }

  /**
   * Sends into the current transaction. Every send of every writer goes
   * through one queue: the client adds a partition to the transaction on the
   * first send to it, and two sends racing to do that make the broker abort
   * the transaction (TRANSACTION_ABORTABLE). Internal.
   */
  sendInTransaction(messages: readonly TxMessage[]): Promise<void> {
    const epoch = this.#epoch;
    const sent = this.#sends.then(async () => {
      // Queued by an incarnation that has since gone back to its last commit: void.
      if (epoch !== this.#epoch) return;
      const tx = await this.transaction();
      if (epoch !== this.#epoch) return;
      await tx.send({ messages: messages as never });
    });
    this.#sends = sent.catch(() => {});
    return sent;
  }

  #sends: Promise<unknown> = Promise.resolve();
  /** Bumped by every roll-back, so that sends queued before it are dropped. */
  #epoch = 0;

  /** Adds the offsets at the barrier and commits. */
  async #commit(tx: Transaction): Promise<void> {
    const consumer = this.#consumer!;
    await this.#forwarder?.settled();
    await this.#dlq?.writer.settled();
    await this.#sends;
    if (this.#atBarrier.size > 0) {
      await tx.addConsumer(consumer as unknown as Consumer);
      for (const m of this.#atBarrier.values()) await tx.addOffset(m);
    }
    await tx.commit();
    this.#tx = undefined;
    this.#forwarder?.unseal();
    this.#dlq?.writer.unseal();
  }

  /**
   * Sends up to `max` buffered input records of one partition to the
   * repartition topic, keyed and partitioned by `keyBy`, with their bytes and
   * timestamps unchanged. The pipeline sees them when they come back from
   * there; this poll hands out nothing.
   */
  #forward<T>(
    max: number,
    decode: (m: Message) => { ok: true; value: T } | { ok: false },
    keyBy: (value: T) => Key,
    rejectKey: (m: Message, e: unknown) => void,
  ): SourceBatch<T> {
    const buffer = this.#buffer;
    const first = buffer[this.#head]!;
    const out: TxMessage[] = [];
    let last: Message | undefined;
    while (this.#head < buffer.length && out.length < max) {
      const m = buffer[this.#head]!;
      if (m.topic !== first.topic || m.partition !== first.partition) break;
      this.#head++;
      last = m;
      const d = decode(m);
      if (!d.ok) continue;
      let key: Key;
      try {
        key = keyBy(d.value);
      } catch (e) {
        rejectKey(m, e);
        continue;
      }
      out.push({
        topic: this.repartitionTopic,
        key: Buffer.from(String(key)),
        partition: kafkaPartition(key, this.#partitions),
        value: m.value ?? Buffer.alloc(0),
        timestamp: m.timestamp,
        // A Map: with a plain object for headers the client's send never settles (2.12).
        headers: new Map([[SOURCE_HEADER_KEY, Buffer.from(`${m.offset} ${m.topic}:${m.partition}`)]]),
      });
    }
    if (last !== undefined) this.#handedOut.set(`${first.topic}:${first.partition}`, last);
    if (out.length > 0) void this.#forwarder!.send(out).catch(() => {});
    this.#compact();
    return { values: [] };
  }

  /** Whether repartition record `m` carries an input record taken before (see #marks); marks it taken. */
  #duplicate(m: Message): boolean {
    const source = sourceOf(m);
    if (source === undefined) return false;
    let marks = this.#marks.get(m.partition);
    if (marks === undefined) this.#marks.set(m.partition, (marks = new Map()));
    const seen = marks.get(source.split);
    if (seen !== undefined && source.offset <= seen) return true;
    marks.set(source.split, source.offset);
    return false;
  }

  #compact(): void {
    if (this.#head > 4096 && this.#head * 2 > this.#buffer.length) {
      this.#buffer = this.#buffer.slice(this.#head);
      this.#head = 0;
    }
    if (this.#stream?.isPaused() && this.#buffer.length - this.#head < this.#source!.bufferSize / 2)
      this.#stream.resume();
  }

  /** Hands out up to `max` buffered records of one partition. */
  #take<T>(max: number, decode: (m: Message) => { ok: true; value: T } | { ok: false }): SourceBatch<T> {
    const buffer = this.#buffer;
    const first = buffer[this.#head]!;
    const split = `${first.topic}:${first.partition}`;
    const values: T[] = [];
    const times: number[] = [];
    let last: Message | undefined;
    while (this.#head < buffer.length && values.length < max) {
      const m = buffer[this.#head]!;
      if (m.topic !== first.topic || m.partition !== first.partition) break;
      this.#head++;
      last = m;
      if (m.topic === this.repartitionTopic && this.#duplicate(m)) continue;
      const d = decode(m);
      if (!d.ok) continue;
      values.push(d.value);
      times.push(Number(m.timestamp));
    }
    if (last !== undefined) this.#handedOut.set(split, last);
    this.#compact();
    return { values, times, split };
  }

  /**
   * Runs the application until `signal` aborts. `build` makes the pipeline
   * (with this app's source and sinks); it is called again whenever the
   * process goes back to its last commit.
   */
  async run(build: () => Pipeline | Promise<Pipeline>, options: KafkaAppRunOptions = {}): Promise<void> {
    const first = await build();
    if (this.#source === undefined) {
      throw configError(
        'the pipeline has no app.source',
        undefined,
        'read the input with app.source({ topics })',
      );
    }
    const { topics: inputs, bufferSize, repartition } = this.#source;
    const topics = repartition ? [...inputs, this.repartitionTopic] : inputs;
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
      const dlq = this.#source.deadLetterTopic;
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

    this.#producer = this.#newProducer();
    this.#forwarder = repartition ? new TxWriter(this) : undefined;
    const consumer = committedReads(
      new Consumer({
        clientId: `${this.applicationId}-consumer`,
        bootstrapBrokers: this.#brokers,
        groupId: this.applicationId,
        autocommit: false,
        isolationLevel: FetchIsolationLevels.READ_COMMITTED,
        sessionTimeout: this.#sessionTimeoutMs,
        rebalanceTimeout: Math.max(this.#sessionTimeoutMs, 60_000),
        heartbeatInterval: Math.min(3000, Math.floor(this.#sessionTimeoutMs / 3)),
      }),
    );
    this.#consumer = consumer;
    consumer.on(
      'consumer:group:join',
      (p: { generationId?: number; assignments?: { topic: string; partitions: number[] }[] }) => {
        // The assignment is taken from this event only: the consumer's own fields change at different
        // moments of a rebalance (the generation at the join, the assignment at the sync), and reading
        // them in between would pair a new generation with the old partitions.
        if (p.generationId !== undefined && p.assignments !== undefined)
          this.#joined = { generation: p.generationId, assignments: p.assignments };
        if (p.generationId !== undefined && p.generationId !== this.#generation)
          this.#restart?.(`the group moved to generation ${p.generationId}`);
      },
    );
    consumer.on('consumer:group:rebalance', () => this.#restart?.('the group is rebalancing'));
    // The first stream makes the consumer join the group; every incarnation opens its own (#runOnce).
    await this.#openStream(topics, bufferSize, undefined);

    let pipeline: Pipeline | undefined = first;
    const stop = options.signal;
    try {
      let failingSince: number | undefined;
      let backoff = 250;
      while (!stop?.aborted) {
        let reason: string | undefined;
        try {
          reason = await this.#runOnce(pipeline ?? (await build()), options, () => {
            failingSince = undefined;
            backoff = 250;
          });
        } catch (e) {
          // The brokers are unreachable (or the group is in flux) while starting: try again, for a while.
          failingSince ??= Date.now();
          if (Date.now() - failingSince > this.#reconnectTimeoutMs) throw e;
          reason = `starting failed (${errorText(e)}); trying again in ${backoff} ms`;
          await sleep(backoff);
          backoff = Math.min(backoff * 2, 5000);
        }
        pipeline = undefined;
        if (this.#fatal !== undefined) throw this.#fatal;
        if (reason === undefined) break; // stopped by the signal
        options.onRestart?.(reason);
        await this.#rollBack();
      }
    } finally {
      await this.#stream?.close().catch(() => {});
      await consumer.close(true).catch(() => {});
      await this.#producer.close().catch(() => {});
    }
  }

  /** One incarnation: restore the owned partitions, run until stopped (undefined) or told to go back (the reason). */
  async #runOnce(
    pipeline: Pipeline,
    options: KafkaAppRunOptions,
    started: () => void,
  ): Promise<string | undefined> {
    // Wait for a completed assignment of the current generation.
    const settled = () =>
      this.#joined !== undefined && this.#joined.generation === this.#consumer!.generationId;
    for (let i = 0; !settled() && i < 1200; i++) await sleep(50);
    if (!settled()) throw new EddyError('EDDY_IO_FAILED', 'the consumer group did not settle within 60 s');
    const joined = this.#joined!;
    this.#generation = joined.generation;
    const source = this.#source!;
    const topics = source.repartition ? [...source.topics, this.repartitionTopic] : source.topics;
    const assigned = new Map<string, number[]>();
    for (const a of joined.assignments) {
      if (topics.includes(a.topic))
        assigned.set(
          a.topic,
          [...a.partitions].sort((x, y) => x - y),
        );
    }
    const owned = new Set(assigned.get(source.keyed) ?? []);
    this.#owned = owned;
    // Offsets first, then state: a commit still in flight (a previous owner's) must be complete in both.
    const offsets = await this.#stableOffsets(assigned);
    const { loaded, written, extras } = await readChangelog({
      bootstrapBrokers: this.#brokers,
      topic: this.changelogTopic,
      partitions: [...owned].sort((a, b) => a - b),
      maxParallelism: this.#partitions,
      pipeline: pipeline.name,
      clientId: `${this.applicationId}-${process.pid}`,
    });
    this.#marks = new Map();
    for (const [p, bytes] of extras) {
      const pairs = JSON.parse(bytes.toString('utf8')) as [string, string][];
      this.#marks.set(p, new Map(pairs.map(([split, o]) => [split, BigInt(o)])));
    }
    this.#marksAtBarrier = new Map();
    let restartReason: string | undefined;
    let job: Job | undefined;
    const restarted = new Promise<string>((resolve) => {
      this.#restart = (reason) => {
        if (restartReason !== undefined) return;
        restartReason = reason;
        resolve(reason);
      };
    });
    // A rebalance between reading the assignment and now: go round again.
    if (this.#joined !== joined || (this.#consumer!.generationId ?? -1) !== this.#generation)
      this.#restart!('the group moved on during the restore');
    if (restartReason !== undefined) return restartReason;
    await this.#openStream(topics, source.bufferSize, offsets);
    const store = new ChangelogStore({
      topic: this.changelogTopic,
      send: (messages) => this.sendInTransaction(messages as TxMessage[]),
      commit: async () => this.#commit(await this.transaction()),
      owned: () => this.#owned,
      written: written as Written,
      extras: () => this.#marksAtBarrier,
    });
    job = pipeline.createJob({
      parallelism: 1,
      maxParallelism: this.#partitions,
      stateBackend: new HeapStateBackend(this.#partitions),
      checkpoints: { storage: store, intervalMs: this.#intervalMs },
      ...(loaded === undefined ? {} : { restoreFrom: loaded }),
      onCheckpoint: (info) => {
        options.onCheckpoint?.(info);
        // A misconfiguration (state outside the owned key groups) fails the same way every time.
        if (info.error instanceof EddyError && info.error.code === 'EDDY_CONFIG_INVALID')
          this.#fatal ??= info.error;
        if (info.error !== undefined) this.#restart?.(`a commit failed: ${errorText(info.error)}`);
      },
    });
    const onAbort = () => job?.stop();
    options.signal?.addEventListener('abort', onAbort, { once: true });
    try {
      await job.start();
      started();
      options.onAssigned?.(
        [...owned].sort((a, b) => a - b),
        this.#generation,
      );
      const outcome = await Promise.race([
        job.done.then(
          () => undefined,
          (e: unknown) => `the run failed: ${errorText(e)}`,
        ),
        restarted,
      ]);
      if (outcome === undefined) return undefined;
      await job.cancel(new EddyError('EDDY_IO_FAILED', outcome)).catch(() => {});
      await job.done.catch(() => {});
      await store.idle();
      return outcome;
    } finally {
      options.signal?.removeEventListener('abort', onAbort);
      this.#restart = undefined;
    }
  }

  /** Back to the last commit: abandon the open transaction and fetch again from the committed offsets. */
  async #rollBack(): Promise<void> {
    this.#epoch++;
    const tx = this.#tx;
    this.#tx = undefined;
    if (tx !== undefined) {
      try {
        const t = await tx;
        if (!t.completed) await t.abort();
      } catch {
        // Whatever state it is in, the new producer below fences it and aborts what it left open.
      }
    }
    // A new producer with the same transactional id, always: after an ambiguous failure the old one's
    // state is unknown, and even after a clean abort the client would re-initialise with a producer
    // epoch the broker has since bumped (transactions v2), which the broker refuses as fenced.
    await this.#producer?.close().catch(() => {});
    this.#producer = this.#newProducer();
    for (const s of this.#sinks) s.reset();
    this.#forwarder?.reset();
    if (this.#forwarder !== undefined) this.#forwarder = new TxWriter(this);
    this.#dlq?.writer.reset();
    if (this.#dlq !== undefined) this.#dlq = { topic: this.#dlq.topic, writer: new TxWriter(this) };
    this.#sinks.clear();
    this.#handedOut = new Map();
    this.#atBarrier = new Map();
    // Anything a writer of the old incarnation began in between is void too.
    this.#tx = undefined;
    this.#sends = Promise.resolve();
  }

  /**
   * The committed offsets of the owned partitions, once no transaction that
   * commits offsets for them is pending (the broker answers "unstable" until
   * then). The consumer's own fetch of committed offsets does not wait for
   * that, and a new owner starting from an offset the previous owner is about
   * to move past would process those records twice.
   */
  async #stableOffsets(
    assigned: ReadonlyMap<string, number[]>,
  ): Promise<{ topic: string; partition: number; offset: bigint }[]> {
    const topics = [...assigned.keys()];
    if (topics.length === 0) return [];
    const admin = new Admin({ clientId: `${this.applicationId}-offsets`, bootstrapBrokers: this.#brokers });
    try {
      const deadline = Date.now() + 60_000;
      let committed: Map<string, bigint> | undefined;
      while (committed === undefined) {
        try {
          const groups = await admin.listConsumerGroupOffsets({
            groups: [
              {
                groupId: this.applicationId,
                topics: topics.map((name) => ({ name, partitionIndexes: assigned.get(name)! })),
              },
            ],
            requireStable: true,
          });
          committed = new Map();
          for (const t of groups[0]?.topics ?? [])
            for (const p of t.partitions) committed.set(`${t.name}:${p.partitionIndex}`, p.committedOffset);
        } catch (e) {
          if (Date.now() > deadline || !/UNSTABLE_OFFSET_COMMIT/.test(errorText(e))) throw e;
          await sleep(50);
        }
      }
      // Partitions without a commit start at the beginning.
      const earliest = await this.#consumer!.listOffsets({ topics, timestamp: -2n });
      const out: { topic: string; partition: number; offset: bigint }[] = [];
      for (const topic of topics) {
        for (const partition of assigned.get(topic)!) {
          const c = committed.get(`${topic}:${partition}`) ?? -1n;
          out.push({ topic, partition, offset: c >= 0n ? c : (earliest.get(topic)?.[partition] ?? 0n) });
        }
      }
      return out;
    } finally {
      await admin.close().catch(() => {});
    }
  }

  #newProducer(): Producer {
    return new Producer({
      clientId: `${this.applicationId}-producer`,
      bootstrapBrokers: this.#brokers,
      idempotent: true,
      acks: ProduceAcks.ALL,
      transactionalId: this.#transactionalId,
      // "No producer yet" in InitProducerId is -1/-1. The client's default of 0/0 makes the broker
      // take the request for a stale incarnation of an id that was used before and refuse it as
      // fenced, so a restarted process could never take over its own transactional id.
      producerId: -1n,
      producerEpoch: -1,
      // Right after a commit the broker refuses the next transaction's first send until the commit
      // markers are written (CONCURRENT_TRANSACTIONS); the client retries after retryDelay, whose
      // default of 1 s would be most of a commit interval's latency. Java's producer waits 20 ms.
      retryDelay: 20,
      retries: 50,
    });
  }

  /**
   * (Re)opens the message stream, at `offsets` (or, to join the group, at the
   * committed ones). The new stream is opened before the old one is closed, so
   * the consumer stays in the group. Only records of the owned partitions from
   * this generation of the group are kept: anything else arrives because the
   * group moved on, and this process starts again then anyway.
   */
  async #openStream(
    topics: string[],
    bufferSize: number,
    offsets: { topic: string; partition: number; offset: bigint }[] | undefined,
  ): Promise<void> {
    const old = this.#stream;
    this.#buffer = [];
    this.#head = 0;
    this.#streamError = undefined;
    const stream = (await this.#consumer!.consume({
      topics,
      autocommit: false,
      ...(offsets === undefined
        ? { mode: MessagesStreamModes.COMMITTED, fallbackMode: MessagesStreamFallbackModes.EARLIEST }
        : { mode: MessagesStreamModes.MANUAL, offsets }),
    })) as MessagesStream<Buffer, Buffer, Buffer, Buffer>;
    const generation = this.#generation;
    const owned = new Set(offsets?.map((o) => `${o.topic}:${o.partition}`) ?? []);
    if (old !== undefined) {
      old.removeAllListeners('data');
      await old.close().catch(() => {});
    }
    this.#stream = stream;
    stream.on('data', (m: Message) => {
      if (this.#stream !== stream || offsets === undefined) return;
      const meta = m.metadata as { consumer?: { generationId?: number } } | undefined;
      if (!owned.has(`${m.topic}:${m.partition}`) || meta?.consumer?.generationId !== generation) return;
      this.#buffer.push(m);
      if (this.#buffer.length - this.#head >= bufferSize && !stream.isPaused()) stream.pause();
      this.#wake?.();
    });
    stream.on('error', (e: Error) => {
      this.#streamError = e;
      this.#wake?.();
    });
  }
}

type TxMessage = {
  topic: string;
  key?: Buffer;
  partition?: number;
  value: Buffer;
  timestamp?: bigint;
  headers?: Map<Buffer, Buffer>;
};

/** On a repartition record: `<offset> <topic>:<partition>` of the input record it carries. */
const SOURCE_HEADER = 'eddy.source';
const SOURCE_HEADER_KEY = Buffer.from(SOURCE_HEADER);

/** The input position a repartition record carries, or undefined. */
function sourceOf(m: Message): { split: string; offset: bigint } | undefined {
  for (const [k, v] of m.headers ?? []) {
    if (k?.toString() !== SOURCE_HEADER || v === undefined || v === null) continue;
    const text = v.toString();
    const space = text.indexOf(' ');
    return { offset: BigInt(text.slice(0, space)), split: text.slice(space + 1) };
  }
  return undefined;
}

/**
 * Sends into the application's current transaction, in order. Between a
 * checkpoint's barrier (`seal`) and its commit (`unseal`) new messages are held
 * back: they belong to the next transaction.
 */
class TxWriter {
  readonly #app: KafkaApp;
  #sending: Promise<unknown> = Promise.resolve();
  #failure: unknown;
  #sealed = false;
  #held: TxMessage[][] = [];
  #dead = false;

  constructor(app: KafkaApp) {
    this.#app = app;
  }

  send(messages: TxMessage[]): Promise<void> {
    if (this.#failure !== undefined) return Promise.reject(this.#failure);
    if (this.#sealed) {
      this.#held.push(messages);
      return Promise.resolve();
    }
    const sent = this.#sending.then(async () => {
      if (this.#dead) return;
      await this.#app.sendInTransaction(messages);
    });
    this.#sending = sent.catch((e: unknown) => {
      this.#failure ??= e;
    });
    return sent;
  }

  /** Everything sent so far is in the transaction (or the first failure is thrown). */
  async settled(): Promise<void> {
    await this.#sending;
    if (this.#failure !== undefined) throw this.#failure;
  }

  seal(): void {
    this.#sealed = true;
  }

  /** The transaction committed: what was held goes into the next one. */
  unseal(): void {
    this.#sealed = false;
    const held = this.#held;
    this.#held = [];
    for (const messages of held) void this.send(messages).catch(() => {});
  }

  /** The application went back to its last commit: drop everything. */
  reset(): void {
    this.#dead = true;
    this.#held = [];
  }
}

/** A sink writing into the application's transactions. */
class AppSinkWriter implements SinkWriter<unknown> {
  readonly #o: KafkaAppSinkOptions<unknown>;
  readonly #partitions: number;
  readonly #tx: TxWriter;

  constructor(app: KafkaApp, o: KafkaAppSinkOptions<unknown>, partitions: number) {
    this.#o = o;
    this.#partitions = partitions;
    this.#tx = new TxWriter(app);
  }

  write(values: readonly unknown[]): void | Promise<void> {
    const { key, format, topic } = this.#o;
    const messages = values.map((v): TxMessage => {
      const value = Buffer.from(JSON.stringify(format === undefined ? v : format(v)));
      if (key === undefined) return { topic, value };
      const k = key(v);
      return { topic, key: Buffer.from(String(k)), partition: kafkaPartition(k, this.#partitions), value };
    });
    return this.#tx.send(messages);
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

  reset(): void {
    this.#tx.reset();
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
