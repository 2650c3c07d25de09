/**
 * Checkpoints on the local disk. A checkpoint is a directory `chk-<id>` with
 * two files: `data.bin` (every chunk, back to back) and `manifest.json` (where
 * each chunk is, plus sizes and a CRC-32 of the data). It is written as
 * `chk-<id>.inprogress`, both files fsync'd, then renamed — so a directory
 * without the suffix is complete, and a crash mid-write leaves only an
 * `.inprogress` directory that the next start deletes. Loading re-checks the
 * size and CRC, so a torn or corrupted checkpoint is never used: the previous
 * complete one is taken instead. The newest `retain` checkpoints are kept.
 */
import { mkdir, open, readdir, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { EddyError } from '../errors/index.ts';
import type { DeltaInfo } from '../state/backend.ts';

/** Where a chunk of state is and what it holds. */
export interface ChunkRef {
  /** `state` (a state table's entries), `keyed` (an operator's keyed items, e.g. timers), `meta`. */
  readonly kind: 'state' | 'keyed' | 'meta';
  readonly step: string;
  /** The state table or item name. */
  readonly name: string;
  /** The key group, or -1 for chunks that are not keyed. */
  readonly keyGroup: number;
  readonly offset: number;
  readonly length: number;
  readonly entries: number;
}

export interface Manifest {
  readonly format: 1;
  readonly id: number;
  readonly kind: 'checkpoint' | 'savepoint';
  readonly pipeline: string;
  readonly createdAt: number;
  readonly maxParallelism: number;
  readonly parallelism: number;
  readonly dataBytes: number;
  readonly dataCrc32: number;
  readonly chunks: readonly ChunkRef[];
}

/** A chunk to write: its description and its bytes. */
export interface Chunk {
  readonly kind: ChunkRef['kind'];
  readonly step: string;
  readonly name: string;
  readonly keyGroup: number;
  readonly entries: number;
  readonly bytes: Uint8Array;
  /** A state chunk of an incremental snapshot (`StateChunk.delta`): only a store that keeps entries one by one takes it. */
  readonly delta?: DeltaInfo;
}

/** A complete checkpoint read back from disk. */
export interface LoadedCheckpoint {
  readonly dir: string;
  readonly manifest: Manifest;
  /** The bytes of one chunk. */
  read(ref: ChunkRef): Uint8Array;
  /**
   * A state chunk's entries already decoded (flat `[key, namespace, value, …]`),
   * when the checkpoint was assembled in memory from them (a Kafka changelog
   * kept as one record per entry); undefined otherwise: decode `read(ref)`.
   */
  items?(ref: ChunkRef): unknown[] | undefined;
}

const PREFIX = 'chk-';
const IN_PROGRESS = '.inprogress';

/**
 * Where a job's periodic checkpoints go: a local directory
 * ({@link CheckpointStorage}), or Kafka (changelog topics and consumer offsets
 * in one transaction: connectors/kafka/changelog.ts).
 */
export interface CheckpointStore {
  /** Shown in checkpoint reports. */
  readonly dir: string;
  /** Makes the checkpoint durable (atomically); returns where and how big. */
  write(
    header: Omit<Manifest, 'format' | 'dataBytes' | 'dataCrc32' | 'chunks'>,
    chunks: readonly Chunk[],
  ): Promise<{ dir: string; bytes: number }>;
  /** Removes what is no longer needed after a checkpoint completed. */
  prune(): Promise<void>;
}

export class CheckpointStorage implements CheckpointStore {
  readonly dir: string;
  readonly #retain: number;

  constructor(dir: string, retain: number) {
    this.dir = dir;
    this.#retain = retain;
  }

  /** Writes checkpoint `manifest.id` atomically; returns its directory. */
  async write(
    header: Omit<Manifest, 'format' | 'dataBytes' | 'dataCrc32' | 'chunks'>,
    chunks: readonly Chunk[],
  ): Promise<{ dir: string; bytes: number }> {
    await mkdir(this.dir, { recursive: true });
    const final = join(this.dir, `${PREFIX}${header.id}`);
    return writeCheckpointDir(final, header, chunks);
  }

  /** Removes every checkpoint in the directory: a run that starts fresh must not mix with an older run's ids. */
  async clear(): Promise<void> {
    const names = await readdir(this.dir).catch(() => [] as string[]);
    for (const n of names) if (n.startsWith(PREFIX)) await rmQuiet(join(this.dir, n));
  }

  /** Removes unfinished directories and all but the newest `retain` complete checkpoints. */
  async prune(): Promise<void> {
    const names = await readdir(this.dir).catch(() => [] as string[]);
    for (const n of names)
      if (n.startsWith(PREFIX) && n.endsWith(IN_PROGRESS)) await rmQuiet(join(this.dir, n));
    const ids = completeIds(names);
    for (const id of ids.slice(0, Math.max(0, ids.length - this.#retain)))
      await rmQuiet(join(this.dir, `${PREFIX}${id}`));
  }

  /**
   * The newest complete checkpoint that passes its checks, or undefined. Broken
   * ones are reported through `onSkip` and skipped.
   */
  async latest(onSkip: (dir: string, why: string) => void = () => {}): Promise<LoadedCheckpoint | undefined> {
    const names = await readdir(this.dir).catch(() => [] as string[]);
    const ids = completeIds(names);
    for (let i = ids.length - 1; i >= 0; i--) {
      const dir = join(this.dir, `${PREFIX}${ids[i]}`);
      try {
        return await loadCheckpoint(dir);
      } catch (e) {
        onSkip(dir, e instanceof Error ? e.message : String(e));
      }
    }
    return undefined;
  }
}

/** Writes a checkpoint (or savepoint) directory atomically at `final`. */
export async function writeCheckpointDir(
  final: string,
  header: Omit<Manifest, 'format' | 'dataBytes' | 'dataCrc32' | 'chunks'>,
  chunks: readonly Chunk[],
): Promise<{ dir: string; bytes: number }> {
  const delta = chunks.find((c) => c.delta !== undefined);
  if (delta !== undefined)
    throw new EddyError(
      'EDDY_INTERNAL',
      `a checkpoint directory takes whole key groups, but step "${delta.step}" gave an incremental snapshot (a state backend with deltas belongs to a Kafka application's changelog)`,
    );
  const tmp = `${final}${IN_PROGRESS}`;
  await rm(tmp, { recursive: true, force: true });
  await mkdir(tmp, { recursive: true });
  const refs: ChunkRef[] = [];
  let offset = 0;
  let crc = 0;
  const data = await open(join(tmp, 'data.bin'), 'w');
  try {
    // Written in slices of a few MB so that one huge Buffer.concat is never needed.
    let pending: Uint8Array[] = [];
    let pendingBytes = 0;
    for (const c of chunks) {
      refs.push({
        kind: c.kind,
        step: c.step,
        name: c.name,
        keyGroup: c.keyGroup,
        offset,
        length: c.bytes.length,
        entries: c.entries,
      });
      offset += c.bytes.length;
      crc = crc32(c.bytes, crc);
      pending.push(c.bytes);
      pendingBytes += c.bytes.length;
      if (pendingBytes >= 4 << 20) {
        await data.writev(pending);
        pending = [];
        pendingBytes = 0;
      }
    }
    if (pending.length > 0) await data.writev(pending);
    await data.sync();
  } finally {
    await data.close();
  }
  const manifest: Manifest = { format: 1, ...header, dataBytes: offset, dataCrc32: crc, chunks: refs };
  const m = await open(join(tmp, 'manifest.json'), 'w');
  try {
    await m.writeFile(JSON.stringify(manifest));
    await m.sync();
  } finally {
    await m.close();
  }
  await rm(final, { recursive: true, force: true });
  await rename(tmp, final);
  await syncDir(join(final, '..'));
  return { dir: final, bytes: offset };
}

/** Reads and checks a checkpoint or savepoint directory. */
export async function loadCheckpoint(dir: string): Promise<LoadedCheckpoint> {
  let manifest: Manifest;
  try {
    manifest = JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8')) as Manifest;
  } catch (e) {
    throw new EddyError(
      'EDDY_CHECKPOINT_INVALID',
      `no readable manifest.json in ${dir} (${(e as Error).message}); pass a directory written by an eddy checkpoint or savepoint`,
      { cause: e },
    );
  }
  if (manifest?.format !== 1 || !Array.isArray(manifest.chunks)) {
    throw new EddyError(
      'EDDY_CHECKPOINT_INVALID',
      `${dir}/manifest.json has format ${String(manifest?.format)}, expected 1; it was written by another version`,
    );
  }
  const data = await readFile(join(dir, 'data.bin'));
  if (data.length !== manifest.dataBytes || crc32(data) !== manifest.dataCrc32) {
    throw new EddyError(
      'EDDY_CHECKPOINT_INVALID',
      `${dir}/data.bin is torn or corrupted (${data.length} bytes, expected ${manifest.dataBytes}, CRC mismatch); an older checkpoint is used if there is one`,
    );
  }
  return {
    dir,
    manifest,
    read: (ref) => data.subarray(ref.offset, ref.offset + ref.length),
  };
}

function completeIds(names: readonly string[]): number[] {
  return names
    .filter((n) => n.startsWith(PREFIX) && /^\d+$/.test(n.slice(PREFIX.length)))
    .map((n) => Number(n.slice(PREFIX.length)))
    .sort((a, b) => a - b);
}

async function rmQuiet(path: string): Promise<void> {
  await rm(path, { recursive: true, force: true }).catch(() => {});
}

async function syncDir(dir: string): Promise<void> {
  const h = await open(dir, 'r');
  try {
    await h.sync();
  } catch {
    // Some file systems refuse fsync on a directory; the rename is still atomic there.
  } finally {
    await h.close();
  }
}
