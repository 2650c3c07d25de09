/**
 * Safe JSON decoding of bytes that come from outside the process (files, Kafka, HTTP, MQTT).
 *
 * External bytes are hostile until proven otherwise, so decoding checks, in order and as cheaply as
 * possible: size (before any work proportional to the input), UTF-8 validity, nesting depth (with a
 * linear scan, so a deeply nested record can never blow the stack), JSON syntax, and finally object
 * keys that could pollute prototypes once a record is merged or spread into other objects. Bad input
 * never throws: it returns a failure with a closed code and a human-readable reason, so a source can
 * hand it to the failure policy (dead-letter or fail) without a try/catch per record.
 */

import { Buffer } from 'node:buffer';
import { configError } from '../errors/index.ts';

/**
 * The closed set of reasons a decode can fail. Kept as data so that failure policies and metrics can
 * enumerate it, and so that the type below cannot drift from it.
 *
 * @example
 * ```ts
 * for (const code of DECODE_FAILURES) metrics.counter(`decode_failed_${code}`);
 * ```
 */
export const DECODE_FAILURES = [
  'invalid-utf8',
  'too-large',
  'too-deep',
  'forbidden-key',
  'invalid-json',
] as const;

/**
 * Why a decode failed. Switch on this (not on the reason text, which is for humans and may change).
 *
 * @example
 * ```ts
 * const r = decodeJson(bytes);
 * if (!r.ok && r.code === 'too-large') skipped++;
 * ```
 */
export type DecodeFailure = (typeof DECODE_FAILURES)[number];

/**
 * The outcome of a decode: a value, or a failure code with a reason that reads
 * "what is wrong; what was received". A result rather than an exception because bad records are
 * expected on the hot path and must not cost a stack trace each.
 *
 * @example
 * ```ts
 * const r = decodeJson('{"id":1}');
 * if (r.ok) handle(r.value); else deadLetter(r.code, r.reason);
 * ```
 */
export type DecodeResult<T> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly reason: string; readonly code: DecodeFailure };

/**
 * Bounds on what one record may cost to decode. `maxBytes` bounds memory and time per record (counted
 * in UTF-8 bytes, so the limit means the same for bytes and for strings); `maxDepth` bounds nesting
 * (`{}` and `[]` are depth 1, a scalar is depth 0), keeping recursive consumers of the value safe.
 *
 * @example
 * ```ts
 * const limits = resolveDecodeLimits({ maxBytes: 64 * 1024, maxDepth: 16 }); // a frozen DecodeLimits
 * ```
 */
export interface DecodeLimits {
  readonly maxBytes: number;
  readonly maxDepth: number;
}

/**
 * The one place the default limits live: 1 MiB per record is far above a typical event yet small
 * enough that a runaway line cannot exhaust memory, and 64 levels is deeper than any sane schema.
 * Frozen so that no caller can change the defaults for everyone else.
 *
 * @example
 * ```ts
 * const limits = { ...DEFAULT_DECODE_LIMITS, maxBytes: 4096 };
 * assert.equal(limits.maxDepth, 64);
 * ```
 */
export const DEFAULT_DECODE_LIMITS: DecodeLimits = Object.freeze({ maxBytes: 1024 * 1024, maxDepth: 64 });

// Limits objects that resolveDecodeLimits produced; decodeJson trusts these without re-checking, which
// is what lets a source validate once at construction and pass the same object for every record.
const resolved = new WeakSet<DecodeLimits>();
resolved.add(DEFAULT_DECODE_LIMITS);

/**
 * Fills in defaults and validates limits once, throwing an `EDDY_CONFIG_INVALID` error that names the
 * bad value. Call it when a source is constructed and pass the result to every {@link decodeJson}
 * call: a resolved object is recognised and not validated again.
 *
 * @example
 * ```ts
 * const limits = resolveDecodeLimits({ maxBytes: 4096 });
 * decodeJson('[1]', limits); // no validation cost per record
 * ```
 */
