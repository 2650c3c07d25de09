/**
 * How `kafkaSource` turns a record's value bytes into a value: JSON (safe, src/codec), a UTF-8
 * string, the raw bytes, or Avro in the Confluent schema-registry wire format.
 *
 * A format's `decode` is synchronous and never throws for bad input: it returns a failure with a
 * code from {@link KAFKA_DECODE_FAILURES} and a reason, which the source dead-letters. Anything a
 * format needs from the network (Avro schemas) is fetched once per batch in `prepare`, so the hot
 * loop has no per-record `await`.
 *
 * Avro is decoded with `avsc` (the library @platformatic/kafka itself depends on, pinned in
 * package.json), behind guards for input that comes from outside: map keys and record field names
 * `__proto__`, `constructor` and `prototype` are refused (avsc writes map entries with `obj[key] =`,
 * which would set a prototype), arrays of items that encode in zero bytes are refused (a ten-byte
 * frame could otherwise ask for 2^60 of them), records come out as plain objects, and every frame is
 * first walked against its schema without building anything (truncation, trailing bytes, `maxDepth`,
 * and block counts that claim more items than there are bytes left, on which avsc would loop).
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
import avro from 'avsc';
import { DECODE_FAILURES, type DecodeLimits, decodeJson, resolveDecodeLimits } from '../../codec/index.ts';
import { configError } from '../../errors/index.ts';

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

// --- Confluent schema-registry framing -------------------------------------------------------------

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

// --- Avro -------------------------------------------------------------------------------------------

/** Where schemas come from when they are not in `schemas`. */
export interface SchemaRegistryOptions {
  /** Base URL, e.g. `http://registry:8081`; schemas are read from `GET {url}/schemas/ids/{id}`. */
  readonly url: string;
  /** How long one schema fetch may take, body included. Default 5,000 ms. */
  readonly timeoutMs?: number;
  /** Extra request headers (e.g. `authorization`). */
  readonly headers?: Readonly<Record<string, string>>;
}

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
  readonly longs?: 'number' | 'bigint';
}

/** An Avro format: decodes frames for `kafkaSource` and encodes them (for a sink's value function). */
export interface AvroFormat extends KafkaFormat {
  /** Encodes `value` with the schema of `schemaId` (it must be known: static, or fetched before) and frames it. */
  encode(schemaId: number, value: unknown): Buffer;
  /** Fetches (if needed) the schema of `schemaId`; resolves to a failure instead of rejecting. */
  schema(schemaId: number): Promise<KafkaDecodeResult>;
}

const FORBIDDEN = new Set(['__proto__', 'constructor', 'prototype']);
const MAX_SCHEMA_RESPONSE_BYTES = 1024 * 1024;

class ForbiddenKeyError extends Error {}

// Records come out as plain objects (avsc makes instances of a generated class per record type).
class PlainRecord extends avro.types.LogicalType {
  protected override _fromValue(value: object): unknown {
    return { ...value };
  }
  protected override _toValue(value: unknown): unknown {
    return value;
  }
}

// Maps are read as what they are on the wire, an array of key/value pairs, and built here, so that a
// key like "__proto__" is refused before it reaches an object.
class SafeMap extends avro.types.LogicalType {
  protected override _fromValue(entries: readonly { key: string; value: unknown }[]): unknown {
    const out: Record<string, unknown> = {};
    for (const e of entries) {
      if (FORBIDDEN.has(e.key)) throw new ForbiddenKeyError(`map key ${JSON.stringify(e.key)} is forbidden`);
      out[e.key] = e.value;
    }
    return out;
  }
  protected override _toValue(value: unknown): unknown {
    if (typeof value !== 'object' || value === null) return value;
    return Object.keys(value).map((key) => ({ key, value: (value as Record<string, unknown>)[key] }));
  }
  // Field defaults and JSON give a map as an object, not as the entries underneath: convert first
  // (avsc's own copy would hand the object to the array type when reading a default).
  _copy(value: unknown, opts: unknown): unknown {
    const under = this.underlyingType as unknown as { _copy(v: unknown, o: unknown): unknown };
    return this._fromValue(under._copy(this._toValue(value), opts) as { key: string; value: unknown }[]);
  }
}

class LongRangeError extends Error {}

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

