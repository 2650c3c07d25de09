/**
 * Benchmark statistics after the Pilot method (Li, Lilja et al., "Pilot: a
 * framework that understands how to do performance benchmarks the right way",
 * MASCOTS 2016): drop each round's warm-up, make the samples independent
 * enough (lag-1 autocorrelation in [-0.1, 0.1]) by merging adjacent samples
 * into batch means, then report the mean with a Student t confidence
 * interval; compare two systems by the ratio of their means with Fieller's
 * interval.
 *
 * Warm-up is found with MSER (White's Marginal Standard Error Rule): the
 * truncation point `d` that minimises the squared standard error of the mean
 * of what is left, `Σ (x_i - mean)² / (n - d)²`, searched over the first half
 * of the series. It is the steady-state detector most used for simulation
 * output; Pilot uses a changepoint detector for the same purpose. Both cut a
 * linear warm-up off a plateau; MSER is deterministic and needs no tuning.
 *
 * Pure functions, no I/O: `test/bench/stats.test.ts` checks them against
 * series whose answers are known.
 *
 * @example
 * ```ts
 * const eddy = summarize([[8e5, 9.6e5, 1e6, 1.01e6, 0.99e6], [9e5, 1e6, 1.02e6, 0.98e6]]);
 * const flink = summarize([[1.9e6, 2e6, 2.1e6, 2e6]]);
 * const c = compare(eddy, flink); // c.ratio ≈ 0.5, c.low / c.high: its 95 % interval
 * ```
 */

/** The lag-1 autocorrelation Pilot accepts as "independent enough". */
export const AUTOCORRELATION_LIMIT = 0.1;
/** Merging stops before fewer batch means than this would remain; below it the estimate of r1 means little. */
export const MIN_BATCHES = 8;

/** The arithmetic mean; NaN for an empty series. */
export function mean(xs: readonly number[]): number {
  if (xs.length === 0) return Number.NaN;
  let s = 0;
  for (const x of xs) s += x;
  return s / xs.length;
}

/** The sample variance (n − 1 in the denominator); 0 for fewer than two values. */
export function variance(xs: readonly number[]): number {
  if (xs.length < 2) return 0;
  const m = mean(xs);
  let s = 0;
  for (const x of xs) s += (x - m) * (x - m);
  return s / (xs.length - 1);
}

/** The lag-1 autocorrelation coefficient; 0 when the series does not vary or has fewer than 3 values. */
export function lag1Autocorrelation(xs: readonly number[]): number {
  if (xs.length < 3) return 0;
  const m = mean(xs);
  let num = 0;
  let den = 0;
  for (let i = 0; i < xs.length; i++) {
    const d = xs[i]! - m;
    den += d * d;
    if (i + 1 < xs.length) num += d * (xs[i + 1]! - m);
  }
  return den === 0 ? 0 : num / den;
}

/**
 * MSER: how many leading samples are warm-up. Searches d in [0, n/2] and
 * returns the smallest d with the least `Σ_{i≥d} (x_i − mean_d)² / (n − d)²`.
 * A constant series has no warm-up (0); so has any series shorter than 4.
 */
export function warmupLength(xs: readonly number[]): number {
  const n = xs.length;
  if (n < 4) return 0;
  // Suffix sums make each candidate O(1).
  const sum = new Float64Array(n + 1);
  const sq = new Float64Array(n + 1);
  for (let i = n - 1; i >= 0; i--) {
    sum[i] = sum[i + 1]! + xs[i]!;
    sq[i] = sq[i + 1]! + xs[i]! * xs[i]!;
  }
  let best = 0;
  let bestScore = Number.POSITIVE_INFINITY;
  for (let d = 0; d <= Math.floor(n / 2); d++) {
    const k = n - d;
    const sse = Math.max(0, sq[d]! - (sum[d]! * sum[d]!) / k);
    const score = sse / (k * k);
    // A relative tolerance, so that rounding noise on a flat series does not move d.
    if (score < bestScore * (1 - 1e-9)) {
      bestScore = score;
      best = d;
    }
  }
  return best;
}

