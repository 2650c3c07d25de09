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
    if (this.#ended) {
      throw new EddyError(
        'EDDY_STATE_INVALID',
        `LineSplitter.push called after end(); received a chunk of ${chunk.length} bytes; use a new LineSplitter for a new stream`,
      );
    }
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
