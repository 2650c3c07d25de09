/**
 * Checkpoints kept in Kafka: the state of a Kafka application (`kafkaApp`)
 * lives in a compacted changelog topic with one partition per input partition,
 * and a checkpoint is one Kafka transaction holding the sinks' output since the
 * last one, the changed state, and the consumed offsets. So output, state and
 * input position commit together or not at all (exactly-once), and whichever
 * process the consumer group gives a partition to next reads that partition's
 * state back from the changelog before it processes the partition's records.
 *
 * Layout of changelog partition p (= key group p = input partition p):
 * - `c/<kind>/<step>/<name>#<i>/<n>`: part i of n of the encoded checkpoint
 *   chunk of key group p (a state table's entries or an operator's keyed items
 *   such as timers), split to stay under Kafka's message size;
 * - `m`: the writer's non-keyed checkpoint meta (watermarks);
 * - `x`: the application's own bytes for the partition (kafkaApp keeps the
 *   repartition topic's de-duplication marks there).
 * - `e\0<step>\0<table>\0<namespace>\0<key as JSON>`: one state entry, when
 *   the job's backend snapshots incrementally (kafkaApp's tasks do): each
 *   checkpoint writes only the entries changed since the last one and a
 *   tombstone for each removed, so its bytes follow the changes, not the
 *   state (Kafka Streams' changelog, one record per key). An entry larger
 *   than a part is written as parts, `…\u0001<i>/<n>`.
 * A record whose key is no longer written is deleted with a tombstone, and a
 * chunk whose bytes did not change since the last checkpoint is not written
 * again. A changelog written whole per key group (`c/state/…`, before
 * entries) is read as before, and its first incremental checkpoint writes
 * every entry and deletes those chunks.
 */
import { crc32 } from 'node:zlib';
import type { CheckpointMeta } from '../../checkpoint/snapshot.ts';
import type {
  CheckpointStore,
  Chunk,
  ChunkRef,
  LoadedCheckpoint,
  Manifest,
} from '../../checkpoint/storage.ts';
import { decode, encode } from '../../codec/chunks.ts';
import { decodeEntries, decodeEntriesInto, EntryWriter } from '../../codec/entries.ts';
import type { Key } from '../../core/key-groups.ts';
import { EddyError } from '../../errors/index.ts';
import { readToEnd } from './read-to-end.ts';

/** Kafka's default message limit is ~1 MB; parts stay well below it. */
export const PART_BYTES = 512 * 1024;

/** Changelog records per send: a big delta (the first commit after a load) in few round trips. */
const SEND_RECORDS = 20_000;

/**
 * What one changelog partition held when it was read, or was written last:
 * record key → CRC-32 + length. Entry records (`e…`) are not in it (their
 * changes are known from the backend), except those written as parts.
 */
export type Written = Map<number, Map<string, string>>;

/** The first character of an entry record's key (see the header). */
const ENTRY = 'e\u0000';
/** Between an entry record's key and a part's number. */
const PART = '\u0001';

/** The record key of one state entry. */
export function entryKey(step: string, table: string, namespace: number, key: Key): string {
  return `${ENTRY}${step}\u0000${table}\u0000${namespace}\u0000${JSON.stringify(key)}`;
}

const one = new EntryWriter();

/** One entry encoded alone (a one-entry chunk). */
function entryBytes(key: unknown, namespace: number, value: unknown): Uint8Array {
  one.begin();
  one.entry(key, namespace, value);
  return one.finish();
}

export interface ChangelogWriterOptions {
  readonly topic: string;
  /**
   * Sends into the transaction of the current checkpoint (the sinks' output is already in it), in
   * order; `commit` must fail if a send failed.
   */
  readonly send: (
    messages: { topic: string; partition: number; key: Buffer; value: Buffer | null }[],
  ) => Promise<void>;
  /** Adds the consumed offsets and commits; throws if the group has moved on (a rebalance). */
  readonly commit: () => Promise<void>;
  /** The partitions (key groups) this store writes: in kafkaApp, its task's one partition. */
  readonly owned: () => ReadonlySet<number>;
  /** What the changelog holds for the owned partitions (from the restore), updated on every commit. */
  readonly written: Written;
  /** The application's own record per owned partition, as of the barrier (key `x`). */
  readonly extras?: () => ReadonlyMap<number, Uint8Array>;
  /** The largest part of a chunk, in bytes (default 512 KiB); below the changelog topic's max.message.bytes. */
  readonly partBytes?: number;
}

