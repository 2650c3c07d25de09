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
import { type Message, type MessageToProduce, ProduceAcks, Producer } from '@platformatic/kafka';
import { configError, EddyError } from '../../errors/index.ts';

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

/** Checks a `deadLetterTopic` option (absent, or a topic name); `owner` names the option's owner. */
export function checkDeadLetterTopic(owner: string, topic: unknown): void {
  if (topic !== undefined && (typeof topic !== 'string' || topic === '')) {
    throw configError(
      `${owner} deadLetterTopic must be a topic name`,
      topic,
      'pass e.g. { deadLetterTopic: "orders-dlq" } or leave it out',
    );
  }
}

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
    Message,
    'topic' | 'partition' | 'offset' | 'timestamp' | 'key' | 'value' | 'headers'
  >;
  readonly code: string;
  readonly reason: string;
}

const EDDY_HEADERS = new Set<string>(Object.values(DEAD_LETTER_HEADERS));

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
  return {
    topic,
    headers,
    ...(m.key == null ? {} : { key: m.key }),
    ...(m.value == null ? {} : { value: m.value }),
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

  constructor(options: DeadLetterTopicOptions) {
    this.topic = options.topic;
    this.#options = options;
  }

  async send(letters: readonly KafkaDeadLetter[]): Promise<void> {
    if (letters.length === 0) return;
    // Made on first use: most runs never dead-letter anything and should not pay for a producer.
    this.#producer ??= new Producer({
      clientId: this.#options.clientId,
      bootstrapBrokers: this.#options.bootstrapBrokers,
      idempotent: true,
      acks: ProduceAcks.ALL,
    });
    const messages = letters.map((l) => deadLetterMessage(this.topic, l));
    const since = Date.now();
    const retryForMs = this.#options.retryForMs ?? 60_000;
    const signal = this.#options.signal;
    let delay = 200;
    for (;;) {
      try {
        await this.#producer.send({ messages });
        return;
      } catch (e) {
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

  async close(): Promise<void> {
    const p = this.#producer;
    this.#producer = undefined;
    await p?.close();
  }
}
