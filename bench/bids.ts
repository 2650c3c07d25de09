/**
 * The input of `bench decode` and `bench decode-kafka`: Nexmark-like bids as
 * JSON, about 150 bytes each. Its own module: the benches run themselves as
 * child processes, so they must not import each other.
 */

/** Bid `i` as JSON. */
export function bid(i: number): string {
  return JSON.stringify({
    auction: 1000 + (i % 997),
    bidder: 2000 + ((i * 7919) % 10_007),
    price: 100 + (i % 5000) * 3,
    channel: `channel-${i % 23}`,
    url: `https://www.nexmark.com/item.htm?query=${i % 101}`,
    dateTime: 1_700_000_000_000 + i,
    extra: '',
  });
}
