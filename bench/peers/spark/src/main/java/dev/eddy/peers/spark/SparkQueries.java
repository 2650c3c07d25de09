package dev.eddy.peers.spark;

import static org.apache.spark.sql.functions.col;
import static org.apache.spark.sql.functions.collect_list;
import static org.apache.spark.sql.functions.explode;
import static org.apache.spark.sql.functions.expr;
import static org.apache.spark.sql.functions.filter;
import static org.apache.spark.sql.functions.greatest;
import static org.apache.spark.sql.functions.lit;
import static org.apache.spark.sql.functions.max;
import static org.apache.spark.sql.functions.struct;
import static org.apache.spark.sql.functions.timestamp_millis;
import static org.apache.spark.sql.functions.udaf;
import static org.apache.spark.sql.functions.unix_millis;
import static org.apache.spark.sql.functions.window;
import static org.apache.spark.sql.functions.window_time;

import dev.eddy.peers.common.Nexmark;
import java.io.Serializable;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import org.apache.spark.sql.Column;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Encoder;
import org.apache.spark.sql.Encoders;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.expressions.Aggregator;
import org.apache.spark.sql.expressions.UserDefinedFunction;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;

/**
 * Nexmark q0–q3, q5, q7 and q8 as Spark Structured Streaming DataFrames, with the semantics of
 * nexmark/nexmark's SQL (and the same windows, join bounds and ties as bench/nexmark/queries.ts
 * and the Flink peer; README.md says where they differ). Event time is {@code dateTime} with a
 * 1 ms watermark delay: the file is in time order, so nothing is late, and rows of the next
 * batch with the same millisecond as the last one are not dropped (Spark drops rows at or below
 * the watermark). Stateful queries run in append mode: each window or join row once, final.
 *
 * <p>Each query returns its result columns plus {@code out_time}, the output's event time in epoch
 * ms, the same as the Flink peer's record timestamp for the query: the event's time (q0–q2), the
 * later of the two joined rows (q3), the window's end − 1 ms (q5, q7, q8).
 *
 * <p>q4 and q6 are not here: see README.md.
 */
final class SparkQueries {
  private SparkQueries() {}

  /** The queries implemented here (bench/peers/index.ts lists the same). */
  static final List<String> NAMES = List.of("q0", "q1", "q2", "q3", "q5", "q7", "q8");

  /** The output's event time column (epoch ms), last in every query's result. */
  static final String OUT_TIME = "out_time";

  private static final String DELAY = "1 millisecond";

  /** The END row's time as a TIMESTAMP literal (a method: {@code --list} must not start Spark's classes). */
  private static Column end() {
    return lit(Instant.ofEpochMilli(EventsTables.END_MILLIS));
  }

  /**
   * Opens the input as a table: the events file through {@link EventsSource}, or in Kafka mode the
   * input topic through Spark's Kafka source ({@link KafkaEvents}); the first source of a query
   * counts the events.
   */
  static final class Input {
    final SparkSession spark;
    final String path;
    final long events;
    final int partitions;
    final long maxRowsPerBatch;
    final double rate;
    /** Paced: the first lines, read at the maximum rate before the schedule starts. */
    final long warm;
    /** Kafka mode's topics, or null: the events file. */
    final KafkaEvents.Config kafka;

    private boolean counting = true;

    Input(
        SparkSession spark,
        String path,
        long events,
        int partitions,
        long maxRowsPerBatch,
        double rate,
        long warm,
        KafkaEvents.Config kafka) {
      this.spark = spark;
      this.path = path;
      this.events = events;
      this.partitions = partitions;
      this.maxRowsPerBatch = maxRowsPerBatch;
      this.rate = rate;
      this.warm = warm;
      this.kafka = kafka;
    }

