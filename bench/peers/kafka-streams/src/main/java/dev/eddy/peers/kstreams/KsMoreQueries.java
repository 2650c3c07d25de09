package dev.eddy.peers.kstreams;

import static dev.eddy.peers.kstreams.KsQueries.around;
import static dev.eddy.peers.kstreams.KsQueries.bids;
import static dev.eddy.peers.kstreams.KsQueries.winningBids;

import dev.eddy.peers.common.Auction;
import dev.eddy.peers.common.Bid;
import dev.eddy.peers.common.Event;
import dev.eddy.peers.common.Nexmark;
import dev.eddy.peers.common.Rows.AuctionDay;
import dev.eddy.peers.common.Rows.Closed;
import dev.eddy.peers.common.Rows.Q12Row;
import dev.eddy.peers.common.Rows.Q13Row;
import dev.eddy.peers.common.Rows.Q14Row;
import dev.eddy.peers.common.Rows.Q17Row;
import dev.eddy.peers.common.Rows.Q19Row;
import dev.eddy.peers.common.Rows.Q20Row;
import dev.eddy.peers.common.Rows.Q21Row;
import dev.eddy.peers.common.Rows.Q22Row;
import dev.eddy.peers.common.Rows.Q6Row;
import dev.eddy.peers.common.Rows.Q9Row;
import dev.eddy.peers.common.Rows.StatsRow;
import dev.eddy.peers.common.Rows.TopBids;
import dev.eddy.peers.common.Rows.WinningBid;
import dev.eddy.peers.common.Stamped;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import org.apache.kafka.common.serialization.Serde;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.common.utils.Bytes;
import org.apache.kafka.streams.KeyValue;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.kstream.EmitStrategy;
import org.apache.kafka.streams.kstream.Grouped;
import org.apache.kafka.streams.kstream.KStream;
import org.apache.kafka.streams.kstream.Materialized;
import org.apache.kafka.streams.kstream.Named;
import org.apache.kafka.streams.kstream.TimeWindows;
import org.apache.kafka.streams.processor.PunctuationType;
import org.apache.kafka.streams.processor.api.ContextualFixedKeyProcessor;
import org.apache.kafka.streams.processor.api.ContextualProcessor;
import org.apache.kafka.streams.processor.api.FixedKeyProcessorContext;
import org.apache.kafka.streams.processor.api.FixedKeyRecord;
import org.apache.kafka.streams.processor.api.ProcessorContext;
import org.apache.kafka.streams.processor.api.Record;
import org.apache.kafka.streams.state.KeyValueIterator;
import org.apache.kafka.streams.state.KeyValueStore;
import org.apache.kafka.streams.state.Stores;
import org.apache.kafka.streams.state.WindowStore;

/**
 * Nexmark q6, q9 and q12-q22 on Kafka Streams, after bench/nexmark/queries.ts: the DSL where it has
 * the operator, the Processor API with RocksDB stores where eddy's version is a keyed process step
 * with timers (see bench/peers/README.md for each).
 */
final class KsMoreQueries {
  private KsMoreQueries() {}

