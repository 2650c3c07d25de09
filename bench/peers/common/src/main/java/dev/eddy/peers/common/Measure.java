package dev.eddy.peers.common;

import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.LongAdder;
import org.HdrHistogram.Histogram;
import org.HdrHistogram.Recorder;

/**
 * The measurements of one run, process-wide (sources and sinks of every parallel instance report
 * here): input events, outputs, per-output latency, per-second input throughput, process CPU time
 * and peak RSS, printed at the end as the one JSON result line.
 */
public final class Measure {
  private Measure() {}

  /** Input events read and handed to the pipeline. */
  public static final LongAdder EVENTS_IN = new LongAdder();
  /** Output records that reached the sink. */
  public static final LongAdder OUTPUTS = new LongAdder();

  /** Latency in microseconds (auto-resizing, 3 significant digits). */
  private static final Recorder LATENCY = new Recorder(3);

  private static final AtomicBoolean STARTED = new AtomicBoolean();
  private static volatile long startNanos;
  private static volatile long startCpuNanos;
  private static volatile long startBrokerCpuMs = -1;
  private static long brokerPid = -1;
  private static final List<Long> SAMPLES = new ArrayList<>();
  private static Thread sampler;

  // ---- Fair method (issue 14): progress lines for the harness -----------------------------------

  /** Wall clock at class load (epoch µs) and the System.nanoTime it corresponds to. */
  private static final long EPOCH0_MICROS;

  private static final long NANO0;

  static {
    java.time.Instant now = java.time.Instant.now();
    NANO0 = System.nanoTime();
    EPOCH0_MICROS = now.getEpochSecond() * 1_000_000L + now.getNano() / 1000;
  }

  private static volatile long progressMs;
  private static final Object MAX_LOCK = new Object();
  /** The largest event time of an output so far, and when (System.nanoTime) it reached the sink. */
  private static volatile long maxOutTime = Long.MIN_VALUE;

  private static volatile long maxOutAt;

  /** The epoch time in µs of a System.nanoTime reading (one clock for every line of this process). */
  public static long epochMicros(long nanos) {
    return EPOCH0_MICROS + (nanos - NANO0) / 1000;
  }

  /**
   * Prints a progress line every {@code ms} once the timed section starts ({@link #markStart}):
   * {@code @p <epochµs> <eventsIn> <outputs> <maxOutputEventTime> <epochµs it was emitted>} on
   * stdout. The harness takes warm-up, the steady-state window, throughput and latency from these
   * lines, the same way for every system (bench/nexmark/harness/steady.ts). 0: none.
   */
  public static void progressEvery(long ms) {
    progressMs = ms;
  }

  /** An output with event time {@code eventTime} reached the sink now. */
  public static void outputAt(long eventTime) {
    if (eventTime > maxOutTime) {
      synchronized (MAX_LOCK) {
        if (eventTime > maxOutTime) {
          maxOutAt = System.nanoTime();
          maxOutTime = eventTime;
        }
      }
    }
  }

  private static void startProgress() {
    long ms = progressMs;
    if (ms <= 0) return;
    Thread t =
        new Thread(
            () -> {
              long tick = System.nanoTime();
              StringBuilder sb = new StringBuilder(96);
              try {
                while (true) {
                  long now = System.nanoTime();
                  long in = EVENTS_IN.sum();
                  long out = OUTPUTS.sum();
                  long maxT;
                  long maxAt;
                  synchronized (MAX_LOCK) {
                    maxT = maxOutTime;
                    maxAt = maxOutAt;
                  }
                  sb.setLength(0);
                  sb.append("@p ").append(epochMicros(now)).append(' ').append(in).append(' ').append(out);
                  if (maxT == Long.MIN_VALUE) sb.append(" - -");
                  else sb.append(' ').append(maxT).append(' ').append(epochMicros(maxAt));
                  synchronized (System.out) {
                    System.out.println(sb);
                    System.out.flush();
                  }
                  tick += ms * 1_000_000L;
                  long sleep = tick - System.nanoTime();
                  if (sleep > 0) Thread.sleep(sleep / 1_000_000, (int) (sleep % 1_000_000));
                }
              } catch (InterruptedException e) {
                // the run is over
              }
            },
            "progress");
    t.setDaemon(true);
    t.start();
  }

  /** The Kafka broker's pid, to report its CPU time too (Kafka Streams: it does the repartitioning). */
  public static void watchBroker(long pid) {
    brokerPid = pid;
  }

  /** Marks the start of the timed section (first call wins) and starts the throughput sampler. */
  public static void markStart() {
    if (!STARTED.compareAndSet(false, true)) return;
    startCpuNanos = processCpuNanos();
    startBrokerCpuMs = brokerCpuMs();
    startNanos = System.nanoTime();
    sampler =
        new Thread(
            () -> {
              long last = 0;
              long tick = startNanos;
              try {
                while (true) {
                  tick += 1_000_000_000L;
                  long sleep = tick - System.nanoTime();
                  if (sleep > 0) Thread.sleep(sleep / 1_000_000, (int) (sleep % 1_000_000));
                  long now = EVENTS_IN.sum();
                  synchronized (SAMPLES) {
                    SAMPLES.add(now - last);
                  }
                  last = now;
                }
              } catch (InterruptedException e) {
                // the run is over
              }
            },
            "throughput-sampler");
    sampler.setDaemon(true);
    sampler.start();
    startProgress();
  }

