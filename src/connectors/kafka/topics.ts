/**
 * What eddy must know of a topic before it writes there, and the topics it
 * creates itself.
 *
 * Issue 19 (point 9): a record the broker refuses for its size fails a whole
 * transaction, and the client gives no way out but a retry of the same
 * record, so a task that wrote it restarted for ever. Kafka refuses a record
 * *batch* larger than the topic's `max.message.bytes`, and the client puts
 * every message of one send to one partition into one batch. So eddy reads
 * each destination's limit once (`describeTopics`), checks every record
 * against it before sending (`recordBytes`), splits sends so that no batch
 * passes it (`splitByLimit`), and cuts dead letters to fit (`fitToLimit`).
 * The internal topics it creates (changelog, repartition, dead letters) get a
 * limit at least that of the input topics, so what could be read can be
 * forwarded (`ensureTopic`).
 *
 * Issue 19 (point 11): a producer's send to a topic that does not exist
 * waits for it for ever (the client asks for metadata without creating
 * topics and retries); so sinks look their topic up when they open and fail
 * at once with the fix, or create it when told to (`createTopic`).
 *
 * @example
 * ```ts
 * const info = (await describeTopics(admin, ['orders'])).get('orders'); // undefined: no such topic
 * if (recordBytes(key, value, headers) + BATCH_OVERHEAD_BYTES > info.maxMessageBytes) …
 * ```
 */
import { type Admin, ConfigResourceTypes, IncrementalAlterConfigOperationTypes } from '@platformatic/kafka';

import { configError, EddyError } from '../../errors/index.ts';
import { hasKafkaError } from './errors.ts';

/** Kafka's own default for `max.message.bytes` (1 MiB + 12), used for a topic eddy cannot look up. */
export const KAFKA_DEFAULT_MAX_MESSAGE_BYTES = 1_048_588;

/**
 * The fixed part of a record batch (v2): base offset, length, epoch, magic,
 * CRC, attributes, offsets, timestamps, producer id/epoch, sequence, count.
 * The broker compares this plus the records against `max.message.bytes`
 * (measured: a 1,930-byte value fits a 2,000-byte topic, 1,931 does not).
 */
export const BATCH_OVERHEAD_BYTES = 61;

/**
 * Room above the input topics' limit that eddy's internal topics get, for
 * the headers eddy adds to a record it carries (its input position, a
 * rejection reason of at most 1,000 characters, dead-letter headers).
 */
export const INTERNAL_HEADROOM_BYTES = 16 * 1024;

export interface TopicInfo {
  readonly partitions: number;
  /** The topic's `max.message.bytes` (its own setting, else the broker's). */
  readonly maxMessageBytes: number;
  /** Whether `cleanup.policy` includes compact (such a topic refuses records without a key). */
  readonly compacted: boolean;
}

/** What to create a topic with when it is missing (a sink's `createTopic` option). */
export interface CreateTopicOptions {
  readonly partitions: number;
  /** Default -1: the broker's `default.replication.factor`. */
  readonly replicationFactor?: number;
  /** Topic configs, e.g. `{ 'retention.ms': '86400000' }`. */
  readonly configs?: Readonly<Record<string, string>>;
}

/** Checks a `createTopic` option (absent, or partitions ≥ 1 and a replication factor ≥ 1 or -1). */
export function checkCreateTopic(owner: string, o: CreateTopicOptions | undefined): void {
  if (o === undefined) return;
  if (o === null || typeof o !== 'object' || !Number.isInteger(o.partitions) || o.partitions < 1)
    throw configError(
      `${owner} createTopic needs a whole number of partitions ≥ 1`,
      o?.partitions,
      'pass e.g. createTopic: { partitions: 4, replicationFactor: 3 }',
    );
  const rf = o.replicationFactor;
  if (rf !== undefined && (!Number.isInteger(rf) || (rf < 1 && rf !== -1)))
    throw configError(
      `${owner} createTopic.replicationFactor must be a whole number ≥ 1 (or -1: the broker's default)`,
      rf,
      'pass e.g. replicationFactor: 3',
    );
}

/**
 * The topics of `topics` that exist, with their partition count, size limit
 * and cleanup policy. Existence is asked with a topic listing first: a
 * metadata or config request for a missing topic is retried for seconds.
 */
