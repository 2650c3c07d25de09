package dev.eddy.peers.kstreams;

import dev.eddy.peers.common.Auction;
import dev.eddy.peers.common.Bid;
import dev.eddy.peers.common.Event;
import dev.eddy.peers.common.Nexmark;
import dev.eddy.peers.common.Person;
import dev.eddy.peers.common.Rows.AuctionCount;
import dev.eddy.peers.common.Rows.Average;
import dev.eddy.peers.common.Rows.Count;
import dev.eddy.peers.common.Rows.MaxBids;
import dev.eddy.peers.common.Rows.MaxCount;
import dev.eddy.peers.common.Rows.Q1Row;
import dev.eddy.peers.common.Rows.Q2Row;
import dev.eddy.peers.common.Rows.Q3Row;
import dev.eddy.peers.common.Rows.Q4Row;
import dev.eddy.peers.common.Rows.Q5Row;
import dev.eddy.peers.common.Rows.Q8Row;
import dev.eddy.peers.common.Rows.Q11Row;
import dev.eddy.peers.common.Rows.SellerWindow;
import dev.eddy.peers.common.Rows.Winner;
import dev.eddy.peers.common.Rows.WinningBid;
import dev.eddy.peers.common.Stamped;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Function;
import java.util.function.Supplier;
import java.util.function.ToLongFunction;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.common.utils.Bytes;
import org.apache.kafka.streams.KeyValue;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.kstream.EmitStrategy;
import org.apache.kafka.streams.kstream.Grouped;
import org.apache.kafka.streams.kstream.JoinWindows;
import org.apache.kafka.streams.kstream.KStream;
import org.apache.kafka.streams.kstream.Materialized;
import org.apache.kafka.streams.kstream.Named;
import org.apache.kafka.streams.kstream.SessionWindows;
import org.apache.kafka.streams.kstream.StreamJoined;
import org.apache.kafka.streams.kstream.Suppressed;
import org.apache.kafka.streams.kstream.Suppressed.BufferConfig;
import org.apache.kafka.streams.kstream.TimeWindows;
import org.apache.kafka.streams.processor.api.ContextualFixedKeyProcessor;
import org.apache.kafka.streams.processor.api.FixedKeyRecord;
import org.apache.kafka.streams.state.BuiltInDslStoreSuppliers;
import org.apache.kafka.streams.state.KeyValueStore;
import org.apache.kafka.streams.state.SessionStore;
import org.apache.kafka.streams.state.Stores;
import org.apache.kafka.streams.state.WindowStore;

/**
 * The Nexmark queries on the Kafka Streams DSL, computing what bench/nexmark/queries.ts computes
 * (same windows, join bounds and tie rules; see bench/peers/README.md). Windowed aggregations emit
 * once per window when it closes ({@code EmitStrategy.onWindowClose}); see {@link Flow} for how
 * the END record closes the last windows.
 */
final class KsQueries {
  private KsQueries() {}

  /** The queries implemented here (bench/peers/index.ts lists the same). */
  static final List<String> NAMES =
      List.of(
          "q0", "q1", "q2", "q3", "q3r", "q4", "q4r", "q5", "q6", "q7", "q7r", "q8", "q9", "q11", "q12", "q13",
          "q14", "q15", "q16", "q17", "q18", "q19", "q20", "q21", "q22");

  /**
   * The event time of the END records: past every window and join bound of {@code query} by
   * more than the grace, but no further than needed (see {@link Flow#END_OFFSET_MS}).
   */
  static long endTime(String query, long lastEventTime, long graceMs) {
    long t = lastEventTime + graceMs + Flow.END_OFFSET_MS;
    // q17's one-day windows: past the end of the last event's day.
    if (query.equals("q17")) t = Math.max(t, Nexmark.windowStart(lastEventTime, Nexmark.DAY_MS) + Nexmark.DAY_MS + graceMs + 1);
    return t;
  }

