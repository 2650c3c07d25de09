package dev.eddy.peers.kstreams;

import static dev.eddy.peers.kstreams.KsQueries.around;
import static dev.eddy.peers.kstreams.KsQueries.bids;
import static dev.eddy.peers.kstreams.KsQueries.winningBids;

import dev.eddy.peers.common.Auction;
import dev.eddy.peers.common.Bid;
import dev.eddy.peers.common.Event;
import dev.eddy.peers.common.Nexmark;
import dev.eddy.peers.common.Person;
import dev.eddy.peers.common.Rows.AuctionDay;
import dev.eddy.peers.common.Rows.Average;
import dev.eddy.peers.common.Rows.Closed;
import dev.eddy.peers.common.Rows.Q12Row;
import dev.eddy.peers.common.Rows.Q13Row;
import dev.eddy.peers.common.Rows.Q14Row;
import dev.eddy.peers.common.Rows.Q17Row;
import dev.eddy.peers.common.Rows.Q19Row;
import dev.eddy.peers.common.Rows.Q20Row;
import dev.eddy.peers.common.Rows.Q21Row;
import dev.eddy.peers.common.Rows.Q22Row;
import dev.eddy.peers.common.Rows.MaxChange;
import dev.eddy.peers.common.Rows.Q3Row;
import dev.eddy.peers.common.Rows.Q4Row;
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
import org.apache.kafka.streams.kstream.Windowed;
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
 * Nexmark q6, q9, q12-q22 and q3r, q4r, q7r (the reference SQL's q3, q4 and q7) on Kafka Streams,
 * after bench/nexmark/queries.ts: the DSL where it has the operator, the Processor API with RocksDB
 * stores where eddy's version is a keyed process step with timers (see bench/peers/README.md for
 * each).
 */
final class KsMoreQueries {
  private KsMoreQueries() {}

  static KStream<Long, ? extends Stamped> build(String query, StreamsBuilder builder, Flow f, KStream<Long, Event> events) {
    switch (query) {
      case "q3r":
        return q3r(builder, f, events);
      case "q4r":
        return q4r(builder, f, events);
      case "q7r":
        return q7r(builder, f, events);
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
          store(builder, Q20Join.EARLY, Serdes.Long(), Q20Join.Early.class);
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

  /** A store of bytes under byte keys: {@link DueIndex} timers, {@link EarlyBids}. */
  static void bytesStore(StreamsBuilder builder, String name) {
    builder.addStateStore(Flow.durability(
        Stores.keyValueStoreBuilder(Flow.kvStore(name), Serdes.Bytes(), Serdes.ByteArray())));
  }

  // ---------------------------------------------------------------------------------------- Q6

  static KStream<Long, Q6Row> q6(StreamsBuilder builder, Flow f, KStream<Long, Event> events) {
    store(builder, Q6Average.PENDING, Serdes.Long(), Q6Average.Pending.class);
    store(builder, Q6Average.LAST, Serdes.Long(), long[].class);
    bytesStore(builder, Q6Average.DUE);
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
    bytesStore(builder, name + "-due");
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

    /** Bids seen before their auction, all joined when it comes (so a list: identical bids are rows each). */
    public static final class Early {
      public List<Bid> bids = new ArrayList<>();

      public Early() {}
    }

    private KeyValueStore<Long, State> auctions;
    private KeyValueStore<Long, Early> early;

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
        Early waiting = early.get(id);
        if (waiting != null) {
          if (s.auction != null) for (Bid b : waiting.bids) context().forward(record.withValue(Q20Row.of(b, a)));
          early.delete(id);
        }
        auctions.put(id, s);
        return;
      }
      State s = auctions.get(id);
      if (s == null) {
        Early waiting = early.get(id);
        if (waiting == null) waiting = new Early();
        waiting.bids.add(e.bid);
        early.put(id, waiting);
      } else if (s.auction != null) {
        context().forward(record.withValue(Q20Row.of(e.bid, s.auction)));
      }
    }
  }

  // --------------------------------------------------------------------------------------- Q3R

