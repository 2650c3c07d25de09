/**
 * A Kafka application's sink (`app.sink`, issue 13): its options checked
 * (`appSink`), and records written into their partition task's transaction,
 * each sized against its topic's limit; one too large is refused
 * (`onProduceError: 'fail'`) or dead-lettered, cut to fit the dead-letter
 * topic.
 */

import { type KafkaAppSinkOptions, kafkaPartition } from '../../connectors/kafka/app-options.ts';
import { floorHeader, markerMessage, timeHeader } from '../../connectors/kafka/carried.ts';
import { sinkDeadLetterMessage } from '../../connectors/kafka/dead-letters.ts';
import {
  aloneBytes,
  checkCreateTopic,
  fitsAlone,
  fitToLimit,
  type TopicInfo,
} from '../../connectors/kafka/topics.ts';
import { resolveOptions } from '../../connectors/options.ts';
import type { Sink, SinkWriter } from '../../core/connector.ts';
import { configError, EddyError } from '../../errors/index.ts';
import type { AppTopics } from './app-topics.ts';
import { KAFKA_APP_SINK_OPTIONS } from './options.ts';
import { PartitionTask, type TxMessage, TxWriter } from './task.ts';

/** What `app.sink` needs of its application (app.ts). */
export interface AppSinkOwner {
  /** The application's topics: a sink's looked up (or created) once, and every topic's size limit. */
  readonly topics: AppTopics;
  /** The app.source's dead-letter topic, if any (a sink's own comes first). */
  readonly deadLetterTopic: () => string | undefined;
  /** The key-group partitions, once the application runs. */
  readonly partitions: () => number;
}

/** Writes to `topic` inside the application's transactions (`app.sink`): visible (read_committed) once a checkpoint commits. */
export function appSink<T>(options: KafkaAppSinkOptions<T>, owner: AppSinkOwner): Sink<T> {
  const o = resolveOptions('app.sink', KAFKA_APP_SINK_OPTIONS, options);
  checkCreateTopic('app.sink', o.createTopic);
  const policy = o.onProduceError;
  const topics = owner.topics;
  return {
    kind: 'kafka-app',
    guarantee: 'exactly-once',
    messaging: { system: 'kafka', destination: o.topic },
    async open(ctx) {
      const task = ctx.deployment;
      if (!(task instanceof PartitionTask))
        throw new EddyError('EDDY_STATE_INVALID', 'app.sink is written by kafkaApp.run only');
      const info = await topics.sink(o.topic, o.createTopic);
      let dlq: string | undefined;
      if (policy === 'dead-letter') {
        dlq = o.deadLetterTopic ?? owner.deadLetterTopic();
        if (dlq === undefined)
          throw configError(
            `app.sink to "${o.topic}" has onProduceError: "dead-letter" but no dead-letter topic`,
            undefined,
            'pass deadLetterTopic to app.sink or to app.source',
            ctx.stepId,
          );
        if (!topics.known(dlq)) await topics.sink(dlq, undefined, true);
      }
      return new AppSinkWriter(task, o as KafkaAppSinkOptions<unknown>, {
        info,
        stepId: ctx.stepId,
        policy,
        dlq,
        limitOf: topics.limitOf,
        ...(o.carryEventTime ? { carry: { from: task.partition, of: owner.partitions() } } : {}),
      }) as SinkWriter<T>;
    },
  };
}

/** A sink writing into its task's transactions. */
export class AppSinkWriter implements SinkWriter<unknown> {
  readonly #o: KafkaAppSinkOptions<unknown>;
  readonly #task: PartitionTask;
  readonly #info: TopicInfo;
  readonly #stepId: string;
  readonly #policy: 'fail' | 'dead-letter';
  readonly #dlq: string | undefined;
  readonly #limitOf: (topic: string) => number;
  readonly #tx: TxWriter;
  /** For the next stage of the application (carried.ts): this task's index and the stage's task count. */
  readonly #carry: { readonly from: number; readonly of: number } | undefined;
  #watermark = Number.NEGATIVE_INFINITY;
  #markedAt = Number.NEGATIVE_INFINITY;
  #idle = false;
  #markedIdle = false;

