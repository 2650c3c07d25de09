/**
 * The Kafka source (at-least-once without transactions), on @platformatic/kafka.
 *
 * It joins a consumer group; each partition is a split with its own
 * watermark. At parallelism n every subtask joins with its own consumer and
 * reads the partitions it owns (subtasks.ts: by topic, partition and n only,
 * so a partition never moves between the subtasks of a running job).
 * Without checkpoints, offsets are committed (at most once a second, and
 * on close) only for records the pipeline has taken from the
 * source's previous batch. That is not at-least-once across a crash: a sink
 * may still hold their outputs unsent (`kafkaSink` keeps up to four sends in
 * flight), a window holds what it aggregates in memory, and with worker
 * threads a batch may still be on its way to another thread; a crash at that
 * moment loses what their committed offsets cover. With checkpoints (`eddy
 * run` always takes them), each partition's offset goes into the checkpoint
 * (`position()`), and a restore reads on from there, so restored state and
 * input agree; the group's offsets are then committed only when a checkpoint
 * completes, and only up to its barrier (Flink's commit on checkpoint). So a
 * start that finds no checkpoint (the process was killed before its first one
 * completed) reads from where durable state ends, never past records whose
 * effect on keyed state was lost with the process. When eddy's buffer of
 * fetched records is full the stream is paused (backpressure) and resumed when
 * it drains. Values are decoded by a format (formats.ts: JSON with the safe
 * codec, string, bytes, Avro with schema-registry framing): undecodable records
 * go to the dead-letter output with the reason, topic, partition and offset,
 * and, with `deadLetterTopic`, to that topic (dead-letters.ts) before their
 * offsets can be committed.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import {
  Consumer,
  FetchIsolationLevels,
  type MessagesStream,
  MessagesStreamFallbackModes,
  MessagesStreamModes,
} from '@platformatic/kafka';
import type { Source, SourceBatch, SourceReader } from '../../core/connector.ts';
import { EddyError } from '../../errors/index.ts';
import { resolveOptions } from '../options.ts';
import { committedReads } from './aborted.ts';
import { brokersOf } from './brokers.ts';
import { closeConsumer } from './close.ts';
import { DeadLetterTopic, type KafkaDeadLetter } from './dead-letters.ts';
import { type FetchedMessage, fastReads } from './fast-reads.ts';
import { FETCH_LIMITS } from './fetch.ts';
import { FetchedRecords } from './fetched.ts';
import { decodeValue, resolveFormat } from './formats.ts';
import { KAFKA_SOURCE_OPTIONS, type KafkaSourceOptions } from './options.ts';
import { partitionOwner, SUBTASK_PROTOCOL, subtaskAssignor, subtaskData } from './subtasks.ts';

export type { KafkaSourceOptions };

/** A checkpoint's positions (`position()`: "topic:partition" → next offset), checked. */
function restoredOffsets(restored: unknown, stepId: string): Map<string, bigint> | undefined {
  if (restored === undefined) return undefined;
  const bad = () =>
    new EddyError(
      'EDDY_CHECKPOINT_INVALID',
      `the checkpoint's position of Kafka source "${stepId}" is not { "topic:partition": "offset" }: ${JSON.stringify(restored).slice(0, 200)}; restore from a checkpoint this source wrote, or start without one`,
    );
  if (restored === null || typeof restored !== 'object' || Array.isArray(restored)) throw bad();
  const at = new Map<string, bigint>();
  for (const [split, offset] of Object.entries(restored)) {
    if (!/^.+:\d+$/.test(split) || typeof offset !== 'string' || !/^\d+$/.test(offset)) throw bad();
    at.set(split, BigInt(offset));
  }
  return at;
}

/** What each source `kafkaSource` made was made with (for `kafkaSourceOptions`). */
const made = new WeakMap<object, KafkaSourceOptions<unknown>>();

/**
 * The options `source` was made with (checked, defaults filled in), when
 * `kafkaSource` made it; else undefined. `eddy run --kafka` reads them to run
 * the same module as a Kafka application (its sources become the
 * application's input).
 */
