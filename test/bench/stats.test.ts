/**
 * The harness's statistics against series whose answers are known: constant
 * series, a linear warm-up before a plateau, a strongly autocorrelated AR(1)
 * series, Student t quantiles from tables, and Fieller's interval where it
 * has a closed form.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  batchMeans,
  compare,
  lag1Autocorrelation,
  normalQuantile,
  summarize,
  tCdf,
  tQuantile,
  warmupLength,
} from '../../bench/nexmark/harness/stats.ts';

/** A small seeded PRNG (mulberry32) and standard normal draws, so every run sees the same series. */
function normals(seed: number, n: number): number[] {
  let s = seed >>> 0;
  const u = () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const out: number[] = [];
  while (out.length < n) {
    const r = Math.sqrt(-2 * Math.log(1 - u()));
    const th = 2 * Math.PI * u();
    out.push(r * Math.cos(th), r * Math.sin(th));
  }
  return out.slice(0, n);
}

function close(actual: number, expected: number, tol: number, what: string): void {
  assert.ok(Math.abs(actual - expected) <= tol, `${what}: ${actual} is not within ${tol} of ${expected}`);
}

describe('Student t quantiles', () => {
  // Two-sided 95 % critical values from standard tables.
  const table: [number, number][] = [
    [1, 12.706204736],
    [2, 4.30265273],
    [3, 3.182446305],
    [5, 2.570581836],
    [10, 2.228138852],
    [30, 2.042272456],
    [1000, 1.962339081],
  ];
  for (const [df, t] of table) {
    it(`t(0.975, ${df}) = ${t}`, () => close(tQuantile(0.975, df), t, 1e-6, `df ${df}`));
  }
  it('one-sided 95 % and 99.5 % points', () => {
    close(tQuantile(0.95, 4), 2.131846786, 1e-6, 't(0.95, 4)');
    close(tQuantile(0.995, 7), 3.499483297, 1e-6, 't(0.995, 7)');
    close(tQuantile(0.025, 10), -2.228138852, 1e-6, 'lower tail');
  });
  it('the normal limit', () => {
    close(tQuantile(0.975, Number.POSITIVE_INFINITY), 1.959963985, 1e-8, 'df = Infinity');
    close(normalQuantile(0.995), 2.575829304, 1e-8, 'z(0.995)');
    close(normalQuantile(0.01), -2.326347874, 1e-8, 'z(0.01)');
  });
  it('the CDF inverts the quantile, also for fractional df', () => {
    for (const df of [1.5, 3.7, 12.25]) close(tCdf(tQuantile(0.9, df), df), 0.9, 1e-10, `df ${df}`);
    close(tCdf(0, 3), 0.5, 1e-15, 'median');
  });
});

describe('warm-up (MSER)', () => {
  it('a constant series has none and a zero-width interval', () => {
    const xs = new Array<number>(50).fill(1234.5);
    assert.equal(warmupLength(xs), 0);
    assert.equal(lag1Autocorrelation(xs), 0);
    const s = summarize([xs, xs]);
    assert.equal(s.mean, 1234.5);
    assert.equal(s.low, 1234.5);
    assert.equal(s.high, 1234.5);
    assert.deepEqual(s.warmup, [0, 0]);
    assert.equal(s.batchSize, 1);
  });
  it('cuts a linear warm-up off a noisy plateau', () => {
    const noise = normals(7, 80);
    const ramp = Array.from({ length: 20 }, (_, i) => i * 50); // 0 … 950
    const plateau = noise.map((z) => 1000 + 5 * z);
    const xs = [...ramp, ...plateau];
    const d = warmupLength(xs);
    // All of the ramp goes; MSER errs on the side of cutting, so a few plateau samples may go too.
    assert.ok(d >= 20 && d <= 25, `warm-up ${d} should be 20 to 25`);
    const s = summarize([xs]);
    close(s.mean, 1000, 2, 'plateau mean');
    assert.ok(s.low <= 1000 && 1000 <= s.high, `[${s.low}, ${s.high}] should contain 1000`);
    // Without the cut the ramp drags the mean far down.
    assert.ok(summarize([xs], { dropWarmup: false }).mean < 960);
  });
  it('never cuts more than half, and leaves short series alone', () => {
    assert.equal(warmupLength([1, 2, 3]), 0);
    const rising = Array.from({ length: 40 }, (_, i) => i);
    assert.ok(warmupLength(rising) <= 20);
  });
});

