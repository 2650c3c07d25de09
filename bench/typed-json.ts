/**
 * The measured alternative of `bench decode` (issue 15's decoding goal), kept
 * here so its figures can be reproduced; it lost to `decodeJson` (JSON.parse
 * and a walk of the value), so eddy does not ship it (BENCHMARKS.md, decode).
 *
 * A JSON decoder compiled from the shape of a declared event type: a JSON Schema subset
 * (`type`, `properties`, `required`, `items`, `additionalProperties: false`, `type` unions such as
 * `["string", "null"]`) turned once into a decoder that reads a record in one pass and builds only
 * what the schema declares. Undeclared properties are checked as JSON and skipped without being
 * built, so a pipeline that declares the five fields it reads of a thirty-field record pays for five.
 *
 * The safety of {@link decodeJson} is kept: `maxBytes` before anything is read, fatal UTF-8 over the
 * whole record, `maxDepth` over the whole record (skipped parts included), and no key of the input
 * ever becomes a key of an object: objects are built from the schema's property names, and a schema
 * that names `__proto__`, `constructor` or `prototype` is refused when compiled. A record that is
 * not JSON, or whose declared parts have the wrong type, or lacks a required property, is refused
 * with a reason that names the place (`$.bid.price: expected number, found string`).
 *
 * Written by hand because no library does this: the JSON Schema tools (ajv and TypeBox) validate
 * values that `JSON.parse` has built, and the streaming JSON parsers on npm build every value or emit
 * tokens per value; neither skips what is not declared. It reads the record's text with `charCodeAt`
 * and native `indexOf`; a loop over every character in JavaScript costs about as much as V8's
 * `JSON.parse` of the whole record, which is why it loses.
 *
 * @example
 * ```ts
 * const decode = compileJsonDecoder<{ id: number; tags?: string[] }>({
 *   type: 'object',
 *   properties: { id: { type: 'integer' }, tags: { type: 'array', items: { type: 'string' } } },
 *   required: ['id'],
 * });
 * decode('{"id":7,"note":"skipped"}'); // { ok: true, value: { id: 7 } }
 * decode('{"id":"7"}'); // { ok: false, code: 'schema-mismatch', reason: '$.id: expected integer, found string' }
 * ```
 */

import { type DecodeLimits, type DecodeResult, decodeJson, resolveDecodeLimits } from '../src/codec/json.ts';
import { configError } from '../src/errors/index.ts';

/** The JSON Schema subset a typed decoder is compiled from. */
export interface JsonShape {
  readonly type?: JsonShapeType | readonly JsonShapeType[];
  readonly properties?: Readonly<Record<string, JsonShape>>;
  readonly required?: readonly string[];
  readonly items?: JsonShape;
  readonly additionalProperties?: boolean;
  /** Annotations, ignored. */
  readonly $schema?: string;
  readonly $id?: string;
  readonly title?: string;
  readonly description?: string;
}

export type JsonShapeType = 'string' | 'number' | 'integer' | 'boolean' | 'null' | 'object' | 'array';

/** A decoded record, or why not: `decodeJson`'s failures and `schema-mismatch`. */
export type TypedDecodeResult<T> =
  | DecodeResult<T>
  | { readonly ok: false; readonly code: 'schema-mismatch'; readonly reason: string };

/** Decodes one record's bytes (or text) into the declared shape. Never throws for bad input. */
export type TypedJsonDecoder<T> = (input: Uint8Array | string) => TypedDecodeResult<T>;

const FORBIDDEN = new Set(['__proto__', 'constructor', 'prototype']);
const KEYWORDS = new Set([
  'type',
  'properties',
  'required',
  'items',
  'additionalProperties',
  '$schema',
  '$id',
  'title',
  'description',
]);

