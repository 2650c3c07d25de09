package dev.eddy.peers.flinksql;

import dev.eddy.peers.common.Args;
import dev.eddy.peers.common.Auction;
import dev.eddy.peers.common.Bid;
import dev.eddy.peers.common.Event;
import dev.eddy.peers.common.Measure;
import dev.eddy.peers.common.Person;
import dev.eddy.peers.flink.FlinkKafka;
import dev.eddy.peers.flink.FlinkNexmark;
import java.nio.file.Path;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.apache.flink.api.common.eventtime.WatermarkStrategy;
import org.apache.flink.configuration.CheckpointingOptions;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.ExecutionOptions;
import org.apache.flink.configuration.PipelineOptions;
import org.apache.flink.configuration.StateBackendOptions;
import org.apache.flink.streaming.api.datastream.DataStream;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.table.api.EnvironmentSettings;
import org.apache.flink.table.api.Schema;
import org.apache.flink.table.api.TableConfig;
import org.apache.flink.table.api.bridge.java.StreamStatementSet;
import org.apache.flink.table.api.bridge.java.StreamTableEnvironment;
import org.apache.flink.table.api.config.AggregatePhaseStrategy;
import org.apache.flink.table.api.config.ExecutionConfigOptions;
import org.apache.flink.table.api.config.OptimizerConfigOptions;
import org.apache.flink.table.data.GenericRowData;
import org.apache.flink.table.data.RowData;
import org.apache.flink.table.data.StringData;
import org.apache.flink.table.data.TimestampData;
import org.apache.flink.table.runtime.typeutils.InternalTypeInfo;
import org.apache.flink.table.types.logical.BigIntType;
import org.apache.flink.table.types.logical.IntType;
import org.apache.flink.table.types.logical.LogicalType;
import org.apache.flink.table.types.logical.RowType;
import org.apache.flink.table.types.logical.TimestampType;
import org.apache.flink.table.types.logical.VarCharType;

/**
 * One Nexmark query on Flink SQL, with nexmark/nexmark's query text, in a local MiniCluster in this
 * JVM:
 *
 * <pre>
 * java ... dev.eddy.peers.flinksql.FlinkSqlNexmark --query q5 --events-file /tmp/e.jsonl --events 1000000
 *     [--parallelism 2] [--progress-ms 100] [--rate 50000] [--explain true] [--rows-out /tmp/q5.rows]
 *     [--mini-batch false] [--buffer-timeout-ms 5] [--watermark-interval-ms 10] [--checkpoint-ms 10000 --checkpoint-dir D]
 *     [--kafka-brokers 127.0.0.1:9092 --input-topic IN --output-topic OUT]
 * </pre>
 *
 * <p>Kafka mode ({@code --input-topic}): the events come from the DataStream peer's KafkaSource
 * ({@link FlinkKafka#source}: same parse, count and row conversion) into the same table, and the
 * counting sink writes every row it counts to OUT as JSON (CountingSinkFactory's {@code kafka.*}
 * options); the query texts are unchanged. See the comment at the source below for why not a
 * {@code 'connector' = 'kafka'} table.
 *
 * <p>The input is read as the DataStream peer (flink/'s FlinkNexmark) reads it: subtask {@code i} of
 * the source (the DataStream peer's {@link FlinkNexmark.FileSource}) reads every {@code P}-th
 * line of the file from line {@code i} with the same LineReader and EventParser, and counts it in
 * {@link Measure#EVENTS_IN}. Each event becomes a row of nexmark's table ({@code event_type}, {@code person}, {@code auction}, {@code bid}, and the rowtime
 * {@code dateTime}), nexmark's views {@code person}, {@code auction} and {@code bid} are defined on
 * it, and the query's INSERT runs into a counting sink (CountingSinkFactory) instead of nexmark's
 * blackhole. Settings as nexmark's Flink configuration (conf/config.yaml): mini-batch on (2 s,
 * 50,000 rows), two-phase aggregation, distinct aggregates split; object reuse; heap state
 * (hashmap backend); no checkpoints unless {@code --checkpoint-ms} (then as the DataStream peer's).
 * {@code --explain true} prints the plan on stderr; {@code --rows-out F} writes every row the sink
 * receives to F (for checks; slows the run).
 *
 * <p>Elapsed time runs from the first source subtask starting to read until {@code execute}
 * returns, as in FlinkNexmark; {@code startupMs} (not timed) includes planning the SQL. With
 * {@code --rate} the input is paced, but outputs carry no latency stamp (SQL rows do not carry
 * the input's schedule), so {@code latencyMs} stays null; the progress lines' newest output event
 * time serves the fair harness instead. Prints one JSON result line on stdout.
 */
