import assert from 'node:assert/strict';
import { isUtf8 } from 'node:buffer';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import type { DecodeFailure, DecodeResult } from '../../src/codec/index.ts';
import {
  DECODE_FAILURES,
  DEFAULT_DECODE_LIMITS,
  decodeJson,
  resolveDecodeLimits,
} from '../../src/codec/index.ts';
import { EddyError } from '../../src/errors/index.ts';

const FORBIDDEN = new Set(['__proto__', 'constructor', 'prototype']);
const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);
const raw = (...b: number[]): Uint8Array => Uint8Array.from(b);

function failure(r: DecodeResult<unknown>): { code: DecodeFailure; reason: string } {
  assert.equal(r.ok, false, `expected a failure, got ${JSON.stringify(r)}`);
  if (r.ok) throw new Error('unreachable');
  return { code: r.code, reason: r.reason };
}

function value(r: DecodeResult<unknown>): unknown {
  if (!r.ok) assert.fail(`expected ok, got ${r.code}: ${r.reason}`);
  return r.value;
}

function hasForbiddenKey(v: unknown): boolean {
  if (typeof v !== 'object' || v === null) return false;
  if (Array.isArray(v)) return v.some(hasForbiddenKey);
  return Object.keys(v).some((k) => FORBIDDEN.has(k) || hasForbiddenKey((v as Record<string, unknown>)[k]));
}

function depthOf(v: unknown): number {
  if (typeof v !== 'object' || v === null) return 0;
  const children = Array.isArray(v) ? v : Object.values(v);
  return 1 + children.reduce<number>((m, c) => Math.max(m, depthOf(c)), 0);
}

