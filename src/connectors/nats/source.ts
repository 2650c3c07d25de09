/**
 * The NATS JetStream source: a durable pull consumer whose messages are
 * acknowledged only once they are safe.
 *
 * - **With checkpoints** a message is acknowledged when the checkpoint after
 *   which it was handed out completes (`SourceReader.checkpointComplete`), so
 *   a crash redelivers exactly what no complete checkpoint covers. The
 *   position stored in a checkpoint is the set of stream sequences handed out
 *   and not yet acknowledged at its barrier: after a restore, a redelivered
 *   message in that set is already in the restored state, so it is
 *   acknowledged and skipped — the source is exactly-once towards eddy's
 *   state, within one consumer (the set is kept until each such message came
 *   back).
 * - **Without checkpoints** the messages of a poll are acknowledged at the
 *   next poll, once they have gone through the pipeline's synchronous steps:
 *   at-least-once. The last poll's messages are not acknowledged when the
 *   run stops (a stop cannot tell a clean end from a failure here): the next
 *   reader gets them again after `ackWaitMs`.
 *
 * Redeliveries (delivery count > 1) are counted (`stats().redelivered`). A
 * message delivered again while this reader still holds it unacknowledged
 * (its ack wait ran out) is not handed out twice, nor is one this reader
 * acknowledged in the last `reconnectTimeoutMs` + 2 × `ackWaitMs` (a server
 * killed and restarted can lose acknowledgements it had received, and sends
 * those messages again): it is acknowledged again and skipped. With several
 * subtasks on one consumer, such a message sent to another subtask than the
 * one that acknowledged it is handed out again (at-least-once). After a crash the server
 * redelivers a dead reader's messages only when their `ackWaitMs` runs out,
 * so recovery takes up to that long. `maxAckPending` bounds what is
 * delivered and not acknowledged: the server stops there (backpressure),
 * and it also bounds eddy's buffer.
 *
 * Payloads are decoded by the codec's safe JSON decoder (size, UTF-8, depth,
 * `__proto__`/`constructor`/`prototype` keys), as a string, or kept as bytes;
 * an undecodable message (or one `parse` refuses) is dead-lettered with the
 * reason, its subject and stream sequence, and acknowledged like any other.
 * Event time is the message's stream timestamp.
 *
 * The source is splittable: every subtask opens a reader on the same durable
 * consumer and the server shares the messages among them.
 */
import { AckPolicy, type ConsumerMessages, DeliverPolicy, type JsMsg, jetstream } from '@nats-io/jetstream';
import { resolveDecodeLimits } from '../../codec/index.ts';
import type { Source, SourceBatch, SourceReader } from '../../core/connector.ts';
import { configError, EddyError } from '../../errors/index.ts';
import { payloadDecoder } from '../payload.ts';
import { connectNats, message } from './connection.ts';
import { type NatsSourceOptions, resolveNatsSourceOptions } from './options.ts';
import { RecentAcks, ranges } from './sequences.ts';

/** What the readers of one `natsSource` in this thread have seen (each thread counts its own). */
export interface NatsSourceStats {
  /** Messages received from the server, redeliveries included. */
  delivered: number;
  /** Of those, deliveries with a delivery count above 1. */
  redelivered: number;
  /** Redeliveries not handed out again: still held or recently acknowledged by this reader, or covered by the restored checkpoint. */
  skipped: number;
  /** Messages acknowledged. */
  acked: number;
  /** Messages dead-lettered (undecodable or refused by `parse`). */
  deadLettered: number;
}

/** A JetStream source with its counters. */
export interface NatsSource<T> extends Source<T> {
  stats(): Readonly<NatsSourceStats>;
}

/** Per split (one per subtask): the stream sequences handed out but not acknowledged, as [first, last] ranges. */
type NatsPosition = Record<string, { readonly unacked: readonly (readonly [number, number])[] }>;

/**
 * Reads a JetStream stream through a durable pull consumer.
 *
 * @example
 * ```ts
 * p.source('orders', natsSource<Order>({ stream: 'ORDERS', consumer: 'order-stats', parse: (v) => v as Order }))
 *   .keyBy((o) => o.customer) // …
 * await p.run({ checkpoints: { dir: 'chk', intervalMs: 10_000 } }); // acks at each checkpoint
 * ```
 */
