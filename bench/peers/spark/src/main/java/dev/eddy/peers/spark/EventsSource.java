package dev.eddy.peers.spark;

import dev.eddy.peers.common.Measure;
import dev.eddy.peers.common.Pacer;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
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
import org.apache.spark.sql.connector.read.streaming.ReadAllAvailable;
import org.apache.spark.sql.connector.read.streaming.ReadLimit;
import org.apache.spark.sql.connector.read.streaming.ReadMaxRows;
import org.apache.spark.sql.connector.read.streaming.SupportsAdmissionControl;
import org.apache.spark.sql.sources.DataSourceRegister;
import org.apache.spark.sql.types.StructField;
import org.apache.spark.sql.types.StructType;
import org.apache.spark.sql.util.CaseInsensitiveStringMap;

/**
 * A DataSource V2 streaming source over the JSON-lines events file (bench/peers/export.ts): each
 * micro-batch reads the next slice of the file, at most {@code maxRowsPerBatch} lines, split into
 * {@code partitions} contiguous, line-aligned byte ranges (one Spark task each). Offsets are
 * {@code (line, byte)} pairs at line starts, so a batch is exactly the bytes between two offsets.
 *
 * <pre>
 * spark.readStream().format(EventsSource.class.getName())
 *     .option("path", "/tmp/e.jsonl").option("events", 1000000).option("table", "bid")
 *     .option("columns", "auction,dateTime").option("partitions", 2).option("maxRowsPerBatch", 100000)
 *     .load();
 * </pre>
 *
 * <p>Options:
 *
 * <ul>
 *   <li>{@code table}: {@code event} (nexmark/nexmark's datagen table: event_type and one struct per
 *       kind), or the views {@code person}, {@code auction}, {@code bid}; a view yields only the
 *       events of its kind.
 *   <li>{@code columns}: the columns to produce, comma-separated (default all). Spark does no column
 *       pruning or filter pushdown into micro-batch scans (MicroBatchExecution builds the scan
 *       with the full schema), so a query names here what it reads, as it would name the fields
 *       of a {@code from_json} schema.
 *   <li>{@code count}: whether this source counts input events ({@code Measure.EVENTS_IN}); a
 *       query that reads the file through two sources (a join) counts it once.
 *   <li>{@code end}: whether to append one END row after the last line, with {@code dateTime} at
 *       {@link EventsTables#END_MILLIS}. It moves the watermark past every window and join bound;
 *       the query removes it right after {@code withWatermark}.
 *   <li>{@code rate}: events/s; 0 (default): all lines are available from the start. Otherwise
 *       line {@code i} becomes available at {@code t0 + i / rate} (the peers' shared {@link
 *       Pacer} schedule) and a batch takes only lines already available, as from a topic a
 *       producer fills at that rate. Input events are counted when read, as at the maximum rate;
 *       the harness measures a paced round's latency from each line's due time, so a line's wait
 *       for the next batch is in it.
 *   <li>{@code warm}: with {@code rate}, the first lines, available from the start (a paced
 *       round's warm-up at the maximum rate); the schedule starts after them (default 0).
 * </ul>
 *
 * <p>The driver finds the line boundaries: it scans each new slice once for newlines (no parsing)
 * when Spark asks for the latest offset; the tasks then read and parse their byte ranges.
 */
public final class EventsSource implements TableProvider, DataSourceRegister {
  public EventsSource() {}

  @Override
  public String shortName() {
    return "nexmark-events";
  }

  @Override
  public StructType inferSchema(CaseInsensitiveStringMap options) {
    return Config.of(options).schema();
  }

  @Override
  public Table getTable(StructType schema, Transform[] partitioning, Map<String, String> properties) {
    return new EventsTable(Config.of(new CaseInsensitiveStringMap(properties)));
  }

  /** The source's options, parsed. Serializable: it travels to the tasks in each partition. */
  static final class Config implements java.io.Serializable {
    private static final long serialVersionUID = 1L;
    final String path;
    final long events;
    final int partitions;
    final long maxRowsPerBatch;
    final EventsTables.Kind table;
    final int[] columns;
    final boolean count;
    final boolean end;
    final double rate;
    final long warm;