// JSON has no -0: JSON.stringify(-0) is "0", so the round trip yields +0.
function withoutNegativeZero(v: unknown): unknown {
  if (Object.is(v, -0)) return 0;
  if (typeof v !== 'object' || v === null) return v;
  if (Array.isArray(v)) return v.map(withoutNegativeZero);
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(v)) {
    Object.defineProperty(out, k, {
      value: withoutNegativeZero((v as Record<string, unknown>)[k]),
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  return out;
}

const nested = (depth: number): string => '['.repeat(depth) + ']'.repeat(depth);

describe('decodeJson properties', () => {
  it('round-trips any JSON value within limits, unless it holds a forbidden key', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 8 }), fc.boolean(), (v, asBytes) => {
        const text = JSON.stringify(v);
        const r = decodeJson(asBytes ? bytes(text) : text);
        if (hasForbiddenKey(v)) assert.equal(failure(r).code, 'forbidden-key');
        else assert.deepStrictEqual(value(r), withoutNegativeZero(v));
      }),
      { numRuns: 500 },
    );
  });

  it('round-trips unicode strings and keys, as bytes and as strings', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 4, stringUnit: 'binary' }), (v) => {
        fc.pre(!hasForbiddenKey(v));
        const text = JSON.stringify(v);
        assert.deepStrictEqual(value(decodeJson(bytes(text))), withoutNegativeZero(v));
        assert.deepStrictEqual(value(decodeJson(text)), withoutNegativeZero(v));
      }),
      { numRuns: 300 },
    );
  });

  it('never throws on arbitrary bytes; returns a value or a known failure', () => {
    const codes = new Set<string>(DECODE_FAILURES);
    const jsonish = fc
      .array(
        fc.constantFrom(
          '{',
          '}',
          '[',
          ']',
          '"',
          '\\',
          ':',
          ',',
          '1',
          'a',
          'u',
          '_',
          ' ',
          '\u00e9',
          '\u{1F600}',
        ),
      )
      .map((parts) => bytes(parts.join('')));
    fc.assert(
      fc.property(
        fc.oneof(fc.uint8Array({ maxLength: 64 }), jsonish),
        fc.integer({ min: 1, max: 80 }),
        fc.integer({ min: 1, max: 8 }),
        (input, maxBytes, maxDepth) => {
          for (const r of [decodeJson(input), decodeJson(input, { maxBytes, maxDepth })]) {
            if (!r.ok) {
              assert.ok(codes.has(r.code), r.code);
              assert.equal(typeof r.reason, 'string');
              assert.ok(r.reason.length > 0);
            }
          }
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('never throws on arbitrary strings, including lone surrogates', () => {
    fc.assert(
      fc.property(
        fc.string({ unit: 'binary', maxLength: 64 }),
        fc.integer({ min: 1, max: 100 }),
        (s, maxBytes) => {
          const r = decodeJson(s, { maxBytes });
          if (!r.ok) assert.ok((DECODE_FAILURES as readonly string[]).includes(r.code));
        },
      ),
    );
  });

  it('reports invalid UTF-8 exactly when the bytes are not UTF-8, at the first bad sequence', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 32 }), (input) => {
        const r = decodeJson(input);
        if (isUtf8(input)) {
          if (!r.ok) assert.notEqual(r.code, 'invalid-utf8');
          return;
        }
        const f = failure(r);
        assert.equal(f.code, 'invalid-utf8');
        const at = Number(/at byte (\d+)/.exec(f.reason)?.[1]);
        assert.ok(isUtf8(input.subarray(0, at)), `prefix before byte ${at} is valid`);
        assert.ok(!isUtf8(input.subarray(at, at + 4)), 'the sequence starting at the reported byte is bad');
      }),
      { numRuns: 2000 },
    );
  });

  it('accepts depth exactly at the limit and rejects one over, whatever the strings contain', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 6, stringUnit: 'binary' }), (v) => {
        fc.pre(!hasForbiddenKey(v));
        const text = JSON.stringify(v);
        const d = depthOf(v);
        assert.equal(decodeJson(text, { maxDepth: Math.max(d, 1) }).ok, true);
        if (d > 1) {
          const f = failure(decodeJson(text, { maxDepth: d - 1 }));
          assert.equal(f.code, 'too-deep');
          assert.equal(f.reason, `nesting depth ${d} exceeds maxDepth ${d - 1}`);
        }
      }),
      { numRuns: 500 },
    );
  });

  it('catches a forbidden key however it is escaped and wherever it is nested', () => {
    // Each character independently left as is or written as \uXXXX in lower- or upper-case hex.
    const escapedName = fc
      .tuple(
        fc.constantFrom('__proto__', 'constructor', 'prototype'),
        fc.array(fc.constantFrom('plain', 'lower', 'upper'), { minLength: 11, maxLength: 11 }),
      )
      .map(([name, how]) => {
        const chars = [...name].map((ch, i) => {
          const hex = ch.charCodeAt(0).toString(16).padStart(4, '0');
          return how[i] === 'plain' ? ch : `\\u${how[i] === 'upper' ? hex.toUpperCase() : hex}`;
        });
        return { name, json: `"${chars.join('')}"` };
      });
    const path = fc.array(fc.oneof(fc.constant(null), fc.constantFrom('a', 'b c', 'x_1')), { maxLength: 5 });
    fc.assert(
      fc.property(escapedName, path, ({ name, json }, steps) => {
        let doc = `{${json}:1}`;
        let expected = `$`;
        const suffix: string[] = [];
        for (const step of steps) {
          if (step === null) {
            doc = `[0,${doc}]`;
            suffix.unshift('[1]');
          } else {
            doc = `{"ok":true,${JSON.stringify(step)}:${doc}}`;
            suffix.unshift(/^\w+$/.test(step) ? `.${step}` : `[${JSON.stringify(step)}]`);
          }
        }
        expected += suffix.join('') + `.${name}`;
        const f = failure(decodeJson(bytes(doc)));
        assert.equal(f.code, 'forbidden-key');
        assert.equal(f.reason, `object key "${name}" is forbidden; found at ${expected}`);
      }),
      { numRuns: 500 },
    );
  });
});

