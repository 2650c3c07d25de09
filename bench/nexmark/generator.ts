/**
 * A deterministic Nexmark event generator.
 *
 * The model follows the reference generators — Apache Beam's Nexmark
 * (`GeneratorConfig`, `PersonGenerator`, `AuctionGenerator`, `BidGenerator`,
 * `PriceGenerator`, `StringsGenerator`), which nexmark/nexmark (the Flink
 * harness) reuses: out of every 50 events 1 is a person, 3 are auctions and 46
 * are bids; ids are derived from the event number; bids and auctions pick
 * "hot" auctions, bidders and sellers with the same ratios; prices, auction
 * lengths, names, cities, states, emails, credit cards and the padding `extra`
 * follow the same distributions and average sizes.
 *
 * What differs: the random stream. Java's `java.util.Random` is not
 * reproduced bit for bit; the draws come from eddy's seeded sfc32 (`Random`),
 * so the same seed gives the same events here every run, but not the same
 * events as Beam or Flink. Bids carry nexmark/nexmark's `channel` and `url`
 * (see `Bid`), whose URLs the reference draws from an unseeded random per
 * process; here they derive from the seed. Event times are in epoch ms
 * starting at `startTime` (default 0) rather than the wall clock, so runs are
 * reproducible.
 *
 * @example
 * ```ts
 * const p = new Pipeline({ name: 'nexmark' });
 * const events = p.source('events', nexmarkGenerator({ count: 1_000_000 }), nexmarkSourceOptions);
 * q5(p, events).sink(consoleSink());
 * ```
 */
import type { Source, SourceOptions } from '../../src/index.ts';
import { generatorSource } from '../../src/index.ts';
import { Random } from '../../src/util/random.ts';

export interface Person {
  readonly id: number;
  readonly name: string;
  readonly emailAddress: string;
  readonly creditCard: string;
  readonly city: string;
  readonly state: string;
  /** Epoch ms. */
  readonly dateTime: number;
  readonly extra: string;
}

export interface Auction {
  readonly id: number;
  readonly itemName: string;
  readonly description: string;
  readonly initialBid: number;
  readonly reserve: number;
  /** Epoch ms. */
  readonly dateTime: number;
  /** Epoch ms; the auction accepts bids in `[dateTime, expires]`. */
  readonly expires: number;
  readonly seller: number;
  readonly category: number;
  readonly extra: string;
}

export interface Bid {
  readonly auction: number;
  readonly bidder: number;
  /** In cents. */
  readonly price: number;
  /** Where the bid came from: one of `HOT_CHANNELS` or `channel-N` (N < `CHANNELS_NUMBER`). */
  readonly channel: string;
  /**
   * The channel's URL, `https://www.nexmark.com/<dir>/<dir>/<dir>/item.htm?query=1`,
   * for 9 in 10 `channel-N` channels followed by `&channel_id=<id>`; fixed per channel and seed.
   */
  readonly url: string;
  /** Epoch ms. */
  readonly dateTime: number;
  readonly extra: string;
}

export type Event =
  | { readonly kind: 'person'; readonly person: Person }
  | { readonly kind: 'auction'; readonly auction: Auction }
  | { readonly kind: 'bid'; readonly bid: Bid };

/** The generator's settings; `NEXMARK_DEFAULTS` holds the defaults. */
export interface NexmarkConfig {
  /** The seed of the random stream. */
  readonly seed: number;
  /** Events per second of event time (Beam's `firstEventRate`); the inter-event delay is `1e6 / eventsPerSecond` µs. */
  readonly eventsPerSecond: number;
  /** How many events (Beam's `numEvents`); `Infinity` for no end. */
  readonly count: number;
  /** Event time of event 0 (epoch ms). */
  readonly startTime: number;
  /** Events per second of wall time; 0 = as fast as the pipeline takes them. */
  readonly rate: number;
  /** A bid is on a hot auction with probability `1 - 1/hotAuctionRatio`. */
  readonly hotAuctionRatio: number;
  /** A bid is by a hot bidder with probability `1 - 1/hotBiddersRatio`. */
  readonly hotBiddersRatio: number;
  /** An auction is by a hot seller with probability `1 - 1/hotSellersRatio`. */
  readonly hotSellersRatio: number;
  /** Auctions a non-hot bid may pick from (the most recent ones). */
  readonly numInFlightAuctions: number;
  /** People a non-hot bid or auction may pick from (the most recent ones). */
  readonly numActivePeople: number;
  readonly avgPersonByteSize: number;
  readonly avgAuctionByteSize: number;
  readonly avgBidByteSize: number;
}