    private Config(CaseInsensitiveStringMap o) {
      path = require(o, "path");
      events = Long.parseLong(require(o, "events"));
      partitions = o.getInt("partitions", 1);
      maxRowsPerBatch = o.getLong("maxRowsPerBatch", 100_000);
      table = EventsTables.Kind.of(o.getOrDefault("table", "event"));
      columns = table.columns(o.getOrDefault("columns", ""));
      count = o.getBoolean("count", true);
      end = o.getBoolean("end", false);
      rate = o.getDouble("rate", 0);
      warm = o.getLong("warm", 0);
      if (events <= 0 || partitions <= 0 || maxRowsPerBatch <= 0 || rate < 0 || warm < 0) {
        throw new IllegalArgumentException(
            "events, partitions and maxRowsPerBatch must be > 0, rate and warm >= 0");
      }
    }

    static Config of(CaseInsensitiveStringMap o) {
      return new Config(o);
    }

    StructType schema() {
      return table.schema(columns);
    }

    private static String require(CaseInsensitiveStringMap o, String name) {
      String v = o.get(name);
      if (v == null) throw new IllegalArgumentException("nexmark-events: missing option " + name);
      return v;
    }
  }

  static final class EventsTable implements Table, SupportsRead {
    private final Config config;

    EventsTable(Config config) {
      this.config = config;
    }

    @Override
    public String name() {
      return "nexmark-events(" + config.table.name + ")";
    }

    @Override
    public Column[] columns() {
      List<Column> cs = new ArrayList<>();
      for (StructField f : config.schema().fields()) cs.add(Column.create(f.name(), f.dataType(), f.nullable()));
      return cs.toArray(new Column[0]);
    }

    @Override
    public Set<TableCapability> capabilities() {
      return EnumSet.of(TableCapability.MICRO_BATCH_READ);
    }

    @Override
    public ScanBuilder newScanBuilder(CaseInsensitiveStringMap options) {
      return () -> new EventsScan(config);
    }
  }

  static final class EventsScan implements Scan {
    private final Config config;

    EventsScan(Config config) {
      this.config = config;
    }

    @Override
    public StructType readSchema() {
      return config.schema();
    }

    @Override
    public String description() {
      return "nexmark-events " + config.table.name + " " + config.path;
    }

    @Override
    public MicroBatchStream toMicroBatchStream(String checkpointLocation) {
      return new EventsStream(config);
    }
  }

  /** A position in the file: the index of the next line and the byte where it starts. */
  static final class LineOffset extends Offset {
    private static final Pattern JSON = Pattern.compile("\\{\"line\":(\\d+),\"byte\":(\\d+)}");
    final long line;
    final long pos;

    LineOffset(long line, long pos) {
      this.line = line;
      this.pos = pos;
    }

    @Override
    public String json() {
      return "{\"line\":" + line + ",\"byte\":" + pos + "}";
    }

    static LineOffset parse(String json) {
      Matcher m = JSON.matcher(json.trim());
      if (!m.matches()) throw new IllegalArgumentException("nexmark-events: bad offset " + json);
      return new LineOffset(Long.parseLong(m.group(1)), Long.parseLong(m.group(2)));
    }
  }

  /** A task's share of a batch: {@code lines} whole lines at bytes {@code [from, to)}. */
  static final class Slice implements InputPartition {
    private static final long serialVersionUID = 1L;
    final Config config;
    final long from;
    final long to;
    final long lines;
    /** Only the END row (no bytes). */
    final boolean endRow;

    Slice(Config config, long from, long to, long lines, boolean endRow) {
      this.config = config;
      this.from = from;
      this.to = to;
      this.lines = lines;
      this.endRow = endRow;
    }
  }

  /**
   * The micro-batch stream. Spark calls {@link #latestOffset(Offset, ReadLimit)} once per trigger
   * (on the query's thread in the driver), then {@link #planInputPartitions} for that range.
   */
  static final class EventsStream implements MicroBatchStream, SupportsAdmissionControl {
    /** Streams of the running query that have not yet offered their last offset. */
    private static final AtomicInteger UNFINISHED = new AtomicInteger();

