package dev.eddy.peers.spark;

import static org.apache.spark.sql.functions.col;
import static org.apache.spark.sql.functions.struct;
import static org.apache.spark.sql.functions.timestamp_millis;
import static org.apache.spark.sql.functions.to_json;
import static org.apache.spark.sql.functions.udf;

import dev.eddy.peers.common.Event;
import dev.eddy.peers.common.EventParser;
import dev.eddy.peers.common.Measure;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.NoSuchElementException;
import java.util.Properties;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.atomic.LongAdder;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.spark.api.java.function.MapPartitionsFunction;
import org.apache.spark.sql.Column;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Encoders;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.api.java.UDF2;
import org.apache.spark.sql.expressions.UserDefinedFunction;
import org.apache.spark.sql.streaming.DataStreamReader;
import org.apache.spark.sql.streaming.DataStreamWriter;
import org.apache.spark.sql.types.DataType;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructField;
import org.apache.spark.sql.types.StructType;

/**
 * Kafka mode (issue 14, {@code --input-topic}): the events come from a topic through Spark's own
 * Kafka source ({@code spark-sql-kafka-0-10}) and the results go to a topic through its Kafka sink.
 *
 * <p>Input: each record's value is one line of the events file (UTF-8 JSON, no newline); the last
 * record of each partition is the END marker {@code {"kind":"end"}}. The source reads from the
 * earliest offsets, at most {@code --max-rows-per-batch} records per micro-batch ({@code
 * maxOffsetsPerTrigger}, Spark's Kafka counterpart of the file source's per-trigger cap; Spark
 * splits it over the partitions by their lag), one Spark task per topic partition. The values
 * are parsed into the same tables as the file mode's ({@link EventsTables}: the views {@code
 * person}, {@code auction}, {@code bid} with the columns a query names), so {@link SparkQueries}
 * is the same code in both modes.
 *
 * <p><b>Parsing.</b> {@code mapPartitions} over the values' bytes with {@code common}'s {@link
 * EventParser} (Jackson's streaming parser on the UTF-8 bytes, one parser per task), not {@code
 * from_json}: Spark's JSON expression hands Jackson the value as a {@code Reader} over an {@code
 * InputStreamReader} (UTF-8 decoded to chars first, {@code CreateJacksonParser.utf8String}), goes
 * through its generic per-field converters and a nested row per kind, and the tables' flat
 * columns would then need a CASE per column for the END row. The price of {@code mapPartitions} is
 * one conversion of the external {@code Row} into Spark's binary row by the row encoder's
 * generated code (boxed longs, {@code String} to UTF-8), which the file source pays the same way
 * ({@code UTF8String.fromString}); and the parse cost stays equal across the peers, which all use
 * this parser. Measured here (one JVM, {@code local[1]}, a batch job over 1,000,000 cached values
 * hashing q0's five bid columns, the two ways alternated, warm): 1.6–2.3 s of CPU this way
 * against 4.6–5.1 s with {@code from_json} (and no CASE for the END row), the same rows.
 * TIMESTAMP columns leave the parser as epoch ms and become TIMESTAMPs in a projection ({@code
 * timestamp_millis}, generated code).
 *
 * <p><b>Counting.</b> The parse counts input events ({@code Measure.EVENTS_IN}, one per record
 * other than END) as they enter the query, in the tasks (local mode: this JVM), and starts the
 * timed section ({@code Measure.markStart}) with the first task. With {@code --rate} the source
 * is {@link PacedKafkaSource} (batches hold only the records due on the file mode's schedule),
 * and input events count as they are parsed there too, as in file mode. A query that reads the topic
 * through two sources (q3, q8: Spark plans each leaf of a stream-stream join as its own source)
 * counts in the first only, as the file mode does. Outputs are counted where the rows are handed
 * to the Kafka writer: the sink's {@code value} column is {@code to_json(struct(*))} passed
 * through a non-deterministic identity UDF on its bytes that counts the row ({@code
 * Measure.OUTPUTS}) and reports its {@code out_time} ({@code Measure.outputAt}); the sink's
 * writer pulls each row through that projection just before {@code producer.send}. This keeps
 * Spark's Kafka sink as it is ({@code foreachBatch} would have to cache each batch, or compute
 * it twice, to both count and write it).
 *
 * <p><b>Counting in real-time mode</b> ({@link RealTime}). The same two counters, and they stay
 * true to the record there, which Spark's own figures are not: a real-time batch is one
 * long-running task per partition for the whole batch duration (5 minutes by default), and its
 * input and output row counts (SQL metrics, which are accumulators) reach the driver with the
 * task's completion, so the query's progress ({@code numInputRows}, the listener's events) moves
 * only when a batch ends. The counters here are static {@code LongAdder}s bumped inside the task,
 * per record, in the parse's iterator and in the sink's projection; with {@code local[P]} the
 * executor is this JVM (its tasks are threads of the driver's process), so the progress thread
 * ({@code Measure.progressEvery}) reads them as the tasks count, every 100 ms. (On a cluster they
 * would be per executor, and this would not work.)
 *
 * <p><b>END.</b> The END marker is not an event (not counted, never a query row). For a table
 * read with {@code end} (the stateful queries) it becomes the file mode's END row ({@code
 * dateTime} at {@link EventsTables#END_MILLIS}, numbers −1, strings empty), which moves the
 * watermark past every window and which the queries remove right after {@code withWatermark};
 * otherwise it is dropped. {@link #ENDS} counts the markers the counting source has seen, so a
 * run that reaches them knows its input is over.
 */
