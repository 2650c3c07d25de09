/**
 * What the Redis suites share: the local server (skipped loudly when absent,
 * a failure under CI=true), stream keys with unique names deleted
 * afterwards, adding input, and reading a stream back with plain commands.
 */
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { type LocalService, localService } from '../broker-service.ts';

export const REDIS_URL = 'redis://127.0.0.1:6379';

export function redisService(): Promise<LocalService> {
  return localService('Redis', 6379, 'redis-server (or .ci/run)');
}

export const uniqueKey = (what: string) => `h1-${what}-${randomUUID()}`;

export interface RedisFixture {
  readonly redis: Redis;
  /** A unique stream key, deleted by `cleanup`. */
  key(what: string): string;
  /** Adds payloads (field `data`) in order. */
  add(stream: string, payloads: readonly (string | Buffer)[]): Promise<void>;
  /** Every entry's `data`, in order. */
  readAll(stream: string): Promise<{ id: string; data: string }[]>;
  /** How many entries of the group are read and not acknowledged. */
  pending(stream: string, group: string): Promise<number>;
  cleanup(): Promise<void>;
}

export async function redisFixture(url = REDIS_URL): Promise<RedisFixture> {
  const redis = new Redis(url, { maxRetriesPerRequest: 1 });
  redis.on('error', () => {}); // an outage test stops the server under it; its commands still fail loudly
  const keys: string[] = [];
  return {
    redis,
    key(what) {
      const k = uniqueKey(what);
      keys.push(k);
      return k;
    },
    async add(stream, payloads) {
      for (let i = 0; i < payloads.length; i += 500) {
        const p = redis.pipeline();
        for (const x of payloads.slice(i, i + 500)) p.xadd(stream, '*', 'data', x);
        await p.exec();
      }
    },
    async readAll(stream) {
      const rows = await redis.xrange(stream, '-', '+');
      return rows.map(([id, fields]) => ({ id, data: fields[fields.indexOf('data') + 1] ?? '' }));
    },
    async pending(stream, group) {
      const r = (await redis.xpending(stream, group).catch(() => [Number.NaN])) as [number];
      return Number(r[0]);
    },
    async cleanup() {
      if (keys.length > 0) await redis.del(...keys);
      await redis.quit();
    },
  };
}

/** Payloads the source must dead-letter, each with the failure code its reason starts with. */
export const MALFORMED: readonly { readonly payload: string | Buffer; readonly code: string }[] = [
  { payload: 'not json', code: 'invalid-json' },
  { payload: '{"id":1,"constructor":{"prototype":1}}', code: 'forbidden-key' },
  { payload: `${'['.repeat(100)}${']'.repeat(100)}`, code: 'too-deep' },
  { payload: Buffer.from([0x7b, 0xff, 0xfe, 0x7d]), code: 'invalid-utf8' },
];