  public static boolean started() {
    return STARTED.get();
  }

  public static long startNanos() {
    return startNanos;
  }

  /** Records the latency of an output derived from events created at {@code createdNanos}. */
  public static void recordLatency(long createdNanos) {
    long micros = (System.nanoTime() - createdNanos) / 1000;
    LATENCY.recordValue(micros < 0 ? 0 : micros);
  }

  /** One output reached the sink. */
  public static void output(Stamped record, boolean latency) {
    OUTPUTS.increment();
    if (latency) recordLatency(record.created());
  }

  public static long processCpuNanos() {
    java.lang.management.OperatingSystemMXBean os = ManagementFactory.getOperatingSystemMXBean();
    if (os instanceof com.sun.management.OperatingSystemMXBean) {
      return ((com.sun.management.OperatingSystemMXBean) os).getProcessCpuTime();
    }
    return -1;
  }

  /** Peak resident set size of this process (VmHWM), in MB. */
  public static double peakRssMb() {
    try {
      for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
        if (line.startsWith("VmHWM:")) {
          return Long.parseLong(line.replaceAll("[^0-9]", "")) / 1024.0;
        }
      }
    } catch (IOException | NumberFormatException e) {
      // not Linux
    }
    return -1;
  }

  private static long brokerCpuMs() {
    if (brokerPid <= 0) return -1;
    try {
      String stat = Files.readString(Path.of("/proc/" + brokerPid + "/stat"));
      String[] f = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
      // utime and stime are fields 14 and 15 of /proc/pid/stat, in clock ticks (100 Hz on Linux).
      return (Long.parseLong(f[11]) + Long.parseLong(f[12])) * 10;
    } catch (IOException | RuntimeException e) {
      return -1;
    }
  }

  /**
   * The result line. {@code endNanos} ends the timed section; {@code extra} adds fields (numbers or
   * strings) after the standard ones.
   */
  public static String result(
      String system,
      String query,
      long events,
      long outputs,
      long endNanos,
      boolean latency,
      Map<String, Object> extra) {
    if (sampler != null) sampler.interrupt();
    long cpu = processCpuNanos() - startCpuNanos;
    long brokerCpu = startBrokerCpuMs >= 0 ? brokerCpuMs() - startBrokerCpuMs : -1;
    double elapsedMs = (endNanos - startNanos) / 1e6;
    List<Long> samples;
    synchronized (SAMPLES) {
      samples = new ArrayList<>(SAMPLES);
    }
    // The last, partial second, scaled to a rate when it is long enough to mean something.
    long full = samples.size();
    double partialMs = elapsedMs - full * 1000.0;
    long counted = 0;
    for (long s : samples) counted += s;
    if (partialMs >= 100 && EVENTS_IN.sum() > counted) {
      samples.add(Math.round((EVENTS_IN.sum() - counted) * 1000.0 / partialMs));
    }
    StringBuilder sb = new StringBuilder();
    sb.append("{\"system\":\"").append(system).append('"');
    sb.append(",\"query\":\"").append(query).append('"');
    sb.append(",\"events\":").append(events);
    sb.append(",\"outputs\":").append(outputs);
    sb.append(",\"elapsedMs\":").append(fmt(elapsedMs));
    sb.append(",\"eventsPerSec\":").append(fmt(events / (elapsedMs / 1000.0)));
    sb.append(",\"cpuMs\":").append(fmt(cpu / 1e6));
    sb.append(",\"peakRssMb\":").append(fmt(peakRssMb()));
    if (latency) {
      Histogram h = LATENCY.getIntervalHistogram();
      sb.append(",\"latencyMs\":{\"p50\":").append(fmt(h.getValueAtPercentile(50) / 1000.0));
      sb.append(",\"p99\":").append(fmt(h.getValueAtPercentile(99) / 1000.0));
      sb.append(",\"p999\":").append(fmt(h.getValueAtPercentile(99.9) / 1000.0));
      sb.append(",\"max\":").append(fmt(h.getMaxValue() / 1000.0));
      sb.append(",\"count\":").append(h.getTotalCount()).append('}');
    } else {
      sb.append(",\"latencyMs\":null");
    }
    sb.append(",\"samples\":[");
    for (int i = 0; i < samples.size(); i++) sb.append(i == 0 ? "" : ",").append(samples.get(i));
    sb.append(']');
    if (brokerCpu >= 0) sb.append(",\"brokerCpuMs\":").append(brokerCpu);
    for (Map.Entry<String, Object> e : extra.entrySet()) {
      sb.append(",\"").append(e.getKey()).append("\":");
      Object v = e.getValue();
      if (v instanceof Number) sb.append(v);
      else sb.append('"').append(String.valueOf(v).replace("\\", "\\\\").replace("\"", "\\\"")).append('"');
    }
    return sb.append('}').toString();
  }

  private static String fmt(double v) {
    if (Double.isNaN(v) || Double.isInfinite(v)) return "null";
    return String.format(Locale.ROOT, "%.3f", v).replaceAll("\\.?0+$", "");
  }
}
