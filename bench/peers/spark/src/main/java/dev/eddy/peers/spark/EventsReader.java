package dev.eddy.peers.spark;

import dev.eddy.peers.common.Event;
import dev.eddy.peers.common.EventParser;
import dev.eddy.peers.common.Measure;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.LongAdder;
import org.apache.spark.sql.catalyst.InternalRow;
import org.apache.spark.sql.catalyst.expressions.SpecificInternalRow;
import org.apache.spark.sql.connector.read.InputPartition;
import org.apache.spark.sql.connector.read.PartitionReader;
import org.apache.spark.sql.connector.read.PartitionReaderFactory;
import org.apache.spark.sql.types.DataType;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.unsafe.types.UTF8String;

/**
 * Reads one {@link EventsSource.Slice}: the lines in its byte range, parsed with the peers' shared
 * Jackson streaming parser ({@link EventParser}, as the Flink and Kafka Streams peers parse), the
 * events of the table's kind written into one reused row. Every line read counts as an input event
 * ({@code Measure.EVENTS_IN}, when the source counts); local mode runs the tasks in this JVM.
 */
final class EventsReader implements PartitionReader<InternalRow> {
  /** Lines read by the counting source's tasks (this JVM). */
  static final LongAdder LINES = new LongAdder();

  private final EventsSource.Config config;
  private final FileChannel channel;
  private final long to;
  private long filePos;
  private byte[] a = new byte[1 << 20];
  /** Unread bytes: {@code a[pos, end)}. */
  private int pos;

  private int end;
  private boolean endRow;
  private final EventParser parser = new EventParser();
  private final SpecificInternalRow row;
  private final EventsTables.Writer[] writers;
  private final int[] ordinals;

  private EventsReader(EventsSource.Slice slice) throws IOException {
    this.config = slice.config;
    this.to = slice.to;
    this.filePos = slice.from;
    this.endRow = slice.endRow;
    this.channel = slice.endRow ? null : FileChannel.open(Path.of(config.path), StandardOpenOption.READ);
    List<DataType> types = new ArrayList<>(config.columns.length);
    writers = new EventsTables.Writer[config.columns.length];
    ordinals = config.columns;
    for (int i = 0; i < ordinals.length; i++) {
      EventsTables.Column c = config.table.all.get(ordinals[i]);
      types.add(c.type);
      writers[i] = c.writer;
    }
    row = new SpecificInternalRow(scala.jdk.javaapi.CollectionConverters.asScala(types).toSeq());
    // The timed section starts with the first task of the first batch (rate mode: the schedule).
    Measure.markStart();
  }

  @Override
  public boolean next() throws IOException {
    while (true) {
      int nl = -1;
      for (int i = pos; i < end; i++) {
        if (a[i] == '\n') {
          nl = i;
          break;
        }
      }
      if (nl < 0) {
        if (filePos < to) {
          refill();
          continue;
        }
        if (pos < end) nl = end; // the file's last line has no newline
        else return endRow();
      }
      int off = pos;
      int len = nl - pos;
      pos = Math.min(nl + 1, end);
      Event e = parser.parse(a, off, len);
      if (config.count) {
        LINES.increment();
        // Counted when read, in rate mode too, as every peer counts: the harness measures a paced
        // round's latency from each line's due time (scheduledArrival), so a line's wait for the
        // next batch still counts, and the achieved rate is what Spark read.
        Measure.EVENTS_IN.increment();
      }
      if (config.table.kind >= 0 && e.kind != config.table.kind) continue;
      for (int i = 0; i < writers.length; i++) writers[i].write(e, row, i);
      return true;
    }
  }

  /**
   * Emits the END row once, when this slice carries it: times at END, numbers -1, strings empty.
   * No nulls: Spark infers {@code IS NOT NULL} filters from joins and pushes them below the
   * watermark, where a null key would remove the END row before the watermark sees it.
   */
  private boolean endRow() {
    if (!endRow) return false;
    endRow = false;
    for (int i = 0; i < ordinals.length; i++) {
      DataType t = config.table.all.get(ordinals[i]).type;
      if (t == DataTypes.TimestampType) row.setLong(i, EventsTables.END_MILLIS * 1000);
      else if (t == DataTypes.LongType) row.setLong(i, -1);
      else if (t == DataTypes.IntegerType) row.setInt(i, Event.END);
      else if (t == DataTypes.StringType) row.update(i, UTF8String.EMPTY_UTF8);
      else row.setNullAt(i);
    }
    return true;
  }

  /** Moves the unread bytes to the front and reads more of the slice after them. */
  private void refill() throws IOException {
    int rest = end - pos;
    if (rest == a.length) {
      // A line longer than the buffer: grow it.
      ByteBuffer bigger = ByteBuffer.allocate(a.length * 2);
      bigger.put(a, pos, rest);
      a = bigger.array();
      readInto(bigger, rest);
      return;
    }
    System.arraycopy(a, pos, a, 0, rest);
    readInto(ByteBuffer.wrap(a), rest);
  }

  private void readInto(ByteBuffer b, int rest) throws IOException {
    b.clear();
    b.position(rest);
    b.limit((int) Math.min(b.capacity(), rest + (to - filePos)));
    while (b.hasRemaining()) {
      int n = channel.read(b, filePos);
      if (n < 0) throw new IOException("nexmark-events: " + config.path + " ended before byte " + to);
      filePos += n;
    }
    pos = 0;
    end = b.position();
  }

  @Override
  public InternalRow get() {
    return row;
  }

  @Override
  public void close() throws IOException {
    if (channel != null) channel.close();
  }

  /** Creates the readers in the tasks. */
  static final class Factory implements PartitionReaderFactory {
    private static final long serialVersionUID = 1L;

    @Override
    public PartitionReader<InternalRow> createReader(InputPartition partition) {
      try {
        return new EventsReader((EventsSource.Slice) partition);
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
    }
  }
}