/** Means of adjacent groups of `size` samples; a trailing partial group is dropped. */
export function batchMeans(xs: readonly number[], size: number): number[] {
  const out: number[] = [];
  for (let i = 0; i + size <= xs.length; i += size) {
    let s = 0;
    for (let j = i; j < i + size; j++) s += xs[j]!;
    out.push(s / size);
  }
  return out;
}

// ---- Student t quantiles -------------------------------------------------

function logGamma(x: number): number {
  // Lanczos (g = 7, n = 9), accurate to ~1e-15 for x > 0.
  const c = [
    0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059,
    12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
  ];
  if (x < 0.5) return Math.log(Math.PI / Math.sin(Math.PI * x)) - logGamma(1 - x);
  const z = x - 1;
  let a = c[0]!;
  const t = z + 7.5;
  for (let i = 1; i < 9; i++) a += c[i]! / (z + i);
  return 0.5 * Math.log(2 * Math.PI) + (z + 0.5) * Math.log(t) - t + Math.log(a);
}

/** Continued fraction for the incomplete beta function (modified Lentz). */
function betaContinuedFraction(x: number, a: number, b: number): number {
  const tiny = 1e-300;
  let c = 1;
  let d = 1 - ((a + b) * x) / (a + 1);
  if (Math.abs(d) < tiny) d = tiny;
  d = 1 / d;
  let h = d;
  for (let m = 1; m <= 10_000; m++) {
    const m2 = 2 * m;
    let aa = (m * (b - m) * x) / ((a + m2 - 1) * (a + m2));
    d = 1 + aa * d;
    if (Math.abs(d) < tiny) d = tiny;
    c = 1 + aa / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    h *= d * c;
    aa = (-(a + m) * (a + b + m) * x) / ((a + m2) * (a + m2 + 1));
    d = 1 + aa * d;
    if (Math.abs(d) < tiny) d = tiny;
    c = 1 + aa / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    const del = d * c;
    h *= del;
    if (Math.abs(del - 1) < 1e-15) break;
  }
  return h;
}

/** The regularized incomplete beta function I_x(a, b). */
export function incompleteBeta(x: number, a: number, b: number): number {
  if (x <= 0) return 0;
  if (x >= 1) return 1;
  const front = Math.exp(logGamma(a + b) - logGamma(a) - logGamma(b) + a * Math.log(x) + b * Math.log(1 - x));
  if (x < (a + 1) / (a + b + 2)) return (front * betaContinuedFraction(x, a, b)) / a;
  return 1 - (front * betaContinuedFraction(1 - x, b, a)) / b;
}

/** P(T ≤ t) for Student's t with `df` degrees of freedom. */
export function tCdf(t: number, df: number): number {
  const tail = 0.5 * incompleteBeta(df / (df + t * t), df / 2, 0.5);
  return t >= 0 ? 1 - tail : tail;
}

/** The standard normal quantile (Acklam's rational approximation, relative error < 1.2e-9). */
export function normalQuantile(p: number): number {
  if (!(p > 0 && p < 1)) throw new RangeError(`normalQuantile needs 0 < p < 1; received ${p}`);
  const a = [
    -39.69683028665376, 220.9460984245205, -275.9285104469687, 138.357751867269, -30.66479806614716,
    2.506628277459239,
  ];
  const b = [
    -54.47609879822406, 161.5858368580409, -155.6989798598866, 66.80131188771972, -13.28068155288572,
  ];
  const c = [
    -0.007784894002430293, -0.3223964580411365, -2.400758277161838, -2.549732539343734, 4.374664141464968,
    2.938163982698783,
  ];
  const d = [0.007784695709041462, 0.3224671290700398, 2.445134137142996, 3.754408661907416];
  const lo = 0.02425;
  if (p < lo) {
    const q = Math.sqrt(-2 * Math.log(p));
    return (
      (((((c[0]! * q + c[1]!) * q + c[2]!) * q + c[3]!) * q + c[4]!) * q + c[5]!) /
      ((((d[0]! * q + d[1]!) * q + d[2]!) * q + d[3]!) * q + 1)
    );
  }
  if (p > 1 - lo) return -normalQuantile(1 - p);
  const q = p - 0.5;
  const r = q * q;
  return (
    ((((((a[0]! * r + a[1]!) * r + a[2]!) * r + a[3]!) * r + a[4]!) * r + a[5]!) * q) /
    (((((b[0]! * r + b[1]!) * r + b[2]!) * r + b[3]!) * r + b[4]!) * r + 1)
  );
}

