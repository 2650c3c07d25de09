/**
 * The Confluent schema registry, as Kafka's Avro records use it (issue 13:
 * the Avro codec itself is `codec/avro.ts`): the wire framing (byte 0 is 0,
 * bytes 1–4 the schema id, big-endian, then the body), and the schemas by
 * id — given up front, or fetched from the registry once per id (bounded in
 * time and size, one request per id at a time, a failed fetch not asked
 * again for `retryAfterMs`).
 *
 * @example
 * ```ts
 * const schemas = new AvroSchemas({ registry: { url: 'http://registry:8081' } });
 * await schemas.ensure(7);
 * const entry = schemas.lookup(7); // { ok: true, compiled } or a failure with its reason
 * ```
 */
import { Buffer } from 'node:buffer';
import { type AvroLongs, type CompiledAvro, compileAvro, parseAvroSchema } from '../../codec/avro.ts';
import { type DecodeLimits, decodeJson } from '../../codec/index.ts';
import { configError } from '../../errors/index.ts';

/** Why a schema could not be had. */
export type SchemaFailure =
  | 'wrong-magic-byte'
  | 'truncated'
  | 'unknown-schema-id'
  | 'schema-fetch-failed'
  | 'invalid-schema';

const MAX_SCHEMA_RESPONSE_BYTES = 1024 * 1024;

// --- Framing --------------------------------------------------------------------------------------

/** Byte 0 of a schema-registry frame. */
export const MAGIC_BYTE = 0;
/** Magic byte plus the 4-byte big-endian schema id. */
export const FRAME_HEADER_BYTES = 5;

/**
 * Frames a payload as the Confluent serializers do: magic byte 0, the schema id as a big-endian
 * 32-bit integer, then the payload.
 *
 * @example
 * ```ts
 * frameSchemaRegistry(7, Buffer.from([2, 0x61])); // <Buffer 00 00 00 00 07 02 61>
 * ```
 */
export function frameSchemaRegistry(schemaId: number, payload: Uint8Array): Buffer {
  if (!Number.isInteger(schemaId) || schemaId < 0 || schemaId > 0x7fffffff) {
    throw configError('a schema id must be an integer from 0 to 2^31-1', schemaId, 'pass the registry id');
  }
  const out = Buffer.allocUnsafe(FRAME_HEADER_BYTES + payload.byteLength);
  out[0] = MAGIC_BYTE;
  out.writeInt32BE(schemaId, 1);
  out.set(payload, FRAME_HEADER_BYTES);
  return out;
}

/**
 * Splits a schema-registry frame into its schema id and payload (a view, not a copy), or says why
 * the bytes are not one.
 *
 * @example
 * ```ts
 * const r = unframeSchemaRegistry(Buffer.from([0, 0, 0, 0, 7, 2, 0x61]));
 * assert.ok(r.ok && r.schemaId === 7 && r.payload.length === 2);
 * ```
 */
export function unframeSchemaRegistry(
  bytes: Uint8Array,
):
  | { readonly ok: true; readonly schemaId: number; readonly payload: Buffer }
  | { readonly ok: false; readonly code: 'wrong-magic-byte' | 'truncated'; readonly reason: string } {
  if (bytes.byteLength === 0) {
    return { ok: false, code: 'truncated', reason: 'value is empty; expected a schema-registry frame' };
  }
  if (bytes[0] !== MAGIC_BYTE) {
    const b = bytes[0]!.toString(16).padStart(2, '0');
    return {
      ok: false,
      code: 'wrong-magic-byte',
      reason: `first byte is 0x${b}; a schema-registry frame starts with 0x00${b === '7b' ? ' (this looks like JSON)' : ''}`,
    };
  }
  if (bytes.byteLength < FRAME_HEADER_BYTES) {
    return {
      ok: false,
      code: 'truncated',
      reason: `value is ${bytes.byteLength} bytes; a schema-registry frame has at least 5 (magic byte and schema id)`,
    };
  }
  const buf = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return { ok: true, schemaId: buf.readInt32BE(1), payload: buf.subarray(FRAME_HEADER_BYTES) };
}

