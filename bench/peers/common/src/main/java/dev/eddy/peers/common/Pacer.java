package dev.eddy.peers.common;

import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;

/**
 * Fixed-rate emission: event {@code i} (its line index in the file) is due at
 * {@code t0 + i / rate}, with {@code t0} taken once per JVM by whoever starts first, so parallel
 * readers share one schedule. Records are stamped with their due time, not the time they were
 * actually emitted, so a source that falls behind shows up as latency (no coordinated omission).
 */
public final class Pacer {
  private static final AtomicLong T0 = new AtomicLong();

  private final double nanosPerEvent;

  public Pacer(double eventsPerSecond) {
    this.nanosPerEvent = 1e9 / eventsPerSecond;
  }

  /** Starts the shared schedule (idempotent) and returns its origin. */
  public static long start() {
    long now = System.nanoTime();
    return T0.compareAndSet(0, now) ? now : T0.get();
  }

  /** When event {@code index} is due (System.nanoTime). */
  public long due(long index) {
    return start() + (long) (index * nanosPerEvent);
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