export function kafkaSourceOptions(source: object): KafkaSourceOptions<unknown> | undefined {
  return made.get(source);
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
  const o = resolveOptions('kafkaSource', KAFKA_SOURCE_OPTIONS, options);
  const instanceId = o.groupInstanceId;
  const reconnectTimeoutMs = o.reconnectTimeoutMs;
  const bootstrapBrokers = brokersOf(o.brokers);
  const format = resolveFormat(o.format, o.limits);
  const capacity = o.bufferSize;
  const parse = o.parse;
  const source: Source<T> = {
    kind: 'kafka',
    messaging: { system: 'kafka', destination: o.topics.join(',') },
    eventTimes: true,
    // Every subtask reads its own share of the partitions (subtasks.ts).
    splittable: true,
    async open(ctx): Promise<SourceReader<T>> {
      const mine = (split: string) => {
        const i = split.lastIndexOf(':');
        return partitionOwner(split.slice(0, i), Number(split.slice(i + 1)), ctx.parallelism) === ctx.subtask;
      };
      const consumer = committedReads(
        new Consumer({
          clientId: ctx.parallelism > 1 ? `eddy-${ctx.stepId}-${ctx.subtask}` : `eddy-${ctx.stepId}`,
          bootstrapBrokers,
          groupId: o.groupId,
          ...(instanceId === undefined ? {} : { groupInstanceId: `${instanceId}-${ctx.subtask}` }),
          // Each member says which subtask it is and gets that subtask's partitions, always the same
          // ones while the job runs (subtasks.ts).
          protocols: [
            { name: SUBTASK_PROTOCOL, version: 1, metadata: subtaskData(ctx.subtask, ctx.parallelism) },
          ],
          partitionAssigner: subtaskAssignor,
          autocommit: false,
          isolationLevel: FetchIsolationLevels.READ_COMMITTED,
          // At most 1 MiB per partition a fetch (the client's default is 50 MiB): decoding a backlog
          // fetched in larger slices is several times slower (fetch.ts).
          ...FETCH_LIMITS,
        }),
      );
      const deadLetterTopic =
        o.deadLetterTopic === undefined
          ? undefined
          : new DeadLetterTopic({
              topic: o.deadLetterTopic,
              bootstrapBrokers,
              clientId: `eddy-${ctx.stepId}-dlq`,
              retryForMs: reconnectTimeoutMs,
              signal: ctx.signal,
              sizeFrom: o.topics,
            });
      // Restored from a checkpoint: where each partition was when it was taken. The pipeline's state
      // holds exactly the records before these offsets, so reading goes on from them, not from the
      // group's committed offsets (committed after processing, they may be ahead of the checkpoint).
      const restored = restoredOffsets(ctx.restored, ctx.stepId);
      const consume = () => {
        if (restored === undefined)
          return consumer.consume({
            topics: [...o.topics],
            mode: MessagesStreamModes.COMMITTED,
            fallbackMode: MessagesStreamFallbackModes.EARLIEST,
            autocommit: false,
          });
        // After a restore, every stream (a reconnect's too) starts where this reader is: after what it
        // handed out, else at the checkpoint's offset; a partition in neither from its earliest record.
        const at = new Map(restored);
        for (const [split, top] of highest) if ((at.get(split) ?? -1n) <= top) at.set(split, top + 1n);
        return consumer.consume({
          topics: [...o.topics],
          mode: MessagesStreamModes.MANUAL,
          offsets: [...at].map(([split, offset]) => {
            const i = split.lastIndexOf(':');
            return { topic: split.slice(0, i), partition: Number(split.slice(i + 1)), offset };
          }),
          fallbackMode: MessagesStreamFallbackModes.EARLIEST,
          autocommit: false,
        });
      };
      // The highest offset handed out per partition. A rebalance makes the client fetch again from the
      // last commit; offsets only grow, so anything at or below this was already processed here.
      const highest = new Map<string, bigint>();
      for (const [split, offset] of restored ?? []) highest.set(split, offset - 1n);
      let stream: MessagesStream<Buffer, Buffer, Buffer, Buffer>;
      try {
        stream = await consume();
      } catch (e) {
        await closeConsumer(consumer);
        // The client's own words are "Unknown topic <name>.": say which option and what to do.
        const missing = e instanceof Error ? /^Unknown topic (.+)\.$/.exec(e.message)?.[1] : undefined;
        if (missing === undefined) throw e;
        throw new EddyError(
          'EDDY_CONFIG_INVALID',
          `kafkaSource: topic "${missing}" (in topics: ${o.topics.join(', ')}) does not exist (brokers ${bootstrapBrokers.join(',')}); create it first (e.g. kafka-topics --create --topic ${missing} --partitions 4), or correct the topic's name`,
          { cause: e, stepId: ctx.stepId },
        );
      }
      if (ctx.parallelism > 1) {
        // More subtasks than partitions: this one has none, now or later in this run, so its
        // reader ends at once rather than hold the watermark back (a generator's extra subtask does
        // the same). Partitions added to a topic while the job runs are read by their owner if it
        // runs, else after a restart.
        const known = await consumer.metadata({ topics: [...o.topics] });
        let owned = 0;
        for (const topic of o.topics) {
          const count = known.topics.get(topic)?.partitionsCount ?? 0;
          for (let p = 0; p < count; p++) if (mine(`${topic}:${p}`)) owned++;
        }
        if (owned === 0) {
          await stream.close().catch(() => {});
          await closeConsumer(consumer);
          return { splits: [], poll: () => null, position: () => ({}) };
        }
      }
      const buffer = new FetchedRecords();
      let paused = false;
      let failure: Error | undefined;
      let wake: (() => void) | undefined;
      let closed = false;
      const lost = (what: string, e: unknown) =>
        new EddyError(
          'EDDY_IO_FAILED',
          `could not ${what} for ${reconnectTimeoutMs} ms (brokers ${bootstrapBrokers.join(',')}); last error: ${
            e instanceof Error ? e.message : String(e)
          }; check that the brokers run, or raise reconnectTimeoutMs`,
          { cause: e, retriable: true, stepId: ctx.stepId },
        );
      // Issue 4 (broker restart). The client retries a failed fetch a few times (3 x 1 s by default),
      // then ends the stream with the error, and a broker restart takes longer than that. So a failed
      // stream is replaced: same consumer (it rejoins the group by itself), from the committed offsets
      // (`highest` below drops what was already handed out), with backoff; only an outage longer than
      // reconnectTimeoutMs fails the source.
      // When the current outage began: kept across replacement streams that fail again soon (a stream
      // can open and then fail, e.g. on a topic it may not read), so those cannot retry for ever.
      let outageSince: number | undefined;
      let connectedAt = Date.now();
      const reconnect = async (failed: MessagesStream<Buffer, Buffer, Buffer, Buffer>, error: Error) => {
        if (outageSince === undefined || Date.now() - connectedAt > 10_000) outageSince = Date.now();
        const since = outageSince;
        if (Date.now() - since >= reconnectTimeoutMs) {
          failure ??= lost('read from Kafka', error);
          wake?.();
          return;
        }
        await failed.close().catch(() => {});
        let delay = 200;
        while (!closed && !ctx.signal.aborted) {
          await sleep(delay, undefined, { signal: ctx.signal }).catch(() => {});
          if (closed || ctx.signal.aborted) return;
          try {
            // A join may itself retry for a while; wait for it no longer than the outage has left.
            const joining = consume();
            const left = since + reconnectTimeoutMs - Date.now();
            const next = await Promise.race([
              joining,
              sleep(Math.max(left, 0)).then(() => {
                throw new Error(`no answer within ${reconnectTimeoutMs} ms`);
              }),
            ]).catch((e: unknown) => {
              joining.then(
                (late) => late.close().catch(() => {}),
                () => {},
              );
              throw e;
            });
            if (closed) {
              await next.close().catch(() => {});
              return;
            }
            stream = next;
            connectedAt = Date.now();
            paused = false;
            attach(next);
            wake?.();
            return;
          } catch (e) {
            if (Date.now() - since >= reconnectTimeoutMs) {
              failure ??= lost('reach the Kafka brokers', e);
              wake?.();
              return;
            }
            delay = Math.min(delay * 2, 5000);
          }
        }
      };
      const reads = fastReads(consumer);
      const attach = (s: MessagesStream<Buffer, Buffer, Buffer, Buffer>) => {
        const received = (records: readonly FetchedMessage[]) => {
          if (s !== stream) return; // a replaced stream's last records: the new one fetches them again
          outageSince = undefined;
          for (const m of records) buffer.push(m);
          if (!paused && buffer.size >= capacity) {
            paused = true;
            s.pause(); // backpressure: stop fetching until the pipeline catches up
          }
          wake?.();
        };
        // A fetch response at a time (fast-reads.ts); the data events stay, for a stream the fast
        // path cannot serve, and because a stream without a data listener does not fetch.
        reads.attach(s, received);
        s.on('data', (m: FetchedMessage) => received([m]));
        s.on('error', (e: Error) => {
          if (s !== stream || closed) return;
          void reconnect(s, e);
        });
      };
      attach(stream);
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
      // With checkpoints: per barrier (checkpoint id), each partition's next offset as position() saw it.
      // Committed when that checkpoint completes, never before: the checkpoint holds the state they
      // match, so the group's offsets never run ahead of durable state.
      const checkpointing = ctx.checkpointing === true;
      const barriers = new Map<number, typeof handedOut>();
      const latest = new Map<
        string,
        { topic: string; partition: number; offset: bigint; leaderEpoch: number }
      >();
      let lastCommit = Date.now();
      // One commit at a time, not awaited by poll: while the brokers are away the pipeline goes on with
      // what it has fetched, and offsets that could not be committed are committed with the next ones.
      let committing: Promise<void> | undefined;
      let commitFailingSince: number | undefined;
      const commit = (): Promise<void> => {
        if (committing !== undefined) return committing;
        if (toCommit.size === 0) return Promise.resolve();
        const offsets = [...toCommit.values()];
        toCommit.clear();
        lastCommit = Date.now();
        const started = lastCommit;
        committing = consumer
          .commit({ offsets })
          .then(
            () => {
              commitFailingSince = undefined;
            },
            (e: unknown) => {
              for (const o of offsets) {
                const k = `${o.topic}:${o.partition}`;
                if ((toCommit.get(k)?.offset ?? -1n) < o.offset) toCommit.set(k, o);
              }
              commitFailingSince ??= started;
              if (Date.now() - commitFailingSince >= reconnectTimeoutMs) {
                failure ??= lost('commit offsets', e);
              }
            },
          )
          .finally(() => {
            committing = undefined;
          });
        return committing;
      };
      // Dead letters of the batch being decoded; written to the topic before its offsets are handed out.
      const failed: KafkaDeadLetter[] = [];
      const decode = (m: FetchedMessage): { ok: true; value: T } | { ok: false } => {
        const r = decodeValue(format, parse, m.value);
        if (r.ok) return { ok: true, value: r.value as T };
        ctx.deadLetter(
          'EDDY_DECODE_FAILED',
          `${m.topic}[${m.partition}]@${m.offset}: ${r.reason}`,
          m.value ?? '',
        );
        if (deadLetterTopic !== undefined) failed.push({ message: m, code: r.code, reason: r.reason });
        return { ok: false };
      };
      // The partitions assigned on joining, known before their first record: each holds the
      // watermark back until it has reported, so a partition fetched later than the others (a backlog
      // read one partition at a time) is not judged late against them.
      const splits = (consumer.assignments ?? [])
        .flatMap((a) => a.partitions.map((p) => `${a.topic}:${p}`))
        .filter(mine);
      return {
        splits,
        async poll(max): Promise<SourceBatch<T> | null> {
          if (!checkpointing) for (const [k, v] of handedOut) toCommit.set(k, v);
          handedOut = new Map();
          if (toCommit.size > 0 && Date.now() - lastCommit >= 1000) void commit();
          if (failure !== undefined) throw failure;
          if (buffer.size === 0) {
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
            if (buffer.size === 0) return { values: [] };
          }
          if (ctx.parallelism > 1) {
            // Another subtask's partition: the client gives a group's only member every partition
            // without asking the assignor, so while this subtask is alone in the group (the others
            // still joining) it fetches theirs too. Their records are theirs to hand out.
            let head = buffer.peek();
            while (head !== undefined && !mine(`${head.topic}:${head.partition}`)) {
              buffer.take();
              head = buffer.peek();
            }
            if (head === undefined) {
              buffer.compact();
              if (paused) {
                paused = false;
                stream.resume();
              }
              return { values: [] };
            }
          }
          // One batch = one partition, so that watermarks are tracked per partition.
          const first = buffer.peek()!;
          const split = `${first.topic}:${first.partition}`;
          const seen = highest.get(split) ?? -1n;
          let top = seen;
          const values: T[] = [];
          const times: number[] = [];
          let last = first;
          const batch: FetchedMessage[] = [];
          while (batch.length < max) {
            const m = buffer.peek();
            if (m === undefined || m.topic !== first.topic || m.partition !== first.partition) break;
            buffer.take();
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
            const next = {
              topic: last.topic,
              partition: last.partition,
              offset: last.offset + 1n,
              leaderEpoch: last.leaderEpoch,
            };
            handedOut.set(split, next);
            if (checkpointing) latest.set(split, next);
          }
          buffer.compact();
          if (paused && buffer.size < capacity / 2) {
            paused = false;
            stream.resume();
          }
          return { values, times, split };
        },
        position(checkpointId) {
          // At a checkpoint barrier: per partition this subtask owns, the offset after the last record
          // handed out. Restored offsets of other subtasks' partitions are left to their owners: a
          // checkpoint's positions are the union over subtasks.
          const at: Record<string, string> = {};
          for (const [split, top] of highest) if (mine(split)) at[split] = String(top + 1n);
          if (checkpointing && checkpointId !== undefined) barriers.set(checkpointId, new Map(latest));
          return at;
        },
        checkpointComplete(checkpointId) {
          // This checkpoint and every earlier barrier (one that failed is subsumed) are durable now.
          for (const [id, offsets] of barriers) {
            if (id > checkpointId) continue;
            barriers.delete(id);
            for (const [k, v] of offsets) if ((toCommit.get(k)?.offset ?? -1n) < v.offset) toCommit.set(k, v);
          }
          // Not awaited: a commit that fails is retried with the next ones (see commit above).
          void commit();
        },
        async close() {
          // Without checkpoints, records handed out by the last poll have been processed by now. With
          // them, only what a completed checkpoint covers is committed (checkpointComplete above).
          if (!checkpointing) for (const [k, v] of handedOut) toCommit.set(k, v);
          closed = true;
          await committing;
          await commit();
          await stream.close().catch(() => {});
          await closeConsumer(consumer);
          await deadLetterTopic?.close().catch(() => {});
        },
      };
    },
  };
  made.set(source, o as KafkaSourceOptions<unknown>);
  return source;
}