    private static volatile boolean created;
    private final Config config;
    private boolean finished;
    private final Scanner scanner;
    /** Lines in the input: {@code config.events}, or fewer when the file ends first. */
    private long total;
    /** The chunk boundaries found by the last scan, for the batch Spark plans next. */
    private long planFrom = -1;

    private long planTo = -1;
    private long[] planBytes;
    private long[] planLines;

    EventsStream(Config config) {
      this.config = config;
      this.total = config.events;
      this.scanner = new Scanner(Path.of(config.path));
      UNFINISHED.incrementAndGet();
      created = true;
    }

    /**
     * Whether every stream of the query has offered its last offset (the last line, or the END
     * row): from then on, a trigger that finds nothing to do means the input is done.
     */
    static boolean allOffered() {
      return created && UNFINISHED.get() == 0;
    }

    private LineOffset offered(LineOffset end) {
      if (!finished && end.line >= total + (config.end ? 1 : 0)) {
        finished = true;
        UNFINISHED.decrementAndGet();
      }
      return end;
    }

    @Override
    public Offset initialOffset() {
      return new LineOffset(0, 0);
    }

    @Override
    public Offset deserializeOffset(String json) {
      return LineOffset.parse(json);
    }

    @Override
    public ReadLimit getDefaultReadLimit() {
      return ReadLimit.maxRows(config.maxRowsPerBatch);
    }

    @Override
    public Offset latestOffset() {
      throw new UnsupportedOperationException(
          "latestOffset(Offset, ReadLimit) should be called instead of this method");
    }

    @Override
    public Offset latestOffset(Offset startOffset, ReadLimit limit) {
      LineOffset start = (LineOffset) startOffset;
      if (start.line >= total) {
        // The END row is one more "line" at the same byte, in a batch of its own.
        return offered(config.end && start.line == total ? new LineOffset(total + 1, start.pos) : start);
      }
      long max = total - start.line;
      if (limit instanceof ReadMaxRows) max = Math.min(max, ((ReadMaxRows) limit).maxRows());
      else if (!(limit instanceof ReadAllAvailable)) {
        throw new IllegalArgumentException("nexmark-events: unsupported read limit " + limit);
      }
      if (config.rate > 0) {
        // Only the lines that have arrived by now. The warm-up lines are there from the start; the
        // first call past them starts the schedule.
        Measure.markStart();
        if (start.line < config.warm) max = Math.min(max, config.warm - start.line);
        else {
          Arrivals.start();
          max = Math.min(max, Arrivals.due(config.rate, config.warm, System.nanoTime()) - start.line);
          if (max <= 0) return start;
        }
      }
      long[] bytes = new long[config.partitions + 1];
      long[] lines = new long[config.partitions + 1];
      long found = scanner.scan(start.pos, max, config.partitions, bytes, lines);
      if (found < max) total = start.line + found; // the file has fewer lines than --events
      planFrom = start.line;
      planTo = start.line + found;
      planBytes = bytes;
      planLines = lines;
      return found == 0
          ? latestOffset(start, limit)
          : offered(new LineOffset(start.line + found, bytes[config.partitions]));
    }

    @Override
    public InputPartition[] planInputPartitions(Offset startOffset, Offset endOffset) {
      LineOffset start = (LineOffset) startOffset;
      LineOffset end = (LineOffset) endOffset;
      if (start.line >= total) {
        return end.line > start.line
            ? new InputPartition[] {new Slice(config, start.pos, start.pos, 0, true)}
            : new InputPartition[0];
      }
      if (planFrom != start.line || planTo != end.line) {
        // Not the range of the last scan (Spark replays an offset-log entry): scan it again.
        planBytes = new long[config.partitions + 1];
        planLines = new long[config.partitions + 1];
        scanner.scan(start.pos, end.line - start.line, config.partitions, planBytes, planLines);
        planFrom = start.line;
        planTo = end.line;
      }
      List<InputPartition> slices = new ArrayList<>(config.partitions);
      for (int i = 0; i < config.partitions; i++) {
        long n = planLines[i + 1] - planLines[i];
        if (n > 0) slices.add(new Slice(config, planBytes[i], planBytes[i + 1], n, false));
      }
      return slices.toArray(new InputPartition[0]);
    }

