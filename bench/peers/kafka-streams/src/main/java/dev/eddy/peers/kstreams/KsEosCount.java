package dev.eddy.peers.kstreams;

import java.nio.ByteBuffer;
import java.util.HashMap;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.CountDownLatch;
import org.apache.kafka.common.serialization.Deserializer;
import org.apache.kafka.common.serialization.Serde;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.common.serialization.Serializer;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.kstream.Consumed;
import org.apache.kafka.streams.kstream.Grouped;
import org.apache.kafka.streams.kstream.Materialized;
import org.apache.kafka.streams.kstream.Produced;
import org.apache.kafka.streams.state.Stores;

/**
 * The Kafka benchmark's pipeline (bench/kafka.ts) on Kafka Streams with exactly-once v2: consume the
 * JSON events {key, seq, t}, count per key, produce {key, n, t} for every event, committing every
 * {@code --commit-interval-ms}. Tuned as the same pipeline would be for production: one stream
 * thread per core given, an in-memory store with its changelog (eddy's state is in memory with a
 * changelog too), the record cache off so that every event gives its output (as eddy's; with the
 * cache on, updates of a key within a commit interval fold into one, a different output), Jackson
 * reading each event into a small class.
 *
 * <pre>
 * java ... KsEosCount --brokers 127.0.0.1:9092 --input in --output out --app-id a --commit-interval-ms 100
 * </pre>
 *
 * Prints "ready" once the application runs; stops on SIGTERM.
 */
public final class KsEosCount {
  private KsEosCount() {}

  /** One input event, as bench/kafka.ts writes it. */
  public static final class Event {
    public String key;
    public long seq;
    public double t;
  }

  /** A key's count and the time of its newest event (a double's bits): 16 bytes in the store and its changelog. */
  static final Serde<long[]> COUNT =
      Serdes.serdeFrom(
          (Serializer<long[]>)
              (topic, v) -> ByteBuffer.allocate(16).putLong(v[0]).putLong(v[1]).array(),
          (Deserializer<long[]>)
              (topic, b) -> {
                ByteBuffer buf = ByteBuffer.wrap(b);
                return new long[] {buf.getLong(), buf.getLong()};
              });

  public static void main(String[] argv) throws Exception {
    Map<String, String> a = new HashMap<>();
    for (int i = 0; i + 1 < argv.length; i += 2) a.put(argv[i].replaceFirst("^--", ""), argv[i + 1]);
    String input = a.get("input");
    String output = a.get("output");
    Properties p = new Properties();
    p.put(StreamsConfig.APPLICATION_ID_CONFIG, a.get("app-id"));
    p.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, a.get("brokers"));
    p.put(StreamsConfig.PROCESSING_GUARANTEE_CONFIG, StreamsConfig.EXACTLY_ONCE_V2);
    p.put(StreamsConfig.COMMIT_INTERVAL_MS_CONFIG, a.getOrDefault("commit-interval-ms", "100"));
    p.put(StreamsConfig.STATESTORE_CACHE_MAX_BYTES_CONFIG, 0);
    p.put(StreamsConfig.NUM_STREAM_THREADS_CONFIG, Integer.parseInt(a.getOrDefault("threads", "1")));
    p.put(StreamsConfig.STATE_DIR_CONFIG, a.getOrDefault("state-dir", "/tmp/eddy-ks-eos"));
    p.put(StreamsConfig.consumerPrefix("auto.offset.reset"), "earliest");

    JsonSerde<Event> events = new JsonSerde<>(Event.class);
    StreamsBuilder b = new StreamsBuilder();
    b.stream(input, Consumed.with(Serdes.String(), events))
        .groupByKey(Grouped.with(Serdes.String(), events))
        .aggregate(
            () -> new long[] {0, 0},
            (key, e, acc) -> new long[] {acc[0] + 1, Double.doubleToRawLongBits(e.t)},
            Materialized.<String, long[]>as(Stores.inMemoryKeyValueStore("counts"))
                .withKeySerde(Serdes.String())
                .withValueSerde(COUNT))
        .toStream()
        .mapValues(
            (key, v) ->
                "{\"key\":\"" + key + "\",\"n\":" + v[0] + ",\"t\":" + Double.longBitsToDouble(v[1]) + "}")
        .to(output, Produced.with(Serdes.String(), Serdes.String()));

    KafkaStreams streams = new KafkaStreams(b.build(), p);
    CountDownLatch stopped = new CountDownLatch(1);
    streams.setStateListener(
        (now, before) -> {
          if (now == KafkaStreams.State.RUNNING) System.out.println("ready");
          if (now == KafkaStreams.State.ERROR || now == KafkaStreams.State.NOT_RUNNING)
            stopped.countDown();
        });
    Runtime.getRuntime()
        .addShutdownHook(
            new Thread(
                () -> {
                  streams.close();
                  stopped.countDown();
                }));
    streams.start();
    stopped.await();
    streams.close();
    streams.cleanUp();
    System.out.println("{}");
  }
}