// Kinds of JSON value, as bits so a node's allowed types are one mask.
const STRING = 1;
const NUMBER = 2;
const INTEGER = 4;
const BOOLEAN = 8;
const NULL = 16;
const OBJECT = 32;
const ARRAY = 64;
/** No `type`: any JSON value, built by `decodeJson` (its keys checked) rather than by the schema. */
const ANY = 128;
const KIND_BITS: Record<JsonShapeType, number> = {
  string: STRING,
  number: NUMBER | INTEGER,
  integer: INTEGER,
  boolean: BOOLEAN,
  null: NULL,
  object: OBJECT,
  array: ARRAY,
};

interface Node {
  readonly mask: number;
  /** Where the node is (`$.bid.price`, `$.items[]`), for reasons. */
  readonly path: string;
  /** What the mask allows, for reasons. */
  readonly expected: string;
  // Objects with declared properties:
  readonly names: readonly string[];
  readonly nodes: readonly Node[];
  readonly required: readonly boolean[];
  readonly closed: boolean;
  /** One slot per property while an object of this node is read; a node never nests in itself. */
  readonly slots: unknown[];
  /** The property after the one last read: records from one producer keep their order. */
  next: number;
  readonly items: Node | undefined;
}

/** What makes a string need the careful loop: an escape, or a control character (refused in strings). */
// biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is the point
const SPECIAL = /[\\\x00-\x1f]/;

/** Not read (yet): a slot's value between records. */
const UNSET: unique symbol = Symbol('unset');

/**
 * Compiles `schema` into a decoder; throws an `EDDY_CONFIG_INVALID` error naming the bad keyword or
 * property when the schema is outside the subset (use `jsonSchema` from `codec/json-schema.ts` to
 * validate with the whole of JSON Schema after {@link decodeJson}).
 */
