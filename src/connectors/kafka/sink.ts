/** The Kafka sink (idempotent producer, at-least-once), on @platformatic/kafka. */
import { Admin, type MessageToProduce, ProduceAcks, Producer } from '@platformatic/kafka';
import type { Sink } from '../../core/connector.ts';
import { configError, EddyError } from '../../errors/index.ts';
import { resolveOptions } from '../options.ts';
import { refuse } from '../refused.ts';
import { brokersOf } from './brokers.ts';
import { DeadLetterTopic, sinkDeadLetterMessage } from './dead-letters.ts';
import { KAFKA_SINK_OPTIONS, type KafkaSinkOptions } from './options.ts';
import { aloneBytes, checkCreateTopic, fitsAlone, sinkTopic, splitByLimit } from './topics.ts';

export type { KafkaSinkOptions };

/** What each sink `kafkaSink` made was made with (for `kafkaSinkOptions`). */
const made = new WeakMap<object, KafkaSinkOptions<unknown>>();

/**
 * The options `sink` was made with (checked, defaults filled in), when
 * `kafkaSink` made it; else undefined. `eddy run --kafka` reads them to write
 * the same topic inside the Kafka application's transactions.
 */
export function kafkaSinkOptions(sink: object): KafkaSinkOptions<unknown> | undefined {
  return made.get(sink);
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
  const o = resolveOptions('kafkaSink', KAFKA_SINK_OPTIONS, options);
  checkCreateTopic('kafkaSink', o.createTopic);
  const policy = o.onProduceError;
  const bootstrapBrokers = brokersOf(o.brokers);
  const topic = o.topic;
  const sink: Sink<T> = {
    kind: 'kafka',
    guarantee: 'at-least-once',
    messaging: { system: 'kafka', destination: topic },
    // A producer per subtask: each idempotent on its own, records of a key from the subtask holding it.
    parallel: true,
    async open(ctx) {
      // Issue 19 (point 11): a send to a missing topic waited for ever (and so did Ctrl-C's drain).
      const admin = new Admin({ clientId: `eddy-${ctx.stepId}-admin`, bootstrapBrokers });
      const info = await sinkTopic(admin, 'kafkaSink', topic, bootstrapBrokers, o.createTopic).finally(() =>
        admin.close().catch(() => {}),
      );
      const limit = info.maxMessageBytes;
      const avro = o.avro;
      if (avro !== undefined) {
        // Fetched now, so that encoding each record needs no network, and a missing schema fails the open.
        const known = await avro.format.schema(avro.schemaId);
        if (!known.ok)
          throw configError(
            `kafkaSink to "${topic}" cannot write Avro with schema ${avro.schemaId}: ${known.reason}`,
            avro.schemaId,
            'register the schema (or list it in avroFormat({ schemas })) and pass its id as schemaId',
            ctx.stepId,
          );
      }
      const producer = new Producer({
        clientId: `eddy-${ctx.stepId}`,
        bootstrapBrokers,
        idempotent: true,
        acks: ProduceAcks.ALL,
      });
      const dlq =
        o.deadLetterTopic === undefined
          ? undefined
          : new DeadLetterTopic({
              topic: o.deadLetterTopic,
              bootstrapBrokers,
              clientId: `eddy-${ctx.stepId}-dlq`,
              sizeFrom: [topic],
            });
      // Sends are chained so that batches reach the topic in the order they were written; upstream waits
      // only when several are in flight.
      let last: Promise<unknown> = Promise.resolve();
      let inFlight = 0;
      let failure: unknown;
      const key = o.key;
      const format = o.format;
      return {
        write(values) {
          if (failure !== undefined) throw failure;
          const messages: { topic: string; value: Buffer; key?: Buffer }[] = [];
          const letters: MessageToProduce[] = [];
          for (const v of values) {
            const out = format === undefined ? v : format(v);
            let value: Buffer;
            if (avro === undefined) value = Buffer.from(JSON.stringify(out));
            else {
              try {
                value = avro.format.encode(avro.schemaId, out);
              } catch (e) {
                // A record that does not fit the schema would fail every retry: a dead letter.
                refuse(
                  ctx,
                  `kafkaSink: a record does not fit Avro schema ${avro.schemaId} of topic "${topic}": ${e instanceof Error ? e.message : String(e)}`,
                  out,
                );
                continue;
              }
            }
            const m = {
              topic,
              value,
              ...(key === undefined ? {} : { key: Buffer.from(key(v)) }),
            };
            // Issue 19 (point 9): a refused record failed its batch, and the retry failed the same way.
            const refused = !fitsAlone(m, limit)
              ? `a record of ${aloneBytes(m)} bytes is larger than topic "${topic}" allows (max.message.bytes ${limit})`
              : info.compacted && m.key === undefined
                ? `topic "${topic}" is compacted and refuses records without a key`
                : undefined;
            if (refused === undefined) messages.push(m);
            else if (policy === 'fail')
              // The user's choice, not a passing failure: no restart would meet the record differently.
              throw new EddyError(
                'EDDY_RECORD_REFUSED',
                `${refused}; received onProduceError: "fail"; raise the topic's max.message.bytes (or give records a key), make the record smaller, or pass onProduceError: "dead-letter"`,
                { stepId: ctx.stepId, domain: 'user' },
              );
            else if (dlq === undefined) refuse(ctx, `kafkaSink: ${refused}`, out);
            else
              letters.push(
                sinkDeadLetterMessage(dlq.topic, {
                  record: m,
                  code: m.key === undefined && info.compacted ? 'no-key' : 'too-large',
                  reason: refused,
                }),
              );
          }
          inFlight++;
          const sent = last
            .then(async () => {
              // One send per share that fits: the client makes one batch of a send's records per partition.
              for (const part of splitByLimit(messages, () => limit)) await producer.send({ messages: part });
              await dlq?.sendMessages(letters);
            })
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
          await dlq?.close().catch(() => {});
        },
      };
    },
  };
  made.set(sink, o as KafkaSinkOptions<unknown>);
  return sink;
}
