/**
 * The encoding of state chunks: flat `[key, namespace, value, key, ...]`
 * entries, written straight from a backend's maps into one growing buffer.
 *
 * Written here rather than with msgpackr because a checkpoint of large heap
 * state is dominated by this loop: on 1M window accumulators
 * `[key, namespace, {n, sum}]` msgpackr's generic `pack` of the flat array
 * took ~450 ns per entry inside a running pipeline (a third of its CPU while
 * checkpointing every second), this writer ~250 ns there, most of it the
 * cache miss of reading a scattered value (`#flushRun`). It covers what state
 * values are made of — numbers, strings, booleans, null, undefined, plain
 * arrays and plain objects (records: the key list of each object shape is
 * written once per chunk) — and hands anything else (Map, Set, Date, bigint,
 * typed arrays, class instances) to msgpackr as an embedded blob, so every
 * value that round-tripped before still does, the same way.
 *
 * A chunk starts with 0xc1 (a byte msgpack never uses), then a version byte
 * and the entry count; a namespace equal to the entry before's is one byte
 * (a window's start would be nine per entry). `decodeEntries` returns the
 * flat array.
 */
import { deserialize, serialize } from 'node:v8';
import { Packr, Unpackr } from 'msgpackr';

/** The first byte of an entries chunk. */
export const ENTRIES_MAGIC = 0xc1;
const VERSION = 1;

// Value tags. 0x00–0x7f is itself a small non-negative integer.
const T_UNDEFINED = 0x80;
const T_NULL = 0x81;
const T_FALSE = 0x82;
const T_TRUE = 0x83;
const T_INT32 = 0x84;
const T_FLOAT64 = 0x85;
const T_STRING = 0x86;
const T_ARRAY = 0x87;
const T_RECORD = 0x88;
const T_NEW_SHAPE = 0x89;
const T_PACKED = 0x8a;
const T_UINT8 = 0x8b;
const T_UINT16 = 0x8c;
/** In the namespace position only: the same namespace as the entry before (a window start, often 9 bytes). */
const T_SAME_NAMESPACE = 0x8d;
// A string that is not well-formed UTF-16 (a lone surrogate): UTF-8 has no encoding for it, so its
// code units are written as they are (UTF-16LE). Issue 19: keys like '\uD800' came back as U+FFFD.
const T_STRING16 = 0x8e;
// A value msgpackr would not give back exactly (a string inside it with a lone surrogate): v8.serialize.
const T_V8 = 0x8f;
/** U+FFFD in UTF-8: what msgpackr writes for a lone surrogate. */
export const REPLACEMENT = Buffer.from([0xef, 0xbf, 0xbd]);

/** The writer's buffer: its first size, and the largest it keeps between chunks. */
const INITIAL = 1 << 16;
const MAX_KEPT = 1 << 22;

/** Entries buffered before they are written (see `EntryWriter#flushRun`). */
const RUN = 128;

const MSGPACK_OPTIONS = { useRecords: true, moreTypes: true, mapsAsObjects: false } as const;

/** Writes entries into one buffer, reused from chunk to chunk (`finish` copies the bytes out). */
export class EntryWriter {
  #buf: Buffer = Buffer.allocUnsafe(INITIAL);
  #view: DataView = new DataView(this.#buf.buffer, this.#buf.byteOffset, this.#buf.byteLength);
  #pos = 0;
  #count = 0;
  // Object shapes of the current chunk: key list -> id, and the last one used at each depth (the usual hit).
  #shapes = new Map<string, number>();
  #shapeKeys: string[][] = [];
  #last: (string[] | undefined)[] = [];
  #lastId: number[] = [];
  // The run of entries not written yet.
  readonly #runKeys: unknown[] = new Array(RUN);
  readonly #runNamespaces: number[] = new Array(RUN).fill(0);
  readonly #runValues: unknown[] = new Array(RUN);
  #run = 0;
  #lastNamespace = Number.NaN;
  // Keeps the touch loop's result observable, so it is not optimised away.
  #touched = 0;