// avsc's own long goes through a double and is exact only up to 2^52 in magnitude (a zig-zag encoded
// -(2^52)-1 needs 54 bits); these read the eight bytes avsc unpacks instead, exactly.
function longType(longs: 'number' | 'bigint'): avro.Type {
  const toBuffer = (n: number | bigint): Buffer => {
    const b = Buffer.alloc(8);
    b.writeBigInt64LE(BigInt(n));
    return b;
  };
  const compare = (a: number | bigint, b: number | bigint) => (a < b ? -1 : a > b ? 1 : 0);
  if (longs === 'bigint') {
    return avro.types.LongType.__with({
      fromBuffer: (b: Buffer) => b.readBigInt64LE(0),
      toBuffer,
      fromJSON: (n: number | string) => BigInt(n),
      toJSON: (n: bigint) => (n >= -MAX_SAFE && n <= MAX_SAFE ? Number(n) : n.toString()),
      isValid: (n: unknown) =>
        (typeof n === 'bigint' && n >= -(2n ** 63n) && n < 2n ** 63n) || Number.isSafeInteger(n),
      compare,
    });
  }
  return avro.types.LongType.__with({
    fromBuffer(b: Buffer) {
      const n = b.readBigInt64LE(0);
      if (n > MAX_SAFE || n < -MAX_SAFE) {
        throw new LongRangeError(`long ${n} is beyond ±(2^53-1); use avroFormat({ longs: 'bigint' })`);
      }
      return Number(n);
    },
    toBuffer,
    fromJSON: (n: number) => n,
    toJSON: (n: number) => n,
    isValid: (n: unknown) => Number.isSafeInteger(n),
    compare,
  });
}

const PLAIN = 'eddy.plain-record';
const MAP = 'eddy.safe-map';

interface Compiled {
  readonly type: avro.Type;
  /** The schema as given (avsc's own export would show eddy's internal logical types). */
  readonly schema: unknown;
}

type SchemaEntry = { readonly ok: true; readonly compiled: Compiled } | FailedEntry;
interface FailedEntry {
  readonly ok: false;
  readonly code: KafkaDecodeFailure;
  readonly reason: string;
  readonly until: number;
}

/** Compiles an Avro schema with eddy's guards, or throws with the reason. */
function compileAvro(schema: unknown, longs: 'number' | 'bigint'): Compiled {
  const long = longType(longs);
  const typeHook = (s: avro.Schema, opts: Partial<avro.ForSchemaOptions>): avro.Type | undefined => {
    if (s === 'long') return long;
    if (typeof s !== 'object' || s === null || Array.isArray(s)) return undefined;
    const o = s as Record<string, unknown>;
    if (o['logicalType'] === PLAIN || o['logicalType'] === MAP) return undefined;
    // Other logical types of a long (timestamp-millis, …) are read as the long itself.
    if (o['type'] === 'long') return long;
    if (typeof o['name'] === 'string') {
      const short = o['name'].slice(o['name'].lastIndexOf('.') + 1);
      if (FORBIDDEN.has(short)) throw new Error(`type name ${JSON.stringify(o['name'])} is forbidden`);
    }
    if (o['type'] === 'record' || o['type'] === 'error') {
      const fields = Array.isArray(o['fields']) ? (o['fields'] as unknown[]) : [];
      for (const f of fields) {
        const name = (f as { name?: unknown } | null)?.name;
        if (typeof name === 'string' && FORBIDDEN.has(name)) {
          throw new Error(`record field name ${JSON.stringify(name)} is forbidden`);
        }
      }
      return new PlainRecord({ ...o, logicalType: PLAIN } as avro.Schema, opts);
    }
    if (o['type'] === 'map') {
      const entries = {
        type: 'array',
        items: {
          type: 'record',
          fields: [
            { name: 'key', type: 'string' },
            { name: 'value', type: o['values'] },
          ],
        },
        logicalType: MAP,
      };
      return new SafeMap(entries as avro.Schema, opts);
    }
    return undefined;
  };
  const type = avro.Type.forSchema(schema as avro.Schema, {
    typeHook,
    omitRecordMethods: true,
    // A union decodes to its branch's value, as JSON would have it (the branch index is on the wire);
    // encoding picks the first branch the value is valid for.
    wrapUnions: 'never',
    // Logical types the schema names (decimal, timestamp-millis, …) decode as their underlying type.
    logicalTypes: { [PLAIN]: PlainRecord, [MAP]: SafeMap },
    assertLogicalTypes: true,
  });
  checkArrays(type);
  return { type, schema };
}

