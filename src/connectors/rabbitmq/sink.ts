/**
 * The RabbitMQ sink: publishes on a confirm channel (publisher confirms),
 * to a queue through the default exchange or to an exchange with a routing
 * key, `mandatory` so that an unroutable message fails the sink instead of
 * vanishing.
 *
 * - At most `maxInFlight` messages are sent and not yet confirmed; `write`
 *   waits beyond that (backpressure).
 * - At each checkpoint (`flush`) and at the end the sink waits until the
 *   broker has confirmed every message, so a checkpoint never covers a
 *   message the broker has not taken (persistent messages on a durable
 *   queue: written to disk, or to a quorum of nodes). A message the broker
 *   refuses (`basic.nack`: a full queue with `reject-publish`) or returns
 *   (no queue bound) fails the sink, naming what to fix.
 * - A dropped connection is ridden out: the sink reconnects with backoff
 *   and publishes every unconfirmed message again (RabbitMQ may or may not
 *   have stored them, so some may arrive twice; their order may change).
 *   After `reconnectTimeoutMs` without the broker it fails loudly.
 *
 * Guarantee: **at-least-once**. A run resumed from a checkpoint publishes
 * again what it had published after that checkpoint, and a reconnection may
 * repeat unconfirmed messages; RabbitMQ has no publish-side deduplication.
 * Set `messageId` to let consumers drop the repeats (eddy's RabbitMQ source
 * drops redeliveries by message id, not repeated publishes). A record over
 * `maxMessageBytes` (the broker's `max_message_size`) is dead-lettered with
 * the reason instead of published.
 */
import type { ChannelModel, ConfirmChannel, Options } from 'amqplib';
import type { Sink, SinkWriter } from '../../core/connector.ts';
import { configError, EddyError } from '../../errors/index.ts';
import { refuse, tooLarge } from '../refused.ts';
import { ensureQueue, type Link, message, openLink, replyCode } from './connection.ts';
import { type RabbitSinkOptions, resolveRabbitSinkOptions, routingKeyOf, safeUrl } from './options.ts';

/** What the writers of one `rabbitmqSink` in this thread have published. */
export interface RabbitSinkStats {
  /** Messages the broker confirmed. */
  confirmed: number;
  /** Messages published again after a reconnection (unconfirmed when the connection dropped). */
  republished: number;
  /** Records over `maxMessageBytes`, dead-lettered instead of published. */
  refused: number;
  /** Connections made again after a drop. */
  reconnects: number;
}

/** A RabbitMQ sink with its counters. */
export interface RabbitSink<T> extends Sink<T> {
  stats(): Readonly<RabbitSinkStats>;
}

interface Outgoing {
  readonly key: string;
  readonly content: Buffer;
  readonly props: Options.Publish;
}

/**
 * Publishes records to RabbitMQ with publisher confirms.
 *
 * @example
 * ```ts
 * stream.sink(rabbitmqSink<Alert>({ queue: 'alerts', declare: 'quorum', messageId: (a) => a.id }));
 * ```
 */
