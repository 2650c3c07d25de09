/**
 * The dead-letter topic of `kafkaSource` (`deadLetterTopic` option): records that could not be
 * decoded, or whose `parse` threw, are produced there with their original key, value and headers
 * byte for byte, plus headers that say why and where from ({@link DEAD_LETTER_HEADERS}).
 *
 * Sends go through an idempotent producer with acks=all, and the source waits for them before it
 * hands out the batch the records came in: an offset can only be committed (or checkpointed) once
 * its dead letter is durable, so a crash re-reads the poison record rather than losing it
 * (at-least-once for the topic). A failed send is an error of the source, never silently dropped.
 *
 * @example
 * ```ts
 * kafkaSource<Order>({ topics: ['orders'], groupId: 'stats', deadLetterTopic: 'orders-dlq' });
 * // orders-dlq: key and value as they were; headers eddy.error.code = "invalid-json", …
 * ```
 */

import { Buffer } from 'node:buffer';
import { setTimeout as sleep } from 'node:timers/promises';
import { Admin, type MessageToProduce, ProduceAcks, Producer } from '@platformatic/kafka';
import { EddyError } from '../../errors/index.ts';
import type { FetchedMessage } from './fetched.ts';
import {
  describeTopics,
  ensureTopic,
  fitToLimit,
  INTERNAL_HEADROOM_BYTES,
  KAFKA_DEFAULT_MAX_MESSAGE_BYTES,
  type OutRecord,
  splitByLimit,
  TRUNCATED_HEADER,
} from './topics.ts';

/**
 * The headers eddy adds to a dead letter. Values are UTF-8 text: the failure code (one of
 * `KAFKA_DECODE_FAILURES`), the reason, and the source record's topic, partition, offset and
 * timestamp (epoch ms) in decimal.
 *
 * @example
 * ```ts
 * const code = message.headers.get(Buffer.from(DEAD_LETTER_HEADERS.code))?.toString();
 * ```
 */
export const DEAD_LETTER_HEADERS = Object.freeze({
  code: 'eddy.error.code',
  reason: 'eddy.error.reason',
  topic: 'eddy.source.topic',
  partition: 'eddy.source.partition',
  offset: 'eddy.source.offset',
  timestamp: 'eddy.source.timestamp',
} as const);

/** Longer reasons are cut (with "…") so that a header stays small. */
export const MAX_REASON_LENGTH = 1000;

/** A consumed record that failed, and why. */
export interface KafkaDeadLetter {
  readonly message: Pick<
    FetchedMessage,
    'topic' | 'partition' | 'offset' | 'timestamp' | 'key' | 'value' | 'headers'
  >;
  readonly code: string;
  readonly reason: string;
  /** What was cut from the record on an earlier hop to fit a topic (the `eddy.truncated` header). */
  readonly truncated?: string;
}

const EDDY_HEADERS = new Set<string>([...Object.values(DEAD_LETTER_HEADERS), TRUNCATED_HEADER]);

/**
 * The record to produce for a dead letter: same key and value (a null value stays null), the
 * original headers except eddy's own, then eddy's.
 *
 * @example
 * ```ts
 * const out = deadLetterMessage('orders-dlq', { message: m, code: 'invalid-json', reason: 'JSON parse error: …' });
 * await producer.send({ messages: [out] });
 * ```
 */
export function deadLetterMessage(topic: string, letter: KafkaDeadLetter): MessageToProduce {
  const m = letter.message;
  const headers = new Map<Buffer, Buffer>();
  for (const [k, v] of m.headers ?? []) {
    if (!EDDY_HEADERS.has(k.toString())) headers.set(k, v);
  }
  const reason =
    letter.reason.length > MAX_REASON_LENGTH
      ? `${letter.reason.slice(0, MAX_REASON_LENGTH - 1)}…`
      : letter.reason;
  const add = (name: string, value: string) => headers.set(Buffer.from(name), Buffer.from(value));
  add(DEAD_LETTER_HEADERS.code, letter.code);
  add(DEAD_LETTER_HEADERS.reason, reason);
  add(DEAD_LETTER_HEADERS.topic, m.topic);
  add(DEAD_LETTER_HEADERS.partition, String(m.partition));
  add(DEAD_LETTER_HEADERS.offset, String(m.offset));
  add(DEAD_LETTER_HEADERS.timestamp, String(m.timestamp));
  if (letter.truncated !== undefined) add(TRUNCATED_HEADER, letter.truncated);
  return {
    topic,
    headers,
    ...(m.key == null ? {} : { key: m.key }),
    ...(m.value == null ? {} : { value: m.value }),
  };
}

/** The header a sink's dead letter names its destination with (the topic that refused it). */
export const SINK_TOPIC_HEADER = 'eddy.sink.topic';

/**
 * The dead letter of a record a sink's topic refused (`onProduceError:
 * 'dead-letter'`): its key, value and headers, the reason, the topic that
 * refused it (`eddy.sink.topic`) and, when known, the input partition whose
 * records it was made from (`eddy.source.topic`/`eddy.source.partition`:
 * a Kafka application's task). Cut to fit by the caller.
 */
