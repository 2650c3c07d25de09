/**
 * The queries whose reference result is an updating table, q18 and q19, emit
 * upsert streams: each row replaces the earlier row with the same key. Each
 * is checked three ways: the exact stream its definition implies, that the
 * stream is well formed (replayed row by row), and that the table it leaves —
 * the last row per key — is the reference's final table, computed directly.
 * The winning-bid core of q4, q6 and q9 is checked on hand-made ties here too.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  type Auction,
  type Bid,
  type Event,
  generateEvents,
  splitEvents,
} from '../../bench/nexmark/generator.ts';
import { type Q19Row, q9, q18, q19 } from '../../bench/nexmark/queries.ts';
import { CONFIGS, DISORDERED, disorder, forEachConfig, groupBy, run, runArray } from './support.ts';

/** Arrival-ordered inputs: the generator's (in order) and disordered ones. */
function inputs(): { name: string; events: () => Event[]; maxDelay: number }[] {
  return [
    ...CONFIGS.map((config) => ({
      name: `seed ${config.seed}`,
      events: () => generateEvents(config),
      maxDelay: 0,
    })),
    ...DISORDERED.map(({ config, maxDelay }) => ({
      name: `seed ${config.seed}, disordered by up to ${maxDelay} ms`,
      events: () => disorder(generateEvents(config), maxDelay, config.seed ?? 0),
      maxDelay,
    })),
  ];
}

const q18Key = (b: Bid) => `${b.bidder}/${b.auction}`;

/** Ranks above: higher price, then earlier time (arrival order decides the rest, by stable sorting). */
const byRank = (x: Bid, y: Bid) => y.price - x.price || x.dateTime - y.dateTime;

