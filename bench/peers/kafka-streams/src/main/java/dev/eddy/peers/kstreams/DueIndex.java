package dev.eddy.peers.kstreams;

import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import org.apache.kafka.common.utils.Bytes;
import org.apache.kafka.streams.KeyValue;
import org.apache.kafka.streams.state.KeyValueIterator;
import org.apache.kafka.streams.state.KeyValueStore;

/**
 * Event-time timers for the Processor API, which has none: a key-value store ordered by
 * big-endian (time, id) — the stores order those bytes as the numbers, both being non-negative —
 * and a lower bound of the earliest timer kept in memory, so most records cost no read.
 *
 * <p>A read covers only the due timers and a look-ahead of {@link #LOOKAHEAD_MS} beyond them, from
 * the lower bound on. Kafka Streams' in-memory store copies the keys of an iterator's range when
 * it opens it, so the first version's {@code all()} cost a copy of every pending timer each time
 * one fell due — quadratic in the pending timers, which the grace (60 s of event time at
 * parallelism 2) multiplies; and RocksDB walks over the deleted timers below a range's start,
 * so a read starts at the bound, not at the first key.
 */
final class DueIndex {
  interface Fire {
    void fire(long time, long id);
  }

  /** How far past the due timers a read looks for the next one (event time). */
  static final long LOOKAHEAD_MS = 1000;

  private final KeyValueStore<Bytes, byte[]> store;
  /** No timer is earlier than this (times are never negative; after a restart, 0). */
  private long next = 0;

  DueIndex(KeyValueStore<Bytes, byte[]> store) {
    this.store = store;
  }

  void add(long time, long id) {
    if (time < 0) throw new IllegalArgumentException("DueIndex: negative time " + time);
    store.put(key(time, id), new byte[0]);
    if (time < next) next = time;
  }

  /** Fires, in (time, id) order, and removes every timer with {@code time <= upTo}. */
  void fireDue(long upTo, Fire fire) {
    if (upTo < next) return;
    long horizon = upTo > Long.MAX_VALUE - LOOKAHEAD_MS ? Long.MAX_VALUE : upTo + LOOKAHEAD_MS;
    List<Bytes> done = new ArrayList<>();
    List<long[]> due = new ArrayList<>();
    long found = -1;
    try (KeyValueIterator<Bytes, byte[]> it = store.range(key(next, 0), key(horizon, Long.MAX_VALUE))) {
      while (it.hasNext()) {
        KeyValue<Bytes, byte[]> kv = it.next();
        ByteBuffer k = ByteBuffer.wrap(kv.key.get());
        long time = k.getLong();
        if (time > upTo) {
          found = time;
          break;
        }
        done.add(kv.key);
        due.add(new long[] {time, k.getLong()});
      }
    }
    next = found >= 0 ? found : horizon == Long.MAX_VALUE ? Long.MAX_VALUE : horizon + 1;
    for (Bytes k : done) store.delete(k);
    for (long[] d : due) fire.fire(d[0], d[1]);
  }

  static Bytes key(long time, long id) {
    return Bytes.wrap(ByteBuffer.allocate(16).putLong(time).putLong(id).array());
  }
}
