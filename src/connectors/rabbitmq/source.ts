/**
 * The RabbitMQ source: a consumer on a queue (classic or quorum) whose
 * messages are acknowledged only once they are safe.
 *
 * - **With checkpoints** a message is acknowledged when the checkpoint after
 *   which it was handed out completes (`SourceReader.checkpointComplete`):
 *   one `basic.ack` with `multiple` up to the last delivery tag that
 *   checkpoint covers. A crash, or a dropped connection, makes the broker
 *   requeue exactly what no complete checkpoint covers: nothing is lost.
 * - **Without checkpoints** the messages of a poll are acknowledged at the
 *   next poll, once they have passed the pipeline's synchronous steps.
 *
 * Guarantee: at-least-once. A message handed out after the last checkpoint
 * comes back after a crash (`redelivered`, counted in `stats()`). When
 * publishers set the AMQP `messageId` property, the source does better: the
 * checkpoint stores the ids handed out and not yet acknowledged at its
 * barrier, and after a restore such a message, redelivered, is acknowledged
 * and skipped — it is in the restored state already (exactly-once towards
 * eddy's state, as the NATS source); a message redelivered while this
 * reader still holds it (after a reconnection) is not handed out twice, nor
 * is one it acknowledged in the last 5 s before its connection dropped (the
 * ack may have died with the connection, and the broker sends it again).
 * Restored ids are forgotten once the first message that is not a
 * redelivery arrives (the broker puts requeued messages at the head of the
 * queue, so they have all been dispatched by then), which keeps the
 * position small. Without `messageId`, redeliveries go through again.
 *
 * Backpressure: `prefetch` (`basic.qos`) bounds what the broker delivers and
 * is not acknowledged, and so this reader's buffer.
 *
 * A dropped connection is ridden out (connection.ts): the source reconnects
 * with backoff and consumes again; deliveries of the dead channel still
 * buffered are discarded (the broker requeued them). After
 * `reconnectTimeoutMs` without the broker it fails with an error naming the
 * option.
 *
 * Payloads are decoded by the codec's safe JSON decoder, as a string, or
 * kept as bytes (connectors/payload.ts); an undecodable message (or one `parse`
 * refuses) is dead-lettered with the reason, the queue and its message id or
 * delivery tag, and acknowledged like any other (RabbitMQ's own dead-letter
 * exchange is not used: the reason would be lost).
 *
 * The source is splittable: every subtask consumes the same queue and the
 * broker shares its messages among them.
 */
import type { Channel, ConsumeMessage } from 'amqplib';
import { resolveDecodeLimits } from '../../codec/index.ts';
import type { Source, SourceBatch, SourceReader } from '../../core/connector.ts';
import { EddyError } from '../../errors/index.ts';
import { payloadDecoder } from '../payload.ts';
import { ensureQueue, type Link, message, openLink } from './connection.ts';
import { type RabbitSourceOptions, resolveRabbitSourceOptions, safeUrl } from './options.ts';

/** What the readers of one `rabbitmqSource` in this thread have seen (each thread counts its own). */
export interface RabbitSourceStats {
  /** Messages received from the broker, redeliveries included. */
  delivered: number;
  /** Of those, deliveries the broker marked `redelivered`. */
  redelivered: number;
  /** Redeliveries not handed out again (by message id): still held, or covered by the restored checkpoint. */
  skipped: number;
  /** Messages acknowledged. */
  acked: number;
  /** Messages dead-lettered (undecodable or refused by `parse`). */
  deadLettered: number;
  /** Connections made again after a drop. */
  reconnects: number;
}

/** A RabbitMQ source with its counters. */
export interface RabbitSource<T> extends Source<T> {
  stats(): Readonly<RabbitSourceStats>;
}

/** Per split (one per subtask): the message ids handed out and not acknowledged at the barrier. */
/** How long an acknowledgement may still be lost with its connection (see `recentAcks`). */
const RECENT_ACK_MS = 5000;

type RabbitPosition = Record<string, { readonly unacked: readonly string[] }>;