  /** Builds {@code query} over {@code events} (key null, END key {@link Flow#END}); returns its output. */
  static KStream<Long, ? extends Stamped> build(String query, StreamsBuilder builder, Flow f, KStream<Long, Event> events) {
    switch (query) {
      case "q0":
        // nexmark/nexmark's q0: every bid (SELECT ... FROM bid).
        return bids(events);
      case "q1":
        return bids(events).mapValues((k, b) -> Flow.isEnd(k) ? new Q1Row() : Q1Row.of(b), Named.as("q1-euros"));
      case "q2":
        return bids(events)
            .filter((k, b) -> Flow.isEnd(k) || b.auction % Nexmark.Q2_AUCTION_SKIP == 0, Named.as("q2-select"))
            .mapValues((k, b) -> Flow.isEnd(k) ? new Q2Row() : Q2Row.of(b), Named.as("q2-project"));
      case "q3":
        return q3(f, events);
      case "q4":
        return q4(builder, f, events);
      case "q5":
        return q5(f, events);
      case "q7":
        return q7(builder, f, events);
      case "q8":
        return q8(f, events);
      case "q11":
        return q11(f, events);
      default:
        return KsMoreQueries.build(query, builder, f, events);
    }
  }

  static KStream<Long, Bid> bids(KStream<Long, Event> events) {
    return events
        .filter((k, e) -> Flow.isEnd(k) || e.kind == Event.BID, Named.as("bids"))
        .mapValues((k, e) -> Flow.isEnd(k) ? new Bid() : e.bid, Named.as("bid"));
  }

  static KStream<Long, Auction> auctions(KStream<Long, Event> events) {
    return events
        .filter((k, e) -> Flow.isEnd(k) || e.kind == Event.AUCTION, Named.as("auctions"))
        .mapValues((k, e) -> Flow.isEnd(k) ? new Auction() : e.auction, Named.as("auction"));
  }

  static KStream<Long, Person> persons(KStream<Long, Event> events) {
    return events
        .filter((k, e) -> Flow.isEnd(k) || e.kind == Event.PERSON, Named.as("persons"))
        .mapValues((k, e) -> Flow.isEnd(k) ? new Person() : e.person, Named.as("person"));
  }

  /**
   * Runs {@code step} (which swallows END records) over {@code in} and merges the ENDs back in
   * after it. The step must be built first: Kafka Streams hands a record to a node's children in
   * the order they were added, so the step has processed an END (and emitted the windows it
   * closes) before the END goes on.
   */
  static <V, O> KStream<Long, O> around(
      KStream<Long, V> in, Function<KStream<Long, V>, KStream<Long, O>> step, Supplier<O> placeholder, String name) {
    KStream<Long, O> out = step.apply(in);
    return out.merge(Flow.ends(in, placeholder, name), Named.as(name + "-merge"));
  }

  /** Sets each record's timestamp (a window result's: its window's end − 1, in Flink and eddy). */
  static final class Stamp<V> extends ContextualFixedKeyProcessor<Long, V, V> {
    private final ToLongFunction<V> time;

    Stamp(ToLongFunction<V> time) {
      this.time = time;
    }

    @Override
    public void process(FixedKeyRecord<Long, V> r) {
      context().forward(Flow.isEnd(r.key()) ? r : r.withTimestamp(time.applyAsLong(r.value())));
    }
  }

  // ---------------------------------------------------------------------------------------- Q3

  /**
   * A stream-stream join, auction time ± 600 s (both inclusive, as eddy's interval join). Both
   * sides go through one shared gate per task, and no END enters the join (its far-future time
   * would make the other side's remaining records late); the gate reports the task done.
   */
  static KStream<Long, Q3Row> q3(Flow f, KStream<Long, Event> events) {
    KStream<Long, Person> sellers =
        f.gateJoin(
            f.repartition(
                persons(events)
                    .filter((k, p) -> Flow.isEnd(k) || Nexmark.Q3_STATES.contains(p.state), Named.as("q3-states"))
                    .selectKey((k, p) -> Flow.isEnd(k) ? Flow.END : p.id, Named.as("q3-person-key")),
                Person.class,
                "q3-persons"),
            2 * f.parallelism,
            "q3",
            "q3-persons-gate");
    KStream<Long, Auction> open =
        f.gateJoin(
            f.repartition(
                auctions(events)
                    .filter((k, a) -> Flow.isEnd(k) || a.category == Nexmark.Q3_CATEGORY, Named.as("q3-category"))
                    .selectKey((k, a) -> Flow.isEnd(k) ? Flow.END : a.seller, Named.as("q3-auction-key")),
                Auction.class,
                "q3-auctions"),
            2 * f.parallelism,
            "q3",
            "q3-auctions-gate");
    StreamJoined<Long, Auction, Person> stores =
        StreamJoined.<Long, Auction, Person>with(Serdes.Long(), Flow.serde(Auction.class), Flow.serde(Person.class))
            .withName("q3-join")
            .withStoreName("q3-join")
            // The join's window stores in RocksDB whatever the durability: the in-memory window store
            // keeps one map per distinct timestamp and looks the key up in each one of the ±600 s
            // (InMemoryWindowStore#fetch walks segmentMap.subMap(from, to)), which made this query
            // ~60x slower than eddy; RocksDB's window key schema (key, then time) makes it one range
            // scan per segment. An expert keeps a 20-minute join window there.
            .withDslStoreSuppliers(new BuiltInDslStoreSuppliers.RocksDBDslStoreSuppliers());
    // Durability "none": no changelog for the join's stores either (as Flow#durability does for the others).
    if (Flow.noDurability) stores = stores.withLoggingDisabled();
    return open.join(
        sellers,
        Q3Row::of,
        JoinWindows.ofTimeDifferenceAndGrace(Duration.ofMillis(Nexmark.Q3_HORIZON_MS), f.grace),
        stores);
  }

