/**
 * Each Nexmark query runs over generated events through a real pipeline and
 * is compared with an oracle computed over the same events with plain loops.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  type Bid,
  type Event,
  eventTime,
  generateEvents,
  nexmarkGenerator,
  nexmarkSourceOptions,
  splitEvents,
} from '../../bench/nexmark/generator.ts';
import {
  bidTimeType,
  channelIdOf,
  countChar,
  priceRank,
  QUERIES,
  q0,
  q1,
  q2,
  q3,
  q3r,
  q4,
  q4r,
  q5,
  q6,
  q7,
  q7r,
  q8,
  q9,
  q11,
  q13,
  q13SideInput,
  q14,
  q15,
  q16,
  q17,
  q20,
  q21,
  q22,
} from '../../bench/nexmark/queries.ts';
import { arraySource, collectSink, Pipeline, type Stream } from '../../src/index.ts';
import {
  bag,
  DAILY_CONFIGS,
  DISORDERED,
  disorder,
  forEachConfig,
  groupBy,
  oracleWinners,
  run,
  runArray,
  windowStart,
} from './support.ts';

/** Per category, the sum and number of its auctions' highest bids in range (auctions without one left out). */
function highestBidsPerCategory(events: readonly Event[]): Map<number, { sum: number; n: number }> {
  const { auctions, bids } = splitEvents(events);
  const byAuction = new Map<number, Bid[]>();
  for (const b of bids) {
    let list = byAuction.get(b.auction);
    if (list === undefined) byAuction.set(b.auction, (list = []));
    list.push(b);
  }
  const perCategory = new Map<number, { sum: number; n: number }>();
  for (const a of auctions) {
    let best = -1;
    for (const b of byAuction.get(a.id) ?? [])
      if (b.dateTime >= a.dateTime && b.dateTime <= a.expires && b.price > best) best = b.price;
    if (best < 0) continue;
    const acc = perCategory.get(a.category) ?? { sum: 0, n: 0 };
    perCategory.set(a.category, { sum: acc.sum + best, n: acc.n + 1 });
  }
  return perCategory;
}

/**
 * q7r's oracle (the reference q7): per 10 s window with bids, its highest
 * price, and every bid in `[start, start + 10 s]` — both ends inclusive —
 * at that price, once per window.
 */
function q7rOracle(events: readonly Event[]): Bid[] {
  const { bids } = splitEvents(events);
  const max = new Map<number, number>();
  for (const b of bids) {
    const start = windowStart(b.dateTime, 10_000);
    max.set(start, Math.max(max.get(start) ?? -1, b.price));
  }
  const out: Bid[] = [];
  for (const [start, price] of max)
    for (const b of bids)
      if (b.dateTime >= start && b.dateTime <= start + 10_000 && b.price === price) out.push(b);
  return out;
}

/**
 * `events` with, for each of the first `windows` windows that have bids, a
 * copy of its first bid at the highest price moved to exactly the window's
 * end (the next window's first millisecond), inserted in time order: the
 * bids the reference q7 outputs for the window they do not belong to.
 */
function withBidsOnWindowEnds(events: readonly Event[], windows: number): { events: Event[]; onEnds: Bid[] } {
  const tops = new Map<number, Bid>();
  for (const e of events) {
    if (e.kind !== 'bid') continue;
    const start = windowStart(e.bid.dateTime, 10_000);
    const top = tops.get(start);
    if (top === undefined || e.bid.price > top.price) tops.set(start, e.bid);
  }
  const onEnds: Bid[] = [];
  for (const [start, own] of [...tops].sort(([x], [y]) => x - y).slice(0, windows)) {
    // The copy on the previous window's end belongs to this window, and may be its highest.
    const prev = onEnds.at(-1);
    const top = prev !== undefined && prev.dateTime === start && prev.price > own.price ? prev : own;
    onEnds.push({ ...top, bidder: top.bidder + 1_000_000, dateTime: start + 10_000 });
  }
  const out = [...events];
  for (const b of onEnds) {
    let i = out.findIndex((e) => eventTime(e) > b.dateTime);
    if (i < 0) i = out.length;
    out.splice(i, 0, { kind: 'bid', bid: b });
  }
  return { events: out, onEnds };
}

