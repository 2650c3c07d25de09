/**
 * JSON Lines written as part files, one writer per subtask (issue 15: sinks
 * that can run in parallel do), exactly-once with checkpoints — Flink's
 * FileSink, for JSON Lines.
 *
 * Each subtask writes `<dir>/.part-<run>-<subtask>-<n>.inprogress`; at a
 * checkpoint barrier that file is fsync'd and renamed
 * `.part-<run>-<subtask>-<checkpoint>.pending` (pre-commit), and once the
 * checkpoint is complete renamed `part-<run>-<subtask>-<checkpoint>.jsonl`
 * (commit) — a rename, so a part appears whole or not at all. Readers read
 * `part-*.jsonl`; dot files are work in progress. `<run>` is this attempt
 * of the job (`SinkContext.attempt`: random, shared by its subtasks and
 * threads, new at every restart), so runs never overwrite each other's parts.
 *
 * The directory belongs to one job. Resuming from a checkpoint: the runs it
 * descends from are in its committable; their pending parts up to the
 * checkpoint are committed (the checkpoint completed, the rename may not have
 * happened), and their committed parts after it are deleted — that output is
 * computed again. Then every pending or in-progress file of another run is
 * deleted (attempts that failed before completing a checkpoint leave them),
 * on a fresh start too. Any subtask does this for every subtask's files (the
 * renames and deletions are idempotent and spare the files of this attempt),
 * so a resume at another parallelism leaves nothing behind. Resuming from an
 * older checkpoint than the latest keeps the parts later runs committed after
 * it (as Flink's FileSink does).
 *
 * Without checkpoints each subtask appends to `part-<run>-<subtask>.jsonl`
 * (at-least-once).
 */
import { randomUUID } from 'node:crypto';
import { readdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Sink, SinkWriter } from '../../core/connector.ts';
import { configError } from '../../errors/index.ts';
import { jsonLines, openTextFile, Staging } from './staging.ts';

export interface JsonLinesPartsSinkOptions<T> {
  /** The directory the parts go to; it must exist. */
  readonly dir: string;
  /** Makes the value written for each record (default: the record itself). */
  readonly format?: (value: T) => unknown;
}

/** What a part writer keeps in a checkpoint: the checkpoint, and the runs whose parts the directory may hold. */
interface PartsCommittable {
  readonly checkpoint: number;
  readonly runs: readonly string[];
}

/** The most earlier runs a committable names (a run resumed more often than this forgets the oldest). */
const MAX_RUNS = 64;
const RUN = '[0-9a-z]+';
const PART = new RegExp(`^(\\.?)part-(${RUN})-(\\d+)-(\\d+)\\.(jsonl|pending|inprogress)$`);

/**
 * Writes JSON Lines as part files in `dir`, one writer per subtask.
 *
 * @example
 * ```ts
 * totals.sink(jsonLinesPartsSink({ dir: 'out/totals' })); // cat out/totals/part-*.jsonl
 * ```
 */
export function jsonLinesPartsSink<T>(options: JsonLinesPartsSinkOptions<T>): Sink<T> {
  if (typeof options?.dir !== 'string' || options.dir === '')
    throw configError('jsonLinesPartsSink needs a dir', options?.dir, 'pass { dir: "out/results" }');
  if (options.format !== undefined && typeof options.format !== 'function')
    throw configError(
      'jsonLinesPartsSink format must be a function',
      options.format,
      'pass format: (r) => ({ ...r })',
    );
  const { dir, format } = options;
  return {
    kind: 'jsonl-parts',
    guarantee: 'exactly-once',
    parallel: true,
    async open(ctx) {
      const isDir = await stat(dir).then(
        (s) => s.isDirectory(),
        () => false,
      );
      if (!isDir)
        throw configError(
          `jsonLinesPartsSink cannot write to ${dir}: it is not a directory`,
          dir,
          `create it (mkdir -p ${dir}) or pass another dir`,
          ctx.stepId,
        );
      const subtask = ctx.subtask ?? 0;
      const run = ctx.attempt ?? randomAttempt();
      const encode = (values: readonly T[]) => jsonLines(values, format);
      if (!ctx.checkpointing) {
        const file = openTextFile(join(dir, `part-${run}-${subtask}.jsonl`), 'a');
        return { write: (values) => file.write(encode(values)), flush: file.flush, close: file.close };
      }
      const restored = readCommittable(ctx.restored);
      await recover(dir, restored, run);
      const runs = [...(restored?.runs ?? []).filter((r) => r !== run), run].slice(-MAX_RUNS);
      return openParts(dir, run, subtask, runs, encode);
    },
  };
}