export function sinkDeadLetterMessage(
  topic: string,
  o: {
    readonly record: {
      readonly topic: string;
      readonly key?: Buffer | undefined;
      readonly value?: Buffer | null | undefined;
      readonly headers?: Map<Buffer, Buffer> | undefined;
    };
    readonly code: string;
    readonly reason: string;
    /** `topic:partition` of the input the record was made from. */
    readonly input?: string;
  },
): MessageToProduce {
  const headers = new Map<Buffer, Buffer>(o.record.headers ?? []);
  const add = (name: string, value: string) => headers.set(Buffer.from(name), Buffer.from(value));
  add(DEAD_LETTER_HEADERS.code, o.code);
  add(
    DEAD_LETTER_HEADERS.reason,
    o.reason.length > MAX_REASON_LENGTH ? `${o.reason.slice(0, MAX_REASON_LENGTH - 1)}…` : o.reason,
  );
  add(SINK_TOPIC_HEADER, o.record.topic);
  if (o.input !== undefined) {
    const colon = o.input.lastIndexOf(':');
    add(DEAD_LETTER_HEADERS.topic, o.input.slice(0, colon));
    add(DEAD_LETTER_HEADERS.partition, o.input.slice(colon + 1));
  }
  return {
    topic,
    headers,
    ...(o.record.key == null ? {} : { key: o.record.key }),
    ...(o.record.value == null ? {} : { value: o.record.value }),
  };
}

/** Where and how a {@link DeadLetterTopic} writes. */
export interface DeadLetterTopicOptions {
  readonly topic: string;
  readonly bootstrapBrokers: string[];
  readonly clientId: string;
  /** How long a send is retried (brokers restarting) before it fails. Default 60,000 ms. */
  readonly retryForMs?: number;
  /** Stops retrying (the send then fails) when aborted. */
  readonly signal?: AbortSignal;
  /**
   * The input topics whose records may become dead letters: a missing
   * dead-letter topic is created taking records as large as theirs.
   */
  readonly sizeFrom?: readonly string[];
}

/**
 * A producer for one dead-letter topic. `send` resolves once the broker has every record (acks=all,
 * idempotent, so the client's own retries cannot duplicate them) and rejects with `EDDY_IO_FAILED`
 * otherwise. A failed send is tried again with backoff for `retryForMs`, so a broker restart only
 * delays it; such a retry may write a record twice (at-least-once).
 *
 * @example
 * ```ts
 * const dlq = new DeadLetterTopic({ topic: 'orders-dlq', bootstrapBrokers: ['127.0.0.1:9092'], clientId: 'eddy-orders' });
 * await dlq.send([{ message: m, code: 'invalid-json', reason: 'JSON parse error' }]);
 * await dlq.close();
 * ```
 */
export class DeadLetterTopic {
  readonly topic: string;
  #producer: Producer | undefined;
  readonly #options: DeadLetterTopicOptions;
  /** The topic's max.message.bytes, looked up (the topic created if missing) on first use. */
  #limit: Promise<number> | undefined;

  constructor(options: DeadLetterTopicOptions) {
    this.topic = options.topic;
    this.#options = options;
  }

  async send(letters: readonly KafkaDeadLetter[]): Promise<void> {
    await this.sendMessages(letters.map((l) => deadLetterMessage(this.topic, l)));
  }

  /** Sends dead letters already made (e.g. by {@link sinkDeadLetterMessage}), cut to fit, as `send` does. */
  async sendMessages(letters: readonly MessageToProduce[]): Promise<void> {
    if (letters.length === 0) return;
    // Made on first use: most runs never dead-letter anything and should not pay for a producer.
    this.#producer ??= new Producer({
      clientId: this.#options.clientId,
      bootstrapBrokers: this.#options.bootstrapBrokers,
      idempotent: true,
      acks: ProduceAcks.ALL,
    });
    const since = Date.now();
    const retryForMs = this.#options.retryForMs ?? 60_000;
    const signal = this.#options.signal;
    let delay = 200;
    for (;;) {
      try {
        // Issue 19 (point 9): a dead letter larger than its topic allows was refused, and retried, for
        // ever. It is cut to fit (what was cut named in eddy.truncated; reason and source kept).
        const limit = await this.#maxMessageBytes();
        const messages = letters.map((l) => fitToLimit(l as MessageToProduce & OutRecord, limit));
        for (const part of splitByLimit(messages, () => limit)) await this.#producer.send({ messages: part });
        return;
      } catch (e) {
        this.#limit = undefined; // the topic may have changed (or not been reachable): look again
        if (Date.now() - since >= retryForMs || signal?.aborted === true) {
          throw new EddyError(
            'EDDY_IO_FAILED',
            `could not write ${letters.length} dead letter(s) to topic "${this.topic}" for ${Date.now() - since} ms: ${
              e instanceof Error ? e.message : String(e)
            }; their source offsets were not committed, so they are read again on restart`,
            { cause: e, retriable: true },
          );
        }
      }
      await sleep(delay, undefined, signal === undefined ? {} : { signal }).catch(() => {});
      delay = Math.min(delay * 2, 5000);
    }
  }

  #maxMessageBytes(): Promise<number> {
    this.#limit ??= (async () => {
      const o = this.#options;
      const admin = new Admin({ clientId: `${o.clientId}-admin`, bootstrapBrokers: o.bootstrapBrokers });
      try {
        const inputs = await describeTopics(admin, o.sizeFrom ?? []);
        const widest = Math.max(
          KAFKA_DEFAULT_MAX_MESSAGE_BYTES,
          ...[...inputs.values()].map((i) => i.maxMessageBytes),
        );
        // A missing topic would make the producer wait for ever: create it (a user's own topic keeps its limit).
        const info = await ensureTopic(admin, {
          topic: this.topic,
          partitions: -1,
          minMaxMessageBytes: widest + INTERNAL_HEADROOM_BYTES,
          grow: false,
        });
        return info.maxMessageBytes;
      } finally {
        await admin.close().catch(() => {});
      }
    })();
    const known = this.#limit;
    known.catch(() => {
      if (this.#limit === known) this.#limit = undefined;
    });
    return known;
  }

  async close(): Promise<void> {
    const p = this.#producer;
    this.#producer = undefined;
    await p?.close();
  }
}