    /** The {@code columns} of {@code table} (event, person, auction, bid); {@code end}: with the END row. */
    Dataset<Row> table(String table, String columns, boolean end) {
      if (kafka != null) {
        Dataset<Row> d = KafkaEvents.table(spark, kafka, table, columns, end, counting);
        counting = false;
        return d;
      }
      Dataset<Row> d =
          spark
              .readStream()
              .format(EventsSource.class.getName())
              .option("path", path)
              .option("events", events)
              .option("partitions", partitions)
              .option("maxRowsPerBatch", maxRowsPerBatch)
              .option("rate", rate)
              .option("warm", warm)
              .option("table", table)
              .option("columns", columns)
              .option("count", counting)
              .option("end", end)
              .load();
      counting = false;
      return d;
    }
  }

  static Dataset<Row> build(String query, Input in) {
    switch (query) {
      case "q0":
        return q0(in);
      case "q1":
        return q1(in);
      case "q2":
        return q2(in);
      case "q3":
        return q3(in);
      case "q5":
        return q5(in);
      case "q7":
        return q7(in);
      case "q8":
        return q8(in);
      default:
        throw new IllegalArgumentException("spark: no query " + query);
    }
  }

  /**
   * A stateful query's input: {@code where} (or all rows), watermarked on {@code dateTime}, without
   * the END row. The END row has to reach the watermark: Spark pushes a filter below
   * {@code withWatermark} unless it reads the event-time column, so the query's filter lets it pass
   * ({@code where OR dateTime >= END}) and the filter that removes it reads {@code dateTime}.
   */
  static Dataset<Row> timed(Dataset<Row> source, Column where) {
    Dataset<Row> d = where == null ? source : source.filter(where.or(col("dateTime").geq(end())));
    return d.withWatermark("dateTime", DELAY).filter(col("dateTime").lt(end()));
  }

  private static Column millis(String column) {
    return unix_millis(col(column));
  }

  // ------------------------------------------------------------------------------------ q0–q2

  /** Q0, passthrough: every bid, nexmark's {@code SELECT auction, bidder, price, dateTime, extra FROM bid}. */
  static Dataset<Row> q0(Input in) {
    return in.table("bid", "auction,bidder,price,dateTime,extra", false).withColumn(OUT_TIME, millis("dateTime"));
  }

  /**
   * Q1, currency conversion. The reference's {@code 0.908 * price} is DECIMAL(23, 3), which Spark
   * holds as a java.math.BigDecimal (precision above 18); a double, as eddy's and Flink's.
   */
  static Dataset<Row> q1(Input in) {
    return in.table("bid", "auction,bidder,price,dateTime,extra", false)
        .select(
            col("auction"),
            col("bidder"),
            col("price").multiply(lit(Nexmark.Q1_EUROS)).as("price"),
            col("dateTime"),
            col("extra"),
            millis("dateTime").as(OUT_TIME));
  }

  /** Q2, selection: bids on auctions whose id is a multiple of 123. */
  static Dataset<Row> q2(Input in) {
    return in.table("bid", "auction,price,dateTime", false)
        .filter(col("auction").mod(lit(Nexmark.Q2_AUCTION_SKIP)).equalTo(0))
        .select(col("auction"), col("price"), millis("dateTime").as(OUT_TIME));
  }

  // --------------------------------------------------------------------------------------- q3

  /**
   * Q3, local item suggestion: a stream-stream inner join of category-10 auctions and persons in
   * OR/ID/CA on seller = id, with the person's time within ± 600 s of the auction's (both bounds
   * inclusive, as eddy's and Flink's interval join): the bound lets Spark drop join state behind the
   * watermark; the reference's unbounded join would keep every row.
   */
  static Dataset<Row> q3(Input in) {
    Dataset<Row> auctions =
        timed(
                in.table("auction", "id,seller,category,dateTime", true),
                col("category").equalTo(lit(Nexmark.Q3_CATEGORY)))
            .select(col("id").as("aid"), col("seller"), col("dateTime").as("aTime"));
    Dataset<Row> persons =
        timed(
                in.table("person", "id,name,city,state,dateTime", true),
                col("state").isin(Nexmark.Q3_STATES.toArray()))
            .select(col("id").as("pid"), col("name"), col("city"), col("state"), col("dateTime").as("pTime"));
    Column horizon = expr("INTERVAL " + Nexmark.Q3_HORIZON_MS / 1000 + " SECONDS");
    return auctions
        .join(
            persons,
            col("seller")
                .equalTo(col("pid"))
                .and(col("pTime").geq(col("aTime").minus(horizon)))
                .and(col("pTime").leq(col("aTime").plus(horizon))))
        .select(
            col("name"),
            col("city"),
            col("state"),
            col("aid").as("id"),
            greatest(millis("aTime"), millis("pTime")).as(OUT_TIME));
  }

