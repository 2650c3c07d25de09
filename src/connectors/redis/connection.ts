/**
 * Connecting to Redis and checking the stream, shared by the source and the
 * sink: an unreachable server names the URL (without its password), a
 * missing stream names the key and both fixes.
 */
import { Redis } from 'ioredis';
import { configError, EddyError } from '../../errors/index.ts';

/** The URL with any password hidden, for messages. */
export const safeUrl = (url: string) => url.replace(/\/\/([^@/]*):[^@/]*@/, '//$1:***@');

export function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** Connects (failing after `connectTimeoutMs`), then reconnects with backoff for up to `reconnectTimeoutMs`. */
export async function connectRedis(
  what: string,
  stepId: string,
  o: { readonly url: string; readonly connectTimeoutMs: number; readonly reconnectTimeoutMs: number },
): Promise<Redis> {
  let last: unknown;
  let downSince: number | undefined;
  const redis = new Redis(o.url, {
    lazyConnect: true,
    connectTimeout: o.connectTimeoutMs,
    connectionName: `eddy-${stepId}`,
    // Commands wait while the server is away; the connection gives up after reconnectTimeoutMs.
    maxRetriesPerRequest: null,
    retryStrategy: (attempt) => {
      downSince ??= Date.now();
      if (Date.now() - downSince > o.reconnectTimeoutMs) return null;
      return Math.min(100 * 2 ** attempt, 2000);
    },
  });
  redis.on('error', (e) => {
    last = e;
  });
  redis.on('ready', () => {
    downSince = undefined;
  });
  try {
    await redis.connect();
  } catch (e) {
    redis.disconnect();
    throw new EddyError(
      'EDDY_IO_FAILED',
      `${what} cannot connect to Redis at ${safeUrl(o.url)} (${message(last ?? e)}); start redis-server there, or fix url`,
      { cause: last ?? e, retriable: true, stepId },
    );
  }
  return redis;
}

/** Fails with a configuration error when the stream does not exist (and may not be created). */
export async function checkStream(
  what: string,
  stepId: string,
  redis: Redis,
  o: { readonly url: string; readonly stream: string; readonly createStream: boolean },
): Promise<void> {
  const type = await redis.type(o.stream);
  if (type === 'stream' || (type === 'none' && o.createStream)) return;
  if (type === 'none') {
    throw configError(
      `${what}: stream ${JSON.stringify(o.stream)} does not exist on ${safeUrl(o.url)}`,
      o.stream,
      'fix stream, create it (XADD / XGROUP CREATE … MKSTREAM), or pass createStream: true',
      stepId,
    );
  }
  throw configError(
    `${what}: key ${JSON.stringify(o.stream)} on ${safeUrl(o.url)} is a ${type}, not a stream`,
    o.stream,
    'name a stream key',
    stepId,
  );
}