final class KafkaEvents {
  private KafkaEvents() {}

  /** END markers parsed by the counting source's tasks (this JVM). */
  static final LongAdder ENDS = new LongAdder();

  /** The Kafka flags of a run. */
  static final class Config {
    final String brokers;
    final String inputTopic;
    final String outputTopic;
    /** {@code maxOffsetsPerTrigger}: records per micro-batch, over all partitions. */
    final long maxRowsPerBatch;
    /** {@code --rate} (0: maximum rate) and {@code --events}: the schedule of {@link PacedKafkaSource}. */
    final double rate;

    final long events;
    /** The input topic's partitions (0 until known). */
    final int partitions;
    /**
     * Real-time mode ({@link RealTime}): no {@code maxOffsetsPerTrigger}, which Spark's Kafka source
     * refuses there ({@code KafkaMicroBatchStream.planInputPartitions}: "maxOffsetsPerTrigger is not
     * compatible with real time mode"; a long-running batch reads what arrives until it ends).
     */
    final boolean realTime;

    Config(
        String brokers,
        String inputTopic,
        String outputTopic,
        long maxRowsPerBatch,
        double rate,
        long events,
        int partitions,
        boolean realTime) {
      this.brokers = brokers;
      this.inputTopic = inputTopic;
      this.outputTopic = outputTopic;
      this.maxRowsPerBatch = maxRowsPerBatch;
      this.rate = rate;
      this.events = events;
      this.partitions = partitions;
      this.realTime = realTime;
    }

    Config withPartitions(int n) {
      return new Config(brokers, inputTopic, outputTopic, maxRowsPerBatch, rate, events, n, realTime);
    }
  }

  /**
   * The {@code columns} of {@code table} (person, auction, bid) from the input topic, with the END
   * row when {@code end}; {@code count}: this source counts the input events and END markers.
   */
  static Dataset<Row> table(SparkSession spark, Config c, String table, String columns, boolean end, boolean count) {
    EventsTables.Kind kind = EventsTables.Kind.of(table);
    if (kind.kind < 0) throw new IllegalArgumentException("spark: Kafka mode reads person, auction or bid; not " + table);
    int[] ordinals = kind.columns(columns);
    // The parser's rows: TIMESTAMP columns as epoch ms (LONG), converted below.
    List<StructField> raw = new ArrayList<>(ordinals.length);
    List<Column> out = new ArrayList<>(ordinals.length);
    for (int o : ordinals) {
      EventsTables.Column column = kind.all.get(o);
      boolean time = column.type == DataTypes.TimestampType;
      raw.add(DataTypes.createStructField(column.name, time ? DataTypes.LongType : column.type, false));
      out.add(time ? timestamp_millis(col(column.name)).as(column.name) : col(column.name));
    }
    StructType schema = DataTypes.createStructType(raw);
    // With --rate, the same Kafka source with its batches held to the records due (file mode's
    // schedule); input events then count on the schedule.
    boolean paced = c.rate > 0;
    DataStreamReader reader =
        spark
            .readStream()
            .format(paced ? PacedKafkaSource.class.getName() : "kafka")
            .option("kafka.bootstrap.servers", c.brokers)
            .option("subscribe", c.inputTopic)
            .option("startingOffsets", "earliest");
    if (!c.realTime) reader = reader.option("maxOffsetsPerTrigger", c.maxRowsPerBatch);
    return reader
        .option("eddy.rate", c.rate)
        .option("eddy.events", c.events)
        .option("eddy.partitions", c.partitions)
        .load()
        .select(col("value"))
        .as(Encoders.BINARY())
        .mapPartitions(new Parse(table, ordinals, end, count, count), Encoders.row(schema))
        .select(out.toArray(new Column[0]));
  }

