/**
 * Load profiles for the Nexmark harness: when each event is offered (maximum
 * rate, constant rate, bursts, a ramp) and which keys it carries (skewed
 * bidder and auction ids, Zipf-distributed).
 *
 * A rate profile is a schedule: `timeOf(i)` is the wall time (ms after the
 * start) at which event `i` is due, the inverse of the cumulative offered
 * load `cumulative(t)`. A paced source offers every due event, and latency is
 * measured from an event's *scheduled* time — not from when the source got
 * round to it — so a system that falls behind is charged for the queueing it
 * causes (no coordinated omission).
 *
 * @example
 * ```ts
 * const s = bursts(100_000, { periodMs: 1000, duty: 0.2, factor: 2.5 });
 * s.timeOf(0);          // 0
 * s.dueBy(1000);        // 100,001 events due after the first second
 * ```
 */
import { Random } from '../../../src/util/random.ts';
import { type Bid, type Event, FIRST_AUCTION_ID, FIRST_PERSON_ID } from '../generator.ts';

/** When events are offered, as a function of wall time since the start of the run. */
export interface Schedule {
  readonly kind: 'constant' | 'bursts' | 'ramp';
  /** The mean offered rate (events/s) over one period, or over the ramp. */
  readonly rate: number;
  /** Events offered by `ms` after the start (a continuous, non-decreasing count). */
  cumulative(ms: number): number;
  /** When event `i` (0-based) is due, in ms after the start: the inverse of `cumulative`. */
  timeOf(i: number): number;
  /** How many events are due at `ms` (those with `timeOf(i) ≤ ms`). */
  dueBy(ms: number): number;
  /** The offered rate at `ms` (events/s). */
  rateAt(ms: number): number;
}

function checkRate(what: string, rate: number): void {
  if (!(rate > 0) || !Number.isFinite(rate))
    throw new RangeError(`${what} must be a finite rate > 0 (events/s); received ${rate}`);
}

function due(cumulative: (ms: number) => number, ms: number): number {
  // i is due when timeOf(i) <= ms, i.e. i <= cumulative(ms); the epsilon absorbs rounding at exact boundaries.
  return ms < 0 ? 0 : Math.floor(cumulative(ms) + 1e-9) + 1;
}

/** `rate` events per second, evenly spaced. */
export function constant(rate: number): Schedule {
  checkRate('constant rate', rate);
  const cumulative = (ms: number) => (Math.max(0, ms) * rate) / 1000;
  return {
    kind: 'constant',
    rate,
    cumulative,
    timeOf: (i) => (i * 1000) / rate,
    dueBy: (ms) => due(cumulative, ms),
    rateAt: () => rate,
  };
}

export interface BurstOptions {
  /** The length of one burst-and-lull cycle (ms); default 1000. */
  readonly periodMs?: number;
  /** The fraction of each period spent in the burst; default 0.2. */
  readonly duty?: number;
  /** The burst's rate as a multiple of the mean; default 2.5. `duty * factor` must be < 1. */
  readonly factor?: number;
}

/**
 * Bursts: each period starts with `duty · period` ms at `factor ×` the mean
 * rate, then a lull at the rate that brings the period's mean back to `rate`.
 * With the defaults (0.2, 2.5) the lull runs at 0.625× the mean.
 */
export function bursts(rate: number, options: BurstOptions = {}): Schedule {
  checkRate('bursts rate', rate);
  const period = options.periodMs ?? 1000;
  const duty = options.duty ?? 0.2;
  const factor = options.factor ?? 2.5;
  if (!(period > 0) || !(duty > 0 && duty < 1) || !(factor > 1) || !(duty * factor < 1))
    throw new RangeError(
      `bursts need periodMs > 0, 0 < duty < 1, factor > 1 and duty * factor < 1; received ${JSON.stringify({ period, duty, factor })}`,
    );
  const high = rate * factor;
  const low = (rate * (1 - duty * factor)) / (1 - duty);
  const burstMs = duty * period;
  const perPeriod = (rate * period) / 1000;
  const perBurst = (high * burstMs) / 1000;
  const cumulative = (ms: number) => {
    if (ms <= 0) return 0;
    const k = Math.floor(ms / period);
    const r = ms - k * period;
    const within = r <= burstMs ? (high * r) / 1000 : perBurst + (low * (r - burstMs)) / 1000;
    return k * perPeriod + within;
  };
  return {
    kind: 'bursts',
    rate,
    cumulative,
    timeOf(i) {
      const k = Math.floor(i / perPeriod);
      const rem = i - k * perPeriod;
      const within = rem <= perBurst ? (rem * 1000) / high : burstMs + ((rem - perBurst) * 1000) / low;
      return k * period + within;
    },
    dueBy: (ms) => due(cumulative, ms),
    rateAt: (ms) => (ms - Math.floor(ms / period) * period < burstMs ? high : low),
  };
}

/**
 * A linear ramp from `from` to `to` events/s over `durationMs`, then `to`
 * for as long as events remain. For finding the rate at which latency starts
 * to climb (the knee).
 */
