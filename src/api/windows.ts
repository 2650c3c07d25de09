/**
 * Window assigners, the durations the DSL takes, and the shapes of windowed
 * results.
 *
 * A window is the half-open interval `[start, end)` of event time. Its result is
 * final once the watermark reaches `end - 1`; within the allowed lateness a
 * late record updates it (a result with `timing: 'late'`); after that the record
 * goes to the window step's late output.
 */

import { MAX_TIMER_MS } from '../core/clock.ts';
import type { WindowAssigner } from '../core/windows.ts';
import { configError } from '../errors/index.ts';

export {
  type Aggregator,
  alignedStart,
  type Timing,
  type Window,
  type WindowAssigner,
  type Windowed,
} from '../core/windows.ts';

/**
 * The longest duration the DSL takes: 100 years of milliseconds. Anything
 * longer is a unit mistake (micro- or nanoseconds passed as ms), and below it
 * an epoch-ms time plus a window, its lateness and a bound stays an exact
 * integer (far under 2^53).
 */
export const MAX_DURATION_MS = 3_155_760_000_000;

/**
 * The longest a processing-time timer can wait in one `setTimeout` (2^31 - 1
 * ms, about 24.8 days; see core/clock.ts): a longer call timeout,
 * early-result period or checkpoint interval is refused.
 */
export { MAX_TIMER_MS };

/** What {@link checkDuration} accepts besides the value. */
export interface DurationRule {
  /** The least value allowed: 1 for sizes and periods, 0 where 0 means "none". Default 1. */
  readonly min?: number;
  /** The largest value allowed. Default {@link MAX_DURATION_MS}. */
  readonly max?: number;
  /** The step the value belongs to, for the error. */
  readonly stepId?: string;
  /** An example for the fix, e.g. `{ timeout: 5_000 }`. Default `10_000 for 10 s`. */
  readonly example?: string;
  /** What the value must be, when not "an integer >= min" (e.g. "a whole number of ms between -size and size"). */
  readonly must?: string;
}

/**
 * Checks that `value` is a whole number of milliseconds in `[min, max]` and
 * returns it. NaN, infinities, fractions, strings and out-of-range values
 * throw an `EDDY_CONFIG_INVALID` error naming the value and the fix: eddy's
 * event times are whole milliseconds, and a record in a window of NaN or
 * fractional size would be silently lost (issue 19).
 *
 * @example
 * ```ts
 * const gap = checkDuration('session gap', options.gap, { example: '30_000 for 30 s' });
 * ```
 */
export function checkDuration(what: string, value: unknown, rule: DurationRule = {}): number {
  const min = rule.min ?? 1;
  const max = rule.max ?? MAX_DURATION_MS;
  const example = rule.example ?? '10_000 for 10 s';
  let fix: string;
  if (typeof value !== 'number')
    fix = `pass a number of milliseconds, not a ${typeof value}: e.g. ${example}`;
  else if (Number.isNaN(value))
    fix = `pass a number of milliseconds, e.g. ${example} (NaN often comes from arithmetic on a missing value)`;
  else if (!Number.isFinite(value)) fix = `pass a finite number of milliseconds, e.g. ${example}`;
  else if (!Number.isInteger(value))
    fix = `eddy's times are whole milliseconds; round it, e.g. ${Math.round(value)}`;
  else if (value < min) fix = `pass a whole number of milliseconds of at least ${min}, e.g. ${example}`;
  else if (value <= max) return value;
  else {
    throw configError(
      `${what} must be at most ${max.toLocaleString('en-US')} ms`,
      value,
      max === MAX_TIMER_MS
        ? 'pass a shorter time: about 24.8 days is the longest a timer can wait'
        : 'pass a shorter time (100 years is the limit: was it in micro- or nanoseconds?)',
      rule.stepId,
    );
  }
  // Worded as checkInt words it, so every whole-number option of eddy reads alike.
  throw configError(`${what} must be ${rule.must ?? `an integer >= ${min}`}`, value, fix, rule.stepId);
}

