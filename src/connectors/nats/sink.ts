/**
 * The NATS JetStream sink: publishes every record with a `Nats-Msg-Id`, so
 * the server drops a message it already stored under the same id —
 * effectively-once output across a crash and a replay from the last
 * checkpoint, within limits:
 *
 * - **The duplicate window.** The server remembers ids for the stream's
 *   `duplicate_window` (2 minutes unless the stream was made with another):
 *   a replay that republishes a record later than that after the original
 *   is stored twice. Keep the checkpoint interval plus the time to restart
 *   well under it (or widen the window on the stream).
 * - **Which id.** With `messageId` the id is the record's own (an event id):
 *   deduplication holds whatever order a replay has. Without it the id is
 *   the record's position in this sink's output — `<idPrefix>:<run>:<n>`,
 *   where `<run>` is chosen at a fresh start and kept in every checkpoint,
 *   and `<n>` counts records written since that start, restored from the
 *   checkpoint — so a replay deduplicates only when it hands the sink the
 *   same records in the same order (a pipeline that is deterministic from a
 *   replaying source, at parallelism 1 or with one upstream subtask). A fresh
 *   start (no checkpoint) gets a new run id, so it never collides with an
 *   earlier run's messages.
 *
 * Each batch is published concurrently and `write` resolves when the server
 * has stored (or deduplicated) every message: that is the sink's
 * backpressure, and what makes a checkpoint's pre-commit durable.
 */
import { randomUUID } from 'node:crypto';
import { type JetStreamClient, jetstream } from '@nats-io/jetstream';
import type { Sink, SinkWriter } from '../../core/connector.ts';
import { EddyError } from '../../errors/index.ts';
import { connectNats, message } from './connection.ts';
import { type NatsSinkOptions, resolveNatsSinkOptions, subjectChecker } from './options.ts';

/** What the writers of one `natsSink` in this thread have published. */
export interface NatsSinkStats {
  /** Messages the server stored. */
  published: number;
  /** Messages the server dropped as duplicates of an id it had (a replay). */
  duplicates: number;
}

/** A JetStream sink with its counters. */
export interface NatsSink<T> extends Sink<T> {
  stats(): Readonly<NatsSinkStats>;
}

/** Stored in each checkpoint: the run's id and how many records were written before its barrier. */
interface NatsSinkCommittable {
  readonly run: string;
  readonly next: number;
}

/**
 * Publishes records to a JetStream stream, deduplicated by message id.
 *
 * @example
 * ```ts
 * stream.sink(natsSink<Order>({ stream: 'ENRICHED', subject: (o) => `enriched.${o.region}`, messageId: (o) => o.id }));
 * ```
 */
export function natsSink<T = unknown>(options: NatsSinkOptions<T>): NatsSink<T> {
  const o = resolveNatsSinkOptions(options);
  const subjectOf = subjectChecker(o.subject);
  const serialize = o.serialize ?? ((v: T) => JSON.stringify(v));
  const stats: NatsSinkStats = { published: 0, duplicates: 0 };
  return {
    kind: 'nats',
    guarantee: 'idempotent',
    stats: () => ({ ...stats }),
    async open(ctx): Promise<SinkWriter<T>> {
      const { nc } = await connectNats('natsSink', ctx.stepId, o);
      const js: JetStreamClient = jetstream(nc);
      const restored = ctx.restored as NatsSinkCommittable | undefined;
      const run = restored?.run ?? randomUUID().slice(0, 13);
      let next = restored?.next ?? 0;
      const prefix = o.idPrefix ?? ctx.stepId;
      let closed = false;
      let lost: Error | undefined;
      void nc.closed().then((e) => {
        if (!closed) lost = e ?? new Error('connection closed');
      });
      return {
        async write(values) {
          if (lost !== undefined) throw ioError(ctx.stepId, o.stream, lost);
          const sends = new Array<Promise<{ duplicate: boolean }>>(values.length);
          for (let i = 0; i < values.length; i++) {
            const v = values[i]!;
            const msgID = o.messageId === undefined ? `${prefix}:${run}:${next + i}` : o.messageId(v);
            sends[i] = js.publish(subjectOf(v), serialize(v), { msgID, expect: { streamName: o.stream } });
          }
          next += values.length;
          let acks: { duplicate: boolean }[];
          try {
            acks = await Promise.all(sends);
          } catch (e) {
            throw ioError(ctx.stepId, o.stream, e);
          }
          for (const a of acks) {
            if (a.duplicate) stats.duplicates++;
            else stats.published++;
          }
        },
        // Every write has been stored by the time this is called (the sink operator awaits them).
        preCommit: (): NatsSinkCommittable => ({ run, next }),
        commit() {},
        async close() {
          closed = true;
          await nc.drain().catch(() => nc.close().catch(() => {}));
        },
      };
    },
  };
}

function ioError(stepId: string, stream: string, e: unknown): EddyError {
  return new EddyError(
    'EDDY_IO_FAILED',
    `natsSink could not publish to stream ${stream}: ${message(e)}; check the server and the stream's subjects`,
    { cause: e, retriable: true, stepId },
  );
}