public final class FlinkSqlNexmark {
  private FlinkSqlNexmark() {}

  /** The table the events file becomes (nexmark's ${NEXMARK_TABLE}, there datagen or kafka). */
  static final String EVENTS_TABLE = "events_file";

  public static void main(String[] argv) throws Exception {
    if (argv.length == 1 && argv[0].equals("--list")) {
      System.out.println(String.join(",", SqlQueries.NAMES));
      return;
    }
    Args args;
    try {
      args = Args.parse(argv, SqlQueries.NAMES);
    } catch (IllegalArgumentException e) {
      System.err.println("flink-sql: " + e.getMessage());
      System.exit(2);
      return;
    }
    boolean kafka = FlinkKafka.enabled(args);
    String outputTopic = null;
    if (kafka) {
      try {
        outputTopic = FlinkKafka.outputTopic(args);
        if (args.get("rows-out", null) != null)
          throw new IllegalArgumentException("--rows-out is for the file mode (read the output topic instead)");
      } catch (IllegalArgumentException e) {
        System.err.println("flink-sql: " + e.getMessage());
        System.exit(2);
        return;
      }
    }
    Measure.progressEvery(Long.parseLong(args.get("progress-ms", "0")));
    long planning = System.nanoTime();
    Configuration conf = new Configuration();
    // As nexmark/nexmark's Flink setup: records are not copied between chained operators.
    conf.set(PipelineOptions.OBJECT_REUSE, true);
    // Heap state (nexmark's config.yaml has RocksDB with checkpoints every 3 minutes; like the
    // DataStream peer, this keeps state on the heap and checkpoints only when asked to).
    conf.set(StateBackendOptions.STATE_BACKEND, "hashmap");
    // The DataStream peer's latency settings (the fair method's latency rounds; Flink's defaults
    // otherwise: 100 ms and 200 ms): how long a network buffer may wait before it is sent, and how
    // often the watermark assigner emits watermarks.
    String bufferTimeout = args.get("buffer-timeout-ms", "");
    if (!bufferTimeout.isEmpty()) {
      conf.set(ExecutionOptions.BUFFER_TIMEOUT, Duration.ofMillis(Long.parseLong(bufferTimeout)));
    }
    String watermarkInterval = args.get("watermark-interval-ms", "");
    if (!watermarkInterval.isEmpty()) {
      conf.set(PipelineOptions.AUTO_WATERMARK_INTERVAL, Duration.ofMillis(Long.parseLong(watermarkInterval)));
    }
    // --checkpoint-ms N, as the DataStream peer: exactly-once checkpoints of heap state to the
    // local file system (--checkpoint-dir). Without it nothing is checkpointed.
    long checkpointMs = Long.parseLong(args.get("checkpoint-ms", "0"));
    boolean checkpointing = checkpointMs > 0;
    if (checkpointing) {
      conf.set(CheckpointingOptions.CHECKPOINT_STORAGE, "filesystem");
      conf.set(
          CheckpointingOptions.CHECKPOINTS_DIRECTORY,
          Path.of(args.get("checkpoint-dir", "/tmp/eddy-peers-flink-sql-checkpoints")).toUri().toString());
      conf.set(CheckpointingOptions.CHECKPOINTING_INTERVAL, Duration.ofMillis(checkpointMs));
      conf.set(CheckpointingOptions.MAX_RETAINED_CHECKPOINTS, 3);
    }
    StreamExecutionEnvironment env =
        StreamExecutionEnvironment.createLocalEnvironment(args.parallelism, conf);
    StreamTableEnvironment tables =
        StreamTableEnvironment.create(env, EnvironmentSettings.inStreamingMode());
    TableConfig config = tables.getConfig();
    // nexmark-flink/src/main/resources/conf/config.yaml: mini-batch (2 s, 50,000 rows) and split
    // distinct aggregates. Its agg-phase strategy is Flink's default, AUTO, which with mini-batch on
    // picks two-phase (local-global) aggregation wherever the aggregates can merge; set explicitly.
    // --mini-batch false (a check, not the fair settings): every update reaches the sink as it is
    // made, instead of one per key and mini-batch (how many rows an updating query's sink counts).
    config.set(
        ExecutionConfigOptions.TABLE_EXEC_MINIBATCH_ENABLED,
        Boolean.parseBoolean(args.get("mini-batch", "true")));
    config.set(ExecutionConfigOptions.TABLE_EXEC_MINIBATCH_ALLOW_LATENCY, Duration.ofSeconds(2));
    config.set(ExecutionConfigOptions.TABLE_EXEC_MINIBATCH_SIZE, 50_000L);
    config.set(OptimizerConfigOptions.TABLE_OPTIMIZER_AGG_PHASE_STRATEGY, AggregatePhaseStrategy.TWO_PHASE);
    config.set(OptimizerConfigOptions.TABLE_OPTIMIZER_DISTINCT_AGG_SPLIT_ENABLED, true);

    DataStream<RowData> events;
    if (kafka) {
      // Kafka mode. nexmark/nexmark's Kafka setup (ddl_kafka.sql) is a 'connector' = 'kafka' table
      // with 'format' = 'json' over its own JSON (event_type 0/1/2, times as SQL timestamp strings).
      // That format cannot read this topic's lines into the same rows: "kind" is a string, the
      // times are epoch-ms numbers (the json format reads TIMESTAMP(3) from strings only) and a
      // nested ROW field cannot be renamed or retyped by a computed column; 'raw' + a parsing UDF
      // would parse once per computed column and could not count each event once or drop the END
      // markers before the watermark. So the events come from the DataStream peer's KafkaSource
      // (the same EventParser, END skipped, EVENTS_IN counted per event, converted with toRow as
      // the file mode's source converts them), without watermarks, into the same view as the file
      // mode's below: the same rows, rowtime and watermark declaration, and the query texts
      // unchanged. (A Kafka table source generates watermarks per partition; this one per subtask,
      // one partition each, so the same.)
      events =
          env.fromSource(
              FlinkKafka.source(args, "flink-sql", FlinkSqlNexmark::toRow, InternalTypeInfo.of(EVENT_TYPE)),
              WatermarkStrategy.noWatermarks(),
              "events");
    } else {
      events =
          env.addSource(
              // The DataStream peer's source (same reader, parser, start barrier, pacing, counting and
              // checkpointed position), emitting each event as a row of nexmark's table.
              new FlinkNexmark.FileSource<RowData>(
                  args.eventsFile.toString(), args.events, args.rate, args.warmEvents, checkpointing, FlinkSqlNexmark::toRow),
              "events",
              InternalTypeInfo.of(EVENT_TYPE));
    }
    // nexmark's DDL (ddl_gen.sql, ddl_kafka.sql): dateTime is the event's own time, computed from
    // the nested rows, and the rowtime. Watermarks: as the DataStream peer's
    // WatermarkStrategy.forMonotonousTimestamps() (the largest time so far minus 1 ms, on Flink's
    // periodic 200 ms interval) rather than nexmark's dateTime - 4 s, so that both Flink peers close
    // windows at the same points of the input.
    tables.createTemporaryView(
        EVENTS_TABLE,
        events,
        Schema.newBuilder()
            .columnByExpression(
                "dateTime",
                "CASE WHEN event_type = 0 THEN person.`dateTime`"
                    + " WHEN event_type = 1 THEN auction.`dateTime`"
                    + " ELSE bid.`dateTime` END")
            .watermark("dateTime", "`dateTime` - INTERVAL '0.001' SECOND")
            .build());
    for (String view : SqlQueries.views(EVENTS_TABLE)) tables.executeSql(view);
    // Kafka mode: the counting sink also writes each row it counts to the output topic, through
    // the DataStream peer's KafkaSink (none, or at-least-once with checkpoints).
    Map<String, String> sinkOptions =
        kafka
            ? Map.of(
                "kafka.brokers", FlinkKafka.brokers(args),
                "kafka.topic", outputTopic,
                "kafka.delivery-guarantee", FlinkKafka.guarantee(checkpointing))
            : Map.of();
    List<String> statements = SqlQueries.query(args.query, args.get("rows-out", null), sinkOptions);
    StreamStatementSet inserts = tables.createStatementSet();
    for (String s : statements) {
      if (s.regionMatches(true, 0, "INSERT", 0, 6)) inserts.addInsertSql(s);
      else tables.executeSql(s);
    }
    if (Boolean.parseBoolean(args.get("explain", "false"))) System.err.println(inserts.explain());
    inserts.attachAsDataStream();

    env.execute("nexmark-sql-" + args.query);
    long end = System.nanoTime();

    long read = Measure.EVENTS_IN.sum();
    if (kafka) {
      // The topic's events, up to the ENDs (--events is not read; a difference is only noted).
      if (read == 0) {
        System.err.println("flink-sql: the input topic " + args.get("input-topic", "") + " held no events");
        System.exit(1);
      }
      if (read != args.events)
        System.err.println("flink-sql: read " + read + " events from the input topic; --events says " + args.events);
    } else if (read != args.events) {
      System.err.println(
          "flink-sql: the events file has " + read + " events; --events asked for " + args.events);
      System.exit(1);
    }
    Map<String, Object> extra = new LinkedHashMap<>();
    extra.put("parallelism", args.parallelism);
    extra.put("startupMs", Math.round((Measure.startNanos() - planning) / 1e6));
    extra.put("flinkVersion", org.apache.flink.runtime.util.EnvironmentInformation.getVersion());
    if (kafka) {
      extra.put("inputTopic", args.get("input-topic", ""));
      extra.put("outputTopic", outputTopic);
      extra.put("deliveryGuarantee", FlinkKafka.guarantee(checkpointing));
    }
    System.out.println(
        Measure.result(
            "flink-sql", args.query, kafka ? read : args.events, Measure.OUTPUTS.sum(), end, false, extra));
    System.out.flush();
    System.exit(0);
  }

