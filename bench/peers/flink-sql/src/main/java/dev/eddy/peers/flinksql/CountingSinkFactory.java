package dev.eddy.peers.flinksql;

import com.fasterxml.jackson.core.JsonEncoding;
import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.core.util.ByteArrayBuilder;
import dev.eddy.peers.common.Measure;
import dev.eddy.peers.flink.FlinkKafka;
import java.io.BufferedWriter;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.api.common.serialization.SerializationSchema;
import org.apache.flink.configuration.ConfigOption;
import org.apache.flink.configuration.ConfigOptions;
import org.apache.flink.configuration.ReadableConfig;
import org.apache.flink.connector.kafka.sink.KafkaRecordSerializationSchema;
import org.apache.flink.streaming.api.functions.sink.legacy.RichSinkFunction;
import org.apache.flink.table.catalog.Column;
import org.apache.flink.table.catalog.ResolvedSchema;
import org.apache.flink.table.connector.ChangelogMode;
import org.apache.flink.table.connector.RuntimeConverter;
import org.apache.flink.table.connector.sink.DataStreamSinkProvider;
import org.apache.flink.table.connector.sink.DynamicTableSink;
import org.apache.flink.table.data.RowData;
import org.apache.flink.table.factories.DynamicTableSinkFactory;
import org.apache.flink.table.factories.FactoryUtil;
import org.apache.flink.table.types.logical.DecimalType;
import org.apache.flink.table.types.logical.LogicalType;
import org.apache.flink.table.types.logical.LogicalTypeRoot;
import org.apache.flink.table.types.logical.utils.LogicalTypeChecks;
import org.apache.flink.types.RowKind;
import org.apache.kafka.clients.producer.ProducerRecord;

/**
 * The 'eddy-count' table connector: a sink that counts the rows it receives and discards them, in
 * place of nexmark's 'blackhole'. Like the blackhole sink it asks for every kind of change except
 * UPDATE_BEFORE, so an updating query's result arrives as inserts, updates (the new row only) and
 * deletes, and each of them counts as one output.
 *
 * <p>Options: {@code event-time.column} (a TIMESTAMP(3) column) and {@code event-time.offset-ms}:
 * each row's column value plus the offset is its event time for the progress lines
 * ({@link Measure#outputAt}); without the column rows carry no time. {@code rows-out}: also write
 * each row as text ({@code +I[...]}, {@code +U[...]}, ...) to this file, for checks.
 *
 * <p>Kafka mode ({@code kafka.topic}, {@code kafka.brokers}, {@code kafka.delivery-guarantee}
 * {@code none} or {@code at-least-once}): the same rows, each written to the topic as a JSON object
 * of its columns (key null; {@link RowJsonRecords}) through the DataStream peer's KafkaSink
 * ({@link FlinkKafka#sink}), and counted in the same way when handed to the producer. Not with
 * {@code rows-out}.
 */
public final class CountingSinkFactory implements DynamicTableSinkFactory {
  public static final String IDENTIFIER = "eddy-count";

  static final ConfigOption<String> EVENT_TIME_COLUMN =
      ConfigOptions.key("event-time.column").stringType().noDefaultValue();
  static final ConfigOption<Long> EVENT_TIME_OFFSET_MS =
      ConfigOptions.key("event-time.offset-ms").longType().defaultValue(0L);
  static final ConfigOption<String> ROWS_OUT = ConfigOptions.key("rows-out").stringType().noDefaultValue();
  static final ConfigOption<String> KAFKA_TOPIC = ConfigOptions.key("kafka.topic").stringType().noDefaultValue();
  static final ConfigOption<String> KAFKA_BROKERS =
      ConfigOptions.key("kafka.brokers").stringType().defaultValue("127.0.0.1:9092");
  static final ConfigOption<String> KAFKA_GUARANTEE =
      ConfigOptions.key("kafka.delivery-guarantee").stringType().defaultValue("none");

  @Override
  public String factoryIdentifier() {
    return IDENTIFIER;
  }

  @Override
  public Set<ConfigOption<?>> requiredOptions() {
    return new HashSet<>();
  }

  @Override
  public Set<ConfigOption<?>> optionalOptions() {
    return new HashSet<>(
        Set.of(EVENT_TIME_COLUMN, EVENT_TIME_OFFSET_MS, ROWS_OUT, KAFKA_TOPIC, KAFKA_BROKERS, KAFKA_GUARANTEE));
  }

