package dev.eddy.peers.kstreams;

import dev.eddy.peers.common.Bid;
import java.util.TreeSet;
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
  /** How the windows are assigned and aggregated. */
  interface Spec<A> {
    /** The starts of the windows {@code b} belongs to. */
    long[] starts(Bid b);

    A add(A acc, Bid b);

    /** The first event time that can no longer belong to the window starting at {@code start}. */
    long closesAt(long start);

    /** The event time a window's partial is stamped with: inside that window only. */
    long stamp(long start);
  }

  private final String storeName;
  private final Spec<A> spec;
  private final Supplier<A> empty;
  private final long base;
  private KeyValueStore<Long, A> store;
  /** The open windows' starts (the store's keys; rebuilt from it at start). */
  private final TreeSet<Long> open = new TreeSet<>();

  LocalWindows(String storeName, Spec<A> spec, Supplier<A> empty, long base) {
    this.storeName = storeName;
    this.spec = spec;
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
    for (long start : spec.starts(b)) {
      A acc = store.get(start);
      if (acc == null) {
        acc = empty.get();
        open.add(start);
      }
      store.put(start, spec.add(acc, b));
    }
    long now = record.timestamp() - base;
    boolean closed = false;
    while (!open.isEmpty() && spec.closesAt(open.first()) <= now) {
      emit(open.pollFirst());
      closed = true;
    }
    if (closed) context().forward(new Record<>(0L, empty.get(), record.timestamp()));
  }

  private void emit(long start) {
    A acc = store.get(start);
    store.delete(start);
    context().forward(new Record<>(0L, acc, base + spec.stamp(start)));
  }
}