  // ---------------------------------------------------------------------------------------- Q4

  /** Each auction with its winning bid ({@link WinningBids}), keyed by auction id; for q4, q6 and q9. */
  static KStream<Long, WinningBid> winningBids(StreamsBuilder builder, Flow f, KStream<Long, Event> events, String name) {
    builder.addStateStore(Flow.durability(
        Stores.keyValueStoreBuilder(
            Flow.kvStore(WinningBids.AUCTIONS), Serdes.Long(), Flow.serde(WinningBids.State.class))));
    builder.addStateStore(Flow.durability(
        Stores.keyValueStoreBuilder(
            Flow.kvStore(WinningBids.EARLY), Serdes.Bytes(), Serdes.ByteArray())));
    builder.addStateStore(Flow.durability(
        Stores.keyValueStoreBuilder(Flow.kvStore(WinningBids.EXPIRY), Serdes.Bytes(), Serdes.ByteArray())));
    KStream<Long, Event> auctionsAndBids =
        f.rekey(
            events.filter((k, e) -> Flow.isEnd(k) || e.kind != Event.PERSON, Named.as(name + "-auctions-and-bids")),
            e -> e.kind == Event.AUCTION ? e.auction.id : e.bid.auction,
            Event.class,
            name + "-by-auction");
    long graceMs = f.grace.toMillis();
    return auctionsAndBids.process(
        () -> new WinningBids(graceMs, f.base),
        Named.as(name),
        WinningBids.AUCTIONS,
        WinningBids.EARLY,
        WinningBids.EXPIRY);
  }

  /** Winning bids, then a running average per category (one row per winner). */
  static KStream<Long, Q4Row> q4(StreamsBuilder builder, Flow f, KStream<Long, Event> events) {
    KStream<Long, Winner> winners =
        winningBids(builder, f, events, "q4-winners")
            .map(
                (k, w) ->
                    Flow.isEnd(k)
                        ? KeyValue.pair(Flow.END, new Winner())
                        : KeyValue.pair(w.auction.category, new Winner(w.auction.category, w.bid.price, w.created)),
                Named.as("q4-price"));
    return f.exchange(winners, Winner.class, "q4-by-category", f.parallelism)
        .groupByKey(Grouped.with("q4-group", Serdes.Long(), Flow.serde(Winner.class)))
        .aggregate(
            Average::new,
            (category, w, acc) -> {
              acc.sum += w.price;
              acc.n++;
              acc.created = w.created;
              return acc;
            },
            Named.as("q4-average"),
            Flow.durability(Materialized.<Long, Average, KeyValueStore<Bytes, byte[]>>as("q4-average"))
                .withKeySerde(Serdes.Long())
                .withValueSerde(Flow.serde(Average.class))
                // Every update is a result (the reference's updating aggregate), so none is cached away.
                .withCachingDisabled())
        .toStream(Named.as("q4-updates"))
        .mapValues((k, acc) -> Flow.isEnd(k) ? new Q4Row() : new Q4Row(k, acc.sum / acc.n, acc.created), Named.as("q4-row"));
  }

  // ---------------------------------------------------------------------------------------- Q5

