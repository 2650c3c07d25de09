/**
 * What the Nexmark query tests share: the input configurations, running a
 * query over generated (or re-ordered) events, and oracles used by more than
 * one query. Oracles are plain loops over `generateEvents` output.
 */
import { it } from 'node:test';
import {
  type Auction,
  type Bid,
  type Event,
  eventTime,
  type NexmarkConfig,
  nexmarkGenerator,
  nexmarkRandom,
  nexmarkSourceOptions,
} from '../../bench/nexmark/generator.ts';
import { arraySource, collectSink, Pipeline, type Stream } from '../../src/index.ts';

export type Query<R> = (p: Pipeline, events: Stream<Event>) => Stream<R>;

/**
 * The inputs: 5,000 events each. At 50 events/s they span 100 s of event
 * time, so the 10 s windows and sessions see many windows; the dense one
 * draws from few people and auctions, so joins and sessions find matches; at
 * 1M events/s many events share a millisecond, so bids can precede their
 * auction within it (q4, q6, q9, q20); without hot auctions, counts tie (q5).
 */
export const CONFIGS: readonly Partial<NexmarkConfig>[] = [
  { seed: 1, count: 5000, eventsPerSecond: 50 },
  { seed: 2, count: 5000, eventsPerSecond: 10_000 },
  { seed: 3, count: 5000, eventsPerSecond: 20, numActivePeople: 8, numInFlightAuctions: 6 },
  { seed: 4, count: 5000, eventsPerSecond: 1_000_000 },
  { seed: 5, count: 5000, eventsPerSecond: 100, hotAuctionRatio: 1, numInFlightAuctions: 30 },
];

/**
 * Inputs for the queries over hours and days (q14–q17): the default rate (all
 * within one day and hour), ~14 hours from midnight, ~3 days from a morning,
 * and ~6 days with few auctions, so auctions get bids on several days.
 */
export const DAILY_CONFIGS: readonly Partial<NexmarkConfig>[] = [
  { seed: 2, count: 5000 },
  { seed: 6, count: 5000, eventsPerSecond: 0.1 },
  { seed: 7, count: 5000, eventsPerSecond: 0.02, startTime: Date.UTC(2024, 0, 1, 5, 30) },
  {
    seed: 8,
    count: 5000,
    eventsPerSecond: 0.01,
    startTime: Date.UTC(2023, 11, 30, 22),
    numInFlightAuctions: 4,
  },
];

export function forEachConfig(
  name: string,
  check: (config: Partial<NexmarkConfig>) => Promise<void>,
  configs: readonly Partial<NexmarkConfig>[] = CONFIGS,
): void {
  for (const config of configs) it(`${name} (seed ${config.seed})`, () => check(config));
}

/** Runs `query` over the generator's events for `config`; its output in arrival order. */
export async function run<R>(config: Partial<NexmarkConfig>, query: Query<R>): Promise<R[]> {
  const p = new Pipeline({ name: 'nexmark-test', errorPolicy: 'fail' });
  const out = collectSink<R>();
  query(p, p.source('events', nexmarkGenerator(config), nexmarkSourceOptions)).sink(out);
  await p.run();
  return out.values;
}

/** Runs `query` over `events` in the given order, allowing `maxOutOfOrderness` ms of disorder. */
export async function runArray<R>(
  events: readonly Event[],
  query: Query<R>,
  maxOutOfOrderness: number,
): Promise<R[]> {
  const p = new Pipeline({ name: 'nexmark-test', errorPolicy: 'fail' });
  const out = collectSink<R>();
  query(p, p.source('events', arraySource(events), { timestamp: eventTime, maxOutOfOrderness })).sink(out);
  await p.run();
  return out.values;
}

/**
 * The events in arrival order when each is delayed by up to `maxDelay` ms
 * (seeded): bids before their auctions, older bids after newer ones.
 */
export function disorder(events: readonly Event[], maxDelay: number, seed: number): Event[] {
  const random = nexmarkRandom(seed);
  return events
    .map((e, i) => ({ e, i, at: eventTime(e) + random.int(maxDelay + 1) }))
    .sort((a, b) => a.at - b.at || a.i - b.i)
    .map((x) => x.e);
}

/** Disordered inputs: events delayed up to 2 s at 1,000 and 20,000 events/s. */
export const DISORDERED: readonly { config: Partial<NexmarkConfig>; maxDelay: number }[] = [
  { config: { seed: 11, count: 5000, eventsPerSecond: 1000 }, maxDelay: 2000 },
  { config: { seed: 12, count: 5000, eventsPerSecond: 20_000, numInFlightAuctions: 20 }, maxDelay: 2000 },
];

/** A value with its object keys sorted, so that equal rows print the same whatever their key order. */
function canonical(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(canonical);
  if (v === null || typeof v !== 'object') return v;
  const o = v as Record<string, unknown>;
  return Object.fromEntries(
    Object.keys(o)
      .sort()
      .map((k) => [k, canonical(o[k])]),
  );
}

/** Rows as a sorted multiset, to compare results whose order is not defined. */
export function bag(rows: readonly unknown[]): string[] {
  return rows.map((r) => JSON.stringify(canonical(r))).sort();
}

export function windowStart(t: number, size: number): number {
  return t - (t % size);
}

/** Groups `xs` by `key`, keeping order within each group. */
export function groupBy<T, K>(xs: readonly T[], key: (x: T) => K): Map<K, T[]> {
  const groups = new Map<K, T[]>();
  for (const x of xs) {
    const k = key(x);
    let list = groups.get(k);
    if (list === undefined) groups.set(k, (list = []));
    list.push(x);
  }
  return groups;
}

/**
 * Each auction's winning bid, from events in arrival order: among bids with
 * `auction.dateTime ≤ bid.dateTime ≤ auction.expires`, the highest price, then
 * the earliest time, then the first to arrive. Auctions without one are absent.
 */
export function oracleWinners(events: readonly Event[]): { auction: Auction; bid: Bid }[] {
  const byAuction = new Map<number, Bid[]>();
  const auctions: Auction[] = [];
  for (const e of events) {
    if (e.kind === 'auction') auctions.push(e.auction);
    else if (e.kind === 'bid') {
      let list = byAuction.get(e.bid.auction);
      if (list === undefined) byAuction.set(e.bid.auction, (list = []));
      list.push(e.bid);
    }
  }
  const winners: { auction: Auction; bid: Bid }[] = [];
  for (const a of auctions) {
    const candidates = (byAuction.get(a.id) ?? []).filter(
      (b) => b.dateTime >= a.dateTime && b.dateTime <= a.expires,
    );
    if (candidates.length === 0) continue;
    // A stable sort keeps arrival order among equal price and time.
    candidates.sort((x, y) => y.price - x.price || x.dateTime - y.dateTime);
    winners.push({ auction: a, bid: candidates[0]! });
  }
  return winners;
}
