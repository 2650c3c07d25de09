/**
 * Adaptive rate control for push sources (issue 18): how many records per
 * second a source that cannot slow its senders down by not reading (HTTP
 * ingest) admits, so that its queue — the records waiting for the pipeline —
 * stays short instead of filling up to its bound under a burst.
 *
 * The estimator is Spark Streaming's `PIDRateEstimator` (proportional 1.0,
 * integral 0.2, derivative 0, a minimum rate), fed with what a continuous
 * source can measure over each interval:
 *
 * - processing rate: records the pipeline took from the queue ÷ the time the
 *   queue was not empty (when it ran dry the pipeline was waiting for input,
 *   and that time says nothing about how fast it can go);
 * - the historical error: the records still queued, per second of the
 *   interval — the backlog the next interval should work off.
 *
 *   rate' = max(rate − P·(rate − processing) − I·queued/interval − D·Δerror/Δt, minRate)
 *
 * An interval in which the pipeline took nothing while records waited is a
 * stall: the rate drops to the minimum. An interval with nothing queued and
 * the queue mostly empty leaves the rate where it is. Before the first
 * estimate the rate is unlimited.
 *
 * Admission is a token bucket at the current rate holding at most one
 * second of records: a request whose records exceed the tokens is refused
 * (429) with a `Retry-After` of the seconds the tokens need to come back.
 *
 * Written here rather than taken from a library: the npm rate limiters are
 * fixed-rate token buckets; the estimator is Spark's, a dozen lines.
 *
 * @example
 * ```ts
 * const rc = new RateController({ minRate: 100 });
 * rc.taken(500, busyMs);               // the reader: records taken, and while the queue had records
 * rc.update(now, queued);              // every interval
 * rc.admit(n, now);                    // { ok: true } or { ok: false, retryAfterSeconds: 2 }
 * ```
 */

export interface RateControlOptions {
  /** The lowest admitted rate, records/s (default 100): the controller never closes the door. */
  readonly minRate?: number;
  /** How often the rate is estimated, ms (default 200). */
  readonly intervalMs?: number;
  /** Spark's gains: proportional (default 1.0), integral (0.2), derivative (0). */
  readonly proportional?: number;
  readonly integral?: number;
  readonly derivative?: number;
}

/** Whether `v` is a valid `rateControl` option of a push source: `true`/`false` or {@link RateControlOptions}. */
export function isRateControl(v: unknown): boolean {
  return (
    typeof v === 'boolean' ||
    (typeof v === 'object' &&
      v !== null &&
      Object.entries(v).every(
        ([k, x]) =>
          ['minRate', 'intervalMs', 'proportional', 'integral', 'derivative'].includes(k) &&
          typeof x === 'number' &&
          Number.isFinite(x) &&
          x >= 0 &&
          (k !== 'minRate' || x > 0) &&
          (k !== 'intervalMs' || x >= 10),
      ))
  );
}

/** How a `rateControl` option is documented wherever a source takes one. */
export const RATE_CONTROL_DOC =
  'true, or { minRate > 0, intervalMs >= 10, proportional, integral, derivative >= 0 }';

export type Admission = { readonly ok: true } | { readonly ok: false; readonly retryAfterSeconds: number };

export class RateController {
  readonly minRate: number;
  readonly intervalMs: number;
  readonly #p: number;
  readonly #i: number;
  readonly #d: number;
  #rate = Number.POSITIVE_INFINITY;
  #error = 0;
  #lastUpdate: number | undefined;
  #taken = 0;
  #busyMs = 0;
  #tokens = 0;
  #tokensAt = 0;

  constructor(options: RateControlOptions = {}) {
    this.minRate = options.minRate ?? 100;
    this.intervalMs = options.intervalMs ?? 200;
    this.#p = options.proportional ?? 1;
    this.#i = options.integral ?? 0.2;
    this.#d = options.derivative ?? 0;
  }

  /** The admitted rate, records/s (Infinity before the first estimate). */
  get rate(): number {
    return this.#rate;
  }

  /** The reader took `records` from the queue; the queue held records for `busyMs` of the time since the last call. */
  taken(records: number, busyMs: number): void {
    this.#taken += records;
    this.#busyMs += busyMs;
  }

