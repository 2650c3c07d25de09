import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import type { LineItem, TextLineItem } from '../../src/codec/index.ts';
import { decodeJson, LineSplitter, lineBytes } from '../../src/codec/index.ts';
import { EddyError } from '../../src/errors/index.ts';

const LF = 0x0a;
const CR = 0x0d;
const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);

// Items with the line bytes copied into plain arrays, so that comparisons see content, not views.
type Plain =
  | { tooLarge: false; line: number[]; offset: number; nextOffset: number }
  | { tooLarge: true; offset: number; length: number; nextOffset: number };

function plain(items: readonly LineItem[]): Plain[] {
  return items.map((item) => (item.tooLarge ? { ...item } : { ...item, line: [...item.line] }));
}

function text(items: readonly LineItem[]): (string | { tooLarge: number })[] {
  return items.map((i) => (i.tooLarge ? { tooLarge: i.length } : new TextDecoder().decode(i.line)));
}

// The specification, stated over the whole buffer: split on LF, drop one CR before LF or end of stream.
function reference(stream: Uint8Array, maxBytes: number, startOffset = 0): Plain[] {
  const out: Plain[] = [];
  let start = 0;
  while (start < stream.length) {
    const nl = stream.indexOf(LF, start);
    const end = nl === -1 ? stream.length : nl;
    const raw = stream.subarray(start, end);
    const content = raw.length > 0 && raw[raw.length - 1] === CR ? raw.subarray(0, raw.length - 1) : raw;
    const offset = startOffset + start;
    const nextOffset = startOffset + (nl === -1 ? end : end + 1);
    out.push(
      content.length > maxBytes
        ? { tooLarge: true, offset, length: content.length, nextOffset }
        : { tooLarge: false, line: [...content], offset, nextOffset },
    );
    start = nextOffset - startOffset;
  }
  return out;
}

function splitAt(stream: Uint8Array, cuts: readonly number[]): Uint8Array[] {
  const points = [...new Set(cuts.map((c) => c % (stream.length + 1)))].sort((a, b) => a - b);
  const chunks: Uint8Array[] = [];
  let prev = 0;
  for (const p of [...points, stream.length]) {
    chunks.push(stream.subarray(prev, p));
    prev = p;
  }
  return chunks;
}

function runChunks(chunks: readonly Uint8Array[], maxBytes: number): Plain[] {
  const splitter = new LineSplitter({ maxBytes });
  const out: LineItem[] = [];
  for (const chunk of chunks) splitter.push(chunk, out);
  splitter.end(out);
  return plain(out);
}

// Streams rich in the bytes that matter: LF, CR, multi-byte UTF-8, and plain content.
const streamArb = fc
  .array(
    fc.tuple(
      fc.array(fc.constantFrom(0x61, 0x62, CR, 0xc3, 0xa9, 0x7b, 0x22), { maxLength: 12 }),
      fc.constantFrom('\n', '\r\n'),
    ),
    { maxLength: 12 },
  )
  .chain((lines) =>
    fc.boolean().map((finalNewline) => {
      const parts: number[] = [];
      lines.forEach(([content, term], i) => {
        parts.push(...content);
        if (i < lines.length - 1 || finalNewline) parts.push(...bytes(term));
      });
      return Uint8Array.from(parts);
    }),
  );

