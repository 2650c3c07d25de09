package dev.eddy.peers.common;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * The command line both peers share: {@code --query q5 --events-file F --events N
 * [--parallelism P] [--rate R] [--warm-events W]} plus peer-specific flags.
 */
public final class Args {
  public final String query;
  public final Path eventsFile;
  public final long events;
  public final int parallelism;
  /** Events/s; 0 = maximum rate. */
  public final double rate;
  /**
   * With {@code --rate}: the first lines, read at the maximum rate before the schedule starts (a
   * paced round's warm-up, so that a cold JVM does not start it with a backlog); 0 = none.
   */
  public final long warmEvents;

  private final Map<String, String> all;

  private Args(Map<String, String> all, List<String> queries) {
    this.all = all;
    this.query = require("query");
    if (!queries.contains(query)) {
      throw new IllegalArgumentException(
          "unknown query \"" + query + "\"; this peer has " + String.join(", ", queries));
    }
    this.eventsFile = Path.of(require("events-file"));
    if (!Files.isReadable(eventsFile)) {
      throw new IllegalArgumentException("events file " + eventsFile + " is not readable");
    }
    this.events = Long.parseLong(require("events"));
    this.parallelism =
        Integer.parseInt(all.getOrDefault("parallelism", String.valueOf(Runtime.getRuntime().availableProcessors())));
    this.rate = Double.parseDouble(all.getOrDefault("rate", "0"));
    this.warmEvents = Long.parseLong(all.getOrDefault("warm-events", "0"));
    if (events <= 0 || parallelism <= 0 || rate < 0 || warmEvents < 0) {
      throw new IllegalArgumentException(
          "--events and --parallelism must be > 0, --rate and --warm-events >= 0");
    }
  }

  public static Args parse(String[] argv, List<String> queries) {
    Map<String, String> all = new HashMap<>();
    for (int i = 0; i < argv.length; i++) {
      String a = argv[i];
      if (!a.startsWith("--") || i + 1 >= argv.length) {
        throw new IllegalArgumentException("expected --flag value pairs; received " + a);
      }
      all.put(a.substring(2), argv[++i]);
    }
    return new Args(all, queries);
  }

  public String get(String name, String fallback) {
    return all.getOrDefault(name, fallback);
  }

  private String require(String name) {
    String v = all.get(name);
    if (v == null) throw new IllegalArgumentException("missing --" + name);
    return v;
  }
}