  /**
   * Bids per auction per hopping window (10 s every 2 s); each count, stamped with its window's
   * end − 1 and keyed by the window's start, meets the other counts of its window in a 2 s
   * tumbling window that keeps the highest count and every auction with it.
   */
  static KStream<Long, Q5Row> q5(Flow f, KStream<Long, Event> events) {
    // Projection before the repartition, as an expert writes it: a bid crosses the topic as its
    // auction (the key) and its latency stamp, both longs (Kafka's LongSerde), not as a JSON bid.
    KStream<Long, Long> byAuction =
        f.exchange(
            bids(events)
                .selectKey((k, b) -> Flow.isEnd(k) ? Flow.END : b.auction, Named.as("q5-by-auction-key"))
                .mapValues(b -> b.created, Named.as("q5-project")),
            Long.class,
            "q5-by-auction",
            f.parallelism);
    KStream<Long, AuctionCount> counts =
        around(
            byAuction,
            in ->
                in.groupByKey(Grouped.with("q5-group", Serdes.Long(), Serdes.Long()))
                    .windowedBy(
                        TimeWindows.ofSizeAndGrace(Duration.ofMillis(Nexmark.Q5_SIZE_MS), f.grace)
                            .advanceBy(Duration.ofMillis(Nexmark.Q5_SLIDE_MS)))
                    .emitStrategy(EmitStrategy.onWindowClose())
                    .aggregate(
                        Count::new,
                        (auction, created, acc) -> acc.add(created),
                        Named.as("q5-count"),
                        Flow.durability(Materialized.<Long, Count, WindowStore<Bytes, byte[]>>as("q5-count"))
                            .withKeySerde(Serdes.Long())
                            .withValueSerde(Flow.serde(Count.class))
                            .withRetention(f.windowRetention(Nexmark.Q5_SIZE_MS)))
                    .toStream(Named.as("q5-counts"))
                    .<Long, AuctionCount>map(
                            (w, c) ->
                                KeyValue.pair(
                                    w.window().start(),
                                    new AuctionCount(w.key(), c.count, w.window().start(), w.window().end(), c.created)),
                        Named.as("q5-by-window")),
            AuctionCount::new,
            "q5-count");
    KStream<Long, AuctionCount> byWindow =
        f.exchange(
            counts.processValues(() -> new Stamp<AuctionCount>(c -> c.end - 1), Named.as("q5-stamp")),
            AuctionCount.class,
            "q5-by-start",
            f.parallelism);
    return around(
        byWindow,
        in ->
            in.groupByKey(Grouped.with("q5-max-group", Serdes.Long(), Flow.serde(AuctionCount.class)))
                .windowedBy(TimeWindows.ofSizeAndGrace(Duration.ofMillis(Nexmark.Q5_SLIDE_MS), f.grace))
                .emitStrategy(EmitStrategy.onWindowClose())
                .aggregate(
                    MaxCount::new,
                    (start, c, acc) -> acc.add(c),
                    Named.as("q5-max"),
                    Flow.durability(Materialized.<Long, MaxCount, WindowStore<Bytes, byte[]>>as("q5-max"))
                        .withKeySerde(Serdes.Long())
                        .withValueSerde(Flow.serde(MaxCount.class))
                        .withRetention(f.windowRetention(Nexmark.Q5_SLIDE_MS)))
                .toStream(Named.as("q5-maxes"))
                .<Long, Q5Row>flatMap(
                    (w, m) -> {
                      List<KeyValue<Long, Q5Row>> rows = new ArrayList<>();
                      for (long auction : m.auctions) {
                        rows.add(
                            KeyValue.pair(
                                auction, new Q5Row(auction, m.num, m.start - f.base, m.end - f.base, m.created)));
                      }
                      return rows;
                    },
                    Named.as("q5-rows")),
        Q5Row::new,
        "q5-max");
  }

  // ---------------------------------------------------------------------------------------- Q7

