package dev.eddy.peers.kstreams;

import dev.eddy.peers.common.Bid;
import dev.eddy.peers.common.Nexmark;
import java.util.TreeSet;
import java.util.function.BiFunction;
import java.util.function.Supplier;
import org.apache.kafka.streams.processor.api.ContextualProcessor;
import org.apache.kafka.streams.processor.api.ProcessorContext;
import org.apache.kafka.streams.processor.api.Record;
import org.apache.kafka.streams.state.KeyValueIterator;
import org.apache.kafka.streams.state.KeyValueStore;

/**
 * The first phase of a windowed aggregation on one global key (q7, q7r), in each task that reads
 * the input: the task's own bids aggregated per window in a store, and each window's partial sent
 * on (to the global key's repartition) once the task's event time has passed the window, stamped
 * inside it; then an empty aggregate stamped with the task's event time, so that the global step's
 * stream time — the newest record time it has seen — moves on at once and closes the window there
 * as it did when every bid went through. At END every open window goes, then the END.
 *
 * <p>Kafka Streams' DSL has no local pre-aggregation (Flink SQL has its local-global phase, eddy
 * its combiners), so an expert writes this processor: the global task then gets a partial per
 * window and input task, not every bid through the broker. An input partition is in event-time
 * order, so this phase needs no grace.
 */
final class LocalWindows<A> extends ContextualProcessor<Long, Bid, Long, A> {
  private final String storeName;
  private final long size;
  private final boolean endInclusive;
  private final BiFunction<A, Bid, A> add;
  private final Supplier<A> empty;
  private final long base;
  private KeyValueStore<Long, A> store;
  /** The open windows' starts (the store's keys; rebuilt from it at start). */
  private final TreeSet<Long> open = new TreeSet<>();

  /**
   * Windows of {@code size} ms every {@code size} ms: {@code [start, start + size)}, or with
   * {@code endInclusive} {@code [start, start + size]} (q7r: a bid on a boundary is in two).
   */
  LocalWindows(
      String storeName, long size, boolean endInclusive, BiFunction<A, Bid, A> add, Supplier<A> empty, long base) {
    this.storeName = storeName;
    this.size = size;
    this.endInclusive = endInclusive;
    this.add = add;
    this.empty = empty;
    this.base = base;
  }

  @Override
  public void init(ProcessorContext<Long, A> context) {
    super.init(context);
    store = context.getStateStore(storeName);
    try (KeyValueIterator<Long, A> it = store.all()) {
      while (it.hasNext()) open.add(it.next().key);
    }
  }

  @Override
  public void process(Record<Long, Bid> record) {
    if (Flow.isEnd(record.key())) {
      while (!open.isEmpty()) emit(open.pollFirst());
      context().forward(record.withValue(empty.get()));
      return;
    }
    Bid b = record.value();
    long start = Nexmark.windowStart(b.dateTime, size);
    addTo(start, b);
    if (endInclusive && b.dateTime == start) addTo(start - size, b);
    long now = record.timestamp() - base;
    // The first event time that no longer belongs to a window starting at s: s + size (+ 1).
    long span = endInclusive ? size + 1 : size;
    boolean closed = false;
    while (!open.isEmpty() && open.first() + span <= now) {
      emit(open.pollFirst());
      closed = true;
    }
    if (closed) context().forward(new Record<>(0L, empty.get(), record.timestamp()));
  }

  private void addTo(long start, Bid b) {
    A acc = store.get(start);
    if (acc == null) {
      acc = empty.get();
      open.add(start);
    }
    store.put(start, add.apply(acc, b));
  }

  /**
   * The window's partial, stamped inside that window only (for the inclusive windows, which
   * overlap on their boundaries, start + 1).
   */
  private void emit(long start) {
    A acc = store.get(start);
    store.delete(start);
    context().forward(new Record<>(0L, acc, base + (endInclusive ? start + 1 : start + size - 1)));
  }
}