describe('decodeJson examples', () => {
  it('decodes a typical record from bytes and from a string', () => {
    const text = '{"id":"s-1","ts":1735689600123,"temp":21.5,"tags":["a","b"],"ok":true,"n":null}';
    const expected = { id: 's-1', ts: 1735689600123, temp: 21.5, tags: ['a', 'b'], ok: true, n: null };
    assert.deepStrictEqual(value(decodeJson(bytes(text))), expected);
    assert.deepStrictEqual(value(decodeJson(text)), expected);
  });

  it('decodes a subarray view of a larger buffer, not the whole buffer', () => {
    const buf = bytes('xx{"a":1}yy');
    assert.deepStrictEqual(value(decodeJson(buf.subarray(2, 9))), { a: 1 });
  });

  it('ignores a byte order mark, on bytes and on strings', () => {
    assert.deepStrictEqual(value(decodeJson(raw(0xef, 0xbb, 0xbf, 0x31))), 1);
    assert.deepStrictEqual(value(decodeJson('\ufeff[1]')), [1]);
  });

  it('decodes views of a SharedArrayBuffer', () => {
    const shared = new Uint8Array(new SharedArrayBuffer(16));
    shared.set(bytes('[1,2]'));
    assert.deepStrictEqual(value(decodeJson(shared.subarray(0, 5))), [1, 2]);
  });

  it('is not left in a bad state by a failed decode (regression guard for the shared decoder)', () => {
    assert.equal(failure(decodeJson(raw(0x22, 0xe2, 0x82))).code, 'invalid-utf8');
    assert.equal(failure(decodeJson(raw(0xac, 0x22))).reason, 'invalid UTF-8 at byte 0 (bytes ac 22)');
    assert.equal(value(decodeJson(bytes('"\u20ac"'))), '\u20ac');
  });

  it('allows forbidden names as values and as parts of longer keys', () => {
    const text = '{"a":"constructor","__proto__x":"__proto__","my_prototype":["prototype"],"Constructor":1}';
    assert.deepStrictEqual(value(decodeJson(text)), {
      a: 'constructor',
      __proto__x: '__proto__',
      my_prototype: ['prototype'],
      Constructor: 1,
    });
    assert.equal(value(decodeJson('"__proto__"')), '__proto__');
  });

  it('allows escapes that do not spell a forbidden key', () => {
    assert.deepStrictEqual(value(decodeJson('{"a\\nb":"\\"{[","\\u0041":"]]]"}')), {
      'a\nb': '"{[',
      A: ']]]',
    });
  });

  describe('forbidden-key', () => {
    it('rejects a plain __proto__ key', () => {
      const f = failure(decodeJson('{"__proto__":{"polluted":true}}'));
      assert.equal(f.code, 'forbidden-key');
      assert.equal(f.reason, 'object key "__proto__" is forbidden; found at $.__proto__');
    });

    it('rejects an escaped __proto__ key', () => {
      const f = failure(decodeJson(bytes('{"ok":1,"\\u005f_proto__":{"x":1}}')));
      assert.equal(f.code, 'forbidden-key');
      assert.equal(f.reason, 'object key "__proto__" is forbidden; found at $.__proto__');
    });

    it('rejects a fully escaped constructor key', () => {
      const key = [...'constructor']
        .map((c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)
        .join('');
      assert.equal(failure(decodeJson(`{"${key}":1}`)).code, 'forbidden-key');
    });

    it('rejects nested constructor and prototype, naming the outermost path first', () => {
      const f = failure(decodeJson('{"a":{"constructor":{"prototype":1}}}'));
      assert.equal(f.code, 'forbidden-key');
      assert.equal(f.reason, 'object key "constructor" is forbidden; found at $.a.constructor');
    });

    it('names array indexes and non-identifier keys in the path', () => {
      const f = failure(decodeJson('[1,{"x y":[{"ok":1},{"prototype":1}]}]'));
      assert.equal(f.reason, 'object key "prototype" is forbidden; found at $[1]["x y"][1].prototype');
    });
  });

  describe('too-deep', () => {
    it('accepts depth exactly maxDepth and rejects maxDepth + 1 (default 64)', () => {
      assert.equal(decodeJson(nested(DEFAULT_DECODE_LIMITS.maxDepth)).ok, true);
      const f = failure(decodeJson(nested(DEFAULT_DECODE_LIMITS.maxDepth + 1)));
      assert.equal(f.code, 'too-deep');
      assert.equal(f.reason, 'nesting depth 65 exceeds maxDepth 64');
    });

    it('counts objects and arrays alike, and reports the true depth', () => {
      const doc = '{"a":[{"b":[{}]}]}'; // depth 5
      assert.equal(decodeJson(doc, { maxDepth: 5 }).ok, true);
      assert.equal(failure(decodeJson(doc, { maxDepth: 2 })).reason, 'nesting depth 5 exceeds maxDepth 2');
    });

    it('ignores brackets inside strings, including after escaped quotes', () => {
      const doc = JSON.stringify({ s: `\\"[[[[{{{{${'['.repeat(100)}` });
      assert.equal(decodeJson(doc, { maxDepth: 1 }).ok, true);
    });

    it('rejects a deeply nested record without overflowing the stack', () => {
      const f = failure(decodeJson(bytes(nested(200_000)), { maxBytes: 1_000_000 }));
      assert.equal(f.code, 'too-deep');
      assert.equal(f.reason, 'nesting depth 200000 exceeds maxDepth 64');
    });

    it('is checked before JSON syntax', () => {
      assert.equal(failure(decodeJson('[[[', { maxDepth: 2 })).code, 'too-deep');
    });
  });

  describe('too-large', () => {
    it('rejects bytes over maxBytes before decoding them', () => {
      const f = failure(decodeJson(raw(0x22, 0xff, 0xff, 0x22), { maxBytes: 3 }));
      assert.equal(f.code, 'too-large');
      assert.equal(f.reason, 'record is 4 bytes; maxBytes is 3');
      assert.equal(decodeJson(bytes('[1]'), { maxBytes: 3 }).ok, true);
    });

    it('uses the default 1 MiB limit', () => {
      const big = new Uint8Array(2_000_000).fill(0x20);
      assert.equal(failure(decodeJson(big)).reason, 'record is 2000000 bytes; maxBytes is 1048576');
    });

    it('counts UTF-8 bytes, not UTF-16 code units, for strings', () => {
      const s = '"\u00e9\u00e9\u00e9"'; // 5 code units, 8 bytes
      assert.equal(failure(decodeJson(s, { maxBytes: 7 })).reason, 'record is 8 bytes; maxBytes is 7');
      assert.deepStrictEqual(value(decodeJson(s, { maxBytes: 8 })), '\u00e9\u00e9\u00e9');
      const emoji = '"\u{1F600}"'; // 4 code units, 6 bytes
      assert.equal(failure(decodeJson(emoji, { maxBytes: 5 })).code, 'too-large');
      assert.equal(decodeJson(emoji, { maxBytes: 6 }).ok, true);
    });

    it('rejects long strings on the cheap length check', () => {
      assert.equal(
        failure(decodeJson(' '.repeat(11), { maxBytes: 10 })).reason,
        'record is 11 bytes; maxBytes is 10',
      );
    });
  });

  describe('invalid-utf8', () => {
    const cases: [string, Uint8Array, number][] = [
      ['overlong encoding of "/"', raw(0x22, 0xc0, 0xaf, 0x22), 1],
      ['overlong three-byte encoding', raw(0x22, 0x61, 0xe0, 0x80, 0xaf, 0x22), 2],
      ['lone continuation byte', raw(0x5b, 0x31, 0x2c, 0x80, 0x5d), 3],
      ['truncated three-byte sequence at the end', raw(0x22, 0x61, 0xe2, 0x82), 2],
      ['truncated sequence followed by ASCII', raw(0x22, 0xe2, 0x82, 0x22), 1],
      ['UTF-16 surrogate encoded in UTF-8', raw(0x22, 0xed, 0xa0, 0x80, 0x22), 1],
      ['code point above U+10FFFF', raw(0x22, 0xf4, 0x90, 0x80, 0x80, 0x22), 1],
      ['invalid byte 0xff', raw(0x31, 0xff), 1],
    ];
    for (const [name, input, at] of cases) {
      it(`rejects ${name} at byte ${at}`, () => {
        const f = failure(decodeJson(input));
        assert.equal(f.code, 'invalid-utf8');
        assert.match(f.reason, new RegExp(`^invalid UTF-8 at byte ${at} \\(bytes( [0-9a-f]{2})+\\)$`));
      });
    }

    it('reports the offset within a subarray view', () => {
      const buf = raw(0xff, 0xff, 0x22, 0x61, 0x80, 0x22);
      assert.match(failure(decodeJson(buf.subarray(2))).reason, /^invalid UTF-8 at byte 2 /);
    });
  });

  describe('invalid-json', () => {
    for (const text of ['', '{', '{"a":1,}', "{'a':1}", 'undefined', '[1] [2]', '{"a" 1}', 'NaN']) {
      it(`rejects ${JSON.stringify(text)}`, () => {
        const f = failure(decodeJson(text));
        assert.equal(f.code, 'invalid-json');
        assert.match(f.reason, /^JSON parse error: ./);
      });
    }
  });

  describe('limits', () => {
    for (const bad of [
      0,
      -1,
      1.5,
      Number.NaN,
      Number.POSITIVE_INFINITY,
      2 ** 60,
      '10' as unknown as number,
    ]) {
      it(`throws a config error for limit ${String(bad)} ${typeof bad}`, () => {
        for (const limits of [{ maxBytes: bad }, { maxDepth: bad }]) {
          assert.throws(
            () => decodeJson('1', limits),
            (e: unknown) =>
              e instanceof EddyError &&
              e.code === 'EDDY_CONFIG_INVALID' &&
              /must be a positive integer; received .+; pass a whole number >= 1$/.test(e.message),
          );
          assert.throws(() => resolveDecodeLimits(limits), EddyError);
        }
      });
    }

    it('names the limit and the received value', () => {
      assert.throws(() => resolveDecodeLimits({ maxDepth: -3 }), {
        message: 'decode limit maxDepth must be a positive integer; received -3; pass a whole number >= 1',
      });
    });

    it('resolves defaults once into a frozen object that is reused as is', () => {
      assert.equal(resolveDecodeLimits(), DEFAULT_DECODE_LIMITS);
      const limits = resolveDecodeLimits({ maxBytes: 10 });
      assert.deepStrictEqual(limits, { maxBytes: 10, maxDepth: 64 });
      assert.ok(Object.isFrozen(limits));
      assert.ok(Object.isFrozen(DEFAULT_DECODE_LIMITS));
      assert.equal(resolveDecodeLimits(limits), limits);
      assert.equal(failure(decodeJson('[1,2,3,4,5]', limits)).code, 'too-large');
    });
  });
});