describe('nexmark upsert queries', () => {
  for (const input of inputs()) {
    it(`q18 keeps the latest bid per bidder and auction (${input.name})`, async () => {
      const events = input.events();
      const { bids } = splitEvents(events);
      const rows = await runArray(events, q18, input.maxDelay);

      // The stream: a bid is emitted iff it is at least as recent as every earlier-arrived bid of its key.
      const latest = new Map<string, number>();
      const expected = bids.filter((b) => {
        const t = latest.get(q18Key(b));
        if (t !== undefined && b.dateTime < t) return false;
        latest.set(q18Key(b), b.dateTime);
        return true;
      });
      sameStreamsPerKey(rows, expected, q18Key);
      if (input.maxDelay === 0) assert.equal(rows.length, bids.length);
      else assert.ok(rows.length < bids.length, 'disorder makes some bids stale');

      // Well formed: per key, each row is at least as recent as the row it replaces.
      const table = new Map<string, Bid>();
      for (const r of rows) {
        const before = table.get(q18Key(r));
        assert.ok(before === undefined || r.dateTime >= before.dateTime, `${q18Key(r)} went back in time`);
        table.set(q18Key(r), r);
      }

      // The final table: per key the most recent bid, the last to arrive among equally recent ones.
      const reference = new Map<string, Bid>();
      for (const [key, list] of groupBy(bids, q18Key)) {
        const newest = Math.max(...list.map((b) => b.dateTime));
        reference.set(key, list.filter((b) => b.dateTime === newest).at(-1)!);
      }
      assert.deepEqual(table, reference);
    });
  }

  for (const input of inputs()) {
    it(`q19 keeps the top 10 bids per auction (${input.name})`, async () => {
      const events = input.events();
      const { bids } = splitEvents(events);
      const rows = await runArray(events, q19, input.maxDelay);

      // The stream: when a bid enters at rank r, ranks r..min(10, size) with their new occupants.
      const all = new Map<number, Bid[]>();
      const expected: Q19Row[] = [];
      for (const b of bids) {
        const list = all.get(b.auction) ?? [];
        all.set(b.auction, list);
        let r = list.findIndex((x) => byRank(b, x) < 0);
        if (r < 0) r = list.length;
        list.splice(r, 0, b);
        for (let i = r; i < Math.min(10, list.length); i++) expected.push({ ...list[i]!, rankNumber: i + 1 });
      }
      sameStreamsPerKey(rows, expected, (r) => r.auction);

      // Well formed: ranks fill from 1 without gaps, and the table stays in rank order after every row.
      const tables = new Map<number, Bid[]>();
      for (const { rankNumber, ...bid } of rows) {
        const table = tables.get(bid.auction) ?? [];
        tables.set(bid.auction, table);
        assert.ok(rankNumber >= 1 && rankNumber <= Math.min(10, table.length + 1), `rank ${rankNumber}`);
        table[rankNumber - 1] = bid;
        for (let i = 1; i < table.length; i++) assert.ok(byRank(table[i - 1]!, table[i]!) <= 0);
      }

      // The final table: each auction's bids sorted by rank (stable: arrival breaks ties), the first 10.
      const reference = new Map(
        [...groupBy(bids, (b) => b.auction)].map(([auction, list]) => [
          auction,
          [...list].sort(byRank).slice(0, 10),
        ]),
      );
      assert.deepEqual(tables, reference);
      assert.ok([...reference.values()].some((top) => top.length === 10));
    });
  }

  it('q19 ranks equal prices by time, then by arrival, and shifts the rows below', async () => {
    const b = (bidder: number, price: number, dateTime: number) => bidEvent(1, bidder, price, dateTime);
    const rows = await runArray(
      [b(1, 500, 5), b(2, 500, 3), b(3, 500, 3), b(4, 100, 6), b(5, 900, 7)],
      q19,
      10,
    );
    assert.deepEqual(
      rows.map((r) => `${r.bidder}@${r.rankNumber}`),
      ['1@1', '2@1', '1@2', '3@2', '1@3', '4@4', '5@1', '2@2', '3@3', '1@4', '4@5'],
    );
  });

  forEachConfig('q18 emits every bid of an ordered stream', async (config) => {
    sameStreamsPerKey(await run(config, q18), splitEvents(generateEvents(config)).bids, q18Key);
  });

  it('winning bids: in range only, highest price, then earliest time, then first to arrive', async () => {
    const events: Event[] = [
      bidEvent(1, 1, 500, 12), // before its auction arrives
      auctionEvent(1, 10, 20),
      bidEvent(1, 2, 500, 11),
      bidEvent(1, 3, 500, 11), // ties with bidder 2 on price and time; arrived later
      bidEvent(1, 4, 900, 21), // after expires
      bidEvent(1, 5, 900, 9), // before the auction opened
      bidEvent(1, 6, 400, 15),
      auctionEvent(2, 10, 30),
      bidEvent(2, 7, 100, 31), // too late: auction 2 has no winner
      bidEvent(3, 8, 100, 12), // auction 3 never comes
      bidEvent(1, 9, 500, 20), // at expires: in range, but later than bidder 2
    ];
    const rows = await runArray(events, q9, 50);
    assert.deepEqual(
      rows.map((r) => [r.id, r.bidder, r.price, r.bidDateTime]),
      [[1, 2, 500, 11]],
    );
  });
});

/**
 * The same rows in the same order within each key. Across keys the order is
 * not defined: with parallel subtasks, keys are processed apart. Compared key
 * by key, so that a failure shows one key's rows, not a diff of thousands.
 */
function sameStreamsPerKey<T, K>(actual: readonly T[], expected: readonly T[], key: (row: T) => K): void {
  assert.equal(actual.length, expected.length, 'row count');
  const want = groupBy(expected, key);
  for (const [k, rows] of groupBy(actual, key))
    assert.deepEqual(rows, want.get(k), `rows of key ${String(k)}`);
}

function bidEvent(auction: number, bidder: number, price: number, dateTime: number): Event {
  const bid: Bid = { auction, bidder, price, channel: 'Google', url: '', dateTime, extra: '' };
  return { kind: 'bid', bid };
}

function auctionEvent(id: number, dateTime: number, expires: number): Event {
  const auction: Auction = {
    id,
    itemName: 'item',
    description: '',
    initialBid: 1,
    reserve: 2,
    dateTime,
    expires,
    seller: 1000,
    category: 10,
    extra: '',
  };
  return { kind: 'auction', auction };
}
