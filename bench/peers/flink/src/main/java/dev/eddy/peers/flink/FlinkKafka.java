package dev.eddy.peers.flink;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.BeanDescription;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.ObjectWriter;
import com.fasterxml.jackson.databind.SerializationConfig;
import com.fasterxml.jackson.databind.module.SimpleModule;
import com.fasterxml.jackson.databind.ser.BeanPropertyWriter;
import com.fasterxml.jackson.databind.ser.BeanSerializerModifier;
import dev.eddy.peers.common.Args;
import dev.eddy.peers.common.Event;
import dev.eddy.peers.common.EventParser;
import dev.eddy.peers.common.Measure;
import dev.eddy.peers.common.Pacer;
import dev.eddy.peers.common.Stamped;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.List;
import java.util.UUID;
import org.apache.flink.api.common.serialization.DeserializationSchema;
import org.apache.flink.api.common.serialization.SerializationSchema;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.connector.base.DeliveryGuarantee;
import org.apache.flink.connector.kafka.sink.KafkaRecordSerializationSchema;
import org.apache.flink.connector.kafka.sink.KafkaSink;
import org.apache.flink.connector.kafka.source.KafkaSource;
import org.apache.flink.connector.kafka.source.KafkaSourceOptions;
import org.apache.flink.connector.kafka.source.enumerator.initializer.OffsetsInitializer;
import org.apache.flink.connector.kafka.source.reader.deserializer.KafkaRecordDeserializationSchema;
import org.apache.flink.util.Collector;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.producer.ProducerRecord;

/**
 * Kafka mode of both Flink peers (issue 14's fair harness: every system reads the same JSON topic
 * and writes to a topic), with flink-connector-kafka's FLIP-27 {@link KafkaSource} and sink-v2
 * {@link KafkaSink}:
 *
 * <pre>
 * --kafka-brokers 127.0.0.1:9092 --input-topic IN --output-topic OUT
 * </pre>
 *
 * <p>Kafka mode is on when {@code --input-topic} is given ({@code --events-file} and
 * {@code --events} are still required by {@link Args} but not read). IN has {@code --parallelism}
 * partitions; each value is one line of the events file (line {@code i} in partition {@code i mod
 * P}, so partition {@code p}'s offset {@code o} is line {@code o * P + p}) and the last record of
 * each partition is the END marker {@code {"kind":"end"}}. The source reads IN from the earliest
 * offsets up to the end offsets it finds when the job starts (bounded: the harness loads IN before
 * the run, so the job finishes after the ENDs and Flink's final watermark closes every window, as
 * at the end of the events file), with a fresh group id and no offset commits.
 */
public final class FlinkKafka {
  private FlinkKafka() {}

  /** The END marker, the last record of each input partition: skipped, never parsed as an event. */
  static final byte[] END = "{\"kind\":\"end\"}".getBytes(StandardCharsets.UTF_8);

  /** Whether the run is in Kafka mode ({@code --input-topic} given). */
  public static boolean enabled(Args args) {
    return !args.get("input-topic", "").isEmpty();
  }

  public static String brokers(Args args) {
    return args.get("kafka-brokers", "127.0.0.1:9092");
  }

  /** {@code --output-topic}, required in Kafka mode. */
  public static String outputTopic(Args args) {
    String topic = args.get("output-topic", "");
    if (topic.isEmpty()) throw new IllegalArgumentException("--input-topic needs --output-topic");
    return topic;
  }

  /**
   * The KafkaSource of IN: each value parsed with the peers' EventParser, counted in {@link
   * Measure#EVENTS_IN} and emitted as {@code convert} turns it (the event itself in the DataStream
   * peer, a table row in the Flink SQL peer), as the file source does.
   */
  public static <T> KafkaSource<T> source(
      Args args, String system, FlinkNexmark.EventTo<T> convert, TypeInformation<T> type) {
    return KafkaSource.<T>builder()
        .setBootstrapServers(brokers(args))
        .setTopics(args.get("input-topic", null))
        // A fresh group per run; it only names the consumers (the source assigns partitions itself).
        .setGroupId("eddy-" + system + "-" + args.query + "-" + UUID.randomUUID())
        .setStartingOffsets(OffsetsInitializer.earliest())
        .setBounded(OffsetsInitializer.latest())
        // Nothing reads the group's offsets: no commits, not even with checkpoints (those hold the
        // source's offsets themselves).
        .setProperty(KafkaSourceOptions.COMMIT_OFFSETS_ON_CHECKPOINT.key(), "false")
        .setDeserializer(new EventDeserializer<>(args.parallelism, args.rate, convert, type))
        .build();
  }