describe('LineSplitter properties', () => {
  it('gives the same lines and offsets for any chunking as for the whole buffer at once', () => {
    fc.assert(
      fc.property(
        streamArb,
        fc.array(fc.nat(), { maxLength: 20 }),
        fc.integer({ min: 1, max: 16 }),
        (stream, cuts, maxBytes) => {
          const whole = runChunks([stream], maxBytes);
          assert.deepStrictEqual(whole, reference(stream, maxBytes));
          assert.deepStrictEqual(runChunks(splitAt(stream, cuts), maxBytes), whole);
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('is right byte by byte, the worst chunking', () => {
    fc.assert(
      fc.property(streamArb, fc.integer({ min: 1, max: 16 }), (stream, maxBytes) => {
        const chunks = [...stream].map((b) => Uint8Array.of(b));
        assert.deepStrictEqual(runChunks(chunks, maxBytes), reference(stream, maxBytes));
      }),
      { numRuns: 500 },
    );
  });

  it('never keeps a reference to a chunk buffer that the caller reuses', () => {
    fc.assert(
      fc.property(
        streamArb,
        fc.array(fc.nat(), { maxLength: 20 }),
        fc.integer({ min: 1, max: 16 }),
        (stream, cuts, maxBytes) => {
          const readBuffer = new Uint8Array(stream.length + 1);
          const splitter = new LineSplitter({ maxBytes });
          const got: Plain[] = [];
          for (const chunk of splitAt(stream, cuts)) {
            readBuffer.set(chunk);
            got.push(...plain(splitter.push(readBuffer.subarray(0, chunk.length))));
            readBuffer.fill(0x58); // the next "read" overwrites the buffer
          }
          got.push(...plain(splitter.end()));
          assert.deepStrictEqual(got, reference(stream, maxBytes));
        },
      ),
      { numRuns: 1000 },
    );
  });

  it('resumes from resumeOffset or any nextOffset to the same remaining items', () => {
    fc.assert(
      fc.property(
        streamArb,
        fc.array(fc.nat(), { maxLength: 10 }),
        fc.nat(),
        fc.integer({ min: 1, max: 16 }),
        (stream, cuts, stopAfter, maxBytes) => {
          const all = reference(stream, maxBytes);
          const chunks = splitAt(stream, cuts);
          const first = new LineSplitter({ maxBytes });
          const seen: LineItem[] = [];
          for (const chunk of chunks.slice(0, stopAfter % (chunks.length + 1))) first.push(chunk, seen);
          for (const position of [first.resumeOffset, ...seen.map((i) => i.nextOffset)]) {
            const resumed = new LineSplitter({ maxBytes, startOffset: position });
            const rest = plain(resumed.end(resumed.push(stream.subarray(position))));
            assert.deepStrictEqual(
              rest,
              all.filter((i) => i.offset >= position),
            );
          }
        },
      ),
      { numRuns: 500 },
    );
  });
});

// Lines of tokens that matter to decoding: JSON, multi-byte UTF-8, a byte order mark, CRs, bytes that
// are never UTF-8, and a forbidden key.
const jsonStreamArb = fc
  .array(
    fc.tuple(
      fc.array(
        fc.constantFrom(
          '{"a":1}',
          'é',
          '\uFEFF',
          '\r',
          '[1,',
          '"x"',
          '{"__proto__":{}}',
          '\u{1F600}',
          'b',
          '\xff',
        ),
        { maxLength: 6 },
      ),
      fc.constantFrom('\n', '\r\n'),
    ),
    { maxLength: 10 },
  )
  .map((lines) => {
    const parts: number[] = [];
    for (const [tokens, term] of lines) {
      for (const t of tokens) parts.push(...(t === '\xff' ? [0xff] : bytes(t)));
      parts.push(...bytes(term));
    }
    return Uint8Array.from(parts);
  });

const keepBom = new TextDecoder('utf-8', { ignoreBOM: true });

// pushText's items as push's: bytes, with the text checked against the bytes it came from.
function viaText(chunks: readonly Uint8Array[], maxBytes: number): { items: Plain[]; decoded: unknown[] } {
  const splitter = new LineSplitter({ maxBytes });
  const items: Plain[] = [];
  const decoded: unknown[] = [];
  const add = (got: readonly TextLineItem[]) => {
    for (const item of got) {
      if (item.tooLarge) {
        items.push({ ...item });
        continue;
      }
      const line = lineBytes(item);
      if ('text' in item) assert.equal(item.text, keepBom.decode(line));
      items.push({ tooLarge: false, line: [...line], offset: item.offset, nextOffset: item.nextOffset });
      decoded.push(decodeJson('text' in item ? item.text : item.line));
    }
  };
  for (const chunk of chunks) add(splitter.pushText(chunk));
  add(splitter.end());
  return { items, decoded };
}

describe('LineSplitter.pushText properties', () => {
  it("gives push's lines and offsets for any chunking, and text that decodes as the bytes do", () => {
    for (const arb of [streamArb, jsonStreamArb])
      fc.assert(
        fc.property(
          arb,
          fc.array(fc.nat(), { maxLength: 20 }),
          fc.integer({ min: 1, max: 40 }),
          (stream, cuts, maxBytes) => {
            const chunks = splitAt(stream, cuts);
            const got = viaText(chunks, maxBytes);
            assert.deepStrictEqual(got.items, reference(stream, maxBytes));
            const byBytes = reference(stream, maxBytes).flatMap((i) =>
              i.tooLarge ? [] : [decodeJson(Uint8Array.from(i.line))],
            );
            assert.deepStrictEqual(got.decoded, byBytes);
          },
        ),
        { numRuns: 1500 },
      );
  });

  it('never keeps a reference to a chunk buffer that the caller reuses, once its items are read', () => {
    fc.assert(
      fc.property(jsonStreamArb, fc.array(fc.nat(), { maxLength: 20 }), (stream, cuts) => {
        const readBuffer = new Uint8Array(stream.length + 1);
        const splitter = new LineSplitter({ maxBytes: 64 });
        const got: string[] = [];
        const read = (items: readonly TextLineItem[]) => {
          for (const i of items) if (!i.tooLarge) got.push(keepBom.decode(lineBytes(i)));
        };
        for (const chunk of splitAt(stream, cuts)) {
          readBuffer.set(chunk);
          read(splitter.pushText(readBuffer.subarray(0, chunk.length)));
          readBuffer.fill(0x58);
        }
        read(splitter.end());
        const want = reference(stream, 64).flatMap((i) =>
          i.tooLarge ? [] : [keepBom.decode(Uint8Array.from(i.line))],
        );
        assert.deepStrictEqual(got, want);
      }),
      { numRuns: 500 },
    );
  });
});

describe('LineSplitter examples', () => {
  it('pushText: the lines inside a chunk as text, a line ending one begun earlier as bytes', () => {
    const s = new LineSplitter();
    assert.deepStrictEqual(s.pushText(bytes('{"a":')), []);
    const items = s.pushText(bytes('1}\r\n\uFEFF{"é":2}\n{"c"'));
    assert.deepStrictEqual(
      items.map((i) => (i.tooLarge ? 'too-large' : 'text' in i ? ['text', i.text] : ['bytes', text([i])[0]])),
      [
        ['bytes', '{"a":1}'],
        ['text', '\uFEFF{"é":2}'],
      ],
    );
    assert.deepStrictEqual(
      items.map((i) => [i.offset, i.nextOffset]),
      [
        [0, 9],
        [9, 21],
      ],
    );
    const [second] = items.slice(1);
    assert.ok(second !== undefined && !second.tooLarge && 'text' in second);
    assert.deepStrictEqual(decodeJson(second.text), { ok: true, value: { é: 2 } });
    assert.deepStrictEqual(text(s.end()), ['{"c"']);
  });

  it('pushText: a chunk that is not UTF-8 comes line by line as bytes, and only its bad line fails', () => {
    const s = new LineSplitter();
    const items = s.pushText(Uint8Array.from([...bytes('{"a":1}\n'), 0xff, ...bytes('\n{"b":2}\n')]));
    assert.ok(items.every((i) => !i.tooLarge && !('text' in i)));
    assert.deepStrictEqual(
      items.map((i) => (i.tooLarge ? 'too-large' : decodeJson('text' in i ? i.text : i.line).ok)),
      [true, false, true],
    );
  });

  it("pushText: a chunk larger than a decoding region (16 KiB), lines longer than one, give push's items", () => {
    const rng = fc.sample(fc.integer({ min: 0, max: 40_000 }), { numRuns: 60, seed: 7 });
    const lines = rng.map((len, i) =>
      JSON.stringify({ i, s: (i % 7 === 3 ? 'é' : 'x').repeat(len % 9 === 0 ? len : len % 300) }),
    );
    const stream = bytes(`${lines.join('\r\n')}\n`);
    assert.ok(stream.length > 100_000);
    for (const maxBytes of [1 << 20, 20_000]) {
      const got = viaText(splitAt(stream, [70_000, 150_000]), maxBytes);
      assert.deepStrictEqual(got.items, reference(stream, maxBytes));
      assert.equal(
        got.decoded.filter((d) => (d as { ok: boolean }).ok).length,
        reference(stream, maxBytes).filter((i) => !i.tooLarge).length,
      );
    }
  });

  it('pushText: a line over maxBytes inside a chunk is reported, not handed out', () => {
    const s = new LineSplitter({ maxBytes: 4 });
    const items = s.pushText(bytes('abcdef\nab\n'));
    assert.deepStrictEqual(
      items.map((i) => (i.tooLarge ? { tooLarge: i.length } : 'text' in i ? i.text : '?')),
      [{ tooLarge: 6 }, 'ab'],
    );
  });

  it('splits on LF and CRLF, with offsets of line starts and of the byte after each terminator', () => {
    const s = new LineSplitter();
    const items = s.push(bytes('a\r\nbb\ncc\r\n'));
    assert.deepStrictEqual(plain(items), [
      { tooLarge: false, line: [0x61], offset: 0, nextOffset: 3 },
      { tooLarge: false, line: [0x62, 0x62], offset: 3, nextOffset: 6 },
      { tooLarge: false, line: [0x63, 0x63], offset: 6, nextOffset: 10 },
    ]);
    assert.equal(s.resumeOffset, 10);
    assert.deepStrictEqual(s.end(), []);
  });

  it('handles a CRLF split across chunks', () => {
    const s = new LineSplitter();
    assert.deepStrictEqual(s.push(bytes('{"a":1}\r')), []);
    const items = s.push(bytes('\n{"b":2}'));
    assert.deepStrictEqual(text(items), ['{"a":1}']);
    assert.equal(items[0]?.nextOffset, 9);
    assert.equal(s.resumeOffset, 9);
    assert.deepStrictEqual(plain(s.end()), [
      { tooLarge: false, line: [...bytes('{"b":2}')], offset: 9, nextOffset: 16 },
    ]);
  });

  it('keeps a CR that is not before LF, and drops one before end of stream', () => {
    const s = new LineSplitter();
    assert.deepStrictEqual(text(s.push(bytes('a\rb\n\r\r\nc\r'))), ['a\rb', '\r']);
    assert.deepStrictEqual(plain(s.end()), [{ tooLarge: false, line: [0x63], offset: 7, nextOffset: 9 }]);
  });

  it('emits empty lines, and no extra line after a final newline', () => {
    const s = new LineSplitter();
    assert.deepStrictEqual(text(s.push(bytes('\n\r\nx\n'))), ['', '', 'x']);
    assert.deepStrictEqual(s.end(), []);
  });

  it('returns lines inside one chunk as zero-copy views, and copies lines that span chunks', () => {
    const chunk = bytes('ab\ncd');
    const s = new LineSplitter();
    const [ab] = s.push(chunk);
    assert.ok(ab !== undefined && !ab.tooLarge);
    assert.equal(ab.line.buffer, chunk.buffer);
    const [cd] = s.push(bytes('e\n'));
    assert.ok(cd !== undefined && !cd.tooLarge);
    assert.notEqual(cd.line.buffer, chunk.buffer);
    assert.deepStrictEqual(text([cd]), ['cde']);
  });

  it('appends to a caller-supplied batch', () => {
    const s = new LineSplitter();
    const batch: LineItem[] = [];
    assert.equal(s.push(bytes('1\n2'), batch), batch);
    s.push(bytes('\n3\n'), batch);
    assert.deepStrictEqual(text(batch), ['1', '2', '3']);
  });

  it('accepts Node Buffers as chunks', () => {
    const s = new LineSplitter();
    assert.deepStrictEqual(text(s.push(Buffer.from('x\ny\n'))), ['x', 'y']);
  });

  it('offsets items from startOffset', () => {
    const s = new LineSplitter({ startOffset: 1000 });
    const items = s.push(bytes('a\nb\n'));
    assert.deepStrictEqual(
      items.map((i) => [i.offset, i.nextOffset]),
      [
        [1000, 1002],
        [1002, 1004],
      ],
    );
  });

  describe('too-large lines', () => {
    it('reports an oversized line that spans chunks, then carries on', () => {
      const s = new LineSplitter({ maxBytes: 4 });
      const items: LineItem[] = [];
      for (const c of ['ok\nab', 'cdefg', 'hi\r', '\nfine\n']) s.push(bytes(c), items);
      s.end(items);
      assert.deepStrictEqual(plain(items), [
        { tooLarge: false, line: [0x6f, 0x6b], offset: 0, nextOffset: 3 },
        { tooLarge: true, offset: 3, length: 9, nextOffset: 14 },
        { tooLarge: false, line: [...bytes('fine')], offset: 14, nextOffset: 19 },
      ]);
    });

    it('accepts exactly maxBytes, also with CRLF split over chunks, and rejects maxBytes + 1', () => {
      const s = new LineSplitter({ maxBytes: 4 });
      const items: LineItem[] = [];
      for (const c of ['ab', 'cd', '\r', '\nabcde', '\r\n', 'abcd\r']) s.push(bytes(c), items);
      s.end(items);
      assert.deepStrictEqual(text(items), ['abcd', { tooLarge: 5 }, 'abcd']);
    });

    it('reports an oversized final line without a newline at end()', () => {
      const s = new LineSplitter({ maxBytes: 3 });
      assert.deepStrictEqual(text(s.push(bytes('a\nbbbb'))), ['a']);
      s.push(bytes('bb\r'));
      assert.deepStrictEqual(plain(s.end()), [{ tooLarge: true, offset: 2, length: 6, nextOffset: 9 }]);
    });

    it('reports a final line one byte over the limit that was still being buffered', () => {
      const s = new LineSplitter({ maxBytes: 3 });
      s.push(bytes('abcd'));
      assert.deepStrictEqual(plain(s.end()), [{ tooLarge: true, offset: 0, length: 4, nextOffset: 4 }]);
    });

    it('skips a huge line in many chunks and finds the next line', () => {
      const s = new LineSplitter({ maxBytes: 1024 });
      const chunk = new Uint8Array(64 * 1024).fill(0x61);
      const items: LineItem[] = [];
      for (let i = 0; i < 160; i++) s.push(chunk, items); // 10 MiB without a newline
      s.push(bytes('\n{"next":true}\n'), items);
      assert.deepStrictEqual(text(items), [{ tooLarge: 160 * 64 * 1024 }, '{"next":true}']);
      assert.equal(items[1]?.offset, 160 * 64 * 1024 + 1);
    });
  });

  describe('misuse', () => {
    it('refuses chunks after end()', () => {
      const s = new LineSplitter();
      s.end();
      assert.deepStrictEqual(s.end(), []);
      for (const push of [() => s.push(bytes('x')), () => s.pushText(bytes('x'))])
        assert.throws(
          push,
          (e: unknown) =>
            e instanceof EddyError && e.code === 'EDDY_STATE_INVALID' && /after end\(\)/.test(e.message),
        );
    });

    for (const options of [{ maxBytes: 0 }, { maxBytes: 2.5 }, { startOffset: -1 }, { startOffset: 0.5 }]) {
      it(`rejects options ${JSON.stringify(options)} with a config error`, () => {
        assert.throws(
          () => new LineSplitter(options),
          (e: unknown) =>
            e instanceof EddyError && e.code === 'EDDY_CONFIG_INVALID' && /received/.test(e.message),
        );
      });
    }
  });

  it('feeds decodeJson: a JSON Lines stream with a bad line in the middle', () => {
    const s = new LineSplitter();
    const items = s.end(s.push(bytes('{"a":1}\r\n{"__proto__":{}}\n[1,\n{"b":2}')));
    const results = items.map((i) => (i.tooLarge ? 'too-large' : decodeJson(i.line)));
    assert.deepStrictEqual(
      results.map((r) => (typeof r === 'string' ? r : r.ok ? r.value : r.code)),
      [{ a: 1 }, 'forbidden-key', 'invalid-json', { b: 2 }],
    );
  });
});
