/**
 * Watermark alignment between the subtasks of one job (as Flink's FLIP-182).
 *
 * At parallelism n every subtask reads its own share of a splittable source.
 * Nothing else ties their pace together, so one subtask's reader can run
 * seconds of event time ahead of another's — and every keyed step downstream
 * takes the lowest watermark over its inputs, so every window, session and
 * join buffer the slow reader has not yet closed stays open in every subtask.
 * Measured before this existed (session windows, gap shorter than a key's
 * spacing, 2 threads): the watermark lagged up to 4 s of event time, each key
 * held 5–18 open sessions instead of 0–1, and the run took 5× longer than on
 * one thread.
 *
 * So each subtask publishes its reader's watermark on a board every subtask
 * can read (a SharedArrayBuffer, so threads read it without messages), and a
 * reader that is more than `maxDrift` ms of event time ahead of the slowest
 * one waits before its next poll — until the next publish on the board
 * (`Atomics.waitAsync` on a counter per source), not a fixed sleep: a fast
 * pipeline crosses a second of event time in a few ms.
 *
 * Only readers that have a watermark count: a subtask whose reader has not
 * started, or whose last poll found nothing, holds nobody back; an idle or
 * finished one counts as +Infinity. Results never depend on this — only when
 * records are read does.
 */
/** The most a subtask's reader may run ahead of the slowest one, in ms of event time, by default. */
export const DEFAULT_MAX_DRIFT_MS = 1000;

// Watermarks are stored as whole milliseconds in 64-bit integers (read and
// written with Atomics, so never torn); these stand for -Infinity and +Infinity.
const NONE = -(2n ** 63n);
const DONE = 2n ** 63n - 1n;

export class WatermarkAlignment {
  /** Shared with the other threads of the job (pass it in their worker data). */
  readonly buffer: SharedArrayBuffer;
  readonly #slots: BigInt64Array;
  // One counter per source, bumped at every publish: what waiting readers wait on.
  readonly #versions: Int32Array;
  readonly #sources: readonly string[];
  readonly #parallelism: number;

  /**
   * A board for `sources` (the job's splittable sources, in plan order — the
   * same in every thread) over `parallelism` subtasks; over `buffer` when a
   * thread joins the board another made.
   */
  constructor(sources: readonly string[], parallelism: number, buffer?: SharedArrayBuffer) {
    const slotBytes = sources.length * parallelism * 8;
    const bytes = slotBytes + Math.max(1, sources.length) * 8;
    this.buffer = buffer ?? new SharedArrayBuffer(bytes);
    if (this.buffer.byteLength !== bytes) {
      throw new RangeError(`alignment board of ${this.buffer.byteLength} bytes; expected ${bytes}`);
    }
    this.#slots = new BigInt64Array(this.buffer, 0, sources.length * parallelism);
    this.#versions = new Int32Array(this.buffer, slotBytes, sources.length);
    this.#sources = sources;
    this.#parallelism = parallelism;
    if (buffer === undefined) this.#slots.fill(NONE);
  }

  /** The board index of source `id`, or -1 if it is not aligned. */
  indexOf(id: string): number {
    return this.#sources.indexOf(id);
  }

  /** Publishes subtask `subtask`'s watermark for source `index` (+Infinity: idle or finished). */
  publish(index: number, subtask: number, watermark: number): void {
    const v =
      watermark === Number.POSITIVE_INFINITY
        ? DONE
        : watermark === Number.NEGATIVE_INFINITY
          ? NONE
          : BigInt(Math.floor(watermark));
    Atomics.store(this.#slots, index * this.#parallelism + subtask, v);
    Atomics.add(this.#versions, index, 1);
    Atomics.notify(this.#versions, index);
  }

  /** The publish counter of source `index`: read it before {@link lowest}, then pass it to {@link changed}. */
  version(index: number): number {
    return Atomics.load(this.#versions, index);
  }

  /** Resolves at the next publish for source `index` after `version` (at once if there was one), or after `timeoutMs`. */
  changed(index: number, version: number, timeoutMs: number): Promise<unknown> {
    const r = Atomics.waitAsync(this.#versions, index, version, timeoutMs);
    return r.async ? r.value : Promise.resolve();
  }

  /**
   * Subtask `subtask`'s reader of source `id` on this board, or undefined when
   * that source is not aligned (not splittable, or `maxDrift` is Infinity).
   */
  reader(id: string, subtask: number, maxDrift: number): AlignedReader | undefined {
    const index = this.indexOf(id);
    if (index < 0 || maxDrift === Number.POSITIVE_INFINITY) return undefined;
    return new AlignedReader(this, index, subtask, maxDrift);
  }

  /** The lowest published watermark of source `index` over all subtasks; -Infinity when none has one. */
  lowest(index: number): number {
    let low = DONE;
    let known = false;
    const base = index * this.#parallelism;
    for (let k = 0; k < this.#parallelism; k++) {
      const v = Atomics.load(this.#slots, base + k);
      if (v === NONE) continue;
      known = true;
      if (v < low) low = v;
    }
    if (!known) return Number.NEGATIVE_INFINITY;
    return low === DONE ? Number.POSITIVE_INFINITY : Number(low);
  }
}

/** One subtask's reader of an aligned source: what it publishes, and whether it must wait. */
export class AlignedReader {
  readonly #board: WatermarkAlignment;
  readonly #index: number;
  readonly #subtask: number;
  readonly #maxDrift: number;
  #published = Number.NEGATIVE_INFINITY;

  constructor(board: WatermarkAlignment, index: number, subtask: number, maxDrift: number) {
    this.#board = board;
    this.#index = index;
    this.#subtask = subtask;
    this.#maxDrift = maxDrift;
  }

  /**
   * Publishes the reader's watermark (+Infinity while `starving`: its last
   * poll found nothing, so waiting for it cannot help the others). Returns
   * the board's version to wait on when the reader is more than `maxDrift`
   * ahead of the slowest one, else undefined.
   */
  check(watermark: number, starving: boolean): number | undefined {
    const board = this.#board;
    const shown = starving ? Number.POSITIVE_INFINITY : watermark;
    if (shown !== this.#published) board.publish(this.#index, this.#subtask, (this.#published = shown));
    // Read before `lowest`: a publish in between makes the wait return at once.
    const version = board.version(this.#index);
    if (watermark === Number.POSITIVE_INFINITY) return undefined;
    return watermark - board.lowest(this.#index) > this.#maxDrift ? version : undefined;
  }

  /**
   * Publishes the reader's watermark right after it fed records: a reader that
   * has handed out records but not yet shown their watermark would let the
   * others run ahead unchecked until its next poll (issue 19: 3,800 ms ahead
   * on a loaded machine, where that next poll came late).
   */
  publish(watermark: number): void {
    if (watermark !== this.#published)
      this.#board.publish(this.#index, this.#subtask, (this.#published = watermark));
  }

  /** Resolves at the next publish after `version`, or after 10 ms. */
  wait(version: number): Promise<unknown> {
    return this.#board.changed(this.#index, version, 10);
  }

  /** The reader has finished: it holds nobody back any more. */
  finish(): void {
    this.#board.publish(this.#index, this.#subtask, Number.POSITIVE_INFINITY);
  }
}