  // ------------------------------------------------------------------------ nexmark's event table

  private static final LogicalType BIGINT = new BigIntType();
  private static final LogicalType VARCHAR = new VarCharType(VarCharType.MAX_LENGTH);
  private static final LogicalType TIMESTAMP = new TimestampType(3);

  /** nexmark's person, auction and bid ROW types and the event row (ddl_gen.sql's physical columns). */
  static final RowType PERSON_TYPE =
      RowType.of(
          new LogicalType[] {BIGINT, VARCHAR, VARCHAR, VARCHAR, VARCHAR, VARCHAR, TIMESTAMP, VARCHAR},
          new String[] {"id", "name", "emailAddress", "creditCard", "city", "state", "dateTime", "extra"});

  static final RowType AUCTION_TYPE =
      RowType.of(
          new LogicalType[] {
            BIGINT, VARCHAR, VARCHAR, BIGINT, BIGINT, TIMESTAMP, TIMESTAMP, BIGINT, BIGINT, VARCHAR
          },
          new String[] {
            "id", "itemName", "description", "initialBid", "reserve", "dateTime", "expires", "seller", "category",
            "extra"
          });

  static final RowType BID_TYPE =
      RowType.of(
          new LogicalType[] {BIGINT, BIGINT, BIGINT, VARCHAR, VARCHAR, TIMESTAMP, VARCHAR},
          new String[] {"auction", "bidder", "price", "channel", "url", "dateTime", "extra"});