  static KStream<Long, ? extends Stamped> build(String query, StreamsBuilder builder, Flow f, KStream<Long, Event> events) {
    switch (query) {
      case "q6":
        return q6(builder, f, events);
      case "q9":
        return winningBids(builder, f, events, "q9-winners")
            .mapValues((k, w) -> Flow.isEnd(k) ? new Q9Row() : Q9Row.of(w), Named.as("q9-row"));
      case "q12":
        {
          store(builder, Q12Windows.STORE, Serdes.Long(), Q12Windows.State.class);
          return f.rekey(bids(events), b -> b.bidder, Bid.class, "q12-by-bidder")
              .process(Q12Windows::new, Named.as("q12-windows"), Q12Windows.STORE);
        }
      case "q13":
        {
          Map<Long, String> side = new HashMap<>();
          for (long k = 0; k < Nexmark.Q13_KEY_MODULUS; k++) side.put(k, String.valueOf(k));
          return bids(events)
              .mapValues(
                  (k, b) -> {
                    if (Flow.isEnd(k)) return new Q13Row();
                    String value = side.get(b.auction % Nexmark.Q13_KEY_MODULUS);
                    return value == null ? null : Q13Row.of(b, value);
                  },
                  Named.as("q13-side-input"))
              .filter((k, r) -> r != null, Named.as("q13-inner"));
        }
      case "q14":
        return bids(events)
            .mapValues((k, b) -> Flow.isEnd(k) ? new Q14Row() : Q14Row.of(b), Named.as("q14-calculate"))
            .filter((k, r) -> r != null, Named.as("q14-range"));
      case "q15":
        return dayStats(builder, f, events, "q15", b -> Math.floorDiv(b.dateTime, Nexmark.DAY_MS), false);
      case "q16":
        return dayStats(
            builder, f, events, "q16", b -> Nexmark.hash64(b.channel == null ? "" : b.channel), true);
      case "q17":
        return q17(f, events);
      case "q18":
        {
          store(builder, "q18-latest", Serdes.Long(), Long.class);
          return f.rekey(bids(events), b -> (b.bidder << 32) | b.auction, Bid.class, "q18-by-bidder-auction")
              .processValues(Q18Latest::new, Named.as("q18-latest"), "q18-latest");
        }
      case "q19":
        {
          store(builder, "q19-top", Serdes.Long(), TopBids.class);
          return f.rekey(bids(events), b -> b.auction, Bid.class, "q19-by-auction")
              .process(Q19Top::new, Named.as("q19-top"), "q19-top");
        }
      case "q20":
        {
          store(builder, Q20Join.AUCTIONS, Serdes.Long(), Q20Join.State.class);
          store(builder, Q20Join.EARLY, Serdes.Long(), WinningBids.Early.class);
          return f.rekey(
                  events.filter((k, e) -> Flow.isEnd(k) || e.kind != Event.PERSON, Named.as("q20-auctions-and-bids")),
                  e -> e.kind == Event.AUCTION ? e.auction.id : e.bid.auction,
                  Event.class,
                  "q20-by-auction")
              .process(Q20Join::new, Named.as("q20-join"), Q20Join.AUCTIONS, Q20Join.EARLY);
        }
      case "q21":
        return bids(events)
            .mapValues((k, b) -> Flow.isEnd(k) ? new Q21Row() : Q21Row.of(b), Named.as("q21-channel-id"))
            .filter((k, r) -> r != null, Named.as("q21-has-id"));
      case "q22":
        return bids(events).mapValues((k, b) -> Flow.isEnd(k) ? new Q22Row() : Q22Row.of(b), Named.as("q22-url-dirs"));
      default:
        throw new IllegalArgumentException("unknown query " + query);
    }
  }

  static <K, V> void store(StreamsBuilder builder, String name, Serde<K> keys, Class<V> values) {
    builder.addStateStore(Flow.durability(Stores.keyValueStoreBuilder(Flow.kvStore(name), keys, Flow.serde(values))));
  }

  static void dueStore(StreamsBuilder builder, String name) {
    builder.addStateStore(Flow.durability(
        Stores.keyValueStoreBuilder(Flow.kvStore(name), Serdes.Bytes(), Serdes.ByteArray())));
  }

  // ---------------------------------------------------------------------------------------- Q6

  static KStream<Long, Q6Row> q6(StreamsBuilder builder, Flow f, KStream<Long, Event> events) {
    store(builder, Q6Average.PENDING, Serdes.Long(), Q6Average.Pending.class);
    store(builder, Q6Average.LAST, Serdes.Long(), long[].class);
    dueStore(builder, Q6Average.DUE);
    KStream<Long, WinningBid> bySeller =
        f.exchange(
            winningBids(builder, f, events, "q6-winners")
                .selectKey((k, w) -> Flow.isEnd(k) ? Flow.END : w.auction.seller, Named.as("q6-seller-key")),
            WinningBid.class,
            "q6-by-seller",
            f.parallelism);
    long graceMs = f.grace.toMillis();
    return bySeller.process(
        () -> new Q6Average(graceMs, f.base), Named.as("q6-average"), Q6Average.PENDING, Q6Average.LAST, Q6Average.DUE);
  }