  /**
   * One side of q3r's join, keyed by person id: a person (its name, city and state only when it
   * joins, i.e. is in OR, ID or CA) or a category-10 auction of that seller (its id).
   */
  public static final class Q3rSide {
    public boolean person;
    public boolean joins;
    public String name;
    public String city;
    public String state;
    public long id;
    public long created;

    public Q3rSide() {}

    static Q3rSide of(Event e) {
      Q3rSide s = new Q3rSide();
      if (e.kind == Event.PERSON) {
        Person p = e.person;
        s.person = true;
        s.joins = Nexmark.Q3_STATES.contains(p.state);
        if (s.joins) {
          s.name = p.name;
          s.city = p.city;
          s.state = p.state;
        }
        s.id = p.id;
        s.created = p.created;
      } else {
        s.id = e.auction.id;
        s.created = e.auction.created;
      }
      return s;
    }
  }

  /**
   * The reference q3, as eddy's q3r: an unbounded inner join of category-10 auctions with persons
   * in OR, ID or CA on seller = id; nothing expires. Persons and category-10 auctions are keyed by
   * person id / seller and projected before the repartition, then a processor per person id keeps
   * the person for good (a person id is a key) and the auctions that came before it. The DSL's
   * unbounded join is a KTable-KTable foreign-key join, whose results come back through its
   * subscription and response topics in another subtopology, where no END record can follow them
   * ({@link Flow}); this is the same state as eddy's and the DataStream peer's.
   */
  static KStream<Long, Q3Row> q3r(StreamsBuilder builder, Flow f, KStream<Long, Event> events) {
    store(builder, Q3rJoin.SELLERS, Serdes.Long(), Q3rSide.class);
    store(builder, Q3rJoin.WAITING, Serdes.Long(), Q3rJoin.Waiting.class);
    KStream<Long, Q3rSide> sides =
        events
            .filter(
                (k, e) ->
                    Flow.isEnd(k)
                        || e.kind == Event.PERSON
                        || (e.kind == Event.AUCTION && e.auction.category == Nexmark.Q3_CATEGORY),
                Named.as("q3r-persons-and-auctions"))
            .selectKey(
                (k, e) -> Flow.isEnd(k) ? Flow.END : e.kind == Event.PERSON ? e.person.id : e.auction.seller,
                Named.as("q3r-person-key"))
            .mapValues((k, e) -> Flow.isEnd(k) ? new Q3rSide() : Q3rSide.of(e), Named.as("q3r-project"));
    return f.exchange(sides, Q3rSide.class, "q3r-by-person", f.parallelism)
        .process(Q3rJoin::new, Named.as("q3r-join"), Q3rJoin.SELLERS, Q3rJoin.WAITING);
  }

  /** Per person id: the person once seen, and the auctions that came before it. */
  static final class Q3rJoin extends ContextualProcessor<Long, Q3rSide, Long, Q3Row> {
    static final String SELLERS = "q3r-sellers";
    static final String WAITING = "q3r-waiting";

    /** Auctions whose seller has not come yet. */
    public static final class Waiting {
      public List<Q3rSide> auctions = new ArrayList<>();

      public Waiting() {}
    }

    private KeyValueStore<Long, Q3rSide> sellers;
    private KeyValueStore<Long, Waiting> waiting;

    @Override
    public void init(ProcessorContext<Long, Q3Row> context) {
      super.init(context);
      sellers = context.getStateStore(SELLERS);
      waiting = context.getStateStore(WAITING);
    }

    @Override
    public void process(Record<Long, Q3rSide> record) {
      if (Flow.isEnd(record.key())) {
        context().forward(record.withValue(new Q3Row()));
        return;
      }
      long id = record.key();
      Q3rSide s = record.value();
      if (s.person) {
        sellers.put(id, s);
        Waiting w = waiting.get(id);
        if (w == null) return;
        if (s.joins) for (Q3rSide a : w.auctions) context().forward(record.withValue(row(s, a)));
        waiting.delete(id);
        return;
      }
      Q3rSide p = sellers.get(id);
      if (p == null) {
        Waiting w = waiting.get(id);
        if (w == null) w = new Waiting();
        w.auctions.add(s);
        waiting.put(id, w);
      } else if (p.joins) {
        context().forward(record.withValue(row(p, s)));
      }
    }