  constructor(
    task: PartitionTask,
    o: KafkaAppSinkOptions<unknown>,
    w: {
      info: TopicInfo;
      stepId: string;
      policy: 'fail' | 'dead-letter';
      dlq: string | undefined;
      limitOf: (topic: string) => number;
      carry?: { readonly from: number; readonly of: number };
    },
  ) {
    this.#carry = w.carry;
    this.#o = o;
    this.#task = task;
    this.#info = w.info;
    this.#stepId = w.stepId;
    this.#policy = w.policy;
    this.#dlq = w.dlq;
    this.#limitOf = w.limitOf;
    this.#tx = new TxWriter(task);
  }

  write(
    values: readonly unknown[],
    times: readonly number[],
    floors?: readonly number[],
  ): void | Promise<void> {
    const { key, format, topic } = this.#o;
    const { partitions, maxMessageBytes: limit, compacted } = this.#info;
    const messages: TxMessage[] = [];
    const carry = this.#carry;
    for (let i = 0; i < values.length; i++) {
      const v = values[i];
      const value = Buffer.from(JSON.stringify(format === undefined ? v : format(v)));
      let m: TxMessage;
      if (key === undefined) m = { topic, value };
      else {
        const k = key(v);
        m = { topic, key: Buffer.from(String(k)), partition: kafkaPartition(k, partitions), value };
      }
      if (carry !== undefined) {
        // The next stage reads the event time from a header and lateness from the floor. As the Kafka
        // timestamp, an event time an hour ahead of the broker's clock was refused
        // (log.message.timestamp.after.max.ms), and the task's every transaction with it.
        const headers = new Map([timeHeader(times[i]!)]);
        const floor = floorHeader(floors?.[i]);
        if (floor !== undefined) headers.set(floor[0], floor[1]);
        m.headers = headers;
      }
      // Issue 19 (point 9): a record the topic refuses fails the whole transaction, and retrying it
      // fails the same way; so it is checked here, and handled as onProduceError says.
      const refused = !fitsAlone(m, limit)
        ? `a record of ${aloneBytes(m)} bytes is larger than topic "${topic}" allows (max.message.bytes ${limit})`
        : compacted && m.key === undefined
          ? `topic "${topic}" is compacted and refuses records without a key`
          : undefined;
      if (refused === undefined) messages.push(m);
      else if (this.#policy === 'fail')
        throw new EddyError(
          'EDDY_IO_FAILED',
          `${refused}; received onProduceError: "fail"; raise the topic's max.message.bytes (or give records a key), make the record smaller, or pass onProduceError: "dead-letter" with a deadLetterTopic`,
          { stepId: this.#stepId },
        );
      else {
        const dlq = this.#dlq!;
        const letter = sinkDeadLetterMessage(dlq, {
          record: m,
          code: compacted && m.key === undefined ? 'no-key' : 'too-large',
          reason: refused,
          input: this.#task.split,
        });
        messages.push(fitToLimit(letter as TxMessage, this.#limitOf(dlq)));
      }
    }
    // Undefined while the writer's queue has room: the next batch goes on while this one is sent.
    const sent = this.#tx.write(messages);
    // A failed send also fails the next commit (the writer keeps it); the runtime may not await this one.
    sent?.catch(() => {});
    return sent;
  }

  /** The input's watermark (only kept when writing for a next stage). */
  watermark(watermark: number): void {
    if (this.#carry !== undefined && watermark > this.#watermark) this.#watermark = watermark;
  }

  /** Whether the input is idle (only kept when writing for a next stage). */
  idle(idle: boolean): void {
    if (this.#carry !== undefined) this.#idle = idle;
  }

  /**
   * At the barrier: everything so far is handed to the transaction (the
   * task's commit waits until it is acknowledged, so the changelog's send
   * can go out with the last of it); later output waits for the commit.
   * Writing for a next stage, the watermark (and whether the input is idle)
   * follows the records into every partition (carried.ts), when it changed.
   */
  async preCommit(): Promise<null> {
    this.#tx.check();
    const carry = this.#carry;
    const moved = this.#watermark > this.#markedAt && Number.isFinite(this.#watermark);
    if (carry !== undefined && (moved || this.#idle !== this.#markedIdle)) {
      const at = this.#watermark;
      const idle = this.#idle;
      const markers: TxMessage[] = [];
      for (let p = 0; p < this.#info.partitions; p++)
        markers.push(markerMessage(this.#o.topic, p, carry.from, carry.of, at, idle));
      // A failed send fails the commit (the task waits for every writer), and the task starts again.
      this.#tx.write(markers)?.catch(() => {});
      this.#markedAt = at;
      this.#markedIdle = idle;
    }
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