  /**
   * A new estimate from what was taken since the last one and what is
   * `queued` now; `stalled`: the pipeline did not ask for records at all
   * since the last estimate while some waited. Returns the rate.
   */
  update(now: number, queued: number, stalled = false): number {
    const last = this.#lastUpdate;
    this.#lastUpdate = now;
    const taken = this.#taken;
    const busyMs = this.#busyMs;
    this.#taken = 0;
    this.#busyMs = 0;
    if (last === undefined || now <= last) return this.#rate;
    const dt = (now - last) / 1000;
    if (taken === 0) {
      // Nothing taken although records waited: the pipeline is stalled; admit the least.
      if (queued > 0 && (stalled || busyMs > 0)) this.#set(this.minRate, now);
      return this.#rate;
    }
    if (busyMs <= 0) return this.#rate;
    const processing = taken / (busyMs / 1000);
    const latest = Number.isFinite(this.#rate) ? this.#rate : processing;
    const error = latest - processing;
    const historical = queued / dt;
    const dError = (error - this.#error) / dt;
    this.#error = error;
    this.#set(
      Math.max(this.minRate, latest - this.#p * error - this.#i * historical - this.#d * dError),
      now,
    );
    return this.#rate;
  }

  /** Whether `records` more may come in now; spends their tokens when they may. */
  admit(records: number, now: number): Admission {
    if (!Number.isFinite(this.#rate)) return { ok: true };
    this.#refill(now);
    if (records <= this.#tokens) {
      this.#tokens -= records;
      return { ok: true };
    }
    // A request larger than a second's worth can never fit a full bucket: it gets the whole of it.
    if (this.#tokens >= this.#rate && records > this.#rate) {
      this.#tokens = 0;
      return { ok: true };
    }
    const need = Math.min(records, this.#rate) - this.#tokens;
    return { ok: false, retryAfterSeconds: Math.max(1, Math.ceil(need / this.#rate)) };
  }

  #set(rate: number, now: number): void {
    this.#refill(now);
    this.#rate = rate;
    this.#tokens = Math.min(this.#tokens, rate);
  }

  #refill(now: number): void {
    if (this.#tokensAt === 0) this.#tokens = this.#rate;
    else this.#tokens = Math.min(this.#rate, this.#tokens + ((now - this.#tokensAt) / 1000) * this.#rate);
    this.#tokensAt = now;
  }
}

/**
 * A push source's side of rate control (HTTP ingest, MQTT): measures what its
 * reader takes — records per poll, and the time from one poll to the next,
 * while the pipeline worked on them or waited downstream — and re-estimates
 * the rate every interval from that and what is still `queued`.
 */
export class PushRate {
  readonly #rc: RateController;
  readonly #timer: ReturnType<typeof setInterval>;
  #lastTaken = 0;
  #mark = performance.now();
  #polls = 0;

  /** Starts estimating; `onRate` gets each new rate. */
  constructor(options: true | RateControlOptions, queued: () => number, onRate: (rate: number) => void) {
    const rc = new RateController(options === true ? {} : options);
    this.#rc = rc;
    this.#timer = setInterval(() => {
      const n = queued();
      onRate(rc.update(Date.now(), n, this.#polls === 0 && n > 0));
      this.#polls = 0;
    }, rc.intervalMs);
    this.#timer.unref();
  }

  /** The admitted rate, records/s. */
  get rate(): number {
    return this.#rc.rate;
  }

  /** See {@link RateController.admit}. */
  admit(records: number, now: number): Admission {
    return this.#rc.admit(records, now);
  }

  /** A poll starts: since the previous one returned, the pipeline worked on what that one took. */
  polling(): void {
    this.#polls++;
    this.#rc.taken(this.#lastTaken, performance.now() - this.#mark);
    this.#lastTaken = 0;
  }

  /** The poll returns `records`. */
  took(records: number): void {
    this.#lastTaken = records;
    this.#mark = performance.now();
  }

  stop(): void {
    clearInterval(this.#timer);
  }
}

/** A push source's `rateControl` option made into its {@link PushRate}, or undefined when off. */
export function pushRate(
  option: boolean | RateControlOptions | undefined,
  queued: () => number,
  onRate: (rate: number) => void,
): PushRate | undefined {
  return option === undefined || option === false ? undefined : new PushRate(option, queued, onRate);
}