export function resolveDecodeLimits(limits?: Partial<DecodeLimits>): DecodeLimits {
  if (limits === undefined) return DEFAULT_DECODE_LIMITS;
  if (resolved.has(limits as DecodeLimits)) return limits as DecodeLimits;
  const out = Object.freeze({
    maxBytes: checkLimit('maxBytes', limits.maxBytes ?? DEFAULT_DECODE_LIMITS.maxBytes),
    maxDepth: checkLimit('maxDepth', limits.maxDepth ?? DEFAULT_DECODE_LIMITS.maxDepth),
  });
  resolved.add(out);
  return out;
}

function checkLimit(name: string, value: unknown): number {
  if (typeof value === 'number' && Number.isSafeInteger(value) && value > 0) return value;
  throw configError(`decode limit ${name} must be a positive integer`, value, `pass a whole number >= 1`);
}

// One decoder for the process: constructing one per record would allocate on the hot path, and
// `fatal` makes malformed bytes an error instead of silently becoming U+FFFD.
const utf8 = new TextDecoder('utf-8', { fatal: true });

// Scanner verdicts, as small integers so the scan allocates nothing.
const SCAN_CLEAN = 0;
const SCAN_SUSPECT = 1;
const SCAN_TOO_DEEP = 2;

/**
 * Decodes one JSON record from bytes or a string, enforcing {@link DecodeLimits} and rejecting the
 * object keys `__proto__`, `constructor` and `prototype` anywhere in the value (even when written with
 * escapes such as `"\u005f_proto__"`), because downstream code that merges records into objects would
 * otherwise let an outsider rewrite prototypes. Never throws for bad input; throws only if `limits`
 * itself is invalid.
 *
 * @example
 * ```ts
 * const r = decodeJson(new TextEncoder().encode('{"a":{"constructor":1}}'));
 * assert.deepEqual(r, {
 *   ok: false,
 *   code: 'forbidden-key',
 *   reason: 'object key "constructor" is forbidden; found at $.a.constructor',
 * });
 * ```
 */
export function decodeJson(
  input: Uint8Array | string,
  limits?: Partial<DecodeLimits>,
): DecodeResult<unknown> {
  let maxBytes = DEFAULT_DECODE_LIMITS.maxBytes;
  let maxDepth = DEFAULT_DECODE_LIMITS.maxDepth;
  if (limits !== undefined) {
    if (resolved.has(limits as DecodeLimits)) {
      maxBytes = limits.maxBytes!;
      maxDepth = limits.maxDepth!;
    } else {
      // Unresolved limits are checked in place rather than resolved, to not allocate per record.
      maxBytes = checkLimit('maxBytes', limits.maxBytes ?? maxBytes);
      maxDepth = checkLimit('maxDepth', limits.maxDepth ?? maxDepth);
    }
  }

  let text: string;
  if (typeof input === 'string') {
    // A UTF-16 code unit is 1 to 3 UTF-8 bytes, so the exact byte count is only needed near the limit.
    if (input.length > maxBytes || (input.length * 3 > maxBytes && Buffer.byteLength(input) > maxBytes)) {
      return tooLarge(Buffer.byteLength(input), maxBytes);
    }
    // Match the byte path, where the decoder drops a byte order mark.
    text = input.charCodeAt(0) === 0xfeff ? input.slice(1) : input;
  } else {
    if (input.byteLength > maxBytes) return tooLarge(input.byteLength, maxBytes);
    try {
      text = utf8.decode(input);
    } catch {
      return invalidUtf8(input);
    }
  }

  // Parsed first, then the value is walked for depth and keys: a walk visits values, where a scan of
  // the text visits characters, and costs a third of decoding less (issue 15, bench decode). V8's
  // JSON.parse is iterative and the text is bounded by maxBytes, so parsing before the depth is known
  // is safe. A failed parse, or a limit set too deep to walk by recursion, takes the scan.
  if (maxDepth > MAX_WALK_DEPTH) return scanThenParse(text, maxDepth);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return scanThenParse(text, maxDepth);
  }
  if (typeof value === 'object' && value !== null && walk(value, 1, maxDepth) !== WALK_CLEAN) {
    // The reasons, and too-deep before forbidden-key, as the scan gives them.
    return scanThenParse(text, maxDepth);
  }
  return { ok: true, value };
}