  /** Starts a new chunk (drops whatever was written since the last `finish`). */
  begin(): void {
    this.#pos = 0;
    this.#count = 0;
    this.#run = 0;
    this.#lastNamespace = Number.NaN;
    this.#runValues.fill(undefined);
    this.#runKeys.fill(undefined);
    this.#shapes.clear();
    this.#shapeKeys = [];
    this.#last = [];
    this.#lastId = [];
    // Header: magic, version, then the count (patched in by finish) as a fixed 4-byte field.
    this.#ensure(6);
    this.#buf[0] = ENTRIES_MAGIC;
    this.#buf[1] = VERSION;
    this.#pos = 6;
  }

  /** Appends one entry (buffered: written in runs of {@link RUN}, see `#flushRun`). */
  entry(key: unknown, namespace: number, value: unknown): void {
    const n = this.#run;
    this.#runKeys[n] = key;
    this.#runNamespaces[n] = namespace;
    this.#runValues[n] = value;
    if ((this.#run = n + 1) === RUN) this.#flushRun();
    this.#count++;
  }

  /**
   * Writes the buffered run. State values are scattered over the heap, so
   * reading one is a cache miss; a tight loop that only touches each value
   * lets the CPU overlap those misses, and the encoding loop after it then
   * finds the values in cache. Measured on 1M accumulators allocated in
   * random order: ~290 ns per entry without the touch loop, ~150 with it.
   */
  #flushRun(): void {
    const n = this.#run;
    const keys = this.#runKeys;
    const namespaces = this.#runNamespaces;
    const values = this.#runValues;
    let touched = 0;
    for (let i = 0; i < n; i++) {
      const v = values[i];
      if (typeof v === 'object' && v !== null && (v as { constructor?: unknown }).constructor === Object)
        touched++;
    }
    this.#touched += touched;
    for (let i = 0; i < n; i++) {
      this.#value(keys[i], 0);
      const ns = namespaces[i]!;
      const last = this.#lastNamespace;
      // NaN never equals itself, so it is written each time; 0 and -0 are told apart.
      if (ns === last && (ns !== 0 || Object.is(ns, last))) this.#tag(T_SAME_NAMESPACE);
      else {
        this.#value(ns, 0);
        this.#lastNamespace = ns;
      }
      this.#value(values[i], 0);
      values[i] = undefined;
      keys[i] = undefined;
    }
    this.#run = 0;
  }

  /** The number of entries since `begin`. */
  get count(): number {
    return this.#count;
  }

  /** The chunk's bytes (a copy; the writer's buffer is reused). */
  finish(): Uint8Array {
    this.#flushRun();
    this.#view.setUint32(2, this.#count, true);
    // Not zero-filled (every byte is copied over), and not a view of the shared pool.
    const out = Buffer.allocUnsafeSlow(this.#pos);
    this.#buf.copy(out, 0, 0, this.#pos);
    // One huge key group must not keep its buffer's size alive for the life of the process.
    if (this.#buf.length > MAX_KEPT) this.#setBuffer(Buffer.allocUnsafe(INITIAL));
    return out;
  }

  #setBuffer(buf: Buffer): void {
    this.#buf = buf;
    this.#view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }

  #ensure(n: number): void {
    if (this.#pos + n <= this.#buf.length) return;
    let size = this.#buf.length * 2;
    while (size < this.#pos + n) size *= 2;
    const next = Buffer.allocUnsafe(size);
    this.#buf.copy(next, 0, 0, this.#pos);
    this.#setBuffer(next);
  }

  #varint(n: number): void {
    this.#ensure(5);
    const buf = this.#buf;
    while (n >= 0x80) {
      buf[this.#pos++] = (n & 0x7f) | 0x80;
      n >>>= 7;
    }
    buf[this.#pos++] = n;
  }

  #tag(t: number): void {
    this.#ensure(1);
    this.#buf[this.#pos++] = t;
  }

  /** Writes `s` as UTF-8; false, having written nothing, when it is not well-formed (see T_STRING16). */
  #string(s: string): boolean {
    const n = s.length;
    if (n < 128) {
      // Short strings are mostly ASCII: copy char codes, fall back on the first wider one.
      this.#ensure(n + 1);
      const buf = this.#buf;
      const start = this.#pos;
      buf[start] = n;
      let i = 0;
      for (; i < n; i++) {
        const c = s.charCodeAt(i);
        if (c >= 0x80) break;
        buf[start + 1 + i] = c;
      }
      if (i === n) {
        this.#pos = start + 1 + n;
        return true;
      }
    }
    if (!s.isWellFormed()) return false;
    const bytes = Buffer.byteLength(s, 'utf8');
    this.#varint(bytes);
    this.#ensure(bytes);
    this.#pos += this.#buf.write(s, this.#pos, bytes, 'utf8');
    return true;
  }

  #value(v: unknown, depth: number): void {
    switch (typeof v) {
      case 'number': {
        if ((v | 0) === v && (v !== 0 || 1 / v > 0)) {
          if (v >= 0 && v < 0x10000) {
            if (v < 0x80) {
              this.#tag(v);
              return;
            }
            this.#ensure(3);
            const buf = this.#buf;
            const p = this.#pos;
            if (v < 0x100) {
              buf[p] = T_UINT8;
              buf[p + 1] = v;
              this.#pos = p + 2;
            } else {
              buf[p] = T_UINT16;
              buf[p + 1] = v & 0xff;
              buf[p + 2] = v >>> 8;
              this.#pos = p + 3;
            }
            return;
          }
          this.#ensure(5);
          this.#buf[this.#pos] = T_INT32;
          this.#view.setInt32(this.#pos + 1, v, true);
          this.#pos += 5;
        } else {
          this.#ensure(9);
          this.#buf[this.#pos] = T_FLOAT64;
          this.#view.setFloat64(this.#pos + 1, v, true);
          this.#pos += 9;
        }
        return;
      }
      case 'string': {
        const at = this.#pos;
        this.#tag(T_STRING);
        if (this.#string(v)) return;
        this.#pos = at;
        this.#tag(T_STRING16);
        this.#varint(v.length);
        this.#ensure(v.length * 2);
        this.#pos += this.#buf.write(v, this.#pos, v.length * 2, 'utf16le');
        return;
      }
      case 'boolean':
        this.#tag(v ? T_TRUE : T_FALSE);
        return;
      case 'undefined':
        this.#tag(T_UNDEFINED);
        return;
      case 'object': {
        if (v === null) {
          this.#tag(T_NULL);
          return;
        }
        if (depth < 64) {
          // `constructor` rather than getPrototypeOf: an inline-cached load, ~40 ns less per value here.
          // An own property named constructor makes a plain object go the msgpackr way: still exact.
          const c = (v as { constructor?: unknown }).constructor;
          if (c === Object) {
            this.#record(v as Record<string, unknown>, depth);
            return;
          }
          if (c === Array && Array.isArray(v)) {
            this.#array(v, depth);
            return;
          }
        }
        break;
      }
    }
    this.#packed(v);
  }

  #array(a: unknown[], depth: number): void {
    this.#tag(T_ARRAY);
    this.#varint(a.length);
    for (let i = 0; i < a.length; i++) this.#value(a[i], depth + 1);
  }

  #record(o: Record<string, unknown>, depth: number): void {
    // Optimistically the shape of the last record at this depth, values written as the for-in
    // walks the object (V8 reads `o[k]` inside for-in from its enum cache: no lookup, no
    // allocation). On a mismatch, rewind and take the slow path.
    const last = this.#last[depth];
    if (last !== undefined) {
      const start = this.#pos;
      const shapes = this.#shapeKeys.length;
      this.#tag(T_RECORD);
      this.#varint(this.#lastId[depth]!);
      let i = 0;
      let same = true;
      for (const k in o) {
        if (i >= last.length || last[i] !== k) {
          same = false;
          break;
        }
        this.#value(o[k], depth + 1);
        i++;
      }
      if (same && i === last.length) return;
      this.#pos = start;
      this.#forgetShapesFrom(shapes, depth);
    }
    const own: string[] = [];
    let wellFormed = true;
    for (const k in o) {
      own.push(k);
      if (!k.isWellFormed()) wellFormed = false;
    }
    // A field name with a lone surrogate cannot be a shape's (UTF-8) name: the exact way instead.
    if (!wellFormed) {
      this.#packed(o);
      return;
    }
    const sig = JSON.stringify(own);
    let id = this.#shapes.get(sig);
    if (id === undefined) {
      id = this.#shapeKeys.length;
      this.#shapes.set(sig, id);
      this.#shapeKeys.push(own);
      this.#tag(T_NEW_SHAPE);
      this.#varint(own.length);
      for (const k of own) this.#string(k);
    } else {
      this.#tag(T_RECORD);
      this.#varint(id);
    }
    this.#last[depth] = own;
    this.#lastId[depth] = id;
    for (const k in o) this.#value(o[k], depth + 1);
  }

  /** Drops shapes defined in bytes that were rewound (a nested value's), and the caches that may name them. */
  #forgetShapesFrom(count: number, depth: number): void {
    if (this.#shapeKeys.length === count) return;
    for (let s = count; s < this.#shapeKeys.length; s++)
      this.#shapes.delete(JSON.stringify(this.#shapeKeys[s]));
    this.#shapeKeys.length = count;
    this.#last.length = depth + 1;
    this.#lastId.length = depth + 1;
  }

  #packed(v: unknown): void {
    let bytes: Uint8Array = new Packr(MSGPACK_OPTIONS).pack(v);
    // msgpackr writes U+FFFD for a lone surrogate: such a value goes through v8.serialize, which keeps strings exact.
    if ((bytes as Buffer).indexOf(REPLACEMENT) >= 0) {
      bytes = serialize(v);
      this.#tag(T_V8);
      this.#varint(bytes.length);
      this.#ensure(bytes.length);
      this.#buf.set(bytes, this.#pos);
      this.#pos += bytes.length;
      return;
    }
    this.#tag(T_PACKED);
    this.#varint(bytes.length);
    this.#ensure(bytes.length);
    this.#buf.set(bytes, this.#pos);
    this.#pos += bytes.length;
  }
}

/** Reads a chunk written by {@link EntryWriter} back into flat `[key, namespace, value, ...]`. */
export function decodeEntries(bytes: Uint8Array): unknown[] {
  const out: unknown[] = [];
  new EntryReader(bytes).read(out);
  return out;
}

/** One reader for `decodeEntriesInto`: many small chunks (a changelog's entry records) without a reader each. */
let shared: EntryReader | undefined;

/**
 * Appends the entries of `bytes` to `out` (flat, as `decodeEntries` returns
 * them): for decoding many small chunks, such as one-entry records, without
 * an array and a reader per chunk.
 */
export function decodeEntriesInto(bytes: Uint8Array, out: unknown[]): void {
  shared ??= new EntryReader(bytes);
  shared.reset(bytes);
  shared.read(out);
}

class EntryReader {
  #buf!: Buffer;
  #pos = 0;
  #shapes: string[][] = [];