  /**
   * Per seller: winners wait until event time (here: the latest winner's time minus the grace)
   * passes their {@code expires}, then are applied in (expires, auction id) order to the seller's
   * last 10 winning prices; one row per closed auction.
   */
  static final class Q6Average extends ContextualProcessor<Long, WinningBid, Long, Q6Row> {
    static final String PENDING = "q6-pending";
    static final String LAST = "q6-last";
    static final String DUE = "q6-due";

    public static final class Pending {
      public List<Closed> closed = new ArrayList<>();

      public Pending() {}
    }

    private final long graceMs;
    private final long base;
    private KeyValueStore<Long, Pending> pending;
    private KeyValueStore<Long, long[]> last;
    private DueIndex due;
    private long observed = Long.MIN_VALUE;

    Q6Average(long graceMs, long base) {
      this.graceMs = graceMs;
      this.base = base;
    }

    @Override
    public void init(ProcessorContext<Long, Q6Row> context) {
      super.init(context);
      pending = context.getStateStore(PENDING);
      last = context.getStateStore(LAST);
      due = new DueIndex(context.getStateStore(DUE));
    }

    @Override
    public void process(Record<Long, WinningBid> record) {
      if (Flow.isEnd(record.key())) {
        due.fireDue(Long.MAX_VALUE, this::apply);
        context().forward(record.withValue(new Q6Row()));
        return;
      }
      long seller = record.key();
      Pending p = pending.get(seller);
      if (p == null) p = new Pending();
      p.closed.add(new Closed(record.value()));
      pending.put(seller, p);
      due.add(record.value().auction.expires, seller);
      long time = record.timestamp() - base;
      if (time > observed) {
        observed = time;
        due.fireDue(observed - graceMs - 1, this::apply);
      }
    }

    private void apply(long time, long seller) {
      Pending p = pending.get(seller);
      if (p == null) return;
      List<Closed> ready = new ArrayList<>();
      List<Closed> rest = new ArrayList<>();
      for (Closed c : p.closed) (c.expires <= time ? ready : rest).add(c);
      if (ready.isEmpty()) return;
      if (rest.isEmpty()) pending.delete(seller);
      else {
        p.closed = rest;
        pending.put(seller, p);
      }
      ready.sort((a, b) -> a.expires != b.expires ? Long.compare(a.expires, b.expires) : Long.compare(a.id, b.id));
      List<Long> window = new ArrayList<>();
      long[] prices = last.get(seller);
      if (prices != null) for (long x : prices) window.add(x);
      for (Closed c : ready) {
        window.add(c.price);
        if (window.size() > Nexmark.Q6_LAST_AUCTIONS) window.remove(0);
        double sum = 0;
        for (long x : window) sum += x;
        context().forward(new Record<>(seller, new Q6Row(seller, sum / window.size(), c.created), base + c.expires));
      }
      long[] next = new long[window.size()];
      for (int i = 0; i < next.length; i++) next[i] = window.get(i);
      last.put(seller, next);
    }
  }

  // --------------------------------------------------------------------------------------- Q12

  /**
   * Bids per bidder per tumbling 10 s window of processing time (wall clock), emitted by a
   * wall-clock punctuation (every second) once the window has ended; at the END record every open
   * window is emitted, as eddy's q12 does at the end of input.
   */
  static final class Q12Windows extends ContextualProcessor<Long, Bid, Long, Q12Row> {
    static final String STORE = "q12-windows";

    /** A bidder's open windows: start → {count, newest created}. */
    public static final class State {
      public Map<Long, long[]> windows = new HashMap<>();

      public State() {}
    }

    private KeyValueStore<Long, State> store;

    @Override
    public void init(ProcessorContext<Long, Q12Row> context) {
      super.init(context);
      store = context.getStateStore(STORE);
      context.schedule(Duration.ofSeconds(1), PunctuationType.WALL_CLOCK_TIME, this::closeUpTo);
    }