  /**
   * A KafkaSink to {@code topic}: DeliveryGuarantee.NONE without checkpoints, AT_LEAST_ONCE (the
   * producer flushed at every checkpoint) with them; the producer's defaults otherwise.
   */
  public static <T> KafkaSink<T> sink(
      String brokers, boolean checkpointing, KafkaRecordSerializationSchema<T> serializer) {
    return KafkaSink.<T>builder()
        .setBootstrapServers(brokers)
        .setDeliveryGuarantee(checkpointing ? DeliveryGuarantee.AT_LEAST_ONCE : DeliveryGuarantee.NONE)
        .setRecordSerializer(serializer)
        .build();
  }

  /** The sink's delivery guarantee, for the result line. */
  public static String guarantee(boolean checkpointing) {
    return checkpointing ? "at-least-once" : "none";
  }

  /**
   * Parses each record's value into an event and counts it where the file source does (when it
   * enters the pipeline). The first record starts the timed section ({@link Measure#markStart}); in
   * rate mode each event is held until it is due on the file mode's schedule (its line index from
   * partition and offset) and stamped with that time.
   */
  static final class EventDeserializer<T> implements KafkaRecordDeserializationSchema<T> {
    private static final long serialVersionUID = 1L;
    private final int partitions;
    private final double rate;
    private final FlinkNexmark.EventTo<T> convert;
    private final TypeInformation<T> type;
    private transient EventParser parser;
    private transient Pacer pacer;
    private transient boolean started;

    EventDeserializer(int partitions, double rate, FlinkNexmark.EventTo<T> convert, TypeInformation<T> type) {
      this.partitions = partitions;
      this.rate = rate;
      this.convert = convert;
      this.type = type;
    }

    @Override
    public void open(DeserializationSchema.InitializationContext context) {
      parser = new EventParser();
      pacer = rate > 0 ? new Pacer(rate) : null;
    }

    @Override
    public void deserialize(ConsumerRecord<byte[], byte[]> record, Collector<T> out) throws IOException {
      byte[] value = record.value();
      if (value == null || Arrays.equals(value, END)) return;
      if (!started) {
        started = true;
        Measure.markStart();
      }
      Event e = parser.parse(value, 0, value.length);
      if (e.kind == Event.END) return; // an END written differently
      if (pacer != null) {
        long due = pacer.due(record.offset() * partitions + record.partition());
        Pacer.waitUntil(due);
        e.stamp(due);
      }
      // Counted when it enters the pipeline (its arrival, for the fair method's latency).
      Measure.EVENTS_IN.increment();
      out.collect(convert.apply(e));
    }

    @Override
    public TypeInformation<T> getProducedType() {
      return type;
    }
  }

  /**
   * The DataStream peer's output records: each row as a JSON object of its public fields (Jackson
   * databind; {@code created}, the latency stamp, left out), key null, no partition or timestamp
   * (the producer's defaults). Counted as the counting sink counts ({@link Measure#output}, {@link
   * Measure#outputAt} with the record's event time) when it is handed to the producer.
   */
  public static final class JsonRecords implements KafkaRecordSerializationSchema<Stamped> {
    private static final long serialVersionUID = 1L;
    private final String topic;
    private final boolean latency;
    private transient ObjectWriter writer;

    public JsonRecords(String topic, boolean latency) {
      this.topic = topic;
      this.latency = latency;
    }

    @Override
    public void open(SerializationSchema.InitializationContext context, KafkaSinkContext sinkContext) {
      SimpleModule rows = new SimpleModule("eddy-rows");
      rows.setSerializerModifier(
          new BeanSerializerModifier() {
            private static final long serialVersionUID = 1L;

            @Override
            public List<BeanPropertyWriter> changeProperties(
                SerializationConfig config, BeanDescription bean, List<BeanPropertyWriter> properties) {
              properties.removeIf(p -> p.getName().equals("created"));
              return properties;
            }
          });
      writer = new ObjectMapper().registerModule(rows).writer();
    }

    @Override
    public ProducerRecord<byte[], byte[]> serialize(Stamped value, KafkaSinkContext context, Long timestamp) {
      byte[] json;
      try {
        json = writer.writeValueAsBytes(value);
      } catch (JsonProcessingException e) {
        throw new UncheckedIOException(e);
      }
      Measure.output(value, latency);
      if (timestamp != null) Measure.outputAt(timestamp);
      return new ProducerRecord<>(topic, null, null, null, json);
    }
  }
}
