/**
 * Incremental splitting of a byte stream into lines, for JSON Lines sources (files, HTTP bodies).
 *
 * Sources read in chunks that cut lines anywhere, and must checkpoint a byte position they can resume
 * from, so every item carries its stream offset. A line longer than the limit is never buffered in
 * full: the splitter stops copying once the limit is passed and just counts bytes until the next
 * newline, so one runaway line costs bounded memory and becomes one `tooLarge` item.
 */

import { EddyError } from '../errors/index.ts';
import { DEFAULT_DECODE_LIMITS, resolveDecodeLimits } from './json.ts';

const LF = 0x0a;
const CR = 0x0d;

/**
 * One complete line found by {@link LineSplitter}: its bytes without the `\n` or `\r\n` terminator,
 * the stream offset of its first byte, and `nextOffset`, the offset just past its terminator, which
 * is what a source stores in a checkpoint once the line has been processed.
 *
 * @example
 * ```ts
 * const [item] = new LineSplitter().push(new TextEncoder().encode('{"a":1}\r\n'));
 * assert.deepEqual({ ...item, line: new TextDecoder().decode(item.line) },
 *   { tooLarge: false, line: '{"a":1}', offset: 0, nextOffset: 9 });
 * ```
 */
export interface Line {
  readonly tooLarge: false;
  readonly line: Uint8Array;
  readonly offset: number;
  readonly nextOffset: number;
}

/**
 * A line whose content exceeded `maxBytes`, reported instead of its bytes so a source can dead-letter
 * it (with where it was and how long it was) and carry on with the next line.
 *
 * @example
 * ```ts
 * const [item] = new LineSplitter({ maxBytes: 4 }).push(new TextEncoder().encode('abcdef\n'));
 * assert.deepEqual(item, { tooLarge: true, offset: 0, length: 6, nextOffset: 7 });
 * ```
 */
export interface TooLargeLine {
  readonly tooLarge: true;
  readonly offset: number;
  /** Content length in bytes, without the terminator. */
  readonly length: number;
  readonly nextOffset: number;
}

/**
 * What the splitter emits; discriminate on `tooLarge`.
 *
 * @example
 * ```ts
 * for (const item of splitter.push(chunk)) {
 *   if (item.tooLarge) deadLetter(item.offset, item.length); else handle(decodeJson(item.line));
 * }
 * ```
 */
export type LineItem = Line | TooLargeLine;

/**
 * A complete line found by {@link LineSplitter.pushText}, handed out as text: `text` is its UTF-8
 * (valid: a region that is not falls back to {@link Line}s) without the terminator, a byte order mark
 * kept as U+FEFF, as `decodeJson` of its bytes would read it. Its bytes are `chunk[start, end)`, a
 * view of the caller's chunk (valid until the next read into it), for a dead letter that keeps them.
 *
 * @example
 * ```ts
 * const [item] = new LineSplitter().pushText(new TextEncoder().encode('{"a":1}\n'));
 * assert.deepEqual([item.text, item.offset, item.nextOffset], ['{"a":1}', 0, 8]);
 * ```
 */
export interface TextLine {
  readonly tooLarge: false;
  readonly text: string;
  readonly chunk: Uint8Array;
  readonly start: number;
  readonly end: number;
  readonly offset: number;
  readonly nextOffset: number;
}

/** What {@link LineSplitter.pushText} emits: a line that ends a line begun in an earlier chunk comes as bytes. */
export type TextLineItem = Line | TextLine | TooLargeLine;

/**
 * The bytes of a line item (a copy), for a dead letter.
 *
 * @example
 * ```ts
 * const [item] = new LineSplitter().pushText(new TextEncoder().encode('[1,\n'));
 * const decoded = decodeJson(item.text);
 * if (!decoded.ok) deadLetter(decoded.reason, lineBytes(item)); // the bytes of '[1,'
 * ```
 */
export function lineBytes(item: Line | TextLine): Uint8Array {
  return 'text' in item ? item.chunk.slice(item.start, item.end) : item.line.slice();
}

