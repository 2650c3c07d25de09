package dev.eddy.peers.spark;

import dev.eddy.peers.common.Measure;
import java.util.EnumSet;
import java.util.HashMap;
import java.util.Map;
import java.util.Set;
import org.apache.kafka.common.TopicPartition;
import org.apache.spark.sql.connector.catalog.CatalogV2Util;
import org.apache.spark.sql.connector.catalog.Column;
import org.apache.spark.sql.connector.catalog.SupportsRead;
import org.apache.spark.sql.connector.catalog.Table;
import org.apache.spark.sql.connector.catalog.TableCapability;
import org.apache.spark.sql.connector.catalog.TableProvider;
import org.apache.spark.sql.connector.expressions.Transform;
import org.apache.spark.sql.connector.read.InputPartition;
import org.apache.spark.sql.connector.read.PartitionReaderFactory;
import org.apache.spark.sql.connector.read.Scan;
import org.apache.spark.sql.connector.read.ScanBuilder;
import org.apache.spark.sql.connector.read.streaming.MicroBatchStream;
import org.apache.spark.sql.connector.read.streaming.Offset;
import org.apache.spark.sql.connector.read.streaming.ReadLimit;
import org.apache.spark.sql.connector.read.streaming.SupportsAdmissionControl;
import org.apache.spark.sql.kafka010.KafkaSourceOffset;
import org.apache.spark.sql.kafka010.KafkaSourceProvider;
import org.apache.spark.sql.types.StructType;
import org.apache.spark.sql.util.CaseInsensitiveStringMap;
import scala.jdk.javaapi.CollectionConverters;

/**
 * Kafka mode with {@code --rate R}: Spark's own Kafka source, whose micro-batches take only the
 * records already due on the file mode's schedule, as the file source does in rate mode. The input
 * topic holds line {@code i} of the events file in partition {@code i mod P} (so partition {@code
 * p}'s offset {@code o} is line {@code o * P + p}); line {@code i} is due at {@code t0 + i / R}
 * ({@link EventsSource.Arrivals}, the peers' shared {@code Pacer} origin). Each trigger asks the
 * Kafka stream for its next end offsets (its own {@code maxOffsetsPerTrigger} cap included) and
 * lowers each partition's to the records due by now; everything else (planning, reading, offsets
 * in the checkpoint) is the Kafka source's. Input events count when parsed, as at the maximum rate;
 * the harness measures a paced round's latency from each record's due time, so a record's wait for
 * the next batch is in it, as in file mode. Options: Spark's Kafka options plus {@code eddy.rate}, {@code
 * eddy.events} and {@code eddy.partitions} (P).
 */
public final class PacedKafkaSource implements TableProvider {
  public PacedKafkaSource() {}

  @Override
  public StructType inferSchema(CaseInsensitiveStringMap options) {
    return CatalogV2Util.v2ColumnsToStructType(new KafkaSourceProvider().getTable(options).columns());
  }

  @Override
  public Table getTable(StructType schema, Transform[] partitioning, Map<String, String> properties) {
    CaseInsensitiveStringMap options = new CaseInsensitiveStringMap(properties);
    Table kafka = new KafkaSourceProvider().getTable(options);
    double rate = options.getDouble("eddy.rate", 0);
    long events = options.getLong("eddy.events", 0);
    int partitions = options.getInt("eddy.partitions", 0);
    if (rate <= 0 || events <= 0 || partitions <= 0) {
      throw new IllegalArgumentException("paced kafka: eddy.rate, eddy.events and eddy.partitions must be > 0");
    }
    return new PacedTable(kafka, rate, events, partitions);
  }

  private static final class PacedTable implements Table, SupportsRead {
    private final Table kafka;
    private final double rate;
    private final long events;
    private final int partitions;

    PacedTable(Table kafka, double rate, long events, int partitions) {
      this.kafka = kafka;
      this.rate = rate;
      this.events = events;
      this.partitions = partitions;
    }

    @Override
    public String name() {
      return "paced-" + kafka.name();
    }

    @Override
    public Column[] columns() {
      return kafka.columns();
    }

    @Override
    public Set<TableCapability> capabilities() {
      return EnumSet.of(TableCapability.MICRO_BATCH_READ);
    }

    @Override
    public ScanBuilder newScanBuilder(CaseInsensitiveStringMap options) {
      Scan scan = ((SupportsRead) kafka).newScanBuilder(options).build();
      return () ->
          new Scan() {
            @Override
            public StructType readSchema() {
              return scan.readSchema();
            }

            @Override
            public MicroBatchStream toMicroBatchStream(String checkpointLocation) {
              return new PacedStream(scan.toMicroBatchStream(checkpointLocation), rate, events, partitions);
            }
          };
    }
  }

  /** The Kafka stream, its end offsets lowered to the records due. */
  static final class PacedStream implements MicroBatchStream, SupportsAdmissionControl {
    private final MicroBatchStream kafka;
    private final double rate;
    private final long events;
    private final int partitions;

    PacedStream(MicroBatchStream kafka, double rate, long events, int partitions) {
      this.kafka = kafka;
      this.rate = rate;
      this.events = events;
      this.partitions = partitions;
    }

    @Override
    public Offset latestOffset(Offset start, ReadLimit limit) {
      Offset latest = ((SupportsAdmissionControl) kafka).latestOffset(start, limit);
      // The first trigger starts the schedule and the timed section, as in file mode.
      Measure.markStart();
      EventsSource.Arrivals.start();
      long due = EventsSource.Arrivals.due(rate, 0, System.nanoTime());
      Map<TopicPartition, Object> from = offsets(start);
      Map<TopicPartition, Object> to = new HashMap<>();
      for (Map.Entry<TopicPartition, Object> e : offsets(latest).entrySet()) {
        long p = e.getKey().partition();
        // Partition p's offsets o with o * P + p < due.
        long dueHere = due > p ? (due - p + partitions - 1) / partitions : 0;
        Object begin = from.get(e.getKey());
        long floor = begin == null ? 0 : (Long) begin;
        to.put(e.getKey(), Math.min((Long) e.getValue(), Math.max(floor, dueHere)));
      }
      return new KafkaSourceOffset(scala.collection.immutable.Map$.MODULE$.from(CollectionConverters.asScala(to)));
    }

    private static Map<TopicPartition, Object> offsets(Offset o) {
      if (o == null) return Map.of();
      // A KafkaSourceOffset, or a SerializedOffset read back from the offset log.
      return CollectionConverters.asJava(
          KafkaSourceOffset.getPartitionOffsets((org.apache.spark.sql.execution.streaming.Offset) o));
    }

    @Override
    public Offset latestOffset() {
      throw new UnsupportedOperationException("latestOffset(Offset, ReadLimit) should be called instead");
    }

    @Override
    public ReadLimit getDefaultReadLimit() {
      return ((SupportsAdmissionControl) kafka).getDefaultReadLimit();
    }

    @Override
    public InputPartition[] planInputPartitions(Offset start, Offset end) {
      return kafka.planInputPartitions(start, end);
    }

    @Override
    public PartitionReaderFactory createReaderFactory() {
      return kafka.createReaderFactory();
    }

    @Override
    public Offset initialOffset() {
      return kafka.initialOffset();
    }

    @Override
    public Offset deserializeOffset(String json) {
      return kafka.deserializeOffset(json);
    }

    @Override
    public void commit(Offset end) {
      kafka.commit(end);
    }

    @Override
    public void stop() {
      kafka.stop();
    }

    @Override
    public String toString() {
      return "paced(" + rate + "/s) " + kafka;
    }
  }
}