    private static Q3Row row(Q3rSide p, Q3rSide a) {
      Q3Row r = new Q3Row();
      r.name = p.name;
      r.city = p.city;
      r.state = p.state;
      r.id = a.id;
      r.created = Math.max(p.created, a.created);
      return r;
    }
  }

  // --------------------------------------------------------------------------------------- Q4R

  /**
   * An auction or bid cut to what q4r reads (an auction's id, times and category; a bid's auction,
   * price and time), so that the repartition carries numbers, not the events' strings.
   */
  static Event slim(Event e) {
    Event out = new Event();
    out.kind = e.kind;
    out.created = e.created;
    if (e.kind == Event.AUCTION) {
      Auction a = e.auction;
      Auction s = new Auction();
      s.id = a.id;
      s.dateTime = a.dateTime;
      s.expires = a.expires;
      s.category = a.category;
      s.created = a.created;
      out.auction = s;
    } else if (e.kind == Event.BID) {
      Bid b = e.bid;
      Bid s = new Bid();
      s.auction = b.auction;
      s.price = b.price;
      s.dateTime = b.dateTime;
      s.created = b.created;
      out.bid = s;
    }
    return out;
  }

  /**
   * The reference q4, as eddy's q4r: per auction the highest bid so far among bids in
   * [dateTime, expires], and per category the average of those maxima, updated on every change.
   * A processor per auction ({@link Q4rMax}) emits each change with the value it replaces, keyed by
   * category; a DSL aggregation per category (caching off: every change is a row) applies it —
   * the new maximum replaces the old one in the sum, the retraction — and emits the new average.
   * (A KTable groupBy with adder and subtractor would retract too, but its source table would keep
   * every auction's maximum for good: a tombstone for a closed auction would retract it from the
   * average. eddy and the DataStream peer drop an auction's state at its expiry.)
   */
  static KStream<Long, Q4Row> q4r(StreamsBuilder builder, Flow f, KStream<Long, Event> events) {
    store(builder, Q4rMax.AUCTIONS, Serdes.Long(), Q4rMax.State.class);
    bytesStore(builder, Q4rMax.EARLY);
    bytesStore(builder, Q4rMax.DUE);
    KStream<Long, Event> byAuction =
        f.rekey(
            events
                .filter((k, e) -> Flow.isEnd(k) || e.kind != Event.PERSON, Named.as("q4r-auctions-and-bids"))
                .mapValues((k, e) -> Flow.isEnd(k) ? e : slim(e), Named.as("q4r-project")),
            e -> e.kind == Event.AUCTION ? e.auction.id : e.bid.auction,
            Event.class,
            "q4r-by-auction");
    long graceMs = f.grace.toMillis();
    KStream<Long, MaxChange> changes =
        byAuction.process(
            () -> new Q4rMax(graceMs, f.base), Named.as("q4r-max"), Q4rMax.AUCTIONS, Q4rMax.EARLY, Q4rMax.DUE);
    return f.exchange(changes, MaxChange.class, "q4r-by-category", f.parallelism)
        .groupByKey(Grouped.with("q4r-group", Serdes.Long(), Flow.serde(MaxChange.class)))
        .aggregate(
            Average::new,
            (category, c, acc) -> {
              if (c.replaces) acc.sum += c.after - c.before;
              else {
                acc.sum += c.after;
                acc.n++;
              }
              acc.created = c.created;
              return acc;
            },
            Named.as("q4r-average"),
            Flow.durability(Materialized.<Long, Average, KeyValueStore<Bytes, byte[]>>as("q4r-average"))
                .withKeySerde(Serdes.Long())
                .withValueSerde(Flow.serde(Average.class))
                // Every change is a result (the reference's updating aggregate), so none is cached away.
                .withCachingDisabled())
        .toStream(Named.as("q4r-updates"))
        .mapValues(
            (k, acc) -> Flow.isEnd(k) ? new Q4Row() : new Q4Row(k, acc.sum / acc.n, acc.created), Named.as("q4r-row"));
  }

