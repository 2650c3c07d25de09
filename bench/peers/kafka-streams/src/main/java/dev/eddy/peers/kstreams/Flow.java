package dev.eddy.peers.kstreams;

import dev.eddy.peers.common.Measure;
import dev.eddy.peers.common.Stamped;
import java.time.Duration;
import java.util.HashSet;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Supplier;
import java.util.function.ToLongFunction;
import org.apache.kafka.common.serialization.Serde;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.streams.kstream.KStream;
import org.apache.kafka.streams.kstream.Materialized;
import org.apache.kafka.streams.processor.StateStore;
import org.apache.kafka.streams.state.KeyValueBytesStoreSupplier;
import org.apache.kafka.streams.state.StoreBuilder;
import org.apache.kafka.streams.state.Stores;
import org.apache.kafka.streams.kstream.Named;
import org.apache.kafka.streams.kstream.Repartitioned;
import org.apache.kafka.streams.processor.StreamPartitioner;
import org.apache.kafka.streams.processor.api.ContextualFixedKeyProcessor;
import org.apache.kafka.streams.processor.api.ContextualProcessor;
import org.apache.kafka.streams.processor.api.FixedKeyRecord;
import org.apache.kafka.streams.processor.api.Record;

/**
 * End of input for Kafka Streams, which has no watermarks and never ends on its own.
 *
 * <p>The loader appends one END record (key {@link #END}) to every input partition, with a
 * timestamp far past the last event: it advances stream time so every window closes and every
 * join and timer is settled, as the final watermark does in Flink and eddy. It travels through the
 * topology beside the data: filters and maps let it pass, repartitions send it to every partition
 * ({@link EndToAll}), and before anything that keeps state a {@link Gate} holds it back until the
 * END of every upstream task has arrived — since each upstream task writes its END after its
 * data, all data is in by then, and no record is dropped as late because one upstream task
 * finished first. Windowed aggregations swallow records, so the END is passed around them
 * ({@link #ends}), merged in after the aggregation has processed it. The sink counts ENDs: once
 * every one of its tasks has seen its END, every output has been produced.
 */
final class Flow {
  /** The key of END records. */
  static final long END = Long.MIN_VALUE;
  /**
   * How far past the last event the END records are (ms) beyond the grace: more than any window
   * or join bound (Q3's 600 s). No further: emitting closed windows walks the cache segment by
   * segment up to the END's time, so a far-away END costs seconds of CPU.
   */
  static final long END_OFFSET_MS = 601_000L;

  final int parallelism;
  final Duration grace;
  /** Added to every event time (Kafka record timestamps must be recent and non-negative). */
  final long base;

  Flow(int parallelism, Duration grace, long base) {
    this.parallelism = parallelism;
    this.grace = grace;
    this.base = base;
  }

  /**
   * Retention of an emit-on-close window store of {@code sizeMs} windows. Kafka Streams' default,
   * size + grace, loses results once they leave the record cache: a window store's stream time is
   * the newest window <em>start</em> it holds, and it serves no window older than that − retention
   * + 1 ms, while the aggregation asks for the windows that closed by the newest record's time
   * (− grace − size). A record late in its window (q5's second step gets window ends − 1 ms, at
   * the end of its 2 s windows) leaves the windows to be emitted up to one window size behind the
   * store's horizon: with no record cache, q5 emitted nothing. Hence:
   *
   * <ul>
   *   <li>{@code --window-retention short} (the fair harness's rounds, stopped before their END):
   *       2 × size + grace, the least that serves every closed window;
   *   <li>by default (runs to their END): long enough for the END too. The aggregation puts the
   *       END record into its own far-future window before it fetches the windows the END closes;
   *       the END is at most grace + {@link #END_OFFSET_MS} + size past the last event
   *       ({@link KsQueries#endTime}), and twice that covers the jump and the windows open before
   *       it. This keeps ~20 minutes of event time of windows in the stores.
   * </ul>
   */
  Duration windowRetention(long sizeMs) {
    return windowRetention(sizeMs, grace);
  }

  /** {@link #windowRetention(long)} of a window store whose aggregation has a grace of its own. */
  Duration windowRetention(long sizeMs, Duration windowGrace) {
    if (shortRetention) return Duration.ofMillis(2 * sizeMs + windowGrace.toMillis());
    return Duration.ofMillis(2 * (sizeMs + windowGrace.toMillis() + END_OFFSET_MS));
  }

  /**
   * The "none" durability mode (issue 14's fair method, {@code --durability none}): every store in
   * memory with its changelog disabled, as Flink's heap state without checkpoints and eddy without
   * checkpoints. Set before the topology is built. Otherwise RocksDB stores with changelogs.
   */
  static volatile boolean noDurability;

  /**
   * Every store in memory ({@code --stores memory}; implied by {@code --durability none}). With
   * changelogs on, this is the fair method's "checkpoint" mode: in-memory state made durable by
   * its changelog topics, as Flink's heap state by checkpoints and eddy's by its checkpoints.
   */
  static volatile boolean inMemory;

  /** {@code --window-retention short}: see {@link #windowRetention}. */
  static volatile boolean shortRetention;

  static <K, V, S extends StateStore> Materialized<K, V, S> durability(Materialized<K, V, S> m) {
    return noDurability ? m.withLoggingDisabled() : m;
  }

  static <T extends StateStore> StoreBuilder<T> durability(StoreBuilder<T> b) {
    return noDurability ? b.withLoggingDisabled() : b;
  }

  static KeyValueBytesStoreSupplier kvStore(String name) {
    return inMemory ? Stores.inMemoryKeyValueStore(name) : Stores.persistentKeyValueStore(name);
  }

  static boolean isEnd(Long key) {
    return key != null && key == END;
  }

