/**
 * The Redis Streams source: a consumer group read with `XREADGROUP`,
 * acknowledged (`XACK`) only once entries are safe.
 *
 * - **With checkpoints** an entry is acknowledged when the checkpoint after
 *   which it was handed out completes (`SourceReader.checkpointComplete`).
 *   The checkpoint stores the ids handed out and not yet acknowledged at its
 *   barrier; after a restore, such an entry read again is already in the
 *   restored state, so it is acknowledged and skipped.
 * - **Without checkpoints** a poll's entries are acknowledged at the next
 *   poll (they have passed the pipeline's synchronous steps): at-least-once.
 *
 * Nothing is lost after a crash: unacknowledged entries stay in the group's
 * pending entries list. A reader first re-reads its own pending entries
 * (`XREADGROUP … 0`: the same consumer name after a restart), and every
 * `claimIntervalMs` claims other consumers' entries idle for
 * `claimMinIdleMs` (`XAUTOCLAIM`: a crashed reader whose name is not used
 * again). Both count as redeliveries (`stats().redelivered`).
 * `maxPending` bounds what is read and not acknowledged (backpressure).
 *
 * Payloads (the entry's `field`) are decoded by the codec's safe JSON
 * decoder, as a string, or kept as bytes; an undecodable entry (or one
 * `parse` refuses, or one without the field) is dead-lettered with the
 * reason and its id, and acknowledged like any other. Event time is the
 * entry id's milliseconds.
 *
 * The source is splittable: subtask k reads as consumer `<consumer>-k` of
 * the same group, and the server shares the entries among them.
 */
import { resolveDecodeLimits } from '../../codec/index.ts';
import type { Source, SourceBatch, SourceReader } from '../../core/connector.ts';
import { EddyError } from '../../errors/index.ts';
import { payloadDecoder } from '../payload.ts';
import { checkStream, connectRedis, message, safeUrl } from './connection.ts';
import { type RedisSourceOptions, resolveRedisSourceOptions } from './options.ts';

/** What the readers of one `redisSource` in this thread have seen (each thread counts its own). */
export interface RedisSourceStats {
  /** Entries read, re-reads and claims included. */
  read: number;
  /** Entries read again: this consumer's own pending entries after a restart, and claimed ones. */
  redelivered: number;
  /** Of those, entries claimed from other consumers (`XAUTOCLAIM`). */
  claimed: number;
  /** Re-read entries not handed out again, because the restored checkpoint covers them. */
  skipped: number;
  /** Entries acknowledged. */
  acked: number;
  /** Entries dead-lettered. */
  deadLettered: number;
}

/** A Redis Streams source with its counters. */
export interface RedisSource<T> extends Source<T> {
  stats(): Readonly<RedisSourceStats>;
}

/** Per split (one per subtask): the ids handed out but not acknowledged at the barrier. */
type RedisPosition = Record<string, { readonly unacked: readonly string[] }>;

/** An entry as the server sends it: id and the flat field/value list (null when the entry was deleted). */
type Entry = [id: Buffer, fields: Buffer[] | null];

/**
 * Reads a Redis stream through a consumer group.
 *
 * @example
 * ```ts
 * p.source('orders', redisSource<Order>({ stream: 'orders', group: 'order-stats' }))
 *   .keyBy((o) => o.customer) // …
 * await p.run({ checkpoints: { dir: 'chk', intervalMs: 10_000 } }); // XACK at each checkpoint
 * ```
 */