/** Checks `text` by a scan before parsing it: what the fast path hands over, and what gives reasons. */
function scanThenParse(text: string, maxDepth: number): DecodeResult<unknown> {
  const verdict = scan(text, maxDepth);
  if (verdict === SCAN_TOO_DEEP) {
    return fail('too-deep', `nesting depth ${maxNesting(text)} exceeds maxDepth ${maxDepth}`);
  }

  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    return fail('invalid-json', `JSON parse error: ${e instanceof Error ? e.message : String(e)}`);
  }

  if (verdict === SCAN_SUSPECT) {
    const found = findForbiddenKey(value);
    if (found !== undefined) return fail('forbidden-key', found);
  }
  return { ok: true, value };
}

/** Above this maxDepth the walk (recursive) is not used: the scan bounds depth before parsing. */
const MAX_WALK_DEPTH = 512;
const WALK_CLEAN = 0;
const WALK_REFUSED = 1;

/**
 * Whether a parsed value stays within `maxDepth` and has no forbidden key (own keys, as JSON.parse
 * makes them, so escapes cannot hide one). Stops at the first excess, so its recursion is bounded by
 * `maxDepth`.
 */
function walk(v: object, depth: number, maxDepth: number): number {
  if (depth > maxDepth) return WALK_REFUSED;
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) {
      const c: unknown = v[i];
      if (typeof c === 'object' && c !== null && walk(c, depth + 1, maxDepth) !== WALK_CLEAN)
        return WALK_REFUSED;
    }
    return WALK_CLEAN;
  }
  for (const k in v) {
    if (k === '__proto__' || k === 'constructor' || k === 'prototype') return WALK_REFUSED;
    const c: unknown = (v as Record<string, unknown>)[k];
    if (typeof c === 'object' && c !== null && walk(c, depth + 1, maxDepth) !== WALK_CLEAN)
      return WALK_REFUSED;
  }
  return WALK_CLEAN;
}

function fail(code: DecodeFailure, reason: string): DecodeResult<never> {
  return { ok: false, code, reason };
}

function tooLarge(bytes: number, maxBytes: number): DecodeResult<never> {
  return fail('too-large', `record is ${bytes} bytes; maxBytes is ${maxBytes}`);
}

function invalidUtf8(bytes: Uint8Array): DecodeResult<never> {
  const at = firstInvalidUtf8(bytes);
  return fail(
    'invalid-utf8',
    at < 0 ? 'invalid UTF-8' : `invalid UTF-8 at byte ${at}${describeBytes(bytes, at)}`,
  );
}

function describeBytes(bytes: Uint8Array, at: number): string {
  let hex = '';
  for (let i = at; i < bytes.length && i < at + 4; i++) hex += ` ${bytes[i]!.toString(16).padStart(2, '0')}`;
  return hex === '' ? '' : ` (bytes${hex})`;
}

/**
 * The index of the first byte of the first ill-formed sequence, or -1 if all is well-formed. Only run
 * after the native decoder has failed, to turn "it's bad" into "it's bad here". Follows the
 * well-formed byte sequences of Unicode Table 3-7, which is what a fatal WHATWG decoder enforces:
 * no overlongs, no surrogates, nothing above U+10FFFF.
 */
function firstInvalidUtf8(b: Uint8Array): number {
  const n = b.length;
  let i = 0;
  while (i < n) {
    const c = b[i]!;
    if (c < 0x80) {
      i++;
      continue;
    }
    let need: number;
    let lo = 0x80;
    let hi = 0xbf;
    if (c >= 0xc2 && c <= 0xdf) need = 1;
    else if (c >= 0xe0 && c <= 0xef) {
      need = 2;
      if (c === 0xe0) lo = 0xa0;
      else if (c === 0xed) hi = 0x9f;
    } else if (c >= 0xf0 && c <= 0xf4) {
      need = 3;
      if (c === 0xf0) lo = 0x90;
      else if (c === 0xf4) hi = 0x8f;
    } else return i;
    if (i + need >= n) return i; // truncated at the end of the input
    const second = b[i + 1]!;
    if (second < lo || second > hi) return i;
    for (let k = 2; k <= need; k++) {
      const cont = b[i + k]!;
      if (cont < 0x80 || cont > 0xbf) return i;
    }
    i += need + 1;
  }
  return -1;
}