/** Beam's `NexmarkConfiguration` defaults, in one place. */
export const NEXMARK_DEFAULTS: NexmarkConfig = Object.freeze({
  seed: 1,
  eventsPerSecond: 10_000,
  count: 100_000,
  startTime: 0,
  rate: 0,
  hotAuctionRatio: 2,
  hotBiddersRatio: 4,
  hotSellersRatio: 4,
  numInFlightAuctions: 100,
  numActivePeople: 1000,
  avgPersonByteSize: 200,
  avgAuctionByteSize: 500,
  avgBidByteSize: 100,
});

/** Beam's `GeneratorConfig` constants. */
export const PERSON_PROPORTION = 1;
export const AUCTION_PROPORTION = 3;
export const BID_PROPORTION = 46;
export const PROPORTION_DENOMINATOR = PERSON_PROPORTION + AUCTION_PROPORTION + BID_PROPORTION;
export const FIRST_PERSON_ID = 1000;
export const FIRST_AUCTION_ID = 1000;
export const FIRST_CATEGORY_ID = 10;
/** `AuctionGenerator.NUM_CATEGORIES`. */
export const NUM_CATEGORIES = 5;
const PERSON_ID_LEAD = 10;
const AUCTION_ID_LEAD = 10;
/** The hot batch sizes (`HOT_AUCTION_RATIO` etc. in the model classes). */
const HOT_AUCTION_BATCH = 100;
const HOT_BIDDER_BATCH = 100;
const HOT_SELLER_BATCH = 100;
const MIN_STRING_LENGTH = 3;

const US_STATES = ['AZ', 'CA', 'ID', 'OR', 'WA', 'WY'];
const US_CITIES = [
  'Phoenix',
  'Los Angeles',
  'San Francisco',
  'Boise',
  'Portland',
  'Bend',
  'Redmond',
  'Seattle',
  'Kent',
  'Cheyenne',
];
const FIRST_NAMES = [
  'Peter',
  'Paul',
  'Luke',
  'John',
  'Saul',
  'Vicky',
  'Kate',
  'Julie',
  'Sarah',
  'Deiter',
  'Walter',
];
const LAST_NAMES = ['Shultz', 'Abrams', 'Spencer', 'White', 'Bartels', 'Walton', 'Smith', 'Jones', 'Noris'];

/** The draws the generator needs; both eddy's generator context and `nexmarkRandom(seed)` provide them. */
export interface NexmarkRandom {
  /** A float in [0, 1). */
  random(): number;
  /** An integer in [0, n). */
  int(n: number): number;
}

/** A seeded random stream identical to the one `nexmarkGenerator` uses for the same seed. */
export function nexmarkRandom(seed: number): NexmarkRandom {
  const rng = new Random(seed);
  return { random: () => rng.next(), int: (n) => rng.int(n) };
}

/** Fills in and checks a configuration; throws a `RangeError` naming the bad field. */
export function nexmarkConfig(overrides: Partial<NexmarkConfig> = {}): NexmarkConfig {
  const c: NexmarkConfig = { ...NEXMARK_DEFAULTS, ...overrides };
  const positive = [
    'eventsPerSecond',
    'hotAuctionRatio',
    'hotBiddersRatio',
    'hotSellersRatio',
    'numInFlightAuctions',
    'numActivePeople',
  ] as const;
  for (const k of positive) {
    if (!(c[k] > 0) || !Number.isFinite(c[k]))
      throw new RangeError(`nexmark ${k} must be a finite number > 0; received ${c[k]}`);
  }
  for (const k of [
    'hotAuctionRatio',
    'hotBiddersRatio',
    'hotSellersRatio',
    'numInFlightAuctions',
    'numActivePeople',
  ] as const) {
    if (!Number.isInteger(c[k]))
      throw new RangeError(`nexmark ${k} must be a whole number; received ${c[k]}`);
  }
  if (!(c.count >= 0)) throw new RangeError(`nexmark count must be >= 0; received ${c.count}`);
  if (!(c.rate >= 0) || !Number.isFinite(c.rate))
    throw new RangeError(`nexmark rate must be a finite number >= 0; received ${c.rate}`);
  if (!Number.isSafeInteger(c.startTime))
    throw new RangeError(`nexmark startTime must be a whole number of ms; received ${c.startTime}`);
  return Object.freeze(c);
}

