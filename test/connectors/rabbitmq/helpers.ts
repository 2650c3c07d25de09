/**
 * What the RabbitMQ suites share: the local broker (skipped loudly when
 * absent, a failure under CI=true), queues with unique names deleted
 * afterwards, publishing the input and reading a queue back independently
 * of eddy (amqplib's `get`), and closing a named connection from the
 * server side (`rabbitmqctl close_connection`) to simulate a drop.
 */
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { promisify } from 'node:util';
import { type ChannelModel, type ConfirmChannel, connect } from 'amqplib';
import { type LocalService, localService } from '../broker-service.ts';

export const RABBIT_URL = 'amqp://guest:guest@127.0.0.1:5672';

const run = promisify(execFile);

export function rabbitService(): Promise<LocalService> {
  return localService('RabbitMQ', 5672, 'service rabbitmq-server start (or .ci/run)');
}

/** A name no other run uses. */
export const uniqueName = (what: string) => `h5-${what}-${randomUUID().slice(0, 12)}`;

export interface RabbitFixture {
  readonly conn: ChannelModel;
  readonly ch: ConfirmChannel;
  /** Declares a durable queue (deleted by `cleanup`). */
  queue(name: string, type?: 'classic' | 'quorum'): Promise<void>;
  /** Publishes payloads to the queue, in order, with optional message ids; waits for the confirms. */
  publish(queue: string, payloads: readonly (string | Uint8Array)[], ids?: readonly string[]): Promise<void>;
  /** Takes every message of the queue (acknowledging them), as text. */
  drain(queue: string): Promise<string[]>;
  /** Messages ready and consumers of a queue. */
  count(queue: string): Promise<{ messages: number; consumers: number }>;
  cleanup(): Promise<void>;
}

export async function rabbitFixture(): Promise<RabbitFixture> {
  const conn = await connect(RABBIT_URL);
  const ch = await conn.createConfirmChannel();
  const made: string[] = [];
  return {
    conn,
    ch,
    async queue(name, type = 'classic') {
      await ch.assertQueue(name, { durable: true, arguments: { 'x-queue-type': type } });
      made.push(name);
    },
    async publish(queue, payloads, ids) {
      for (const [i, p] of payloads.entries()) {
        ch.sendToQueue(queue, Buffer.from(p), {
          persistent: true,
          ...(ids?.[i] === undefined ? {} : { messageId: ids[i] }),
        });
        if (i % 500 === 499) await ch.waitForConfirms();
      }
      await ch.waitForConfirms();
    },
    async drain(queue) {
      const out: string[] = [];
      for (;;) {
        const m = await ch.get(queue, { noAck: true });
        if (m === false) return out;
        out.push(m.content.toString('utf8'));
      }
    },
    async count(queue) {
      const q = await ch.checkQueue(queue);
      return { messages: q.messageCount, consumers: q.consumerCount };
    },
    async cleanup() {
      for (const q of made) await ch.deleteQueue(q).catch(() => {});
      await conn.close().catch(() => {});
    },
  };
}

/**
 * Closes, from the broker, every connection whose client-provided name
 * contains `part` (eddy names its connections `eddy-<step id>`); returns
 * how many. Only this test's connections: the step id is unique.
 */
export async function closeConnections(part: string): Promise<number> {
  const { stdout } = await run('rabbitmqctl', ['-q', 'list_connections', 'pid', 'client_properties'], {
    timeout: 60_000,
  });
  let closed = 0;
  for (const line of stdout.split('\n')) {
    const tab = line.indexOf('\t');
    if (tab < 0 || !line.includes(`eddy-${part}`)) continue;
    const pid = line.slice(0, tab);
    await run('rabbitmqctl', ['-q', 'close_connection', pid, 'eddy test: simulated drop'], {
      timeout: 60_000,
    });
    closed++;
  }
  return closed;
}

/** Whether `rabbitmqctl` can be run here (the drop test needs it). */
export async function haveRabbitmqctl(): Promise<boolean> {
  try {
    await run('rabbitmqctl', ['-q', 'list_connections', 'pid'], { timeout: 60_000 });
    return true;
  } catch {
    return false;
  }
}

/** Payloads the source must dead-letter, each with the decode failure code its reason starts with. */
export const MALFORMED: readonly { readonly payload: string | Uint8Array; readonly code: string }[] = [
  { payload: 'not json', code: 'invalid-json' },
  { payload: '{"id":1,"__proto__":{"admin":true}}', code: 'forbidden-key' },
  { payload: `${'['.repeat(100)}${']'.repeat(100)}`, code: 'too-deep' },
  { payload: new Uint8Array([0x7b, 0xff, 0xfe, 0x7d]), code: 'invalid-utf8' },
];
