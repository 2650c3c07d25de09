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
 * big-endian (time, id) — RocksDB orders those bytes as the numbers, both being positive — and a
 * lower bound of the earliest timer kept in memory, so most records cost no scan.
 */
final class DueIndex {
  interface Fire {
    void fire(long time, long id);
  }

  private final KeyValueStore<Bytes, byte[]> store;
  /** No timer is earlier than this (not persisted: after a restart, scan once). */
  private long next = Long.MIN_VALUE;

  DueIndex(KeyValueStore<Bytes, byte[]> store) {
    this.store = store;
  }

  void add(long time, long id) {
    store.put(key(time, id), new byte[0]);
    if (next == Long.MIN_VALUE || time < next) next = time;
  }

  /** Fires, in (time, id) order, and removes every timer with {@code time <= upTo}. */
  void fireDue(long upTo, Fire fire) {
    if (next != Long.MIN_VALUE && upTo < next) return;
    List<Bytes> done = new ArrayList<>();
    List<long[]> due = new ArrayList<>();
    next = Long.MIN_VALUE;
    try (KeyValueIterator<Bytes, byte[]> it = store.all()) {
      while (it.hasNext()) {
        KeyValue<Bytes, byte[]> kv = it.next();
        ByteBuffer k = ByteBuffer.wrap(kv.key.get());
        long time = k.getLong();
        if (time > upTo) {
          next = time;
          break;
        }
        done.add(kv.key);
        due.add(new long[] {time, k.getLong()});
      }
    }
    for (Bytes k : done) store.delete(k);
    for (long[] d : due) fire.fire(d[0], d[1]);
  }

  static Bytes key(long time, long id) {
    return Bytes.wrap(ByteBuffer.allocate(16).putLong(time).putLong(id).array());
  }
}