describe('nexmark queries against oracles', () => {
  forEachConfig('q0 passes every bid through in order', async (config) => {
    assert.deepEqual(
      await run(config, q0),
      generateEvents(config).flatMap((e) => (e.kind === 'bid' ? [e.bid] : [])),
    );
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
    // The reference's unbounded join (q3r) gives the same rows.
    assert.deepEqual(bag(await run(config, q3r)), bag(expected));
  });

  forEachConfig('q4 averages the closing price of auctions per category', async (config) => {
    const perCategory = highestBidsPerCategory(generateEvents(config));
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

  forEachConfig(
    "q4r updates the average of every auction's highest bid so far, per category (the reference q4)",
    async (config) => {
      // The oracle: once every bid is in, each auction's maximum is its highest bid in range.
      const perCategory = highestBidsPerCategory(generateEvents(config));
      const withBids = [...perCategory.values()].reduce((s, x) => s + x.n, 0);
      const expected = new Map([...perCategory].map(([c, { sum, n }]) => [c, sum / n]));
      const rows = await run(config, q4r);
      const last = new Map<number, number>();
      for (const r of rows) last.set(r.category, r.avgPrice);
      assert.deepEqual(last, expected);
      // At least one update per auction with a bid in range, more when a later bid raises its maximum.
      assert.ok(rows.length > withBids, `${rows.length} updates for ${withBids} auctions with bids`);
    },
  );

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

  forEachConfig(
    "q7r joins each window's highest price back to the bids in [end − 10 s, end] (the reference q7)",
    async (config) => {
      const events = generateEvents(config);
      assert.deepEqual(bag(await run(config, q7r)), bag(q7rOracle(events)));
      // Bids moved onto window ends with the previous window's highest price: output for that window too.
      const edged = withBidsOnWindowEnds(events, 3);
      const expected = q7rOracle(edged.events);
      for (const b of edged.onEnds)
        assert.ok(expected.includes(b), 'the oracle outputs each bid on a window end');
      assert.deepEqual(bag(await runArray(edged.events, q7r, 0)), bag(expected));
    },
  );

  it("q7r outputs a bid on a window end for the previous window when it has that window's highest price", async () => {
    const bid = (dateTime: number, price: number): Bid => ({
      auction: 1,
      bidder: dateTime,
      price,
      channel: 'Google',
      url: 'https://www.nexmark.com/a/b/c/item.htm?query=1',
      dateTime,
      extra: '',
    });
    const start = Date.UTC(2024, 0, 1);
    const w0 = [bid(start + 1000, 50), bid(start + 5000, 70)];
    // On w0's end with w0's highest price; w1's own highest is higher.
    const a = bid(start + 10_000, 70);
    const w1 = [bid(start + 12_000, 90)];
    // On w1's end with w1's highest price, and w2's highest too: output for both windows.
    const b = bid(start + 20_000, 90);
    const w2 = [bid(start + 25_000, 40)];
    // On w2's end below w2's highest: only w3's own (highest) bid.
    const c = bid(start + 30_000, 41);
    const all = [...w0, a, ...w1, b, ...w2, c];
    const events: Event[] = all.map((x) => ({ kind: 'bid', bid: x }));
    const expected = [w0[1]!, a, w1[0]!, b, b, c];
    assert.deepEqual(bag(q7rOracle(events)), bag(expected));
    assert.deepEqual(bag(await runArray(events, q7r, 0)), bag(expected));
    // eddy's q7: each bid in its own window only.
    assert.deepEqual(bag(await runArray(events, q7, 0)), bag([w0[1]!, w1[0]!, b, c]));
    // Out of order (within the bound) the same.
    assert.deepEqual(bag(await runArray([...events].reverse(), q7r, 40_000)), bag(expected));
    // A bid on w0's end that comes after the watermark has reached end − 1 (one record per batch,
    // so the watermark moves between them) still counts for w0: w0 closes only at its end.
    const after = [w0[0]!, w0[1]!, bid(start + 11_000, 10), a];
    const p = new Pipeline({ name: 'nexmark-q7r-end', errorPolicy: 'fail' });
    const out = collectSink<Bid>();
    q7r(
      p,
      p.source('events', arraySource(after.map((x): Event => ({ kind: 'bid', bid: x }))), {
        timestamp: eventTime,
        maxOutOfOrderness: 1000,
        batchSize: 1,
      }),
    ).sink(out);
    await p.run();
    assert.deepEqual(bag(out.values), bag([w0[1]!, a, a]));
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

  forEachConfig(
    "q6 averages each seller's last 10 closed auctions, a row per closed auction",
    async (config) => {
      const rows = await run(config, q6);
      const expected = q6Oracle(generateEvents(config));
      assert.deepEqual(q6BySeller(rows), expected);
      // Hot sellers close more than 10 auctions, so the window slides.
      assert.ok([...expected.values()].some((avgs) => avgs.length > 10));
    },
  );

  forEachConfig("q9 finds each auction's winning bid", async (config) => {
    const events = generateEvents(config);
    const rows = await run(config, q9);
    assert.deepEqual(byId(rows), byId(q9Oracle(events)));
    assert.ok(rows.length > 0);
  });

  for (const { config, maxDelay } of DISORDERED) {
    it(`q6, q7r, q9 and q20 give the same results from disordered input (seed ${config.seed})`, async () => {
      const events = disorder(generateEvents(config), maxDelay, config.seed ?? 0);
      const edged = disorder(
        withBidsOnWindowEnds(generateEvents(config), 3).events,
        maxDelay,
        config.seed ?? 0,
      );
      assert.deepEqual(bag(await runArray(edged, q7r, maxDelay)), bag(q7rOracle(edged)));
      assert.deepEqual(q6BySeller(await runArray(events, q6, maxDelay)), q6Oracle(events));
      assert.deepEqual(byId(await runArray(events, q9, maxDelay)), byId(q9Oracle(events)));
      assert.deepEqual(bag(await runArray(events, q20, maxDelay)), bag(q20Oracle(events)));
    });
  }

  forEachConfig('q13 joins bids with the side input on auction mod 10,000', async (config) => {
    const { bids } = splitEvents(generateEvents(config));
    const row = (b: Bid, value: string) => ({
      auction: b.auction,
      bidder: b.bidder,
      price: b.price,
      dateTime: b.dateTime,
      value,
    });
    // The default side input maps every key to itself, so every bid matches.
    assert.deepEqual(
      await run(config, q13),
      bids.map((b) => row(b, String(b.auction % 10_000))),
    );
    // A sparser one drops the bids whose key it lacks.
    const side = new Map([...q13SideInput()].filter(([k]) => k % 3 === 0).map(([k]) => [k, `v${k}`]));
    const expected = [];
    for (const b of bids) if ((b.auction % 10_000) % 3 === 0) expected.push(row(b, `v${b.auction % 10_000}`));
    assert.ok(expected.length > 0 && expected.length < bids.length);
    assert.deepEqual(await run(config, (p, e) => q13(p, e, side)), expected);
  });

  forEachConfig(
    'q14 keeps bids between 1M and 50M euro cents, with their hour class and c count',
    async (config) => {
      const { bids } = splitEvents(generateEvents(config));
      const expected = [];
      for (const b of bids) {
        const price = 0.908 * b.price;
        if (!(price > 1_000_000 && price < 50_000_000)) continue;
        const hour = new Date(b.dateTime).getUTCHours();
        const bidTimeType =
          hour >= 8 && hour <= 18 ? 'dayTime' : hour <= 6 || hour >= 20 ? 'nightTime' : 'otherTime';
        const cCounts = b.extra.split('c').length - 1;
        expected.push({
          auction: b.auction,
          bidder: b.bidder,
          price,
          bidTimeType,
          dateTime: b.dateTime,
          extra: b.extra,
          cCounts,
        });
      }
      assert.ok(expected.length > bids.length / 5);
      assert.deepEqual(await run(config, q14), expected);
      const span = bids.at(-1)!.dateTime - bids[0]!.dateTime;
      if (span > 12 * 3_600_000) assert.equal(new Set(expected.map((r) => r.bidTimeType)).size, 3);
    },
    DAILY_CONFIGS,
  );

  forEachConfig(
    'q15 reports bids, bidders and auctions per day and price band',
    async (config) => {
      const { bids } = splitEvents(generateEvents(config));
      const expected = [...groupBy(bids, (b) => utcDay(b.dateTime))].map(([day, list]) => ({
        day,
        ...statsOf(list),
      }));
      const rows = await run(config, q15);
      assert.deepEqual(
        sortBy(rows, (r) => r.day),
        expected,
      );
    },
    DAILY_CONFIGS,
  );

  forEachConfig(
    'q16 reports the same per channel and day, with the minute of the last bid',
    async (config) => {
      const { bids } = splitEvents(generateEvents(config));
      const expected = [...groupBy(bids, (b) => `${b.channel} ${utcDay(b.dateTime)}`)].map(([, list]) => {
        const minutes = list.map((b) => new Date(b.dateTime).toISOString().slice(11, 16));
        return {
          channel: list[0]!.channel,
          day: utcDay(list[0]!.dateTime),
          minute: minutes.sort().at(-1)!,
          ...statsOf(list),
        };
      });
      const key = (r: { channel: string; day: string }) => `${r.channel} ${r.day}`;
      assert.deepEqual(sortBy(await run(config, q16), key), sortBy(expected, key));
    },
    DAILY_CONFIGS,
  );

  forEachConfig(
    'q17 reports bids and prices per auction and day',
    async (config) => {
      const { bids } = splitEvents(generateEvents(config));
      const expected = [...groupBy(bids, (b) => `${b.auction} ${utcDay(b.dateTime)}`)].map(([, list]) => {
        const prices = list.map((b) => b.price);
        const sum = prices.reduce((a, b) => a + b, 0);
        return {
          auction: list[0]!.auction,
          day: utcDay(list[0]!.dateTime),
          totalBids: list.length,
          rank1Bids: prices.filter((x) => x < 10_000).length,
          rank2Bids: prices.filter((x) => x >= 10_000 && x < 1_000_000).length,
          rank3Bids: prices.filter((x) => x >= 1_000_000).length,
          minPrice: Math.min(...prices),
          maxPrice: Math.max(...prices),
          avgPrice: sum / list.length,
          sumPrice: sum,
        };
      });
      const key = (r: { auction: number; day: string }) => `${r.auction} ${r.day}`;
      const rows = await run(config, q17);
      assert.deepEqual(sortBy(rows, key), sortBy(expected, key));
      if (config.eventsPerSecond === 0.01) {
        // Auctions bid on across midnight have a row per day.
        assert.ok(new Set(rows.map((r) => r.auction)).size < rows.length);
      }
    },
    DAILY_CONFIGS,
  );

  forEachConfig('q20 joins bids with their category-10 auctions, whenever each came', async (config) => {
    const events = generateEvents(config);
    const rows = await run(config, q20);
    const expected = q20Oracle(events);
    assert.ok(expected.length > 0);
    assert.deepEqual(bag(rows), bag(expected));
  });

  forEachConfig('q21 adds the channel id from the channel name or the URL', async (config) => {
    const { bids } = splitEvents(generateEvents(config));
    const hot: Record<string, string> = { apple: '0', google: '1', facebook: '2', baidu: '3' };
    const expected = [];
    for (const b of bids) {
      const channelId = hot[b.channel.toLowerCase()] ?? new URL(b.url).searchParams.get('channel_id');
      if (channelId === null) continue;
      expected.push({ auction: b.auction, bidder: b.bidder, price: b.price, channel: b.channel, channelId });
    }
    // Some channel-N URLs have no channel_id: those bids are dropped.
    assert.ok(expected.length < bids.length);
    assert.deepEqual(await run(config, q21), expected);
  });

  it('q14–q17 band prices and hours at the reference boundaries', () => {
    assert.deepEqual([99, 9_999, 10_000, 999_999, 1_000_000].map(priceRank), [0, 0, 1, 1, 2]);
    const at = (h: number) => Date.UTC(2024, 5, 1, h, 59, 59, 999);
    assert.deepEqual(
      [0, 6, 7, 8, 18, 19, 20, 23].map((h) => bidTimeType(at(h))),
      ['nightTime', 'nightTime', 'otherTime', 'dayTime', 'dayTime', 'otherTime', 'nightTime', 'nightTime'],
    );
    assert.equal(countChar('cacbcc', 'c'), 4);
  });

  it('q21 reads channel ids as the reference SQL does', () => {
    assert.equal(channelIdOf('APPLE', 'https://x/?channel_id=9'), '0');
    assert.equal(channelIdOf('Baidu', ''), '3');
    assert.equal(channelIdOf('channel-7', 'channel_id=12&a=1'), '12');
    assert.equal(channelIdOf('channel-7', 'https://x/?q=1&channel_id=34&b=2'), '34');
    assert.equal(channelIdOf('channel-7', 'https://x/?q=1&channel_id='), '');
    assert.equal(channelIdOf('channel-7', 'https://x/?xchannel_id=5'), null);
    assert.equal(channelIdOf('channel-7', 'https://x/item.htm?query=1'), null);
  });

  forEachConfig('q22 splits every bid URL into its directories', async (config) => {
    const { bids } = splitEvents(generateEvents(config));
    const expected = bids.map((b) => {
      const [, dir1, dir2, dir3] = new URL(b.url).pathname.split('/');
      return { auction: b.auction, bidder: b.bidder, price: b.price, channel: b.channel, dir1, dir2, dir3 };
    });
    assert.deepEqual(await run(config, q22), expected);
  });

  it('QUERIES lists q0–q9, q3r, q4r and q7r (the reference q3, q4 and q7) and q11–q22, and each runs', async () => {
    const names = Object.keys(QUERIES);
    assert.deepEqual(names, [
      ...[0, 1, 2, 3].map((n) => `q${n}`),
      'q3r',
      'q4',
      'q4r',
      ...[5, 6, 7].map((n) => `q${n}`),
      'q7r',
      ...[8, 9, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22].map((n) => `q${n}`),
    ]);
    for (const [name, query] of Object.entries(QUERIES)) {
      const p = new Pipeline({ name, errorPolicy: 'fail' });
      const out = collectSink<unknown>();
      (query as (p: Pipeline, e: Stream<Event>) => Stream<unknown>)(
        p,
        p.source(
          'events',
          nexmarkGenerator({ seed: 31, count: 3000, eventsPerSecond: 100 }),
          nexmarkSourceOptions,
        ),
      ).sink(out);
      await p.run();
      assert.ok(out.values.length > 0, `${name} gave no rows`);
    }
  });
});

function utcDay(t: number): string {
  return new Date(t).toISOString().slice(0, 10);
}

function sortBy<T>(rows: readonly T[], key: (r: T) => string): T[] {
  return [...rows].sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
}

function byId<T extends { id: number }>(rows: readonly T[]): T[] {
  return [...rows].sort((a, b) => a.id - b.id);
}

/** q15's and q16's statistics columns for a group of bids. */
function statsOf(list: readonly Bid[]) {
  const band = (lo: number, hi: number) => list.filter((b) => b.price >= lo && b.price < hi);
  const distinct = (xs: readonly Bid[], f: (b: Bid) => number) => new Set(xs.map(f)).size;
  const bands = [band(0, 10_000), band(10_000, 1_000_000), band(1_000_000, Infinity)] as const;
  return {
    totalBids: list.length,
    rank1Bids: bands[0].length,
    rank2Bids: bands[1].length,
    rank3Bids: bands[2].length,
    totalBidders: distinct(list, (b) => b.bidder),
    rank1Bidders: distinct(bands[0], (b) => b.bidder),
    rank2Bidders: distinct(bands[1], (b) => b.bidder),
    rank3Bidders: distinct(bands[2], (b) => b.bidder),
    totalAuctions: distinct(list, (b) => b.auction),
    rank1Auctions: distinct(bands[0], (b) => b.auction),
    rank2Auctions: distinct(bands[1], (b) => b.auction),
    rank3Auctions: distinct(bands[2], (b) => b.auction),
  };
}

/** Per seller, the averages of its last 10 winning prices, one per auction in closing order. */
function q6Oracle(events: readonly Event[]): Map<number, number[]> {
  const closed = oracleWinners(events).sort(
    (x, y) => x.auction.expires - y.auction.expires || x.auction.id - y.auction.id,
  );
  const last = new Map<number, number[]>();
  const averages = new Map<number, number[]>();
  for (const { auction, bid } of closed) {
    const prices = last.get(auction.seller) ?? [];
    prices.push(bid.price);
    if (prices.length > 10) prices.shift();
    last.set(auction.seller, prices);
    let sum = 0;
    for (const p of prices) sum += p;
    averages.set(auction.seller, [...(averages.get(auction.seller) ?? []), sum / prices.length]);
  }
  return averages;
}

function q6BySeller(rows: readonly { seller: number; avgPrice: number }[]): Map<number, number[]> {
  return new Map([...groupBy(rows, (r) => r.seller)].map(([s, list]) => [s, list.map((r) => r.avgPrice)]));
}

function q9Oracle(events: readonly Event[]) {
  return oracleWinners(events).map(({ auction: a, bid: b }) => ({
    ...a,
    auction: b.auction,
    bidder: b.bidder,
    price: b.price,
    bidDateTime: b.dateTime,
    bidExtra: b.extra,
  }));
}

function q20Oracle(events: readonly Event[]) {
  const { auctions, bids } = splitEvents(events);
  const byId = new Map(auctions.map((a) => [a.id, a]));
  const rows = [];
  for (const b of bids) {
    const a = byId.get(b.auction);
    if (a === undefined || a.category !== 10) continue;
    rows.push({
      auction: b.auction,
      bidder: b.bidder,
      price: b.price,
      channel: b.channel,
      url: b.url,
      bidDateTime: b.dateTime,
      bidExtra: b.extra,
      itemName: a.itemName,
      description: a.description,
      initialBid: a.initialBid,
      reserve: a.reserve,
      auctionDateTime: a.dateTime,
      expires: a.expires,
      seller: a.seller,
      category: a.category,
      auctionExtra: a.extra,
    });
  }
  return rows;
}