  /**
   * Per auction (eddy's q4r-max step): the auction and its highest bid so far in [dateTime,
   * expires]; each new maximum goes on, keyed by category, with the one it replaces. The auction's
   * state is dropped once event time (the highest seen here minus the grace, as in
   * {@link WinningBids}) passes its expiry; a bid before its auction waits until event time passes
   * the bid's own time.
   */
  static final class Q4rMax extends ContextualProcessor<Long, Event, Long, MaxChange> {
    static final String AUCTIONS = "q4r-auctions";
    static final String EARLY = "q4r-early";
    static final String DUE = "q4r-due";

    /** An auction and its highest bid so far, if {@code hasMax}. */
    public static final class State {
      public Auction auction;
      public boolean hasMax;
      public long max;

      public State() {}
    }

    private final long graceMs;
    private final long base;
    private KeyValueStore<Long, State> auctions;
    private EarlyBids early;
    private DueIndex due;
    private long observed = Long.MIN_VALUE;

    Q4rMax(long graceMs, long base) {
      this.graceMs = graceMs;
      this.base = base;
    }

    @Override
    public void init(ProcessorContext<Long, MaxChange> context) {
      super.init(context);
      auctions = context.getStateStore(AUCTIONS);
      early = new EarlyBids(context.getStateStore(EARLY));
      due = new DueIndex(context.getStateStore(DUE));
    }

    private static boolean inAuction(Auction a, Bid b) {
      return b.dateTime >= a.dateTime && b.dateTime <= a.expires;
    }

    @Override
    public void process(Record<Long, Event> record) {
      if (Flow.isEnd(record.key())) {
        due.fireDue(Long.MAX_VALUE, this::fire);
        context().forward(record.withValue(new MaxChange()));
        return;
      }
      long id = record.key();
      Event e = record.value();
      if (e.kind == Event.AUCTION) {
        Auction a = e.auction;
        State s = new State();
        s.auction = a;
        Bid top = null;
        for (Bid b : early.take(id)) if (inAuction(a, b) && (top == null || b.price > top.price)) top = b;
        if (top != null) {
          s.hasMax = true;
          s.max = top.price;
          context()
              .forward(
                  new Record<>(
                      a.category,
                      new MaxChange(a.category, false, 0, top.price, Math.max(a.created, top.created)),
                      record.timestamp()));
        }
        auctions.put(id, s);
        due.add(a.expires, id);
      } else {
        Bid b = e.bid;
        State s = auctions.get(id);
        if (s == null) {
          // Its auction may still come, until event time passes this bid.
          early.add(b);
          due.add(b.dateTime, id);
        } else if (inAuction(s.auction, b) && (!s.hasMax || b.price > s.max)) {
          MaxChange c = new MaxChange(s.auction.category, s.hasMax, s.max, b.price, b.created);
          s.hasMax = true;
          s.max = b.price;
          auctions.put(id, s);
          context().forward(new Record<>(c.category, c, record.timestamp()));
        }
      }
      long time = record.timestamp() - base;
      if (time > observed) {
        observed = time;
        due.fireDue(observed - graceMs - 1, this::fire);
      }
    }

    /** Event time has reached {@code time}: drops the auction if it has expired, and the early bids up to it. */
    private void fire(long time, long id) {
      State s = auctions.get(id);
      // The auction is here: its early bids were taken when it came.
      if (s == null) early.dropUpTo(id, time);
      else if (time >= s.auction.expires) auctions.delete(id);
    }
  }

  // --------------------------------------------------------------------------------------- Q7R

  /**
   * q7r's aggregate of one window [start, start + 10 s] (both ends): the highest price among its
   * bids off a 10 s boundary (-1 before the first) and those bids at it, and the bids on a boundary
   * — the window's start or its end, told apart when the window is emitted — not below that price.
   */
  public static final class Q7rMax {
    public long max = -1;
    public List<Bid> top = new ArrayList<>();
    public List<Bid> bounds = new ArrayList<>();

    public Q7rMax() {}

    Q7rMax add(Bid b) {
      if (Math.floorMod(b.dateTime, Nexmark.Q7_SIZE_MS) == 0) {
        if (b.price >= max) bounds.add(b);
      } else if (b.price > max) {
        max = b.price;
        top.clear();
        top.add(b);
        bounds.removeIf(x -> x.price < b.price);
      } else if (b.price == max) {
        top.add(b);
      }
      return this;
    }