  // --------------------------------------------------------------------------------------- q5

  /**
   * Q5, hot items: bids per auction per sliding window (10 s every 2 s), then, per window, the
   * auctions with the most bids (ties all, the reference's {@code num >= maxn}). Two chained
   * windowed aggregations in append mode: the counts of a window (emitted when the watermark
   * passes its end) meet in a 2 s tumbling window of {@code window_time} (the window's end − 1
   * µs), which keeps the maximum and the (auction, count) pairs; the pairs at the maximum are the
   * rows. The reference joins the counts with their per-window maximum instead, which computes the
   * counts twice and keeps them in join state; this is the same result in one pass (as the Flink
   * peer).
   */
  static Dataset<Row> q5(Input in) {
    String size = Nexmark.Q5_SIZE_MS / 1000 + " seconds";
    String slide = Nexmark.Q5_SLIDE_MS / 1000 + " seconds";
    Dataset<Row> counts =
        timed(in.table("bid", "auction,dateTime", true), null)
            .groupBy(window(col("dateTime"), size, slide), col("auction"))
            .count();
    return counts
        .groupBy(window(window_time(col("window")), slide).as("w"))
        .agg(max(col("count")).as("maxn"), collect_list(struct(col("count"), col("auction"))).as("counts"))
        .select(col("w"), explode(filter(col("counts"), c -> c.getField("count").equalTo(col("maxn")))).as("c"))
        .select(
            col("c.auction").as("auction"),
            col("c.count").as("num"),
            col("w.end").minus(expr("INTERVAL " + size)).as("starttime"),
            col("w.end").as("endtime"),
            millis("w.end").minus(1).as(OUT_TIME));
  }

  // --------------------------------------------------------------------------------------- q7

  /**
   * Q7, highest bid: per tumbling 10 s window, the bid(s) with the highest price. One windowed
   * aggregation (no key but the window, as the reference's GROUP BY window) with {@link MaxBids},
   * which keeps only the bids at the running maximum. The reference joins the bids with the
   * window's maximum ({@code dateTime BETWEEN end − 10 s AND end}), which would hold every bid of
   * the window in join state; here, as in eddy and Flink, a bid counts in its own window only.
   */
  static Dataset<Row> q7(Input in) {
    UserDefinedFunction maxBids = udaf(new MaxBids(), Encoders.row(MaxBids.INPUT));
    return timed(in.table("bid", "auction,bidder,price,dateTime,extra", true), null)
        .groupBy(window(col("dateTime"), Nexmark.Q7_SIZE_MS / 1000 + " seconds"))
        .agg(
            maxBids
                .apply(col("auction"), col("bidder"), col("price"), millis("dateTime"), col("extra"))
                .as("m"))
        .select(col("window"), explode(col("m.bids")).as("b"))
        .select(
            col("b.auction").as("auction"),
            col("b.price").as("price"),
            col("b.bidder").as("bidder"),
            timestamp_millis(col("b.dateTime")).as("dateTime"),
            col("b.extra").as("extra"),
            millis("window.end").minus(1).as(OUT_TIME));
  }

