/**
 * Turning a message body into a record, for the connectors whose brokers carry
 * opaque payloads (NATS, Redis Streams, RabbitMQ): the codec's safe JSON decoder (size,
 * UTF-8, nesting depth, `__proto__`/`constructor`/`prototype` keys), a
 * UTF-8 string under the same size limit, or the bytes; then the user's
 * `parse`. Never throws: a failure carries a code and a reason for the
 * dead-letter record.
 */
import { type DecodeLimits, decodeJson } from '../codec/index.ts';
import type { OptionsSchema } from './options.ts';

/** How a source decodes its payloads: the options every payload source shares. */
export interface PayloadOptions<T> {
  /** How a payload is decoded: safe JSON (default), a UTF-8 string, or the bytes. */
  readonly format?: 'json' | 'string' | 'bytes';
  /** Checks and converts a decoded value; throw to dead-letter the message with your reason. */
  readonly parse?: (value: unknown) => T;
  /** Size and nesting limits of the JSON decoder (default 1 MiB, depth 64). */
  readonly limits?: Partial<DecodeLimits>;
}

/** The schema entries of {@link PayloadOptions}, spread into each payload source's schema. */
export const PAYLOAD_OPTIONS = {
  format: {
    type: 'any',
    default: 'json',
    check: (v: unknown) => v === 'json' || v === 'string' || v === 'bytes',
    doc: 'payload format: "json", "string" or "bytes"',
    example: '"json"',
  },
  parse: { type: 'function', doc: 'checks and converts a decoded value', example: '(v) => schema.parse(v)' },
  limits: {
    type: 'any',
    check: (v: unknown) => typeof v === 'object' && v !== null,
    doc: 'JSON decode limits { maxBytes, maxDepth }',
    example: '{ maxBytes: 65536 }',
  },
} as const satisfies OptionsSchema<PayloadOptions<unknown>>;

export type Decoded<T> = { ok: true; value: T } | { ok: false; code: string; reason: string };

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** A decoder for one source's payloads, by its `format`, `limits` and `parse`. */
export function payloadDecoder<T>(o: {
  readonly format: 'json' | 'string' | 'bytes';
  readonly parse?: (value: unknown) => T;
  readonly limits: DecodeLimits;
}): (data: Uint8Array) => Decoded<T> {
  const { format, parse, limits } = o;
  return (data) => {
    let value: unknown;
    if (format === 'bytes') value = data;
    else if (format === 'string') {
      if (data.byteLength > limits.maxBytes)
        return {
          ok: false,
          code: 'too-large',
          reason: `message is ${data.byteLength} bytes; maxBytes is ${limits.maxBytes}`,
        };
      try {
        value = utf8.decode(data);
      } catch {
        return { ok: false, code: 'invalid-utf8', reason: 'payload is not valid UTF-8' };
      }
    } else {
      const r = decodeJson(data, limits);
      if (!r.ok) return r;
      value = r.value;
    }
    if (parse === undefined) return { ok: true, value: value as T };
    try {
      return { ok: true, value: parse(value) };
    } catch (e) {
      return { ok: false, code: 'parse-failed', reason: e instanceof Error ? e.message : String(e) };
    }
  };
}
