/**
 * The exactly-once Kafka sink of the embedded runtime (Flink's KafkaSink
 * with `DeliveryGuarantee.EXACTLY_ONCE`), on the two-phase commit contract
 * of `core/connector.ts` and @platformatic/kafka's transactional producer.
 *
 * **The protocol.** Records are encoded as they are written and kept in
 * memory per checkpoint epoch. `preCommit(c)` closes the epoch and returns
 * every epoch not yet committed — that goes into checkpoint c, so the
 * checkpoint is the write-ahead log (as `postgresSink` does). `commit(c)`,
 * once the checkpoint is durable, produces those records in ONE Kafka
 * transaction of the producer `transactionalId`, together with a *commit
 * marker*: an offset committed in the same transaction for the group
 * `markerGroup` (default `eddy-sink-<transactionalId>`) on partition 0 of
 * the topic, whose value is `run × 2^32 + c`. Whether an epoch's records
 * are in the topic is therefore one stable offset fetch: its id ≤ the
 * marker's checkpoint id, for the same run.
 *
 * Why not resume the open transaction after a crash, as Flink does: this
 * client cannot take over another producer's transaction (it has no way to
 * start from a stored producer id and epoch), and a resumed transaction is
 * lost anyway when the broker aborts it after `transaction.timeout.ms`.
 * Here a transaction is open only while `commit` runs, and its content can
 * always be produced again from the checkpoint. The crash windows:
 *
 * - before checkpoint c is durable (also after `preCommit(c)`): nothing of
 *   epoch c was produced; the run resumes from c−1 and recomputes it.
 * - after c is durable, before or during the commit's transaction: the
 *   restored writer initialises the transactional id, which aborts the
 *   transaction the dead one left open (or waits for its commit to finish)
 *   and fences it; it then reads the marker with `requireStable` and
 *   produces the epochs after it, with the marker, in a new transaction:
 *   once.
 * - after the transaction committed, before the run learned of it: the
 *   marker records c, so nothing is produced again: never twice. A commit
 *   whose outcome is unknown (the answer to EndTxn lost) is settled the
 *   same way before the next one.
 * - a fresh start (no checkpoint) takes the sink over: it records
 *   `run + 1` in an empty transaction when it opens, fencing any writer of
 *   an older run. Resuming a checkpoint of an older run after that, or an
 *   older checkpoint of the same run than the marker records (a savepoint
 *   taken before later commits), would produce records twice, so the sink
 *   refuses to open and says so. A marker that is gone (the group deleted,
 *   or expired after `offsets.retention.minutes` — the writer refreshes it
 *   hourly while it runs) is refused too.
 *
 * **The guarantee**, for consumers with `isolation.level=read_committed`:
 * every record the pipeline writes appears exactly once, in the order
 * written (per partition; a key always goes to the same partition), across
 * any number of crashes and restores from the latest checkpoint, at
 * visibility latency ≈ checkpoint interval + one commit. `read_uncommitted`
 * consumers can see records of aborted transactions.
 * `transactionTimeoutMs` bounds one commit (producing an epoch and
 * committing), not the checkpoint interval: unlike Flink's KafkaSink, an
 * interval or an outage longer than the broker's timeout loses nothing. It
 * must not exceed the broker's `transaction.max.timeout.ms` (15 min by
 * default); a transaction left open by a crash holds back read_committed
 * consumers of its partitions (the last stable offset) until the restored
 * writer fences it or the timeout aborts it.
 *
 * The cost: an epoch's encoded records are held in memory and stored in the
 * checkpoint until they commit, so checkpoint often when the output is
 * large. One writer per `transactionalId`: sinks run in one subtask, and two
 * pipelines (or two sinks) sharing the id fence each other. A run without
 * checkpoints commits each batch in a transaction of its own: atomic per
 * batch, at-least-once across a crash (there is no checkpoint to replay
 * from).
 */
import { Admin, ProduceAcks, Producer } from '@platformatic/kafka';
import type { Sink, SinkContext, SinkWriter } from '../../core/connector.ts';
import { EddyError } from '../../errors/index.ts';
import { type OptionsSchema, resolveOptions } from '../options.ts';
import { brokersOf } from './brokers.ts';
import { hasKafkaError } from './errors.ts';
import {
  aloneBytes,
  type CreateTopicOptions,
  checkCreateTopic,
  fitsAlone,
  sinkTopic,
  splitByLimit,
} from './topics.ts';

