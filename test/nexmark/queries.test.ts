/**
 * Each Nexmark query runs over generated events through a real pipeline and
 * is compared with an oracle computed over the same events with plain loops.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  type Bid,
  type Event,
  generateEvents,
  type NexmarkConfig,
  nexmarkGenerator,
  nexmarkSourceOptions,
  splitEvents,
} from '../../bench/nexmark/generator.ts';
import { q0, q1, q2, q3, q4, q5, q7, q8, q11 } from '../../bench/nexmark/queries.ts';
import { collectSink, Pipeline, type Stream } from '../../src/index.ts';

/**
 * The inputs: 5,000 events each. At 50 events/s they span 100 s of event
 * time, so the 10 s windows and sessions see many windows; the dense one
 * draws from few people and auctions, so joins and sessions find matches; at
 * 1M events/s many events share a millisecond, so bids can precede their
 * auction within it (q4); without hot auctions, counts tie (q5).
 */
const CONFIGS: readonly Partial<NexmarkConfig>[] = [
  { seed: 1, count: 5000, eventsPerSecond: 50 },
  { seed: 2, count: 5000, eventsPerSecond: 10_000 },
  { seed: 3, count: 5000, eventsPerSecond: 20, numActivePeople: 8, numInFlightAuctions: 6 },
  { seed: 4, count: 5000, eventsPerSecond: 1_000_000 },
  { seed: 5, count: 5000, eventsPerSecond: 100, hotAuctionRatio: 1, numInFlightAuctions: 30 },
];

async function run<R>(
  config: Partial<NexmarkConfig>,
  query: (p: Pipeline, events: Stream<Event>) => Stream<R>,
): Promise<R[]> {
  const p = new Pipeline({ name: 'nexmark-test', errorPolicy: 'fail' });
  const out = collectSink<R>();
  query(p, p.source('events', nexmarkGenerator(config), nexmarkSourceOptions)).sink(out);
  await p.run();
  return out.values;
}

/** Rows as a sorted multiset, to compare results whose order is not defined. */
function bag(rows: readonly unknown[]): string[] {
  return rows.map((r) => JSON.stringify(r)).sort();
}

function windowStart(t: number, size: number): number {
  return t - (t % size);
}

function forEachConfig(name: string, check: (config: Partial<NexmarkConfig>) => Promise<void>): void {
  for (const config of CONFIGS) it(`${name} (seed ${config.seed})`, () => check(config));
}

