/**
 * A Kafka application's source (`app.source`): its options checked and
 * settled (`appSource`), and its reader, run by the task of one key-group
 * partition (task.ts), which hands out the records the task's fetch
 * buffered, decoded and checked with `parse`; a repartition record carrying
 * an input record taken before is skipped (`PartitionTask.seen`), one
 * the forwarding task rejected is dead-lettered here, one whose key belongs
 * to another partition (input read without repartitioning) is dead-lettered
 * with the fix; a later stage's source reads the earlier stage's watermark
 * markers and floors (carried.ts). Its position at a barrier is the task's
 * next offset, which goes into that checkpoint's transaction, with the dead
 * letters so far.
 */
import { type KafkaAppSourceOptions, kafkaPartition } from '../../connectors/kafka/app-options.ts';
import { CarriedWatermarks, carriedOf } from '../../connectors/kafka/carried.ts';
import { deadLetterMessage } from '../../connectors/kafka/dead-letters.ts';
import type { FetchedMessage } from '../../connectors/kafka/fetched.ts';
import { decodeValue, type KafkaFormat, resolveFormat } from '../../connectors/kafka/formats.ts';
import { forwardedOf, rejectedInput } from '../../connectors/kafka/forwarded.ts';
import { fitToLimit } from '../../connectors/kafka/topics.ts';
import { resolveOptions } from '../../connectors/options.ts';
import type { Source, SourceBatch, SourceContext, SourceReader } from '../../core/connector.ts';
import type { Key } from '../../core/key-groups.ts';
import { configError, describe, EddyError } from '../../errors/index.ts';
import { KAFKA_APP_SOURCE_OPTIONS } from './options.ts';
import { PartitionTask, type TxMessage, TxWriter } from './task.ts';

export interface AppSourceConfig {
  topics: string[];
  bufferSize: number;
  /** The topic whose partitions are the key groups: the repartition topic, or the one input topic. */
  keyed: string;
  keyBy: ((value: unknown) => Key | undefined) | undefined;
  deadLetterTopic: string | undefined;
  format: KafkaFormat;
  parse: ((value: unknown) => unknown) | undefined;
  /** Written by an earlier stage that carries event time and watermarks (carried.ts). */
  carried: boolean;
  /** Records are used where they were read, whatever their key (pre-aggregate.ts's input stage). */
  anyPartition: boolean;
}

/** The source position's entry for a later stage's carried watermarks (carried.ts). */
const CARRIED_POSITION = '~carried';

export type Decoded =
  | { ok: true; value: unknown }
  | { ok: false; code: string; reason: string; eddyCode: string };

/** Dead-letters a record read (eddy's dead-letter output, and the dead-letter topic if any). */
type Reject = (m: FetchedMessage, code: string, reason: string, eddyCode: string, truncated?: string) => void;

/** What the reader needs of its application. */
export interface AppSourceLinks {
  readonly repartitionTopic: string;
  /** The key-group partitions. */
  readonly partitions: number;
  /** The pipeline's key of a record as read, when its keyBy follows the source directly (no repartition). */
  readonly keyOf: () => ((value: unknown) => Key) | undefined;
  /** The largest record a topic takes. */
  readonly limitOf: (topic: string) => number;
  /** Called after records were taken: the application may resume a paused fetch. */
  readonly resume: () => void;
}

/** What `app.source` needs of its application (app.ts). */
export interface AppSourceOwner {
  readonly repartitionTopic: string;
  /** Takes the topics of an app.source call; throws when the application reads another app.source already (`twoSources`). */
  readonly claim: (topics: readonly string[]) => void;
  /** Keeps the source's settled configuration: the application runs with it. */
  readonly adopt: (config: AppSourceConfig) => void;
  /** When a task opens the source: the configuration the application runs with, and what the reader needs of it. */
  readonly reading: () => { readonly config: AppSourceConfig; readonly links: AppSourceLinks };
}