  @Override
  public DynamicTableSink createDynamicTableSink(Context context) {
    FactoryUtil.TableFactoryHelper helper = FactoryUtil.createTableFactoryHelper(this, context);
    helper.validate();
    ReadableConfig options = helper.getOptions();
    ResolvedSchema schema = context.getCatalogTable().getResolvedSchema();
    int timeField = -1;
    String column = options.getOptional(EVENT_TIME_COLUMN).orElse(null);
    if (column != null) {
      int i = 0;
      for (Column c : schema.getColumns()) {
        if (!c.isPhysical()) continue;
        if (c.getName().equals(column)) {
          LogicalTypeRoot root = c.getDataType().getLogicalType().getTypeRoot();
          if (root != LogicalTypeRoot.TIMESTAMP_WITHOUT_TIME_ZONE) {
            throw new IllegalArgumentException("event-time.column " + column + " is " + root + ", not TIMESTAMP");
          }
          timeField = i;
        }
        i++;
      }
      if (timeField < 0) throw new IllegalArgumentException("event-time.column " + column + " is not a column");
    }
    String rowsOut = options.getOptional(ROWS_OUT).orElse(null);
    String topic = options.getOptional(KAFKA_TOPIC).orElse(null);
    Kafka kafka = null;
    if (topic != null) {
      if (rowsOut != null) throw new IllegalArgumentException("rows-out is not for Kafka mode");
      String guarantee = options.get(KAFKA_GUARANTEE);
      if (!guarantee.equals("none") && !guarantee.equals("at-least-once")) {
        throw new IllegalArgumentException("kafka.delivery-guarantee is none or at-least-once, not " + guarantee);
      }
      kafka = new Kafka(options.get(KAFKA_BROKERS), topic, guarantee.equals("at-least-once"));
    }
    return new CountingTableSink(schema, timeField, options.get(EVENT_TIME_OFFSET_MS), rowsOut, kafka);
  }

  /** Kafka mode's output: brokers, topic, and whether the sink is at-least-once (else none). */
  static final class Kafka {
    final String brokers;
    final String topic;
    final boolean atLeastOnce;

    Kafka(String brokers, String topic, boolean atLeastOnce) {
      this.brokers = brokers;
      this.topic = topic;
      this.atLeastOnce = atLeastOnce;
    }
  }

  static final class CountingTableSink implements DynamicTableSink {
    private final ResolvedSchema schema;
    private final int timeField;
    private final long offsetMs;
    private final String rowsOut;
    private final Kafka kafka;

    CountingTableSink(ResolvedSchema schema, int timeField, long offsetMs, String rowsOut, Kafka kafka) {
      this.schema = schema;
      this.timeField = timeField;
      this.offsetMs = offsetMs;
      this.rowsOut = rowsOut;
      this.kafka = kafka;
    }

    @Override
    public ChangelogMode getChangelogMode(ChangelogMode requested) {
      // As Flink's blackhole sink: whatever the query produces, without UPDATE_BEFORE.
      ChangelogMode.Builder mode = ChangelogMode.newBuilder();
      for (RowKind kind : requested.getContainedKinds()) {
        if (kind != RowKind.UPDATE_BEFORE) mode.addContainedKind(kind);
      }
      return mode.build();
    }

    @Override
    public SinkRuntimeProvider getSinkRuntimeProvider(Context context) {
      if (kafka != null) {
        RowJsonRecords records = new RowJsonRecords(kafka.topic, schema, timeField, offsetMs);
        return (DataStreamSinkProvider)
            (providerContext, rows) ->
                rows.sinkTo(FlinkKafka.sink(kafka.brokers, kafka.atLeastOnce, records)).name("kafka-out");
      }
      DataStructureConverter converter =
          rowsOut == null ? null : context.createDataStructureConverter(schema.toPhysicalRowDataType());
      CountingRowSink sink = new CountingRowSink(timeField, offsetMs, rowsOut, converter);
      return (DataStreamSinkProvider) (providerContext, rows) -> rows.addSink(sink).name("count");
    }

    @Override
    public DynamicTableSink copy() {
      return new CountingTableSink(schema, timeField, offsetMs, rowsOut, kafka);
    }

    @Override
    public String asSummaryString() {
      return "eddy-count";
    }
  }

  /**
   * Counts rows (as flink/'s CountingSink counts records) and notes each one's event time;
   * discards them.
   */
  static final class CountingRowSink extends RichSinkFunction<RowData> {
    private static final long serialVersionUID = 1L;
    /** The rows-out file, shared by the parallel instances of this JVM. */
    private static BufferedWriter writer;

    private static int writers;

    private final int timeField;
    private final long offsetMs;
    private final String rowsOut;
    private final DynamicTableSink.DataStructureConverter converter;

    CountingRowSink(
        int timeField, long offsetMs, String rowsOut, DynamicTableSink.DataStructureConverter converter) {
      this.timeField = timeField;
      this.offsetMs = offsetMs;
      this.rowsOut = rowsOut;
      this.converter = converter;
    }

