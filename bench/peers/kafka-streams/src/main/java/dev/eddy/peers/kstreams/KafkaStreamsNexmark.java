package dev.eddy.peers.kstreams;

import dev.eddy.peers.common.Args;
import dev.eddy.peers.common.Event;
import dev.eddy.peers.common.EventParser;
import dev.eddy.peers.common.LineReader;
import dev.eddy.peers.common.Measure;
import dev.eddy.peers.common.Pacer;
import dev.eddy.peers.common.Stamped;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.UUID;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.Metric;
import org.apache.kafka.common.MetricName;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.header.internals.RecordHeaders;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.Topology;
import org.apache.kafka.streams.kstream.Consumed;
import org.apache.kafka.streams.kstream.KStream;
import org.apache.kafka.streams.kstream.Named;
import org.apache.kafka.streams.kstream.Produced;
import org.apache.kafka.streams.processor.api.ContextualProcessor;
import org.apache.kafka.streams.processor.api.Record;

/**
 * One Nexmark query on Kafka Streams against a running broker:
 *
 * <pre>
 * java ... dev.eddy.peers.kstreams.KafkaStreamsNexmark --query q5 --events-file /tmp/e.jsonl
 *     --events 1000000 [--parallelism 2] [--rate 50000] [--brokers 127.0.0.1:9092]
 *     [--grace-ms 60000] [--broker-pid N]
 * </pre>
 *
 * <p>Creates a fresh input topic ({@code parallelism} partitions, line {@code i} in partition
 * {@code i mod P}, record time = event time), loads it, and runs the topology with
 * {@code num.stream.threads = parallelism}, {@code processing.guarantee = at_least_once}, reading
 * from the earliest offset. At maximum rate the load is a separate, untimed phase; with
 * {@code --rate} the loader paces production while the topology runs and stamps each record
 * (header {@code c}) with its scheduled time, which latency is measured from; with {@code
 * --loader-cores C} the loader is a process of its own pinned to cores C (the fair harness's paced
 * rounds: the producers of a deployed application are not on its cores). The input ends with
 * one END record per partition ({@link Flow}); the run ends when every sink task has seen its END,
 * i.e. every input record has been processed and every output produced. Outputs are counted in a
 * terminal processor, not written to a topic. Then the topics of the run are deleted.
 *
 * <p>Elapsed time runs from the first input record reaching the topology (at maximum rate) or from
 * the first record produced (at a fixed rate) until the last sink task has seen its END. It
 * excludes JVM start, topic creation, the load phase and the consumer group's first rebalance.
 */
public final class KafkaStreamsNexmark {
  private KafkaStreamsNexmark() {}

  public static void main(String[] argv) throws Exception {
    if (argv.length == 1 && argv[0].equals("--list")) {
      System.out.println(String.join(",", KsQueries.NAMES));
      return;
    }
    if (argv.length == 3 && argv[0].equals("--delete-topics")) {
      System.exit(deleteTopics(argv[1], List.of(argv[2].split(","))));
      return;
    }
    Args args;
    try {
      args = Args.parse(argv, KsQueries.NAMES);
    } catch (IllegalArgumentException e) {
      System.err.println("kafka-streams: " + e.getMessage());
      System.exit(2);
      return;
    }
    String brokers = args.get("brokers", System.getenv().getOrDefault("KAFKA_BROKERS", "127.0.0.1:9092"));
    Duration grace = Duration.ofMillis(Long.parseLong(args.get("grace-ms", "60000")));
    if (Boolean.parseBoolean(args.get("load-paced", "false"))) {
      System.exit(new KafkaStreamsNexmarkRun(args, brokers, grace).loadPaced());
      return;
    }
    long brokerPid = Long.parseLong(args.get("broker-pid", "-1"));
    if (brokerPid > 0) Measure.watchBroker(brokerPid);
    Measure.progressEvery(Long.parseLong(args.get("progress-ms", "0")));
    Flow.noDurability = args.get("durability", "changelog").equals("none");
    Flow.inMemory = Flow.noDurability || args.get("stores", "rocksdb").equals("memory");
    String retention = args.get("window-retention", "end");
    if (!retention.equals("end") && !retention.equals("short"))
      throw new IllegalArgumentException("--window-retention: \"" + retention + "\" is not end or short");
    Flow.shortRetention = retention.equals("short");
    String serde = args.get("serde", "binary");
    if (!serde.equals("binary") && !serde.equals("json"))
      throw new IllegalArgumentException("--serde: \"" + serde + "\" is not binary or json");
    Flow.jsonSerde = serde.equals("json");
    int exit = new KafkaStreamsNexmarkRun(args, brokers, grace).run();
    System.exit(exit);
  }

