package dev.eddy.peers.spark;

import dev.eddy.peers.common.Args;
import dev.eddy.peers.common.Measure;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.LongAdder;
import java.util.stream.Stream;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.ForeachWriter;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.execution.streaming.runtime.StreamingQueryWrapper;
import org.apache.spark.sql.streaming.DataStreamWriter;
import org.apache.spark.sql.streaming.StateOperatorProgress;
import org.apache.spark.sql.streaming.StreamingQuery;
import org.apache.spark.sql.streaming.StreamingQueryListener;
import org.apache.spark.sql.streaming.StreamingQueryProgress;
import org.apache.spark.sql.streaming.Trigger;

/**
 * One Nexmark query on Apache Spark Structured Streaming, {@code local[P]} in this JVM:
 *
 * <pre>
 * java ... dev.eddy.peers.spark.SparkNexmark --query q5 --events-file /tmp/e.jsonl --events 1000000
 *     [--parallelism 2] [--progress-ms 100] [--max-rows-per-batch 100000] [--state-store hdfs|rocksdb]
 *     [--rate R] [--trigger-ms 0] [--checkpoint-dir DIR] [--describe true]
 *     [--kafka-brokers 127.0.0.1:9092 --input-topic IN --output-topic OUT [--trigger micro-batch|real-time]]
 * </pre>
 *
 * <p>The events file is read by {@link EventsSource}, a DataSource V2 micro-batch source: each
 * batch takes the next {@code --max-rows-per-batch} lines (default 100,000), split into {@code P}
 * tasks. Stateful queries get one END row after the last line, which moves the watermark past
 * every window; the query runs until Spark has nothing left to do (no data and no further
 * watermark-driven batch: {@code processAllAvailable}), so every window is emitted, as in Flink
 * at the end of its input. A {@code foreach} sink counts the output rows.
 *
 * <p>Elapsed time runs from the first task of the first batch starting to read until the last
 * batch is committed: it excludes JVM and Spark start and the query's first planning (reported as
 * {@code startupMs}). Prints one JSON result line on stdout; logs go to stderr (log4j2.properties).
 * With {@code --rate R} line {@code i} arrives at {@code t0 + i / R} and a batch takes the lines
 * that have arrived; latency then comes from the progress lines only (the result line's {@code
 * latencyMs} is null: outputs carry no creation stamps).
 *
 * <p>Kafka mode ({@code --input-topic} given; {@link KafkaEvents}): the events come from topic
 * {@code IN} through Spark's Kafka source (the events file is not read) and every output row goes
 * to topic {@code OUT} as JSON through Spark's Kafka sink; the same queries, trigger, batch cap,
 * session and checkpoints as the file mode. The run ends when the source has read the END
 * marker of every partition of {@code IN} and the batches after it are done (a fair round is
 * stopped by the harness before that); {@code events} in the result is then the events read.
 * With {@code --rate R} a batch takes only the records due on the file mode's schedule ({@link
 * PacedKafkaSource}).
 *
 * <p>Real-time mode ({@code --trigger real-time}, Kafka mode, q0–q2 only; {@link RealTime}): the
 * same query and sink under Spark 4.1+'s {@code Trigger.RealTime}: one long-running task per input
 * partition reads, parses, projects and writes each record as it arrives, and the batch duration
 * ({@code --trigger-ms}, default Spark's 5 minutes) is only how often offsets are checkpointed.
 * The result line then says {@code "system":"spark-rt"}; a run to the ENDs ends when a batch has
 * read nothing, one batch duration after the batch that read them, so its {@code elapsedMs}
 * includes that idle time and its {@code eventsPerSec} is no speed (the fair harness measures from
 * the progress lines).
 */
public final class SparkNexmark {
  private SparkNexmark() {}

  private static final String HDFS = "org.apache.spark.sql.execution.streaming.state.HDFSBackedStateStoreProvider";
  private static final String ROCKSDB = "org.apache.spark.sql.execution.streaming.state.RocksDBStateStoreProvider";

