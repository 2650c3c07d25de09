package dev.eddy.peers.kstreams;

import dev.eddy.peers.common.Bid;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import org.apache.kafka.common.serialization.Serde;
import org.apache.kafka.common.utils.Bytes;
import org.apache.kafka.streams.KeyValue;
import org.apache.kafka.streams.state.KeyValueIterator;
import org.apache.kafka.streams.state.KeyValueStore;

/**
 * Bids that came before their auction, one store entry per bid under the big-endian key
 * (auction, dateTime, bidder, price) — every field positive, so the bytes order as the numbers —
 * and read back by a range over one auction.
 *
 * <p>Not one list value per auction: at parallelism 2 bids overtake their auction by seconds
 * (the upstream tasks run apart), a hot auction's list grew to hundreds of bids, and each new one
 * re-serialised the whole list on put and again on the next get — a quarter of q4's CPU in a
 * profile at parallelism 2 (BENCHMARKS). Two identical bids share one entry, which changes no
 * result (neither the best price nor a running maximum). Among early bids of equal price and
 * time the lower bidder comes first: their arrival order across upstream tasks was never
 * deterministic.
 */
final class EarlyBids {
  private final KeyValueStore<Bytes, byte[]> store;
  private final Serde<Bid> serde = Flow.serde(Bid.class);

  EarlyBids(KeyValueStore<Bytes, byte[]> store) {
    this.store = store;
  }

  void add(Bid b) {
    store.put(key(b.auction, b.dateTime, b.bidder, b.price), serde.serializer().serialize(null, b));
  }

  /** Removes and returns the early bids of {@code auction}, in (dateTime, bidder, price) order. */
  List<Bid> take(long auction) {
    return remove(auction, Long.MAX_VALUE, true);
  }

  /** Removes the early bids of {@code auction} with {@code dateTime <= upTo}. */
  void dropUpTo(long auction, long upTo) {
    remove(auction, upTo, false);
  }

  private List<Bid> remove(long auction, long upTo, boolean read) {
    List<Bytes> keys = new ArrayList<>();
    List<Bid> bids = new ArrayList<>();
    try (KeyValueIterator<Bytes, byte[]> it =
        store.range(key(auction, 0, 0, 0), key(auction, upTo, Long.MAX_VALUE, Long.MAX_VALUE))) {
      while (it.hasNext()) {
        KeyValue<Bytes, byte[]> kv = it.next();
        keys.add(kv.key);
        if (read) bids.add(serde.deserializer().deserialize(null, kv.value));
      }
    }
    for (Bytes k : keys) store.delete(k);
    return bids;
  }

  static Bytes key(long auction, long dateTime, long bidder, long price) {
    return Bytes.wrap(ByteBuffer.allocate(32).putLong(auction).putLong(dateTime).putLong(bidder).putLong(price).array());
  }
}