    /** Another part of the same window (a {@link LocalWindows} partial) added in. */
    Q7rMax merge(Q7rMax o) {
      for (Bid b : o.top) add(b);
      for (Bid b : o.bounds) add(b);
      return this;
    }
  }

  /**
   * The reference q7, as eddy's q7r: per tumbling 10 s window the highest price, joined back to
   * the bids with {@code dateTime BETWEEN window_end - 10 s AND window_end}. That range is a
   * hopping window of 10 s + 1 ms every 10 s ([start, start + 10 s], so a bid at exactly a 10 s
   * boundary is in two windows), aggregated on one key (as q7) and emitted when it closes: the
   * window's own bids (all but those on its end) set its maximum, and its rows are its bids at it,
   * those on its end included. Bids are projected to the reference's columns (auction, bidder,
   * price, dateTime, extra) before the repartition; each row's time is the window's end.
   */
  static KStream<Long, Bid> q7r(StreamsBuilder builder, Flow f, KStream<Long, Event> events) {
    KStream<Long, Bid> projected =
        bids(events)
            .mapValues(
                (k, b) -> {
                  if (Flow.isEnd(k)) return b;
                  Bid s = new Bid();
                  s.auction = b.auction;
                  s.bidder = b.bidder;
                  s.price = b.price;
                  s.dateTime = b.dateTime;
                  s.extra = b.extra;
                  s.created = b.created;
                  return s;
                },
                Named.as("q7r-project"));
    long size = Nexmark.Q7_SIZE_MS;
    // Each input task's windows first (LocalWindows: a bid on a 10 s boundary is in two), merged
    // per window on the one key.
    builder.addStateStore(Flow.durability(
        Stores.keyValueStoreBuilder(Flow.kvStore("q7r-local"), Serdes.Long(), Flow.serde(Q7rMax.class))));
    KStream<Long, Q7rMax> partials =
        projected.process(
            () -> new LocalWindows<>("q7r-local", size, true, Q7rMax::add, Q7rMax::new, f.base),
            Named.as("q7r-local"),
            "q7r-local");
    KStream<Long, Q7rMax> all = f.rekey(partials, m -> 0L, Q7rMax.class, "q7r-global");
    return around(
        all,
        in ->
            in.groupByKey(Grouped.with("q7r-group", Serdes.Long(), Flow.serde(Q7rMax.class)))
                .windowedBy(
                    TimeWindows.ofSizeAndGrace(Duration.ofMillis(size + 1), f.grace).advanceBy(Duration.ofMillis(size)))
                .emitStrategy(EmitStrategy.onWindowClose())
                .aggregate(
                    Q7rMax::new,
                    (k, partial, acc) -> acc.merge(partial),
                    Named.as("q7r-max"),
                    Flow.durability(Materialized.<Long, Q7rMax, WindowStore<Bytes, byte[]>>as("q7r-max"))
                        .withKeySerde(Serdes.Long())
                        .withValueSerde(Flow.serde(Q7rMax.class))
                        .withRetention(f.windowRetention(size + 1)))
                .toStream(Named.as("q7r-maxes"))
                .process(() -> new Q7rRows(f.base), Named.as("q7r-rows")),
        Bid::new,
        "q7r-max");
  }

  /** A closed q7r window's rows, each at the window's end (start + 10 s). */
  static final class Q7rRows extends ContextualProcessor<Windowed<Long>, Q7rMax, Long, Bid> {
    private final long base;

    Q7rRows(long base) {
      this.base = base;
    }

    @Override
    public void process(Record<Windowed<Long>, Q7rMax> record) {
      long start = record.key().window().start() - base;
      long end = start + Nexmark.Q7_SIZE_MS;
      Q7rMax m = record.value();
      long max = m.max;
      for (Bid b : m.bounds) if (b.dateTime == start && b.price > max) max = b.price;
      if (max < 0) return;
      if (m.max == max) for (Bid b : m.top) context().forward(new Record<>(b.auction, b, base + end));
      for (Bid b : m.bounds) if (b.price == max) context().forward(new Record<>(b.auction, b, base + end));
    }
  }
}