describe('autocorrelation and batch means', () => {
  it('batch means drop a partial tail', () => {
    assert.deepEqual(batchMeans([1, 3, 5, 7, 9], 2), [2, 6]);
  });
  it('white noise is already independent', () => {
    const xs = normals(3, 400).map((z) => 50 + z);
    assert.ok(Math.abs(lag1Autocorrelation(xs)) <= 0.1);
    const s = summarize([xs], { dropWarmup: false });
    assert.equal(s.batchSize, 1);
    assert.ok(s.independent);
  });
  it('merges an AR(1) series with φ = 0.9 until |r1| ≤ 0.1, widening the interval', () => {
    const e = normals(11, 4000);
    const xs: number[] = [];
    let x = 0;
    for (const z of e) xs.push(100 + (x = 0.9 * x + z));
    const raw = lag1Autocorrelation(xs);
    assert.ok(raw > 0.85, `raw r1 ${raw} should be near 0.9`);
    const s = summarize([xs], { dropWarmup: false });
    assert.ok(s.independent, 'should reach |r1| ≤ 0.1');
    assert.ok(Math.abs(s.r1) <= 0.1, `r1 ${s.r1}`);
    assert.ok(s.batchSize >= 16, `batch size ${s.batchSize}: AR(1) at 0.9 needs batches of ~32`);
    assert.ok(s.low <= 100 && 100 <= s.high, `[${s.low}, ${s.high}] should contain the true mean 100`);
    // The naive interval (treating samples as independent) is several times too narrow.
    const sd = Math.sqrt(xs.reduce((a, v) => a + (v - 100) ** 2, 0) / xs.length);
    const naiveHalf = (1.96 * sd) / Math.sqrt(xs.length);
    assert.ok(s.halfWidth > 2.5 * naiveHalf, `${s.halfWidth} should be much wider than ${naiveHalf}`);
  });
  it('falls back to round means when rounds sit at different levels', () => {
    const a = normals(5, 12).map((z) => 100 + 0.1 * z);
    const b = normals(6, 12).map((z) => 120 + 0.1 * z);
    const s = summarize([a, b], { dropWarmup: false });
    assert.equal(s.batchSize, 0);
    assert.equal(s.n, 2);
    close(s.mean, 110, 0.1, 'mean of round means');
    // t(0.975, 1) · 10 = 127: two rounds that disagree give an honest, wide interval.
    assert.ok(s.halfWidth > 100);
  });
});

describe('comparing two systems (Fieller)', () => {
  const summary = (m: number, half: number, n = 10) => {
    const t = tQuantile(0.975, n - 1);
    const stdErr = half / t;
    return {
      mean: m,
      low: m - half,
      high: m + half,
      halfWidth: half,
      stdErr,
      n,
      df: n - 1,
      batchSize: 1,
      r1: 0,
      independent: true,
      warmup: [],
      roundMeans: [],
    };
  };
  it('with an exact denominator, the interval is A’s interval over B', () => {
    const c = compare(summary(2, 0.4), summary(4, 0));
    close(c.ratio, 0.5, 1e-12, 'ratio');
    close(c.low, 1.6 / 4, 1e-9, 'low');
    close(c.high, 2.4 / 4, 1e-9, 'high');
    assert.ok(c.differs);
    assert.equal(c.overlap, false);
  });
  it('a system against itself does not differ', () => {
    const s = summary(1e6, 5e4);
    const c = compare(s, s);
    assert.equal(c.ratio, 1);
    assert.ok(c.low < 1 && c.high > 1);
    assert.equal(c.differs, false);
    assert.ok(c.overlap);
  });
  it('has no interval when a side has one value', () => {
    const one = { ...summary(4, 0), n: 1, df: 0, stdErr: 0 };
    const c = compare(summary(2, 0.4), one);
    assert.equal(c.ratio, 0.5);
    assert.ok(Number.isNaN(c.low) && Number.isNaN(c.high));
    assert.equal(c.differs, false);
  });
  it('is unbounded when B cannot be told from zero', () => {
    const c = compare(summary(5, 1), summary(1, 3));
    assert.equal(c.low, Number.NEGATIVE_INFINITY);
    assert.equal(c.high, Number.POSITIVE_INFINITY);
  });
  it('agrees with the delta method when both are tight', () => {
    const a = summary(300, 3);
    const b = summary(600, 6);
    const c = compare(a, b);
    const rel = Math.sqrt((a.stdErr / a.mean) ** 2 + (b.stdErr / b.mean) ** 2);
    const half = tQuantile(0.975, 9) * 0.5 * rel;
    close(c.low, 0.5 - half, 2e-4, 'low');
    close(c.high, 0.5 + half, 2e-4, 'high');
  });
});