// Decodes a chunk's complete lines a region at a time (pushText): one call per region rather than
// one per line, which cost about a sixth of decoding a Nexmark line (issue 15). Fatal, so a region that is not
// UTF-8 is split line by line instead and only its bad line fails; a byte order mark is kept, as
// decodeJson drops one at the start of a line whether it gets bytes or text.
const regionDecoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

// The most bytes decoded at once: a string of more than V8's largest regular object (128 KiB) is
// made in its large-object space, which counts against the old generation and brings on major
// collections (1 MiB at once ran 1.5× slower than per line; 8–64 KiB all ran about a fifth faster).
const REGION_BYTES = 16 * 1024;

/**
 * Options for {@link LineSplitter}. `maxBytes` defaults to the decode limit so that a line the
 * splitter lets through is never rejected as too large by {@link decodeJson} with the same limits;
 * `startOffset` is the stream position the first pushed byte is at, for resuming from a checkpoint.
 *
 * @example
 * ```ts
 * const splitter = new LineSplitter({ maxBytes: 65536, startOffset: checkpoint.nextOffset });
 * ```
 */
export interface LineSplitterOptions {
  readonly maxBytes?: number;
  readonly startOffset?: number;
}

/**
 * Splits a stream of byte chunks into lines, across chunk boundaries, handling `\n` and `\r\n` (a `\r`
 * is dropped only right before `\n` or the end of the stream). Lines wholly inside one chunk are
 * zero-copy subarrays of it, so a caller that reuses its read buffer must consume the items of a
 * push before the next read; lines that span chunks are copied, so the caller's buffer is never
 * retained between pushes. Call `end()` once at end of stream to get a final unterminated line.
 *
 * @example
 * ```ts
 * const splitter = new LineSplitter({ maxBytes: 1 << 20 });
 * for await (const chunk of fs.createReadStream(path)) {
 *   for (const item of splitter.push(chunk)) if (!item.tooLarge) emit(decodeJson(item.line), item.nextOffset);
 * }
 * for (const item of splitter.end()) if (!item.tooLarge) emit(decodeJson(item.line), item.nextOffset);
 * ```
 */
export class LineSplitter {
  readonly #maxBytes: number;
  // Stream offset of the first byte of the line being assembled (or skipped).
  #lineStart: number;
  // The start of a line that spans chunks, copied because the caller may reuse its chunk buffer.
  #carry: Uint8Array;
  #carryLen = 0;
  // Past the limit: only counting bytes until the next newline.
  #skipping = false;
  #skipLen = 0;
  #skipLastCR = false;
  #ended = false;