export function redisSource<T = unknown>(options: RedisSourceOptions<T>): RedisSource<T> {
  const o = resolveRedisSourceOptions(options);
  const limits = resolveDecodeLimits(o.limits);
  const field = Buffer.from(o.field);
  const stats: RedisSourceStats = {
    read: 0,
    redelivered: 0,
    claimed: 0,
    skipped: 0,
    acked: 0,
    deadLettered: 0,
  };
  const decode = payloadDecoder<T>({
    format: o.format,
    limits,
    ...(o.parse === undefined ? {} : { parse: o.parse }),
  });
  return {
    kind: 'redis',
    messaging: { system: 'redis', destination: o.stream },
    splittable: true,
    eventTimes: true,
    stats: () => ({ ...stats }),
    async open(ctx): Promise<SourceReader<T>> {
      const redis = await connectRedis('redisSource', ctx.stepId, o);
      // Acknowledgements go on their own connection: never queued behind a blocking read.
      const acks = redis.duplicate();
      acks.on('error', () => {});
      try {
        await checkStream('redisSource', ctx.stepId, redis, o);
        await redis.call('XGROUP', 'CREATE', o.stream, o.group, o.startId, 'MKSTREAM').catch((e: unknown) => {
          if (!message(e).startsWith('BUSYGROUP')) throw e;
        });
      } catch (e) {
        redis.disconnect();
        acks.disconnect();
        if (e instanceof EddyError) throw e;
        throw new EddyError(
          'EDDY_IO_FAILED',
          `redisSource cannot set up group ${o.group} on stream ${o.stream} at ${safeUrl(o.url)}: ${message(e)}`,
          { cause: e, retriable: true, stepId: ctx.stepId },
        );
      }
      const consumer = `${o.consumer ?? `eddy-${ctx.stepId}`}-${ctx.subtask}`;
      const split = `${o.stream}/${o.group}/${consumer}`;
      const covered = new Set<string>();
      for (const p of Object.values((ctx.restored ?? {}) as RedisPosition))
        for (const id of p.unacked) covered.add(id);
      // Handed out (or dead-lettered), not acknowledged.
      const pending = new Set<string>();
      let sinceBarrier: string[] = [];
      const barriers: { cp: number; ids: string[] }[] = [];
      const checkpointing = ctx.checkpointing === true;
      // First this consumer's own pending entries (after a restart), from this id on; then new ones.
      let ownFrom: string | undefined = '0';
      let claimFrom = '0-0';
      let nextClaim = 0;
      const ioError = (what: string, e: unknown) =>
        new EddyError(
          'EDDY_IO_FAILED',
          `redisSource: ${what} on stream ${o.stream} at ${safeUrl(o.url)}: ${message(e)}; check the server, or raise reconnectTimeoutMs`,
          { cause: e, retriable: true, stepId: ctx.stepId },
        );
      const ack = async (ids: readonly string[]) => {
        const live = ids.filter((id) => pending.delete(id));
        if (live.length === 0) return;
        for (let i = 0; i < live.length; i += 1000) {
          await acks.xack(o.stream, o.group, ...live.slice(i, i + 1000)).catch((e: unknown) => {
            throw ioError('XACK', e);
          });
        }
        stats.acked += live.length;
      };
      const read = async (max: number): Promise<{ entries: Entry[]; again: boolean; claimed: boolean }> => {
        if (ownFrom !== undefined) {
          const r = (await redis.callBuffer(
            'XREADGROUP',
            'GROUP',
            o.group,
            consumer,
            'COUNT',
            max,
            'STREAMS',
            o.stream,
            ownFrom,
          )) as [Buffer, Entry[]][] | null;
          const entries = r?.[0]?.[1] ?? [];
          if (entries.length === 0) ownFrom = undefined;
          else {
            ownFrom = String(entries.at(-1)![0]);
            return { entries, again: true, claimed: false };
          }
        }
        if (Date.now() >= nextClaim) {
          const r = (await redis.callBuffer(
            'XAUTOCLAIM',
            o.stream,
            o.group,
            consumer,
            o.claimMinIdleMs,
            claimFrom,
            'COUNT',
            max,
          )) as [Buffer, Entry[], Buffer[]?];
          claimFrom = String(r[0]);
          if (claimFrom === '0-0') nextClaim = Date.now() + o.claimIntervalMs;
          // Entries deleted from the stream come back as null: nothing to process, nothing pending any more.
          const entries = r[1].filter((e) => e[1] !== null);
          if (entries.length > 0) return { entries, again: true, claimed: true };
        }
        const r = (await redis.callBuffer(
          'XREADGROUP',
          'GROUP',
          o.group,
          consumer,
          'COUNT',
          max,
          'BLOCK',
          50,
          'STREAMS',
          o.stream,
          '>',
        )) as [Buffer, Entry[]][] | null;
        return { entries: r?.[0]?.[1] ?? [], again: false, claimed: false };
      };
      return {
        splits: [split],
        async poll(max): Promise<SourceBatch<T>> {
          if (!checkpointing) {
            const done = sinceBarrier;
            sinceBarrier = [];
            await ack(done);
          }
          const room = Math.min(max, o.maxPending - pending.size);
          if (room <= 0) {
            // Backpressure: wait for a checkpoint to acknowledge (the runtime polls again shortly).
            return { values: [], split };
          }
          let got: Awaited<ReturnType<typeof read>>;
          try {
            got = await read(room);
          } catch (e) {
            throw ioError('reading', e);
          }
          const values: T[] = [];
          const times: number[] = [];
          const dropped: string[] = [];
          for (const [rawId, fields] of got.entries) {
            const id = String(rawId);
            stats.read++;
            // Still held by this reader: its own entries come back from XAUTOCLAIM once idle that long.
            if (pending.has(id)) continue;
            if (got.again) stats.redelivered++;
            if (got.claimed) stats.claimed++;
            if (covered.delete(id)) {
              dropped.push(id); // in the restored checkpoint's state already
              stats.skipped++;
              continue;
            }
            if (fields === null) {
              dropped.push(id); // deleted from the stream (XDEL, trimming) while pending
              continue;
            }
            pending.add(id);
            sinceBarrier.push(id);
            let payload: Buffer | undefined;
            for (let i = 0; i + 1 < fields.length; i += 2)
              if (fields[i]!.equals(field)) payload = fields[i + 1]!;
            const d: ReturnType<typeof decode> =
              payload === undefined
                ? {
                    ok: false,
                    code: 'missing-field',
                    reason: `the entry has no field ${JSON.stringify(o.field)}`,
                  }
                : decode(payload);
            if (d.ok) {
              values.push(d.value);
              times.push(Number(id.slice(0, id.indexOf('-'))));
            } else {
              stats.deadLettered++;
              ctx.deadLetter(
                'EDDY_DECODE_FAILED',
                `${d.code}: ${d.reason} (stream ${o.stream} entry ${id})`,
                payload ?? '',
              );
            }
          }
          if (dropped.length > 0) {
            for (const id of dropped) pending.add(id);
            await ack(dropped);
          }
          return { values, times, split };
        },
        position(cp): RedisPosition {
          barriers.push({ cp: cp ?? Number.NaN, ids: sinceBarrier });
          sinceBarrier = [];
          return { [split]: { unacked: [...pending, ...covered] } };
        },
        async checkpointComplete(cp) {
          const due: string[] = [];
          while (barriers.length > 0 && !(barriers[0]!.cp > cp)) due.push(...barriers.shift()!.ids);
          // An outage is ridden out by the client's reconnects; if it gives up, the entries stay
          // pending and are read again: nothing lost (the checkpoint has its error).
          await ack(due);
        },
        async close() {
          redis.disconnect();
          await acks.quit().catch(() => acks.disconnect());
        },
      };
    },
  };
}