const OWNER = 'kafkaTransactionalSink';
/** The marker's value is `run * RUN + checkpointId`: checkpoint ids stay below 2^32. */
const RUN = 2n ** 32n;
/** An idle writer still commits its marker this often, so the group's offsets do not expire. */
const MARKER_REFRESH_MS = 3_600_000;
/** Kafka's own rule for topic names; transactional and group ids are kept to the same characters. */
const ID = /^[A-Za-z0-9._-]{1,200}$/;

export interface KafkaTransactionalSinkOptions<T> {
  /** The topic written. */
  readonly topic: string;
  /**
   * The producer's transactional id: stable across restarts of the pipeline
   * (the restored writer fences the old one by it) and unique per sink.
   */
  readonly transactionalId: string;
  /** Where the commit marker is kept (an offset of this group). Default `eddy-sink-<transactionalId>`. */
  readonly markerGroup?: string;
  readonly brokers?: readonly string[];
  /** The record's key (partitioning: a key stays in one partition, in order); default none. */
  readonly key?: (value: T) => string;
  /** Turns a record into the JSON value written; default the record itself. */
  readonly format?: (value: T) => unknown;
  /** Creates the topic if it does not exist; without it a missing topic fails the sink when it opens. */
  readonly createTopic?: CreateTopicOptions;
  /** The broker aborts a transaction open longer than this (one commit), ms. Default 60,000. */
  readonly transactionTimeoutMs?: number;
}

const SCHEMA = {
  topic: { type: 'string', required: true, doc: 'the topic written', example: '"results"' },
  transactionalId: {
    type: 'string',
    required: true,
    pattern: ID,
    rule: 'must be 1-200 letters, digits, ".", "_" or "-"',
    doc: 'the transactional id: stable across restarts, unique per sink',
    example: '"orders-relay"',
  },
  markerGroup: {
    type: 'string',
    pattern: ID,
    rule: 'must be 1-200 letters, digits, ".", "_" or "-"',
    doc: 'the group whose offset records the last committed checkpoint',
    example: '"eddy-sink-orders-relay"',
  },
  brokers: { type: 'strings', doc: 'bootstrap brokers host:port', example: '["127.0.0.1:9092"]' },
  key: { type: 'function', doc: "the record's key", example: '(r) => r.id' },
  format: { type: 'function', doc: 'the JSON value written', example: '(r) => ({ id: r.id })' },
  createTopic: {
    type: 'any',
    doc: 'create the topic when missing',
    example: '{ partitions: 4 }',
  },
  transactionTimeoutMs: {
    type: 'integer',
    min: 1000,
    max: 900_000,
    default: 60_000,
    doc: 'how long one commit may keep its transaction open',
    example: '60000',
  },
} as const satisfies OptionsSchema<KafkaTransactionalSinkOptions<unknown>>;

/** One checkpoint epoch's records, encoded (stored in the checkpoint). */
interface Epoch {
  readonly id: number;
  readonly keys: (string | null)[];
  readonly values: string[];
}

/** What `preCommit` returns: every epoch not yet committed, under the run that wrote them. */
interface Committable {
  readonly run: number;
  readonly checkpointId: number;
  readonly epochs: readonly Epoch[];
}

type Message = { topic: string; key?: Buffer; value: Buffer };

/**
 * Writes records as JSON to a Kafka topic exactly once for read_committed
 * consumers: each checkpoint's output in one transaction after the
 * checkpoint is durable, with a commit marker that makes a restored run
 * produce exactly what is missing (see the file's header for the protocol
 * and the guarantee).
 *
 * @example
 * ```ts
 * orders.sink(kafkaTransactionalSink<Order>({
 *   topic: 'orders', transactionalId: 'orders-relay', key: (o) => o.customer,
 * }));
 * await p.run({ checkpoints: { dir: './checkpoints', intervalMs: 1000 }, resumeFrom: 'latest' });
 * ```
 */
