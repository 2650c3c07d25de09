/**
 * The options of the HTTP ingest source and the SSE push sink, as schemas
 * (one place for each option's type, bounds, default and documentation),
 * and the check that needs more than a schema: binding beyond loopback
 * requires a token.
 *
 * @example
 * ```ts
 * const o = resolveHttpSourceOptions({ port: 8080 });
 * o.host; // '127.0.0.1'
 * ```
 */

import type { DecodeLimits } from '../../codec/index.ts';
import { type OptionsSchema, type Resolved, resolveOptions } from '../options.ts';
import { isRateControl, RATE_CONTROL_DOC, type RateControlOptions } from '../rate-control.ts';
import { checkExposure, MIN_TOKEN_LENGTH } from './exposure.ts';

interface HttpCommonOptions {
  /** The address to bind. Default `127.0.0.1` (this machine only); any other needs `token`. */
  readonly host?: string;
  /** The port; 0 picks a free one (see `listening()`). */
  readonly port?: number;
  /** The path served. */
  readonly path?: string;
  /**
   * A bearer token clients must send (`Authorization: Bearer <token>`);
   * required when `host` is not a loopback address. When set, it is
   * required on every address.
   */
  readonly token?: string;
}

const COMMON = {
  host: {
    type: 'string',
    default: '127.0.0.1',
    doc: 'the address to bind; beyond loopback a token is required',
    example: '"127.0.0.1"',
  },
  port: { type: 'integer', min: 0, max: 65_535, doc: 'the port (0: a free one)', example: '8080' },
  path: {
    type: 'string',
    pattern: /^\/[^\s?#]*$/,
    rule: 'must start with / and hold no spaces, ? or #',
    doc: 'the path served',
    example: '"/ingest"',
  },
  token: {
    type: 'string',
    pattern: new RegExp(`^[\\x21-\\x7e]{${MIN_TOKEN_LENGTH},}$`),
    rule: `must be at least ${MIN_TOKEN_LENGTH} printable characters without spaces`,
    doc: 'bearer token clients must send',
    example: 'process.env.EDDY_HTTP_TOKEN',
  },
} as const satisfies OptionsSchema<HttpCommonOptions>;

export interface HttpSourceOptions<T> extends HttpCommonOptions {
  /** The largest request body, bytes; a larger one is answered 413 without being read. Default 1 MiB. */
  readonly maxBodyBytes?: number;
  /** Nesting and size limits of each record (the codec's safe JSON decoder). Default depth 64, size `maxBodyBytes`. */
  readonly limits?: Partial<DecodeLimits>;
  /**
   * The most records queued and not yet taken by the pipeline. A request
   * whose records do not fit is answered 429 with `Retry-After` and nothing
   * of it is queued: the backpressure a slow pipeline gives its clients.
   * Default 10,000.
   */
  readonly queueSize?: number;
  /** The `Retry-After` of a 429, seconds. Default 1. */
  readonly retryAfterSeconds?: number;
  /** Checks and converts a decoded record; throw to refuse the request (400) with your reason. */
  readonly parse?: (value: unknown) => T;
  /** How long a client may take to send a request, ms (slow senders hold a socket). Default 30,000. */
  readonly requestTimeoutMs?: number;
  /**
   * Adaptive rate control (issue 18): admit records at the rate the pipeline
   * processes them, estimated by Spark's PID controller from what it takes
   * and what stays queued, so the queue stays short under a burst; beyond
   * the rate, 429 with a `Retry-After` of the seconds needed. `true` for the
   * defaults (minimum 100 records/s, estimated every 200 ms), or options.
   * Default off: only the queue bound (429 when full).
   */
  readonly rateControl?: boolean | RateControlOptions;
}

export const HTTP_SOURCE_OPTIONS = {
  ...COMMON,
  port: { ...COMMON.port, default: 8080 },
  path: { ...COMMON.path, default: '/ingest' },
  maxBodyBytes: {
    type: 'integer',
    min: 1,
    max: 1024 ** 3,
    default: 1024 * 1024,
    doc: 'the largest request body, bytes (413 beyond)',
    example: '1048576',
  },
  limits: {
    type: 'any',
    check: (v: unknown) => typeof v === 'object' && v !== null,
    doc: 'per-record JSON limits { maxBytes, maxDepth } (400 beyond)',
    example: '{ maxDepth: 16 }',
  },
  queueSize: {
    type: 'integer',
    min: 1,
    max: 10_000_000,
    default: 10_000,
    doc: 'records queued for the pipeline at most (429 beyond)',
    example: '10000',
  },
  retryAfterSeconds: {
    type: 'integer',
    min: 1,
    max: 3600,
    default: 1,
    doc: 'Retry-After of a 429, seconds',
    example: '1',
  },
  parse: {
    type: 'function',
    doc: 'checks and converts a record (throw: 400)',
    example: '(v) => schema.parse(v)',
  },
  requestTimeoutMs: {
    type: 'integer',
    min: 100,
    default: 30_000,
    doc: 'how long a client may take to send a request, ms',
    example: '30000',
  },
  rateControl: {
    type: 'any',
    check: isRateControl,
    doc: RATE_CONTROL_DOC,
    example: '{ minRate: 500 }',
  },
} as const satisfies OptionsSchema<HttpSourceOptions<unknown>>;

export interface SseSinkOptions<T> extends HttpCommonOptions {
  /**
   * Bytes that may wait in one client's send buffer; a client that falls
   * further behind is dropped (with the reason in `stats()`) rather than
   * growing memory. Default 1 MiB.
   */
  readonly clientBufferBytes?: number;
  /** How often a comment line keeps idle connections (and proxies) open, ms. Default 15,000. */
  readonly heartbeatMs?: number;
  /** The most clients at once; more are answered 503. Default 100. */
  readonly maxClients?: number;
  /** The event's name (`event:` field): one, or one per record. Default none (`message`). */
  readonly event?: string | ((value: T) => string);
  /** Turns a record into the event's data. Default `JSON.stringify`. */
  readonly serialize?: (value: T) => string;
}

export const SSE_SINK_OPTIONS = {
  ...COMMON,
  port: { ...COMMON.port, default: 8081 },
  path: { ...COMMON.path, default: '/events' },
  clientBufferBytes: {
    type: 'integer',
    min: 1024,
    max: 1024 ** 3,
    default: 1024 * 1024,
    doc: "bytes waiting in one client's buffer at most; a slower client is dropped",
    example: '1048576',
  },
  heartbeatMs: {
    type: 'integer',
    min: 50,
    max: 2 ** 31 - 1,
    default: 15_000,
    doc: 'interval of keep-alive comments, ms',
    example: '15000',
  },
  maxClients: {
    type: 'integer',
    min: 1,
    max: 100_000,
    default: 100,
    doc: 'clients at once at most (503 beyond)',
    example: '100',
  },
  event: {
    type: 'any',
    check: (v: unknown) => typeof v === 'function' || (typeof v === 'string' && /^[^\r\n]+$/.test(v)),
    doc: 'the event name (one line), or a function of the record',
    example: '"result"',
  },
  serialize: { type: 'function', doc: 'record to event data', example: '(v) => JSON.stringify(v)' },
} as const satisfies OptionsSchema<SseSinkOptions<unknown>>;

export type ResolvedHttpSourceOptions<T> = Resolved<HttpSourceOptions<T>, typeof HTTP_SOURCE_OPTIONS>;
export type ResolvedSseSinkOptions<T> = Resolved<SseSinkOptions<T>, typeof SSE_SINK_OPTIONS>;

/** Validates source options once (throws `EDDY_CONFIG_INVALID` naming the option and the fix). */
export function resolveHttpSourceOptions<T>(options: HttpSourceOptions<T>): ResolvedHttpSourceOptions<T> {
  const o = resolveOptions('httpSource', HTTP_SOURCE_OPTIONS, options);
  checkExposure('httpSource', o.host, o.token);
  return o;
}

/** Validates sink options once (throws `EDDY_CONFIG_INVALID` naming the option and the fix). */
export function resolveSseSinkOptions<T>(options: SseSinkOptions<T>): ResolvedSseSinkOptions<T> {
  const o = resolveOptions('sseSink', SSE_SINK_OPTIONS, options);
  checkExposure('sseSink', o.host, o.token);
  return o;
}
