/**
 * The Redis Streams sink: `XADD` per record, pipelined per batch.
 *
 * - **With `id`** (the record's own entry id, `<ms>-<seq>`, increasing) the
 *   sink is idempotent: a replayed record whose id is already in the stream
 *   is refused by the server (an id must be above the stream's last), and
 *   the sink checks that the entry with that id exists before it counts the
 *   record as a duplicate — an id that is merely out of order, with no such
 *   entry, fails the write instead of being dropped silently. Ids must
 *   increase in the order records reach the sink.
 * - **Without `id`** the server assigns ids (`*`): a replay after a crash
 *   appends the replayed records again — at-least-once, duplicates possible
 *   for what was written after the last checkpoint.
 *
 * `write` resolves when the server has answered every `XADD` of the batch:
 * the sink's backpressure. A record larger than the server's
 * `proto-max-bulk-len` is dead-lettered with the reason instead of sent.
 */
import type { Redis } from 'ioredis';
import type { Sink, SinkWriter } from '../../core/connector.ts';
import { EddyError } from '../../errors/index.ts';
import { refuse, tooLarge } from '../refused.ts';
import { checkStream, connectRedis, message, safeUrl } from './connection.ts';
import { checkedId, type RedisSinkOptions, resolveRedisSinkOptions } from './options.ts';

/** What the writers of one `redisSink` in this thread have written. */
export interface RedisSinkStats {
  /** Entries added. */
  added: number;
  /** Records skipped because an entry with their id was already in the stream (a replay). */
  duplicates: number;
  /** Records larger than the server takes, dead-lettered. */
  refused: number;
}

/** A Redis Streams sink with its counters. */
export interface RedisSink<T> extends Sink<T> {
  stats(): Readonly<RedisSinkStats>;
}

const TOO_SMALL = 'equal or smaller than the target stream top item';

/**
 * Appends records to a Redis stream.
 *
 * @example
 * ```ts
 * stream.sink(redisSink<Reading>({ stream: 'readings-out', id: (r) => `${r.ts}-${r.seq}` }));
 * ```
 */
export function redisSink<T = unknown>(options: RedisSinkOptions<T>): RedisSink<T> {
  const o = resolveRedisSinkOptions(options);
  const idOf = o.id === undefined ? undefined : checkedId(o.id);
  const serialize = o.serialize ?? ((v: T) => JSON.stringify(v));
  const trim: (string | number)[] = o.maxLen === undefined ? [] : ['MAXLEN', '~', o.maxLen];
  const stats: RedisSinkStats = { added: 0, duplicates: 0, refused: 0 };
  return {
    kind: 'redis',
    messaging: { system: 'redis', destination: o.stream },
    // Explicit ids must reach the stream in increasing order: one writer; server-assigned ids need none.
    parallel: idOf === undefined,
    guarantee: idOf === undefined ? 'at-least-once' : 'idempotent',
    stats: () => ({ ...stats }),
    async open(ctx): Promise<SinkWriter<T>> {
      const redis = await connectRedis('redisSink', ctx.stepId, o);
      try {
        await checkStream('redisSink', ctx.stepId, redis, o);
      } catch (e) {
        redis.disconnect();
        throw e;
      }
      const limit = await bulkLimit(redis);
      const ioError = (e: unknown) =>
        new EddyError(
          'EDDY_IO_FAILED',
          `redisSink could not XADD to ${o.stream} at ${safeUrl(o.url)}: ${message(e)}; check the server`,
          { cause: e, retriable: true, stepId: ctx.stepId },
        );
      return {
        async write(values) {
          const batch = redis.pipeline();
          const ids: (string | undefined)[] = [];
          for (const v of values) {
            const payload = serialize(v);
            const bytes = typeof payload === 'string' ? Buffer.byteLength(payload) : payload.byteLength;
            if (bytes > limit) {
              // The server would close the connection, and the client send it again on reconnecting.
              refuse(ctx, tooLarge('redisSink', bytes, limit, "the server's proto-max-bulk-len"), payload);
              stats.refused++;
              continue;
            }
            const id = idOf?.(v);
            ids.push(id);
            batch.xadd(
              o.stream,
              ...trim,
              id ?? '*',
              o.field,
              typeof payload === 'string' ? payload : Buffer.from(payload),
            );
          }
          let results: [Error | null, unknown][] | null;
          try {
            results = await batch.exec();
          } catch (e) {
            throw ioError(e);
          }
          for (const [i, [error]] of (results ?? []).entries()) {
            if (error === null) {
              stats.added++;
              continue;
            }
            const id = ids[i];
            if (id === undefined || !error.message.includes(TOO_SMALL)) throw ioError(error);
            // Refused as not above the last id: a duplicate only if that very entry exists.
            const found = await redis.xrange(o.stream, id, id).catch((e: unknown) => {
              throw ioError(e);
            });
            if (found.length === 0) {
              throw new EddyError(
                'EDDY_IO_FAILED',
                `redisSink: id ${id} is below the last entry of ${o.stream} and no entry has it; ids from id() must increase in the order records are written`,
                { stepId: ctx.stepId },
              );
            }
            stats.duplicates++;
          }
        },
        async close() {
          await redis.quit().catch(() => redis.disconnect());
        },
      };
    },
  };
}

/** Redis's default proto-max-bulk-len: the largest string a command may carry. */
const DEFAULT_BULK_LIMIT = 512 * 1024 * 1024;

/** The server's proto-max-bulk-len (CONFIG GET may be refused, as on managed services: then Redis's default). */
async function bulkLimit(redis: Redis): Promise<number> {
  try {
    const r = (await redis.config('GET', 'proto-max-bulk-len')) as string[];
    const n = Number(r[1]);
    return Number.isFinite(n) && n > 0 ? n : DEFAULT_BULK_LIMIT;
  } catch {
    return DEFAULT_BULK_LIMIT;
  }
}
