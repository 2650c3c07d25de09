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
