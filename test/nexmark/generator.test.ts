import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  CHANNELS_NUMBER,
  type Event,
  eventTimestamp,
  FIRST_AUCTION_ID,
  FIRST_CATEGORY_ID,
  FIRST_PERSON_ID,
  generateEvent,
  generateEvents,
  HOT_CHANNELS,
  NEXMARK_DEFAULTS,
  nexmarkConfig,
  nexmarkGenerator,
  nexmarkRandom,
  nexmarkSourceOptions,
  reversedChannelId,
  splitEvents,
} from '../../bench/nexmark/generator.ts';
import { collectSink, Pipeline } from '../../src/index.ts';

describe('nexmark generator', () => {
  it('gives the same events for the same seed, and different ones for another seed', () => {
    fc.assert(
      fc.property(fc.integer(), (seed) => {
        const a = generateEvents({ seed, count: 300 });
        const b = generateEvents({ seed, count: 300 });
        assert.deepEqual(a, b);
        assert.notDeepEqual(generateEvents({ seed: seed + 1, count: 300 }), a);
      }),
      { numRuns: 20 },
    );
  });

  it('emits through a pipeline exactly the events generateEvent makes, at their dateTime', async () => {
    const config = { seed: 42, count: 3000, eventsPerSecond: 700, startTime: 1_000 };
    const p = new Pipeline({ name: 'nexmark-source' });
    const out = collectSink<Event>();
    p.source('events', nexmarkGenerator(config), nexmarkSourceOptions).sink(out);
    await p.run();
    const expected = generateEvents(config);
    assert.deepEqual(out.values, expected);
    const c = nexmarkConfig(config);
    assert.deepEqual(
      out.times,
      expected.map((_, n) => eventTimestamp(n, c)),
    );
  });

  it('makes 1 person, 3 auctions and 46 bids in every 50 consecutive events', () => {
    const events = generateEvents({ seed: 3, count: 5000 });
    fc.assert(
      fc.property(fc.integer({ min: 0, max: events.length - 50 }), (from) => {
        const { persons, auctions, bids } = splitEvents(events.slice(from, from + 50));
        assert.deepEqual([persons.length, auctions.length, bids.length], [1, 3, 46]);
      }),
    );
  });

  it('numbers persons and auctions consecutively from 1000', () => {
    const { persons, auctions } = splitEvents(generateEvents({ seed: 5, count: 10_000 }));
    assert.deepEqual(
      persons.map((p) => p.id),
      persons.map((_, i) => FIRST_PERSON_ID + i),
    );
    assert.deepEqual(
      auctions.map((a) => a.id),
      auctions.map((_, i) => FIRST_AUCTION_ID + i),
    );
  });

  it('refers to recent persons and auctions, at most 10 ids ahead as the reference allows', () => {
    fc.assert(
      fc.property(
        fc.integer(),
        fc.integer({ min: 5, max: 2000 }),
        fc.integer({ min: 5, max: 300 }),
        (seed, numActivePeople, numInFlightAuctions) => {
          // Non-hot picks reach back `window` ids; hot ones the first of the latest batch of 100.
          const reach = (window: number) => Math.max(window, 99);
          const events = generateEvents({ seed, count: 4000, numActivePeople, numInFlightAuctions });
          let lastPerson = FIRST_PERSON_ID - 1;
          let lastAuction = FIRST_AUCTION_ID - 1;
          let bidsOnExisting = 0;
          let bidCount = 0;
          let sellersExisting = 0;
          let auctionCount = 0;
          for (const e of events) {
            if (e.kind === 'person') lastPerson = e.person.id;
            else if (e.kind === 'auction') {
              lastAuction = e.auction.id;
              const s = e.auction.seller;
              assert.ok(
                s >= Math.max(FIRST_PERSON_ID, lastPerson - reach(numActivePeople - 1)),
                `seller ${s}`,
              );
              assert.ok(s <= lastPerson + 10, `seller ${s} beyond ${lastPerson} + 10`);
              auctionCount++;
              if (s <= lastPerson) sellersExisting++;
            } else {
              const { auction, bidder } = e.bid;
              assert.ok(
                auction >= Math.max(FIRST_AUCTION_ID, lastAuction - reach(numInFlightAuctions)),
                `auction ${auction}`,
              );
              assert.ok(auction <= lastAuction + 10, `auction ${auction} beyond ${lastAuction} + 10`);
              assert.ok(
                bidder >= Math.max(FIRST_PERSON_ID, lastPerson - reach(numActivePeople - 1)),
                `bidder ${bidder}`,
              );
              assert.ok(bidder <= lastPerson + 10, `bidder ${bidder} beyond ${lastPerson} + 10`);
              bidCount++;
              if (auction <= lastAuction) bidsOnExisting++;
            }
          }
          // Hot auctions (1 - 1/2 of bids) and hot sellers (1 - 1/4) always exist already.
          assert.ok(
            bidsOnExisting / bidCount > 0.5,
            `${bidsOnExisting}/${bidCount} bids on existing auctions`,
          );
          assert.ok(
            sellersExisting / auctionCount > 0.7,
            `${sellersExisting}/${auctionCount} existing sellers`,
          );
        },
      ),
      { numRuns: 15 },
    );
  });

  it('picks hot auctions, bidders and sellers at about the configured ratios', () => {
    const { auctions, bids } = splitEvents(generateEvents({ seed: 9, count: 50_000 }));
    const hot = (ids: number[], share: number) => {
      const counts = new Map<number, number>();
      for (const id of ids) counts.set(id, (counts.get(id) ?? 0) + 1);
      return Math.abs(Math.max(...counts.values()) / ids.length - share);
    };
    // With under 100 auctions per hot batch, the hot auction of a batch gets about 1 - 1/2 of its bids.
    const firstBatch = bids.filter((b) => b.dateTime < auctions[99]!.dateTime);
    assert.ok(
      hot(
        firstBatch.map((b) => b.auction),
        1 - 1 / NEXMARK_DEFAULTS.hotAuctionRatio,
      ) < 0.05,
    );
    const early = auctions.slice(0, 99);
    assert.ok(
      hot(
        early.map((a) => a.seller),
        1 - 1 / NEXMARK_DEFAULTS.hotSellersRatio,
      ) < 0.1,
    );
  });

  it('advances event time at the configured rate, never backwards', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 100_000 }),
        fc.integer({ min: 0, max: 2 ** 40 }),
        (eventsPerSecond, startTime) => {
          const count = 500;
          const events = generateEvents({ seed: 1, count, eventsPerSecond, startTime });
          const times = events.map((e) =>
            e.kind === 'person'
              ? e.person.dateTime
              : e.kind === 'auction'
                ? e.auction.dateTime
                : e.bid.dateTime,
          );
          assert.equal(times[0], startTime);
          for (let i = 1; i < count; i++) assert.ok(times[i]! >= times[i - 1]!);
          // Event n is at startTime + n × 1e6 / eventsPerSecond µs, to the ms.
          for (let n = 0; n < count; n++)
            assert.ok(Math.abs(times[n]! - startTime - (n * 1000) / eventsPerSecond) < 1);
        },
      ),
    );
  });

  it('sizes records like the reference: persons 200, auctions 500, bids 100 characters on average', () => {
    const { persons, auctions, bids } = splitEvents(generateEvents({ seed: 11, count: 50_000 }));
    const avg = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    const person = avg(
      persons.map(
        (p) =>
          8 +
          p.name.length +
          p.emailAddress.length +
          p.creditCard.length +
          p.city.length +
          p.state.length +
          p.extra.length,
      ),
    );
    const auction = avg(
      auctions.map((a) => 8 + a.itemName.length + a.description.length + 40 + a.extra.length),
    );
    const bid = avg(bids.map((b) => 32 + b.extra.length));
    assert.ok(Math.abs(person - 200) < 10, `person ${person}`);
    assert.ok(Math.abs(auction - 500) < 15, `auction ${auction}`);
    assert.ok(Math.abs(bid - 100) < 3, `bid ${bid}`);
  });

  it('draws fields from the reference domains', () => {
    const { persons, auctions, bids } = splitEvents(generateEvents({ seed: 13, count: 20_000 }));
    for (const p of persons) {
      assert.match(p.creditCard, /^\d{4} \d{4} \d{4} \d{4}$/);
      assert.match(p.emailAddress, /^[a-z ]*@[a-z ]*\.com$/);
      assert.ok(['AZ', 'CA', 'ID', 'OR', 'WA', 'WY'].includes(p.state));
      assert.match(p.name, /^[A-Z][a-z]+ [A-Z][a-z]+$/);
    }
    const categories = new Set<number>();
    for (const a of auctions) {
      categories.add(a.category);
      assert.ok(a.expires > a.dateTime);
      assert.ok(a.reserve > a.initialBid);
      assert.ok(a.initialBid >= 100 && a.initialBid <= 100_000_000);
    }
    assert.deepEqual(
      [...categories].sort(),
      [0, 1, 2, 3, 4].map((c) => FIRST_CATEGORY_ID + c),
    );
    const prices = bids.map((b) => b.price);
    assert.ok(prices.every((x) => Number.isInteger(x) && x >= 100 && x <= 100_000_000));
    // log-uniform over 6 decades: about half the prices are below 10^(2+3) cents.
    const below = prices.filter((x) => x < 100_000).length / prices.length;
    assert.ok(Math.abs(below - 0.5) < 0.02, `share below $1000: ${below}`);
  });

  it('keeps auctions open as long as numInFlightAuctions more take to appear, on average', () => {
    const config = nexmarkConfig({ seed: 17, count: 50_000, eventsPerSecond: 1000 });
    const { auctions } = splitEvents(generateEvents(config));
    const avg = auctions.reduce((s, a) => s + (a.expires - a.dateTime), 0) / auctions.length;
    // 100 auctions = 100 × 50 / 3 events ≈ 1666 ms at 1000 events/s.
    assert.ok(Math.abs(avg - 1666) < 60, `average length ${avg}`);
  });

  it('is a pure function of the event number and the random stream', () => {
    const config = nexmarkConfig({ seed: 21 });
    const r1 = nexmarkRandom(21);
    const r2 = nexmarkRandom(21);
    for (let n = 0; n < 200; n++)
      assert.deepEqual(generateEvent(n, config, r1), generateEvent(n, config, r2));
  });

  it('rejects bad settings, naming them', () => {
    assert.throws(() => nexmarkConfig({ eventsPerSecond: 0 }), /eventsPerSecond/);
    assert.throws(() => nexmarkConfig({ hotAuctionRatio: 1.5 }), /hotAuctionRatio/);
    assert.throws(() => nexmarkConfig({ count: -1 }), /count/);
    assert.ok(Object.isFrozen(NEXMARK_DEFAULTS));
  });

  it('pins the first bids of seed 1 (a change here changes every golden result)', () => {
    const { bids } = splitEvents(generateEvents({ seed: 1, count: 60 }));
    assert.deepEqual(
      bids.slice(0, 3).map(({ extra, ...b }) => ({ ...b, extraLength: extra.length })),
      [
        {
          auction: 1012,
          bidder: 1001,
          price: 146,
          channel: 'channel-4815',
          url: 'https://www.nexmark.com/nft/qeg_/ngpx/item.htm?query=1&channel_id=213385216',
          dateTime: 0,
          extraLength: 63,
        },
        {
          auction: 1006,
          bidder: 1001,
          price: 11612211,
          channel: 'channel-9860',
          url: 'https://www.nexmark.com/qqb/emrz/lpw/item.htm?query=1&channel_id=560201728',
          dateTime: 0,
          extraLength: 79,
        },
        {
          auction: 1005,
          bidder: 1001,
          price: 59422,
          channel: 'channel-1451',
          url: 'https://www.nexmark.com/johj/sco/dxo/item.htm?query=1&channel_id=710934528',
          dateTime: 0,
          extraLength: 78,
        },
      ],
    );
  });

  it('draws channels as nexmark/nexmark: half hot (Google, Facebook, Baidu, Apple), half channel-N', () => {
    const { bids } = splitEvents(generateEvents({ seed: 23, count: 100_000 }));
    const counts = new Map<string, number>();
    for (const b of bids) counts.set(b.channel, (counts.get(b.channel) ?? 0) + 1);
    for (const hot of HOT_CHANNELS) {
      const share = (counts.get(hot) ?? 0) / bids.length;
      assert.ok(Math.abs(share - 1 / 8) < 0.01, `${hot}: ${share}`);
    }
    const others = [...counts].filter(([c]) => !HOT_CHANNELS.includes(c));
    const otherBids = others.reduce((s, [, n]) => s + n, 0);
    assert.ok(Math.abs(otherBids / bids.length - 0.5) < 0.01);
    for (const [c] of others) {
      const m = /^channel-(\d+)$/.exec(c);
      assert.ok(m !== null && Number(m[1]) < CHANNELS_NUMBER, c);
    }
    // ~46,000 draws over 10,000 channels: nearly every one is seen, none much more than average.
    assert.ok(others.length > 9800, `${others.length} channels`);
    assert.ok(Math.max(...others.map(([, n]) => n)) < 20);
  });

  const URL_SHAPE =
    /^https:\/\/www\.nexmark\.com\/[a-z_]{3,4}\/[a-z_]{3,4}\/[a-z_]{3,4}\/item\.htm\?query=1(?:&channel_id=(-?\d+))?$/;

  it('gives each channel one URL: three directories, and channel_id for 9 in 10 channel-N', () => {
    const { bids } = splitEvents(generateEvents({ seed: 29, count: 100_000 }));
    const urlOf = new Map<string, string>();
    let withId = 0;
    for (const b of bids) {
      const seen = urlOf.get(b.channel);
      if (seen !== undefined) {
        assert.equal(b.url, seen, `channel ${b.channel} changed URL`);
        continue;
      }
      urlOf.set(b.channel, b.url);
      const m = URL_SHAPE.exec(b.url);
      assert.ok(m !== null, b.url);
      if (HOT_CHANNELS.includes(b.channel)) {
        assert.equal(m[1], undefined, `hot channel ${b.channel} has no channel_id`);
      } else if (m[1] !== undefined) {
        withId++;
        assert.equal(Number(m[1]), reversedChannelId(Number(b.channel.slice('channel-'.length))));
      }
    }
    const share = withId / (urlOf.size - HOT_CHANNELS.length);
    assert.ok(Math.abs(share - 0.9) < 0.02, `channel_id share ${share}`);
    // The same seed gives the same URLs; another seed others.
    const again = splitEvents(generateEvents({ seed: 29, count: 2000 })).bids;
    for (const b of again) assert.equal(b.url, urlOf.get(b.channel));
    const other = splitEvents(generateEvents({ seed: 30, count: 2000 })).bids;
    assert.ok(other.some((b) => urlOf.has(b.channel) && urlOf.get(b.channel) !== b.url));
  });

  it('numbers channels as Java does: Math.abs(Integer.reverse(n))', () => {
    const java = (n: number) => {
      const r = Number.parseInt(n.toString(2).padStart(32, '0').split('').reverse().join(''), 2) | 0;
      return r === -(2 ** 31) ? r : Math.abs(r);
    };
    fc.assert(
      fc.property(fc.integer({ min: 0, max: CHANNELS_NUMBER - 1 }), (n) => {
        assert.equal(reversedChannelId(n), java(n));
      }),
    );
    assert.deepEqual([0, 1, 2, 5].map(reversedChannelId), [0, -(2 ** 31), 2 ** 30, 1610612736]);
  });
});
