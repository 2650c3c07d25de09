/**
 * Load profiles: each schedule's `timeOf` inverts its cumulative load, rates
 * average out as promised, and the Zipf sampler and key remapping are
 * deterministic and skewed as specified.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { generateEvents } from '../../bench/nexmark/generator.ts';
import {
  bursts,
  constant,
  ramp,
  type Schedule,
  skewRemapper,
  ZipfSampler,
} from '../../bench/nexmark/harness/profiles.ts';

function checkInverse(s: Schedule, n: number): void {
  let prev = -1;
  for (let i = 0; i < n; i++) {
    const t = s.timeOf(i);
    assert.ok(t >= prev, `timeOf must not decrease (event ${i})`);
    prev = t;
    assert.ok(Math.abs(s.cumulative(t) - i) < 1e-6, `cumulative(timeOf(${i})) = ${s.cumulative(t)}`);
    // Due exactly at its time, not before.
    assert.ok(s.dueBy(t) >= i + 1, `event ${i} due at ${t}`);
    if (t > 1e-6) assert.ok(s.dueBy(t - 1e-6) <= i, `event ${i} not due before ${t}`);
  }
}

describe('schedules', () => {
  it('constant: evenly spaced', () => {
    const s = constant(1000);
    assert.equal(s.timeOf(0), 0);
    assert.equal(s.timeOf(500), 500);
    assert.equal(s.dueBy(999.5), 1000);
    checkInverse(s, 3000);
  });
  it('bursts: the mean rate per period, faster in the burst', () => {
    const s = bursts(10_000, { periodMs: 1000, duty: 0.2, factor: 2.5 });
    assert.ok(Math.abs(s.cumulative(1000) - 10_000) < 1e-6);
    assert.ok(Math.abs(s.cumulative(200) - 5_000) < 1e-6, 'half the period’s events in the first 20 %');
    assert.equal(s.rateAt(100), 25_000);
    assert.equal(s.rateAt(500), 6_250);
    checkInverse(s, 25_000);
    assert.throws(() => bursts(1000, { duty: 0.5, factor: 2 }), /duty \* factor < 1/);
  });
  it('ramp: from one rate to another, then flat', () => {
    const s = ramp(1000, 3000, 2000);
    assert.ok(Math.abs(s.cumulative(2000) - 4000) < 1e-9, 'area under the ramp');
    assert.equal(s.rateAt(1000), 2000);
    assert.equal(s.rateAt(5000), 3000);
    checkInverse(s, 7000);
    checkInverse(ramp(500, 500, 1000), 800);
  });
  it('rejects a bad rate with its value', () => {
    assert.throws(() => constant(0), /constant rate .* received 0/);
  });
});

describe('skewed keys', () => {
  it('Zipf ranks follow k^-s', () => {
    const z = new ZipfSampler(1, 42);
    const n = 10;
    const counts = new Array<number>(n + 1).fill(0);
    const draws = 100_000;
    for (let i = 0; i < draws; i++) counts[z.next(n)]!++;
    let h = 0;
    for (let k = 1; k <= n; k++) h += 1 / k;
    for (const k of [1, 2, 5, 10]) {
      const p = counts[k]! / draws;
      assert.ok(Math.abs(p - 1 / k / h) < 0.006, `P(${k}) = ${p}, expected ${1 / k / h}`);
    }
    assert.equal(counts[0], 0);
  });
  it('the remapping is deterministic, keeps ids that exist, and concentrates bids', () => {
    const events = generateEvents({ seed: 3, count: 20_000 });
    const a = events.map(skewRemapper({ exponent: 1.2, seed: 9 }));
    const b = events.map(skewRemapper({ exponent: 1.2, seed: 9 }));
    assert.deepEqual(a, b);
    let people = 0;
    let auctions = 0;
    const perBidder = new Map<number, number>();
    let nbids = 0;
    for (const e of a) {
      if (e.kind === 'person') people = Math.max(people, e.person.id - 999);
      else if (e.kind === 'auction') auctions = Math.max(auctions, e.auction.id - 999);
      else {
        nbids++;
        if (people > 0) assert.ok(e.bid.bidder >= 1000 && e.bid.bidder < 1000 + people);
        if (auctions > 0) assert.ok(e.bid.auction >= 1000 && e.bid.auction < 1000 + auctions);
        perBidder.set(e.bid.bidder, (perBidder.get(e.bid.bidder) ?? 0) + 1);
      }
    }
    // Person 1000 is the hottest bidder, with a large share.
    const top = [...perBidder.entries()].sort((x, y) => y[1] - x[1])[0]!;
    assert.equal(top[0], 1000);
    assert.ok(top[1] / nbids > 0.15, `top share ${top[1] / nbids}`);
    // Persons and auctions are untouched.
    for (let i = 0; i < events.length; i++) if (events[i]!.kind !== 'bid') assert.equal(a[i], events[i]);
  });
});