/**
 * Event time (epoch ms) of event `n`: `startTime` plus `n` inter-event delays
 * of `1e6 / eventsPerSecond` µs, in whole ms (Beam's
 * `timestampAndInterEventDelayUsForEvent` at a constant rate). Computed as
 * one division so that it is exact (the source's nominal time, `start + n *
 * step`, can fall 1 ms short); `nexmarkSourceOptions` makes it the record time.
 */
export function eventTimestamp(n: number, config: NexmarkConfig): number {
  return config.startTime + Math.floor((n * 1000) / config.eventsPerSecond);
}

/** The kind of event `n` (Beam: `eventId % 50`: 0 person, 1–3 auction, else bid). */
export function eventKind(n: number): Event['kind'] {
  const rem = n % PROPORTION_DENOMINATOR;
  if (rem < PERSON_PROPORTION) return 'person';
  if (rem < PERSON_PROPORTION + AUCTION_PROPORTION) return 'auction';
  return 'bid';
}

/** The last person id (base 0) valid at event `n`; the new one if `n` is a person. */
export function lastBase0PersonId(n: number): number {
  const epoch = Math.floor(n / PROPORTION_DENOMINATOR);
  let offset = n % PROPORTION_DENOMINATOR;
  if (offset >= PERSON_PROPORTION) offset = PERSON_PROPORTION - 1;
  return epoch * PERSON_PROPORTION + offset;
}

/** The last auction id (base 0) valid at event `n`; the new one if `n` is an auction. */
export function lastBase0AuctionId(n: number): number {
  let epoch = Math.floor(n / PROPORTION_DENOMINATOR);
  let offset = n % PROPORTION_DENOMINATOR;
  if (offset < PERSON_PROPORTION) {
    epoch--;
    offset = AUCTION_PROPORTION - 1;
  } else if (offset >= PERSON_PROPORTION + AUCTION_PROPORTION) {
    offset = AUCTION_PROPORTION - 1;
  } else {
    offset -= PERSON_PROPORTION;
  }
  return epoch * AUCTION_PROPORTION + offset;
}

function nextBase0PersonId(n: number, random: NexmarkRandom, config: NexmarkConfig): number {
  // Up to PERSON_ID_LEAD ids ahead of the last person, as in Beam: such events
  // look as if they were swapped in time with the person's creation.
  const numPeople = lastBase0PersonId(n) + 1;
  const active = Math.min(numPeople, config.numActivePeople);
  return numPeople - active + random.int(active + PERSON_ID_LEAD);
}

function nextBase0AuctionId(n: number, random: NexmarkRandom, config: NexmarkConfig): number {
  const maxAuction = lastBase0AuctionId(n);
  const minAuction = Math.max(maxAuction - config.numInFlightAuctions, 0);
  return minAuction + random.int(maxAuction - minAuction + 1 + AUCTION_ID_LEAD);
}

/** Beam's `PriceGenerator.nextPrice`: log-uniform over [100, 1e8] cents. */
export function nextPrice(random: NexmarkRandom): number {
  return Math.round(10 ** (random.random() * 6) * 100);
}

function nextString(random: NexmarkRandom, maxLength: number): string {
  let len = MIN_STRING_LENGTH + random.int(maxLength - MIN_STRING_LENGTH);
  let s = '';
  while (len-- > 0) s += random.int(13) === 0 ? ' ' : String.fromCharCode(97 + random.int(26));
  return s.trim();
}