// --- Schemas --------------------------------------------------------------------------------------

/** Where schemas come from when they are not in `schemas`. */
export interface SchemaRegistryOptions {
  /** Base URL, e.g. `http://registry:8081`; schemas are read from `GET {url}/schemas/ids/{id}`. */
  readonly url: string;
  /** How long one schema fetch may take, body included. Default 5,000 ms. */
  readonly timeoutMs?: number;
  /** Extra request headers (e.g. `authorization`). */
  readonly headers?: Readonly<Record<string, string>>;
}

/** A schema by id, or why there is none (`until`: when to ask the registry again). */
export type SchemaEntry =
  | { readonly ok: true; readonly compiled: CompiledAvro }
  | {
      readonly ok: false;
      readonly code: SchemaFailure;
      readonly reason: string;
      readonly until: number;
    };

export interface AvroSchemasOptions {
  /** Schemas by id (Avro schema JSON as a string or parsed); checked here, no registry needed for them. */
  readonly schemas?: Readonly<Record<number, string | object>> | undefined;
  readonly registry?: SchemaRegistryOptions | undefined;
  /** After a failed lookup, records with that id fail without asking again for this long (ms). */
  readonly retryAfterMs: number;
  readonly longs: AvroLongs;
  /** Limits for the schemas given as text. */
  readonly limits: DecodeLimits;
}

/** The Avro schemas a format knows by id, static or from the registry, compiled once. */
export class AvroSchemas {
  readonly #cache = new Map<number, SchemaEntry>();
  readonly #pending = new Map<number, Promise<void>>();
  readonly #base: string | undefined;
  readonly #timeoutMs: number;
  readonly #headers: Readonly<Record<string, string>> | undefined;
  readonly #retryAfterMs: number;
  readonly #longs: AvroLongs;