// avsc reads an array block of n items by looping n times; if an item can take zero bytes (null, an
// empty record) the count is not bounded by the input, so such schemas are refused.
function checkArrays(root: avro.Type): void {
  const seen = new Set<avro.Type>();
  const stack: avro.Type[] = [root];
  while (stack.length > 0) {
    const t = stack.pop()!;
    if (seen.has(t)) continue;
    seen.add(t);
    for (const child of childrenOf(t)) stack.push(child);
    const anyT = t as unknown as { typeName: string; itemsType?: avro.Type };
    if (
      anyT.typeName === 'array' &&
      anyT.itemsType !== undefined &&
      minSize(anyT.itemsType, new Set()) === 0
    ) {
      throw new Error('an array whose items can encode in zero bytes (e.g. null) is not accepted');
    }
  }
}

function childrenOf(t: avro.Type): avro.Type[] {
  const a = t as unknown as {
    underlyingType?: avro.Type;
    itemsType?: avro.Type;
    valuesType?: avro.Type;
    types?: avro.Type[];
    fields?: { type: avro.Type }[];
  };
  const out: avro.Type[] = [];
  if (t instanceof avro.types.LogicalType) out.push(a.underlyingType!);
  if (a.itemsType !== undefined) out.push(a.itemsType);
  if (a.valuesType !== undefined) out.push(a.valuesType);
  if (Array.isArray(a.types)) out.push(...a.types);
  if (Array.isArray(a.fields)) for (const f of a.fields) out.push(f.type);
  return out;
}

function minSize(t: avro.Type, visiting: Set<avro.Type>): number {
  if (visiting.has(t)) return 1; // a recursive reference goes through a union or a collection
  const a = t as unknown as { typeName: string; size?: number; fields?: { type: avro.Type }[] };
  if (t instanceof avro.types.LogicalType) return minSize(t.underlyingType, visiting);
  switch (a.typeName) {
    case 'null':
      return 0;
    case 'fixed':
      return a.size ?? 0;
    case 'record':
    case 'error': {
      visiting.add(t);
      let n = 0;
      for (const f of a.fields ?? []) n += minSize(f.type, visiting);
      visiting.delete(t);
      return n;
    }
    default:
      return 1;
  }
}

type Failure = { readonly ok: false; readonly code: KafkaDecodeFailure; readonly reason: string };

/**
 * Walks an Avro body against its type without building values, and says what is wrong with it:
 * truncated (also: a block count larger than the bytes left, as every item takes at least one byte),
 * trailing bytes, nesting beyond `maxDepth` (records, arrays and maps are one level each, as objects
 * and arrays are in JSON), a bad union index or length. Its work is bounded by the body's length, so
 * avsc only ever reads bodies that fit.
 */
class Walk {
  pos = 0;
  readonly buf: Buffer;
  readonly maxDepth: number;
  constructor(buf: Buffer, maxDepth: number) {
    this.buf = buf;
    this.maxDepth = maxDepth;
  }

  run(type: avro.Type): Failure | undefined {
    try {
      this.#type(type, 0);
    } catch (e) {
      if (e instanceof WalkFailure) return { ok: false, code: e.code, reason: e.message };
      if (e instanceof RangeError)
        return { ok: false, code: 'too-deep', reason: 'value nests too deep to decode' };
      throw e;
    }
    if (this.pos < this.buf.length) {
      return {
        ok: false,
        code: 'trailing-bytes',
        reason: `${this.buf.length - this.pos} bytes follow the value (body is ${this.buf.length} bytes)`,
      };
    }
    return undefined;
  }