export function ramp(from: number, to: number, durationMs: number): Schedule {
  checkRate('ramp start', from);
  checkRate('ramp end', to);
  if (!(durationMs > 0)) throw new RangeError(`ramp duration must be > 0 ms; received ${durationMs}`);
  const slope = (to - from) / durationMs; // events/s per ms
  const atEnd = ((from + to) / 2) * (durationMs / 1000);
  const cumulative = (ms: number) => {
    if (ms <= 0) return 0;
    if (ms >= durationMs) return atEnd + ((ms - durationMs) * to) / 1000;
    return (from * ms + (slope * ms * ms) / 2) / 1000;
  };
  return {
    kind: 'ramp',
    rate: (from + to) / 2,
    cumulative,
    timeOf(i) {
      if (i >= atEnd) return durationMs + ((i - atEnd) * 1000) / to;
      if (slope === 0) return (i * 1000) / from;
      // (slope/2)·t² + from·t − 1000·i = 0, the positive root, written to stay exact near 0.
      return (2000 * i) / (from + Math.sqrt(from * from + 2000 * slope * i));
    },
    dueBy: (ms) => due(cumulative, ms),
    rateAt: (ms) => (ms >= durationMs ? to : from + slope * Math.max(0, ms)),
  };
}

// ---- Skewed keys -------------------------------------------------------------

/**
 * Zipf-distributed ranks in [1, n] with exponent `s` (P(k) ∝ k^-s), by
 * Hörmann and Derflinger's rejection-inversion (as Apache Commons RNG's
 * `RejectionInversionZipfSampler`): exact, O(1) per draw, and `n` may change
 * from draw to draw.
 */
export class ZipfSampler {
  readonly #s: number;
  readonly #random: Random;

  constructor(exponent: number, seed: number) {
    if (!(exponent > 0) || !Number.isFinite(exponent))
      throw new RangeError(`zipf exponent must be a finite number > 0; received ${exponent}`);
    this.#s = exponent;
    this.#random = new Random(seed);
  }

  /** A rank in [1, n]; 1 is the most frequent. */
  next(n: number): number {
    if (n <= 1) return 1;
    const s = this.#s;
    const h = (x: number) => Math.exp(-s * Math.log(x));
    const hIntegral = (x: number) => {
      const lx = Math.log(x);
      return helper2((1 - s) * lx) * lx;
    };
    const hIntegralInverse = (x: number) => {
      let t = x * (1 - s);
      if (t < -1) t = -1; // rounding only
      return Math.exp(helper1(t) * x);
    };
    const hX1 = hIntegral(1.5) - 1;
    const hN = hIntegral(n + 0.5);
    const squeeze = 2 - hIntegralInverse(hIntegral(2.5) - h(2));
    for (;;) {
      const u = hN + this.#random.next() * (hX1 - hN);
      const x = hIntegralInverse(u);
      let k = Math.floor(x + 0.5);
      if (k < 1) k = 1;
      else if (k > n) k = n;
      if (k - x <= squeeze || u >= hIntegral(k + 0.5) - h(k)) return k;
    }
  }
}

/** log1p(x)/x, accurate near 0. */
function helper1(x: number): number {
  return Math.abs(x) > 1e-8 ? Math.log1p(x) / x : 1 - x * (0.5 - x * (1 / 3 - 0.25 * x));
}

/** expm1(x)/x, accurate near 0. */
function helper2(x: number): number {
  return Math.abs(x) > 1e-8 ? Math.expm1(x) / x : 1 + x * 0.5 * (1 + (x / 3) * (1 + 0.25 * x));
}

export interface SkewOptions {
  /** The Zipf exponent; default 1.2 (the most frequent id gets ~18 % of the bids on a large id space). */
  readonly exponent?: number;
  /** The seed of the remapping; default 1. */
  readonly seed?: number;
}

/**
 * Skewed keys: every bid's `bidder` and `auction` are redrawn from a Zipf
 * distribution over the people and auctions seen so far, ranked by age (rank 1
 * = the first person, id 1000, and the first auction, id 1000): a few old ids
 * become very hot and stay hot, instead of the generator's hot ids that move
 * on every 100 ids. Only ids that exist are used; bids before the first person
 * or auction keep theirs. Deterministic from the seed; people and auctions are
 * left as they are. Hot auctions expire, so q4 (bids within an auction's
 * lifetime) sees fewer matching bids than with the plain events.
 *
 * @example
 * ```ts
 * const remap = skewRemapper({ exponent: 1.2, seed: 7 });
 * const skewed = events.map(remap);
 * ```
 */
export function skewRemapper(options: SkewOptions = {}): (e: Event) => Event {
  const exponent = options.exponent ?? 1.2;
  const seed = options.seed ?? 1;
  const bidders = new ZipfSampler(exponent, seed);
  const auctionRanks = new ZipfSampler(exponent, seed ^ 0x5bd1e995);
  let people = 0;
  let auctions = 0;
  return (e) => {
    if (e.kind === 'person') {
      people = Math.max(people, e.person.id - FIRST_PERSON_ID + 1);
      return e;
    }
    if (e.kind === 'auction') {
      auctions = Math.max(auctions, e.auction.id - FIRST_AUCTION_ID + 1);
      return e;
    }
    const b: Bid = e.bid;
    const bidder = people > 0 ? FIRST_PERSON_ID + bidders.next(people) - 1 : b.bidder;
    const auction = auctions > 0 ? FIRST_AUCTION_ID + auctionRanks.next(auctions) - 1 : b.auction;
    return { kind: 'bid', bid: { ...b, bidder, auction } };
  };
}