  /** {@code --serde json}: JSON (Jackson) instead of {@link BinarySerde}, to measure the difference. */
  static volatile boolean jsonSerde;

  /**
   * The serde of the records' classes in repartition topics and stores: {@link BinarySerde}, or
   * JSON with {@code --serde json}; Kafka's own serde for a long (a projection's value).
   */
  @SuppressWarnings("unchecked")
  static <T> Serde<T> serde(Class<T> type) {
    if (type == Long.class) return (Serde<T>) Serdes.Long();
    return jsonSerde ? new JsonSerde<>(type) : new BinarySerde<>(type);
  }

  /**
   * Re-keys {@code stream} and sends it through a repartition topic of {@link #parallelism}
   * partitions (ENDs to all of them), then gates it: one END per task comes out, after all data.
   */
  <V> KStream<Long, V> rekey(KStream<Long, V> stream, ToLongFunction<V> key, Class<V> type, String name) {
    return exchange(
        stream.selectKey((k, v) -> isEnd(k) ? END : key.applyAsLong(v), Named.as(name + "-key")),
        type,
        name,
        parallelism);
  }

  /**
   * Sends an already keyed stream through a repartition topic and gates it; {@code ends} is how
   * many END records each partition receives per writing task group (the number of upstream
   * tasks times the ENDs each writes).
   */
  <V> KStream<Long, V> exchange(KStream<Long, V> stream, Class<V> type, String name, int ends) {
    return gate(repartition(stream, type, name), ends, name + "-gate");
  }

  <V> KStream<Long, V> repartition(KStream<Long, V> stream, Class<V> type, String name) {
    return stream.repartition(
        Repartitioned.<Long, V>as(name)
            .withKeySerde(Serdes.Long())
            .withValueSerde(serde(type))
            .withNumberOfPartitions(parallelism)
            .withStreamPartitioner(new EndToAll<>()));
  }

  /** Passes data; of {@code expected} END records lets only the last through. */
  <V> KStream<Long, V> gate(KStream<Long, V> stream, int expected, String name) {
    return stream.processValues(() -> new Gate<V>(expected, null), Named.as(name));
  }

  /**
   * A gate shared by several inputs of one stateful step in each task (a join's two sides): after
   * {@code expected} ENDs in total the task is done; no END goes on (a join would drop it), the
   * task reports to {@link Done} directly.
   */
  <V> KStream<Long, V> gateJoin(KStream<Long, V> stream, int expected, String group, String name) {
    return stream.processValues(() -> new Gate<V>(expected, group), Named.as(name));
  }

  /** The END records of {@code stream}, with {@code placeholder} values: merged in after a step that swallows them. */
  static <V> KStream<Long, V> ends(KStream<Long, ?> stream, Supplier<V> placeholder, String name) {
    return stream
        .filter((k, v) -> isEnd(k), Named.as(name + "-end"))
        .mapValues(v -> placeholder.get(), Named.as(name + "-end-value"));
  }

  /** Data to the partition of its key (Kafka's default partitioner); END records to every partition. */
  static final class EndToAll<V> implements StreamPartitioner<Long, V> {
    @Override
    public Optional<Set<Integer>> partitions(String topic, Long key, V value, int numPartitions) {
      if (!isEnd(key)) return Optional.empty();
      Set<Integer> all = new HashSet<>();
      for (int i = 0; i < numPartitions; i++) all.add(i);
      return Optional.of(all);
    }
  }

  /** See {@link Flow#gate} and {@link Flow#gateJoin}. Per task: Kafka Streams makes one per task. */
  static final class Gate<V> extends ContextualFixedKeyProcessor<Long, V, V> {
    private static final Map<String, AtomicInteger> SHARED = new ConcurrentHashMap<>();
    private final int expected;
    private final String group;
    private int seen;

    Gate(int expected, String group) {
      this.expected = expected;
      this.group = group;
    }

    @Override
    public void process(FixedKeyRecord<Long, V> record) {
      if (!isEnd(record.key())) {
        context().forward(record);
        return;
      }
      if (group == null) {
        if (++seen == expected) context().forward(record);
        return;
      }
      String id = group + "@" + context().taskId();
      if (SHARED.computeIfAbsent(id, k -> new AtomicInteger()).incrementAndGet() == expected) {
        Done.arrive();
      }
    }
  }

  /** Counts outputs (and their latency in rate mode) and the END of each task. */
  static final class Sink<V extends Stamped> extends ContextualProcessor<Long, V, Long, V> {
    private final boolean latency;
    private final long base;
    /** The fair harness's Kafka mode: each output also goes on to the output topic (key null). */
    private final boolean forward;

    Sink(boolean latency, long base, boolean forward) {
      this.latency = latency;
      this.base = base;
      this.forward = forward;
    }

    @Override
    public void process(Record<Long, V> record) {
      if (isEnd(record.key())) Done.arrive();
      else {
        Measure.output(record.value(), latency);
        Measure.outputAt(record.timestamp() - base);
        if (forward) context().forward(record.withKey(null));
      }
    }
  }

  /** Completion: every sink task has seen its END. */
  static final class Done {
    private static final AtomicInteger REMAINING = new AtomicInteger();
    private static final CountDownLatch LATCH = new CountDownLatch(1);
    private static volatile long endNanos;

    static void expect(int tasks) {
      REMAINING.set(tasks);
    }

    static void arrive() {
      if (REMAINING.decrementAndGet() == 0) {
        endNanos = System.nanoTime();
        LATCH.countDown();
      }
    }

    static boolean await(Duration timeout) throws InterruptedException {
      return LATCH.await(timeout.toMillis(), java.util.concurrent.TimeUnit.MILLISECONDS);
    }

    static long endNanos() {
      return endNanos;
    }
  }
}
