/**
 * What the NATS suites share: the local server (skipped loudly when absent,
 * a failure under CI=true), streams with unique names deleted afterwards,
 * publishing the input, and reading a stream back independently of eddy
 * (an ordered consumer of the official client).
 */
import { randomUUID } from 'node:crypto';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { type LocalService, localService } from '../broker-service.ts';

export const NATS_URL = 'nats://127.0.0.1:4222';

export function natsService(): Promise<LocalService> {
  return localService('NATS JetStream', 4222, 'nats-server -js (or .ci/run)');
}

/** A name no other run uses (streams and consumers of parallel test runs never meet). */
export const uniqueName = (what: string) => `h1${what}${randomUUID().replaceAll('-', '').slice(0, 12)}`;

export interface NatsFixture {
  readonly nc: NatsConnection;
  /** Creates a stream on `<name>.>` (deleted by `cleanup`). */
  stream(name: string): Promise<void>;
  /** Publishes payloads to `<stream>.in`, in order. */
  publish(stream: string, payloads: readonly (string | Uint8Array)[]): Promise<void>;
  /** Every message of the stream, in order, as text. */
  readAll(stream: string): Promise<string[]>;
  /** The durable consumer's counts: delivered not acknowledged, and not yet delivered (NaN before it exists). */
  consumerState(stream: string, consumer: string): Promise<{ ackPending: number; pending: number }>;
  cleanup(): Promise<void>;
}

export async function natsFixture(servers = NATS_URL): Promise<NatsFixture> {
  // Reconnects for a minute: an outage test stops the server under it.
  const nc = await connect({ servers, maxReconnectAttempts: 60, reconnectTimeWait: 1000 });
  const jsm = await jetstreamManager(nc);
  const js = jetstream(nc);
  const made: string[] = [];
  return {
    nc,
    async stream(name) {
      await jsm.streams.add({ name, subjects: [`${name}.>`] });
      made.push(name);
    },
    async publish(stream, payloads) {
      for (let i = 0; i < payloads.length; i += 200) {
        await Promise.all(payloads.slice(i, i + 200).map((p) => js.publish(`${stream}.in`, p)));
      }
    },
    async readAll(stream) {
      const info = await jsm.streams.info(stream);
      const total = info.state.messages;
      const out: string[] = [];
      if (total === 0) return out;
      const c = await js.consumers.get(stream);
      while (out.length < total) {
        const batch = await c.fetch({ max_messages: Math.min(500, total - out.length), expires: 5000 });
        for await (const m of batch) out.push(m.string());
      }
      return out;
    },
    async consumerState(stream, consumer) {
      // Not created yet (the source creates it when it opens): nothing delivered, nothing known.
      const i = await jsm.consumers.info(stream, consumer).catch(() => undefined);
      if (i === undefined) return { ackPending: Number.NaN, pending: Number.NaN };
      return { ackPending: i.num_ack_pending, pending: i.num_pending };
    },
    async cleanup() {
      for (const s of made) await jsm.streams.delete(s).catch(() => {});
      await nc.close();
    },
  };
}

/** Payloads the source must dead-letter, each with the decode failure code its reason starts with. */
export const MALFORMED: readonly { readonly payload: string | Uint8Array; readonly code: string }[] = [
  { payload: 'not json', code: 'invalid-json' },
  { payload: '{"id":1,"__proto__":{"admin":true}}', code: 'forbidden-key' },
  { payload: `${'['.repeat(100)}${']'.repeat(100)}`, code: 'too-deep' },
  { payload: new Uint8Array([0x7b, 0xff, 0xfe, 0x7d]), code: 'invalid-utf8' },
];