  public static void main(String[] argv) throws Exception {
    long t0 = System.nanoTime();
    if (argv.length >= 1 && argv[0].equals("--list")) {
      // "--list --trigger real-time": the queries of real-time mode (spark-rt in bench/peers/index.ts).
      boolean rt = argv.length == 3 && argv[1].equals("--trigger") && argv[2].equals("real-time");
      System.out.println(String.join(",", rt ? RealTime.QUERIES : SparkQueries.NAMES));
      return;
    }
    Args args;
    KafkaEvents.Config kafka;
    RealTime realTime;
    try {
      args = Args.parse(argv, SparkQueries.NAMES);
      realTime = RealTime.of(args);
      kafka = kafkaConfig(args, Long.parseLong(args.get("max-rows-per-batch", "100000")), realTime != null);
    } catch (IllegalArgumentException e) {
      System.err.println("spark: " + e.getMessage());
      System.exit(2);
      return;
    }
    String system = realTime == null ? "spark" : "spark-rt";
    Measure.progressEvery(Long.parseLong(args.get("progress-ms", "0")));
    long maxRows = Long.parseLong(args.get("max-rows-per-batch", "100000"));
    String store = args.get("state-store", "hdfs");
    long triggerMs = Long.parseLong(args.get("trigger-ms", "0"));
    Path scratch = scratchDir(args.get("checkpoint-dir", null));
    Runtime.getRuntime().addShutdownHook(new Thread(() -> deleteQuietly(scratch), "delete-checkpoints"));

    if (kafka != null) kafka = kafka.withPartitions(KafkaEvents.partitions(kafka.brokers, kafka.inputTopic));
    if (realTime != null) {
      try {
        realTime.checkSlots(kafka.partitions, args.parallelism, kafka.inputTopic);
      } catch (IllegalArgumentException e) {
        System.err.println("spark: " + e.getMessage());
        System.exit(2);
        return;
      }
    }

    SparkSession spark = session(args, store, scratch);
    LongAdder dropped = new LongAdder();
    if (kafka != null) spark.streams().addListener(new DroppedRows(dropped));
    Dataset<Row> out =
        SparkQueries.build(
            args.query,
            new SparkQueries.Input(
                spark, args.eventsFile.toString(), args.events, args.parallelism, maxRows, args.rate, args.warmEvents, kafka));
    int outTime = out.schema().fieldIndex(SparkQueries.OUT_TIME);
    DataStreamWriter<Row> writer =
        kafka == null ? out.writeStream().foreach(new CountingWriter(outTime)) : KafkaEvents.sink(out, kafka);
    // Real-time mode takes update output mode only; for these stateless queries it is the same rows.
    StreamingQuery query =
        writer
            .queryName("nexmark-" + args.query)
            .outputMode(realTime == null ? "append" : "update")
            .trigger(
                realTime == null
                    ? Trigger.ProcessingTime(triggerMs, TimeUnit.MILLISECONDS)
                    : Trigger.RealTime(realTime.batchMs, TimeUnit.MILLISECONDS))
            .option("checkpointLocation", scratch.resolve("checkpoint").toString())
            .start();
    if (kafka == null) {
      // processAllAvailable returns once a trigger finds neither new data nor a watermark-driven
      // batch to run; in rate mode that also happens between arrivals, so it runs until the source
      // has offered its last offset, and once more for the batches after that.
      do {
        query.processAllAvailable();
      } while (!EventsSource.EventsStream.allOffered());
    } else {
      // The topic may still be filling: run until the END marker of every partition has been read.
      // In real-time mode processAllAvailable returns when a batch ends having read nothing (its end
      // offsets equal its start: MicroBatchExecution.markMicroBatchEnd), i.e. one batch duration
      // after the batch that read the ENDs.
      while (true) {
        query.processAllAvailable();
        if (KafkaEvents.ENDS.sum() >= kafka.partitions) break;
        Thread.sleep(10);
      }
    }
    // Once more for the batches a new watermark runs (stateful queries); real-time mode has none.
    if (realTime == null) query.processAllAvailable();
    long end = System.nanoTime();
    long batches = query.lastProgress() == null ? 0 : query.lastProgress().batchId() + 1;
    if (Boolean.parseBoolean(args.get("describe", "false"))) {
      // The last batches' progress (rows per operator, rows dropped by the watermark, durations).
      for (StreamingQueryProgress p : query.recentProgress()) System.err.println(p.json());
      // Kafka mode: also the last batch's plans (where the parse and the output count run).
      if (kafka != null) System.err.println(((StreamingQueryWrapper) query).streamingQuery().explainInternal(true));
    }
    query.stop();
    // The listener bus delivers the last batches' progress asynchronously (droppedByWatermark).
    if (kafka != null) spark.sparkContext().listenerBus().waitUntilEmpty(10_000);

    long events = args.events;
    if (kafka == null) {
      long read = EventsReader.LINES.sum();
      if (read != args.events) {
        System.err.println("spark: the events file has " + read + " events; --events asked for " + args.events);
        System.exit(1);
      }
    } else {
      events = Measure.EVENTS_IN.sum();
      if (events != args.events) {
        System.err.println("spark: topic " + kafka.inputTopic + " held " + events + " events; --events said " + args.events);
      }
    }
    Map<String, Object> extra = new LinkedHashMap<>();
    extra.put("parallelism", args.parallelism);
    extra.put("startupMs", Math.round((Measure.startNanos() - t0) / 1e6));
    extra.put("batches", batches);
    if (realTime == null) extra.put("maxRowsPerBatch", maxRows);
    else {
      extra.put("trigger", "real-time");
      extra.put("batchDurationMs", realTime.batchMs);
    }
    extra.put("stateStore", store);
    if (args.rate > 0) extra.put("rate", args.rate);
    if (args.warmEvents > 0) extra.put("warmEvents", args.warmEvents);
    if (kafka != null) {
      extra.put("inputTopic", kafka.inputTopic);
      extra.put("outputTopic", kafka.outputTopic);
      extra.put("droppedByWatermark", dropped.sum());
    }
    extra.put("sparkVersion", spark.version());
    System.out.println(Measure.result(system, args.query, events, Measure.OUTPUTS.sum(), end, false, extra));
    System.out.flush();
    System.exit(0);
  }