    @Override
    public void process(Record<Long, Bid> record) {
      if (Flow.isEnd(record.key())) {
        closeUpTo(Long.MAX_VALUE);
        context().forward(record.withValue(new Q12Row()));
        return;
      }
      long now = context().currentSystemTimeMs();
      long start = Nexmark.windowStart(now, Nexmark.Q12_WINDOW_MS);
      State s = store.get(record.key());
      if (s == null) s = new State();
      long[] w = s.windows.computeIfAbsent(start, k -> new long[2]);
      w[0]++;
      w[1] = Math.max(w[1], record.value().created);
      store.put(record.key(), s);
    }

    private void closeUpTo(long now) {
      List<KeyValue<Long, State>> changed = new ArrayList<>();
      try (KeyValueIterator<Long, State> it = store.all()) {
        while (it.hasNext()) {
          KeyValue<Long, State> kv = it.next();
          boolean any = false;
          for (Iterator<Map.Entry<Long, long[]>> e = kv.value.windows.entrySet().iterator(); e.hasNext(); ) {
            Map.Entry<Long, long[]> w = e.next();
            long end = w.getKey() + Nexmark.Q12_WINDOW_MS;
            if (end > now) continue;
            context()
                .forward(new Record<>(kv.key, new Q12Row(kv.key, w.getValue()[0], w.getKey(), end, w.getValue()[1]), end - 1));
            e.remove();
            any = true;
          }
          if (any) changed.add(kv);
        }
      }
      for (KeyValue<Long, State> kv : changed) {
        if (kv.value.windows.isEmpty()) store.delete(kv.key);
        else store.put(kv.key, kv.value);
      }
    }
  }

  // ---------------------------------------------------------------------------------- Q15, Q16

  /** The statistics of one group (a day, or a channel's day): counts in total and per price band. */
  public static final class DayCounters {
    /** bids, bidders, auctions: [total, rank1, rank2, rank3] each. */
    public long[] bids = new long[4];
    public long[] bidders = new long[4];
    public long[] auctions = new long[4];
    public long last = Long.MIN_VALUE;
    public String channel;
    public long created;

    public DayCounters() {}
  }

  /**
   * Q15 and Q16 with the Processor API: per group and UTC day, counters in one store and the
   * distinct bidders and auctions as keys of another (what eddy and Flink keep as sets in a
   * window's accumulator; an aggregate holding sets would be rewritten whole on every bid here).
   * A day is emitted once, when event time passes its end (or at the END record).
   */
  static KStream<Long, StatsRow> dayStats(
      StreamsBuilder builder, Flow f, KStream<Long, Event> events, String name, java.util.function.ToLongFunction<Bid> key, boolean perChannel) {
    store(builder, name + "-stats", Serdes.String(), DayCounters.class);
    builder.addStateStore(Flow.durability(
        Stores.keyValueStoreBuilder(Flow.kvStore(name + "-seen"), Serdes.String(), Serdes.ByteArray())));
    dueStore(builder, name + "-due");
    long graceMs = f.grace.toMillis();
    return f.rekey(bids(events), key, Bid.class, name + "-by-group")
        .process(
            () -> new DayStats(name, graceMs, f.base, perChannel),
            Named.as(name + "-days"),
            name + "-stats",
            name + "-seen",
            name + "-due");
  }

  static final class DayStats extends ContextualProcessor<Long, Bid, Long, StatsRow> {
    private final String name;
    private final long graceMs;
    private final long base;
    private final boolean perChannel;
    private KeyValueStore<String, DayCounters> stats;
    private KeyValueStore<String, byte[]> seen;
    private DueIndex due;
    private long observed = Long.MIN_VALUE;

    DayStats(String name, long graceMs, long base, boolean perChannel) {
      this.name = name;
      this.graceMs = graceMs;
      this.base = base;
      this.perChannel = perChannel;
    }