export function kafkaTransactionalSink<T>(options: KafkaTransactionalSinkOptions<T>): Sink<T> {
  const o = resolveOptions(OWNER, SCHEMA, options);
  checkCreateTopic(OWNER, o.createTopic);
  const bootstrapBrokers = brokersOf(o.brokers);
  return {
    kind: 'kafka',
    guarantee: 'exactly-once',
    messaging: { system: 'kafka', destination: o.topic },
    async open(ctx) {
      const w = new TxWriter<T>(o, bootstrapBrokers, ctx);
      try {
        await w.open();
      } catch (e) {
        await w.close();
        throw e;
      }
      return w;
    },
  };
}

class TxWriter<T> implements SinkWriter<T> {
  readonly #o: KafkaTransactionalSinkOptions<T> & { transactionTimeoutMs: number };
  readonly #brokers: string[];
  readonly #ctx: SinkContext;
  readonly #group: string;
  readonly #admin: Admin;
  #limit = 0;
  #producer: Producer | undefined;
  #coordinator: number | undefined;
  /** This run's number (the marker's high bits) and the last checkpoint its marker records. */
  #run = 0;
  #committedUpTo = 0;
  /** Set when a transaction failed: whether it committed is settled before the next one. */
  #uncertain = false;
  #lastTx = 0;
  #current: Epoch = { id: Number.NaN, keys: [], values: [] };
  /** Closed epochs whose commit has not succeeded yet, oldest first. */
  #uncommitted: Epoch[] = [];

  constructor(
    o: KafkaTransactionalSinkOptions<T> & { transactionTimeoutMs: number },
    brokers: string[],
    ctx: SinkContext,
  ) {
    this.#o = o;
    this.#brokers = brokers;
    this.#ctx = ctx;
    this.#group = o.markerGroup ?? `eddy-sink-${o.transactionalId}`;
    this.#admin = new Admin({ clientId: `eddy-${ctx.stepId}-admin`, bootstrapBrokers: brokers });
  }

