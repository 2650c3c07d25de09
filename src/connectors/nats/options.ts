/**
 * The options of the NATS JetStream source and sink, as schemas (one place
 * for each option's type, bounds, default and documentation), and the checks
 * that need more than a schema: server URLs and NATS names.
 *
 * @example
 * ```ts
 * const o = resolveNatsSourceOptions({ stream: 'ORDERS', consumer: 'stats' });
 * o.ackWaitMs; // 60000
 * ```
 */
import { configError } from '../../errors/index.ts';
import { type OptionsSchema, type Resolved, resolveOptions } from '../options.ts';
import { PAYLOAD_OPTIONS, type PayloadOptions } from '../payload.ts';

/** Stream and consumer names: no whitespace, `.`, `*`, `>`, `/` or `\` (the server refuses them). */
const NAME = /^[^\s.*>/\\]+$/;
const NAME_RULE = 'must be a NATS name: no whitespace and none of . * > / \\';
/** A subject to publish to: dot-separated tokens, no whitespace, no wildcards. */
const SUBJECT = /^[^\s.*>]+(\.[^\s.*>]+)*$/;
/** A subject filter: tokens may be `*`, the last may be `>`. */
const FILTER = /^([^\s.*>]+|\*)(\.([^\s.*>]+|\*))*(\.>)?$|^>$/;

const DEFAULT_SERVERS = Object.freeze(['nats://127.0.0.1:4222']);

/** What both the source and the sink take to reach the server and the stream. */
interface NatsCommonOptions {
  /** Server URLs (`nats://host:4222`, `tls://…`, or `host:port`). Default `nats://127.0.0.1:4222`. */
  readonly servers?: string | readonly string[];
  /** The JetStream stream. */
  readonly stream: string;
  /** Create the stream when it does not exist (with `subjects`); otherwise a missing stream is a configuration error. Default false. */
  readonly createStream?: boolean;
  /** The subjects of a stream created with `createStream`. Default `<stream>.>`. */
  readonly subjects?: string | readonly string[];
  /** How long connecting may take before the open fails, ms. Default 5,000. */
  readonly connectTimeoutMs?: number;
  /**
   * How long the server may be unreachable (a restart) before the source or
   * sink fails; meanwhile the client reconnects every 1 s and buffers acks and
   * publishes. Default 60,000.
   */
  readonly reconnectTimeoutMs?: number;
}

const COMMON = {
  servers: {
    type: 'strings',
    default: DEFAULT_SERVERS,
    doc: 'the NATS server URLs',
    example: '"nats://127.0.0.1:4222"',
  },
  stream: {
    type: 'string',
    required: true,
    pattern: NAME,
    rule: NAME_RULE,
    doc: 'the JetStream stream',
    example: '"ORDERS"',
  },
  createStream: {
    type: 'boolean',
    default: false,
    doc: 'create the stream (with subjects) when it does not exist',
    example: 'true',
  },
  subjects: {
    type: 'strings',
    pattern: FILTER,
    rule: 'must be subjects or filters (tokens, * or a final >)',
    doc: 'the subjects of a stream created with createStream (default <stream>.>)',
    example: '["orders.>"]',
  },
  connectTimeoutMs: {
    type: 'integer',
    min: 100,
    default: 5000,
    doc: 'how long connecting may take, ms',
    example: '5000',
  },
  reconnectTimeoutMs: {
    type: 'integer',
    min: 0,
    default: 60_000,
    doc: 'how long the server may be unreachable before failing, ms',
    example: '60000',
  },
} as const satisfies OptionsSchema<NatsCommonOptions>;

export interface NatsSourceOptions<T> extends NatsCommonOptions, PayloadOptions<T> {
  /**
   * The durable pull consumer (created if missing, its ack wait and max ack
   * pending updated if they differ). Every subtask reading this source, and
   * every process using the same name, shares its messages.
   */
  readonly consumer: string;
  /** Only messages on this subject (filter; `*` and a final `>` allowed). Default: all of the stream. */
  readonly filterSubject?: string;
  /**
   * How long the server waits for a message's acknowledgement before it
   * delivers it again, ms. With checkpoints a message is acknowledged when
   * the checkpoint after it completes, so this must exceed the checkpoint
   * interval plus a checkpoint's duration, with margin; it is also how long
   * a crashed run's messages wait before they are redelivered. Default 60,000.
   */
  readonly ackWaitMs?: number;
  /**
   * The most messages delivered and not yet acknowledged (the server stops
   * delivering at this many): eddy's backpressure towards the server, and
   * with checkpoints the most one checkpoint interval can read — size it
   * above rate × interval, or the source waits for each checkpoint. Default 10,000.
   */
  readonly maxAckPending?: number;
}