/** An option's value, or its default when left out; `null` is not left out, so it is checked and refused. */
export function orDefault<V>(value: V | undefined, fallback: V): V {
  return value === undefined ? fallback : value;
}

/**
 * An offset moves a grid of windows that repeats every `period` ms: offsets
 * `o` and `o + period` give the same windows. Takes `-period < offset <
 * period` (a negative offset shifts the grid back, e.g. `-8 h` for days in
 * UTC+8) and returns it in `[0, period)`.
 */
function checkOffset(what: string, offset: unknown, period: number, of: string): number {
  const o = checkDuration(what, offset, {
    min: -MAX_DURATION_MS,
    example: '0',
    must: `a whole number of milliseconds between -${of} and ${of}`,
  });
  if (o <= -period || o >= period) {
    throw configError(
      `${what} must lie strictly between -${of} and ${of} (-${period} < offset < ${period})`,
      o,
      `pass ${((o % period) + period) % period}, which gives the same windows`,
    );
  }
  return o < 0 ? o + period : o;
}

/**
 * Checks a window assigner, made by {@link tumbling}, {@link sliding} or
 * {@link session} or written as an object, and returns it with its offset in
 * `[0, slide)`. Every window step and window join calls it, so an assigner
 * written by hand gets the same checks as one from the functions.
 */
export function checkAssigner(assigner: unknown): WindowAssigner {
  const a = assigner as Partial<Record<'kind' | 'size' | 'slide' | 'offset' | 'gap', unknown>> | null;
  if (a === null || typeof a !== 'object') {
    throw configError(
      'window needs a window assigner',
      assigner,
      'pass tumbling(ms), sliding(size, slide) or session(gap)',
    );
  }
  switch (a.kind) {
    case 'tumbling': {
      const size = checkDuration('tumbling window size', a.size);
      return {
        kind: 'tumbling',
        size,
        offset: checkOffset('tumbling window offset', orDefault(a.offset, 0), size, 'size'),
      };
    }
    case 'sliding': {
      const size = checkDuration('sliding window size', a.size);
      const slide = checkDuration('sliding window slide', a.slide, {
        example: `${Math.max(1, Math.floor(size / 5))} (a fifth of the size)`,
      });
      if (size % slide !== 0) {
        throw configError(
          'sliding window size must be a multiple of its slide',
          `${size}/${slide}`,
          'pick a slide that divides the size (so it is at most the size)',
        );
      }
      return {
        kind: 'sliding',
        size,
        slide,
        offset: checkOffset('sliding window offset', orDefault(a.offset, 0), slide, 'slide'),
      };
    }
    case 'session':
      return {
        kind: 'session',
        gap: checkDuration('session gap', a.gap, { example: '30_000 for 30 s of inactivity' }),
      };
    default:
      throw configError(
        'window needs a window assigner',
        a.kind,
        'pass tumbling(ms), sliding(size, slide) or session(gap)',
      );
  }
}

/**
 * Fixed-size, non-overlapping windows: `tumbling(10_000)` puts each record in
 * the 10 s window containing its event time. `offset` (whole ms, `-size <
 * offset < size`) shifts the windows: `tumbling(DAY, -8 * HOUR)` gives days
 * in UTC+8.
 *
 * @example
 * ```ts
 * readings.keyBy((r) => r.device).window(tumbling(10_000)).aggregate(average);
 * ```
 */
export function tumbling(size: number, offset = 0): WindowAssigner {
  return checkAssigner({ kind: 'tumbling', size, offset });
}

/**
 * Fixed-size windows that start every `slide` ms, so each record falls in
 * `size / slide` windows. The slide divides the size; `offset` (whole ms,
 * `-slide < offset < slide`) shifts the windows.
 *
 * @example
 * ```ts
 * readings.keyBy((r) => r.device).window(sliding(30_000, 5_000)).reduce((a, b) => (a.temp > b.temp ? a : b));
 * ```
 */
export function sliding(size: number, slide: number, offset = 0): WindowAssigner {
  return checkAssigner({ kind: 'sliding', size, slide, offset });
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
  return checkAssigner({ kind: 'session', gap });
}
