/**
 * Connecting to NATS and finding (or creating) the JetStream stream, shared
 * by the source and the sink. Failures say what was tried and how to fix it:
 * an unreachable server names the URLs, a missing stream names the stream
 * and both fixes (create it, or pass `createStream: true`).
 */
import {
  JetStreamApiCodes,
  JetStreamApiError,
  type JetStreamManager,
  jetstreamManager,
} from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { configError, EddyError } from '../../errors/index.ts';
import { streamSubjects } from './options.ts';

export interface NatsConnected {
  readonly nc: NatsConnection;
  readonly jsm: JetStreamManager;
  /** The stream's duplicate window, ms (message-id deduplication). */
  readonly duplicateWindowMs: number;
  /** The largest message the stream stores, bytes (infinite when it sets none). */
  readonly maxMessageBytes: number;
}

const RECONNECT_WAIT_MS = 1000;

/** Connects, checks JetStream and the stream (creating it when told to). */
export async function connectNats(
  what: string,
  stepId: string,
  o: {
    readonly servers: string | readonly string[];
    readonly stream: string;
    readonly createStream: boolean;
    readonly subjects?: string | readonly string[];
    readonly connectTimeoutMs: number;
    readonly reconnectTimeoutMs: number;
  },
): Promise<NatsConnected> {
  const servers = typeof o.servers === 'string' ? [o.servers] : [...o.servers];
  let nc: NatsConnection;
  try {
    nc = await connect({
      servers,
      name: `eddy-${stepId}`,
      timeout: o.connectTimeoutMs,
      reconnectTimeWait: RECONNECT_WAIT_MS,
      maxReconnectAttempts: Math.max(1, Math.ceil(o.reconnectTimeoutMs / RECONNECT_WAIT_MS)),
    });
  } catch (e) {
    throw new EddyError(
      'EDDY_IO_FAILED',
      `${what} cannot connect to NATS at ${servers.join(', ')} (${message(e)}); start nats-server with JetStream (nats-server -js) there, or fix servers`,
      { cause: e, retriable: true, stepId },
    );
  }
  try {
    let jsm: JetStreamManager;
    try {
      jsm = await jetstreamManager(nc);
    } catch (e) {
      throw new EddyError(
        'EDDY_CONFIG_INVALID',
        `${what}: JetStream is not enabled on ${servers.join(', ')} (${message(e)}); start nats-server with -js`,
        { cause: e, stepId },
      );
    }
    let info: Awaited<ReturnType<JetStreamManager['streams']['info']>>;
    try {
      info = await jsm.streams.info(o.stream);
    } catch (e) {
      if (!(e instanceof JetStreamApiError && e.code === JetStreamApiCodes.StreamNotFound)) throw e;
      if (!o.createStream) {
        throw configError(
          `${what}: stream ${JSON.stringify(o.stream)} does not exist on ${servers.join(', ')}`,
          o.stream,
          `create it (nats stream add ${o.stream} --subjects "${streamSubjects(o).join(',')}"), fix stream, or pass createStream: true`,
          stepId,
        );
      }
      info = await jsm.streams.add({ name: o.stream, subjects: streamSubjects(o) });
    }
    const max = info.config.max_msg_size;
    return {
      nc,
      jsm,
      duplicateWindowMs: Math.floor(info.config.duplicate_window / 1e6),
      maxMessageBytes: max !== undefined && max > 0 ? max : Number.POSITIVE_INFINITY,
    };
  } catch (e) {
    await nc.close().catch(() => {});
    throw e;
  }
}

export function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