function isForbiddenAt(text: string, start: number, len: number): boolean {
  if (len === 9) return text.startsWith('__proto__', start) || text.startsWith('prototype', start);
  return len === 11 && text.startsWith('constructor', start);
}

/**
 * One linear pass over the text that tracks string and escape state and bracket depth, so depth is
 * known before JSON.parse (or any recursive consumer) sees the input. It also decides whether the
 * exact key walk is needed: only if some string token spells a forbidden name or any string uses an
 * escape (which could spell one in disguise). Typical records need neither, and skip the walk.
 */
function scan(text: string, maxDepth: number): number {
  const n = text.length;
  let depth = 0;
  let suspect = false;
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22 /* " */) {
      const start = i + 1;
      let escaped = false;
      for (i = start; i < n; i++) {
        const d = text.charCodeAt(i);
        if (d === 0x22) break;
        if (d === 0x5c /* \ */) {
          escaped = true;
          i++;
        }
      }
      if (escaped) suspect = true;
      else if (!suspect) {
        const len = i - start;
        if ((len === 9 || len === 11) && isForbiddenAt(text, start, len)) suspect = true;
      }
    } else if (c === 0x7b /* { */ || c === 0x5b /* [ */) {
      if (++depth > maxDepth) return SCAN_TOO_DEEP;
    } else if (c === 0x7d /* } */ || c === 0x5d /* ] */) {
      depth--;
    }
  }
  return suspect ? SCAN_SUSPECT : SCAN_CLEAN;
}

// The true maximum depth, for the failure message only; the hot scan stops at the first excess.
function maxNesting(text: string): number {
  const n = text.length;
  let depth = 0;
  let max = 0;
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22) {
      for (i++; i < n; i++) {
        const d = text.charCodeAt(i);
        if (d === 0x22) break;
        if (d === 0x5c) i++;
      }
    } else if (c === 0x7b || c === 0x5b) {
      if (++depth > max) max = depth;
    } else if (c === 0x7d || c === 0x5d) {
      depth--;
    }
  }
  return max;
}

/**
 * Walks the parsed value for forbidden keys, checking decoded keys so escapes cannot hide them.
 * Iterative with parent links rather than recursive, so a caller who raises maxDepth very high still
 * cannot overflow the stack; the path string is only built for the key that is reported.
 */
function findForbiddenKey(root: unknown): string | undefined {
  const values: unknown[] = [root];
  const parents: number[] = [-1];
  const keys: (string | number)[] = [''];
  const stack: number[] = [0];
  while (stack.length > 0) {
    const at = stack.pop()!;
    const v = values[at];
    if (typeof v !== 'object' || v === null) continue;
    if (Array.isArray(v)) {
      for (let i = v.length - 1; i >= 0; i--) {
        const child = v[i];
        if (typeof child !== 'object' || child === null) continue;
        stack.push(values.length);
        values.push(child);
        parents.push(at);
        keys.push(i);
      }
      continue;
    }
    const own = Object.keys(v);
    for (const k of own) {
      if (k === '__proto__' || k === 'constructor' || k === 'prototype') {
        return `object key ${JSON.stringify(k)} is forbidden; found at ${pathOf(at, parents, keys)}${pathSegment(k)}`;
      }
    }
    for (let i = own.length - 1; i >= 0; i--) {
      const k = own[i]!;
      const child = (v as Record<string, unknown>)[k];
      if (typeof child !== 'object' || child === null) continue;
      stack.push(values.length);
      values.push(child);
      parents.push(at);
      keys.push(k);
    }
  }
  return undefined;
}

function pathOf(at: number, parents: readonly number[], keys: readonly (string | number)[]): string {
  let path = '';
  for (let i = at; i > 0; i = parents[i]!) path = pathSegment(keys[i]!) + path;
  return `$${path}`;
}

const IDENTIFIER = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

function pathSegment(key: string | number): string {
  if (typeof key === 'number') return `[${key}]`;
  return IDENTIFIER.test(key) ? `.${key}` : `[${JSON.stringify(key)}]`;
}
