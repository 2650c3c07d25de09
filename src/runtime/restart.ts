/**
 * When a failed run (or a failed Kafka partition task) may start again, and
 * after how long: exponential backoff (Flink's exponential-delay strategy) with
 * a failure-rate limit (Flink's failure-rate strategy). More than
 * `maxFailures` failures within `intervalMs` exhausts the strategy: the run
 * then fails for good with the last error, instead of restarting for ever.
 *
 * The delay doubles (by `multiplier`) with each failure, up to `maxBackoffMs`,
 * with ±`jitter` of it random so that many tasks failing together do not
 * restart in step, and goes back to `initialBackoffMs` after `resetAfterMs`
 * without a failure.
 *
 * @example
 * ```ts
 * const restarts = new RestartStrategy({ maxFailures: 3, intervalMs: 60_000 });
 * const delay = restarts.onFailure(Date.now());   // a number of ms, or undefined: give up
 * ```
 */
import { configError } from '../errors/index.ts';

export interface RestartOptions {
  /** The first delay, in ms. Default 100. */
  readonly initialBackoffMs?: number;
  /** The longest delay, in ms. Default 30,000. */
  readonly maxBackoffMs?: number;
  /** Each further failure multiplies the delay by this. Default 2. */
  readonly multiplier?: number;
  /** A fraction of the delay added or taken at random (0 to 1). Default 0.1. */
  readonly jitter?: number;
  /** At most this many failures within `intervalMs`; one more and the run fails. Default 10. */
  readonly maxFailures?: number;
  /**
   * The window of the failure-rate limit, in ms. Default 600,000 (10 min): long
   * enough to hold `maxFailures` failures of a run that fails at every start
   * even at the longest backoffs (with the defaults it gives up after about
   * 2.5 min), where a 1 min window would let it retry every 30 s for ever.
   */
  readonly intervalMs?: number;
  /** After this long without a failure the delay starts again from `initialBackoffMs`. Default 600,000. */
  readonly resetAfterMs?: number;
}

/** The defaults, in one place (the CLI and the Kafka application read them from here). */
export const RESTART_DEFAULTS: Required<RestartOptions> = {
  initialBackoffMs: 100,
  maxBackoffMs: 30_000,
  multiplier: 2,
  jitter: 0.1,
  maxFailures: 10,
  intervalMs: 600_000,
  resetAfterMs: 600_000,
};

function checkOptions(o: RestartOptions | undefined): Required<RestartOptions> {
  // A misspelt name (maxFailure) is an error, not a silent default.
  for (const name of Object.keys(o ?? {}))
    if (!Object.hasOwn(RESTART_DEFAULTS, name))
      throw configError(
        `restart has no option "${name}"`,
        name,
        `use one of ${Object.keys(RESTART_DEFAULTS).join(', ')}`,
      );
  const r = { ...RESTART_DEFAULTS, ...o };
  const nonNegative = (name: keyof RestartOptions) => {
    const v = r[name];
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0)
      throw configError(
        `restart ${name} must be a finite number >= 0`,
        v,
        `pass e.g. ${RESTART_DEFAULTS[name]}`,
      );
  };
  for (const name of Object.keys(RESTART_DEFAULTS) as (keyof RestartOptions)[]) nonNegative(name);
  if (!Number.isInteger(r.maxFailures))
    throw configError(
      'restart maxFailures must be a whole number',
      r.maxFailures,
      'pass e.g. 10, or 0 for none',
    );
  if (r.multiplier < 1) throw configError('restart multiplier must be >= 1', r.multiplier, 'pass e.g. 2');
  if (r.jitter > 1) throw configError('restart jitter must be from 0 to 1', r.jitter, 'pass e.g. 0.1');
  if (r.maxBackoffMs < r.initialBackoffMs)
    throw configError(
      'restart maxBackoffMs must be >= initialBackoffMs',
      r.maxBackoffMs,
      `pass at least ${r.initialBackoffMs}`,
    );
  if (r.intervalMs === 0 && r.maxFailures > 0)
    throw configError('restart intervalMs must be > 0', r.intervalMs, 'pass e.g. 60000');
  return r;
}

export class RestartStrategy {
  readonly #o: Required<RestartOptions>;
  readonly #random: () => number;
  // Times of the failures within the rate window, oldest first.
  readonly #recent: number[] = [];
  #backoff: number;
  #lastFailure = Number.NEGATIVE_INFINITY;
  #restarts = 0;

  constructor(options?: RestartOptions, random: () => number = Math.random) {
    this.#o = checkOptions(options);
    this.#random = random;
    this.#backoff = this.#o.initialBackoffMs;
  }

  /** The options in force (defaults filled in). */
  get options(): Readonly<Required<RestartOptions>> {
    return this.#o;
  }

  /** How many restarts were granted so far. */
  get restarts(): number {
    return this.#restarts;
  }

  /**
   * A failure happened at `now` (ms): returns how long to wait before
   * restarting, or undefined when the failure-rate limit is exhausted and the
   * caller must fail for good.
   */
  onFailure(now: number): number | undefined {
    const o = this.#o;
    if (now - this.#lastFailure >= o.resetAfterMs) this.#backoff = o.initialBackoffMs;
    this.#lastFailure = now;
    const recent = this.#recent;
    recent.push(now);
    while (recent.length > 0 && recent[0]! <= now - o.intervalMs) recent.shift();
    if (recent.length > o.maxFailures) return undefined;
    const base = this.#backoff;
    this.#backoff = Math.min(o.maxBackoffMs, base * o.multiplier);
    this.#restarts++;
    const spread = base * o.jitter * (2 * this.#random() - 1);
    return Math.max(0, Math.round(base + spread));
  }

  /** A message for the error that ends the run once the strategy is exhausted. */
  exhaustedMessage(what: string): string {
    const o = this.#o;
    return `${what} failed ${this.#recent.length} times within ${o.intervalMs} ms (restart limit: ${o.maxFailures}); giving up with the last error; raise restart.maxFailures or fix the cause`;
  }
}