/** nexmark/nexmark's `BidGenerator.HOT_CHANNELS`: half the bids come from one of these. */
export const HOT_CHANNELS: readonly string[] = Object.freeze(['Google', 'Facebook', 'Baidu', 'Apple']);
/** A bid is from a hot channel with probability `1 - 1/HOT_CHANNELS_RATIO`. */
const HOT_CHANNELS_RATIO = 2;
/** How many `channel-N` channels the other bids pick from, uniformly. */
export const CHANNELS_NUMBER = 10_000;

/** Java's `Math.abs(Integer.reverse(n))`, quirk included: `n = 1` reverses to -2^31, which stays negative. */
export function reversedChannelId(n: number): number {
  let r = 0;
  for (let b = 0; b < 32; b++) r = (r << 1) | ((n >>> b) & 1);
  return r === -2147483648 ? r : Math.abs(r);
}

/** murmur3's 32-bit finalizer: spreads nearby seeds apart before they seed a random stream. */
function mix32(x: number): number {
  let h = x | 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return h ^ (h >>> 16);
}

/**
 * `StringsGenerator.nextString(random, 5, '_')`: 3 or 4 characters, each `_`
 * with probability 1/13. Its own copy over `Random` rather than `nextString`,
 * so the per-event call sites only ever see the event stream's random (keeping
 * them monomorphic measurably matters: the padding loop dominates generation).
 */
function urlDirectory(random: Random): string {
  let len = MIN_STRING_LENGTH + random.int(5 - MIN_STRING_LENGTH);
  let s = '';
  while (len-- > 0) s += random.int(13) === 0 ? '_' : String.fromCharCode(97 + random.int(26));
  return s;
}

function baseUrl(random: Random): string {
  const a = urlDirectory(random);
  const b = urlDirectory(random);
  const c = urlDirectory(random);
  return `https://www.nexmark.com/${a}/${b}/${c}/item.htm?query=1`;
}

/**
 * The channels of one seed, by index: `channel-N` at N < `CHANNELS_NUMBER`,
 * then the hot ones. Names are made up front; URLs on first use and cached,
 * as the reference caches them. Each URL comes from its own random stream
 * (seeded from the seed and the index), so it does not depend on which
 * channels were drawn first, and the event stream's draws are not touched.
 */
class ChannelTable {
  readonly #seed: number;
  readonly names: readonly string[];
  // Filled up front (not sparse) so lookups stay on the fast path; '' = not made yet.
  readonly #urls: string[] = new Array<string>(CHANNELS_NUMBER + HOT_CHANNELS.length).fill('');

  constructor(seed: number) {
    this.#seed = seed;
    const names: string[] = [];
    for (let n = 0; n < CHANNELS_NUMBER; n++) names.push(`channel-${n}`);
    this.names = names.concat(HOT_CHANNELS);
  }

  url(i: number): string {
    const url = this.#urls[i]!;
    return url !== '' ? url : this.#makeUrl(i);
  }

