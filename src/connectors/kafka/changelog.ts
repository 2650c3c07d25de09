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
 * A record whose key is no longer written is deleted with a tombstone, and a
 * chunk whose bytes did not change since the last checkpoint is not written
 * again. Each chunk is a whole key group rewritten when it changed — simple and
 * exact, but heavier than per-key deltas for large state (see docs/KAFKA.md).
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
import { EddyError } from '../../errors/index.ts';
import { readToEnd } from './read-to-end.ts';

/** Kafka's default message limit is ~1 MB; parts stay well below it. */
export const PART_BYTES = 512 * 1024;

/** What one changelog partition held when it was read, or was written last: record key → CRC-32 + length. */
export type Written = Map<number, Map<string, string>>;

export interface ChangelogWriterOptions {
  readonly topic: string;
  /** Sends into the transaction of the current checkpoint (the sinks' output is already in it). */
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
      const part = this.#o.partBytes ?? PART_BYTES;
      const n = Math.max(1, Math.ceil(c.bytes.length / part));
      for (let i = 0; i < n; i++) {
        const value = c.bytes.subarray(i * part, Math.min(c.bytes.length, (i + 1) * part));
        records.set(`c/${c.kind}/${c.step}/${c.name}#${i}/${n}`, { value, sum: checksum(value) });
      }
    }
    const messages: { topic: string; partition: number; key: Buffer; value: Buffer | null }[] = [];
    let bytes = 0;
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
        if (!records.has(key))
          messages.push({ topic: this.#o.topic, partition: p, key: Buffer.from(key), value: null });
      }
    }
    for (let i = 0; i < messages.length; i += 500) await this.#o.send(messages.slice(i, i + 500));
    await this.#o.commit();
    for (const [p, records] of now) {
      this.#o.written.set(p, new Map([...records].map(([k, { sum }]) => [k, sum])));
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
  #reading: Promise<unknown> = Promise.resolve();

  constructor(o: { readonly bootstrapBrokers: string[]; readonly topic: string; readonly clientId: string }) {
    this.#o = o;
  }

  /** Reads `partitions` from where this replica is to their end now; resolves with the records read. */
  catchUp(partitions: readonly number[], timeoutMs?: number): Promise<number> {
    const read = this.#reading.then(async () => {
      let records = 0;
      for (const p of partitions) if (!this.#latest.has(p)) this.#latest.set(p, new Map());
      const reached = await readToEnd({
        bootstrapBrokers: this.#o.bootstrapBrokers,
        topic: this.#o.topic,
        partitions,
        from: this.#position,
        clientId: `${this.#o.clientId}-restore`,
        ...(timeoutMs === undefined ? {} : { timeoutMs }),
        onMessage: (m) => {
          records++;
          const latest = this.#latest.get(m.partition)!;
          const key = m.key?.toString('utf8') ?? '';
          if (m.value === null || m.value === undefined || m.value.length === 0) latest.delete(key);
          else latest.set(key, m.value);
        },
      });
      for (const [p, offset] of reached) this.#position.set(p, offset);
      return records;
    });
    this.#reading = read.catch(() => {});
    return read;
  }

  /** A copy of what partition `p` holds (as of the last read). */
  copy(p: number): Map<string, Buffer> {
    return new Map(this.#latest.get(p) ?? []);
  }

  /** Where the replica is in partition `p`: the next offset it reads. */
  position(p: number): bigint | undefined {
    return this.#position.get(p);
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
}): Promise<Restored & { records: number }> {
  const written: Written = new Map();
  for (const p of o.partitions) written.set(p, new Map());
  if (o.partitions.length === 0) return { loaded: undefined, written, extras: new Map(), records: 0 };
  // Read with a consumer of its own (a group of one, never committing).
  const replica = o.replica ?? new ChangelogReplica(o);
  const records = await replica.catchUp(o.partitions, o.timeoutMs);
  const latest = new Map<number, Map<string, Buffer>>();
  for (const p of o.partitions) latest.set(p, replica.copy(p));
  const extras = new Map<number, Buffer>();
  for (const [p, held] of latest) {
    const x = held.get('x');
    if (x !== undefined) extras.set(p, x);
  }
  return { ...toCheckpoint(o, latest, written), extras, records };
}

/** Assembles what the partitions hold into an in-memory checkpoint for the job's restore. */
function toCheckpoint(
  o: { readonly topic: string; readonly maxParallelism: number; readonly pipeline: string },
  latest: Map<number, Map<string, Buffer>>,
  written: Written,
): { loaded: LoadedCheckpoint | undefined; written: Written } {
  const buffers: Uint8Array[] = [];
  const chunks: ChunkRef[] = [];
  const metas: CheckpointMeta[] = [];
  let id = 0;
  for (const [p, records] of latest) {
    const sums = written.get(p)!;
    for (const [key, value] of records) sums.set(key, checksum(value));
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
  return { loaded: { dir: `kafka:${o.topic}`, manifest, read: (ref) => buffers[ref.offset]! }, written };
}