/**
 * The `p` quantile of Student's t with `df` degrees of freedom (`df` may be
 * fractional, or `Infinity` for the normal). Bisection on the CDF to 1e-12;
 * for `df` above 1e6 the normal quantile, which then differs by < 1e-6.
 *
 * @example
 * ```ts
 * tQuantile(0.975, 10); // 2.228138…
 * ```
 */
export function tQuantile(p: number, df: number): number {
  if (!(p > 0 && p < 1)) throw new RangeError(`tQuantile needs 0 < p < 1; received ${p}`);
  if (!(df > 0)) throw new RangeError(`tQuantile needs df > 0; received ${df}`);
  if (df > 1e6) return normalQuantile(p);
  if (p === 0.5) return 0;
  if (p < 0.5) return -tQuantile(1 - p, df);
  let lo = 0;
  let hi = 1;
  while (tCdf(hi, df) < p) hi *= 2;
  for (let i = 0; i < 200 && hi - lo > 1e-12 * hi; i++) {
    const mid = (lo + hi) / 2;
    if (tCdf(mid, df) < p) lo = mid;
    else hi = mid;
  }
  return (lo + hi) / 2;
}

// ---- Summaries ------------------------------------------------------------

/** The outcome of {@link summarize}: a mean with its 95 % interval and how it was reached. */
export interface Summary {
  /** The mean of the steady-state samples (of the batch means, which is the same up to dropped remainders). */
  readonly mean: number;
  /** The 95 % confidence interval; equal to `mean` when there is one sample or no spread. */
  readonly low: number;
  readonly high: number;
  /** Half the interval's width. */
  readonly halfWidth: number;
  /** The standard error of the mean. */
  readonly stdErr: number;
  /** How many (batch-)means the interval is over, and their degrees of freedom (n − 1). */
  readonly n: number;
  readonly df: number;
  /** Samples merged per batch mean; 0 means one mean per round was used. */
  readonly batchSize: number;
  /** The lag-1 autocorrelation of the means the interval is over. */
  readonly r1: number;
  /** Whether |r1| ≤ 0.1 was reached (false: too few samples; the interval may be too narrow). */
  readonly independent: boolean;
  /** Warm-up samples dropped from each round. */
  readonly warmup: readonly number[];
  /** Each round's steady-state mean. */
  readonly roundMeans: readonly number[];
}

export interface SummarizeOptions {
  /** Drop warm-up by MSER (default true). */
  readonly dropWarmup?: boolean;
  /** The confidence level (default 0.95). */
  readonly confidence?: number;
}

/**
 * Summarises the per-interval samples of one or more rounds, Pilot's way:
 * each round's warm-up is dropped (MSER); adjacent samples are merged into
 * batch means — the same batch size in every round, doubling — until the
 * lag-1 autocorrelation of all rounds' batch means (in round order, so a
 * level shift between rounds shows as correlation) lies in [-0.1, 0.1]; if
 * that would leave fewer than {@link MIN_BATCHES} means, or a round with none,
 * the rounds' own means are used instead (rounds run in separate processes,
 * so they are independent). The interval is the Student t interval over
 * those means.
 */