    @Override
    public void open(OpenContext openContext) throws IOException {
      if (rowsOut == null) return;
      converter.open(RuntimeConverter.Context.create(getClass().getClassLoader()));
      synchronized (CountingRowSink.class) {
        if (writers++ == 0) writer = Files.newBufferedWriter(Path.of(rowsOut), StandardCharsets.UTF_8);
      }
    }

    @Override
    public void invoke(RowData row, Context context) {
      Measure.OUTPUTS.increment();
      if (timeField >= 0 && !row.isNullAt(timeField)) {
        Measure.outputAt(row.getTimestamp(timeField, 3).getMillisecond() + offsetMs);
      }
      if (rowsOut != null) {
        String text = converter.toExternal(row).toString();
        synchronized (CountingRowSink.class) {
          try {
            writer.write(text);
            writer.write('\n');
          } catch (IOException e) {
            throw new UncheckedIOException(e);
          }
        }
      }
    }

    @Override
    public void close() throws IOException {
      if (rowsOut == null) return;
      synchronized (CountingRowSink.class) {
        if (writer != null && --writers == 0) {
          writer.close();
          writer = null;
        }
      }
    }
  }

  /**
   * Kafka mode's records: each row as a JSON object of the sink table's physical columns (Jackson's
   * streaming generator; numbers as numbers, DECIMAL exactly, TIMESTAMP as epoch ms as in the events,
   * strings as strings, other types as their text), key null, no partition or timestamp (the
   * producer's defaults). Counted as {@link CountingRowSink} counts when handed to the producer.
   */
  static final class RowJsonRecords implements KafkaRecordSerializationSchema<RowData> {
    private static final long serialVersionUID = 1L;
    private static final JsonFactory JSON = new JsonFactory();

    private final String topic;
    private final String[] names;
    private final LogicalType[] types;
    private final int timeField;
    private final long offsetMs;
    private transient ByteArrayBuilder buffer;
    private transient RowData.FieldGetter[] getters;

    RowJsonRecords(String topic, ResolvedSchema schema, int timeField, long offsetMs) {
      this.topic = topic;
      List<Column> physical = schema.getColumns().stream().filter(Column::isPhysical).toList();
      this.names = physical.stream().map(Column::getName).toArray(String[]::new);
      this.types = physical.stream().map(c -> c.getDataType().getLogicalType()).toArray(LogicalType[]::new);
      this.timeField = timeField;
      this.offsetMs = offsetMs;
    }

    @Override
    public void open(
        SerializationSchema.InitializationContext context, KafkaSinkContext sinkContext) {
      buffer = new ByteArrayBuilder(512);
      getters = new RowData.FieldGetter[types.length];
      for (int i = 0; i < types.length; i++) getters[i] = RowData.createFieldGetter(types[i], i);
    }

    @Override
    public ProducerRecord<byte[], byte[]> serialize(RowData row, KafkaSinkContext context, Long timestamp) {
      buffer.reset();
      try (JsonGenerator g = JSON.createGenerator(buffer, JsonEncoding.UTF8)) {
        g.writeStartObject();
        for (int i = 0; i < types.length; i++) {
          g.writeFieldName(names[i]);
          if (row.isNullAt(i)) {
            g.writeNull();
            continue;
          }
          LogicalType type = types[i];
          switch (type.getTypeRoot()) {
            case BOOLEAN:
              g.writeBoolean(row.getBoolean(i));
              break;
            case TINYINT:
              g.writeNumber(row.getByte(i));
              break;
            case SMALLINT:
              g.writeNumber(row.getShort(i));
              break;
            case INTEGER:
              g.writeNumber(row.getInt(i));
              break;
            case BIGINT:
              g.writeNumber(row.getLong(i));
              break;
            case FLOAT:
              g.writeNumber(row.getFloat(i));
              break;
            case DOUBLE:
              g.writeNumber(row.getDouble(i));
              break;
            case DECIMAL:
              DecimalType d = (DecimalType) type;
              g.writeNumber(row.getDecimal(i, d.getPrecision(), d.getScale()).toBigDecimal());
              break;
            case CHAR:
            case VARCHAR:
              g.writeString(row.getString(i).toString());
              break;
            case TIMESTAMP_WITHOUT_TIME_ZONE:
            case TIMESTAMP_WITH_LOCAL_TIME_ZONE:
              g.writeNumber(row.getTimestamp(i, LogicalTypeChecks.getPrecision(type)).getMillisecond());
              break;
            default:
              g.writeString(String.valueOf(getters[i].getFieldOrNull(row)));
          }
        }
        g.writeEndObject();
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
      Measure.OUTPUTS.increment();
      if (timeField >= 0 && !row.isNullAt(timeField)) {
        Measure.outputAt(row.getTimestamp(timeField, 3).getMillisecond() + offsetMs);
      }
      return new ProducerRecord<>(topic, null, null, null, buffer.toByteArray());
    }
  }
}