  async open(): Promise<void> {
    const info = await sinkTopic(this.#admin, OWNER, this.#o.topic, this.#brokers, this.#o.createTopic);
    this.#limit = info.maxMessageBytes;
    if (!this.#ctx.checkpointing) return;
    const marker = await this.#fence();
    const restored = this.#ctx.restored as Committable | undefined;
    if (restored === undefined) {
      // A fresh start takes the sink over: a writer of an older run can no longer commit.
      this.#run = marker === undefined ? 1 : Number(marker / RUN) + 1;
      await this.#transact([], BigInt(this.#run) * RUN);
      return;
    }
    checkCommittable(restored, this.#ctx.stepId);
    this.#run = restored.run;
    const r = restored.checkpointId;
    const mRun = marker === undefined ? undefined : Number(marker / RUN);
    const mCp = marker === undefined ? 0 : Number(marker % RUN);
    if (mRun !== restored.run || mCp > r) {
      const why =
        marker === undefined
          ? `the commit marker of sink "${this.#o.transactionalId}" (group "${this.#group}") is gone (deleted, or expired after offsets.retention.minutes)`
          : mRun !== restored.run
            ? `another run of sink "${this.#o.transactionalId}" (run ${mRun}) has written to "${this.#o.topic}" since the run of this checkpoint (run ${restored.run})`
            : `topic "${this.#o.topic}" already holds the output up to checkpoint ${mCp} of sink "${this.#o.transactionalId}", after checkpoint ${r} resumed from`;
      throw new EddyError(
        'EDDY_CHECKPOINT_INVALID',
        `${OWNER}: ${why}; producing its records again could write them twice; resume from the latest checkpoint, or start without a checkpoint (a new run)`,
        { stepId: this.#ctx.stepId, domain: 'user' },
      );
    }
    this.#committedUpTo = mCp;
    this.#uncommitted = restored.epochs.filter((e) => e.id > mCp);
    if (this.#uncommitted.length > 0) await this.#commitUpTo(r);
  }

  write(values: readonly T[], times: readonly number[]): void | Promise<void> {
    const epoch = this.#ctx.checkpointing ? this.#current : { id: 0, keys: [], values: [] };
    const key = this.#o.key;
    const format = this.#o.format;
    const topic = this.#o.topic;
    for (let i = 0; i < values.length; i++) {
      const v = values[i]!;
      const k = key === undefined ? null : key(v);
      const json = JSON.stringify(format === undefined ? v : format(v));
      if (json === undefined)
        throw new EddyError(
          'EDDY_IO_FAILED',
          `${OWNER}: a record has no JSON value (${typeof v}); received ${typeof v} at event time ${times[i]}; pass format: (r) => ({ ... })`,
          { stepId: this.#ctx.stepId, domain: 'user' },
        );
      epoch.keys.push(k);
      epoch.values.push(json);
      if (json.length * 3 > this.#limit - 200) {
        const m = message(topic, k, json);
        if (!fitsAlone(m, this.#limit))
          throw new EddyError(
            'EDDY_IO_FAILED',
            `${OWNER}: a record of ${aloneBytes(m)} bytes is larger than topic "${topic}" allows (max.message.bytes ${this.#limit}); raise the topic's max.message.bytes or make the record smaller`,
            { stepId: this.#ctx.stepId, domain: 'user' },
          );
      }
    }
    if (!this.#ctx.checkpointing) return this.#transact(this.#messages([epoch]), undefined);
  }

  preCommit(checkpointId: number): Committable {
    if (this.#current.values.length > 0)
      this.#uncommitted.push({ id: checkpointId, keys: this.#current.keys, values: this.#current.values });
    this.#current = { id: Number.NaN, keys: [], values: [] };
    return { run: this.#run, checkpointId, epochs: [...this.#uncommitted] };
  }

  async commit(checkpointId: number): Promise<void> {
    if (this.#uncertain) {
      // The last transaction failed somewhere: fence its producer and read what got in.
      const marker = await this.#fence();
      if (marker === undefined || Number(marker / RUN) !== this.#run)
        throw new EddyError(
          'EDDY_STATE_INVALID',
          `${OWNER}: another run of sink "${this.#o.transactionalId}" took over its commit marker (group "${this.#group}"); this writer stops rather than write twice; give concurrent pipelines different transactionalIds`,
          { stepId: this.#ctx.stepId },
        );
      this.#committedUpTo = Math.max(this.#committedUpTo, Number(marker % RUN));
      this.#uncommitted = this.#uncommitted.filter((e) => e.id > this.#committedUpTo);
    }
    await this.#commitUpTo(checkpointId);
  }

  async #commitUpTo(checkpointId: number): Promise<void> {
    const epochs = this.#uncommitted.filter((e) => e.id <= checkpointId && e.id > this.#committedUpTo);
    if (epochs.length === 0 && Date.now() - this.#lastTx < MARKER_REFRESH_MS) return;
    await this.#transact(this.#messages(epochs), BigInt(this.#run) * RUN + BigInt(checkpointId));
    this.#committedUpTo = checkpointId;
    this.#uncommitted = this.#uncommitted.filter((e) => e.id > checkpointId);
  }

  flush(): void {}

  async close(): Promise<void> {
    const p = this.#producer;
    this.#producer = undefined;
    await p?.close().catch(() => {});
    await this.#admin.close().catch(() => {});
  }

  #messages(epochs: readonly Epoch[]): Message[] {
    const out: Message[] = [];
    const topic = this.#o.topic;
    for (const e of epochs)
      for (let i = 0; i < e.values.length; i++) out.push(message(topic, e.keys[i]!, e.values[i]!));
    return out;
  }

  /**
   * A new producer with the transactional id, initialised: the broker
   * aborts what an earlier incarnation left open (or finishes its commit)
   * and fences it. Then the marker, read once no transaction is pending.
   */
  async #fence(): Promise<bigint | undefined> {
    const old = this.#producer;
    this.#producer = undefined;
    await old?.close().catch(() => {});
    this.#coordinator = undefined;
    const producer = new Producer({
      clientId: `eddy-${this.#ctx.stepId}`,
      bootstrapBrokers: this.#brokers,
      idempotent: true,
      acks: ProduceAcks.ALL,
      transactionalId: this.#o.transactionalId,
      // As in task.ts: "no producer yet" is -1/-1 (the client's 0/0 is refused as fenced), and a 20 ms
      // retry delay (Java's) for CONCURRENT_TRANSACTIONS while an earlier commit's markers are written.
      producerId: -1n,
      producerEpoch: -1,
      retryDelay: 20,
      retries: 50,
      // The client passes its request timeout as InitProducerId's transaction timeout.
      timeout: this.#o.transactionTimeoutMs,
    });
    try {
      const tx = await producer.beginTransaction();
      await tx.cancel();
    } catch (e) {
      await producer.close().catch(() => {});
      throw this.#ioError('initialising the transactional producer', e);
    }
    this.#producer = producer;
    const marker = await this.#readMarker();
    this.#uncertain = false;
    return marker;
  }

  async #readMarker(): Promise<bigint | undefined> {
    const deadline = Date.now() + this.#o.transactionTimeoutMs;
    for (;;) {
      try {
        const groups = await this.#admin.listConsumerGroupOffsets({
          groups: [{ groupId: this.#group, topics: [{ name: this.#o.topic, partitionIndexes: [0] }] }],
          requireStable: true,
        });
        for (const t of groups[0]?.topics ?? [])
          for (const p of t.partitions)
            if (t.name === this.#o.topic && p.partitionIndex === 0 && p.committedOffset >= 0n)
              return p.committedOffset;
        return undefined;
      } catch (e) {
        if (Date.now() > deadline || !hasKafkaError(e, 'UNSTABLE_OFFSET_COMMIT'))
          throw this.#ioError('reading the commit marker', e);
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  }

  /** One transaction: `messages` in order, then the marker (when given), then commit. */
  async #transact(messages: readonly Message[], marker: bigint | undefined): Promise<void> {
    if (this.#producer === undefined || this.#uncertain) await this.#fence();
    const producer = this.#producer!;
    let tx: Awaited<ReturnType<Producer['beginTransaction']>> | undefined;
    try {
      tx = await producer.beginTransaction();
      // Sends one after another: the client adds partitions to the transaction on a send, and two sends
      // racing to do that make the broker abort it (task.ts).
      for (const part of splitByLimit(messages, () => this.#limit)) await tx.send({ messages: part });
      if (marker !== undefined) {
        this.#coordinator ??= (
          await this.#admin.findCoordinator({ keyType: 0, keys: [this.#group] })
        )[0]!.nodeId;
        await tx.addConsumer({ groupId: this.#group } as never);
        // The client commits the message's offset + 1; no generation or member: nobody consumes this group.
        await tx.addOffset({
          topic: this.#o.topic,
          partition: 0,
          offset: marker - 1n,
          metadata: {
            consumer: {
              groupId: this.#group,
              generationId: -1,
              memberId: '',
              coordinatorId: this.#coordinator,
            },
          },
        } as never);
      }
      if (messages.length > 0 || marker !== undefined) await tx.commit();
      else await tx.cancel();
      this.#lastTx = Date.now();
    } catch (e) {
      this.#uncertain = true;
      if (tx !== undefined && !tx.completed) await tx.abort().catch(() => {});
      throw this.#ioError(
        marker === undefined ? 'committing a batch' : `committing checkpoint ${marker % RUN}`,
        e,
      );
    }
  }

  #ioError(what: string, e: unknown): EddyError {
    if (e instanceof EddyError) return e;
    return new EddyError(
      'EDDY_IO_FAILED',
      `${OWNER}: ${what} failed (topic "${this.#o.topic}", transactional id "${this.#o.transactionalId}", brokers ${this.#brokers.join(',')}): ${e instanceof Error ? e.message : String(e)}; the run restarts from its last checkpoint and produces what is missing`,
      { stepId: this.#ctx.stepId, cause: e, retriable: true },
    );
  }
}

function message(topic: string, key: string | null, value: string): Message {
  return key === null
    ? { topic, value: Buffer.from(value) }
    : { topic, key: Buffer.from(key), value: Buffer.from(value) };
}

function checkCommittable(c: Committable, stepId: string): void {
  if (
    typeof c?.run !== 'number' ||
    typeof c.checkpointId !== 'number' ||
    !Array.isArray(c.epochs) ||
    !c.epochs.every((e) => Array.isArray(e?.values) && Array.isArray(e.keys))
  )
    throw new EddyError(
      'EDDY_CHECKPOINT_INVALID',
      `${OWNER}: the checkpoint's commit record is not a ${OWNER}'s; resume from a checkpoint this sink wrote`,
      { stepId },
    );
}
