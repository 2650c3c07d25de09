/**
 * How `kafkaSource` turns a record's value bytes into a value: JSON (safe, src/codec), a UTF-8
 * string, the raw bytes, or Avro in the Confluent schema-registry wire format.
 *
 * A format's `decode` is synchronous and never throws for bad input: it returns a failure with a
 * code from {@link KAFKA_DECODE_FAILURES} and a reason, which the source dead-letters. Anything a
 * format needs from the network (Avro schemas) is fetched once per batch in `prepare`, so the hot
 * loop has no per-record `await`.
 *
 * Avro bodies are decoded by the safe Avro codec (codec/avro.ts: avsc behind guards for input from
 * outside), framed and looked up by schema id as the Confluent schema registry has it
 * (schema-registry.ts).
 *
 * @example
 * ```ts
 * const orders = kafkaSource<Order>({
 *   topics: ['orders'], groupId: 'stats',
 *   format: avroFormat({ registry: { url: 'http://registry:8081' } }),
 *   deadLetterTopic: 'orders-dlq',
 * });
 * ```
 */
import { Buffer } from 'node:buffer';
import { type AvroLongs, decodeAvro, encodeAvro } from '../../codec/avro.ts';
import { DECODE_FAILURES, type DecodeLimits, decodeJson, resolveDecodeLimits } from '../../codec/index.ts';
import { configError } from '../../errors/index.ts';
import {
  AvroSchemas,
  FRAME_HEADER_BYTES,
  frameSchemaRegistry,
  MAGIC_BYTE,
  type SchemaRegistryOptions,
  unframeSchemaRegistry,
} from './schema-registry.ts';

/**
 * Why a Kafka value could not be decoded: the JSON codec's reasons plus the framing and schema
 * reasons of Avro and a failed `parse`. Closed, so a dead-letter consumer can switch on it (it is the
 * `eddy.error.code` header of the dead-letter topic).
 *
 * @example
 * ```ts
 * if (headers.get('eddy.error.code') === 'unknown-schema-id') await registerMissingSchema();
 * ```
 */
export const KAFKA_DECODE_FAILURES = [
  ...DECODE_FAILURES,
  'wrong-magic-byte',
  'truncated',
  'trailing-bytes',
  'unknown-schema-id',
  'schema-fetch-failed',
  'invalid-schema',
  'invalid-avro',
  'parse-failed',
] as const;

/** One of {@link KAFKA_DECODE_FAILURES}. */
export type KafkaDecodeFailure = (typeof KAFKA_DECODE_FAILURES)[number];

/** A decoded value, or why not. */
export type KafkaDecodeResult =
  | { readonly ok: true; readonly value: unknown }
  | { readonly ok: false; readonly code: KafkaDecodeFailure; readonly reason: string };

/**
 * A value format for `kafkaSource`. `prepare` (optional) is awaited once per batch before any of its
 * values is decoded and must not reject; `decode` must not throw.
 *
 * @example
 * ```ts
 * const upper: KafkaFormat = {
 *   name: 'upper',
 *   decode: (b) => ({ ok: true, value: Buffer.from(b ?? []).toString('latin1').toUpperCase() }),
 * };
 * ```
 */
export interface KafkaFormat {
  readonly name: string;
  prepare?(values: readonly (Uint8Array | null | undefined)[]): Promise<void> | undefined;
  decode(value: Uint8Array | null | undefined): KafkaDecodeResult;
}

const EMPTY = Buffer.alloc(0);

/**
 * JSON with the codec's safe decoding (size, UTF-8, depth, forbidden keys). A null value (tombstone)
 * is invalid JSON.
 *
 * @example
 * ```ts
 * jsonFormat({ maxDepth: 16 }).decode(Buffer.from('{"a":1}')); // { ok: true, value: { a: 1 } }
 * ```
 */
