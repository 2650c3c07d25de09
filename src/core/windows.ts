/**
 * The vocabulary of windows, shared by the DSL that declares them and the
 * operators that run them (so that every import points down): the window
 * interval, the assigners, the shape of windowed results, the aggregator
 * contract, and the window grid. The DSL's checked constructors
 * (`tumbling`, `sliding`, `session`) are in `api/windows.ts`.
 */
import type { Key } from './key-groups.ts';

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
