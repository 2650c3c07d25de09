/** The Kafka sink (idempotent producer, at-least-once), on @platformatic/kafka. */
import { ProduceAcks, Producer } from '@platformatic/kafka';
import { configError } from '../../errors/index.ts';
import type { Sink } from '../types.ts';
import { brokersOf } from './brokers.ts';

export interface KafkaSinkOptions<T> {
  readonly topic: string;
  readonly brokers?: readonly string[];
  /** The record's key (partitioning); default none. */
  readonly key?: (value: T) => string;
  /** Turns a record into the JSON value written; default the record itself. */
  readonly format?: (value: T) => unknown;
}

/**
 * Writes records as JSON to a Kafka topic with an idempotent producer
 * (acks=all, no duplicates from retries). At-least-once across restarts until
 * the transactional sink arrives with checkpoints.
 *
 * @example
 * ```ts
 * totals.sink(kafkaSink({ topic: 'order-totals', key: (t) => t.customer }));
 * ```
 */
export function kafkaSink<T>(options: KafkaSinkOptions<T>): Sink<T> {
  if (typeof options?.topic !== 'string' || options.topic === '') {
    throw configError('kafkaSink needs a topic', options?.topic, 'pass { topic: "results" }');
  }
  const bootstrapBrokers = brokersOf(options.brokers);
  return {
    kind: 'kafka',
    guarantee: 'at-least-once',
    open(ctx) {
      const producer = new Producer({
        clientId: `eddy-${ctx.stepId}`,
        bootstrapBrokers,
        idempotent: true,
        acks: ProduceAcks.ALL,
      });
      // Sends are chained so that batches reach the topic in the order they were written; upstream waits
      // only when several are in flight.
      let last: Promise<unknown> = Promise.resolve();
      let inFlight = 0;
      let failure: unknown;
      const key = options.key;
      const format = options.format;
      return {
        write(values) {
          const messages = values.map((v) => ({
            topic: options.topic,
            value: Buffer.from(JSON.stringify(format === undefined ? v : format(v))),
            ...(key === undefined ? {} : { key: Buffer.from(key(v)) }),
          }));
          if (failure !== undefined) throw failure;
          inFlight++;
          const sent = last
            .then(() => producer.send({ messages }))
            .then(
              () => {
                inFlight--;
              },
              (e: unknown) => {
                inFlight--;
                failure = e;
                throw e;
              },
            );
          last = sent.catch(() => {});
          if (inFlight >= 4) return sent;
        },
        async flush() {
          await last;
          if (failure !== undefined) throw failure;
        },
        async close() {
          await last.catch(() => {});
          await producer.close();
        },
      };
    },
  };
}