describe('nexmark queries against oracles', () => {
  forEachConfig('q0 passes every event through in order', async (config) => {
    assert.deepEqual(await run(config, q0), generateEvents(config));
  });

  forEachConfig('q1 converts every bid price to euros', async (config) => {
    const { bids } = splitEvents(generateEvents(config));
    assert.deepEqual(
      await run(config, q1),
      bids.map((b) => ({ ...b, price: b.price * 0.908 })),
    );
  });

  forEachConfig('q2 selects bids on auctions whose id is a multiple of 123', async (config) => {
    const { bids } = splitEvents(generateEvents(config));
    const expected = [];
    for (const b of bids) if (b.auction % 123 === 0) expected.push({ auction: b.auction, price: b.price });
    assert.ok(expected.length > 0);
    assert.deepEqual(await run(config, q2), expected);
  });

  forEachConfig('q3 joins sellers in OR, ID, CA with their category-10 auctions', async (config) => {
    const { persons, auctions } = splitEvents(generateEvents(config));
    const expected = [];
    for (const a of auctions) {
      if (a.category !== 10) continue;
      for (const p of persons) {
        if (p.id === a.seller && (p.state === 'OR' || p.state === 'ID' || p.state === 'CA'))
          expected.push({ name: p.name, city: p.city, state: p.state, id: a.id });
      }
    }
    assert.ok(expected.length > 0);
    assert.deepEqual(bag(await run(config, q3)), bag(expected));
  });

  forEachConfig('q4 averages the closing price of auctions per category', async (config) => {
    const { auctions, bids } = splitEvents(generateEvents(config));
    const byAuction = new Map<number, Bid[]>();
    for (const b of bids) {
      let list = byAuction.get(b.auction);
      if (list === undefined) byAuction.set(b.auction, (list = []));
      list.push(b);
    }
    const perCategory = new Map<number, { sum: number; n: number }>();
    for (const a of auctions) {
      let best = -1;
      for (const b of byAuction.get(a.id) ?? []) {
        if (b.dateTime >= a.dateTime && b.dateTime <= a.expires && b.price > best) best = b.price;
      }
      if (best < 0) continue;
      const acc = perCategory.get(a.category) ?? { sum: 0, n: 0 };
      perCategory.set(a.category, { sum: acc.sum + best, n: acc.n + 1 });
    }
    const expected = new Map([...perCategory].map(([c, { sum, n }]) => [c, sum / n]));
    assert.equal(expected.size, 5);
    const rows = await run(config, q4);
    const last = new Map<number, number>();
    for (const r of rows) last.set(r.category, r.avgPrice);
    assert.deepEqual(last, expected);
    // One refinement per auction with a winning bid.
    assert.equal(
      rows.length,
      [...perCategory.values()].reduce((s, x) => s + x.n, 0),
    );
  });

  forEachConfig('q5 finds the auctions with the most bids per sliding window', async (config) => {
    const { bids } = splitEvents(generateEvents(config));
    const counts = new Map<number, Map<number, number>>();
    for (const b of bids) {
      for (let start = windowStart(b.dateTime, 2000); start > b.dateTime - 10_000; start -= 2000) {
        let m = counts.get(start);
        if (m === undefined) counts.set(start, (m = new Map()));
        m.set(b.auction, (m.get(b.auction) ?? 0) + 1);
      }
    }
    const expected = [];
    for (const [start, m] of counts) {
      const num = Math.max(...m.values());
      for (const [auction, n] of m)
        if (n === num) expected.push({ auction, num, start, end: start + 10_000 });
    }
    assert.deepEqual(bag(await run(config, q5)), bag(expected));
  });

  forEachConfig('q7 reports the highest bid per tumbling window', async (config) => {
    const { bids } = splitEvents(generateEvents(config));
    const best = new Map<number, Bid[]>();
    for (const b of bids) {
      const start = windowStart(b.dateTime, 10_000);
      const top = best.get(start);
      if (top === undefined || b.price > top[0]!.price) best.set(start, [b]);
      else if (b.price === top[0]!.price) top.push(b);
    }
    const expected = [...best.values()].flat();
    assert.deepEqual(bag(await run(config, q7)), bag(expected));
  });

  forEachConfig('q8 finds persons who opened an auction in the window they registered', async (config) => {
    const { persons, auctions } = splitEvents(generateEvents(config));
    const sellers = new Set<string>();
    for (const a of auctions) sellers.add(`${a.seller}@${windowStart(a.dateTime, 10_000)}`);
    const expected = [];
    for (const p of persons) {
      const starttime = windowStart(p.dateTime, 10_000);
      if (sellers.has(`${p.id}@${starttime}`)) expected.push({ id: p.id, name: p.name, starttime });
    }
    assert.ok(expected.length > 0);
    assert.deepEqual(bag(await run(config, q8)), bag(expected));
  });

  forEachConfig('q11 counts bids per bidder session with a 10 s gap', async (config) => {
    const { bids } = splitEvents(generateEvents(config));
    const open = new Map<number, { start: number; last: number; n: number }>();
    const expected: { bidder: number; bidCount: number; starttime: number; endtime: number }[] = [];
    const close = (bidder: number, s: { start: number; last: number; n: number }) =>
      expected.push({ bidder, bidCount: s.n, starttime: s.start, endtime: s.last + 10_000 });
    for (const b of bids) {
      const s = open.get(b.bidder);
      if (s !== undefined && b.dateTime - s.last < 10_000) {
        s.last = b.dateTime;
        s.n++;
        continue;
      }
      if (s !== undefined) close(b.bidder, s);
      open.set(b.bidder, { start: b.dateTime, last: b.dateTime, n: 1 });
    }
    for (const [bidder, s] of open) close(bidder, s);
    assert.deepEqual(bag(await run(config, q11)), bag(expected));
  });
});
