/**
 * JSON Lines files: a source that reads one JSON value per line, decoding
 * safely (invalid UTF-8, oversized lines, excessive nesting and
 * `__proto__`/`constructor`/`prototype` keys go to the dead-letter output with
 * the reason and the byte offset), and a sink that appends one JSON value per line.
 */
import { type FileHandle, open, readdir, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import {
  type DecodeLimits,
  decodeJson,
  LineSplitter,
  lineBytes,
  resolveDecodeLimits,
} from '../../codec/index.ts';
import type { Sink, SinkWriter, Source, SourceReader } from '../../core/connector.ts';
import { configError } from '../../errors/index.ts';
import { jsonLines, openTextFile, Staging } from './staging.ts';

export { type JsonLinesPartsSinkOptions, jsonLinesPartsSink } from './parts.ts';

export interface JsonLinesSourceOptions<T> {
  readonly path: string;
  /** Checks and converts a decoded value; throw to dead-letter the line with your message as the reason. */
  readonly parse?: (value: unknown) => T;
  /** Size and nesting limits; defaults: 1 MiB per line, depth 64. */
  readonly limits?: Partial<DecodeLimits>;
  /** Bytes per read; default 512 KiB. */
  readonly chunkSize?: number;
}

/**
 * Reads a JSON Lines file.
 *
 * @example
 * ```ts
 * p.source('orders', jsonLinesSource<Order>({ path: 'orders.jsonl', parse: (v) => orderSchema.parse(v) }), { timestamp: (o) => o.ts });
 * ```
 */
export function jsonLinesSource<T>(options: JsonLinesSourceOptions<T>): Source<T> {
  if (typeof options?.path !== 'string' || options.path === '') {
    throw configError('jsonLinesSource needs a path', options?.path, 'pass { path: "input.jsonl" }');
  }
  const limits = resolveDecodeLimits(options.limits);
  // 512 KiB a read: with 64 KiB, a Nexmark run spent about 2.2 s of system time per 12.5M events
  // (3.5 GB) in 54,000 reads and their trips through libuv's thread pool, against 1.1 s with 512 KiB,
  // and read q0-q2 12-17 % slower (BENCHMARKS.md, "The file source's read size"). Lines are still
  // decoded 16 KiB at a time (LineSplitter), so the larger read makes no larger strings.
  const chunkSize = options.chunkSize ?? 512 * 1024;
  if (!Number.isInteger(chunkSize) || chunkSize < 1)
    throw configError('chunkSize must be a positive integer', chunkSize, 'pass bytes per read, e.g. 65536');
  const parse = options.parse;
  return {
    kind: 'jsonl-file',
    async open(ctx): Promise<SourceReader<T>> {
      const file = await open(options.path, 'r').catch((e: NodeJS.ErrnoException) => {
        throw configError(
          `cannot open ${options.path} (${e.code ?? e.message})`,
          options.path,
          'check the path and its permissions',
        );
      });
      // The position is a byte offset: everything before it has been handed out or dead-lettered.
      const start = restoredOffset(ctx.restored, options.path);
      let readAt = start;
      const splitter = new LineSplitter({ maxBytes: limits.maxBytes, startOffset: start });
      // Two buffers: the next chunk is read while this one's lines are decoded, so the wait for the
      // read (a trip through libuv's thread pool, about a sixth of a Nexmark run's time without it)
      // overlaps the decoding. Lines are decoded before their buffer is read into again.
      let buffer = new Uint8Array(chunkSize);
      let spare = new Uint8Array(chunkSize);
      let ahead: Promise<{ bytesRead: number }> | undefined;
      let pending: T[] = [];
      // The offset just past the line of each pending value, and past the last line taken.
      let pendingEnds: number[] = [];
      let takenEnd = start;
      let position = start;
      let done = false;
      const take = (items: ReturnType<LineSplitter['pushText']>) => {
        for (const item of items) {
          takenEnd = item.nextOffset;
          if (pending.length === 0) position = item.nextOffset;
          if (item.tooLarge) {
            ctx.deadLetter(
              'EDDY_DECODE_FAILED',
              `line at byte ${item.offset} is ${item.length} bytes; maxBytes is ${limits.maxBytes}`,
              `(${item.length} bytes not kept)`,
            );
            continue;
          }
          const isText = 'text' in item;
          if ((isText ? item.text.length : item.line.length) === 0) continue; // blank lines are allowed between records
          const decoded = decodeJson(isText ? item.text : item.line, limits);
          if (!decoded.ok) {
            ctx.deadLetter(
              'EDDY_DECODE_FAILED',
              `line at byte ${item.offset}: ${decoded.reason}`,
              lineBytes(item),
            );
            continue;
          }
          if (parse === undefined) {
            pending.push(decoded.value as T);
            pendingEnds.push(item.nextOffset);
            continue;
          }
          try {
            pending.push(parse(decoded.value));
            pendingEnds.push(item.nextOffset);
          } catch (e) {
            ctx.deadLetter(
              'EDDY_DECODE_FAILED',
              `line at byte ${item.offset}: ${e instanceof Error ? e.message : String(e)}`,
              lineBytes(item),
            );
          }
        }
      };
      return {
        async poll(max) {
          while (pending.length < max && !done) {
            const { bytesRead } = await (ahead ?? file.read(buffer, 0, buffer.length, readAt));
            ahead = undefined;
            readAt += bytesRead;
            if (bytesRead === 0) {
              take(splitter.end());
              done = true;
              continue;
            }
            const chunk = buffer;
            [buffer, spare] = [spare, buffer];
            ahead = file.read(buffer, 0, buffer.length, readAt);
            take(splitter.pushText(chunk.subarray(0, bytesRead)));
          }
          if (pending.length === 0) return done ? null : { values: [] };
          if (pending.length <= max) {
            const values = pending;
            pending = [];
            pendingEnds = [];
            position = takenEnd;
            return { values };
          }
          const values = pending.slice(0, max);
          position = pendingEnds[max - 1]!;
          pending = pending.slice(max);
          pendingEnds = pendingEnds.slice(max);
          return { values };
        },
        position: () => ({ offset: position }),
        async close() {
          // A read in flight finishes before its file is closed.
          await ahead?.catch(() => {});
          await file.close();
        },
      };
    },
  };
}

export interface JsonLinesSinkOptions<T> {
  readonly path: string;
  /** Turns a record into the value written; default the record itself. */
  readonly format?: (value: T) => unknown;
  /** Append to an existing file instead of replacing it. */
  readonly append?: boolean;
}

/**
 * Writes one JSON value per line. Exactly-once when the run takes
 * checkpoints: records go to a staging file `<path>.inprogress-<n>`; at a
 * checkpoint barrier it is fsync'd and renamed `<path>.pending-<id>` (pre-commit); once the
 * checkpoint is durable it is appended to `path` (commit). Readers of `path`
 * see only committed records, and after any crash `path` holds each result
 * once. Without checkpoints it appends straight to `path` (at-least-once).
 *
 * @example
 * ```ts
 * averages.sink(jsonLinesSink({ path: 'out/averages.jsonl' }));
 * ```
 */
export function jsonLinesSink<T>(options: JsonLinesSinkOptions<T>): Sink<T> {
  if (typeof options?.path !== 'string' || options.path === '') {
    throw configError('jsonLinesSink needs a path', options?.path, 'pass { path: "out.jsonl" }');
  }
  const format = options.format;
  return {
    kind: 'jsonl-file',
    guarantee: 'exactly-once',
    async open(ctx) {
      // A missing directory is the user's to fix: a configuration error, which fails the run at
      // once rather than restarting it until the restart limit (issue 19).
      const dir = dirname(options.path);
      const isDir = await stat(dir).then(
        (s) => s.isDirectory(),
        () => false,
      );
      if (!isDir)
        throw configError(
          `jsonLinesSink cannot write ${options.path}: the directory ${dir} does not exist`,
          options.path,
          `create it (mkdir -p ${dir}) or pass another path`,
          ctx.stepId,
        );
      if (ctx.checkpointing)
        return openTransactional(options.path, format, options.append ?? false, ctx.restored);
      const file = openTextFile(options.path, options.append ? 'a' : 'w');
      return {
        write: (values) => file.write(jsonLines(values, format)),
        flush: file.flush,
        close: file.close,
      };
    },
  };
}

function restoredOffset(restored: unknown, path: string): number {
  if (restored === undefined) return 0;
  const offset = (restored as { offset?: unknown } | null)?.offset;
  if (typeof offset !== 'number' || !Number.isInteger(offset) || offset < 0) {
    throw configError(
      `the checkpoint's position for ${path} is not a byte offset`,
      offset,
      'resume from a checkpoint written by a jsonLinesSource',
    );
  }
  return offset;
}

/** What a transactional file sink stores in a checkpoint: the target's committed length and the files to append. */
interface FileCommittable {
  readonly base: number;
  readonly pending: readonly { readonly file: string; readonly length: number }[];
}

/** The two-phase-commit writer behind {@link jsonLinesSink} when the run takes checkpoints. */
async function openTransactional<T>(
  path: string,
  format: ((value: T) => unknown) | undefined,
  append: boolean,
  restored: unknown,
): Promise<SinkWriter<T>> {
  if (restored !== undefined) await recoverCommit(path, restored as FileCommittable);
  else if (!append) await (await open(path, 'w')).close();
  // Anything pre-committed or staged after the checkpoint we resume from is recomputed: drop it.
  await removeStaged(path);
  let committed = (await stat(path).catch(() => ({ size: 0 }))).size;
  let uncommitted: { file: string; length: number }[] = [];
  // Staging files are numbered: the next one opens while the last is still being renamed at a barrier.
  const staging = new Staging((n) => `${path}.inprogress-${n}`);
  return {
    write(values) {
      return staging.write(jsonLines(values, format));
    },
    async preCommit(checkpointId) {
      // Synchronous up to the seal: records written after the barrier go to a new staging file.
      const base = committed;
      const before = [...uncommitted];
      const sealed = await staging.seal();
      if (sealed === undefined) return { base, pending: before } satisfies FileCommittable;
      const file = `${path}.pending-${checkpointId}`;
      const entry = { file: basename(file), length: sealed.length };
      uncommitted.push(entry);
      await rename(sealed.path, file);
      return { base, pending: [...before, entry] } satisfies FileCommittable;
    },
    async commit(_checkpointId, committable) {
      const c = committable as FileCommittable;
      await appendPending(path, c);
      committed = c.base + c.pending.reduce((n, p) => n + p.length, 0);
      const done = new Set(c.pending.map((p) => p.file));
      uncommitted = uncommitted.filter((p) => !done.has(p.file));
    },
    flush: () => staging.flush(),
    close: () => staging.close(),
  };
}

/** Truncates `path` to the committable's base, appends its pending files in order, fsyncs, then deletes them. */
async function appendPending(path: string, c: FileCommittable): Promise<void> {
  const dir = dirname(path);
  const target = await open(path, 'a+').then(async (h) => {
    await h.close();
    return open(path, 'r+');
  });
  try {
    await target.truncate(c.base);
    let at = c.base;
    const buffer = Buffer.allocUnsafe(1 << 20);
    for (const p of c.pending) {
      const source = await open(join(dir, p.file), 'r');
      try {
        at = await copyAll(source, target, at, buffer);
      } finally {
        await source.close();
      }
    }
    await target.sync();
  } finally {
    await target.close();
  }
  for (const p of c.pending) await rm(join(dir, p.file), { force: true });
}

/**
 * Finishes the commit of the checkpoint we resume from. The crash may have come
 * before it, during it, or after it: if every pending file is still there the
 * commit is redone from `base`; if one is gone the commit had finished (files
 * are deleted only after the appended data was fsync'd), so `path` is cut back
 * to exactly what it committed.
 */
async function recoverCommit(path: string, c: FileCommittable): Promise<void> {
  if (typeof c?.base !== 'number' || !Array.isArray(c.pending)) {
    throw configError(
      `the checkpoint's commit record for ${path} is malformed`,
      c,
      'resume from a checkpoint written by a jsonLinesSink',
    );
  }
  const dir = dirname(path);
  const present = await Promise.all(
    c.pending.map((p) =>
      stat(join(dir, p.file)).then(
        () => true,
        () => false,
      ),
    ),
  );
  if (present.every(Boolean)) return appendPending(path, c);
  const h = await open(path, 'r+');
  try {
    await h.truncate(c.base + c.pending.reduce((n, p) => n + p.length, 0));
    await h.sync();
  } finally {
    await h.close();
  }
  for (const p of c.pending) await rm(join(dir, p.file), { force: true });
}

async function removeStaged(path: string): Promise<void> {
  const dir = dirname(path);
  const prefix = `${basename(path)}.`;
  for (const name of await readdir(dir).catch(() => [] as string[])) {
    if (!name.startsWith(prefix)) continue;
    const rest = name.slice(prefix.length);
    if (/^(inprogress|pending)-\d+$/.test(rest)) await rm(join(dir, name), { force: true });
  }
}

async function copyAll(source: FileHandle, target: FileHandle, at: number, buffer: Buffer): Promise<number> {
  let from = 0;
  for (;;) {
    const { bytesRead } = await source.read(buffer, 0, buffer.length, from);
    if (bytesRead === 0) return at;
    let off = 0;
    while (off < bytesRead) {
      const { bytesWritten } = await target.write(buffer, off, bytesRead - off, at);
      off += bytesWritten;
      at += bytesWritten;
    }
    from += bytesRead;
  }
}
