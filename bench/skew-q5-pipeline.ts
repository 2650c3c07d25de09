/**
 * Nexmark q5 (hot items: the auctions with the most bids per 10 s sliding
 * window) over skewed bids, for `npm run bench -- skew --job q5`: every bid's
 * auction is redrawn from a Zipf distribution over the 10,000 newest
 * auctions (rank 0 = the newest), from a hash of the event's index alone, so
 * every thread and run sees the same events (the generator's 8 splits each
 * have their own seeded stream, whatever the parallelism). Results go to a
 * checksum sink (count, sum of counts, an order-independent hash), as in
 * skew-pipeline.ts, so runs can be compared with parallelism 1.
 */
import { definePipeline, generatorSource, Pipeline } from '../src/index.ts';
import { checksumSink } from './checksum.ts';
import {
  type Event,
  FIRST_AUCTION_ID,
  generateEvent,
  lastBase0AuctionId,
  nexmarkConfig,
  nexmarkSourceOptions,
} from './nexmark/generator.ts';
import { type Q5Row, q5 } from './nexmark/queries.ts';
import { zipfCdf, zipfRank } from './skew-pipeline.ts';

export const checksum = { n: 0, sum: 0, hash: 0 };

const sink = checksumSink<Q5Row>(
  checksum,
  (v) => v.num,
  (v) => v.auction * 1_000_003 + v.start / 1000 + v.num * 7919,
);

export default definePipeline({
  name: 'bench-skew-q5',
  description: 'Nexmark q5 over bids whose auctions follow a Zipf distribution',
  options: {
    events: { type: 'number', default: 4_000_000, min: 1, description: 'how many events' },
    keys: {
      type: 'number',
      default: 10_000,
      min: 1,
      description: 'how many of the newest auctions bids go to',
    },
    zipf: { type: 'number', default: 1.5, min: 0, description: 'the Zipf exponent' },
    preAggregate: {
      type: 'string',
      default: 'true',
      description: "local-global aggregation: true, false, or 'split' (partial key grouping)",
    },
    splits: { type: 'number', default: 8, min: 1, description: 'how many shares the source reads' },
    addCost: { type: 'number', default: 0, min: 0, description: 'unused here (skew-pipeline.ts)' },
    rate: { type: 'number', default: 0, min: 0, description: 'unused here (skew-pipeline.ts)' },
  },
  build(o) {
    const config = nexmarkConfig({ count: o.events });
    const cdf = zipfCdf(o.keys, o.zipf);
    const skewed = (e: Event, i: number): Event => {
      if (e.kind !== 'bid') return e;
      const newest = lastBase0AuctionId(i);
      const auction = FIRST_AUCTION_ID + Math.max(0, newest - zipfRank(cdf, i));
      return { kind: 'bid', bid: { ...e.bid, auction } };
    };
    const preAggregate = o.preAggregate === 'split' ? 'split' : o.preAggregate === 'true';
    const p = new Pipeline({ name: 'bench-skew-q5', preAggregate });
    const events = p.source(
      'events',
      generatorSource<Event>({
        count: config.count,
        seed: config.seed,
        startTime: config.startTime,
        eventsPerSecond: config.eventsPerSecond,
        splits: o.splits,
        make: (i, g) => skewed(generateEvent(i, config, g), i),
      }),
      nexmarkSourceOptions,
    );
    q5(p, events).sink(sink);
    return p;
  },
});
