/**
 * The Kafka source (at-least-once without transactions), on @platformatic/kafka.
 *
 * It joins a consumer group; each partition is a split with its own
 * watermark. Offsets are committed (at most once a second, and on close) only
 * for records that have already passed through the pipeline, so a restart
 * re-reads at most what was in flight: at-least-once. When eddy's buffer of
 * fetched records is full the stream is paused (backpressure) and resumed when
 * it drains. Values are decoded by a format (formats.ts: JSON with the safe
 * codec, string, bytes, Avro with schema-registry framing): undecodable records
 * go to the dead-letter output with the reason, topic, partition and offset,
 * and, with `deadLetterTopic`, to that topic (dead-letters.ts) before their
 * offsets can be committed.
 */
import {
  Consumer,
  FetchIsolationLevels,
  type Message,
  MessagesStreamFallbackModes,
  MessagesStreamModes,
} from '@platformatic/kafka';
import type { DecodeLimits } from '../../codec/index.ts';
import { configError } from '../../errors/index.ts';
import type { Source, SourceBatch, SourceReader } from '../types.ts';
import { brokersOf } from './brokers.ts';
import { DeadLetterTopic, type KafkaDeadLetter } from './dead-letters.ts';
import { type KafkaFormat, resolveFormat } from './formats.ts';

export interface KafkaSourceOptions<T> {
  readonly topics: readonly string[];
  /** The consumer group: every process with the same group shares the partitions. */
  readonly groupId: string;
  readonly brokers?: readonly string[];
  /** How values are decoded: JSON (default), a UTF-8 string, the raw bytes, or a format such as `avroFormat(…)`. */
  readonly format?: 'json' | 'string' | 'bytes' | KafkaFormat;
  /** Checks and converts a decoded value; throw to dead-letter the record with your message. */
  readonly parse?: (value: unknown) => T;
  readonly limits?: Partial<DecodeLimits>;
  /** Fetched records eddy holds before it pauses the fetch. Default 10,000. */
  readonly bufferSize?: number;
  /**
   * Undecodable records (and those `parse` rejects) are also produced to this topic, with their key,
   * value and headers unchanged and `eddy.error.*` / `eddy.source.*` headers (dead-letters.ts).
   */
  readonly deadLetterTopic?: string;
}

/**
 * Reads Kafka topics as a consumer group.
 *
 * @example
 * ```ts
 * p.source('orders', kafkaSource<Order>({ topics: ['orders'], groupId: 'order-stats' }), { timestamp: (o) => o.ts });
 * ```
 */
