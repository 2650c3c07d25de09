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
 *
 * A server restart is ridden out: a publish that times out, finds no
 * JetStream responder (the server starting) or meets a dropped connection
 * is sent again, with the same id, with backoff (100 ms doubling to 2 s),
 * until `reconnectTimeoutMs` has passed since the first failure — then the
 * write fails and the run restarts from its last checkpoint. A re-sent
 * message the server had stored is dropped as a duplicate; re-sent messages
 * may land after later ones of their batch. An error from the JetStream API
 * itself (a wrong stream, a refused message) fails at once. A record larger
 * than the server's `max_payload` or the stream's `max_msg_size` is
 * dead-lettered with the reason, not sent (`stats().refused`).
 */
import { randomUUID } from 'node:crypto';
import { JetStreamApiError, type JetStreamClient, jetstream } from '@nats-io/jetstream';
import { ConnectionError, NoRespondersError, RequestError, TimeoutError } from '@nats-io/transport-node';
import type { Sink, SinkWriter } from '../../core/connector.ts';
import { EddyError } from '../../errors/index.ts';
import { refuse, tooLarge } from '../refused.ts';
import { connectNats, message } from './connection.ts';
import { type NatsSinkOptions, resolveNatsSinkOptions, subjectChecker } from './options.ts';

/** What the writers of one `natsSink` in this thread have published. */
export interface NatsSinkStats {
  /** Messages the server stored. */
  published: number;
  /** Messages the server dropped as duplicates of an id it had (a replay, or a re-send after an outage). */
  duplicates: number;
  /** Publishes sent again after a timeout or a dropped connection (a server restart). */
  retried: number;
  /** Records larger than the server's max_payload or the stream's max_msg_size, dead-lettered instead of sent. */
  refused: number;
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
  const stats: NatsSinkStats = { published: 0, duplicates: 0, retried: 0, refused: 0 };
  return {
    kind: 'nats',
    guarantee: 'idempotent',
    messaging: { system: 'nats', destination: o.stream },
    // With the record's own message id a writer per subtask deduplicates as one does; position ids need one writer.
    parallel: o.messageId !== undefined,
    stats: () => ({ ...stats }),
    async open(ctx): Promise<SinkWriter<T>> {
      const { nc, maxMessageBytes } = await connectNats('natsSink', ctx.stepId, o);
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
          const subjects = new Array<string>(values.length);
          const payloads = new Array<string | Uint8Array>(values.length);
          const ids = new Array<string>(values.length);
          let todo: number[] = [];
          const maxPayload = nc.info?.max_payload ?? Number.POSITIVE_INFINITY;
          const limit = Math.min(maxPayload, maxMessageBytes);
          const which =
            maxPayload <= maxMessageBytes ? "the server's max_payload" : `stream ${o.stream}'s max_msg_size`;
          for (let i = 0; i < values.length; i++) {
            const v = values[i]!;
            subjects[i] = subjectOf(v);
            payloads[i] = serialize(v);
            ids[i] = o.messageId === undefined ? `${prefix}:${run}:${next + i}` : o.messageId(v);
            const bytes = messageBytes(payloads[i]!, ids[i]!, o.stream);
            if (bytes > limit) {
              // The client would refuse it on every retry and restart: dead-letter it instead.
              refuse(ctx, tooLarge('natsSink', bytes, limit, which), payloads[i]);
              stats.refused++;
            } else todo.push(i);
          }
          next += values.length;
          let failingSince: number | undefined;
          for (let attempt = 0; todo.length > 0; attempt++) {
            const sent = await Promise.allSettled(
              todo.map((i) =>
                js.publish(subjects[i]!, payloads[i]!, { msgID: ids[i]!, expect: { streamName: o.stream } }),
              ),
            );
            const failed: number[] = [];
            let error: unknown;
            for (let k = 0; k < sent.length; k++) {
              const r = sent[k]!;
              if (r.status === 'rejected') {
                failed.push(todo[k]!);
                error = r.reason;
              } else if (r.value.duplicate) stats.duplicates++;
              else stats.published++;
            }
            if (failed.length === 0) return;
            if (lost !== undefined || !passing(error)) throw ioError(ctx.stepId, o.stream, error);
            failingSince ??= Date.now();
            const down = Date.now() - failingSince;
            if (down >= o.reconnectTimeoutMs) {
              throw ioError(
                ctx.stepId,
                o.stream,
                `${message(error)}, still after ${down} ms of retries (reconnectTimeoutMs ${o.reconnectTimeoutMs})`,
              );
            }
            stats.retried += failed.length;
            await new Promise((resolve) =>
              setTimeout(resolve, Math.min(100 * 2 ** attempt, 2000, o.reconnectTimeoutMs - down)),
            );
            todo = failed;
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

/** A message's size as the client counts it against max_payload: the payload and its two headers. */
function messageBytes(payload: string | Uint8Array, id: string, stream: string): number {
  const body = typeof payload === 'string' ? Buffer.byteLength(payload) : payload.byteLength;
  // NATS/1.0␍␊ Nats-Msg-Id: <id>␍␊ Nats-Expected-Stream: <stream>␍␊ ␍␊
  return body + 10 + 15 + Buffer.byteLength(id) + 24 + Buffer.byteLength(stream) + 2;
}

/** Whether a failed publish is the server being away (a restart), worth sending again. */
function passing(e: unknown): boolean {
  if (e instanceof JetStreamApiError) return false;
  return (
    e instanceof TimeoutError ||
    e instanceof NoRespondersError ||
    e instanceof RequestError ||
    e instanceof ConnectionError
  );
}

function ioError(stepId: string, stream: string, e: unknown): EddyError {
  return new EddyError(
    'EDDY_IO_FAILED',
    `natsSink could not publish to stream ${stream}: ${message(e)}; check the server and the stream's subjects`,
    { cause: e, retriable: true, stepId },
  );
}
