/**
 * Window assigners and the shapes of windowed results.
 *
 * A window is the half-open interval `[start, end)` of event time. Its result is
 * final once the watermark reaches `end - 1`; within the allowed lateness a
 * late record updates it (a result with `timing: 'late'`); after that the record
 * goes to the window step's late output.
 */
import { configError } from '../errors/index.ts';
import type { Key } from '../state/key-groups.ts';

/** The event-time interval `[start, end)`. */
export interface Window {
  readonly start: number;
  readonly end: number;
}

/**
 * Why a result was emitted: `early` before the window closed (periodic early
 * results), `on-time` when the watermark passed its end, `late` when a record
 * within the allowed lateness updated an already emitted result.
 */
export type Timing = 'early' | 'on-time' | 'late';

/** One result of a windowed aggregation. Later results for the same key and window supersede earlier ones. */
export interface Windowed<K extends Key, R> {
  readonly key: K;
  readonly window: Window;
  readonly value: R;
  readonly timing: Timing;
}

export type WindowAssigner =
  | { readonly kind: 'tumbling'; readonly size: number; readonly offset: number }
  | { readonly kind: 'sliding'; readonly size: number; readonly slide: number; readonly offset: number }
  | { readonly kind: 'session'; readonly gap: number };

function positive(what: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value <= 0) {
    throw configError(
      `${what} must be a positive whole number of milliseconds`,
      value,
      'pass e.g. 10_000 for 10 s',
    );
  }
  return value;
}

/**
 * Fixed-size, non-overlapping windows: `tumbling(10_000)` puts each record in
 * the 10 s window containing its event time.
 *
 * @example
 * ```ts
 * readings.keyBy((r) => r.device).window(tumbling(10_000)).aggregate(average);
 * ```
 */
export function tumbling(size: number, offset = 0): WindowAssigner {
  return { kind: 'tumbling', size: positive('tumbling window size', size), offset };
}

/**
 * Fixed-size windows that start every `slide` ms, so each record falls in
 * `size / slide` windows.
 *
 * @example
 * ```ts
 * readings.keyBy((r) => r.device).window(sliding(30_000, 5_000)).reduce((a, b) => (a.temp > b.temp ? a : b));
 * ```
 */
export function sliding(size: number, slide: number, offset = 0): WindowAssigner {
  positive('sliding window size', size);
  positive('sliding window slide', slide);
  if (size % slide !== 0) {
    throw configError(
      'sliding window size must be a multiple of its slide',
      `${size}/${slide}`,
      'pick a slide that divides the size',
    );
  }
  return { kind: 'sliding', size, slide, offset };
}

/**
 * Per-key windows of activity that close after `gap` ms without a record;
 * overlapping sessions merge (so the aggregate needs `merge`).
 *
 * @example
 * ```ts
 * clicks.keyBy((c) => c.user).window(session(30 * 60_000)).aggregate(countClicks);
 * ```
 */
export function session(gap: number): WindowAssigner {
  return { kind: 'session', gap: positive('session gap', gap) };
}

/** The start of the tumbling/sliding-grid window of `size`/`step` that contains `time`. */
export function alignedStart(time: number, step: number, offset: number): number {
  const r = (time - offset) % step;
  return time - (r < 0 ? r + step : r);
}

/**
 * An incremental aggregation: `create` an accumulator, `add` each record, turn
 * the accumulator into a `result`. `merge` combines two accumulators; session
 * windows need it, and with it tumbling and sliding windows at parallelism > 1
 * are pre-aggregated in each subtask before records cross to the subtask that
 * owns their key (only one partial per key, window and subtask crosses). It
 * must be associative, and `merge(a, b)` must equal adding b's records to a
 * (it may change `a` in place and return it).
 *
 * @example
 * ```ts
 * const average: Aggregator<Reading, { sum: number; n: number }, number> = {
 *   create: () => ({ sum: 0, n: 0 }),
 *   add: (acc, r) => ({ sum: acc.sum + r.temp, n: acc.n + 1 }),
 *   merge: (a, b) => ({ sum: a.sum + b.sum, n: a.n + b.n }),
 *   result: (acc) => acc.sum / acc.n,
 * };
 * ```
 */
export interface Aggregator<T, A, R> {
  create(): A;
  add(accumulator: A, value: T): A;
  result(accumulator: A): R;
  merge?(a: A, b: A): A;
}