  /**
   * The highest bid(s) per tumbling 10 s window, all on one key (one task), as eddy's: each input
   * task's window maxima first ({@link LocalWindows}), merged per window on the one key.
   */
  static KStream<Long, Bid> q7(StreamsBuilder builder, Flow f, KStream<Long, Event> events) {
    long size = Nexmark.Q7_SIZE_MS;
    builder.addStateStore(Flow.durability(
        Stores.keyValueStoreBuilder(Flow.kvStore("q7-local"), Serdes.Long(), Flow.serde(MaxBids.class))));
    KStream<Long, MaxBids> partials =
        bids(events)
            .process(
                () -> new LocalWindows<>("q7-local", size, false, MaxBids::add, MaxBids::new, f.base),
                Named.as("q7-local"),
                "q7-local");
    KStream<Long, MaxBids> all = f.rekey(partials, m -> 0L, MaxBids.class, "q7-global");
    return around(
        all,
        in ->
            in.groupByKey(Grouped.with("q7-group", Serdes.Long(), Flow.serde(MaxBids.class)))
                .windowedBy(TimeWindows.ofSizeAndGrace(Duration.ofMillis(size), f.grace))
                .emitStrategy(EmitStrategy.onWindowClose())
                .aggregate(
                    MaxBids::new,
                    (k, partial, acc) -> {
                      for (Bid b : partial.bids) acc.add(b);
                      return acc;
                    },
                    Named.as("q7-max"),
                    Flow.durability(Materialized.<Long, MaxBids, WindowStore<Bytes, byte[]>>as("q7-max"))
                        .withKeySerde(Serdes.Long())
                        .withValueSerde(Flow.serde(MaxBids.class))
                        .withRetention(f.windowRetention(size)))
                .toStream(Named.as("q7-maxes"))
                .<Long, Bid>flatMap(
                    (w, m) -> {
                      List<KeyValue<Long, Bid>> rows = new ArrayList<>();
                      for (Bid b : m.bids) rows.add(KeyValue.pair(b.auction, b));
                      return rows;
                    },
                    Named.as("q7-rows")),
        Bid::new,
        "q7-max");
  }

  // ---------------------------------------------------------------------------------------- Q8

  /** One side of Q8's window join: a person, or a seller's auctions in a window. */
  public static final class Q8Side {
    public String name;
    public boolean person;
    public boolean seller;
    public long created;

    public Q8Side() {}
  }

  /**
   * Sellers grouped per tumbling 10 s window (one row each, stamped end − 1), then joined with the
   * persons of the same window. Kafka Streams has no tumbling-window join, so the join is a
   * tumbling-window aggregation of both sides per id that keeps the windows holding both (each
   * person id appears once, so it is the same as the pairwise join).
   */
  static KStream<Long, Q8Row> q8(Flow f, KStream<Long, Event> events) {
    KStream<Long, Auction> bySeller = f.rekey(auctions(events), a -> a.seller, Auction.class, "q8-by-seller");
    KStream<Long, Q8Side> sellers =
        around(
                bySeller,
                in ->
                    in.groupByKey(Grouped.with("q8-seller-group", Serdes.Long(), Flow.serde(Auction.class)))
                        .windowedBy(TimeWindows.ofSizeAndGrace(Duration.ofMillis(Nexmark.Q8_SIZE_MS), f.grace))
                        .emitStrategy(EmitStrategy.onWindowClose())
                        .aggregate(
                            Count::new,
                            (seller, a, acc) -> acc.add(a.created),
                            Named.as("q8-sellers"),
                            Flow.durability(Materialized.<Long, Count, WindowStore<Bytes, byte[]>>as("q8-sellers"))
                                .withKeySerde(Serdes.Long())
                                .withValueSerde(Flow.serde(Count.class))
                                .withRetention(f.windowRetention(Nexmark.Q8_SIZE_MS)))
                        .toStream(Named.as("q8-seller-windows"))
                        .<Long, SellerWindow>map(
                            (w, c) ->
                                KeyValue.pair(
                                    w.key(), new SellerWindow(w.key(), w.window().start(), c.created)),
                            Named.as("q8-seller-key")),
                SellerWindow::new,
                "q8-sellers")
            .processValues(
                () -> new Stamp<SellerWindow>(s -> s.start + Nexmark.Q8_SIZE_MS - 1), Named.as("q8-seller-stamp"))
            .mapValues(
                (k, s) -> {
                  Q8Side side = new Q8Side();
                  if (Flow.isEnd(k)) return side;
                  side.seller = true;
                  side.created = s.created;
                  return side;
                },
                Named.as("q8-seller-side"));
    KStream<Long, Q8Side> people =
        persons(events)
            .selectKey((k, p) -> Flow.isEnd(k) ? Flow.END : p.id, Named.as("q8-person-key"))
            .mapValues(
                (k, p) -> {
                  Q8Side side = new Q8Side();
                  if (Flow.isEnd(k)) return side;
                  side.person = true;
                  side.name = p.name;
                  side.created = p.created;
                  return side;
                },
                Named.as("q8-person-side"));
    // Each partition gets the ENDs of the input tasks (persons) and of the seller tasks.
    KStream<Long, Q8Side> both =
        f.exchange(people.merge(sellers, Named.as("q8-sides")), Q8Side.class, "q8-by-id", 2 * f.parallelism);
    // The join's grace is the sellers' step's delay beyond the input's: a seller's window row (at
    // the window's end − 1) comes out once that step's stream time passes the end + its grace,
    // while the persons of later windows go straight in and move the join's stream time on. With
    // the input's grace only, every seller row reached the join after its window had closed and
    // was dropped as late: the fair rounds' q8 emitted nothing (Kafka Streams has no watermarks).
    Duration joinGrace = f.grace.plusMillis(Nexmark.Q8_SIZE_MS);
    return around(
        both,
        in ->
            in.groupByKey(Grouped.with("q8-join-group", Serdes.Long(), Flow.serde(Q8Side.class)))
                .windowedBy(TimeWindows.ofSizeAndGrace(Duration.ofMillis(Nexmark.Q8_SIZE_MS), joinGrace))
                .emitStrategy(EmitStrategy.onWindowClose())
                .aggregate(
                    Q8Side::new,
                    (id, side, acc) -> {
                      if (side.person) {
                        acc.person = true;
                        acc.name = side.name;
                      }
                      if (side.seller) acc.seller = true;
                      if (side.created > acc.created) acc.created = side.created;
                      return acc;
                    },
                    Named.as("q8-join"),
                    Flow.durability(Materialized.<Long, Q8Side, WindowStore<Bytes, byte[]>>as("q8-join"))
                        .withKeySerde(Serdes.Long())
                        .withValueSerde(Flow.serde(Q8Side.class))
                        .withRetention(f.windowRetention(Nexmark.Q8_SIZE_MS, joinGrace)))
                .toStream(Named.as("q8-windows"))
                .filter((w, acc) -> acc.person && acc.seller, Named.as("q8-both"))
                .<Long, Q8Row>map(
                    (w, acc) ->
                        KeyValue.pair(
                            w.key(), new Q8Row(w.key(), acc.name, w.window().start() - f.base, acc.created)),
                    Named.as("q8-rows")),
        Q8Row::new,
        "q8-join");
  }