  /** Kafka mode's flags, or null (file mode) when {@code --input-topic} is not given. */
  private static KafkaEvents.Config kafkaConfig(Args args, long maxRows, boolean realTime) {
    String in = args.get("input-topic", null);
    if (in == null) return null;
    String out = args.get("output-topic", null);
    if (out == null) throw new IllegalArgumentException("--input-topic needs --output-topic");
    return new KafkaEvents.Config(
        args.get("kafka-brokers", "127.0.0.1:9092"), in, out, maxRows, args.rate, args.events, 0, realTime);
  }

  /**
   * Sums the rows Spark's stateful operators dropped as later than the watermark, over every batch
   * (Kafka mode's result: input partitions that fall behind one another would lose rows here).
   */
  static final class DroppedRows extends StreamingQueryListener {
    private final LongAdder dropped;

    DroppedRows(LongAdder dropped) {
      this.dropped = dropped;
    }

    @Override
    public void onQueryStarted(QueryStartedEvent event) {}

    @Override
    public void onQueryProgress(QueryProgressEvent event) {
      for (StateOperatorProgress op : event.progress().stateOperators()) dropped.add(op.numRowsDroppedByWatermark());
    }

    @Override
    public void onQueryIdle(QueryIdleEvent event) {}

    @Override
    public void onQueryTerminated(QueryTerminatedEvent event) {}
  }

  /**
   * The session: {@code local[P]}, shuffle (and so state store) partitions = P, no UI, Kryo for
   * what Spark serializes as objects, scratch space and checkpoints in memory when /dev/shm exists.
   */
  static SparkSession session(Args args, String store, Path scratch) {
    String provider;
    switch (store) {
      case "hdfs":
        provider = HDFS;
        break;
      case "rocksdb":
        provider = ROCKSDB;
        break;
      default:
        throw new IllegalArgumentException("--state-store must be hdfs or rocksdb; received " + store);
    }
    int p = args.parallelism;
    return SparkSession.builder()
        .master("local[" + p + "]")
        .appName("nexmark-" + args.query)
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.streaming.ui.enabled", "false")
        // Every micro-batch is a job and an SQL execution; keep few of them for the status store.
        .config("spark.ui.retainedJobs", "50")
        .config("spark.ui.retainedStages", "50")
        .config("spark.ui.retainedTasks", "1000")
        .config("spark.sql.ui.retainedExecutions", "20")
        .config("spark.sql.streaming.numRecentProgressUpdates", "10")
        .config("spark.default.parallelism", String.valueOf(p))
        .config("spark.sql.shuffle.partitions", String.valueOf(p))
        .config("spark.serializer", "org.apache.spark.serializer.KryoSerializer")
        .config("spark.local.dir", scratch.resolve("local").toString())
        .config("spark.sql.streaming.stateStore.providerClass", provider)
        .config("spark.sql.streaming.stateStore.rocksdb.changelogCheckpointing.enabled", "true")
        .config("spark.sql.streaming.minBatchesToRetain", "10")
        // Local files without .crc checksum files beside every offset, commit and state file.
        .config("spark.hadoop.fs.file.impl", "org.apache.hadoop.fs.RawLocalFileSystem")
        .config("spark.hadoop.fs.AbstractFileSystem.file.impl", "org.apache.hadoop.fs.local.RawLocalFs")
        .getOrCreate();
  }

  /** The directory for checkpoints and Spark's scratch files: in /dev/shm (memory) when it exists. */
  private static Path scratchDir(String given) throws IOException {
    if (given != null) {
      Path p = Path.of(given);
      Files.createDirectories(p);
      return Files.createTempDirectory(p, "spark-nexmark-");
    }
    Path shm = Path.of("/dev/shm");
    if (Files.isDirectory(shm) && Files.isWritable(shm)) return Files.createTempDirectory(shm, "spark-nexmark-");
    return Files.createTempDirectory("spark-nexmark-");
  }

  private static void deleteQuietly(Path dir) {
    try (Stream<Path> s = Files.walk(dir)) {
      s.sorted(Comparator.reverseOrder()).forEach(f -> f.toFile().delete());
    } catch (IOException | RuntimeException e) {
      // best effort at exit
    }
  }

  /** Counts the output rows and reports the newest output event time; discards the rows. */
  static final class CountingWriter extends ForeachWriter<Row> {
    private static final long serialVersionUID = 1L;
    private final int outTime;

    CountingWriter(int outTime) {
      this.outTime = outTime;
    }

    @Override
    public boolean open(long partitionId, long epochId) {
      return true;
    }

    @Override
    public void process(Row row) {
      Measure.OUTPUTS.increment();
      Measure.outputAt(row.getLong(outTime));
    }

    @Override
    public void close(Throwable error) {}
  }
}