  #makeUrl(i: number): string {
    const random = new Random(mix32(this.#seed ^ mix32(i + 1)));
    let url = baseUrl(random);
    // As the reference: hot channels have none; 9 other channels in 10 name themselves in the URL.
    if (i < CHANNELS_NUMBER && random.int(10) > 0) url += `&channel_id=${reversedChannelId(i)}`;
    this.#urls[i] = url;
    return url;
  }
}

const channelTables = new Map<number, ChannelTable>();
let lastChannelTable: ChannelTable | undefined;
let lastChannelSeed = Number.NaN;

function channelTable(seed: number): ChannelTable {
  if (seed === lastChannelSeed) return lastChannelTable!;
  let table = channelTables.get(seed);
  if (table === undefined) {
    // A handful of seeds at a time is the use; keep the cache from growing with them.
    if (channelTables.size >= 16) channelTables.clear();
    table = new ChannelTable(seed);
    channelTables.set(seed, table);
  }
  lastChannelSeed = seed;
  lastChannelTable = table;
  return table;
}

const CHARS_PER_DRAW = 6;
const DRAW_RANGE = 26 ** CHARS_PER_DRAW;

function nextExactString(random: NexmarkRandom, length: number): string {
  // Like Beam, six letters per draw: the padding dominates generation cost.
  const codes = new Array<number>(length);
  let r = 0;
  let left = 0;
  for (let i = 0; i < length; i++) {
    if (left === 0) {
      r = random.int(DRAW_RANGE);
      left = CHARS_PER_DRAW;
    }
    codes[i] = 97 + (r % 26);
    r = Math.floor(r / 26);
    left--;
  }
  let s = '';
  for (let i = 0; i < length; i += 4096) s += String.fromCharCode(...codes.slice(i, i + 4096));
  return s;
}

/** Padding so that `currentSize + extra.length` averages `desiredAverageSize` (uniform within ±20 %). */
function nextExtra(random: NexmarkRandom, currentSize: number, desiredAverageSize: number): string {
  if (currentSize > desiredAverageSize) return '';
  const want = desiredAverageSize - currentSize;
  const delta = Math.round(want * 0.2);
  const size = want - delta + (delta === 0 ? 0 : random.int(2 * delta));
  return nextExactString(random, size);
}

function nextPerson(n: number, random: NexmarkRandom, time: number, config: NexmarkConfig): Person {
  const id = lastBase0PersonId(n) + FIRST_PERSON_ID;
  const name = `${FIRST_NAMES[random.int(FIRST_NAMES.length)]} ${LAST_NAMES[random.int(LAST_NAMES.length)]}`;
  const emailAddress = `${nextString(random, 7)}@${nextString(random, 5)}.com`;
  const card: string[] = [];
  for (let i = 0; i < 4; i++) card.push(String(random.int(10_000)).padStart(4, '0'));
  const creditCard = card.join(' ');
  const city = US_CITIES[random.int(US_CITIES.length)]!;
  const state = US_STATES[random.int(US_STATES.length)]!;
  const size = 8 + name.length + emailAddress.length + creditCard.length + city.length + state.length;
  const extra = nextExtra(random, size, config.avgPersonByteSize);
  return { id, name, emailAddress, creditCard, city, state, dateTime: time, extra };
}

function nextAuction(n: number, random: NexmarkRandom, time: number, config: NexmarkConfig): Auction {
  const id = lastBase0AuctionId(n) + FIRST_AUCTION_ID;
  let seller: number;
  // P(hot seller) = 1 - 1/hotSellersRatio: the first person of the latest batch of 100.
  if (random.int(config.hotSellersRatio) > 0) {
    seller = Math.floor(lastBase0PersonId(n) / HOT_SELLER_BATCH) * HOT_SELLER_BATCH;
  } else seller = nextBase0PersonId(n, random, config);
  seller += FIRST_PERSON_ID;
  const category = FIRST_CATEGORY_ID + random.int(NUM_CATEGORIES);
  const initialBid = nextPrice(random);
  // Beam: auctions last on average as long as it takes to generate numInFlightAuctions more.
  const eventsForAuctions = Math.floor(
    (config.numInFlightAuctions * PROPORTION_DENOMINATOR) / AUCTION_PROPORTION,
  );
  const horizon = eventTimestamp(n + eventsForAuctions, config) - time;
  const expires = time + 1 + random.int(Math.max(horizon * 2, 1));
  const itemName = nextString(random, 20);
  const description = nextString(random, 100);
  const reserve = initialBid + nextPrice(random);
  const size = 8 + itemName.length + description.length + 8 + 8 + 8 + 8 + 8;
  const extra = nextExtra(random, size, config.avgAuctionByteSize);
  return { id, itemName, description, initialBid, reserve, dateTime: time, expires, seller, category, extra };
}

function nextBid(n: number, random: NexmarkRandom, time: number, config: NexmarkConfig): Bid {
  let auction: number;
  // P(hot auction) = 1 - 1/hotAuctionRatio: the first auction of the latest batch of 100.
  if (random.int(config.hotAuctionRatio) > 0) {
    auction = Math.floor(lastBase0AuctionId(n) / HOT_AUCTION_BATCH) * HOT_AUCTION_BATCH;
  } else auction = nextBase0AuctionId(n, random, config);
  auction += FIRST_AUCTION_ID;
  let bidder: number;
  // The second person of the batch, so hot bidders and hot sellers differ.
  if (random.int(config.hotBiddersRatio) > 0) {
    bidder = Math.floor(lastBase0PersonId(n) / HOT_BIDDER_BATCH) * HOT_BIDDER_BATCH + 1;
  } else bidder = nextBase0PersonId(n, random, config);
  bidder += FIRST_PERSON_ID;
  const price = nextPrice(random);
  // nexmark/nexmark's channel: with probability 1 - 1/2 a hot one (uniform),
  // else `channel-N`, N uniform; one draw for both choices.
  let c = random.int(HOT_CHANNELS_RATIO * CHANNELS_NUMBER);
  if (c >= CHANNELS_NUMBER) c = CHANNELS_NUMBER + (c % HOT_CHANNELS.length);
  const channels = channelTable(config.seed);
  const channel = channels.names[c]!;
  const url = channels.url(c);
  // The reference sizes bids without channel and url, so the padding is unchanged.
  const extra = nextExtra(random, 8 + 8 + 8 + 8, config.avgBidByteSize);
  return { auction, bidder, price, channel, url, dateTime: time, extra };
}

/**
 * Event number `eventNumber` (0-based; also its Beam event id). Pure apart
 * from the draws it takes from `random`: calling it for 0, 1, 2, … with one
 * random stream gives the sequence `nexmarkGenerator` emits for that seed.
 *
 * @example
 * ```ts
 * const config = nexmarkConfig({ seed: 7 });
 * const random = nexmarkRandom(config.seed);
 * const first = [0, 1, 2].map((n) => generateEvent(n, config, random));
 * ```
 */
export function generateEvent(eventNumber: number, config: NexmarkConfig, random: NexmarkRandom): Event {
  const time = eventTimestamp(eventNumber, config);
  switch (eventKind(eventNumber)) {
    case 'person':
      return { kind: 'person', person: nextPerson(eventNumber, random, time, config) };
    case 'auction':
      return { kind: 'auction', auction: nextAuction(eventNumber, random, time, config) };
    default:
      return { kind: 'bid', bid: nextBid(eventNumber, random, time, config) };
  }
}

/** The first `config.count` events as an array (the same as the source emits): for oracles and tests. */
export function generateEvents(overrides: Partial<NexmarkConfig> = {}): Event[] {
  const config = nexmarkConfig(overrides);
  if (!Number.isFinite(config.count)) throw new RangeError('generateEvents needs a finite count');
  const random = nexmarkRandom(config.seed);
  const events: Event[] = [];
  for (let n = 0; n < config.count; n++) events.push(generateEvent(n, config, random));
  return events;
}

/** An event's time (epoch ms). */
export function eventTime(e: Event): number {
  switch (e.kind) {
    case 'person':
      return e.person.dateTime;
    case 'auction':
      return e.auction.dateTime;
    default:
      return e.bid.dateTime;
  }
}

/** Source options for `pipeline.source`: events are in time order, so no disorder bound is needed. */
export const nexmarkSourceOptions: SourceOptions<Event> = Object.freeze({ timestamp: eventTime });

/**
 * The Nexmark event stream as an eddy source, seeded and in event-time order.
 * Read it with `nexmarkSourceOptions`, so each record's time is its exact
 * `dateTime` (the generator source's own nominal time can be 1 ms earlier).
 *
 * @example
 * ```ts
 * const events = p.source('events', nexmarkGenerator({ count: 5000, seed: 3 }), nexmarkSourceOptions);
 * ```
 */
export function nexmarkGenerator(overrides: Partial<NexmarkConfig> = {}): Source<Event> {
  const config = nexmarkConfig(overrides);
  return generatorSource<Event>({
    count: config.count,
    seed: config.seed,
    startTime: config.startTime,
    eventsPerSecond: config.eventsPerSecond,
    ...(config.rate > 0 ? { rate: config.rate } : {}),
    make: (i, g) => generateEvent(i, config, g),
  });
}

/** Splits events by kind, in order: what oracles over a generated array start from. */
export function splitEvents(events: readonly Event[]): {
  persons: Person[];
  auctions: Auction[];
  bids: Bid[];
} {
  const persons: Person[] = [];
  const auctions: Auction[] = [];
  const bids: Bid[] = [];
  for (const e of events) {
    if (e.kind === 'person') persons.push(e.person);
    else if (e.kind === 'auction') auctions.push(e.auction);
    else bids.push(e.bid);
  }
  return { persons, auctions, bids };
}
