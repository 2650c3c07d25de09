package dev.eddy.peers.flink;

import dev.eddy.peers.common.Args;
import dev.eddy.peers.common.Event;
import dev.eddy.peers.common.EventParser;
import dev.eddy.peers.common.LineReader;
import dev.eddy.peers.common.Measure;
import dev.eddy.peers.common.Pacer;
import dev.eddy.peers.common.Stamped;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import org.apache.flink.api.common.eventtime.WatermarkStrategy;
import org.apache.flink.api.common.state.ListState;
import org.apache.flink.api.common.state.ListStateDescriptor;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.configuration.CheckpointingOptions;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.ExecutionOptions;
import org.apache.flink.configuration.PipelineOptions;
import org.apache.flink.configuration.StateBackendOptions;
import org.apache.flink.runtime.state.FunctionInitializationContext;
import org.apache.flink.runtime.state.FunctionSnapshotContext;
import org.apache.flink.streaming.api.checkpoint.CheckpointedFunction;
import org.apache.flink.streaming.api.datastream.DataStream;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.streaming.api.functions.sink.legacy.RichSinkFunction;
import org.apache.flink.streaming.api.functions.source.legacy.RichParallelSourceFunction;

/**
 * One Nexmark query on Apache Flink, in a local MiniCluster in this JVM:
 *
 * <pre>
 * java ... dev.eddy.peers.flink.FlinkNexmark --query q5 --events-file /tmp/e.jsonl --events 1000000
 *     [--parallelism 2] [--rate 50000]
 *     [--kafka-brokers 127.0.0.1:9092 --input-topic IN --output-topic OUT]
 * </pre>
 *
 * <p>Kafka mode ({@code --input-topic}, {@link FlinkKafka}): a KafkaSource reads the events from
 * IN (one partition per subtask, the same parse, count and watermarks) and a KafkaSink writes each
 * output as a JSON object to OUT, counted when it is handed to the producer; the queries are the
 * same. The rest of this comment describes the file mode.
 *
 * <p>The source has the run's parallelism; subtask {@code i} reads every {@code P}-th line of the
 * file from line {@code i} (so each is in time order, like a Kafka partition) and parses it.
 * Event time is {@code dateTime} with monotonous watermarks (Flink's default periodic interval,
 * 200 ms). At the end of the input the source finishes and Flink's final watermark closes every
 * window. The sink counts outputs; with {@code --rate} it also records each output's latency,
 * now minus the scheduled creation time of the newest input event it derives from.
 *
 * <p>Elapsed time runs from the first source subtask starting to read until {@code execute}
 * returns (the job finished): it excludes JVM start and the job's submission and deployment, and
 * includes the job's shutdown (a few ms). Prints one JSON result line on stdout.
 */
public final class FlinkNexmark {
  private FlinkNexmark() {}

