/**
 * A connection to RabbitMQ that rides out drops: shared by the source and
 * the sink. amqplib's own recovery (`recovery` option) reconnects but keeps
 * retrying by count, not by time, and hides which channel a delivery tag
 * belongs to; here each (re)connection runs `setup` again and gets a new
 * generation number, so the source can tell a delivery of a dead channel
 * (which the broker requeued) from a live one, and the sink knows which
 * publishes to send again.
 *
 * Backoff: 100 ms doubling to 5 s between attempts; once the broker has been
 * unreachable for `reconnectTimeoutMs`, `onFail` is called once with an
 * error naming the broker and the option to raise — the connector then
 * fails loudly instead of waiting for ever.
 */
import { type ChannelModel, connect } from 'amqplib';
import { configError, EddyError } from '../../errors/index.ts';
import { safeUrl } from './options.ts';

export interface Link {
  /** The current generation (1 on the first connection, +1 per reconnection). */
  readonly generation: number;
  /** Whether a connection is up (false while reconnecting). */
  readonly up: boolean;
  /** Closes for good (no reconnecting). */
  close(): Promise<void>;
  /** Drops the current connection to reconnect (a channel died under it). */
  drop(reason: Error): void;
}

interface LinkOptions {
  readonly url: string;
  readonly connectTimeoutMs: number;
  readonly reconnectTimeoutMs: number;
}

const FIRST_DELAY_MS = 100;
const MAX_DELAY_MS = 5000;

export function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** An AMQP reply code on an error (404 not found, 406 precondition failed, …). */
export function replyCode(e: unknown): number | undefined {
  const code = (e as { code?: unknown } | null)?.code;
  return typeof code === 'number' ? code : undefined;
}

/**
 * Connects and runs `setup` (which opens channels, declares, consumes);
 * rejects when the first connection or setup fails. Later drops reconnect
 * and run `setup` again, until `reconnectTimeoutMs` without a connection.
 */
export async function openLink(
  what: string,
  stepId: string,
  o: LinkOptions,
  setup: (conn: ChannelModel, generation: number) => Promise<void>,
  onFail: (e: EddyError) => void,
): Promise<Link> {
  let conn: ChannelModel | undefined;
  let generation = 0;
  let closed = false;
  let downSince: number | undefined;
  let timer: NodeJS.Timeout | undefined;

  const attach = async (): Promise<void> => {
    const c = await connect(o.url, {
      timeout: o.connectTimeoutMs,
      clientProperties: { connection_name: `eddy-${stepId}` },
    });
    c.on('error', () => {}); // 'close' follows, with the error
    try {
      await setup(c, generation + 1);
    } catch (e) {
      await c.close().catch(() => {});
      throw e;
    }
    if (closed) {
      await c.close().catch(() => {});
      return;
    }
    generation++;
    conn = c;
    downSince = undefined;
    c.on('close', (err?: Error) => {
      if (conn !== c) return;
      conn = undefined;
      if (!closed) reconnect(err ?? new Error('connection closed'));
    });
  };

  const reconnect = (cause: Error, attempt = 0): void => {
    downSince ??= Date.now();
    const down = Date.now() - downSince;
    if (down >= o.reconnectTimeoutMs) {
      closed = true;
      onFail(
        new EddyError(
          'EDDY_IO_FAILED',
          `${what}: RabbitMQ at ${safeUrl(o.url)} unreachable for ${down} ms (${message(cause)}); start the broker, or raise reconnectTimeoutMs (${o.reconnectTimeoutMs})`,
          { cause, retriable: true, stepId },
        ),
      );
      return;
    }
    const delay = Math.min(FIRST_DELAY_MS * 2 ** attempt, MAX_DELAY_MS, o.reconnectTimeoutMs - down);
    timer = setTimeout(() => {
      timer = undefined;
      if (closed) return;
      attach().catch((e: unknown) => {
        if (closed) return;
        // A configuration error (the queue was deleted) will not heal by waiting.
        if (e instanceof EddyError && e.code === 'EDDY_CONFIG_INVALID') {
          closed = true;
          onFail(e);
        } else reconnect(e instanceof Error ? e : new Error(String(e)), attempt + 1);
      });
    }, delay);
  };

  try {
    await attach();
  } catch (e) {
    if (e instanceof EddyError) throw e;
    throw new EddyError(
      'EDDY_IO_FAILED',
      `${what} cannot connect to RabbitMQ at ${safeUrl(o.url)} (${message(e)}); start rabbitmq-server there, or fix url`,
      { cause: e, retriable: true, stepId },
    );
  }
  return {
    get generation() {
      return generation;
    },
    get up() {
      return conn !== undefined;
    },
    drop(reason) {
      const c = conn;
      if (c === undefined || closed) return;
      conn = undefined;
      void c.close().catch(() => {});
      reconnect(reason);
    },
    async close() {
      closed = true;
      if (timer !== undefined) clearTimeout(timer);
      const c = conn;
      conn = undefined;
      await c?.close().catch(() => {});
    },
  };
}

/**
 * Checks the queue, or declares it durable as `declare` says; a missing
 * queue or a type mismatch is a configuration error naming the fix. Runs on
 * a throwaway channel: a failed check closes the channel it ran on.
 */
export async function ensureQueue(
  what: string,
  stepId: string,
  conn: ChannelModel,
  url: string,
  queue: string,
  declare: 'classic' | 'quorum' | undefined,
): Promise<void> {
  const ch = await conn.createChannel();
  ch.on('error', () => {});
  try {
    if (declare === undefined) await ch.checkQueue(queue);
    else await ch.assertQueue(queue, { durable: true, arguments: { 'x-queue-type': declare } });
  } catch (e) {
    if (replyCode(e) === 404) {
      throw configError(
        `${what}: queue ${JSON.stringify(queue)} does not exist on ${safeUrl(url)}`,
        queue,
        `fix queue, declare it (rabbitmqadmin declare queue name=${queue} durable=true), or pass declare: "classic" or "quorum"`,
        stepId,
      );
    }
    if (replyCode(e) === 406) {
      throw configError(
        `${what}: queue ${JSON.stringify(queue)} exists with other arguments than declare ${JSON.stringify(declare)} asks (${message(e)})`,
        declare,
        'pass the type the queue has, or drop declare to use the queue as it is',
        stepId,
      );
    }
    throw e;
  } finally {
    await ch.close().catch(() => {});
  }
}