  /** {@code --delete-topics <brokers> <t1,t2>}: deletes kept input topics (the fair harness's). */
  static int deleteTopics(String brokers, List<String> topics) throws Exception {
    Properties ap = new Properties();
    ap.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, brokers);
    try (Admin admin = Admin.create(ap)) {
      List<String> present = new ArrayList<>(admin.listTopics().names().get(15, TimeUnit.SECONDS));
      present.retainAll(topics);
      if (!present.isEmpty()) admin.deleteTopics(present).all().get(60, TimeUnit.SECONDS);
      System.err.println("kafka-streams: deleted topics " + present);
    }
    return 0;
  }
}

/** One run: topics, load, topology, wait, result, cleanup. */
final class KafkaStreamsNexmarkRun {
  private static final long DAY_MS = 86_400_000L;

  private final Args args;
  private final String brokers;
  private final Duration grace;
  private final boolean latency;
  private final String runId;
  private final String appId;
  private final String inputTopic;
  /**
   * {@code --input-topic}: a named input topic kept after the run and reused when it already holds
   * the input (the fair harness loads it once for all rounds of a query).
   */
  private final boolean keepInput;
  /**
   * Added to event times to make record timestamps: Kafka's are not negative, and eddy's (and
   * Flink's) sliding windows start before 0 for the first events. One day keeps windows aligned.
   * Not a recent time: the first emission of a windowed aggregation with a cache walks the cache
   * segment by segment from time 0, which at today's epoch millis costs tens of seconds of CPU
   * per task; topics created here keep records regardless of their time (retention.ms -1).
   */
  private final long base = DAY_MS;

  private final AtomicBoolean cleaned = new AtomicBoolean();
  /** The loader process ({@code --loader-cores}), stopped with the run. */
  private volatile Process loaderProcess;
  private Admin admin;
  private KafkaStreams streams;
  private Path stateDir;

  KafkaStreamsNexmarkRun(Args args, String brokers, Duration grace) {
    this.args = args;
    this.brokers = brokers;
    this.grace = grace;
    this.latency = args.rate > 0;
    this.runId = args.query + "-" + UUID.randomUUID().toString().substring(0, 8);
    this.appId = "eddy-peers-" + runId;
    String kept = args.get("input-topic", "");
    this.keepInput = !kept.isEmpty();
    this.inputTopic = keepInput ? kept : "eddy-peers-in-" + runId;
  }