  // --------------------------------------------------------------------------------------- Q11

  /**
   * Bids per bidder per session. Kafka Streams merges a record into a session when it is at most
   * the gap from it (inclusive); eddy's sessions merge when they overlap, i.e. at most gap − 1 ms
   * apart, so the gap here is 9,999 ms. Kafka Streams' session ends at the last bid; the row's
   * end adds the gap back, as eddy's.
   */
  static KStream<Long, Q11Row> q11(Flow f, KStream<Long, Event> events) {
    KStream<Long, Bid> byBidder = f.rekey(bids(events), b -> b.bidder, Bid.class, "q11-by-bidder");
    return around(
        byBidder,
        in ->
            in.groupByKey(Grouped.with("q11-group", Serdes.Long(), Flow.serde(Bid.class)))
                .windowedBy(
                    SessionWindows.ofInactivityGapAndGrace(Duration.ofMillis(Nexmark.Q11_GAP_MS - 1), f.grace))
                .aggregate(
                    Count::new,
                    (bidder, b, acc) -> acc.add(b.created),
                    (bidder, a, b) -> a.merge(b),
                    Named.as("q11-sessions"),
                    Flow.durability(Materialized.<Long, Count, SessionStore<Bytes, byte[]>>as("q11-sessions"))
                        .withKeySerde(Serdes.Long())
                        .withValueSerde(Flow.serde(Count.class))
                        .withCachingDisabled())
                .suppress(Suppressed.untilWindowCloses(BufferConfig.unbounded()).withName("q11-final"))
                .toStream(Named.as("q11-closed"))
                .filter((w, c) -> c != null, Named.as("q11-not-merged"))
                .<Long, Q11Row>map(
                    (w, c) ->
                        KeyValue.pair(
                            w.key(),
                            new Q11Row(
                                w.key(),
                                c.count,
                                w.window().start() - f.base,
                                w.window().end() - f.base + Nexmark.Q11_GAP_MS,
                                c.created)),
                    Named.as("q11-rows")),
        Q11Row::new,
        "q11-sessions");
  }
}