  /**
   * Parses a task's values into rows of one table. Serialized into every task: it carries the
   * table's name and ordinals, and looks the column getters up in the task.
   */
  static final class Parse implements MapPartitionsFunction<byte[], Row> {
    private static final long serialVersionUID = 1L;
    private final String table;
    private final int[] ordinals;
    private final boolean end;
    /** Counts END markers ({@link #ENDS}). */
    private final boolean count;
    /** Counts input events ({@code Measure.EVENTS_IN}, when parsed, in rate mode too). */
    private final boolean countEvents;

    Parse(String table, int[] ordinals, boolean end, boolean count, boolean countEvents) {
      this.table = table;
      this.ordinals = ordinals;
      this.end = end;
      this.count = count;
      this.countEvents = countEvents;
    }

    @Override
    public Iterator<Row> call(Iterator<byte[]> values) {
      // The timed section starts with the first task of the first batch, as in file mode.
      Measure.markStart();
      EventsTables.Kind kind = EventsTables.Kind.of(table);
      EventsTables.Getter[] getters = new EventsTables.Getter[ordinals.length];
      Object[] endRow = new Object[ordinals.length];
      for (int i = 0; i < ordinals.length; i++) {
        EventsTables.Column c = kind.all.get(ordinals[i]);
        getters[i] = c.getter;
        endRow[i] = endValue(c.type);
      }
      EventParser parser = new EventParser();
      return new Iterator<Row>() {
        private Row next;

        @Override
        public boolean hasNext() {
          while (next == null && values.hasNext()) {
            byte[] v = values.next();
            Event e;
            try {
              e = parser.parse(v, 0, v.length);
            } catch (IOException x) {
              throw new UncheckedIOException(x);
            }
            if (e.kind == Event.END) {
              if (count) ENDS.increment();
              if (end) next = RowFactory.create(endRow.clone());
              continue;
            }
            if (countEvents) Measure.EVENTS_IN.increment();
            if (e.kind != kind.kind) continue;
            Object[] row = new Object[getters.length];
            for (int i = 0; i < row.length; i++) row[i] = getters[i].get(e);
            next = RowFactory.create(row);
          }
          return next != null;
        }

        @Override
        public Row next() {
          if (!hasNext()) throw new NoSuchElementException();
          Row r = next;
          next = null;
          return r;
        }
      };
    }

    /**
     * The END row's value of a column, as the file source's: times at END (epoch ms here), numbers
     * −1, strings empty; no nulls (Spark pushes the join keys' inferred {@code IS NOT NULL} below
     * the watermark, which would remove the END row before the watermark sees it).
     */
    private static Object endValue(DataType t) {
      if (t == DataTypes.TimestampType) return EventsTables.END_MILLIS;
      if (t == DataTypes.LongType) return -1L;
      if (t == DataTypes.StringType) return "";
      throw new IllegalArgumentException("spark: no END value for " + t);
    }
  }

  /**
   * The query's rows to the output topic through Spark's Kafka sink: each row as a JSON value
   * ({@code to_json(struct(*))}, key null), counted as it is handed to the writer (see the class
   * comment). The producer's {@code linger.ms} is 5, the default of Kafka clients 4.x (the broker's
   * and the other peers' clients; Spark 4.2 brings kafka-clients 3.9, whose default is 0);
   * everything else is the Kafka clients' and Spark's defaults.
   */
  static DataStreamWriter<Row> sink(Dataset<Row> out, Config c) {
    UserDefinedFunction counted =
        udf(
                (UDF2<byte[], Long, byte[]>)
                    (value, outTime) -> {
                      Measure.OUTPUTS.increment();
                      Measure.outputAt(outTime);
                      return value;
                    },
                DataTypes.BinaryType)
            .asNondeterministic()
            .withName("eddy_count_output");
    Column value = to_json(struct(col("*"))).cast(DataTypes.BinaryType);
    return out.select(counted.apply(value, col(SparkQueries.OUT_TIME)).as("value"))
        .writeStream()
        .format("kafka")
        .option("kafka.bootstrap.servers", c.brokers)
        .option("topic", c.outputTopic)
        .option("kafka.linger.ms", "5");
  }

  /** The number of partitions of {@code topic} (the END markers a run waits for). */
  static int partitions(String brokers, String topic) {
    Properties p = new Properties();
    p.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, brokers);
    try (Admin admin = Admin.create(p)) {
      return admin.describeTopics(List.of(topic)).allTopicNames().get().get(topic).partitions().size();
    } catch (ExecutionException e) {
      throw new IllegalStateException("spark: cannot describe topic " + topic + ": " + e.getCause(), e.getCause());
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("spark: interrupted describing topic " + topic, e);
    }
  }
}
