/**
 * JSON Lines files: a source that reads one JSON value per line, decoding
 * safely (invalid UTF-8, oversized lines, excessive nesting and
 * `__proto__`/`constructor`/`prototype` keys go to the dead-letter output with
 * the reason and the byte offset), and a sink that appends one JSON value per line.
 */
import { createWriteStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { type DecodeLimits, decodeJson, LineSplitter, resolveDecodeLimits } from '../../codec/index.ts';
import { configError } from '../../errors/index.ts';
import type { Sink, Source, SourceReader } from '../types.ts';

export interface JsonLinesSourceOptions<T> {
  readonly path: string;
  /** Checks and converts a decoded value; throw to dead-letter the line with your message as the reason. */
  readonly parse?: (value: unknown) => T;
  /** Size and nesting limits; defaults: 1 MiB per line, depth 64. */
  readonly limits?: Partial<DecodeLimits>;
  /** Bytes per read; default 64 KiB. */
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
  const chunkSize = options.chunkSize ?? 64 * 1024;
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
      const splitter = new LineSplitter({ maxBytes: limits.maxBytes });
      const buffer = new Uint8Array(chunkSize);
      let pending: T[] = [];
      let done = false;
      const take = (items: ReturnType<LineSplitter['end']>) => {
        for (const item of items) {
          if (item.tooLarge) {
            ctx.deadLetter(
              'EDDY_DECODE_FAILED',
              `line at byte ${item.offset} is ${item.length} bytes; maxBytes is ${limits.maxBytes}`,
              `(${item.length} bytes not kept)`,
            );
            continue;
          }
          if (item.line.length === 0) continue; // blank lines are allowed between records
          const decoded = decodeJson(item.line, limits);
          if (!decoded.ok) {
            ctx.deadLetter(
              'EDDY_DECODE_FAILED',
              `line at byte ${item.offset}: ${decoded.reason}`,
              item.line.slice(),
            );
            continue;
          }
          if (parse === undefined) {
            pending.push(decoded.value as T);
            continue;
          }
          try {
            pending.push(parse(decoded.value));
          } catch (e) {
            ctx.deadLetter(
              'EDDY_DECODE_FAILED',
              `line at byte ${item.offset}: ${e instanceof Error ? e.message : String(e)}`,
              item.line.slice(),
            );
          }
        }
      };
      return {
        async poll(max) {
          while (pending.length < max && !done) {
            const { bytesRead } = await file.read(buffer, 0, buffer.length, null);
            if (bytesRead === 0) {
              take(splitter.end());
              done = true;
            } else take(splitter.push(buffer.subarray(0, bytesRead)));
          }
          if (pending.length === 0) return done ? null : { values: [] };
          if (pending.length <= max) {
            const values = pending;
            pending = [];
            return { values };
          }
          const values = pending.slice(0, max);
          pending = pending.slice(max);
          return { values };
        },
        close: () => file.close(),
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
 * Writes one JSON value per line. At-least-once for now: exactly-once
 * (two-phase commit on checkpoints) comes with checkpoints.
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
    guarantee: 'at-least-once',
    open() {
      const stream = createWriteStream(options.path, { flags: options.append ? 'a' : 'w' });
      let failed: Error | undefined;
      stream.on('error', (e) => {
        failed = e;
      });
      return {
        write(values) {
          if (failed !== undefined) throw failed;
          let text = '';
          for (const v of values) text += `${JSON.stringify(format === undefined ? v : format(v))}\n`;
          if (!stream.write(text)) return new Promise<void>((resolve) => stream.once('drain', resolve));
        },
        flush: () =>
          new Promise<void>((resolve, reject) => stream.write('', (e) => (e ? reject(e) : resolve()))),
        close: () => new Promise<void>((resolve) => stream.end(resolve)),
      };
    },
  };
}