    @Override
    public PartitionReaderFactory createReaderFactory() {
      return new EventsReader.Factory();
    }

    @Override
    public void commit(Offset end) {}

    @Override
    public void stop() {
      scanner.close();
    }

    @Override
    public String toString() {
      return "nexmark-events(" + config.table.name + ")";
    }
  }

  /**
   * The rate mode's schedule: line {@code i >= warm} is due at {@code t0 + (i - warm) / rate},
   * {@code t0} the peers' shared {@link Pacer} origin, taken when the first batch past the warm-up
   * lines is planned; the warm-up lines are due at once. (Lines used to be counted as input here
   * when due; they now count when read, as every peer counts, and the harness takes the due time
   * from the schedule.)
   */
  static final class Arrivals {
    private Arrivals() {}

    /** Lines due at {@code nanos}: the {@code warm} first, then one every {@code 1 / rate} s. */
    static long due(double rate, long warm, long nanos) {
      long elapsed = nanos - Pacer.start();
      return warm + (elapsed < 0 ? 0 : (long) (elapsed * rate / 1e9) + 1);
    }

    /** Starts the schedule (idempotent). */
    static void start() {
      Pacer.start();
    }
  }

  /**
   * Finds line boundaries without parsing: reads the file forward from where the last scan ended
   * (each byte once, in 4 MB reads) and counts newlines.
   */
  static final class Scanner {
    private final Path path;
    private FileChannel channel;
    private final ByteBuffer buf = ByteBuffer.allocate(4 << 20);
    /** File position of {@code buf[0]}; {@code buf[0, limit)} holds file bytes. */
    private long bufPos = -1;

    Scanner(Path path) {
      this.path = path;
    }

    /**
     * Scans up to {@code max} lines from byte {@code from} (a line start) and splits them into
     * {@code parts} chunks of nearly equal line counts: chunk {@code i} is lines {@code
     * [lines[i], lines[i + 1])} (relative to {@code from}) at bytes {@code [bytes[i], bytes[i +
     * 1])}. Returns the lines found (fewer than {@code max} at the end of the file).
     */
    long scan(long from, long max, int parts, long[] bytes, long[] lines) {
      try {
        if (channel == null) channel = FileChannel.open(path, StandardOpenOption.READ);
        long per = (max + parts - 1) / parts;
        long found = 0;
        long pos = from;
        int chunk = 1;
        bytes[0] = from;
        lines[0] = 0;
        byte[] a = buf.array();
        scanning:
        while (found < max) {
          if (bufPos < 0 || pos < bufPos || pos >= bufPos + buf.limit()) {
            if (!fill(pos)) break;
          }
          int i = (int) (pos - bufPos);
          int lim = buf.limit();
          while (i < lim) {
            if (a[i++] == '\n') {
              found++;
              if (found == chunk * per || found == max) {
                for (; chunk <= parts && (found >= chunk * per || found == max); chunk++) {
                  bytes[chunk] = bufPos + i;
                  lines[chunk] = found;
                }
                if (found == max) {
                  pos = bufPos + i;
                  break scanning;
                }
              }
            }
          }
          pos = bufPos + i;
        }
        if (found < max) {
          // End of file: a last line without a newline still counts.
          long size = channel.size();
          if (pos < size) {
            found++;
            pos = size;
          }
          for (; chunk <= parts; chunk++) {
            bytes[chunk] = pos;
            lines[chunk] = found;
          }
        }
        return found;
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
    }

    /** Reads the file from {@code pos} into the buffer; false at the end of the file. */
    private boolean fill(long pos) throws IOException {
      buf.clear();
      int n = channel.read(buf, pos);
      if (n <= 0) {
        buf.limit(0);
        bufPos = -1;
        return false;
      }
      buf.flip();
      bufPos = pos;
      return true;
    }

    void close() {
      try {
        if (channel != null) channel.close();
      } catch (IOException e) {
        // closing a read-only file
      }
    }
  }
}