export function rabbitmqSink<T = unknown>(options: RabbitSinkOptions<T>): RabbitSink<T> {
  const o = resolveRabbitSinkOptions(options);
  const keyOf = routingKeyOf(o);
  const serialize = o.serialize ?? ((v: T) => JSON.stringify(v));
  const exchange = o.exchange ?? '';
  const shared: Options.Publish = {
    persistent: o.persistent,
    mandatory: true,
    ...(o.serialize === undefined ? { contentType: 'application/json' } : {}),
  };
  const stats: RabbitSinkStats = { confirmed: 0, republished: 0, reconnects: 0, refused: 0 };
  const target = o.queue === undefined ? `exchange ${o.exchange}` : `queue ${o.queue}`;
  return {
    kind: 'rabbitmq',
    guarantee: 'at-least-once',
    messaging: { system: 'rabbitmq', destination: o.queue ?? o.exchange ?? '' },
    // A connection and confirm channel per subtask, each confirming its own publishes.
    parallel: true,
    stats: () => ({ ...stats }),
    async open(ctx): Promise<SinkWriter<T>> {
      // Not yet confirmed, by our own number (kept across reconnections).
      const unconfirmed = new Map<number, Outgoing>();
      let next = 0;
      // The current channel's delivery tags (1, 2, … in publish order) -> our numbers.
      let tags = new Map<number, number>();
      let tag = 0;
      let channel: ConfirmChannel | undefined;
      let failure: Error | undefined;
      let closed = false;
      let link: Link | undefined;
      // Everyone waiting for a confirm: a write waiting for room and a checkpoint's flush may wait at once.
      let waiting: (() => void)[] = [];
      const signal = () => {
        if (waiting.length === 0) return;
        const ws = waiting;
        waiting = [];
        for (const w of ws) w();
      };
      const fail = (e: Error) => {
        failure ??= e;
        signal();
      };
      const send = (ch: ConfirmChannel, n: number, m: Outgoing): boolean => {
        try {
          ch.publish(exchange, m.key, m.content, m.props);
        } catch {
          return false; // the channel just closed: republished after reconnecting
        }
        tags.set(++tag, n);
        return true;
      };
      link = await openLink(
        'rabbitmqSink',
        ctx.stepId,
        o,
        async (conn, g) => {
          if (o.queue !== undefined)
            await ensureQueue('rabbitmqSink', ctx.stepId, conn, o.url, o.queue, o.declare);
          else await checkExchange(conn, ctx.stepId, o.url, o.exchange!);
          const ch = await conn.createConfirmChannel();
          ch.on('error', () => {});
          ch.on('close', () => {
            if (channel !== ch) return;
            channel = undefined;
            if (!closed) link?.drop(new Error('the channel closed'));
          });
          ch.on('ack', ({ deliveryTag, multiple }: { deliveryTag: number; multiple: boolean }) => {
            if (channel !== ch) return;
            confirm(deliveryTag, multiple);
          });
          ch.on('nack', ({ deliveryTag }: { deliveryTag: number }) => {
            if (channel !== ch) return;
            fail(
              new EddyError(
                'EDDY_IO_FAILED',
                `rabbitmqSink: the broker refused (nack) message ${deliveryTag} to ${target} at ${safeUrl(o.url)}; check the queue's length limit and overflow policy, or the broker's log`,
                { retriable: true, stepId: ctx.stepId },
              ),
            );
          });
          ch.on('return', (m: { fields: { routingKey: string; replyText: string } }) => {
            fail(
              configError(
                `rabbitmqSink: ${target} at ${safeUrl(o.url)} routed no queue for routing key ${JSON.stringify(m.fields.routingKey)} (${m.fields.replyText})`,
                m.fields.routingKey,
                'bind a queue to the exchange for that key, or fix routingKey',
                ctx.stepId,
              ),
            );
          });
          if (g > 1) stats.reconnects++;
          channel = ch;
          tags = new Map();
          tag = 0;
          for (const [n, m] of unconfirmed) {
            if (!send(ch, n, m)) break;
            if (g > 1) stats.republished++;
          }
        },
        fail,
      );
      function confirm(deliveryTag: number, multiple: boolean): void {
        if (multiple) {
          for (const [t, n] of tags) {
            if (t > deliveryTag) break;
            tags.delete(t);
            if (unconfirmed.delete(n)) stats.confirmed++;
          }
        } else {
          const n = tags.get(deliveryTag);
          tags.delete(deliveryTag);
          if (n !== undefined && unconfirmed.delete(n)) stats.confirmed++;
        }
        signal();
      }
      const check = () => {
        if (failure !== undefined) throw failure;
      };
      const settle = () =>
        new Promise<void>((resolve) => {
          waiting.push(resolve);
        });
      return {
        async write(values) {
          check();
          for (const v of values) {
            while (unconfirmed.size >= o.maxInFlight) {
              await settle();
              check();
            }
            const payload = serialize(v);
            const bytes = typeof payload === 'string' ? Buffer.byteLength(payload) : payload.byteLength;
            if (bytes > o.maxMessageBytes) {
              refuse(
                ctx,
                tooLarge(
                  'rabbitmqSink',
                  bytes,
                  o.maxMessageBytes,
                  "the broker's max_message_size (maxMessageBytes)",
                ),
                payload,
              );
              stats.refused++;
              continue;
            }
            const id = o.messageId?.(v);
            const m: Outgoing = {
              key: keyOf(v),
              content: Buffer.from(payload),
              props: id === undefined ? shared : { ...shared, messageId: id },
            };
            const n = next++;
            unconfirmed.set(n, m);
            if (channel !== undefined) send(channel, n, m);
          }
        },
        // Called at every checkpoint (there is no pre-commit) and at the end.
        async flush() {
          check();
          while (unconfirmed.size > 0) {
            await settle();
            check();
          }
        },
        async close() {
          closed = true;
          signal();
          await link?.close();
        },
      };
    },
  };
}

async function checkExchange(
  conn: ChannelModel,
  stepId: string,
  url: string,
  exchange: string,
): Promise<void> {
  const ch = await conn.createChannel();
  ch.on('error', () => {});
  try {
    await ch.checkExchange(exchange);
  } catch (e) {
    if (replyCode(e) === 404) {
      throw configError(
        `rabbitmqSink: exchange ${JSON.stringify(exchange)} does not exist on ${safeUrl(url)} (${message(e)})`,
        exchange,
        'declare it (rabbitmqadmin declare exchange name=… type=topic durable=true), or fix exchange',
        stepId,
      );
    }
    throw e;
  } finally {
    await ch.close().catch(() => {});
  }
}