  int run() throws Exception {
    Properties ap = new Properties();
    ap.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, brokers);
    ap.put(AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, 10_000);
    ap.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, 15_000);
    admin = Admin.create(ap);
    try {
      admin.describeCluster().clusterId().get(10, TimeUnit.SECONDS);
    } catch (ExecutionException | TimeoutException e) {
      System.err.println(
          "kafka-streams: Kafka broker not reachable at " + brokers + "; run npm run kafka:up (" + e + ")");
      admin.close(Duration.ofSeconds(1));
      return 1;
    }
    Runtime.getRuntime().addShutdownHook(new Thread(this::cleanup, "cleanup"));
    try {
      return runTopology();
    } finally {
      cleanup();
    }
  }

  private int runTopology() throws Exception {
    int p = args.parallelism;
    boolean loadedBefore = keepInput && !latency && holdsInput(p);
    if (!loadedBefore) {
      if (keepInput && admin.listTopics().names().get(15, TimeUnit.SECONDS).contains(inputTopic)) {
        admin.deleteTopics(List.of(inputTopic)).all().get(60, TimeUnit.SECONDS);
        Thread.sleep(2000);
      }
      admin
          .createTopics(
              List.of(
                  new NewTopic(inputTopic, p, (short) 1)
                      .configs(Map.of("retention.ms", "-1", "retention.bytes", "-1"))))
          .all()
          .get(30, TimeUnit.SECONDS);
      log("created topic " + inputTopic + " (" + p + " partitions)");
    } else {
      log("reusing the loaded input topic " + inputTopic);
    }

    if (!latency && !loadedBefore) {
      long t0 = System.nanoTime();
      long loaded = load(null, () -> {});
      log(String.format("loaded %d events in %.1f s (untimed)", loaded, (System.nanoTime() - t0) / 1e9));
    }
    // --load-only true (the fair harness's Kafka mode): the kept input topic is the input of every
    // system there; this run only makes sure it holds the events, then ends.
    if (keepInput && Boolean.parseBoolean(args.get("load-only", "false"))) return 0;

    Flow flow = new Flow(p, grace, base);
    StreamsBuilder builder = new StreamsBuilder();
    KStream<Long, Event> events =
        builder.stream(inputTopic, Consumed.with(Serdes.ByteArray(), Serdes.ByteArray()).withName("input"))
            .process(() -> new Parse(latency), Named.as("parse"));
    @SuppressWarnings("unchecked")
    KStream<Long, Stamped> out = (KStream<Long, Stamped>) (KStream<Long, ?>) KsQueries.build(args.query, builder, flow, events);
    // --output-topic (the fair harness's Kafka mode): every output is also written to that topic as
    // JSON (key null), as every system does in that mode; otherwise counted only.
    String outputTopic = args.get("output-topic", "");
    KStream<Long, Stamped> counted =
        out.process(() -> new Flow.Sink<>(latency, base, !outputTopic.isEmpty()), Named.as("count"));
    if (!outputTopic.isEmpty())
      counted.to(outputTopic, Produced.with(Serdes.Long(), JsonSerde.<Stamped>writerByRuntimeClass()).withName("output"));
    Topology topology = builder.build();
    if (Boolean.parseBoolean(args.get("describe", "false"))) log(topology.describe().toString());

    stateDir = Files.createTempDirectory("eddy-peers-ks-");
    Properties props = new Properties();
    props.put(StreamsConfig.APPLICATION_ID_CONFIG, appId);
    props.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, brokers);
    props.put(StreamsConfig.NUM_STREAM_THREADS_CONFIG, p);
    props.put(StreamsConfig.PROCESSING_GUARANTEE_CONFIG, StreamsConfig.AT_LEAST_ONCE);
    props.put(StreamsConfig.STATE_DIR_CONFIG, stateDir.toString());
    props.put(StreamsConfig.consumerPrefix(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG), "earliest");
    // Check for closed windows on every record (default: at most once a second of wall time), so
    // an END record closes the last windows at once.
    props.put("__emit.interval.ms.kstreams.windowed.aggregation__", Long.parseLong(args.get("emit-interval-ms", "0")));
    // The record caches' size (default 10 MB). 0 sends every store write through to RocksDB, which
    // shows at 100,000 events what otherwise happens only once the caches overflow (Flow#windowRetention).
    if (Flow.inMemory) {
      // Every DSL store in memory (the Processor API stores are chosen in Flow.kvStore).
      props.put(
          StreamsConfig.DSL_STORE_SUPPLIERS_CLASS_CONFIG,
          org.apache.kafka.streams.state.BuiltInDslStoreSuppliers.InMemoryDslStoreSuppliers.class);
    }
    // --commit-ms: how often offsets are committed and the stores' caches flushed to their
    // changelogs (the fair method's "checkpoint every 10 s" mode sets 10000; Kafka Streams'
    // at-least-once default is 30000).
    String commitMs = args.get("commit-ms", "");
    if (!commitMs.isEmpty()) props.put(StreamsConfig.COMMIT_INTERVAL_MS_CONFIG, Long.parseLong(commitMs));
    String cacheBytes = args.get("cache-bytes", "");
    if (!cacheBytes.isEmpty()) props.put(StreamsConfig.STATESTORE_CACHE_MAX_BYTES_CONFIG, Long.parseLong(cacheBytes));
    Flow.Done.expect(p);

    AtomicReference<Throwable> failure = new AtomicReference<>();
    streams = new KafkaStreams(topology, props);
    streams.setUncaughtExceptionHandler(
        e -> {
          failure.compareAndSet(null, e);
          return org.apache.kafka.streams.errors.StreamsUncaughtExceptionHandler.StreamThreadExceptionResponse
              .SHUTDOWN_CLIENT;
        });
    streams.start();

    if (latency) {
      waitRunning();
      AtomicReference<Throwable> loadFailure = failure;
      // The schedule starts once the application has read the warm-up (see load).
      Runnable warmRead =
          () -> {
            while (Measure.EVENTS_IN.sum() < args.warmEvents && loadFailure.get() == null) {
              try {
                Thread.sleep(1);
              } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return;
              }
            }
          };
      String loaderCores = args.get("loader-cores", "");
      Thread loader;
      if (loaderCores.isEmpty()) {
        loader =
            new Thread(
                () -> {
                  try {
                    Measure.markStart();
                    load(new Pacer(args.rate, args.warmEvents), warmRead);
                  } catch (Throwable t) {
                    loadFailure.compareAndSet(null, t);
                  }
                },
                "loader");
      } else {
        // --loader-cores C: the loader is a process of its own on cores C (the fair harness gives
        // it the core it does not measure, beside the broker): it stands for the producers that
        // feed a deployed application, and its CPU is not the application's.
        Measure.markStart();
        Process child = startLoader(loaderCores);
        loaderProcess = child;
        loader =
            new Thread(
                () -> {
                  try {
                    warmRead.run();
                    child.getOutputStream().write("go\n".getBytes(StandardCharsets.UTF_8));
                    child.getOutputStream().flush();
                    int code = child.waitFor();
                    if (code != 0 && !cleaned.get())
                      loadFailure.compareAndSet(null, new IllegalStateException("the loader process exited with " + code));
                  } catch (Throwable t) {
                    if (!cleaned.get()) loadFailure.compareAndSet(null, t);
                  }
                },
                "loader-gate");
      }
      loader.setDaemon(true);
      loader.start();
    }

    while (!Flow.Done.await(Duration.ofMillis(500))) {
      if (failure.get() != null) {
        System.err.println("kafka-streams: the run failed: " + failure.get());
        failure.get().printStackTrace();
        return 1;
      }
      KafkaStreams.State s = streams.state();
      if (s == KafkaStreams.State.ERROR || s == KafkaStreams.State.NOT_RUNNING) {
        System.err.println("kafka-streams: the topology stopped (" + s + ")");
        return 1;
      }
    }
    long end = Flow.Done.endNanos();
    long read = Measure.EVENTS_IN.sum();
    if (read != args.events) {
      System.err.println(
          "kafka-streams: the topology read " + read + " events; --events asked for " + args.events);
      return 1;
    }
    Map<String, Object> extra = new LinkedHashMap<>();
    extra.put("parallelism", args.parallelism);
    extra.put("graceMs", grace.toMillis());
    extra.put("droppedRecords", Math.round(metricSum("dropped-records-total")));
    extra.put("processingGuarantee", "at_least_once");
    extra.put("kafkaStreamsVersion", org.apache.kafka.common.utils.internals.AppInfoParser.getVersion());
    String result =
        Measure.result("kafka-streams", args.query, args.events, Measure.OUTPUTS.sum(), end, latency, extra);
    cleanup();
    System.out.println(result);
    System.out.flush();
    return 0;
  }

  /** Whether the kept input topic exists with {@code p} partitions holding the events and the ENDs. */
  private boolean holdsInput(int p) throws Exception {
    if (!admin.listTopics().names().get(15, TimeUnit.SECONDS).contains(inputTopic)) return false;
    var desc = admin.describeTopics(List.of(inputTopic)).allTopicNames().get(15, TimeUnit.SECONDS).get(inputTopic);
    if (desc.partitions().size() != p) return false;
    Map<org.apache.kafka.common.TopicPartition, org.apache.kafka.clients.admin.OffsetSpec> ask = new java.util.HashMap<>();
    for (int i = 0; i < p; i++)
      ask.put(new org.apache.kafka.common.TopicPartition(inputTopic, i), org.apache.kafka.clients.admin.OffsetSpec.latest());
    long total = 0;
    for (var e : admin.listOffsets(ask).all().get(15, TimeUnit.SECONDS).values()) total += e.offset();
    return total == args.events + p;
  }

  private double metricSum(String name) {
    double sum = 0;
    for (Map.Entry<MetricName, ? extends Metric> e : streams.metrics().entrySet()) {
      if (e.getKey().name().equals(name) && e.getValue().metricValue() instanceof Number) {
        sum += ((Number) e.getValue().metricValue()).doubleValue();
      }
    }
    return sum;
  }

  private void waitRunning() throws InterruptedException {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
    while (streams.state() != KafkaStreams.State.RUNNING) {
      if (System.nanoTime() > deadline) throw new IllegalStateException("streams did not reach RUNNING in 60 s");
      Thread.sleep(20);
    }
  }

  /** The paced loader as a process of its own on {@code cores} ({@code --load-paced true}). */
  private Process startLoader(String cores) throws IOException {
    String java = ProcessHandle.current().info().command().orElse("java");
    List<String> cmd =
        List.of(
            "taskset", "-c", cores, java, "-Xmx1g", "-cp", System.getProperty("java.class.path"),
            KafkaStreamsNexmark.class.getName(),
            "--load-paced", "true",
            "--query", args.query,
            "--events-file", args.eventsFile.toString(),
            "--events", String.valueOf(args.events),
            "--parallelism", String.valueOf(args.parallelism),
            "--rate", String.valueOf(args.rate),
            "--warm-events", String.valueOf(args.warmEvents),
            "--brokers", brokers,
            "--input-topic", inputTopic,
            "--grace-ms", String.valueOf(grace.toMillis()));
    log("loader process on cores " + cores);
    return new ProcessBuilder(cmd)
        .redirectOutput(ProcessBuilder.Redirect.DISCARD)
        .redirectError(ProcessBuilder.Redirect.INHERIT)
        .start();
  }

  /**
   * {@code --load-paced true}: this process is only the paced loader of an application that
   * started it ({@link #startLoader}); it writes the warm-up, then waits for a line on stdin (the
   * application has read the warm-up) before the schedule starts.
   */
  int loadPaced() throws IOException {
    java.io.BufferedReader in =
        new java.io.BufferedReader(new java.io.InputStreamReader(System.in, StandardCharsets.UTF_8));
    load(
        new Pacer(args.rate, args.warmEvents),
        () -> {
          try {
            if (in.readLine() == null) throw new IllegalStateException("the application ended before it read the warm-up");
          } catch (IOException e) {
            throw new UncheckedIOException(e);
          }
        });
    return 0;
  }

  /**
   * Produces the first {@code --events} lines into the input topic (line i to partition i mod P,
   * timestamp base + dateTime), then one END record per partition. With a pacer, each record is
   * sent at its scheduled time and carries it in header {@code c}; {@code warmRead} returns once
   * the application has read the warm-up lines (the pacer's first {@code --warm-events}).
   */
  private long load(Pacer pacer, Runnable warmRead) throws IOException {
    int p = args.parallelism;
    Properties pp = new Properties();
    pp.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, brokers);
    pp.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class);
    pp.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class);
    pp.put(ProducerConfig.LINGER_MS_CONFIG, pacer == null ? 20 : 1);
    pp.put(ProducerConfig.BATCH_SIZE_CONFIG, 512 * 1024);
    pp.put(ProducerConfig.BUFFER_MEMORY_CONFIG, 128L * 1024 * 1024);
    long count = 0;
    long last = 0;
    AtomicReference<Exception> sendError = new AtomicReference<>();
    try (KafkaProducer<byte[], byte[]> producer = new KafkaProducer<>(pp);
        LineReader r = new LineReader(args.eventsFile, args.events, 0, 1)) {
      while (r.next()) {
        byte[] value = Arrays.copyOfRange(r.line, r.off, r.off + r.len);
        long time = dateTime(value);
        last = time;
        int partition = (int) (r.index % p);
        RecordHeaders headers = new RecordHeaders();
        if (pacer != null && r.index == args.warmEvents && r.index > 0) {
          // The warm-up lines are in the topic; the schedule starts once the application has read
          // them (the others' sources ask for the first paced line only then), not when this loader,
          // far faster than the application, has written them: that would start the application
          // behind its schedule by most of the warm-up.
          producer.flush();
          if (sendError.get() == null) warmRead.run();
        }
        if (pacer != null) {
          long due = pacer.due(r.index);
          Pacer.waitUntil(due);
          headers.add("c", ByteBuffer.allocate(8).putLong(due).array());
        }
        producer.send(
            new ProducerRecord<>(inputTopic, partition, base + time, null, value, headers),
            (md, e) -> {
              if (e != null) sendError.compareAndSet(null, e);
            });
        count++;
        if (sendError.get() != null) break;
      }
      byte[] end = "{\"kind\":\"end\"}".getBytes(StandardCharsets.UTF_8);
      for (int i = 0; i < p; i++) {
        producer.send(new ProducerRecord<>(inputTopic, i, base + KsQueries.endTime(args.query, last, grace.toMillis()), null, end));
      }
      producer.flush();
    }
    if (sendError.get() != null) throw new IllegalStateException("producing the input failed", sendError.get());
    if (count != args.events) {
      throw new IllegalStateException("the events file has " + count + " events; --events asked for " + args.events);
    }
    return count;
  }

  private static final byte[] DATE_TIME = "\"dateTime\":".getBytes(StandardCharsets.UTF_8);

  /** The first {@code "dateTime":N} of a line (each event has exactly one). */
  static long dateTime(byte[] line) {
    outer:
    for (int i = 0; i + DATE_TIME.length < line.length; i++) {
      for (int j = 0; j < DATE_TIME.length; j++) if (line[i + j] != DATE_TIME[j]) continue outer;
      long v = 0;
      for (int k = i + DATE_TIME.length; k < line.length && line[k] >= '0' && line[k] <= '9'; k++) {
        v = v * 10 + (line[k] - '0');
      }
      return v;
    }
    throw new IllegalArgumentException("no dateTime in line " + new String(line, 0, Math.min(200, line.length), StandardCharsets.UTF_8));
  }

  private void cleanup() {
    if (!cleaned.compareAndSet(false, true)) return;
    Process loaderNow = loaderProcess;
    if (loaderNow != null) loaderNow.destroyForcibly();
    try {
      if (streams != null) {
        streams.close(Duration.ofSeconds(30));
        streams.cleanUp();
      }
      if (admin != null) {
        List<String> mine = new ArrayList<>();
        for (String t : admin.listTopics().names().get(15, TimeUnit.SECONDS)) {
          if ((t.equals(inputTopic) && !keepInput) || t.startsWith(appId + "-")) mine.add(t);
        }
        if (!mine.isEmpty()) admin.deleteTopics(mine).all().get(30, TimeUnit.SECONDS);
        log("deleted topics " + mine);
        admin.close(Duration.ofSeconds(5));
      }
      if (stateDir != null && Files.exists(stateDir)) {
        try (var paths = Files.walk(stateDir)) {
          paths.sorted(Comparator.reverseOrder()).forEach(q -> q.toFile().delete());
        }
      }
    } catch (Exception e) {
      System.err.println("kafka-streams: cleanup failed (topics of run " + runId + " may remain): " + e);
    }
  }

  private static void log(String line) {
    System.err.println("kafka-streams: " + line);
  }

  /**
   * Parses input lines into events (key null; END records keyed {@link Flow#END}), counts them,
   * and in rate mode stamps them with the creation time from header {@code c}.
   */
  static final class Parse extends ContextualProcessor<byte[], byte[], Long, Event> {
    private final boolean latency;
    private final EventParser parser = new EventParser();

    Parse(boolean latency) {
      this.latency = latency;
    }

    @Override
    public void process(Record<byte[], byte[]> record) {
      byte[] v = record.value();
      Event e;
      try {
        e = parser.parse(v, 0, v.length);
      } catch (IOException x) {
        throw new UncheckedIOException(x);
      }
      if (e.kind == Event.END) {
        context().forward(record.withKey(Flow.END).withValue(e));
        return;
      }
      Measure.markStart();
      if (latency) {
        Header c = record.headers().lastHeader("c");
        if (c != null) e.stamp(ByteBuffer.wrap(c.value()).getLong());
      }
      Measure.EVENTS_IN.increment();
      context().forward(record.withKey((Long) null).withValue(e));
    }
  }
}