  /**
   * The bids with the highest price (all of them when several have it). The buffer holds only
   * those, in Kryo's encoding in the state store (a binary column; Spark's bean or row encoders
   * would rebuild a nested row for every update).
   */
  static final class MaxBids extends Aggregator<Row, MaxBids.Buffer, Row> {
    private static final long serialVersionUID = 1L;

    static final StructType BID =
        DataTypes.createStructType(
            List.of(
                DataTypes.createStructField("auction", DataTypes.LongType, false),
                DataTypes.createStructField("bidder", DataTypes.LongType, false),
                DataTypes.createStructField("price", DataTypes.LongType, false),
                DataTypes.createStructField("dateTime", DataTypes.LongType, false),
                DataTypes.createStructField("extra", DataTypes.StringType, true)));
    static final StructType INPUT = BID;
    static final StructType OUTPUT =
        DataTypes.createStructType(
            List.of(DataTypes.createStructField("bids", DataTypes.createArrayType(BID, false), false)));

    /** One bid at the maximum. */
    public static final class Top implements Serializable {
      private static final long serialVersionUID = 1L;
      public long auction;
      public long bidder;
      public long price;
      public long dateTime;
      public String extra;

      public Top() {}
    }

    public static final class Buffer implements Serializable {
      private static final long serialVersionUID = 1L;
      public long price = Long.MIN_VALUE;
      public ArrayList<Top> bids = new ArrayList<>();

      public Buffer() {}
    }

    @Override
    public Buffer zero() {
      return new Buffer();
    }

    @Override
    public Buffer reduce(Buffer b, Row r) {
      long price = r.getLong(2);
      if (price < b.price) return b;
      if (price > b.price) {
        b.price = price;
        b.bids.clear();
      }
      Top t = new Top();
      t.auction = r.getLong(0);
      t.bidder = r.getLong(1);
      t.price = price;
      t.dateTime = r.getLong(3);
      t.extra = r.getString(4);
      b.bids.add(t);
      return b;
    }

    @Override
    public Buffer merge(Buffer a, Buffer b) {
      if (b.price > a.price) return b;
      if (b.price == a.price) a.bids.addAll(b.bids);
      return a;
    }

    @Override
    public Row finish(Buffer b) {
      List<Row> rows = new ArrayList<>(b.bids.size());
      for (Top t : b.bids) rows.add(RowFactory.create(t.auction, t.bidder, t.price, t.dateTime, t.extra));
      // Spark's row encoder takes a Scala Seq for an array column.
      return RowFactory.create(scala.jdk.javaapi.CollectionConverters.asScala(rows).toSeq());
    }

    @Override
    public Encoder<Buffer> bufferEncoder() {
      return Encoders.kryo(Buffer.class);
    }

    @Override
    public Encoder<Row> outputEncoder() {
      return Encoders.row(OUTPUT);
    }
  }

  // --------------------------------------------------------------------------------------- q8

  /**
   * Q8, monitor new users: sellers grouped per tumbling 10 s window (a windowed aggregation in
   * append mode), joined with the persons registered in the same window on id = seller and window =
   * window. The window column carries the watermark, so the join drops its state by window. As
   * in eddy and Flink, persons are not grouped first (the reference groups them by id, name and
   * window; every person id occurs once, so the rows are the same).
   */
  static Dataset<Row> q8(Input in) {
    String size = Nexmark.Q8_SIZE_MS / 1000 + " seconds";
    Dataset<Row> persons =
        timed(in.table("person", "id,name,dateTime", true), null)
            .select(col("id"), col("name"), window(col("dateTime"), size).as("pw"));
    Dataset<Row> sellers =
        timed(in.table("auction", "seller,dateTime", true), null)
            .groupBy(col("seller"), window(col("dateTime"), size).as("aw"))
            .count();
    return persons
        .join(sellers, col("id").equalTo(col("seller")).and(col("pw").equalTo(col("aw"))))
        .select(
            col("id"),
            col("name"),
            col("pw.start").as("starttime"),
            millis("pw.end").minus(1).as(OUT_TIME));
  }
}
