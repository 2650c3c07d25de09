package dev.eddy.peers.flinksql;

import dev.eddy.peers.common.Measure;
import java.io.BufferedWriter;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.Set;
import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.configuration.ConfigOption;
import org.apache.flink.configuration.ConfigOptions;
import org.apache.flink.configuration.ReadableConfig;
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
import org.apache.flink.table.types.logical.LogicalTypeRoot;
import org.apache.flink.types.RowKind;

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
 */
public final class CountingSinkFactory implements DynamicTableSinkFactory {
  public static final String IDENTIFIER = "eddy-count";

  static final ConfigOption<String> EVENT_TIME_COLUMN =
      ConfigOptions.key("event-time.column").stringType().noDefaultValue();
  static final ConfigOption<Long> EVENT_TIME_OFFSET_MS =
      ConfigOptions.key("event-time.offset-ms").longType().defaultValue(0L);
  static final ConfigOption<String> ROWS_OUT = ConfigOptions.key("rows-out").stringType().noDefaultValue();

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
    return new HashSet<>(Set.of(EVENT_TIME_COLUMN, EVENT_TIME_OFFSET_MS, ROWS_OUT));
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
    return new CountingTableSink(
        schema, timeField, options.get(EVENT_TIME_OFFSET_MS), options.getOptional(ROWS_OUT).orElse(null));
  }

  static final class CountingTableSink implements DynamicTableSink {
    private final ResolvedSchema schema;
    private final int timeField;
    private final long offsetMs;
    private final String rowsOut;

    CountingTableSink(ResolvedSchema schema, int timeField, long offsetMs, String rowsOut) {
      this.schema = schema;
      this.timeField = timeField;
      this.offsetMs = offsetMs;
      this.rowsOut = rowsOut;
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
      DataStructureConverter converter =
          rowsOut == null ? null : context.createDataStructureConverter(schema.toPhysicalRowDataType());
      CountingRowSink sink = new CountingRowSink(timeField, offsetMs, rowsOut, converter);
      return (DataStreamSinkProvider) (providerContext, rows) -> rows.addSink(sink).name("count");
    }

    @Override
    public DynamicTableSink copy() {
      return new CountingTableSink(schema, timeField, offsetMs, rowsOut);
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
}