interface Barrier {
  readonly cp: number;
  /** The connection generation of `last`. */
  readonly gen: number;
  /** The last delivery handed out before the barrier on that generation (acknowledged with `multiple`). */
  readonly last: ConsumeMessage | undefined;
  readonly n: number;
  readonly ids: readonly string[];
}

/**
 * Consumes a RabbitMQ queue.
 *
 * @example
 * ```ts
 * p.source('orders', rabbitmqSource<Order>({ queue: 'orders', declare: 'quorum', prefetch: 5000 }))
 *   .map(enrich) // …
 * await p.run({ checkpoints: { dir: 'chk', intervalMs: 5_000 } }); // acks at each checkpoint
 * ```
 */
export function rabbitmqSource<T = unknown>(options: RabbitSourceOptions<T>): RabbitSource<T> {
  const o = resolveRabbitSourceOptions(options);
  const decode = payloadDecoder<T>({
    format: o.format,
    limits: resolveDecodeLimits(o.limits),
    ...(o.parse === undefined ? {} : { parse: o.parse }),
  });
  const stats: RabbitSourceStats = {
    delivered: 0,
    redelivered: 0,
    skipped: 0,
    acked: 0,
    deadLettered: 0,
    reconnects: 0,
  };
  return {
    kind: 'rabbitmq',
    messaging: { system: 'rabbitmq', destination: o.queue },
    splittable: true,
    stats: () => ({ ...stats }),
    async open(ctx): Promise<SourceReader<T>> {
      const split = `${o.queue}#${ctx.subtask}`;
      const checkpointing = ctx.checkpointing === true;
      // Ids in a checkpoint's state (restored, or covered by a completed one whose
      // channel died) that the broker may deliver again: acknowledge and skip them.
      const covered = new Set<string>();
      for (const p of Object.values((ctx.restored ?? {}) as RabbitPosition))
        for (const id of p.unacked) covered.add(id);
      // Handed out, not acknowledged: message id -> generation of its latest delivery.
      const inFlight = new Map<string, number>();
      // Ids acknowledged in the last RECENT_ACK_MS on this generation's channel: an ack written
      // just before the connection dropped may never have reached the broker, which then sends
      // the message again. On a reconnection they join `covered` (skipped if they come back).
      let recentAcks: { readonly at: number; readonly ids: readonly string[] }[] = [];
      let sinceBarrier: string[] = [];
      let handed = 0;
      let last: ConsumeMessage | undefined;
      const barriers: Barrier[] = [];
      let channel: Channel | undefined;
      let gen = 0;
      let ackedTag = 0;
      // Whether a first-time delivery arrived on this generation: requeued ones all came before it.
      let fresh = false;
      let buffer: { readonly m: ConsumeMessage; readonly gen: number }[] = [];
      let head = 0;
      let failure: Error | undefined;
      let wake: (() => void) | undefined;
      let closed = false;
      let link: Link | undefined;
      const fail = (e: Error) => {
        failure ??= e;
        wake?.();
      };
      const ioError = (what: string, e: unknown) =>
        new EddyError(
          'EDDY_IO_FAILED',
          `rabbitmqSource: ${what} on queue ${o.queue} at ${safeUrl(o.url)}: ${message(e)}; check the broker and the queue`,
          { cause: e, retriable: true, stepId: ctx.stepId },
        );
      link = await openLink(
        'rabbitmqSource',
        ctx.stepId,
        o,
        async (conn, g) => {
          await ensureQueue('rabbitmqSource', ctx.stepId, conn, o.url, o.queue, o.declare);
          const ch = await conn.createChannel();
          ch.on('error', () => {});
          ch.on('close', () => {
            // A channel closed under a live connection (a protocol error): reconnect.
            if (channel === ch && !closed) link?.drop(new Error('the channel closed'));
          });
          await ch.prefetch(o.prefetch);
          if (g > 1) {
            stats.reconnects++;
            for (const a of recentAcks) for (const id of a.ids) covered.add(id);
          }
          recentAcks = [];
          gen = g;
          channel = ch;
          last = undefined;
          handed = 0;
          ackedTag = 0;
          fresh = false;
          await ch.consume(
            o.queue,
            (m) => {
              if (m === null) {
                fail(ioError('the broker cancelled the consumer', new Error('queue deleted?')));
                return;
              }
              buffer.push({ m, gen: g });
              wake?.();
            },
            { noAck: false },
          );
        },
        fail,
      );

      const barrier = (cp: number) => {
        barriers.push({ cp, gen, last, n: handed, ids: sinceBarrier });
        sinceBarrier = [];
        handed = 0;
      };
      const complete = (cp: number) => {
        let ackTo: ConsumeMessage | undefined;
        let n = 0;
        const ids: string[] = [];
        while (barriers.length > 0 && !(barriers[0]!.cp > cp)) {
          const b = barriers.shift()!;
          if (b.gen === gen) for (const id of b.ids) ids.push(id); // no spread: a barrier can hold many ids
          for (const id of b.ids) {
            const g = inFlight.get(id);
            inFlight.delete(id);
            // Its delivery died with a channel and has not come back yet: it will.
            if (g !== undefined && g !== gen && !fresh) covered.add(id);
          }
          if (b.gen === gen && b.last !== undefined) {
            ackTo = b.last;
            n += b.n;
          }
        }
        if (ackTo === undefined || ackTo.fields.deliveryTag <= ackedTag) return;
        if (channel === undefined) {
          for (const id of ids) covered.add(id); // no channel to acknowledge on: they come back
          return;
        }
        try {
          channel.ack(ackTo, true);
          ackedTag = ackTo.fields.deliveryTag;
          stats.acked += n;
          const now = Date.now();
          while (recentAcks.length > 0 && now - recentAcks[0]!.at > RECENT_ACK_MS) recentAcks.shift();
          if (ids.length > 0) recentAcks.push({ at: now, ids });
        } catch {
          // The channel is gone (its connection dropped, the reconnection not yet done): the broker
          // requeues these; ids skip them when they come back, others go through again.
          for (const id of ids) covered.add(id);
        }
      };

      return {
        splits: [split],
        async poll(max): Promise<SourceBatch<T>> {
          if (!checkpointing) {
            // The previous poll's records have passed the pipeline's synchronous steps.
            barrier(Number.NaN);
            complete(Number.POSITIVE_INFINITY);
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
          }
          const values: T[] = [];
          while (head < buffer.length && values.length < max) {
            const e = buffer[head++]!;
            if (e.gen !== gen) continue; // its channel died: the broker requeued it
            const m = e.m;
            stats.delivered++;
            if (m.fields.redelivered) stats.redelivered++;
            else if (!fresh) {
              fresh = true;
              covered.clear();
            }
            last = m;
            handed++;
            const id: unknown = m.properties.messageId;
            if (typeof id === 'string' && id !== '') {
              if (covered.delete(id)) {
                stats.skipped++; // in the restored checkpoint's state already
                continue;
              }
              if (inFlight.has(id)) {
                inFlight.set(id, gen); // redelivered after a reconnection while we hold it
                stats.skipped++;
                continue;
              }
              inFlight.set(id, gen);
              sinceBarrier.push(id);
            }
            const d = decode(m.content);
            if (d.ok) values.push(d.value);
            else {
              stats.deadLettered++;
              const which =
                typeof id === 'string' && id !== ''
                  ? `message id ${JSON.stringify(id)}`
                  : `delivery tag ${m.fields.deliveryTag}`;
              ctx.deadLetter(
                'EDDY_DECODE_FAILED',
                `${d.code}: ${d.reason} (queue ${o.queue}, ${which})`,
                m.content,
              );
            }
          }
          if (head > 4096 && head * 2 > buffer.length) {
            buffer = buffer.slice(head);
            head = 0;
          }
          return { values, split };
        },
        position(cp): RabbitPosition {
          barrier(cp ?? Number.NaN);
          return { [split]: { unacked: [...inFlight.keys(), ...covered] } };
        },
        checkpointComplete(cp) {
          complete(cp);
        },
        async close() {
          closed = true;
          // The channel first: amqplib's mux may send the connection's close ahead of
          // acks still queued on the channel, and the broker would requeue those.
          await channel?.close().catch(() => {});
          await link?.close();
        },
      };
    },
  };
}