  constructor(o: AvroSchemasOptions) {
    this.#retryAfterMs = o.retryAfterMs;
    this.#longs = o.longs;
    const registry = o.registry;
    let timeoutMs = 5000;
    if (registry !== undefined) {
      let url: URL | undefined;
      try {
        url = new URL(registry.url);
      } catch {}
      if (url === undefined || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
        throw configError(
          'avroFormat registry.url must be an http(s) URL',
          registry.url,
          'pass e.g. { url: "http://registry:8081" }',
        );
      }
      this.#base = registry.url.replace(/\/+$/, '');
      timeoutMs = registry.timeoutMs ?? 5000;
      if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) {
        throw configError(
          'avroFormat registry.timeoutMs must be > 0',
          timeoutMs,
          'pass milliseconds, e.g. 5000',
        );
      }
    }
    this.#timeoutMs = timeoutMs;
    this.#headers = registry?.headers;
    for (const [id, schema] of Object.entries(o.schemas ?? {})) {
      const n = Number(id);
      if (!Number.isInteger(n) || n < 0 || n > 0x7fffffff) {
        throw configError('avroFormat schemas must be keyed by schema id', id, 'use ids from 0 to 2^31-1');
      }
      try {
        this.#cache.set(n, { ok: true, compiled: compileAvro(parseAvroSchema(schema, o.limits), o.longs) });
      } catch (e) {
        throw configError(
          `avroFormat schema ${n} is not a usable Avro schema (${e instanceof Error ? e.message : String(e)})`,
          schema,
          'fix the schema',
        );
      }
    }
    if (this.#base === undefined && this.#cache.size === 0) {
      throw configError(
        'avroFormat needs schemas or a registry',
        o,
        'pass { registry: { url } } or { schemas }',
      );
    }
  }

  /** Fetches the schema of `id` unless it is known (or failed lately); undefined when nothing is to wait for. */
  ensure(id: number): Promise<void> | undefined {
    const have = this.#cache.get(id);
    if (have !== undefined && (have.ok || have.until > Date.now())) return undefined;
    const base = this.#base;
    if (base === undefined) return undefined;
    let p = this.#pending.get(id);
    if (p === undefined) {
      p = this.#fetch(id, base).then((entry) => {
        this.#cache.set(id, entry);
        this.#pending.delete(id);
      });
      this.#pending.set(id, p);
    }
    return p;
  }

  /** The schema of `id` as known now (after `ensure`), or why there is none. */
  lookup(id: number): SchemaEntry {
    const have = this.#cache.get(id);
    if (have !== undefined) return have;
    if (id < 0) return this.#failed('unknown-schema-id', `schema id ${id} is negative`);
    return this.#base === undefined
      ? this.#failed(
          'unknown-schema-id',
          `schema id ${id} is not in the format's schemas and no registry is set`,
        )
      : this.#failed('schema-fetch-failed', `schema id ${id} was not fetched before decoding`);
  }

  /** The compiled schema of `id`, if it is known. */
  known(id: number): CompiledAvro | undefined {
    const entry = this.#cache.get(id);
    return entry?.ok === true ? entry.compiled : undefined;
  }

  #failed(code: SchemaFailure, reason: string): SchemaEntry {
    return { ok: false, code, reason, until: Date.now() + this.#retryAfterMs };
  }

  async #fetch(id: number, url: string): Promise<SchemaEntry> {
    const where = `${url}/schemas/ids/${id}`;
    const timeoutMs = this.#timeoutMs;
    let text: string;
    try {
      const res = await fetch(where, {
        headers: { accept: 'application/vnd.schemaregistry.v1+json, application/json', ...this.#headers },
        signal: AbortSignal.timeout(timeoutMs),
      });
      text = await res.text();
      if (res.status === 404)
        return this.#failed(
          'unknown-schema-id',
          `schema id ${id} is not in the registry (${where}: HTTP 404)`,
        );
      if (!res.ok)
        return this.#failed('schema-fetch-failed', `schema id ${id}: ${where} answered HTTP ${res.status}`);
    } catch (e) {
      const timedOut = e instanceof Error && (e.name === 'TimeoutError' || e.name === 'AbortError');
      return this.#failed(
        'schema-fetch-failed',
        timedOut
          ? `schema id ${id}: ${where} did not answer within ${timeoutMs} ms`
          : `schema id ${id}: ${where} failed (${e instanceof Error ? (e.cause instanceof Error ? e.cause.message : e.message) : String(e)})`,
      );
    }
    if (Buffer.byteLength(text) > MAX_SCHEMA_RESPONSE_BYTES) {
      return this.#failed('invalid-schema', `schema id ${id}: the registry's answer is over 1 MiB`);
    }
    const body = decodeJson(text, { maxBytes: MAX_SCHEMA_RESPONSE_BYTES, maxDepth: 8 });
    const answer = (body.ok ? body.value : undefined) as
      | { schema?: unknown; schemaType?: unknown }
      | undefined;
    const schemaText = typeof answer === 'object' && answer !== null ? answer.schema : undefined;
    if (typeof schemaText !== 'string') {
      return this.#failed('invalid-schema', `schema id ${id}: the registry's answer has no "schema" string`);
    }
    const schemaType = answer!.schemaType;
    if (schemaType !== undefined && schemaType !== 'AVRO') {
      return this.#failed(
        'invalid-schema',
        `schema id ${id} is ${String(schemaType)}; this format reads Avro only`,
      );
    }
    try {
      return {
        ok: true,
        compiled: compileAvro(
          parseAvroSchema(schemaText, { maxBytes: MAX_SCHEMA_RESPONSE_BYTES, maxDepth: 256 }),
          this.#longs,
        ),
      };
    } catch (e) {
      // Not retried: an id's schema never changes.
      return {
        ok: false,
        code: 'invalid-schema',
        reason: `schema id ${id} is not a usable Avro schema: ${e instanceof Error ? e.message : String(e)}`,
        until: Number.POSITIVE_INFINITY,
      };
    }
  }
}