/** The application's input (`app.source`): its options checked, its configuration settled and kept by `owner`. */
export function appSource<T>(options: KafkaAppSourceOptions<T>, owner: AppSourceOwner): Source<T> {
  const o = resolveOptions('app.source', KAFKA_APP_SOURCE_OPTIONS, options);
  const keyBy = o.keyBy;
  if (keyBy === undefined && o.topics.length > 1) {
    throw configError(
      'app.source with several topics needs keyBy (their partitions are assigned independently, so they are repartitioned into one topic)',
      o.topics,
      'pass { keyBy: (value) => value.key }',
    );
  }
  if (o.carried && keyBy !== undefined)
    throw configError(
      'app.source with carried: true reads a topic an earlier stage partitioned; it takes no keyBy',
      'keyBy',
      'leave keyBy out',
    );
  if (o.anyPartition && keyBy !== undefined)
    throw configError(
      'app.source with anyPartition: true uses records where they are read; it takes no keyBy',
      'keyBy',
      'leave keyBy out, or anyPartition',
    );
  owner.claim(o.topics);
  owner.adopt({
    topics: [...o.topics],
    bufferSize: o.bufferSize,
    keyed: keyBy === undefined ? o.topics[0]! : owner.repartitionTopic,
    keyBy: keyBy as ((value: unknown) => Key | undefined) | undefined,
    deadLetterTopic: o.deadLetterTopic,
    format: resolveFormat(o.format, o.limits),
    parse: o.parse,
    carried: o.carried,
    anyPartition: o.anyPartition,
  });
  return {
    kind: 'kafka-app',
    messaging: { system: 'kafka', destination: o.topics.join(',') },
    eventTimes: true,
    splittable: true,
    // Repartitioned, the forwarding tasks carry event time and watermarks too (forwarder.ts).
    ...(o.carried || keyBy !== undefined ? { carriesWatermarks: true } : {}),
    open(ctx): SourceReader<T> {
      const task = ctx.deployment;
      if (!(task instanceof PartitionTask) || task.kind !== 'state')
        throw new EddyError('EDDY_STATE_INVALID', 'app.source is read by kafkaApp.run only');
      const { config, links } = owner.reading();
      return appSourceReader<T>(task, config, ctx, links);
    },
  };
}

/** The error of a second app.source in one application. */
export function twoSources(first: readonly string[], second: readonly string[]): EddyError {
  return configError(
    `a Kafka application reads one app.source, and this one already reads [${first.join(', ')}]`,
    `a second app.source of [${second.join(', ')}]`,
    `read every topic with one app.source({ topics: [${[...first, ...second].map((t) => JSON.stringify(t)).join(', ')}], keyBy }), or run another kafkaApp with its own applicationId`,
  );
}

/** The reader of `app.source` for `task`'s partition. */
export function appSourceReader<T>(
  task: PartitionTask,
  config: AppSourceConfig,
  ctx: SourceContext,
  app: AppSourceLinks,
): SourceReader<T> {
  const dlq =
    config.deadLetterTopic === undefined
      ? undefined
      : { topic: config.deadLetterTopic, writer: new TxWriter(task) };
  const reject: Reject = (m, code, reason, eddyCode, truncated) => {
    const where = `${m.topic}[${m.partition}]@${m.offset}`;
    ctx.deadLetter(eddyCode, `${where}: ${reason}`, m.value ?? '');
    if (dlq !== undefined) {
      const letter = deadLetterMessage(dlq.topic, {
        message: m,
        code,
        reason,
        ...(truncated === undefined ? {} : { truncated }),
      }) as TxMessage;
      // Never lost for its size: cut to fit, with what was cut named (issue 19, point 9).
      void dlq.writer.send([fitToLimit(letter, app.limitOf(dlq.topic))]).catch(() => {});
    }
  };
  // A later stage: the earlier stage's watermarks as read so far (restored with the position).
  const carried =
    config.carried || config.keyBy !== undefined
      ? new CarriedWatermarks((ctx.restored as Record<string, unknown> | undefined)?.[CARRIED_POSITION])
      : undefined;
  let stopped = false;
  ctx.signal.addEventListener('abort', () => {
    stopped = true;
    task.wake();
  });
  return {
    async poll(max): Promise<SourceBatch<T> | null> {
      if (stopped || task.closed) return null;
      if (task.pausing) {
        // Stopping with a savepoint: nothing more is handed out, and the input does not end (an
        // ended input would fire every open window as if final: issue 19, point 8).
        await task.waitForRecords(50);
        return { values: [] };
      }
      if (task.backlog() === 0) {
        await task.waitForRecords(50);
        if (task.backlog() === 0) return { values: [] };
      }
      if (config.format.prepare !== undefined) {
        // Whatever the format needs for these records (Avro schemas), fetched once per batch.
        const slice = task.peekMany(max).map((m) => m.value);
        await config.format.prepare(slice);
      }
      return take(task, config, app, max, reject, carried) as SourceBatch<T>;
    },
    wake() {
      task.wake();
    },
    position() {
      // At the barrier: the offset goes into the checkpoint's transaction, and so do the dead
      // letters so far; later ones wait for the next transaction (the sinks seal themselves).
      task.markBarrier();
      dlq?.writer.seal();
      const at: Record<string, unknown> =
        task.taken === undefined ? {} : { [task.split]: String(task.taken) };
      if (carried !== undefined) at[CARRIED_POSITION] = carried.snapshot();
      return at;
    },
  };
}