  #truncated(what: string): never {
    throw new WalkFailure(
      'truncated',
      `the ${this.buf.length}-byte body ends inside ${what} (at byte ${this.pos})`,
    );
  }

  // A zig-zag varint as a double: exact to 2^53, and only compared with lengths beyond that.
  #varint(what: string): number {
    let z = 0;
    let scale = 1;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.buf.length) this.#truncated(what);
      const b = this.buf[this.pos++]!;
      z += (b & 0x7f) * scale;
      if ((b & 0x80) === 0) return z % 2 === 0 ? z / 2 : -(z + 1) / 2;
      scale *= 128;
    }
    throw new WalkFailure('invalid-avro', `${what} is a varint longer than 10 bytes (at byte ${this.pos})`);
  }

  #take(n: number, what: string): void {
    if (n > this.buf.length - this.pos) this.#truncated(what);
    this.pos += n;
  }

  #length(what: string): void {
    const n = this.#varint(`the length of ${what}`);
    if (n < 0) throw new WalkFailure('invalid-avro', `${what} has a negative length ${n}`);
    this.#take(n, what);
  }

  #nest(depth: number): number {
    if (depth + 1 > this.maxDepth) {
      throw new WalkFailure('too-deep', `value nests deeper than maxDepth ${this.maxDepth}`);
    }
    return depth + 1;
  }

  #blocks(what: string, item: () => void): void {
    for (;;) {
      let n = this.#varint(`the item count of ${what}`);
      if (n === 0) return;
      if (n < 0) {
        n = -n;
        this.#varint(`the byte size of ${what}`);
      }
      // Every item takes at least one byte (schemas with zero-byte items are refused).
      if (n > this.buf.length - this.pos) {
        throw new WalkFailure(
          'truncated',
          `${what} claims ${n} items but ${this.buf.length - this.pos} bytes are left (at byte ${this.pos})`,
        );
      }
      for (let i = 0; i < n; i++) item();
    }
  }

  #type(type: avro.Type, depth: number): void {
    const t = type as unknown as {
      typeName: string;
      underlyingType?: avro.Type;
      fields?: readonly { type: avro.Type }[];
      itemsType?: avro.Type;
      valuesType?: avro.Type;
      types?: readonly avro.Type[];
      size?: number;
    };
    const name = t.typeName;
    if (name.startsWith('logical:')) {
      this.#type(t.underlyingType!, depth);
      return;
    }
    switch (name) {
      case 'null':
        return;
      case 'boolean':
        this.#take(1, 'a boolean');
        return;
      case 'int':
      case 'long':
      case 'abstract:long':
        this.#varint(name === 'int' ? 'an int' : 'a long');
        return;
      case 'enum':
        this.#varint('an enum index');
        return;
      case 'float':
        this.#take(4, 'a float');
        return;
      case 'double':
        this.#take(8, 'a double');
        return;
      case 'bytes':
        this.#length('bytes');
        return;
      case 'string':
        this.#length('a string');
        return;
      case 'fixed':
        this.#take(t.size ?? 0, 'a fixed');
        return;
      case 'record':
      case 'error': {
        const d = this.#nest(depth);
        for (const f of t.fields ?? []) this.#type(f.type, d);
        return;
      }
      case 'array': {
        const d = this.#nest(depth);
        const items = t.itemsType!;
        this.#blocks('an array', () => this.#type(items, d));
        return;
      }
      case 'map': {
        const d = this.#nest(depth);
        const values = t.valuesType!;
        this.#blocks('a map', () => {
          this.#length('a map key');
          this.#type(values, d);
        });
        return;
      }
      default: {
        if (!name.startsWith('union'))
          throw new WalkFailure('invalid-schema', `unsupported Avro type ${name}`);
        const branches = t.types ?? [];
        const at = this.pos;
        const i = this.#varint('a union index');
        const branch = branches[i];
        if (branch === undefined) {
          throw new WalkFailure(
            'invalid-avro',
            `union index ${i} at byte ${at}; the union has ${branches.length} branches`,
          );
        }
        this.#type(branch, depth);
      }
    }
  }
}

class WalkFailure extends Error {
  readonly code: KafkaDecodeFailure;
  constructor(code: KafkaDecodeFailure, reason: string) {
    super(reason);
    this.code = code;
  }
}

function parseSchemaText(text: string | object, limits: DecodeLimits): unknown {
  if (typeof text !== 'string') return text;
  // A schema is external input too: safe JSON, and a bare name like "string" is a valid Avro schema.
  const r = decodeJson(text, limits);
  if (r.ok) return r.value;
  throw new Error(r.reason);
}