  constructor(bytes: Uint8Array) {
    this.reset(bytes);
  }

  reset(bytes: Uint8Array): void {
    // Buffer's own readers instead of a DataView: one object less per (small) chunk.
    this.#buf = Buffer.isBuffer(bytes)
      ? bytes
      : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.#pos = 0;
    if (this.#shapes.length > 0) this.#shapes = [];
  }

  read(out: unknown[]): void {
    if (this.#buf[0] !== ENTRIES_MAGIC || this.#buf[1] !== VERSION)
      throw new Error(
        `not a state chunk of version ${VERSION} (first bytes ${this.#buf[0]}, ${this.#buf[1]})`,
      );
    const count = this.#buf.readUInt32LE(2);
    this.#pos = 6;
    const start = out.length;
    const end = start + count * 3;
    let namespace: unknown;
    if (start === 0) {
      // A whole chunk into a new array: sized once.
      out.length = end;
      for (let i = 0; i < end; i += 3) {
        out[i] = this.#value();
        if (this.#buf[this.#pos] === T_SAME_NAMESPACE && i > 0) this.#pos++;
        else namespace = this.#value();
        out[i + 1] = namespace;
        out[i + 2] = this.#value();
      }
    } else
      for (let i = start; i < end; i += 3) {
        const key = this.#value();
        if (this.#buf[this.#pos] === T_SAME_NAMESPACE && i > start) this.#pos++;
        else namespace = this.#value();
        out.push(key, namespace, this.#value());
      }
    if (this.#pos !== this.#buf.length)
      throw new Error(`state chunk has ${this.#buf.length - this.#pos} bytes after its entries`);
  }

  #need(n: number): void {
    if (this.#pos + n > this.#buf.length) throw new Error('state chunk ends in the middle of a value');
  }

  #varint(): number {
    let n = 0;
    let shift = 0;
    for (;;) {
      this.#need(1);
      const b = this.#buf[this.#pos++]!;
      n += (b & 0x7f) * 2 ** shift;
      if (b < 0x80) return n;
      shift += 7;
      if (shift > 35) throw new Error('state chunk has a malformed length');
    }
  }

  #string(): string {
    const n = this.#varint();
    this.#need(n);
    const start = this.#pos;
    this.#pos += n;
    if (n < 16) {
      const buf = this.#buf;
      let s = '';
      for (let i = start; i < start + n; i++) {
        const c = buf[i]!;
        if (c >= 0x80) return buf.toString('utf8', start, start + n);
        s += String.fromCharCode(c);
      }
      return s;
    }
    return this.#buf.toString('utf8', start, start + n);
  }

  #record(keys: string[]): Record<string, unknown> {
    const o: Record<string, unknown> = {};
    for (const k of keys) {
      const v = this.#value();
      // A key named __proto__ stays a plain own property; it never sets the prototype.
      if (k === '__proto__')
        Object.defineProperty(o, k, { value: v, enumerable: true, writable: true, configurable: true });
      else o[k] = v;
    }
    return o;
  }

  #value(): unknown {
    this.#need(1);
    const t = this.#buf[this.#pos++]!;
    if (t < 0x80) return t;
    switch (t) {
      case T_UNDEFINED:
        return undefined;
      case T_NULL:
        return null;
      case T_FALSE:
        return false;
      case T_TRUE:
        return true;
      case T_UINT8:
        this.#need(1);
        return this.#buf[this.#pos++]!;
      case T_UINT16: {
        this.#need(2);
        const p = this.#pos;
        this.#pos = p + 2;
        return this.#buf[p]! | (this.#buf[p + 1]! << 8);
      }
      case T_INT32: {
        this.#need(4);
        const v = this.#buf.readInt32LE(this.#pos);
        this.#pos += 4;
        return v;
      }
      case T_FLOAT64: {
        this.#need(8);
        const v = this.#buf.readDoubleLE(this.#pos);
        this.#pos += 8;
        return v;
      }
      case T_STRING:
        return this.#string();
      case T_STRING16: {
        const n = this.#varint();
        this.#need(n * 2);
        const start = this.#pos;
        this.#pos += n * 2;
        return this.#buf.toString('utf16le', start, start + n * 2);
      }
      case T_V8: {
        const n = this.#varint();
        this.#need(n);
        const v = deserialize(this.#buf.subarray(this.#pos, this.#pos + n));
        this.#pos += n;
        return v;
      }
      case T_ARRAY: {
        const n = this.#varint();
        this.#need(n); // at least a byte per item: a corrupt length cannot allocate a huge array
        const a = new Array<unknown>(n);
        for (let i = 0; i < n; i++) a[i] = this.#value();
        return a;
      }
      case T_RECORD: {
        const keys = this.#shapes[this.#varint()];
        if (keys === undefined) throw new Error('state chunk refers to an object shape it has not defined');
        return this.#record(keys);
      }
      case T_NEW_SHAPE: {
        const n = this.#varint();
        this.#need(n);
        const keys: string[] = [];
        for (let i = 0; i < n; i++) keys.push(this.#string());
        this.#shapes.push(keys);
        return this.#record(keys);
      }
      case T_PACKED: {
        const n = this.#varint();
        this.#need(n);
        const v = new Unpackr(MSGPACK_OPTIONS).unpack(this.#buf.subarray(this.#pos, this.#pos + n));
        this.#pos += n;
        return v;
      }
      default:
        throw new Error(`state chunk has an unknown value tag 0x${t.toString(16)}`);
    }
  }
}