  static final RowType EVENT_TYPE =
      RowType.of(
          new LogicalType[] {new IntType(), PERSON_TYPE, AUCTION_TYPE, BID_TYPE},
          new String[] {"event_type", "person", "auction", "bid"});

  /**
   * An event as a row of nexmark's table, in Flink SQL's internal format (as nexmark's own source
   * emits it): event_type 0 person, 1 auction, 2 bid (the same numbers as {@link Event#kind}), the
   * other two nested rows null.
   */
  static RowData toRow(Event e) {
    GenericRowData row = new GenericRowData(4);
    row.setField(0, (int) e.kind);
    switch (e.kind) {
      case Event.PERSON:
        row.setField(1, person(e.person));
        break;
      case Event.AUCTION:
        row.setField(2, auction(e.auction));
        break;
      case Event.BID:
        row.setField(3, bid(e.bid));
        break;
      default:
        throw new IllegalArgumentException("not a person, auction or bid: kind " + e.kind);
    }
    return row;
  }

  private static RowData person(Person p) {
    return GenericRowData.of(
        p.id,
        StringData.fromString(p.name),
        StringData.fromString(p.emailAddress),
        StringData.fromString(p.creditCard),
        StringData.fromString(p.city),
        StringData.fromString(p.state),
        TimestampData.fromEpochMillis(p.dateTime),
        StringData.fromString(p.extra));
  }

  private static RowData auction(Auction a) {
    return GenericRowData.of(
        a.id,
        StringData.fromString(a.itemName),
        StringData.fromString(a.description),
        a.initialBid,
        a.reserve,
        TimestampData.fromEpochMillis(a.dateTime),
        TimestampData.fromEpochMillis(a.expires),
        a.seller,
        a.category,
        StringData.fromString(a.extra));
  }

  private static RowData bid(Bid b) {
    return GenericRowData.of(
        b.auction,
        b.bidder,
        b.price,
        StringData.fromString(b.channel),
        StringData.fromString(b.url),
        TimestampData.fromEpochMillis(b.dateTime),
        StringData.fromString(b.extra));
  }
}
