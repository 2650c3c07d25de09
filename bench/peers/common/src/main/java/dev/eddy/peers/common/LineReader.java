package dev.eddy.peers.common;

import java.io.Closeable;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Reads the first {@code limit} lines of a file and yields those whose 0-based index is
 * {@code part} modulo {@code parts}: parallel readers of one file each take every
 * {@code parts}-th event, so every reader sees its events in time order and all readers
 * progress through event time together (like the partitions of a Kafka topic). Lines of other
 * parts are only scanned for the newline, not decoded.
 */
public final class LineReader implements Closeable {
  private final InputStream in;
  private final long limit;
  private final int part;
  private final int parts;
  private byte[] buf = new byte[1 << 20];
  private int pos;
  private int end;
  private boolean eof;
  private long next;

  /** The current line: {@code buf[off, off + len)}, without the newline. */
  public byte[] line;

  public int off;
  public int len;
  /** The current line's 0-based index in the file. */
  public long index = -1;

  public LineReader(Path file, long limit, int part, int parts) throws IOException {
    this.in = Files.newInputStream(file);
    this.limit = limit;
    this.part = part;
    this.parts = parts;
  }

  /** Advances to the next line of this part; false at the end (or after {@code limit} lines). */
  public boolean next() throws IOException {
    while (next < limit) {
      long i = next;
      if (!advance()) return false;
      next = i + 1;
      if (i % parts == part) {
        index = i;
        return true;
      }
    }
    return false;
  }

  /** How many lines (of all parts) have been scanned. */
  public long scanned() {
    return next;
  }

  private boolean advance() throws IOException {
    int from = pos;
    while (true) {
      for (int j = from; j < end; j++) {
        if (buf[j] == '\n') {
          line = buf;
          off = pos;
          len = j - pos;
          pos = j + 1;
          return true;
        }
      }
      if (eof) {
        if (pos < end) {
          line = buf;
          off = pos;
          len = end - pos;
          pos = end;
          return true;
        }
        return false;
      }
      from = end - pos;
      fill();
    }
  }

  private void fill() throws IOException {
    if (pos > 0) {
      System.arraycopy(buf, pos, buf, 0, end - pos);
      end -= pos;
      pos = 0;
    }
    if (end == buf.length) buf = java.util.Arrays.copyOf(buf, buf.length * 2);
    int n = in.read(buf, end, buf.length - end);
    if (n < 0) eof = true;
    else end += n;
  }

  @Override
  public void close() throws IOException {
    in.close();
  }
}