  public static void main(String[] argv) throws Exception {
    if (argv.length == 1 && argv[0].equals("--list")) {
      System.out.println(String.join(",", FlinkQueries.NAMES));
      return;
    }
    Args args;
    try {
      args = Args.parse(argv, FlinkQueries.NAMES);
    } catch (IllegalArgumentException e) {
      System.err.println("flink: " + e.getMessage());
      System.exit(2);
      return;
    }
    boolean latency = args.rate > 0;
    boolean kafka = FlinkKafka.enabled(args);
    String outputTopic = null;
    if (kafka) {
      try {
        outputTopic = FlinkKafka.outputTopic(args);
      } catch (IllegalArgumentException e) {
        System.err.println("flink: " + e.getMessage());
        System.exit(2);
        return;
      }
    }
    Measure.progressEvery(Long.parseLong(args.get("progress-ms", "0")));
    Configuration conf = new Configuration();
    // As nexmark/nexmark's Flink setup: records are not copied between chained operators.
    conf.set(PipelineOptions.OBJECT_REUSE, true);
    // Latency settings (the fair method's latency rounds; Flink's defaults otherwise: 100 ms and
    // 200 ms): how long a network buffer may wait before it is sent, and how often sources emit
    // watermarks (a window closes at the first watermark past its end).
    String bufferTimeout = args.get("buffer-timeout-ms", "");
    if (!bufferTimeout.isEmpty())
      conf.set(ExecutionOptions.BUFFER_TIMEOUT, java.time.Duration.ofMillis(Long.parseLong(bufferTimeout)));
    String watermarkInterval = args.get("watermark-interval-ms", "");
    if (!watermarkInterval.isEmpty())
      conf.set(
          PipelineOptions.AUTO_WATERMARK_INTERVAL,
          java.time.Duration.ofMillis(Long.parseLong(watermarkInterval)));
    // --checkpoint-ms N (the fair method's "checkpoint every 10 s" mode): exactly-once checkpoints
    // of heap state to the local file system (--checkpoint-dir), as eddy's checkpoints go to a
    // local directory. Without it nothing is checkpointed (the "none" mode).
    long checkpointMs = Long.parseLong(args.get("checkpoint-ms", "0"));
    boolean checkpointing = checkpointMs > 0;
    if (checkpointing) {
      conf.set(StateBackendOptions.STATE_BACKEND, "hashmap");
      conf.set(CheckpointingOptions.CHECKPOINT_STORAGE, "filesystem");
      conf.set(
          CheckpointingOptions.CHECKPOINTS_DIRECTORY,
          Path.of(args.get("checkpoint-dir", "/tmp/eddy-peers-flink-checkpoints")).toUri().toString());
      conf.set(CheckpointingOptions.CHECKPOINTING_INTERVAL, java.time.Duration.ofMillis(checkpointMs));
      conf.set(CheckpointingOptions.MAX_RETAINED_CHECKPOINTS, 3);
    }
    StreamExecutionEnvironment env =
        StreamExecutionEnvironment.createLocalEnvironment(args.parallelism, conf);
    DataStream<Event> events;
    if (kafka) {
      // The same watermarks as the file mode's, generated in the source (per partition, one per
      // subtask: the same as per subtask after it), as a KafkaSource is given its WatermarkStrategy.
      events =
          env.fromSource(
              FlinkKafka.source(args, "flink", e -> e, TypeInformation.of(Event.class)),
              WatermarkStrategy.<Event>forMonotonousTimestamps()
                  .withTimestampAssigner((e, previous) -> e.time()),
              "events");
    } else {
      events =
          env.addSource(
                  new FileSource<Event>(
                      args.eventsFile.toString(), args.events, args.rate, args.warmEvents, checkpointing, e -> e),
                  "events",
                  TypeInformation.of(Event.class))
              .assignTimestampsAndWatermarks(
                  WatermarkStrategy.<Event>forMonotonousTimestamps()
                      .withTimestampAssigner((e, previous) -> e.time()))
              .name("event-time");
    }
    @SuppressWarnings("unchecked")
    DataStream<Stamped> out = (DataStream<Stamped>) (DataStream<?>) FlinkQueries.build(args.query, events);
    if (kafka) {
      out.sinkTo(
              FlinkKafka.sink(
                  FlinkKafka.brokers(args), checkpointing, new FlinkKafka.JsonRecords(outputTopic, latency)))
          .name("kafka-out");
    } else {
      out.addSink(new CountingSink(latency)).name("count");
    }

    long submitted = System.nanoTime();
    env.execute("nexmark-" + args.query);
    long end = System.nanoTime();

    long read = Measure.EVENTS_IN.sum();
    if (kafka) {
      // The topic's events, up to the ENDs (--events is not read; a difference is only noted).
      if (read == 0) {
        System.err.println("flink: the input topic " + args.get("input-topic", "") + " held no events");
        System.exit(1);
      }
      if (read != args.events)
        System.err.println("flink: read " + read + " events from the input topic; --events says " + args.events);
    } else if (read != args.events) {
      System.err.println(
          "flink: the events file has " + read + " events; --events asked for " + args.events);
      System.exit(1);
    }
    Map<String, Object> extra = new LinkedHashMap<>();
    extra.put("parallelism", args.parallelism);
    extra.put("startupMs", Math.round((Measure.startNanos() - submitted) / 1e6));
    extra.put("flinkVersion", org.apache.flink.runtime.util.EnvironmentInformation.getVersion());
    if (kafka) {
      extra.put("inputTopic", args.get("input-topic", ""));
      extra.put("outputTopic", outputTopic);
      extra.put("deliveryGuarantee", FlinkKafka.guarantee(checkpointing));
    }
    System.out.println(
        Measure.result(
            "flink", args.query, kafka ? read : args.events, Measure.OUTPUTS.sum(), end, latency, extra));
    System.out.flush();
    System.exit(0);
  }