/**
 * Avro values in the Confluent schema-registry wire format: byte 0 is 0, bytes 1–4 the schema id
 * (big-endian), the rest the Avro binary encoding with that schema (the writer's; values are read
 * with it as they were written). Schemas come from `schemas`, else from the registry (cached per id,
 * fetches bounded by `timeoutMs`, one request per id at a time). Bad frames, unknown ids and failed
 * fetches are decode failures with the reason; the pipeline keeps going.
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
  const registry = options?.registry;
  let base: string | undefined;
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
    base = registry.url.replace(/\/+$/, '');
    timeoutMs = registry.timeoutMs ?? 5000;
    if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) {
      throw configError(
        'avroFormat registry.timeoutMs must be > 0',
        timeoutMs,
        'pass milliseconds, e.g. 5000',
      );
    }
  }
  const cache = new Map<number, SchemaEntry>();
  for (const [id, schema] of Object.entries(options?.schemas ?? {})) {
    const n = Number(id);
    if (!Number.isInteger(n) || n < 0 || n > 0x7fffffff) {
      throw configError('avroFormat schemas must be keyed by schema id', id, 'use ids from 0 to 2^31-1');
    }
    try {
      cache.set(n, { ok: true, compiled: compileAvro(parseSchemaText(schema, limits), longs) });
    } catch (e) {
      throw configError(
        `avroFormat schema ${n} is not a usable Avro schema (${e instanceof Error ? e.message : String(e)})`,
        schema,
        'fix the schema',
      );
    }
  }
  if (base === undefined && cache.size === 0) {
    throw configError(
      'avroFormat needs schemas or a registry',
      options,
      'pass { registry: { url } } or { schemas }',
    );
  }
  const pending = new Map<number, Promise<void>>();

  const failed = (code: KafkaDecodeFailure, reason: string): FailedEntry => ({
    ok: false,
    code,
    reason,
    until: Date.now() + retryAfterMs,
  });

  async function fetchSchema(id: number, url: string): Promise<SchemaEntry> {
    const where = `${url}/schemas/ids/${id}`;
    let text: string;
    try {
      const res = await fetch(where, {
        headers: { accept: 'application/vnd.schemaregistry.v1+json, application/json', ...registry?.headers },
        signal: AbortSignal.timeout(timeoutMs),
      });
      text = await res.text();
      if (res.status === 404)
        return failed('unknown-schema-id', `schema id ${id} is not in the registry (${where}: HTTP 404)`);
      if (!res.ok)
        return failed('schema-fetch-failed', `schema id ${id}: ${where} answered HTTP ${res.status}`);
    } catch (e) {
      const timedOut = e instanceof Error && (e.name === 'TimeoutError' || e.name === 'AbortError');
      return failed(
        'schema-fetch-failed',
        timedOut
          ? `schema id ${id}: ${where} did not answer within ${timeoutMs} ms`
          : `schema id ${id}: ${where} failed (${e instanceof Error ? (e.cause instanceof Error ? e.cause.message : e.message) : String(e)})`,
      );
    }
    if (Buffer.byteLength(text) > MAX_SCHEMA_RESPONSE_BYTES) {
      return failed('invalid-schema', `schema id ${id}: the registry's answer is over 1 MiB`);
    }
    const body = decodeJson(text, { maxBytes: MAX_SCHEMA_RESPONSE_BYTES, maxDepth: 8 });
    const answer = (body.ok ? body.value : undefined) as
      | { schema?: unknown; schemaType?: unknown }
      | undefined;
    const schemaText = typeof answer === 'object' && answer !== null ? answer.schema : undefined;
    if (typeof schemaText !== 'string') {
      return failed('invalid-schema', `schema id ${id}: the registry's answer has no "schema" string`);
    }
    const schemaType = answer!.schemaType;
    if (schemaType !== undefined && schemaType !== 'AVRO') {
      return failed(
        'invalid-schema',
        `schema id ${id} is ${String(schemaType)}; this format reads Avro only`,
      );
    }
    try {
      return {
        ok: true,
        compiled: compileAvro(
          parseSchemaText(schemaText, { maxBytes: MAX_SCHEMA_RESPONSE_BYTES, maxDepth: 256 }),
          longs,
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

  function ensure(id: number): Promise<void> | undefined {
    const have = cache.get(id);
    if (have !== undefined && (have.ok || have.until > Date.now())) return undefined;
    if (base === undefined) return undefined;
    let p = pending.get(id);
    if (p === undefined) {
      p = fetchSchema(id, base).then((entry) => {
        cache.set(id, entry);
        pending.delete(id);
      });
      pending.set(id, p);
    }
    return p;
  }

  function lookup(id: number): SchemaEntry {
    const have = cache.get(id);
    if (have !== undefined) return have;
    if (id < 0) return failed('unknown-schema-id', `schema id ${id} is negative`);
    return base === undefined
      ? failed('unknown-schema-id', `schema id ${id} is not in the format's schemas and no registry is set`)
      : failed('schema-fetch-failed', `schema id ${id} was not fetched before decoding`);
  }

  return {
    name: 'avro',
    prepare(values) {
      let waits: Promise<void>[] | undefined;
      for (const v of values) {
        if (v == null || v.byteLength < FRAME_HEADER_BYTES || v[0] !== MAGIC_BYTE) continue;
        const id = (v[1]! << 24) | (v[2]! << 16) | (v[3]! << 8) | v[4]!;
        if (id < 0) continue;
        const p = ensure(id);
        if (p !== undefined && !(waits ??= []).includes(p)) waits.push(p);
      }
      return waits === undefined ? undefined : Promise.all(waits).then(() => {});
    },
    decode(value) {
      const bytes = value ?? EMPTY;
      if (bytes.byteLength > limits.maxBytes) return tooLarge(bytes.byteLength, limits.maxBytes);
      const frame = unframeSchemaRegistry(bytes);
      if (!frame.ok) return frame;
      const entry = lookup(frame.schemaId);
      if (!entry.ok) return { ok: false, code: entry.code, reason: entry.reason };
      const { type } = entry.compiled;
      const id = frame.schemaId;
      const bad = new Walk(frame.payload, limits.maxDepth).run(type);
      if (bad !== undefined) return { ok: false, code: bad.code, reason: `schema ${id}: ${bad.reason}` };
      let r: { value: unknown; offset: number };
      try {
        r = type.decode(frame.payload, 0);
      } catch (e) {
        if (e instanceof ForbiddenKeyError) return { ok: false, code: 'forbidden-key', reason: e.message };
        if (e instanceof LongRangeError) {
          return { ok: false, code: 'invalid-avro', reason: `value of schema ${id}: ${e.message}` };
        }
        if (e instanceof RangeError && /call stack/.test(e.message)) {
          return { ok: false, code: 'too-deep', reason: `value of schema ${id} nests too deep to decode` };
        }
        return {
          ok: false,
          code: 'invalid-avro',
          reason: `not a valid value of schema ${id}: ${e instanceof Error ? e.message : String(e)}`,
        };
      }
      if (r.offset < 0) {
        return {
          ok: false,
          code: 'truncated',
          reason: `the ${frame.payload.length}-byte Avro body ends before a value of schema ${id} does`,
        };
      }
      if (r.offset < frame.payload.length) {
        return {
          ok: false,
          code: 'trailing-bytes',
          reason: `${frame.payload.length - r.offset} bytes follow the value of schema ${id} (body is ${frame.payload.length} bytes)`,
        };
      }
      return { ok: true, value: r.value };
    },
    encode(schemaId, value) {
      const entry = cache.get(schemaId);
      if (entry === undefined || !entry.ok) {
        throw configError(
          `avroFormat has no schema ${schemaId} to encode with`,
          schemaId,
          'list it in schemas, or await format.schema(id) first',
        );
      }
      const type = entry.compiled.type;
      let body: Buffer;
      try {
        body = type.toBuffer(value);
      } catch (e) {
        // avsc says only which type refused which value; the path says where in the record.
        const wrong: string[] = [];
        type.isValid(value, {
          errorHook: (path: string[], v: unknown, t: avro.Type) => {
            if (wrong.length < 3)
              wrong.push(
                `${path.length === 0 ? 'the record' : path.join('.')}: ${shown(v)} is not ${t.typeName ?? 'valid'}`,
              );
          },
        });
        throw new Error(wrong.length > 0 ? wrong.join('; ') : e instanceof Error ? e.message : String(e));
      }
      return frameSchemaRegistry(schemaId, body);
    },
    async schema(schemaId) {
      await ensure(schemaId);
      const entry = lookup(schemaId);
      return entry.ok ? { ok: true, value: entry.compiled.schema } : entry;
    },
  };
}

/** A value in a message, short. */
function shown(v: unknown): string {
  let text: string;
  try {
    text = typeof v === 'bigint' ? `${v}n` : (JSON.stringify(v) ?? String(v));
  } catch {
    text = String(v);
  }
  return text.length > 80 ? `${text.slice(0, 80)}…` : text;
}