    @Override
    public void init(ProcessorContext<Long, StatsRow> context) {
      super.init(context);
      stats = context.getStateStore(name + "-stats");
      seen = context.getStateStore(name + "-seen");
      due = new DueIndex(context.getStateStore(name + "-due"));
    }

    @Override
    public void process(Record<Long, Bid> record) {
      if (Flow.isEnd(record.key())) {
        due.fireDue(Long.MAX_VALUE, this::emit);
        context().forward(record.withValue(new StatsRow()));
        return;
      }
      Bid b = record.value();
      long day = Nexmark.windowStart(b.dateTime, Nexmark.DAY_MS);
      String group = record.key() + ":" + day;
      DayCounters c = stats.get(group);
      if (c == null) {
        c = new DayCounters();
        c.channel = b.channel;
        due.add(day + Nexmark.DAY_MS - 1, record.key());
      }
      int r = 1 + Nexmark.priceRank(b.price);
      c.bids[0]++;
      c.bids[r]++;
      if (firstTime(group + ":b:0:" + b.bidder)) c.bidders[0]++;
      if (firstTime(group + ":b:" + r + ":" + b.bidder)) c.bidders[r]++;
      if (firstTime(group + ":a:0:" + b.auction)) c.auctions[0]++;
      if (firstTime(group + ":a:" + r + ":" + b.auction)) c.auctions[r]++;
      if (b.dateTime > c.last) c.last = b.dateTime;
      if (b.created > c.created) c.created = b.created;
      stats.put(group, c);
      long time = record.timestamp() - base;
      if (time > observed) {
        observed = time;
        due.fireDue(observed - graceMs - 1, this::emit);
      }
    }

    private boolean firstTime(String member) {
      if (seen.get(member) != null) return false;
      seen.put(member, new byte[0]);
      return true;
    }

    private void emit(long dayLast, long key) {
      long day = dayLast + 1 - Nexmark.DAY_MS;
      String group = key + ":" + day;
      DayCounters c = stats.get(group);
      if (c == null) return;
      stats.delete(group);
      StatsRow row = new StatsRow();
      if (perChannel) {
        row.channel = c.channel;
        row.minute = Nexmark.utcMinute(c.last);
      }
      row.day = Nexmark.utcDay(day);
      row.totalBids = c.bids[0];
      row.rank1Bids = c.bids[1];
      row.rank2Bids = c.bids[2];
      row.rank3Bids = c.bids[3];
      row.totalBidders = c.bidders[0];
      row.rank1Bidders = c.bidders[1];
      row.rank2Bidders = c.bidders[2];
      row.rank3Bidders = c.bidders[3];
      row.totalAuctions = c.auctions[0];
      row.rank1Auctions = c.auctions[1];
      row.rank2Auctions = c.auctions[2];
      row.rank3Auctions = c.auctions[3];
      row.created = c.created;
      context().forward(new Record<>(key, row, base + dayLast));
    }
  }

  // --------------------------------------------------------------------------------------- Q17

  /** Per auction and UTC day (tumbling one-day windows, emitted when they close). */
  static KStream<Long, Q17Row> q17(Flow f, KStream<Long, Event> events) {
    KStream<Long, Bid> byAuction = f.rekey(bids(events), b -> b.auction, Bid.class, "q17-by-auction");
    return around(
        byAuction,
        in ->
            in.groupByKey(Grouped.with("q17-group", Serdes.Long(), Flow.serde(Bid.class)))
                .windowedBy(TimeWindows.ofSizeAndGrace(Duration.ofMillis(Nexmark.DAY_MS), f.grace))
                .emitStrategy(EmitStrategy.onWindowClose())
                .aggregate(
                    AuctionDay::new,
                    (auction, b, acc) -> acc.add(b),
                    Named.as("q17-auction-days"),
                    Flow.durability(Materialized.<Long, AuctionDay, WindowStore<Bytes, byte[]>>as("q17-auction-days"))
                        .withKeySerde(Serdes.Long())
                        .withValueSerde(Flow.serde(AuctionDay.class))
                        .withRetention(f.windowRetention(Nexmark.DAY_MS)))
                .toStream(Named.as("q17-days"))
                .<Long, Q17Row>map(
                    (w, d) -> KeyValue.pair(w.key(), Q17Row.of(w.key(), w.window().start() - f.base, d)),
                    Named.as("q17-rows")),
        Q17Row::new,
        "q17-auction-days");
  }