export async function describeTopics(
  admin: Admin,
  topics: readonly string[],
): Promise<Map<string, TopicInfo>> {
  const out = new Map<string, TopicInfo>();
  const all = new Set(await admin.listTopics());
  const existing = [...new Set(topics)].filter((t) => all.has(t));
  if (existing.length === 0) return out;
  const meta = await admin.metadata({ topics: existing, autocreateTopics: false });
  const configs = await admin.describeConfigs({
    resources: existing.map((t) => ({
      resourceType: ConfigResourceTypes.TOPIC,
      resourceName: t,
      configurationKeys: ['max.message.bytes', 'cleanup.policy'],
    })),
  });
  for (const t of existing) {
    const c = configs.find((d) => d.resourceName === t)?.configs ?? [];
    const limit = Number(c.find((x) => x.name === 'max.message.bytes')?.value);
    const policy = c.find((x) => x.name === 'cleanup.policy')?.value ?? 'delete';
    out.set(t, {
      partitions: meta.topics.get(t)?.partitionsCount ?? 0,
      maxMessageBytes: Number.isFinite(limit) && limit > 0 ? limit : KAFKA_DEFAULT_MAX_MESSAGE_BYTES,
      compacted: policy.split(',').includes('compact'),
    });
  }
  return out;
}

/**
 * Makes sure an internal topic exists and takes records of `minMaxMessageBytes`:
 * creates it with that limit (and `configs`), or raises the limit of an
 * existing one that is lower (made by an older eddy, or with broker defaults).
 * Another process creating it at the same time is fine.
 */
export async function ensureTopic(
  admin: Admin,
  o: {
    readonly topic: string;
    readonly partitions: number;
    readonly replicationFactor?: number;
    readonly configs?: Readonly<Record<string, string>>;
    readonly minMaxMessageBytes?: number;
    /** Whether an existing topic's lower limit is raised (default true; false for a topic the user made). */
    readonly grow?: boolean;
  },
): Promise<TopicInfo> {
  const want = o.minMaxMessageBytes;
  let info = (await describeTopics(admin, [o.topic])).get(o.topic);
  if (info === undefined) {
    const configs = Object.entries(o.configs ?? {}).map(([name, value]) => ({ name, value }));
    if (want !== undefined) configs.push({ name: 'max.message.bytes', value: String(want) });
    await admin
      .createTopics({
        topics: [o.topic],
        partitions: o.partitions,
        replicas: o.replicationFactor ?? -1,
        configs,
      })
      .catch((e: unknown) => {
        if (!hasKafkaError(e, 'TOPIC_ALREADY_EXISTS')) throw e;
      });
    // A new topic reaches the brokers' metadata a moment after CreateTopics answers.
    for (let wait = 50; info === undefined && wait <= 3200; wait *= 2) {
      info = (await describeTopics(admin, [o.topic])).get(o.topic);
      if (info === undefined) await new Promise((r) => setTimeout(r, wait));
    }
    if (info === undefined)
      throw new EddyError(
        'EDDY_IO_FAILED',
        `topic "${o.topic}" was created but the brokers do not list it; check the brokers' logs and try again`,
        { retriable: true },
      );
    return info;
  }
  if (want !== undefined && o.grow !== false && info.maxMessageBytes < want) {
    await admin.incrementalAlterConfigs({
      resources: [
        {
          resourceType: ConfigResourceTypes.TOPIC,
          resourceName: o.topic,
          configs: [
            {
              name: 'max.message.bytes',
              configOperation: IncrementalAlterConfigOperationTypes.SET,
              value: String(want),
            },
          ],
        },
      ],
    });
    info = { ...info, maxMessageBytes: want };
  }
  return info;
}

/**
 * A sink's destination: looked up, created when `create` says so, else an
 * error that names the topic and the fix (the client would wait for it for
 * ever).
 */
export async function sinkTopic(
  admin: Admin,
  owner: string,
  topic: string,
  brokers: readonly string[],
  create: CreateTopicOptions | undefined,
): Promise<TopicInfo> {
  const info = (await describeTopics(admin, [topic])).get(topic);
  if (info !== undefined) return info;
  if (create === undefined)
    throw new EddyError(
      'EDDY_CONFIG_INVALID',
      `${owner}: topic "${topic}" does not exist; received no createTopic option (brokers ${brokers.join(',')}); create the topic first (e.g. kafka-topics --create --topic ${topic} --partitions 4), or pass createTopic: { partitions: 4, replicationFactor: 3 } to let eddy create it`,
    );
  return ensureTopic(admin, {
    topic,
    partitions: create.partitions,
    ...(create.replicationFactor === undefined ? {} : { replicationFactor: create.replicationFactor }),
    ...(create.configs === undefined ? {} : { configs: create.configs }),
  });
}

/** A record on its way out: what its size depends on. */
export interface OutRecord {
  readonly topic: string;
  readonly partition?: number;
  readonly key?: Uint8Array | null | undefined;
  readonly value?: Uint8Array | null | undefined;
  readonly headers?: ReadonlyMap<Uint8Array, Uint8Array> | undefined;
}

function varint(n: number): number {
  let size = 1;
  let v = n >>> 0;
  while (v >= 0x80) {
    v >>>= 7;
    size++;
  }
  return size;
}

/**
 * The bytes a record takes in a record batch (v2): its fields with their
 * varint lengths. Its timestamp and offset deltas (from the batch's first
 * record) take `deltaBytes` together: at most 15 (10 + 5) in a batch of
 * several, 2 when the record is alone (both 0).
 */