export function natsSource<T = unknown>(options: NatsSourceOptions<T>): NatsSource<T> {
  const o = resolveNatsSourceOptions(options);
  const limits = resolveDecodeLimits(o.limits);
  const stats: NatsSourceStats = { delivered: 0, redelivered: 0, skipped: 0, acked: 0, deadLettered: 0 };
  const decode = payloadDecoder<T>({
    format: o.format,
    limits,
    ...(o.parse === undefined ? {} : { parse: o.parse }),
  });
  return {
    kind: 'nats',
    messaging: { system: 'nats', destination: o.stream },
    splittable: true,
    eventTimes: true,
    stats: () => ({ ...stats }),
    async open(ctx): Promise<SourceReader<T>> {
      const { nc, jsm } = await connectNats('natsSource', ctx.stepId, o);
      let messages: ConsumerMessages;
      let existing: Awaited<ReturnType<typeof jsm.consumers.info>> | undefined;
      try {
        const config = {
          ack_wait: o.ackWaitMs * 1_000_000,
          max_ack_pending: o.maxAckPending,
        };
        existing = await jsm.consumers.info(o.stream, o.consumer).catch(() => undefined);
        if (existing === undefined) {
          await jsm.consumers.add(o.stream, {
            durable_name: o.consumer,
            ack_policy: AckPolicy.Explicit,
            deliver_policy: DeliverPolicy.All,
            ...config,
            ...(o.filterSubject === undefined ? {} : { filter_subject: o.filterSubject }),
          });
        } else {
          if (existing.config.deliver_subject !== undefined) {
            throw configError(
              `natsSource consumer ${JSON.stringify(o.consumer)} of stream ${o.stream} is a push consumer`,
              o.consumer,
              'name a pull consumer, or a new name (it is created as a durable pull consumer)',
              ctx.stepId,
            );
          }
          if (existing.config.ack_policy !== AckPolicy.Explicit) {
            throw configError(
              `natsSource consumer ${JSON.stringify(o.consumer)} does not use explicit acks (ack_policy ${existing.config.ack_policy})`,
              o.consumer,
              'use a consumer with ack_policy explicit, or a new name',
              ctx.stepId,
            );
          }
          if (
            existing.config.ack_wait !== config.ack_wait ||
            existing.config.max_ack_pending !== config.max_ack_pending
          ) {
            await jsm.consumers.update(o.stream, o.consumer, config);
          }
        }
        const consumer = await jetstream(nc).consumers.get(o.stream, o.consumer);
        messages = await consumer.consume({ max_messages: Math.min(o.maxAckPending, 1000) });
      } catch (e) {
        await nc.close().catch(() => {});
        if (e instanceof EddyError) throw e;
        throw new EddyError(
          'EDDY_IO_FAILED',
          `natsSource cannot open consumer ${o.consumer} on stream ${o.stream}: ${message(e)}`,
          { cause: e, retriable: true, stepId: ctx.stepId },
        );
      }
      const split = `${o.stream}/${o.consumer}#${ctx.subtask}`;
      // Restored: sequences a checkpoint covers (in the restored state) that may come back; ack and skip them.
      const covered = new Set<number>();
      // Those at or below the consumer's ack floor were acknowledged before the crash: they never come back.
      const floor = existing?.ack_floor.stream_seq ?? 0;
      for (const p of Object.values((ctx.restored ?? {}) as NatsPosition))
        for (const [a, b] of p.unacked) for (let s = Math.max(a, floor + 1); s <= b; s++) covered.add(s);
      // Handed out, not acknowledged: stream sequence -> the latest delivery (the one to acknowledge).
      const pending = new Map<number, JsMsg>();
      const recent = new RecentAcks(o.reconnectTimeoutMs + 2 * o.ackWaitMs);
      // Sequences handed out since the last barrier, and per barrier not yet completed.
      let sinceBarrier: number[] = [];
      const barriers: { cp: number; seqs: number[] }[] = [];
      const checkpointing = ctx.checkpointing === true;
      let buffer: JsMsg[] = [];
      let head = 0;
      let failure: Error | undefined;
      let wake: (() => void) | undefined;
      let closed = false;
      const fail = (e: Error) => {
        failure ??= e;
        wake?.();
      };
      // The client pulls in the background (and reconnects by itself); the server stops at maxAckPending.
      void (async () => {
        try {
          for await (const m of messages) {
            buffer.push(m);
            wake?.();
          }
        } catch (e) {
          if (!closed) fail(ioError(`reading consumer ${o.consumer}`, e));
        }
      })();
      void nc.closed().then((e) => {
        if (!closed)
          fail(
            ioError(
              `the connection closed (no server for ${o.reconnectTimeoutMs} ms?)`,
              e ?? new Error('closed'),
            ),
          );
      });
      function ioError(what: string, e: unknown): EddyError {
        return new EddyError(
          'EDDY_IO_FAILED',
          `natsSource: ${what} on stream ${o.stream}: ${message(e)}; check the server, or raise reconnectTimeoutMs`,
          { cause: e, retriable: true, stepId: ctx.stepId },
        );
      }
      const ack = (seqs: readonly number[]) => {
        for (const s of seqs) {
          const m = pending.get(s);
          if (m === undefined) continue;
          pending.delete(s);
          m.ack(); // buffered by the client while it reconnects
          stats.acked++;
        }
        recent.add(seqs);
      };
      return {
        splits: [split],
        async poll(max): Promise<SourceBatch<T>> {
          if (!checkpointing) {
            // The previous poll's records have passed the pipeline's synchronous steps.
            ack(sinceBarrier);
            sinceBarrier = [];
          }
          if (failure !== undefined) throw failure;
          if (head >= buffer.length) {
            await new Promise<void>((resolve) => {
              const t = setTimeout(done, 50);
              function done() {
                clearTimeout(t);
                wake = undefined;
                ctx.signal.removeEventListener('abort', done);
                resolve();
              }
              wake = done;
              ctx.signal.addEventListener('abort', done, { once: true });
            });
            if (failure !== undefined) throw failure;
            if (head >= buffer.length) return { values: [], split };
          }
          const values: T[] = [];
          const times: number[] = [];
          while (head < buffer.length && values.length < max) {
            const m = buffer[head++]!;
            const info = m.info;
            const seq = info.streamSequence;
            stats.delivered++;
            if (info.deliveryCount > 1) stats.redelivered++;
            if (covered.delete(seq)) {
              m.ack(); // in the restored checkpoint's state already
              stats.acked++;
              stats.skipped++;
              continue;
            }
            if (pending.has(seq)) {
              pending.set(seq, m); // its ack wait ran out while we held it: acknowledge this delivery
              stats.skipped++;
              continue;
            }
            if (recent.has(seq)) {
              m.ack(); // acknowledged before; the server lost that (a restart)
              stats.acked++;
              stats.skipped++;
              continue;
            }
            pending.set(seq, m);
            sinceBarrier.push(seq);
            const d = decode(m.data);
            if (d.ok) {
              values.push(d.value);
              times.push(Math.floor(info.timestampNanos / 1e6));
            } else {
              stats.deadLettered++;
              ctx.deadLetter(
                'EDDY_DECODE_FAILED',
                `${d.code}: ${d.reason} (subject ${m.subject}, stream ${o.stream} sequence ${seq})`,
                m.data,
              );
            }
          }
          if (head > 4096 && head * 2 > buffer.length) {
            buffer = buffer.slice(head);
            head = 0;
          }
          return { values, times, split };
        },
        position(cp): NatsPosition {
          barriers.push({ cp: cp ?? Number.NaN, seqs: sinceBarrier });
          sinceBarrier = [];
          return { [split]: { unacked: ranges([...pending.keys(), ...covered]) } };
        },
        checkpointComplete(cp) {
          while (barriers.length > 0 && !(barriers[0]!.cp > cp)) ack(barriers.shift()!.seqs);
        },
        async close() {
          closed = true;
          await messages.close().catch(() => {});
          await nc.drain().catch(() => nc.close().catch(() => {}));
        },
      };
    },
  };
}