export function compileJsonDecoder<T>(
  schema: JsonShape,
  limits?: Partial<DecodeLimits>,
): TypedJsonDecoder<T> {
  const root = compileNode(schema, '$');
  const { maxBytes, maxDepth } = resolveDecodeLimits(limits);
  const reader = new Reader(maxDepth);
  return (input) => {
    let text: string;
    if (typeof input === 'string') {
      if (input.length > maxBytes || (input.length * 3 > maxBytes && Buffer.byteLength(input) > maxBytes))
        return decodeJson(input, { maxBytes, maxDepth }) as DecodeResult<T>;
      text = input.charCodeAt(0) === 0xfeff ? input.slice(1) : input;
    } else {
      // The failures of bytes (size, UTF-8) with decodeJson's reasons.
      if (input.byteLength > maxBytes) return decodeJson(input, { maxBytes, maxDepth }) as DecodeResult<T>;
      try {
        text = utf8.decode(input);
      } catch {
        return decodeJson(input, { maxBytes, maxDepth }) as DecodeResult<T>;
      }
    }
    return reader.read(text, root) as TypedDecodeResult<T>;
  };
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

function compileNode(s: JsonShape, path: string): Node {
  if (typeof s !== 'object' || s === null || Array.isArray(s))
    throw configError(`the schema at ${path} must be an object`, s, 'pass e.g. { type: "string" }');
  for (const k of Object.keys(s))
    if (!KEYWORDS.has(k))
      throw configError(
        `the schema at ${path} uses "${k}", which a compiled JSON decoder does not support`,
        k,
        `keep to type, properties, required, items and additionalProperties, or validate with jsonSchema() after decoding`,
      );
  let mask = 0;
  const types = s.type === undefined ? [] : Array.isArray(s.type) ? s.type : [s.type];
  for (const t of types as JsonShapeType[]) {
    const bits = KIND_BITS[t];
    if (bits === undefined || !Object.hasOwn(KIND_BITS, t))
      throw configError(
        `the schema at ${path} has type "${String(t)}"`,
        t,
        'use string, number, integer, boolean, null, object or array',
      );
    mask |= bits;
  }
  if (mask === 0) mask = ANY;
  const names: string[] = [];
  const nodes: Node[] = [];
  const required: boolean[] = [];
  if (s.properties !== undefined) {
    if ((mask & OBJECT) === 0)
      throw configError(
        `the schema at ${path} has properties but is not of type object`,
        s.type,
        'add type: "object"',
      );
    for (const [name, sub] of Object.entries(s.properties)) {
      if (FORBIDDEN.has(name))
        throw configError(
          `the schema at ${path} names the property "${name}", which is never built into an object`,
          name,
          'rename the property',
        );
      names.push(name);
      nodes.push(compileNode(sub, `${path}.${name}`));
      required.push(false);
    }
  }
  for (const r of s.required ?? []) {
    const i = names.indexOf(r);
    if (i < 0)
      throw configError(
        `the schema at ${path} requires "${r}", which it does not declare in properties`,
        r,
        'declare it',
      );
    required[i] = true;
  }
  if ((mask & OBJECT) !== 0 && s.properties === undefined && s.additionalProperties !== false)
    throw configError(
      `the schema at ${path} is an object without properties`,
      s,
      'declare its properties, or leave out type to take any JSON value there',
    );
  if (s.items !== undefined && (mask & ARRAY) === 0)
    throw configError(
      `the schema at ${path} has items but is not of type array`,
      s.type,
      'add type: "array"',
    );
  const items = (mask & ARRAY) !== 0 ? compileNode(s.items ?? {}, `${path}[]`) : undefined;
  return {
    mask,
    path,
    expected: types.length === 0 ? 'any' : types.join(' or '),
    names,
    nodes,
    required,
    closed: s.additionalProperties === false,
    slots: names.map(() => UNSET),
    next: 0,
    items,
  };
}

/** Why a record was refused: set where it is found, the read then unwinds. */
interface Refusal {
  code: 'invalid-json' | 'too-deep' | 'schema-mismatch' | 'forbidden-key';
  reason: string;
}

/**
 * One pass over a record's text. Not reentrant (its position is state), which is safe: a decoder
 * reads one record to its end before the next, synchronously.
 */
class Reader {
  #t = '';
  #i = 0;
  /** The record has no backslash and no control character: a string ends at the next quote. */
  #plain = false;
  #refusal: Refusal | undefined;
  readonly #maxDepth: number;

  constructor(maxDepth: number) {
    this.#maxDepth = maxDepth;
  }

  read(text: string, root: Node): TypedDecodeResult<unknown> {
    this.#t = text;
    this.#i = 0;
    this.#refusal = undefined;
    this.#plain = !SPECIAL.test(text);
    this.#ws();
    const value = this.#value(root, 0);
    if (this.#refusal === undefined) {
      this.#ws();
      if (this.#i < text.length) this.#syntax('unexpected text after the value');
    }
    const r = this.#refusal as Refusal | undefined;
    this.#t = '';
    if (r !== undefined) {
      resetSlots(root);
      return { ok: false, code: r.code, reason: r.reason };
    }
    return { ok: true, value };
  }

  #ws(): void {
    const t = this.#t;
    let i = this.#i;
    for (;;) {
      const c = t.charCodeAt(i);
      if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) i++;
      else break;
    }
    this.#i = i;
  }

  #syntax(what: string): undefined {
    this.#refusal ??= {
      code: 'invalid-json',
      reason: `JSON parse error: ${what} at position ${this.#i}`,
    };
    return undefined;
  }

  #mismatch(node: Node, found: string): undefined {
    this.#refusal ??= {
      code: 'schema-mismatch',
      reason: `${node.path}: expected ${node.expected}, found ${found}`,
    };
    return undefined;
  }

  /** Reads the value at the position as `node` declares; on a refusal returns undefined with `#refusal` set. */
  #value(node: Node, depth: number): unknown {
    const c = this.#t.charCodeAt(this.#i);
    const mask = node.mask;
    if ((mask & ANY) !== 0) return this.#any(depth);
    if (c === 0x22) {
      if ((mask & STRING) === 0) return this.#mismatch(node, 'string');
      return this.#string();
    }
    if (c === 0x7b) {
      if ((mask & OBJECT) === 0) return this.#mismatch(node, 'object');
      return this.#object(node, depth + 1);
    }
    if (c === 0x5b) {
      if ((mask & ARRAY) === 0) return this.#mismatch(node, 'array');
      return this.#array(node, depth + 1);
    }
    if (c === 0x2d || (c >= 0x30 && c <= 0x39)) {
      if ((mask & NUMBER) === 0 && (mask & INTEGER) === 0) return this.#mismatch(node, 'number');
      const n = this.#number();
      if (n !== undefined && (mask & NUMBER) === 0 && !Number.isInteger(n))
        return this.#mismatch(node, `number ${n}`);
      return n;
    }
    if (c === 0x74 || c === 0x66) {
      const v = this.#literal(c === 0x74 ? 'true' : 'false');
      if (v === undefined) return undefined;
      if ((mask & BOOLEAN) === 0) return this.#mismatch(node, 'boolean');
      return c === 0x74;
    }
    if (c === 0x6e) {
      if (this.#literal('null') === undefined) return undefined;
      if ((mask & NULL) === 0) return this.#mismatch(node, 'null');
      return null;
    }
    return this.#syntax(Number.isNaN(c) ? 'unexpected end of input' : 'unexpected character');
  }

  #literal(word: string): true | undefined {
    if (!this.#t.startsWith(word, this.#i)) return this.#syntax('unexpected character');
    this.#i += word.length;
    return true;
  }

  #object(node: Node, depth: number): unknown {
    if (depth > this.#maxDepth) return this.#tooDeep();
    const t = this.#t;
    const names = node.names;
    const slots = node.slots;
    const count = names.length;
    this.#i++;
    this.#ws();
    if (t.charCodeAt(this.#i) === 0x7d) this.#i++;
    else
      for (;;) {
        if (t.charCodeAt(this.#i) !== 0x22) return this.#syntax('expected a property name');
        const start = this.#i + 1;
        const end = this.#stringEnd();
        if (end < 0) return undefined;
        let k = -1;
        if (end > 0) {
          // A plain name: found by its characters, the expected one first.
          const len = end - start;
          const guess = node.next;
          if (guess < count && names[guess]!.length === len && t.startsWith(names[guess]!, start)) k = guess;
          else
            for (let j = 0; j < count; j++)
              if (names[j]!.length === len && t.startsWith(names[j]!, start)) {
                k = j;
                break;
              }
        } else {
          // A name with escapes: decoded first, so an escape cannot disguise a declared name.
          k = names.indexOf(JSON.parse(t.slice(start - 1, this.#i)) as string);
        }
        this.#ws();
        if (t.charCodeAt(this.#i) !== 0x3a) return this.#syntax("expected ':'");
        this.#i++;
        this.#ws();
        if (k >= 0) {
          const v = this.#value(node.nodes[k]!, depth);
          if (this.#refusal !== undefined) return undefined;
          slots[k] = v;
          node.next = k + 1;
        } else {
          if (node.closed) {
            const name = end > 0 ? t.slice(start, end) : String(JSON.parse(t.slice(start - 1, this.#i)));
            this.#refusal ??= {
              code: 'schema-mismatch',
              reason: `${node.path}: property ${JSON.stringify(name)} is not declared (additionalProperties: false)`,
            };
            return undefined;
          }
          if (!this.#skip(depth)) return undefined;
        }
        const more = this.#separator(0x7d);
        if (more === undefined) return undefined;
        if (!more) break;
      }
    // Built from the schema's names, in its order: every record of a shape gets the same hidden class.
    const out: Record<string, unknown> = {};
    for (let j = 0; j < count; j++) {
      const v = slots[j];
      if (v === UNSET) {
        if (node.required[j]) {
          this.#refusal ??= {
            code: 'schema-mismatch',
            reason: `${node.path}: required property ${JSON.stringify(names[j])} is missing`,
          };
          return undefined;
        }
        continue;
      }
      out[names[j]!] = v;
      slots[j] = UNSET;
    }
    return out;
  }

  #array(node: Node, depth: number): unknown {
    if (depth > this.#maxDepth) return this.#tooDeep();
    const items = node.items!;
    const t = this.#t;
    const out: unknown[] = [];
    this.#i++;
    this.#ws();
    if (t.charCodeAt(this.#i) === 0x5d) {
      this.#i++;
      return out;
    }
    for (;;) {
      const v = this.#value(items, depth);
      if (this.#refusal !== undefined) return undefined;
      out.push(v);
      const more = this.#separator(0x5d);
      if (more === undefined) return undefined;
      if (!more) return out;
    }
  }

  /**
   * After a member or an element: moves past a ',' (true: another follows) or
   * past `close` (false: the container ends); anything else is refused (undefined).
   */
  #separator(close: number): boolean | undefined {
    this.#ws();
    const c = this.#t.charCodeAt(this.#i);
    if (c === 0x2c) {
      this.#i++;
      this.#ws();
      return true;
    }
    if (c === close) {
      this.#i++;
      return false;
    }
    return this.#syntax(`expected ',' or '${String.fromCharCode(close)}'`);
  }

  #tooDeep(): undefined {
    this.#refusal ??= { code: 'too-deep', reason: `nesting depth exceeds maxDepth ${this.#maxDepth}` };
    return undefined;
  }

  /**
   * Moves past the string whose opening quote is at the position. Returns the index of its closing
   * quote when it holds no escape, 0 when it does (its text then needs decoding), -1 when it is not
   * a well-formed JSON string (refused).
   */
  #stringEnd(): number {
    const t = this.#t;
    if (this.#plain) {
      // One native search instead of a loop over the characters (the record was checked once).
      const q = t.indexOf('"', this.#i + 1);
      if (q >= 0) {
        this.#i = q + 1;
        return q;
      }
    }
    const n = t.length;
    let i = this.#i + 1;
    let escaped = false;
    for (;;) {
      if (i >= n) {
        this.#i = i;
        this.#syntax('unterminated string');
        return -1;
      }
      const c = t.charCodeAt(i);
      if (c === 0x22) break;
      if (c === 0x5c) {
        escaped = true;
        const e = t.charCodeAt(i + 1);
        if (e === 0x75) {
          for (let h = i + 2; h < i + 6; h++) {
            const x = t.charCodeAt(h) | 0x20;
            if (!((x >= 0x30 && x <= 0x39) || (x >= 0x61 && x <= 0x66))) {
              this.#i = h;
              this.#syntax('bad \\u escape');
              return -1;
            }
          }
          i += 6;
          continue;
        }
        if (
          e !== 0x22 &&
          e !== 0x5c &&
          e !== 0x2f &&
          e !== 0x62 &&
          e !== 0x66 &&
          e !== 0x6e &&
          e !== 0x72 &&
          e !== 0x74
        ) {
          this.#i = i;
          this.#syntax('bad escape');
          return -1;
        }
        i += 2;
        continue;
      }
      if (c < 0x20) {
        this.#i = i;
        this.#syntax('control character in string');
        return -1;
      }
      i++;
    }
    this.#i = i + 1;
    return escaped ? 0 : i;
  }

  #string(): string | undefined {
    const start = this.#i + 1;
    const end = this.#stringEnd();
    if (end > 0) return this.#t.slice(start, end);
    if (end === 0) return JSON.parse(this.#t.slice(start - 1, this.#i)) as string;
    return undefined;
  }

  /** Reads a JSON number (grammar checked here: `Number` would take more). */
  #number(): number | undefined {
    const t = this.#t;
    const start = this.#i;
    let i = start;
    if (t.charCodeAt(i) === 0x2d) i++;
    let c = t.charCodeAt(i);
    // Whole numbers of up to 15 digits (all exact in a double) are added up as they are read.
    let value = 0;
    let simple = true;
    if (c === 0x30) {
      i++;
    } else if (c >= 0x31 && c <= 0x39) {
      const digits = i;
      do {
        value = value * 10 + (c - 0x30);
        c = t.charCodeAt(++i);
      } while (c >= 0x30 && c <= 0x39);
      if (i - digits > 15) simple = false;
    } else {
      this.#i = i;
      return this.#syntax('bad number');
    }
    c = t.charCodeAt(i);
    if (c === 0x2e) {
      simple = false;
      c = t.charCodeAt(++i);
      if (!(c >= 0x30 && c <= 0x39)) {
        this.#i = i;
        return this.#syntax('bad number');
      }
      do c = t.charCodeAt(++i);
      while (c >= 0x30 && c <= 0x39);
    }
    if (c === 0x65 || c === 0x45) {
      simple = false;
      c = t.charCodeAt(++i);
      if (c === 0x2b || c === 0x2d) c = t.charCodeAt(++i);
      if (!(c >= 0x30 && c <= 0x39)) {
        this.#i = i;
        return this.#syntax('bad number');
      }
      do c = t.charCodeAt(++i);
      while (c >= 0x30 && c <= 0x39);
    }
    this.#i = i;
    if (simple) return t.charCodeAt(start) === 0x2d ? -value : value;
    return Number(t.slice(start, i));
  }

  /** An undeclared type: the value is skipped (checked), then built by `decodeJson`, which checks its keys. */
  #any(depth: number): unknown {
    const start = this.#i;
    if (!this.#skip(depth)) return undefined;
    const r = decodeJson(this.#t.slice(start, this.#i));
    if (!r.ok) {
      this.#refusal ??= {
        code: r.code === 'forbidden-key' ? 'forbidden-key' : 'invalid-json',
        reason: r.reason,
      };
      return undefined;
    }
    return r.value;
  }

  /** Moves past one JSON value, checking its grammar and depth, building nothing. False when refused. */
  #skip(depth: number): boolean {
    const t = this.#t;
    const c = t.charCodeAt(this.#i);
    if (c === 0x22) return this.#stringEnd() >= 0;
    if (c === 0x7b || c === 0x5b) {
      const close = c === 0x7b ? 0x7d : 0x5d;
      if (depth + 1 > this.#maxDepth) {
        this.#tooDeep();
        return false;
      }
      this.#i++;
      this.#ws();
      if (t.charCodeAt(this.#i) === close) {
        this.#i++;
        return true;
      }
      for (;;) {
        if (c === 0x7b) {
          if (t.charCodeAt(this.#i) !== 0x22) return this.#syntax('expected a property name') ?? false;
          if (this.#stringEnd() < 0) return false;
          this.#ws();
          if (t.charCodeAt(this.#i) !== 0x3a) return this.#syntax("expected ':'") ?? false;
          this.#i++;
          this.#ws();
        }
        if (!this.#skip(depth + 1)) return false;
        const more = this.#separator(close);
        if (more === undefined) return false;
        if (!more) return true;
      }
    }
    if (c === 0x2d || (c >= 0x30 && c <= 0x39)) return this.#number() !== undefined;
    if (c === 0x74) return this.#literal('true') !== undefined;
    if (c === 0x66) return this.#literal('false') !== undefined;
    if (c === 0x6e) return this.#literal('null') !== undefined;
    return this.#syntax(Number.isNaN(c) ? 'unexpected end of input' : 'unexpected character') ?? false;
  }
}

/** After a refusal, slots half-filled by the record must not leak into the next. */
function resetSlots(node: Node): void {
  for (let j = 0; j < node.slots.length; j++) node.slots[j] = UNSET;
  for (const n of node.nodes) resetSlots(n);
  if (node.items !== undefined) resetSlots(node.items);
}