/** A {@link CheckpointStore} that writes checkpoints into the changelog topic in a Kafka transaction. */
export class ChangelogStore implements CheckpointStore {
  readonly dir: string;
  readonly #o: ChangelogWriterOptions;
  #writing: Promise<unknown> = Promise.resolve();

  constructor(o: ChangelogWriterOptions) {
    this.#o = o;
    this.dir = `kafka:${o.topic}`;
  }

  /** Settles once no write is in progress. */
  idle(): Promise<void> {
    return this.#writing.then(
      () => {},
      () => {},
    );
  }

  write(
    header: Omit<Manifest, 'format' | 'dataBytes' | 'dataCrc32' | 'chunks'>,
    chunks: readonly Chunk[],
  ): Promise<{ dir: string; bytes: number }> {
    const run = this.#write(header, chunks);
    this.#writing = run;
    return run;
  }

  async #write(
    header: Omit<Manifest, 'format' | 'dataBytes' | 'dataCrc32' | 'chunks'>,
    chunks: readonly Chunk[],
  ): Promise<{ dir: string; bytes: number }> {
    const owned = this.#o.owned();
    const now = new Map<number, Map<string, { value: Uint8Array; sum: string }>>();
    for (const p of owned) now.set(p, new Map());
    let meta: Uint8Array | undefined;
    const messages: { topic: string; partition: number; key: Buffer; value: Buffer | null }[] = [];
    let bytes = 0;
    const part = this.#o.partBytes ?? PART_BYTES;
    // Entry records written as parts, per partition: added (key -> sum) and gone, for `written`.
    const parts = new Map<number, { added: Map<string, string>; gone: Set<string> }>();
    for (const c of chunks) {
      if (c.kind === 'meta') {
        meta = encode({ id: header.id, meta: decode(c.bytes) });
        continue;
      }
      const records = now.get(c.keyGroup);
      if (records === undefined) {
        throw new EddyError(
          'EDDY_CONFIG_INVALID',
          `step "${c.step}" holds state in key group ${c.keyGroup}, but this process owns partitions [${[...owned].join(', ')}]: records reach a keyed step in a partition other than the one their key belongs to. Partition the input topics by the keyBy key with eddy's partitioner (kafkaPartition(key, partitions); the Kafka sinks do so), or key by the topic's record key`,
        );
      }
      if (c.delta !== undefined) {
        const p = c.keyGroup;
        const before = this.#o.written.get(p);
        let own = parts.get(p);
        if (own === undefined) parts.set(p, (own = { added: new Map(), gone: new Set() }));
        const mine = own;
        const put = (key: string, value: Uint8Array | null) => {
          // Parts an earlier value of this entry was written as: deleted unless written again below.
          if (before !== undefined)
            for (const k of before.keys())
              if (k.startsWith(`${key}${PART}`)) {
                mine.gone.add(k);
              }
          if (value === null || value.length <= part) {
            messages.push({
              topic: this.#o.topic,
              partition: p,
              key: Buffer.from(key),
              value: value === null ? null : Buffer.from(value),
            });
            bytes += value?.length ?? 0;
            return;
          }
          const n = Math.ceil(value.length / part);
          // The whole-entry record (if there was one) goes; the parts take its place.
          messages.push({ topic: this.#o.topic, partition: p, key: Buffer.from(key), value: null });
          for (let i = 0; i < n; i++) {
            const k = `${key}${PART}${i}/${n}`;
            const v = value.subarray(i * part, Math.min(value.length, (i + 1) * part));
            messages.push({ topic: this.#o.topic, partition: p, key: Buffer.from(k), value: Buffer.from(v) });
            bytes += v.length;
            mine.gone.delete(k);
            mine.added.set(k, checksum(v));
          }
        };
        const flat = c.entries === 0 ? [] : decodeEntries(c.bytes);
        for (let i = 0; i < flat.length; i += 3) {
          const ns = flat[i + 1] as number;
          put(entryKey(c.step, c.name, ns, flat[i] as Key), entryBytes(flat[i], ns, flat[i + 2]));
        }
        const removed = c.delta.removed;
        for (let i = 0; i < removed.length; i += 2)
          put(entryKey(c.step, c.name, removed[i + 1] as number, removed[i] as Key), null);
        continue;
      }
      const n = Math.max(1, Math.ceil(c.bytes.length / part));
      for (let i = 0; i < n; i++) {
        const value = c.bytes.subarray(i * part, Math.min(c.bytes.length, (i + 1) * part));
        records.set(`c/${c.kind}/${c.step}/${c.name}#${i}/${n}`, { value, sum: checksum(value) });
      }
    }
    const extras = this.#o.extras?.() ?? new Map<number, Uint8Array>();
    for (const [p, records] of now) {
      if (meta !== undefined) records.set('m', { value: meta, sum: checksum(meta) });
      const x = extras.get(p);
      if (x !== undefined) records.set('x', { value: x, sum: checksum(x) });
      const before = this.#o.written.get(p) ?? new Map<string, string>();
      for (const [key, { value, sum }] of records) {
        if (before.get(key) === sum) continue; // unchanged since the last checkpoint
        messages.push({
          topic: this.#o.topic,
          partition: p,
          key: Buffer.from(key),
          value: Buffer.from(value),
        });
        bytes += value.length;
      }
      for (const key of before.keys()) {
        if (key.startsWith(ENTRY)) {
          // An entry's parts: deleted when the entry changed (above), else kept.
          if (parts.get(p)?.gone.has(key) === true)
            messages.push({ topic: this.#o.topic, partition: p, key: Buffer.from(key), value: null });
          continue;
        }
        if (!records.has(key))
          messages.push({ topic: this.#o.topic, partition: p, key: Buffer.from(key), value: null });
      }
    }
    // Large sends: the task splits them by the topic's limit. Not awaited one by one: the commit
    // waits until every send is acknowledged and fails if one failed (deploy/kafka/task.ts), and
    // the first share goes out with the output still queued at the barrier.
    for (let i = 0; i < messages.length; i += SEND_RECORDS)
      this.#o.send(messages.slice(i, i + SEND_RECORDS)).catch(() => {});
    await this.#o.commit();
    for (const [p, records] of now) {
      const next = new Map([...records].map(([k, { sum }]) => [k, sum]));
      const own = parts.get(p);
      for (const [k, sum] of this.#o.written.get(p) ?? [])
        if (k.startsWith(ENTRY) && own?.gone.has(k) !== true) next.set(k, sum);
      for (const [k, sum] of own?.added ?? []) next.set(k, sum);
      this.#o.written.set(p, next);
    }
    return { dir: this.dir, bytes };
  }

  async prune(): Promise<void> {}
}

function checksum(bytes: Uint8Array): string {
  return `${crc32(bytes).toString(16)}:${bytes.length}`;
}

/**
 * What a changelog's partitions hold, key by key, read as a read_committed
 * consumer sees them, and how far: the restore of a moved partition reads
 * one from the start; a warm standby (`kafkaApp({ warmStandby: true })`)
 * keeps one current in the background, so that taking a partition over
 * reads only what was written since its last round (Kafka Streams' standby
 * replicas). Reads are serialised: two at once could apply a key's records
 * out of order.
 */
export class ChangelogReplica {
  readonly #o: { readonly bootstrapBrokers: string[]; readonly topic: string; readonly clientId: string };
  /** Per partition, record key → its latest value. */
  readonly #latest = new Map<number, Map<string, Buffer>>();
  /** Per partition, the next offset to read. */
  readonly #position = new Map<number, bigint>();
  /** Per partition, every record read so far, over all reads (never reset: progress is a difference). */
  readonly #read = new Map<number, number>();
  /** Per partition of the read under way: the next offset it reads and the end it reads to. */
  readonly #underway = new Map<number, { next: bigint; end: bigint }>();
  #reading: Promise<unknown> = Promise.resolve();

  constructor(o: { readonly bootstrapBrokers: string[]; readonly topic: string; readonly clientId: string }) {
    this.#o = o;
  }

  /** Reads `partitions` from where this replica is to their end now; resolves with the records read. */
  catchUp(partitions: readonly number[], timeoutMs?: number): Promise<number> {
    const read = this.#reading.then(async () => {
      let records = 0;
      for (const p of partitions) if (!this.#latest.has(p)) this.#latest.set(p, new Map());
      const underway = this.#underway;
      try {
        const reached = await readToEnd({
          bootstrapBrokers: this.#o.bootstrapBrokers,
          topic: this.#o.topic,
          partitions,
          from: this.#position,
          clientId: `${this.#o.clientId}-restore`,
          ...(timeoutMs === undefined ? {} : { timeoutMs }),
          onRange: (p, next, end) => underway.set(p, { next, end }),
          onMessage: (m) => {
            records++;
            const p = m.partition;
            this.#read.set(p, (this.#read.get(p) ?? 0) + 1);
            const at = underway.get(p);
            if (at !== undefined) at.next = m.offset + 1n;
            const latest = this.#latest.get(p)!;
            const key = m.key?.toString('utf8') ?? '';
            if (m.value === null || m.value === undefined || m.value.length === 0) latest.delete(key);
            else latest.set(key, m.value);
          },
        });
        for (const [p, offset] of reached) this.#position.set(p, offset);
      } finally {
        for (const p of partitions) underway.delete(p);
      }
      return records;
    });
    this.#reading = read.catch(() => {});
    return read;
  }

  /** A copy of what partition `p` holds (as of the last read). */
  copy(p: number): Map<string, Buffer> {
    return new Map(this.#latest.get(p) ?? []);
  }

  /**
   * What partition `p` holds, handed over rather than copied (a restore's
   * own replica: a million keys copied cost seconds), and forgotten here
   * as {@link drop} does.
   */
  take(p: number): Map<string, Buffer> {
    const held = this.#latest.get(p) ?? new Map<string, Buffer>();
    this.#latest.delete(p);
    this.#position.delete(p);
    return held;
  }

  /** Where the replica is in partition `p`: the next offset it reads. */
  position(p: number): bigint | undefined {
    return this.#position.get(p);
  }

  /**
   * How far the read under way is in partition `p`: every record read of it
   * so far (over all reads: a caller takes the difference from an earlier
   * call), and, while a read of it is under way and knows its range, the next
   * offset it reads and the end it reads to (the partition's end when that
   * read began).
   */
  progress(p: number): { readonly records: number; readonly next?: bigint; readonly end?: bigint } {
    const records = this.#read.get(p) ?? 0;
    const at = this.#underway.get(p);
    return at === undefined ? { records } : { records, next: at.next, end: at.end };
  }

  /** The partitions it holds a copy of. */
  held(): number[] {
    return [...this.#latest.keys()].sort((a, b) => a - b);
  }

  /**
   * Forgets partition `p` (its memory is freed; a later read starts from
   * the beginning), after the reads under way. `unless` is asked then: a
   * partition it answers true for (one this process has started to run) is
   * kept.
   */
  drop(p: number, unless: (p: number) => boolean = () => false): Promise<void> {
    const dropped = this.#reading.then(() => {
      if (unless(p)) return;
      this.#latest.delete(p);
      this.#position.delete(p);
    });
    this.#reading = dropped.catch(() => {});
    return dropped;
  }
}

/** What a restore of changelog partitions gives a job: the checkpoint, what was written, the app's own bytes. */
export type Restored = {
  loaded: LoadedCheckpoint | undefined;
  written: Written;
  extras: Map<number, Buffer>;
  /** Whether the changelog holds state as entries (`e…` records, written incrementally). */
  entries: boolean;
};

/**
 * Reads the latest checkpoint of `partitions` from the changelog topic, from
 * the start (or, with `replica`, from where a warm standby is), for a restore.
 */
export async function readChangelog(o: {
  readonly bootstrapBrokers: string[];
  readonly topic: string;
  readonly partitions: readonly number[];
  readonly maxParallelism: number;
  readonly pipeline: string;
  readonly clientId: string;
  readonly timeoutMs?: number;
  readonly replica?: ChangelogReplica;
  /** The replica is this read's alone (made for it): what it holds is handed over, not copied. */
  readonly ownReplica?: boolean;
}): Promise<Restored & { records: number }> {
  const written: Written = new Map();
  for (const p of o.partitions) written.set(p, new Map());
  if (o.partitions.length === 0)
    return { loaded: undefined, written, extras: new Map(), records: 0, entries: false };
  // Read with a consumer of its own (a group of one, never committing).
  const own = o.replica === undefined || o.ownReplica === true;
  const replica = o.replica ?? new ChangelogReplica(o);
  const records = await replica.catchUp(o.partitions, o.timeoutMs);
  const latest = new Map<number, Map<string, Buffer>>();
  for (const p of o.partitions) latest.set(p, own ? replica.take(p) : replica.copy(p));
  const extras = new Map<number, Buffer>();
  for (const [p, held] of latest) {
    const x = held.get('x');
    if (x !== undefined) extras.set(p, x);
  }
  let entries = false;
  for (const held of latest.values())
    for (const key of held.keys()) if (key.startsWith(ENTRY)) entries = true;
  return { ...toCheckpoint(o, latest, written), extras, records, entries };
}

/** Assembles what the partitions hold into an in-memory checkpoint for the job's restore. */
export function toCheckpoint(
  o: { readonly topic: string; readonly maxParallelism: number; readonly pipeline: string },
  latest: Map<number, Map<string, Buffer>>,
  written: Written,
): { loaded: LoadedCheckpoint | undefined; written: Written } {
  const buffers: Uint8Array[] = [];
  const chunks: ChunkRef[] = [];
  const metas: CheckpointMeta[] = [];
  // Chunks assembled from entry records, decoded: buffer index -> flat entries.
  const decoded = new Map<number, unknown[]>();
  let id = 0;
  for (const [p, records] of latest) {
    const sums = written.get(p)!;
    for (const [key, value] of records)
      if (!key.startsWith(ENTRY) || key.includes(PART)) sums.set(key, checksum(value));
    assembleEntries(o.topic, p, records, chunks, buffers, decoded);
    const m = records.get('m');
    if (m !== undefined) {
      const r = decode(m) as { id: number; meta: CheckpointMeta };
      id = Math.max(id, r.id);
      metas.push(r.meta);
    }
    // Reassemble chunks from their parts; a chunk with a part missing is a bug or a torn write.
    const parts = new Map<string, Buffer[]>();
    for (const [key, value] of records) {
      const match = /^c\/(state|keyed)\/(.+)\/([^/]+)#(\d+)\/(\d+)$/.exec(key);
      if (match === null) continue;
      const base = `${match[1]}\u0000${match[2]}\u0000${match[3]}`;
      const n = Number(match[5]);
      let list = parts.get(base);
      if (list === undefined) parts.set(base, (list = new Array<Buffer>(n)));
      list[Number(match[4])] = value;
    }
    for (const [base, list] of parts) {
      const [kind, step, name] = base.split('\u0000') as ['state' | 'keyed', string, string];
      if (list.some((b) => b === undefined)) {
        throw new EddyError(
          'EDDY_IO_FAILED',
          `changelog ${o.topic} partition ${p} holds an incomplete chunk ${kind}/${step}/${name}`,
        );
      }
      const bytes = Buffer.concat(list);
      chunks.push({
        kind,
        step,
        name,
        keyGroup: p,
        offset: buffers.length,
        length: bytes.length,
        entries: 0,
      });
      buffers.push(bytes);
    }
  }
  if (metas.length === 0 && chunks.length === 0) return { loaded: undefined, written };
  // Several writers' metas (one per partition): the restore takes the minimum watermark over them.
  const subtasks = metas.flatMap((m) => m.subtasks);
  const meta: CheckpointMeta = { parallelism: subtasks.length, subtasks };
  const metaBytes = encode(meta);
  chunks.push({
    kind: 'meta',
    step: '',
    name: 'meta',
    keyGroup: -1,
    offset: buffers.length,
    length: metaBytes.length,
    entries: 1,
  });
  buffers.push(metaBytes);
  const manifest: Manifest = {
    format: 1,
    id,
    kind: 'checkpoint',
    pipeline: o.pipeline,
    createdAt: Date.now(),
    maxParallelism: o.maxParallelism,
    parallelism: Math.max(1, subtasks.length),
    dataBytes: 0,
    dataCrc32: 0,
    chunks,
  };
  const read = (ref: ChunkRef): Uint8Array => {
    const items = decoded.get(ref.offset);
    if (items === undefined) return buffers[ref.offset]!;
    // Entries assembled from entry records are handed over decoded (items); encoded only if asked.
    const w = new EntryWriter();
    w.begin();
    for (let i = 0; i < items.length; i += 3) w.entry(items[i], items[i + 1] as number, items[i + 2]);
    return w.finish();
  };
  const items = (ref: ChunkRef) => decoded.get(ref.offset);
  return { loaded: { dir: `kafka:${o.topic}`, manifest, read, items }, written };
}

/**
 * The entry records (`e…`) of one changelog partition as chunks for the
 * restore: one per (step, table), whose entries are handed over decoded
 * (`LoadedCheckpoint.items`) rather than encoded again.
 */
function assembleEntries(
  topic: string,
  p: number,
  records: ReadonlyMap<string, Buffer>,
  chunks: ChunkRef[],
  buffers: Uint8Array[],
  decoded: Map<number, unknown[]>,
): void {
  const tables = new Map<string, unknown[]>();
  const parted = new Map<string, Buffer[]>();
  const add = (key: string, value: Uint8Array) => {
    // `e\0<step>\0<table>\0…`: the table is what lies between the first and the third separator.
    const third = key.indexOf('\u0000', key.indexOf('\u0000', 2) + 1);
    const id = key.slice(2, third);
    let list = tables.get(id);
    if (list === undefined) tables.set(id, (list = []));
    decodeEntriesInto(value, list);
  };
  for (const [key, value] of records) {
    if (key.charCodeAt(0) !== 101 || key.charCodeAt(1) !== 0) continue; // not `e\0…`
    const at = key.indexOf(PART);
    if (at < 0) {
      add(key, value);
      continue;
    }
    const [i, n] = key
      .slice(at + 1)
      .split('/')
      .map(Number) as [number, number];
    const base = key.slice(0, at);
    let list = parted.get(base);
    if (list === undefined) parted.set(base, (list = new Array<Buffer>(n)));
    list[i] = value;
  }
  for (const [base, list] of parted) {
    if (list.some((b) => b === undefined))
      throw new EddyError(
        'EDDY_IO_FAILED',
        `changelog ${topic} partition ${p} holds an incomplete entry ${base}`,
      );
    add(base, Buffer.concat(list));
  }
  for (const [id, items] of tables) {
    const [step, name] = id.split('\u0000') as [string, string];
    decoded.set(buffers.length, items);
    chunks.push({
      kind: 'state',
      step,
      name,
      keyGroup: p,
      offset: buffers.length,
      length: 0,
      entries: items.length / 3,
    });
    buffers.push(EMPTY);
  }
}

const EMPTY = new Uint8Array(0);