export function jsonFormat(limits?: Partial<DecodeLimits>): KafkaFormat {
  const resolved = resolveDecodeLimits(limits);
  return { name: 'json', decode: (value) => decodeJson(value ?? EMPTY, resolved) };
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * A UTF-8 string; malformed UTF-8 and values over `maxBytes` are failures, a null value is `''`.
 *
 * @example
 * ```ts
 * stringFormat().decode(Buffer.from('héllo')); // { ok: true, value: 'héllo' }
 * ```
 */
export function stringFormat(limits?: Partial<DecodeLimits>): KafkaFormat {
  const { maxBytes } = resolveDecodeLimits(limits);
  return {
    name: 'string',
    decode(value) {
      const bytes = value ?? EMPTY;
      if (bytes.byteLength > maxBytes) return tooLarge(bytes.byteLength, maxBytes);
      try {
        return { ok: true, value: utf8.decode(bytes) };
      } catch {
        return { ok: false, code: 'invalid-utf8', reason: 'value is not valid UTF-8' };
      }
    },
  };
}

/**
 * The value's bytes as they are (a Buffer; empty for a null value). Never fails.
 *
 * @example
 * ```ts
 * bytesFormat().decode(null); // { ok: true, value: <Buffer > }
 * ```
 */
export function bytesFormat(): KafkaFormat {
  return { name: 'bytes', decode: (value) => ({ ok: true, value: value ?? EMPTY }) };
}

/** The built-in format for a name, or the format itself. */
export function resolveFormat(
  format: 'json' | 'string' | 'bytes' | KafkaFormat | undefined,
  limits?: Partial<DecodeLimits>,
): KafkaFormat {
  if (format === undefined || format === 'json') return jsonFormat(limits);
  if (format === 'string') return stringFormat(limits);
  if (format === 'bytes') return bytesFormat();
  if (typeof format === 'object' && format !== null && typeof format.decode === 'function') return format;
  throw configError(
    'kafkaSource format must be "json", "string", "bytes" or a KafkaFormat',
    format,
    'pass e.g. format: "json" or format: avroFormat({ registry: { url } })',
  );
}

/**
 * Decodes a record's value with `format`, then checks and converts it with
 * `parse` if given; a throwing `parse` is the failure `parse-failed` with its
 * message. Never throws. Shared by `kafkaSource` and `kafkaApp`'s source.
 */
export function decodeValue(
  format: KafkaFormat,
  parse: ((value: unknown) => unknown) | undefined,
  value: Uint8Array | null | undefined,
): KafkaDecodeResult {
  const r = format.decode(value);
  if (!r.ok || parse === undefined) return r;
  try {
    return { ok: true, value: parse(r.value) };
  } catch (e) {
    return { ok: false, code: 'parse-failed', reason: e instanceof Error ? e.message : String(e) };
  }
}

function tooLarge(bytes: number, maxBytes: number): KafkaDecodeResult {
  return { ok: false, code: 'too-large', reason: `record is ${bytes} bytes; maxBytes is ${maxBytes}` };
}

// --- Avro -------------------------------------------------------------------------------------------

export interface AvroFormatOptions {
  /** Schemas by id (Avro schema JSON as a string or parsed); checked here, no registry needed for them. */
  readonly schemas?: Readonly<Record<number, string | object>>;
  readonly registry?: SchemaRegistryOptions;
  /** After a failed lookup, records with that id fail without asking again for this long. Default 10,000 ms. */
  readonly retryAfterMs?: number;
  readonly limits?: Partial<DecodeLimits>;
  /**
   * How Avro `long`s come out: `'number'` (default) for values within ±(2^53-1), anything larger
   * being a decode failure rather than a silently rounded number; or `'bigint'`, always.
   */
  readonly longs?: AvroLongs;
}

/** An Avro format: decodes frames for `kafkaSource` and encodes them (for a sink's value function). */
export interface AvroFormat extends KafkaFormat {
  /** Encodes `value` with the schema of `schemaId` (it must be known: static, or fetched before) and frames it. */
  encode(schemaId: number, value: unknown): Buffer;
  /** Fetches (if needed) the schema of `schemaId`; resolves to a failure instead of rejecting. */
  schema(schemaId: number): Promise<KafkaDecodeResult>;
}

/**
 * Avro values in the Confluent schema-registry wire format: byte 0 is 0, bytes 1–4 the schema id
 * (big-endian), the rest the Avro binary encoding with that schema (the writer's; values are read
 * with it as they were written). Schemas come from `schemas`, else from the registry (cached per id,
 * fetches bounded by `timeoutMs`, one request per id at a time: schema-registry.ts). Bad frames,
 * unknown ids and failed fetches are decode failures with the reason; the pipeline keeps going.
 * The body is decoded by the safe Avro codec (codec/avro.ts).
 *
 * @example
 * ```ts
 * const f = avroFormat({ schemas: { 1: '{"type":"record","name":"T","fields":[{"name":"n","type":"int"}]}' } });
 * const bytes = f.encode(1, { n: 42 });                   // <Buffer 00 00 00 00 01 54>
 * assert.deepEqual(f.decode(bytes), { ok: true, value: { n: 42 } });
 * ```
 */
export function avroFormat(options: AvroFormatOptions): AvroFormat {
  const limits = resolveDecodeLimits(options?.limits);
  const retryAfterMs = options?.retryAfterMs ?? 10_000;
  const longs = options?.longs ?? 'number';
  if (longs !== 'number' && longs !== 'bigint') {
    throw configError('avroFormat longs must be "number" or "bigint"', longs, 'leave it out for numbers');
  }
  if (!Number.isFinite(retryAfterMs) || retryAfterMs < 0) {
    throw configError('avroFormat retryAfterMs must be >= 0', retryAfterMs, 'pass milliseconds, e.g. 10000');
  }
  const schemas = new AvroSchemas({
    schemas: options?.schemas,
    registry: options?.registry,
    retryAfterMs,
    longs,
    limits,
  });
  return {
    name: 'avro',
    prepare(values) {
      let waits: Promise<void>[] | undefined;
      for (const v of values) {
        if (v == null || v.byteLength < FRAME_HEADER_BYTES || v[0] !== MAGIC_BYTE) continue;
        const id = (v[1]! << 24) | (v[2]! << 16) | (v[3]! << 8) | v[4]!;
        if (id < 0) continue;
        const p = schemas.ensure(id);
        if (p !== undefined && !(waits ??= []).includes(p)) waits.push(p);
      }
      return waits === undefined ? undefined : Promise.all(waits).then(() => {});
    },
    decode(value) {
      const bytes = value ?? EMPTY;
      if (bytes.byteLength > limits.maxBytes) return tooLarge(bytes.byteLength, limits.maxBytes);
      const frame = unframeSchemaRegistry(bytes);
      if (!frame.ok) return frame;
      const entry = schemas.lookup(frame.schemaId);
      if (!entry.ok) return { ok: false, code: entry.code, reason: entry.reason };
      return decodeAvro(entry.compiled, frame.payload, limits.maxDepth, `schema ${frame.schemaId}`);
    },
    encode(schemaId, value) {
      const compiled = schemas.known(schemaId);
      if (compiled === undefined) {
        throw configError(
          `avroFormat has no schema ${schemaId} to encode with`,
          schemaId,
          'list it in schemas, or await format.schema(id) first',
        );
      }
      return frameSchemaRegistry(schemaId, encodeAvro(compiled, value));
    },
    async schema(schemaId) {
      await schemas.ensure(schemaId);
      const entry = schemas.lookup(schemaId);
      return entry.ok ? { ok: true, value: entry.compiled.schema } : entry;
    },
  };
}