export function summarize(rounds: readonly (readonly number[])[], options: SummarizeOptions = {}): Summary {
  const confidence = options.confidence ?? 0.95;
  const dropWarmup = options.dropWarmup ?? true;
  const steady = rounds
    .filter((r) => r.length > 0)
    .map((r) => (dropWarmup ? r.slice(warmupLength(r)) : r.slice()));
  const warmup = rounds.filter((r) => r.length > 0).map((r, i) => r.length - steady[i]!.length);
  const roundMeans = steady.map(mean);
  if (steady.length === 0) {
    return {
      mean: Number.NaN,
      low: Number.NaN,
      high: Number.NaN,
      halfWidth: Number.NaN,
      stdErr: Number.NaN,
      n: 0,
      df: 0,
      batchSize: 0,
      r1: 0,
      independent: false,
      warmup,
      roundMeans,
    };
  }
  let size = 1;
  let means = steady.flatMap((r) => batchMeans(r, size));
  let r1 = lag1Autocorrelation(means);
  let independent = Math.abs(r1) <= AUTOCORRELATION_LIMIT;
  while (!independent) {
    const next = size * 2;
    const nextMeans = steady.map((r) => batchMeans(r, next));
    if (nextMeans.some((m) => m.length === 0) || nextMeans.flat().length < MIN_BATCHES) break;
    size = next;
    means = nextMeans.flat();
    r1 = lag1Autocorrelation(means);
    independent = Math.abs(r1) <= AUTOCORRELATION_LIMIT;
  }
  if (!independent && steady.length >= 2) {
    // The rounds themselves are independent (separate processes): fall back to their means.
    size = 0;
    means = roundMeans;
    r1 = lag1Autocorrelation(means);
    independent = true;
  }
  const n = means.length;
  const m = mean(means);
  const stdErr = n >= 2 ? Math.sqrt(variance(means) / n) : 0;
  const df = n - 1;
  const halfWidth = n >= 2 ? tQuantile(1 - (1 - confidence) / 2, df) * stdErr : 0;
  return {
    mean: m,
    low: m - halfWidth,
    high: m + halfWidth,
    halfWidth,
    stdErr,
    n,
    df,
    batchSize: size,
    r1,
    independent: independent && n >= 2,
    warmup,
    roundMeans,
  };
}

/** The outcome of {@link compare}: A's mean over B's with its interval. */
export interface Comparison {
  /** mean(A) / mean(B). */
  readonly ratio: number;
  /**
   * Fieller's 95 % interval for the ratio; ±Infinity when B's mean is not
   * distinguishable from 0; NaN when either side has a single value (no interval).
   */
  readonly low: number;
  readonly high: number;
  /** Whether the two systems' own intervals overlap. */
  readonly overlap: boolean;
  /** Whether the ratio's interval excludes 1 (the systems differ at this confidence). */
  readonly differs: boolean;
}

/**
 * Compares A with B by the ratio of their means. The interval is Fieller's
 * (exact for a ratio of normal means, unlike the delta method when B's
 * interval is wide): the ρ with `(a − ρb)² ≤ t² (sa² + ρ² sb²)`, with
 * `t` at the smaller of the two degrees of freedom (conservative). Also
 * reports whether the two intervals overlap.
 *
 * @example
 * ```ts
 * const c = compare(summarize([eddySamples]), summarize([flinkSamples]));
 * console.log(`${c.ratio.toFixed(2)} [${c.low.toFixed(2)}, ${c.high.toFixed(2)}]`);
 * ```
 */
export function compare(a: Summary, b: Summary, confidence = 0.95): Comparison {
  const ratio = a.mean / b.mean;
  const overlap = a.low <= b.high && b.low <= a.high;
  const df = Math.min(a.df, b.df);
  const sa = a.stdErr;
  const sb = b.stdErr;
  if (!(df >= 1)) {
    // One side has a single value, so no interval of its own: none for the ratio either.
    return { ratio, low: Number.NaN, high: Number.NaN, overlap, differs: false };
  }
  if (sa === 0 && sb === 0) return { ratio, low: ratio, high: ratio, overlap, differs: ratio !== 1 };
  const t = tQuantile(1 - (1 - confidence) / 2, df);
  const am = a.mean;
  const bm = b.mean;
  const qa = bm * bm - t * t * sb * sb;
  const qb = -2 * am * bm;
  const qc = am * am - t * t * sa * sa;
  const disc = qb * qb - 4 * qa * qc;
  if (qa <= 0 || disc < 0) {
    return { ratio, low: Number.NEGATIVE_INFINITY, high: Number.POSITIVE_INFINITY, overlap, differs: false };
  }
  const root = Math.sqrt(disc);
  const low = (-qb - root) / (2 * qa);
  const high = (-qb + root) / (2 * qa);
  return { ratio, low, high, overlap, differs: low > 1 || high < 1 };
}