export function recordBytes(r: OutRecord, deltaBytes = 15): number {
  let body = 1 + deltaBytes; // attributes, timestamp delta, offset delta
  const key = r.key?.length;
  body += key === undefined ? 1 : varint(key * 2) + key;
  const value = r.value?.length;
  body += value === undefined ? 1 : varint(value * 2) + value;
  let count = 0;
  for (const [k, v] of r.headers ?? []) {
    body += varint(k.length * 2) + k.length + varint(v.length * 2) + v.length;
    count++;
  }
  body += varint(count * 2);
  return varint(body * 2) + body;
}

/**
 * Whether the record fits, alone in a batch, in a topic of `limit` bytes:
 * exact (against the broker: a 1,930-byte value fits a 2,000-byte topic,
 * 1,931 does not — oversized.test.ts checks this).
 */
export function fitsAlone(r: OutRecord, limit: number): boolean {
  return aloneBytes(r) <= limit;
}

/** The size of a batch holding this record alone. */
export function aloneBytes(r: OutRecord): number {
  return BATCH_OVERHEAD_BYTES + recordBytes(r, 2);
}

/**
 * Splits messages, in order, into sends in which no partition's batch passes
 * its topic's limit. Messages without a partition count together per topic
 * (the client picks theirs). A message too large even alone gets a send of
 * its own (and the broker's refusal); callers check sizes first.
 */
export function splitByLimit<M extends OutRecord>(
  messages: readonly M[],
  limitOf: (topic: string) => number,
): M[][] {
  const sends: M[][] = [];
  let current: M[] = [];
  let sizes = new Map<string, number>();
  for (const m of messages) {
    const dest = `${m.topic}\u0000${m.partition ?? ''}`;
    const bytes = recordBytes(m);
    const now = sizes.get(dest) ?? BATCH_OVERHEAD_BYTES;
    if (current.length > 0 && now + bytes > limitOf(m.topic)) {
      sends.push(current);
      current = [];
      sizes = new Map();
    }
    current.push(m);
    sizes.set(dest, (sizes.get(dest) ?? BATCH_OVERHEAD_BYTES) + bytes);
  }
  if (current.length > 0) sends.push(current);
  return sends;
}

/** The header naming what a dead letter lost to fit its topic: `value:<bytes>`, `key:<bytes>`, `headers:<count>`. */
export const TRUNCATED_HEADER = 'eddy.truncated';

/**
 * A record cut to fit a topic of `limit` bytes: the value first (its first
 * bytes kept), then the key, then the headers that are not eddy's; what was
 * cut is named in the `eddy.truncated` header. Used for dead letters, which
 * must never be lost for their size: their reason and source coordinates
 * (eddy.* headers) are kept.
 */
export function fitToLimit<M extends OutRecord>(m: M, limit: number): M {
  if (fitsAlone(m, limit)) return m;
  const notes: string[] = [];
  const headers = new Map<Uint8Array, Uint8Array>();
  for (const [k, v] of m.headers ?? []) {
    // An earlier hop's note (the forwarder cut the record for the repartition topic) is kept first.
    if (Buffer.from(k).toString() === TRUNCATED_HEADER) notes.push(Buffer.from(v).toString());
    else headers.set(k, v);
  }
  const note = Buffer.from(TRUNCATED_HEADER);
  // Room for the note itself: at most ~60 characters of sizes.
  headers.set(note, Buffer.alloc(64 + notes.join(',').length));
  let out: M = { ...m, headers };
  const over = () => aloneBytes(out) - limit;
  const cut = (field: 'value' | 'key') => {
    const bytes = out[field];
    if (bytes == null || over() <= 0) return;
    const keep = Math.max(0, bytes.length - over() - 10); // 10: the length's varint may shrink less
    // The size before the first cut is what the reader wants (an earlier hop may have cut already).
    if (!notes.some((n) => n.split(',').some((part) => part.startsWith(`${field}:`))))
      notes.push(`${field}:${bytes.length}`);
    out = { ...out, [field]: Buffer.from(bytes.subarray(0, keep)) };
  };
  cut('value');
  cut('key');
  if (over() > 0) {
    let dropped = 0;
    for (const k of [...headers.keys()]) {
      if (over() <= 0) break;
      if (k === note || Buffer.from(k).toString().startsWith('eddy.')) continue;
      headers.delete(k);
      dropped++;
    }
    if (dropped > 0) notes.push(`headers:${dropped}`);
  }
  headers.set(note, Buffer.from(notes.join(',')));
  return out;
}

/** The `eddy.truncated` note of a record's headers, if any. */
export function truncatedNote(headers: Iterable<[Uint8Array, Uint8Array]> | undefined): string | undefined {
  for (const [k, v] of headers ?? [])
    if (Buffer.from(k).toString() === TRUNCATED_HEADER) return Buffer.from(v).toString();
  return undefined;
}
