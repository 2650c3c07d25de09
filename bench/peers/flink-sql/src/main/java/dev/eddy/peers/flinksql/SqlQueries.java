package dev.eddy.peers.flinksql;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * The Nexmark queries as nexmark/nexmark's Flink SQL texts (the .sql resources beside this class,
 * copied from nexmark-flink/src/main/resources/queries; changes to them are marked "eddy:"), and
 * what the counting sink needs to know about each one's output.
 */
public final class SqlQueries {
  private SqlQueries() {}

  /** The queries implemented here (bench/peers/index.ts lists the same). */
  public static final List<String> NAMES =
      List.of("q0", "q1", "q2", "q3", "q3r", "q4", "q4r", "q5", "q7", "q7r", "q8", "q9");

  /**
   * eddy's q3 bounds its join in time, its q4 averages closed auctions only and its q7 takes a
   * window's own bids only; its q3r, q4r and q7r have nexmark's semantics, so Flink SQL runs
   * nexmark's q3, q4 and q7 texts under both names (compared with eddy's query of the same name).
   */
  private static String textOf(String query) {
    return query.endsWith("r") ? query.substring(0, query.length() - 1) : query;
  }

  /**
   * Which output column is an output's event time, and what to add to it (ms), chosen as the
   * DataStream peer (FlinkQueries) stamps the same query's outputs: the event's time for q0-q2, the
   * later of the two joined events for q3, the window's end - 1 for q5, q7 and q8, the window's end
   * for q7r. q4's updates carry no time (its progress lines show none); q9's updates are each
   * caused by a new best bid, so they carry that bid's time.
   */
  static final class OutputTime {
    final String column;
    final long offsetMs;

    OutputTime(String column, long offsetMs) {
      this.column = column;
      this.offsetMs = offsetMs;
    }
  }

  private static final OutputTime NONE = new OutputTime(null, 0);

  private static final Map<String, OutputTime> TIMES =
      Map.ofEntries(
          Map.entry("q0", new OutputTime("dateTime", 0)),
          Map.entry("q1", new OutputTime("dateTime", 0)),
          Map.entry("q2", new OutputTime("dateTime", 0)),
          Map.entry("q3", new OutputTime("dateTime", 0)),
          Map.entry("q3r", new OutputTime("dateTime", 0)),
          Map.entry("q4", NONE),
          Map.entry("q4r", NONE),
          Map.entry("q5", new OutputTime("endtime", -1)),
          Map.entry("q7", new OutputTime("window_end", -1)),
          // q7r: the window's end itself, as eddy's q7r and the peers stamp its rows (a bid at
          // exactly the end can be one of them).
          Map.entry("q7r", new OutputTime("window_end", 0)),
          // stime is the window's start: its end - 1 is start + 10 s - 1.
          Map.entry("q8", new OutputTime("stime", 9_999)),
          Map.entry("q9", new OutputTime("bid_dateTime", 0)));

  /**
   * nexmark's views (person, auction, bid) over {@code table}, as its QueryRunner substitutes
   * ${NEXMARK_TABLE}.
   */
  static List<String> views(String table) throws IOException {
    return statements(resource("ddl_views.sql").replace("${NEXMARK_TABLE}", table));
  }

  /**
   * The statements of {@code query} (CREATE TABLE for its sink, then its INSERT), with the sink's
   * 'blackhole' connector replaced with the counting one. {@code rowsOut}: also write every row
   * the sink receives to this file (for checks), or null.
   */
  static List<String> query(String query, String rowsOut) throws IOException {
    return query(query, rowsOut, Map.of());
  }

  /**
   * As {@link #query(String, String)}, with further options of the counting sink (Kafka mode:
   * CountingSinkFactory's {@code kafka.*}).
   */
  static List<String> query(String query, String rowsOut, Map<String, String> sinkOptions) throws IOException {
    OutputTime time = TIMES.get(query);
    if (time == null) throw new IllegalArgumentException("no SQL text for " + query);
    StringBuilder options = new StringBuilder("'connector' = '" + CountingSinkFactory.IDENTIFIER + "'");
    if (time.column != null) {
      options.append(",\n  'event-time.column' = '").append(time.column).append('\'');
      options.append(",\n  'event-time.offset-ms' = '").append(time.offsetMs).append('\'');
    }
    if (rowsOut != null) options.append(",\n  'rows-out' = '").append(rowsOut.replace("'", "''")).append('\'');
    for (Map.Entry<String, String> o : new java.util.TreeMap<>(sinkOptions).entrySet()) {
      options.append(",\n  '").append(o.getKey()).append("' = '").append(o.getValue().replace("'", "''")).append('\'');
    }
    String text = resource(textOf(query) + ".sql");
    String blackhole = "'connector' = 'blackhole'";
    if (!text.contains(blackhole)) throw new IllegalStateException(query + ".sql has no blackhole sink");
    return statements(text.replace(blackhole, options.toString()));
  }

  private static String resource(String name) throws IOException {
    try (InputStream in = SqlQueries.class.getResourceAsStream("queries/" + name)) {
      if (in == null) throw new IOException("missing resource queries/" + name);
      return new String(in.readAllBytes(), StandardCharsets.UTF_8);
    }
  }

  /**
   * Splits a script into statements at the semicolons that end a line, dropping whole-line
   * comments (the texts have no semicolon inside a string or a comment).
   */
  static List<String> statements(String script) {
    List<String> out = new ArrayList<>();
    StringBuilder current = new StringBuilder();
    for (String line : script.split("\n", -1)) {
      if (line.strip().startsWith("--")) continue;
      String trimmed = line.stripTrailing();
      if (trimmed.endsWith(";")) {
        current.append(trimmed, 0, trimmed.length() - 1);
        if (!current.toString().isBlank()) out.add(current.toString().strip());
        current.setLength(0);
      } else {
        current.append(line).append('\n');
      }
    }
    if (!current.toString().isBlank()) out.add(current.toString().strip());
    return out;
  }
}
