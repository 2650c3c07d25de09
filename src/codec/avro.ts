/**
 * Avro's binary encoding, decoded safely (issue 13: not Kafka-specific; the
 * Kafka format with the schema registry's framing is
 * `connectors/kafka/formats.ts`).
 *
 * Decoded with `avsc` (the library @platformatic/kafka itself depends on,
 * pinned in package.json), behind guards for input that comes from outside:
 * map keys and record field names `__proto__`, `constructor` and `prototype`
 * are refused (avsc writes map entries with `obj[key] =`, which would set a
 * prototype), arrays of items that encode in zero bytes are refused (a
 * ten-byte body could otherwise ask for 2^60 of them), records come out as
 * plain objects, and every body is first walked against its schema without
 * building anything (truncation, trailing bytes, `maxDepth`, and block counts
 * that claim more items than there are bytes left, on which avsc would loop).
 *
 * @example
 * ```ts
 * const t = compileAvro({ type: 'record', name: 'T', fields: [{ name: 'n', type: 'int' }] }, 'number');
 * assert.deepEqual(decodeAvro(t, encodeAvro(t, { n: 42 }), 64, 'schema T'), { ok: true, value: { n: 42 } });
 * ```
 */
import { Buffer } from 'node:buffer';
import avro from 'avsc';
import { type DecodeFailure, type DecodeLimits, decodeJson } from './json.ts';

/** Why an Avro body could not be decoded, beyond the JSON codec's reasons (too-deep, forbidden-key). */
export const AVRO_FAILURES = ['truncated', 'trailing-bytes', 'invalid-schema', 'invalid-avro'] as const;

/** One of {@link AVRO_FAILURES}, or the codec's too-deep and forbidden-key. */
export type AvroFailure = (typeof AVRO_FAILURES)[number] | DecodeFailure;

/** How Avro `long`s come out: numbers within ±(2^53-1) (larger ones fail), or always bigints. */
export type AvroLongs = 'number' | 'bigint';

const FORBIDDEN = new Set(['__proto__', 'constructor', 'prototype']);

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
function longType(longs: AvroLongs): avro.Type {
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

/** A schema compiled with eddy's guards. */
export interface CompiledAvro {
  readonly type: avro.Type;
  /** The schema as given (avsc's own export would show eddy's internal logical types). */
  readonly schema: unknown;
}

/** Compiles an Avro schema with eddy's guards, or throws with the reason. */
export function compileAvro(schema: unknown, longs: AvroLongs): CompiledAvro {
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

type Failure = { readonly ok: false; readonly code: AvroFailure; readonly reason: string };

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
  readonly code: AvroFailure;
  constructor(code: AvroFailure, reason: string) {
    super(reason);
    this.code = code;
  }
}

export function parseAvroSchema(text: string | object, limits: DecodeLimits): unknown {
  if (typeof text !== 'string') return text;
  // A schema is external input too: safe JSON, and a bare name like "string" is a valid Avro schema.
  const r = decodeJson(text, limits);
  if (r.ok) return r.value;
  throw new Error(r.reason);
}

/** A decoded value, or why not. */
export type AvroResult =
  | { readonly ok: true; readonly value: unknown }
  | { readonly ok: false; readonly code: AvroFailure; readonly reason: string };

/**
 * Decodes one Avro body written with `compiled`'s schema; never throws for
 * bad input. `what` names the schema in the reasons (e.g. `schema 7`).
 */
export function decodeAvro(compiled: CompiledAvro, body: Buffer, maxDepth: number, what: string): AvroResult {
  const { type } = compiled;
  const bad = new Walk(body, maxDepth).run(type);
  if (bad !== undefined) return { ok: false, code: bad.code, reason: `${what}: ${bad.reason}` };
  let r: { value: unknown; offset: number };
  try {
    r = type.decode(body, 0);
  } catch (e) {
    if (e instanceof ForbiddenKeyError) return { ok: false, code: 'forbidden-key', reason: e.message };
    if (e instanceof LongRangeError) {
      return { ok: false, code: 'invalid-avro', reason: `value of ${what}: ${e.message}` };
    }
    if (e instanceof RangeError && /call stack/.test(e.message)) {
      return { ok: false, code: 'too-deep', reason: `value of ${what} nests too deep to decode` };
    }
    return {
      ok: false,
      code: 'invalid-avro',
      reason: `not a valid value of ${what}: ${e instanceof Error ? e.message : String(e)}`,
    };
  }
  if (r.offset < 0) {
    return {
      ok: false,
      code: 'truncated',
      reason: `the ${body.length}-byte Avro body ends before a value of ${what} does`,
    };
  }
  if (r.offset < body.length) {
    return {
      ok: false,
      code: 'trailing-bytes',
      reason: `${body.length - r.offset} bytes follow the value of ${what} (body is ${body.length} bytes)`,
    };
  }
  return { ok: true, value: r.value };
}

/** Encodes `value` with `compiled`'s schema; throws naming where in the value it does not fit. */
export function encodeAvro(compiled: CompiledAvro, value: unknown): Buffer {
  const type = compiled.type;
  try {
    return type.toBuffer(value);
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