/** Decodes a record's value and checks it with `parse`. */
export function decodeRecord(config: AppSourceConfig, m: FetchedMessage): Decoded {
  const r = decodeValue(config.format, config.parse, m.value);
  return r.ok ? r : { ...r, eddyCode: 'EDDY_DECODE_FAILED' };
}

/** Hands out up to `max` buffered records of a key-group partition. */
function take(
  task: PartitionTask,
  config: AppSourceConfig,
  app: AppSourceLinks,
  max: number,
  reject: Reject,
  carried?: CarriedWatermarks,
): SourceBatch<unknown> {
  const values: unknown[] = [];
  const times: number[] = [];
  // A later stage: floors of records late upstream (made once one is), and the markers' watermark.
  let floors: number[] | undefined;
  const repartitioned = task.topic === app.repartitionTopic;
  const keyOf = repartitioned || config.anyPartition ? undefined : app.keyOf();
  while (values.length < max) {
    const m = task.take();
    if (m === undefined) break;
    if (repartitioned) {
      const forwarded = forwardedOf(m);
      if (forwarded !== undefined) {
        if (task.seen(forwarded.split, forwarded.offset)) continue;
        if (forwarded.rejected !== undefined) {
          const r = rejectedInput(m, forwarded);
          reject(r.original, r.code, r.reason, r.eddyCode, r.truncated);
          continue;
        }
      }
    }
    let floor = Number.NEGATIVE_INFINITY;
    let time = Number(m.timestamp);
    if (carried !== undefined) {
      const c = carriedOf(m);
      if ('marker' in c) {
        carried.note(c.marker.from, c.marker.of, c.marker.watermark, c.marker.idle);
        continue;
      }
      floor = c.floor;
      if (c.time !== undefined) time = c.time;
    }
    const d = decodeRecord(config, m);
    if (!d.ok) {
      reject(m, d.code, d.reason, d.eddyCode);
      continue;
    }
    if (keyOf !== undefined) {
      // Issue 19 (point 9): a record whose key belongs to another partition put state into a key group
      // this task does not own, and every commit failed on it, for ever. It is a dead letter instead.
      const wrong = wrongPartition(keyOf, d.value, m, app.partitions);
      if (wrong !== undefined) {
        reject(m, 'wrong-partition', wrong, 'EDDY_CONFIG_INVALID');
        continue;
      }
    }
    if (floor !== Number.NEGATIVE_INFINITY)
      (floors ??= new Array<number>(values.length).fill(Number.NEGATIVE_INFINITY)).push(floor);
    else floors?.push(floor);
    values.push(d.value);
    times.push(time);
  }
  task.compact();
  app.resume();
  if (carried === undefined) return { values, times, split: task.split };
  const watermark = carried.watermark();
  return {
    values,
    times,
    split: task.split,
    idle: carried.idle(),
    ...(floors === undefined ? {} : { floors }),
    ...(watermark === undefined ? {} : { watermark }),
  };
}

/** Why a record read without repartitioning is in the wrong partition for its key, or undefined. */
function wrongPartition(
  keyOf: (value: unknown) => Key,
  value: unknown,
  m: FetchedMessage,
  partitions: number,
): string | undefined {
  let key: Key;
  try {
    key = keyOf(value);
  } catch {
    return undefined; // the pipeline's keyBy throws on it too, and dead-letters it there
  }
  const expected = kafkaPartition(key, partitions);
  if (expected === m.partition) return undefined;
  return `key ${describe(key)} belongs to partition ${expected} of ${partitions} (kafkaPartition), but the record was read from partition ${m.partition}; produce records with partition kafkaPartition(key, ${partitions}), or give app.source a keyBy to repartition them`;
}