  constructor(options: LineSplitterOptions = {}) {
    this.#maxBytes = resolveDecodeLimits({
      maxBytes: options.maxBytes ?? DEFAULT_DECODE_LIMITS.maxBytes,
    }).maxBytes;
    const start = options.startOffset ?? 0;
    if (!Number.isSafeInteger(start) || start < 0) {
      throw new EddyError(
        'EDDY_CONFIG_INVALID',
        `LineSplitter startOffset must be a non-negative integer; received ${String(start)}; pass the nextOffset of the last processed line, or 0`,
      );
    }
    this.#lineStart = start;
    this.#carry = new Uint8Array(Math.min(4096, this.#maxBytes + 1));
  }

  /**
   * The stream offset up to which every byte belongs to an emitted item: where to resume reading
   * after all items emitted so far have been processed. Bytes of an unfinished line lie after it.
   *
   * @example
   * ```ts
   * splitter.push(chunk); // emits complete lines, holds the partial tail
   * checkpoint.save({ position: splitter.resumeOffset });
   * ```
   */
  get resumeOffset(): number {
    return this.#lineStart;
  }

  /**
   * Feeds the next chunk and appends the lines it completes to `out` (a new array by default; pass
   * one to batch several chunks without allocating per push). Returns `out`.
   *
   * @example
   * ```ts
   * const items = splitter.push(new TextEncoder().encode('a\nb'));
   * assert.equal(items.length, 1); // 'b' is held until a newline or end()
   * ```
   */
  push(chunk: Uint8Array, out: LineItem[] = []): LineItem[] {
    this.#checkOpen('push', chunk);
    const n = chunk.length;
    let pos = 0;
    while (pos < n) {
      const nl = chunk.indexOf(LF, pos);
      if (nl === -1) {
        this.#hold(chunk, pos, n);
        break;
      }
      this.#complete(chunk, pos, nl, out);
      pos = nl + 1;
    }
    return out;
  }

  /**
   * As {@link push}, but the lines that lie wholly inside `chunk` come as text ({@link TextLine}),
   * decoded from UTF-8 in one call per region of up to 16 KiB of whole lines; the first line of the
   * chunk comes as bytes when it ends a line begun in an earlier chunk, and so do a region's lines
   * when they are not all valid UTF-8. Offsets, limits and what is held are as `push`'s.
   *
   * @example
   * ```ts
   * for (const item of splitter.pushText(chunk))
   *   if (!item.tooLarge) handle(decodeJson('text' in item ? item.text : item.line));
   * ```
   */
  pushText(chunk: Uint8Array, out: TextLineItem[] = []): TextLineItem[] {
    this.#checkOpen('pushText', chunk);
    const n = chunk.length;
    const last = chunk.lastIndexOf(LF);
    if (last === -1) {
      if (n > 0) this.#hold(chunk, 0, n);
      return out;
    }
    let pos = 0;
    if (this.#carryLen > 0 || this.#skipping) {
      const nl = chunk.indexOf(LF);
      this.#complete(chunk, 0, nl, out as LineItem[]);
      pos = nl + 1;
    }
    if (pos <= last) this.#completeText(chunk, pos, last, out);
    if (last + 1 < n) this.#hold(chunk, last + 1, n);
    return out;
  }

  // Emits the lines of chunk[from, last], each ending in a '\n', none begun in an earlier chunk: in
  // regions of about REGION_BYTES, each decoded at once.
  #completeText(chunk: Uint8Array, from: number, last: number, out: TextLineItem[]): void {
    for (let a = from; a <= last; ) {
      let b = a + REGION_BYTES > last ? last : chunk.lastIndexOf(LF, a + REGION_BYTES - 1);
      if (b < a) b = chunk.indexOf(LF, a); // a line longer than a region
      this.#completeRegion(chunk, a, b, out);
      a = b + 1;
    }
  }

  #completeRegion(chunk: Uint8Array, from: number, last: number, out: TextLineItem[]): void {
    let text: string;
    try {
      text = regionDecoder.decode(chunk.subarray(from, last + 1));
    } catch {
      for (let pos = from; pos <= last; ) {
        const nl = chunk.indexOf(LF, pos);
        this.#complete(chunk, pos, nl, out as LineItem[]);
        pos = nl + 1;
      }
      return;
    }
    // All ASCII: a character is a byte, so the text's newlines are the bytes' too.
    const ascii = text.length === last + 1 - from;
    const max = this.#maxBytes;
    let pos = from;
    let q = 0;
    while (pos <= last) {
      const qn = text.indexOf('\n', q);
      const nl = ascii ? from + qn : chunk.indexOf(LF, pos);
      const cr = nl > pos && chunk[nl - 1] === CR;
      const end = cr ? nl - 1 : nl;
      const offset = this.#lineStart;
      const nextOffset = offset + nl + 1 - pos;
      if (end - pos > max) out.push({ tooLarge: true, offset, length: end - pos, nextOffset });
      else
        out.push({
          tooLarge: false,
          text: text.slice(q, cr ? qn - 1 : qn),
          chunk,
          start: pos,
          end,
          offset,
          nextOffset,
        });
      this.#lineStart = nextOffset;
      pos = nl + 1;
      q = qn + 1;
    }
  }

  /**
   * Signals end of stream and appends the final line if the stream did not end with a newline (a
   * stream ending in `\n` yields no extra empty line). Returns `out`; the splitter accepts no more
   * chunks afterwards.
   *
   * @example
   * ```ts
   * splitter.push(new TextEncoder().encode('{"last":true}'));
   * const [last] = splitter.end();
   * assert.deepEqual([last.offset, last.nextOffset], [0, 13]);
   * ```
   */
  end(out: LineItem[] = []): LineItem[] {
    if (this.#ended) return out;
    this.#ended = true;
    const offset = this.#lineStart;
    if (this.#skipping) {
      const nextOffset = offset + this.#skipLen;
      out.push({ tooLarge: true, offset, length: this.#skipLen - (this.#skipLastCR ? 1 : 0), nextOffset });
      this.#lineStart = nextOffset;
    } else if (this.#carryLen > 0) {
      const raw = this.#carryLen;
      const length = raw - (this.#carry[raw - 1] === CR ? 1 : 0);
      const nextOffset = offset + raw;
      if (length > this.#maxBytes) out.push({ tooLarge: true, offset, length, nextOffset });
      else out.push({ tooLarge: false, line: this.#carry.slice(0, length), offset, nextOffset });
      this.#lineStart = nextOffset;
    }
    this.#skipping = false;
    this.#carryLen = 0;
    return out;
  }

  #checkOpen(method: string, chunk: Uint8Array): void {
    if (!this.#ended) return;
    throw new EddyError(
      'EDDY_STATE_INVALID',
      `LineSplitter.${method} called after end(); received a chunk of ${chunk.length} bytes; use a new LineSplitter for a new stream`,
    );
  }

  // Keeps the unterminated tail of a chunk, copying at most maxBytes + 1 bytes (content plus a
  // possible '\r'); anything longer is certainly too large and is only counted.
  #hold(chunk: Uint8Array, from: number, to: number): void {
    const len = to - from;
    if (this.#skipping) {
      this.#skipLen += len;
      this.#skipLastCR = chunk[to - 1] === CR;
      return;
    }
    const total = this.#carryLen + len;
    if (total > this.#maxBytes + 1) {
      this.#skipping = true;
      this.#skipLen = total;
      this.#skipLastCR = chunk[to - 1] === CR;
      this.#carryLen = 0;
      return;
    }
    if (total > this.#carry.length) {
      const grown = new Uint8Array(Math.min(Math.max(total, this.#carry.length * 2), this.#maxBytes + 1));
      grown.set(this.#carry.subarray(0, this.#carryLen));
      this.#carry = grown;
    }
    this.#carry.set(chunk.subarray(from, to), this.#carryLen);
    this.#carryLen = total;
  }

  // Emits the line that ends at chunk[nl] (the '\n'), whose tail is chunk[from, nl).
  #complete(chunk: Uint8Array, from: number, nl: number, out: LineItem[]): void {
    const seg = nl - from;
    const before = this.#skipping ? this.#skipLen : this.#carryLen;
    const raw = before + seg;
    let lastCR: boolean;
    if (seg > 0) lastCR = chunk[nl - 1] === CR;
    else if (this.#skipping) lastCR = this.#skipLastCR;
    else lastCR = before > 0 && this.#carry[before - 1] === CR;
    const length = raw - (lastCR ? 1 : 0);
    const offset = this.#lineStart;
    const nextOffset = offset + raw + 1;

    if (this.#skipping || length > this.#maxBytes) {
      out.push({ tooLarge: true, offset, length, nextOffset });
    } else if (before === 0) {
      out.push({ tooLarge: false, line: chunk.subarray(from, from + length), offset, nextOffset });
    } else {
      const line = new Uint8Array(length);
      line.set(this.#carry.subarray(0, Math.min(before, length)));
      if (length > before) line.set(chunk.subarray(from, from + length - before), before);
      out.push({ tooLarge: false, line, offset, nextOffset });
    }
    this.#skipping = false;
    this.#skipLen = 0;
    this.#carryLen = 0;
    this.#lineStart = nextOffset;
  }
}
