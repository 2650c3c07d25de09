package dev.eddy.peers.common;

import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;

/**
 * Fixed-rate emission: event {@code i} (its line index in the file) is due at
 * {@code t0 + (i - warm) / rate}, with {@code t0} taken once per JVM by whoever first asks for a
 * line at or past {@code warm}, so parallel readers share one schedule. The first {@code warm}
 * lines (a paced round's warm-up) are due at once: the JVM warms up at its maximum rate and the
 * schedule starts when it is warm. Records are stamped with their due time, not the time they
 * were actually emitted, so a source that falls behind shows up as latency (no coordinated
 * omission).
 */
public final class Pacer {
  private static final AtomicLong T0 = new AtomicLong();

  private final double nanosPerEvent;
  private final long warm;

  public Pacer(double eventsPerSecond) {
    this(eventsPerSecond, 0);
  }

  public Pacer(double eventsPerSecond, long warmEvents) {
    this.nanosPerEvent = 1e9 / eventsPerSecond;
    this.warm = warmEvents;
  }

  /** Starts the shared schedule (idempotent) and returns its origin. */
  public static long start() {
    long now = System.nanoTime();
    return T0.compareAndSet(0, now) ? now : T0.get();
  }

  /** When event {@code index} is due (System.nanoTime): now, for a warm-up line. */
  public long due(long index) {
    if (index < warm) return System.nanoTime();
    return start() + (long) ((index - warm) * nanosPerEvent);
  }

  /**
   * Sleeps until {@code due}. Parking has a granularity of ~50-100 µs, so events come in small
   * bunches; they still carry their own due time.
   */
  public static void waitUntil(long due) {
    long d;
    while ((d = due - System.nanoTime()) > 0) LockSupport.parkNanos(d);
  }
}