function openParts<T>(
  dir: string,
  run: string,
  subtask: number,
  runs: readonly string[],
  encode: (values: readonly T[]) => string,
): SinkWriter<T> {
  const staging = new Staging((n) => join(dir, `.part-${run}-${subtask}-${n}.inprogress`));
  /** Checkpoints whose part is pending, in order. */
  const pending: number[] = [];
  return {
    write: (values) => staging.write(encode(values)),
    async preCommit(checkpointId) {
      // Synchronous up to the seal: records written after the barrier go to a new staging file.
      const sealed = await staging.seal();
      if (sealed !== undefined) {
        await rename(sealed.path, join(dir, `.part-${run}-${subtask}-${checkpointId}.pending`));
        pending.push(checkpointId);
      }
      return { checkpoint: checkpointId, runs } satisfies PartsCommittable;
    },
    async commit(checkpointId) {
      // Every pending part of this writer up to the checkpoint (a failed checkpoint's is committed by the next).
      while (pending.length > 0 && pending[0]! <= checkpointId) {
        const id = pending[0]!;
        await publish(dir, `.part-${run}-${subtask}-${id}.pending`, `part-${run}-${subtask}-${id}.jsonl`);
        pending.shift();
      }
    },
    flush: () => staging.flush(),
    close: () => staging.close(),
  };
}

function readCommittable(restored: unknown): PartsCommittable | undefined {
  if (restored === undefined) return undefined;
  const c = restored as Partial<PartsCommittable> | null;
  if (
    c === null ||
    typeof c !== 'object' ||
    !Number.isInteger(c.checkpoint) ||
    !Array.isArray(c.runs) ||
    !c.runs.every((r) => typeof r === 'string' && new RegExp(`^${RUN}$`).test(r))
  )
    throw configError(
      "the checkpoint's record of jsonLinesPartsSink is malformed",
      restored,
      'resume from a checkpoint this sink wrote, or start without resuming',
    );
  return c as PartsCommittable;
}

/**
 * Finishes what earlier runs left in `dir`: the parts of the runs of `c` up
 * to its checkpoint are committed and those after it deleted; every other
 * pending or in-progress file not of the run `current` is deleted.
 */
async function recover(dir: string, c: PartsCommittable | undefined, current: string): Promise<void> {
  const runs = new Set(c?.runs ?? []);
  for (const name of await readdir(dir)) {
    const m = PART.exec(name);
    if (m === null || m[2] === current) continue;
    const kind = m[5]!;
    const checkpoint = Number(m[4]);
    if (c !== undefined && runs.has(m[2]!) && kind !== 'inprogress') {
      if (checkpoint > c.checkpoint) await rm(join(dir, name), { force: true });
      else if (kind === 'pending') await publish(dir, name, `part-${m[2]}-${m[3]}-${m[4]}.jsonl`);
    } else if (kind !== 'jsonl') await rm(join(dir, name), { force: true });
  }
}

/** Renames a pending part to its committed name; done already (by another subtask) is fine. */
async function publish(dir: string, name: string, committed: string): Promise<void> {
  try {
    await rename(join(dir, name), join(dir, committed));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
}

/** An attempt id for a writer opened by hand (no runtime to give one). */
function randomAttempt(): string {
  return BigInt(`0x${randomUUID().replaceAll('-', '').slice(0, 16)}`).toString(36);
}