export const NATS_SOURCE_OPTIONS = {
  ...COMMON,
  consumer: {
    type: 'string',
    required: true,
    pattern: NAME,
    rule: NAME_RULE,
    doc: 'the durable pull consumer (created if missing)',
    example: '"order-stats"',
  },
  filterSubject: {
    type: 'string',
    pattern: FILTER,
    rule: 'must be a subject filter (tokens, * or a final >)',
    doc: 'only messages on this subject',
    example: '"orders.eu.>"',
  },
  ackWaitMs: {
    type: 'integer',
    min: 1000,
    default: 60_000,
    doc: 'redelivery timeout of an unacknowledged message, ms; above checkpoint interval + duration',
    example: '60000',
  },
  maxAckPending: {
    type: 'integer',
    min: 1,
    default: 10_000,
    doc: 'messages delivered and not yet acknowledged at most (backpressure)',
    example: '10000',
  },
  ...PAYLOAD_OPTIONS,
} as const satisfies OptionsSchema<NatsSourceOptions<unknown>>;

export interface NatsSinkOptions<T> extends NatsCommonOptions {
  /** The subject each record is published to: one, or one per record. */
  readonly subject: string | ((value: T) => string);
  /**
   * The record's message id (`Nats-Msg-Id`), from its own identity (an event
   * id): the server drops a second message with the same id within the
   * stream's duplicate window, whatever order a replay has. Default: an id
   * from the record's position in the sink's output (see sink.ts).
   */
  readonly messageId?: (value: T) => string;
  /** Prefix of position-based message ids. Default: the sink's step id. */
  readonly idPrefix?: string;
  /** Turns a record into the payload. Default `JSON.stringify`. */
  readonly serialize?: (value: T) => string | Uint8Array;
}

export const NATS_SINK_OPTIONS = {
  ...COMMON,
  subject: {
    type: 'any',
    required: true,
    check: (v) => typeof v === 'function' || (typeof v === 'string' && SUBJECT.test(v)),
    doc: 'the subject to publish to (no wildcards), or a function of the record',
    example: '"orders.enriched"',
  },
  messageId: {
    type: 'function',
    doc: "the record's Nats-Msg-Id from its own identity",
    example: '(o) => o.id',
  },
  idPrefix: {
    type: 'string',
    doc: 'prefix of position-based message ids (default: the step id)',
    example: '"enrich-out"',
  },
  serialize: { type: 'function', doc: 'record to payload', example: '(v) => JSON.stringify(v)' },
} as const satisfies OptionsSchema<NatsSinkOptions<unknown>>;

export type ResolvedNatsSourceOptions<T> = Resolved<NatsSourceOptions<T>, typeof NATS_SOURCE_OPTIONS>;
export type ResolvedNatsSinkOptions<T> = Resolved<NatsSinkOptions<T>, typeof NATS_SINK_OPTIONS>;

/** Validates source options once (throws `EDDY_CONFIG_INVALID` naming the option). */
export function resolveNatsSourceOptions<T>(options: NatsSourceOptions<T>): ResolvedNatsSourceOptions<T> {
  const o = resolveOptions('natsSource', NATS_SOURCE_OPTIONS, options);
  checkServers('natsSource', o.servers);
  return o;
}

/** Validates sink options once (throws `EDDY_CONFIG_INVALID` naming the option). */
export function resolveNatsSinkOptions<T>(options: NatsSinkOptions<T>): ResolvedNatsSinkOptions<T> {
  const o = resolveOptions('natsSink', NATS_SINK_OPTIONS, options);
  checkServers('natsSink', o.servers);
  return o;
}

/** The subject a record goes to, checked (a function may return anything). */
export function subjectChecker<T>(subject: string | ((value: T) => string)): (value: T) => string {
  if (typeof subject === 'string') return () => subject;
  return (value) => {
    const s = subject(value);
    if (typeof s !== 'string' || !SUBJECT.test(s)) {
      throw configError(
        'natsSink subject() must return a subject without wildcards or whitespace',
        s,
        'return e.g. "orders.eu"',
      );
    }
    return s;
  };
}

function checkServers(what: string, servers: string | readonly string[]): void {
  for (const s of typeof servers === 'string' ? [servers] : servers) {
    let url: URL | undefined;
    try {
      url = new URL(s.includes('://') ? s : `nats://${s}`);
    } catch {
      url = undefined;
    }
    if (url === undefined || !['nats:', 'tls:'].includes(url.protocol) || url.hostname === '') {
      throw configError(
        `${what} servers must be NATS URLs`,
        s,
        'pass e.g. servers: "nats://127.0.0.1:4222" (or "tls://host:4222", "host:4222")',
      );
    }
  }
}

/** The stream's subjects when it is created: the ones given, else `<stream>.>`. */
export function streamSubjects(o: { stream: string; subjects?: string | readonly string[] }): string[] {
  if (o.subjects === undefined) return [`${o.stream}.>`];
  return typeof o.subjects === 'string' ? [o.subjects] : [...o.subjects];
}