  // --------------------------------------------------------------------------------------- Q18

  /**
   * Per (bidder, auction): a bid is emitted unless it is older than the key's latest (equal times:
   * the later arrival wins), in arrival order as eddy's.
   */
  static final class Q18Latest extends ContextualFixedKeyProcessor<Long, Bid, Bid> {
    private KeyValueStore<Long, Long> latest;

    @Override
    public void init(FixedKeyProcessorContext<Long, Bid> context) {
      super.init(context);
      latest = context.getStateStore("q18-latest");
    }

    @Override
    public void process(FixedKeyRecord<Long, Bid> record) {
      if (Flow.isEnd(record.key())) {
        context().forward(record);
        return;
      }
      Bid b = record.value();
      Long l = latest.get(record.key());
      if (l != null && b.dateTime < l) return;
      latest.put(record.key(), b.dateTime);
      context().forward(record);
    }
  }

  // --------------------------------------------------------------------------------------- Q19

  /** Per auction its top 10 bids; a bid entering at rank r re-emits ranks r … min(10, size). */
  static final class Q19Top extends ContextualProcessor<Long, Bid, Long, Q19Row> {
    private KeyValueStore<Long, TopBids> top;

    @Override
    public void init(ProcessorContext<Long, Q19Row> context) {
      super.init(context);
      top = context.getStateStore("q19-top");
    }

    @Override
    public void process(Record<Long, Bid> record) {
      if (Flow.isEnd(record.key())) {
        context().forward(record.withValue(new Q19Row()));
        return;
      }
      Bid b = record.value();
      TopBids t = top.get(record.key());
      if (t == null) t = new TopBids();
      int r = t.insert(b);
      if (r < 0) return;
      top.put(record.key(), t);
      for (int i = r; i < t.bids.size(); i++) context().forward(record.withValue(Q19Row.of(t.bids.get(i), i + 1, b.created)));
    }
  }

  // --------------------------------------------------------------------------------------- Q20

  /** Per auction id: every bid joined with its auction when it is in category 10; early bids wait. */
  static final class Q20Join extends ContextualProcessor<Long, Event, Long, Q20Row> {
    static final String AUCTIONS = "q20-auctions";
    static final String EARLY = "q20-early";

    /** Whether the auction came, and it when it joins. */
    public static final class State {
      public Auction auction;

      public State() {}
    }

    private KeyValueStore<Long, State> auctions;
    private KeyValueStore<Long, WinningBids.Early> early;

    @Override
    public void init(ProcessorContext<Long, Q20Row> context) {
      super.init(context);
      auctions = context.getStateStore(AUCTIONS);
      early = context.getStateStore(EARLY);
    }

    @Override
    public void process(Record<Long, Event> record) {
      long id = record.key();
      if (Flow.isEnd(record.key())) {
        context().forward(record.withValue(new Q20Row()));
        return;
      }
      Event e = record.value();
      if (e.kind == Event.AUCTION) {
        Auction a = e.auction;
        State s = new State();
        if (a.category == Nexmark.Q20_CATEGORY) s.auction = a;
        WinningBids.Early waiting = early.get(id);
        if (waiting != null) {
          if (s.auction != null) for (Bid b : waiting.bids) context().forward(record.withValue(Q20Row.of(b, a)));
          early.delete(id);
        }
        auctions.put(id, s);
        return;
      }
      State s = auctions.get(id);
      if (s == null) {
        WinningBids.Early waiting = early.get(id);
        if (waiting == null) waiting = new WinningBids.Early();
        waiting.bids.add(e.bid);
        early.put(id, waiting);
      } else if (s.auction != null) {
        context().forward(record.withValue(Q20Row.of(e.bid, s.auction)));
      }
    }
  }
}