export function kafkaSource<T>(options: KafkaSourceOptions<T>): Source<T> {
  if (
    !Array.isArray(options?.topics) ||
    options.topics.length === 0 ||
    options.topics.some((t) => typeof t !== 'string' || t === '')
  ) {
    throw configError('kafkaSource needs topics', options?.topics, 'pass { topics: ["orders"] }');
  }
  if (typeof options.groupId !== 'string' || options.groupId === '') {
    throw configError('kafkaSource needs a groupId', options.groupId, 'pass { groupId: "my-app" }');
  }
  if (
    options.deadLetterTopic !== undefined &&
    (typeof options.deadLetterTopic !== 'string' || options.deadLetterTopic === '')
  ) {
    throw configError(
      'kafkaSource deadLetterTopic must be a topic name',
      options.deadLetterTopic,
      'pass e.g. { deadLetterTopic: "orders-dlq" } or leave it out',
    );
  }
  const bootstrapBrokers = brokersOf(options.brokers);
  const format = resolveFormat(options.format, options.limits);
  const capacity = options.bufferSize ?? 10_000;
  const parse = options.parse;
  return {
    kind: 'kafka',
    async open(ctx): Promise<SourceReader<T>> {
      const consumer = new Consumer({
        clientId: `eddy-${ctx.stepId}`,
        bootstrapBrokers,
        groupId: options.groupId,
        autocommit: false,
        isolationLevel: FetchIsolationLevels.READ_COMMITTED,
      });
      const deadLetterTopic =
        options.deadLetterTopic === undefined
          ? undefined
          : new DeadLetterTopic({
              topic: options.deadLetterTopic,
              bootstrapBrokers,
              clientId: `eddy-${ctx.stepId}-dlq`,
            });
      const stream = await consumer.consume({
        topics: [...options.topics],
        mode: MessagesStreamModes.COMMITTED,
        fallbackMode: MessagesStreamFallbackModes.EARLIEST,
        autocommit: false,
      });
      let buffer: Message[] = [];
      let head = 0;
      let paused = false;
      let failure: Error | undefined;
      let wake: (() => void) | undefined;
      stream.on('data', (m: Message) => {
        buffer.push(m);
        if (!paused && buffer.length - head >= capacity) {
          paused = true;
          stream.pause(); // backpressure: stop fetching until the pipeline catches up
        }
        wake?.();
      });
      stream.on('error', (e: Error) => {
        failure = e;
        wake?.();
      });
      // Offsets of records handed out by the last poll: safe to commit once the next poll is asked for,
      // because the runtime only polls again after the previous batch has gone through the pipeline.
      let handedOut = new Map<
        string,
        { topic: string; partition: number; offset: bigint; leaderEpoch: number }
      >();
      const toCommit = new Map<
        string,
        { topic: string; partition: number; offset: bigint; leaderEpoch: number }
      >();
      let lastCommit = Date.now();
      // The highest offset handed out per partition. A rebalance makes the client fetch again from the
      // last commit; offsets only grow, so anything at or below this was already processed here.
      const highest = new Map<string, bigint>();
      const commit = async () => {
        if (toCommit.size === 0) return;
        const offsets = [...toCommit.values()];
        toCommit.clear();
        lastCommit = Date.now();
        await consumer.commit({ offsets });
      };
      // Dead letters of the batch being decoded; written to the topic before its offsets are handed out.
      const failed: KafkaDeadLetter[] = [];
      const decode = (m: Message): { ok: true; value: T } | { ok: false } => {
        const where = `${m.topic}[${m.partition}]@${m.offset}`;
        const r = format.decode(m.value);
        let code: string;
        let reason: string;
        if (r.ok) {
          if (parse === undefined) return { ok: true, value: r.value as T };
          try {
            return { ok: true, value: parse(r.value) };
          } catch (e) {
            code = 'parse-failed';
            reason = e instanceof Error ? e.message : String(e);
          }
        } else {
          code = r.code;
          reason = r.reason;
        }
        ctx.deadLetter('EDDY_DECODE_FAILED', `${where}: ${reason}`, m.value ?? '');
        if (deadLetterTopic !== undefined) failed.push({ message: m, code, reason });
        return { ok: false };
      };
      return {
        async poll(max): Promise<SourceBatch<T> | null> {
          for (const [k, v] of handedOut) toCommit.set(k, v);
          handedOut = new Map();
          if (Date.now() - lastCommit >= 1000) await commit();
          if (failure !== undefined) throw failure;
          if (head >= buffer.length) {
            // Wait briefly for data rather than spin; the runtime polls again on an empty batch.
            await new Promise<void>((resolve) => {
              const t = setTimeout(done, 50);
              function done() {
                clearTimeout(t);
                wake = undefined;
                ctx.signal.removeEventListener('abort', done);
                resolve();
              }
              wake = done;
              ctx.signal.addEventListener('abort', done, { once: true });
            });
            if (head >= buffer.length) return { values: [] };
          }
          // One batch = one partition, so that watermarks are tracked per partition.
          const first = buffer[head]!;
          const split = `${first.topic}:${first.partition}`;
          const seen = highest.get(split) ?? -1n;
          let top = seen;
          const values: T[] = [];
          const times: number[] = [];
          let last = first;
          const batch: Message[] = [];
          while (head < buffer.length && batch.length < max) {
            const m = buffer[head]!;
            if (m.topic !== first.topic || m.partition !== first.partition) break;
            head++;
            if (m.offset <= top) continue; // fetched again after a rebalance: already handed out
            top = m.offset;
            last = m;
            batch.push(m);
          }
          // Whatever the format needs for the whole batch (Avro schemas), fetched once, bounded in time.
          const preparing = format.prepare?.(batch.map((m) => m.value));
          if (preparing !== undefined) await preparing;
          for (const m of batch) {
            const d = decode(m);
            if (!d.ok) continue;
            values.push(d.value);
            times.push(Number(m.timestamp));
          }
          if (failed.length > 0) {
            // Durable before the offsets below can be committed or checkpointed; a failure fails the source.
            const letters = failed.splice(0);
            await deadLetterTopic!.send(letters);
          }
          if (top > seen) {
            highest.set(split, top);
            handedOut.set(split, {
              topic: last.topic,
              partition: last.partition,
              offset: last.offset + 1n,
              leaderEpoch: last.leaderEpoch,
            });
          }
          if (head > 4096 && head * 2 > buffer.length) {
            buffer = buffer.slice(head);
            head = 0;
          }
          if (paused && buffer.length - head < capacity / 2) {
            paused = false;
            stream.resume();
          }
          return { values, times, split };
        },
        async close() {
          // Records handed out by the last poll have been processed by the time the runtime closes the reader.
          for (const [k, v] of handedOut) toCommit.set(k, v);
          await commit().catch(() => {});
          await stream.close().catch(() => {});
          await consumer.close(true).catch(() => {});
          await deadLetterTopic?.close().catch(() => {});
        },
      };
    },
  };
}
