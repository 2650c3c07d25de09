/**
 * The options of the MQTT connectors as data: each option's documentation,
 * default and check in one schema per connector, read once when the
 * connector is made. Defaults live here and nowhere else.
 */

import {
  type CheckedOptionSchema as OptionSchema,
  type CheckedOptionSpec as OptionSpec,
  resolveCheckedOptions as resolveOptions,
} from '../checked-options.ts';
import { isRateControl, RATE_CONTROL_DOC, type RateControlOptions } from '../rate-control.ts';

export { resolveOptions };

const URL_SPEC: OptionSpec = {
  doc: 'the broker, an mqtt:// or mqtts:// URL',
  default: 'mqtt://127.0.0.1:1883',
  check: (v) =>
    typeof v === 'string' && /^(mqtts?|wss?):\/\//.test(v) ? undefined : 'pass url: "mqtt://127.0.0.1:1883"',
};
const positiveInt = (v: unknown, max: number) =>
  Number.isInteger(v) && (v as number) >= 1 && (v as number) <= max;
// Topic filters may hold wildcards; topic names (publishing) may not.
const isFilter = (v: unknown) =>
  typeof v === 'string' &&
  v.length > 0 &&
  !v.includes('\0') &&
  !v.startsWith('$share/') &&
  /^(#|(\+|[^#+]*)(\/(\+|[^#+]*))*(\/#)?)$/.test(v);

export const SINK_SCHEMA = {
  url: URL_SPEC,
  topic: {
    doc: 'the topic published to, or a function of the record giving it',
    required: true,
    check: (v) =>
      typeof v === 'function' || (typeof v === 'string' && v.length > 0 && !/[#+\0]/.test(v))
        ? undefined
        : 'pass topic: "plant/line1/alerts" (no wildcards) or topic: (r) => "plant/" + r.line',
  },
  format: {
    doc: 'turns a record into the payload: a string or bytes as they are, anything else as JSON; default JSON of the record',
    check: (v) => (typeof v === 'function' ? undefined : 'pass format: (r) => JSON.stringify(r)'),
  },
  clientId: {
    doc: 'the MQTT client id; default eddy-<step id>-<random>',
    check: (v) =>
      typeof v === 'string' && v.length > 0 ? undefined : 'pass a client id, e.g. "eddy-alerts"',
  },
  maxInFlight: {
    doc: 'the most publishes awaiting their PUBACK; the pipeline waits beyond it (backpressure)',
    default: 100,
    check: (v) => (positiveInt(v, 65_535) ? undefined : 'pass a whole number from 1 to 65535, e.g. 100'),
  },
  retain: {
    doc: 'publish with the retain flag',
    default: false,
    check: (v) => (typeof v === 'boolean' ? undefined : 'pass true or false'),
  },
  connectTimeoutMs: {
    doc: 'how long to wait for the broker when opening',
    default: 30_000,
    check: (v) => (positiveInt(v, 2 ** 31 - 1) ? undefined : 'pass milliseconds, e.g. 30000'),
  },
  reconnectTimeoutMs: {
    doc: 'how long the broker may be unreachable after the first connection (a restart) before the connector fails; meanwhile mqtt.js reconnects every second',
    default: 60_000,
    check: (v) => (positiveInt(v, 2 ** 31 - 1) ? undefined : 'pass milliseconds, e.g. 60000'),
  },
} as const satisfies OptionSchema;

/**
 * Options of {@link mqttSink}.
 *
 * @example
 * ```ts
 * const options: MqttSinkOptions<Alert> = { url: 'mqtt://127.0.0.1:1883', topic: (a) => `alerts/${a.line}` };
 * ```
 */
export interface MqttSinkOptions<T> {
  /** Default `mqtt://127.0.0.1:1883`. */
  readonly url?: string;
  /** A topic name (no wildcards), or a function of the record. */
  readonly topic: string | ((value: T) => string);
  /** The payload: a string or bytes go as they are, anything else as JSON. Default JSON of the record. */
  readonly format?: (value: T) => unknown;
  readonly clientId?: string;
  /** Publishes awaiting PUBACK before the pipeline waits; default 100. */
  readonly maxInFlight?: number;
  /** Default false. */
  readonly retain?: boolean;
  /** Default 30,000. */
  readonly connectTimeoutMs?: number;
  /** How long the broker may be away after the first connection before the sink fails, ms. Default 60,000. */
  readonly reconnectTimeoutMs?: number;
}

export type ResolvedSinkOptions<T> = MqttSinkOptions<T> &
  Required<
    Pick<MqttSinkOptions<T>, 'url' | 'maxInFlight' | 'retain' | 'connectTimeoutMs' | 'reconnectTimeoutMs'>
  >;

export const SOURCE_SCHEMA = {
  url: URL_SPEC,
  topics: {
    doc: 'the topic filters subscribed to (wildcards + and # allowed)',
    required: true,
    check: (v) =>
      Array.isArray(v) && v.length > 0 && v.every(isFilter)
        ? undefined
        : 'pass topics: ["plant/+/readings"] (a shared subscription is the group option, not a $share/ prefix)',
  },
  clientId: {
    doc: 'the client id naming the persistent session: the broker keeps what arrives while the pipeline is down under it',
    required: true,
    check: (v) =>
      typeof v === 'string' && v.length > 0 && v.length <= 23 * 8
        ? undefined
        : 'pass a stable id per instance, e.g. clientId: "eddy-readings-1"',
  },
  group: {
    doc: 'a shared-subscription group ($share/<group>/<filter>): the instances in it divide the messages',
    check: (v) =>
      typeof v === 'string' && v.length > 0 && !/[/#+\0]/.test(v)
        ? undefined
        : 'pass a group name without / + #, e.g. group: "readers"',
  },
  sessionExpirySeconds: {
    doc: 'how long the broker keeps the session (and queues messages) after a disconnect',
    default: 3600,
    check: (v) =>
      Number.isInteger(v) && (v as number) >= 0 && (v as number) <= 0xffffffff
        ? undefined
        : 'pass seconds, e.g. 3600',
  },
  parse: {
    doc: 'turns a payload into a record; throw to dead-letter it; default JSON',
    check: (v) => (typeof v === 'function' ? undefined : 'pass parse: (payload, topic) => ...'),
  },
  bufferSize: {
    doc: 'messages held between the client and the pipeline; beyond it the client stops reading (backpressure to the broker)',
    default: 10_000,
    check: (v) => (positiveInt(v, 10_000_000) ? undefined : 'pass a whole number, e.g. 10000'),
  },
  rateControl: {
    doc: `adaptive rate control (issue 18): read messages only as fast as the pipeline processes them, a PID estimate as Spark Streaming's; beyond it the client stops reading and the broker holds the rest — ${RATE_CONTROL_DOC}`,
    check: (v) => (isRateControl(v) ? undefined : 'pass rateControl: true, or e.g. { minRate: 500 }'),
  },
  connectTimeoutMs: SINK_SCHEMA.connectTimeoutMs,
  reconnectTimeoutMs: SINK_SCHEMA.reconnectTimeoutMs,
} as const satisfies OptionSchema;

/**
 * Options of {@link mqttSource}.
 *
 * @example
 * ```ts
 * const options: MqttSourceOptions<Reading> = { topics: ['plant/+/readings'], clientId: 'eddy-readings-1', group: 'readers' };
 * ```
 */
export interface MqttSourceOptions<T> {
  /** Default `mqtt://127.0.0.1:1883`. */
  readonly url?: string;
  /** Topic filters, subscribed to with QoS 1. */
  readonly topics: readonly string[];
  /** Names the persistent session (clean: false); one per instance. */
  readonly clientId: string;
  /** A shared-subscription group: the instances with the same group divide the messages. */
  readonly group?: string;
  /** Default 3,600. */
  readonly sessionExpirySeconds?: number;
  /** Payload to record; throw to dead-letter. Default `JSON.parse` of the UTF-8 text. */
  readonly parse?: (payload: Buffer, topic: string) => T;
  /** Default 10,000. */
  readonly bufferSize?: number;
  /**
   * Adaptive rate control (issue 18): the client takes messages from the
   * broker only at the rate the pipeline processes them (Spark Streaming's
   * PID estimator, `../rate-control.ts`), so the buffer — the memory — stays
   * short under a burst instead of filling to `bufferSize`; beyond the rate
   * it stops reading, and the broker holds the rest (its queue bound applies:
   * Mosquitto's `max_queued_messages`). Default off: only `bufferSize`.
   */
  readonly rateControl?: boolean | RateControlOptions;
  /** Default 30,000. */
  readonly connectTimeoutMs?: number;
  /** How long the broker may be away after the first connection before the source fails, ms. Default 60,000. */
  readonly reconnectTimeoutMs?: number;
}

/** What one `mqttSource` has read (since it opened). */
export interface MqttSourceStats {
  /** Messages taken from the broker into the buffer. */
  received: number;
  /** The most messages buffered at once. */
  maxBuffered: number;
  /** With `rateControl`: the admitted rate now, messages/s (Infinity before the first estimate). */
  rate?: number;
  /** With `rateControl`: times the client stopped reading because the rate was spent. */
  held: number;
}

export type ResolvedSourceOptions<T> = MqttSourceOptions<T> &
  Required<
    Pick<
      MqttSourceOptions<T>,
      'url' | 'sessionExpirySeconds' | 'bufferSize' | 'connectTimeoutMs' | 'reconnectTimeoutMs'
    >
  >;