  /**
   * Reads and parses this subtask's share of the events file, paced in rate mode. With
   * checkpoints its state is the index of the next line to read, and it emits under the
   * checkpoint lock (as a legacy source must for its position to match what it emitted). Each
   * event is emitted as {@code convert} turns it: itself here, a table row in the Flink SQL peer.
   */
  public static final class FileSource<T> extends RichParallelSourceFunction<T>
      implements CheckpointedFunction {
    private static final long serialVersionUID = 1L;
    /** How many subtasks are ready to read (one JVM: the MiniCluster runs them all here). */
    private static final int[] READY = new int[1];

    private final String path;
    private final long limit;
    private final double rate;
    private final long warm;
    private final boolean checkpointing;
    private final EventTo<T> convert;
    private volatile boolean running = true;
    private transient ListState<Long> positionState;
    /** The index of the next line of the file this subtask has not emitted (restored, then kept). */
    private long next;

    public FileSource(
        String path, long limit, double rate, long warm, boolean checkpointing, EventTo<T> convert) {
      this.path = path;
      this.limit = limit;
      this.rate = rate;
      this.warm = warm;
      this.checkpointing = checkpointing;
      this.convert = convert;
    }

    @Override
    public void initializeState(FunctionInitializationContext context) throws Exception {
      positionState =
          context.getOperatorStateStore().getListState(new ListStateDescriptor<>("next-line", Long.class));
      for (Long v : positionState.get()) next = Math.max(next, v);
    }

    @Override
    public void snapshotState(FunctionSnapshotContext context) throws Exception {
      positionState.update(java.util.List.of(next));
    }

    @Override
    public void run(SourceContext<T> ctx) throws Exception {
      int part = getRuntimeContext().getTaskInfo().getIndexOfThisSubtask();
      int parts = getRuntimeContext().getTaskInfo().getNumberOfParallelSubtasks();
      Pacer pacer = rate > 0 ? new Pacer(rate, warm) : null;
      EventParser parser = new EventParser();
      // Subtasks are deployed one after another; start reading together so that the shared
      // schedule (rate mode) and the timed section begin when all of them run.
      synchronized (READY) {
        READY[0]++;
        READY.notifyAll();
        long deadline = System.nanoTime() + 60_000_000_000L;
        while (READY[0] < parts && running && System.nanoTime() < deadline) READY.wait(100);
      }
      Measure.markStart();
      try (LineReader r = new LineReader(Path.of(path), limit, part, parts)) {
        while (running && r.next()) {
          if (r.index < next) continue; // before the restored position (same parallelism)
          Event e = parser.parse(r.line, r.off, r.len);
          if (pacer != null) {
            long due = pacer.due(r.index);
            Pacer.waitUntil(due);
            e.stamp(due);
          }
          // Counted when it enters the pipeline (its arrival, for the fair method's latency).
          Measure.EVENTS_IN.increment();
          T out = convert.apply(e);
          if (checkpointing) {
            synchronized (ctx.getCheckpointLock()) {
              ctx.collect(out);
              next = r.index + 1;
            }
          } else {
            ctx.collect(out);
          }
        }
      }
    }

    @Override
    public void cancel() {
      running = false;
    }
  }

  /** What a {@link FileSource} emits for each parsed event. */
  @FunctionalInterface
  public interface EventTo<T> extends java.io.Serializable {
    T apply(Event e);
  }

  /** Counts outputs (and their latency in rate mode); discards them. */
  static final class CountingSink extends RichSinkFunction<Stamped> {
    private static final long serialVersionUID = 1L;
    private final boolean latency;

    CountingSink(boolean latency) {
      this.latency = latency;
    }

    @Override
    public void invoke(Stamped value, Context context) {
      Measure.output(value, latency);
      Long t = context.timestamp();
      if (t != null) Measure.outputAt(t);
    }
  }
}
