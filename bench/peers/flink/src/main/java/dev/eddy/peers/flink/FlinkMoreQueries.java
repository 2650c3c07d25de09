package dev.eddy.peers.flink;

import static dev.eddy.peers.flink.FlinkQueries.bids;
import static dev.eddy.peers.flink.FlinkQueries.winningBids;

import dev.eddy.peers.common.Auction;
import dev.eddy.peers.common.Bid;
import dev.eddy.peers.common.Event;
import dev.eddy.peers.common.Nexmark;
import dev.eddy.peers.common.Person;
import dev.eddy.peers.common.Rows.AuctionDay;
import dev.eddy.peers.common.Rows.Average;
import dev.eddy.peers.common.Rows.BidStats;
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
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import org.apache.flink.api.common.functions.AggregateFunction;
import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.api.common.state.ListState;
import org.apache.flink.api.common.state.ListStateDescriptor;
import org.apache.flink.api.common.state.MapState;
import org.apache.flink.api.common.state.MapStateDescriptor;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.api.common.state.ValueState;
import org.apache.flink.api.common.state.ValueStateDescriptor;
import org.apache.flink.streaming.api.TimeDomain;
import org.apache.flink.streaming.api.datastream.DataStream;
import org.apache.flink.streaming.api.functions.KeyedProcessFunction;
import org.apache.flink.streaming.api.functions.co.KeyedCoProcessFunction;
import org.apache.flink.streaming.api.functions.windowing.ProcessWindowFunction;
import org.apache.flink.streaming.api.windowing.assigners.TumblingEventTimeWindows;
import org.apache.flink.streaming.api.windowing.windows.TimeWindow;
import org.apache.flink.util.Collector;

/**
 * Nexmark q6, q9, q12-q22 and q3r, q4r, q7r (the reference SQL's q3, q4 and q7) on Flink's
 * DataStream API, after bench/nexmark/queries.ts (each follows eddy's version: same state, timers
 * and tie rules; see bench/peers/README.md).
 */
final class FlinkMoreQueries {
  private FlinkMoreQueries() {}

  static DataStream<? extends Stamped> build(String query, DataStream<Event> events) {
    switch (query) {
      case "q3r":
        return q3r(events);
      case "q4r":
        return q4r(events);
      case "q7r":
        return q7r(events);
      case "q6":
        return winningBids(events, "q6-winners", true)
            .keyBy(w -> w.auction.seller)
            .process(new Q6Average())
            .name("q6-average");
      case "q9":
        return winningBids(events, "q9-winners", false).map(Q9Row::of).returns(Q9Row.class).name("q9-row");
      case "q12":
        return bids(events).keyBy(b -> b.bidder).process(new Q12Windows()).name("q12-windows");
      case "q13":
        return bids(events).flatMap(new Q13Join()).name("q13-side-input");
      case "q14":
        return bids(events)
            .flatMap(
                (Bid b, Collector<Q14Row> out) -> {
                  Q14Row r = Q14Row.of(b);
                  if (r != null) out.collect(r);
                })
            .returns(Q14Row.class)
            .name("q14-calculate");
      case "q15":
        return bids(events)
            .keyBy(b -> Math.floorDiv(b.dateTime, Nexmark.DAY_MS))
            .window(TumblingEventTimeWindows.of(Duration.ofMillis(Nexmark.DAY_MS)))
            .aggregate(new StatsAgg(), new ToStatsRow(false))
            .name("q15-days");
      case "q16":
        return bids(events)
            .keyBy(b -> b.channel == null ? "" : b.channel)
            .window(TumblingEventTimeWindows.of(Duration.ofMillis(Nexmark.DAY_MS)))
            .aggregate(new StatsAgg(), new ToStatsRow(true))
            .name("q16-channel-days");
      case "q17":
        return bids(events)
            .keyBy(b -> b.auction)
            .window(TumblingEventTimeWindows.of(Duration.ofMillis(Nexmark.DAY_MS)))
            .aggregate(new AuctionDayAgg(), new ToQ17Row())
            .name("q17-auction-days");
      case "q18":
        return bids(events).keyBy(b -> (b.bidder << 32) | b.auction).process(new Q18Latest()).name("q18-latest");
      case "q19":
        return bids(events).keyBy(b -> b.auction).process(new Q19Top()).name("q19-top");
      case "q20":
        return events
            .filter(e -> e.kind != Event.PERSON)
            .name("q20-auctions-and-bids")
            .keyBy(e -> e.kind == Event.AUCTION ? e.auction.id : e.bid.auction)
            .process(new Q20Join())
            .name("q20-join");
      case "q21":
        return bids(events)
            .flatMap(
                (Bid b, Collector<Q21Row> out) -> {
                  Q21Row r = Q21Row.of(b);
                  if (r != null) out.collect(r);
                })
            .returns(Q21Row.class)
            .name("q21-channel-id");
      case "q22":
        return bids(events).map(Q22Row::of).returns(Q22Row.class).name("q22-url-dirs");
      default:
        throw new IllegalArgumentException("unknown query " + query);
    }
  }

  // ---------------------------------------------------------------------------------------- Q6

  /**
   * Per seller: winners wait until the watermark reaches their {@code expires} (by then every
   * winner closing at that time has arrived), then are applied in (expires, auction id) order to
   * the seller's last 10 winning prices; one row per closed auction.
   */
  static final class Q6Average extends KeyedProcessFunction<Long, WinningBid, Q6Row> {
    private static final long serialVersionUID = 1L;
    private transient ListState<Closed> pending;
    private transient ValueState<long[]> last;

    @Override
    public void open(OpenContext openContext) {
      pending = getRuntimeContext().getListState(new ListStateDescriptor<>("pending", Closed.class));
      last = getRuntimeContext().getState(new ValueStateDescriptor<>("last", long[].class));
    }

    @Override
    public void processElement(WinningBid w, Context ctx, Collector<Q6Row> out) throws Exception {
      pending.add(new Closed(w));
      ctx.timerService().registerEventTimeTimer(w.auction.expires);
    }

    @Override
    public void onTimer(long time, OnTimerContext ctx, Collector<Q6Row> out) throws Exception {
      List<Closed> due = new ArrayList<>();
      List<Closed> rest = new ArrayList<>();
      for (Closed c : pending.get()) (c.expires <= time ? due : rest).add(c);
      if (due.isEmpty()) return;
      if (rest.isEmpty()) pending.clear();
      else pending.update(rest);
      due.sort((a, b) -> a.expires != b.expires ? Long.compare(a.expires, b.expires) : Long.compare(a.id, b.id));
      long[] prices = last.value();
      List<Long> window = new ArrayList<>();
      if (prices != null) for (long p : prices) window.add(p);
      for (Closed c : due) {
        window.add(c.price);
        if (window.size() > Nexmark.Q6_LAST_AUCTIONS) window.remove(0);
        double sum = 0;
        for (long p : window) sum += p;
        out.collect(new Q6Row(ctx.getCurrentKey(), sum / window.size(), c.created));
      }
      long[] next = new long[window.size()];
      for (int i = 0; i < next.length; i++) next[i] = window.get(i);
      last.update(next);
    }
  }

  // --------------------------------------------------------------------------------------- Q12

  /**
   * Bids per bidder per tumbling 10 s window of processing time, emitted when processing time
   * reaches the window's end; windows still open at the end of input are emitted then (an
   * event-time timer at Long.MAX_VALUE, which the final watermark fires), as eddy's q12 does.
   */
  static final class Q12Windows extends KeyedProcessFunction<Long, Bid, Q12Row> {
    private static final long serialVersionUID = 1L;
    private transient MapState<Long, long[]> counts;

    @Override
    public void open(OpenContext openContext) {
      counts =
          getRuntimeContext()
              .getMapState(new MapStateDescriptor<>("counts", Long.class, long[].class));
    }

    @Override
    public void processElement(Bid b, Context ctx, Collector<Q12Row> out) throws Exception {
      long now = ctx.timerService().currentProcessingTime();
      long start = Nexmark.windowStart(now, Nexmark.Q12_WINDOW_MS);
      long[] n = counts.get(start);
      if (n == null) {
        if (counts.isEmpty()) ctx.timerService().registerEventTimeTimer(Long.MAX_VALUE);
        ctx.timerService().registerProcessingTimeTimer(start + Nexmark.Q12_WINDOW_MS);
        n = new long[] {0, 0};
      }
      n[0]++;
      n[1] = Math.max(n[1], b.created);
      counts.put(start, n);
    }

    @Override
    public void onTimer(long time, OnTimerContext ctx, Collector<Q12Row> out) throws Exception {
      boolean processing = ctx.timeDomain() == TimeDomain.PROCESSING_TIME;
      Iterator<Map.Entry<Long, long[]>> it = counts.iterator();
      while (it.hasNext()) {
        Map.Entry<Long, long[]> e = it.next();
        long end = e.getKey() + Nexmark.Q12_WINDOW_MS;
        if (processing && end > time) continue;
        out.collect(new Q12Row(ctx.getCurrentKey(), e.getValue()[0], e.getKey(), end, e.getValue()[1]));
        it.remove();
      }
      if (processing && counts.isEmpty()) ctx.timerService().deleteEventTimeTimer(Long.MAX_VALUE);
    }
  }

  // --------------------------------------------------------------------------------------- Q13

  /** A lookup in nexmark/nexmark's side input: keys 0-9999, each mapped to itself as a string. */
  static final class Q13Join extends org.apache.flink.api.common.functions.RichFlatMapFunction<Bid, Q13Row> {
    private static final long serialVersionUID = 1L;
    private transient Map<Long, String> side;

    @Override
    public void open(OpenContext openContext) {
      side = new java.util.HashMap<>();
      for (long k = 0; k < Nexmark.Q13_KEY_MODULUS; k++) side.put(k, String.valueOf(k));
    }

    @Override
    public void flatMap(Bid b, Collector<Q13Row> out) {
      String value = side.get(b.auction % Nexmark.Q13_KEY_MODULUS);
      if (value != null) out.collect(Q13Row.of(b, value));
    }
  }

  // ---------------------------------------------------------------------------------- Q15, Q16

  static final class StatsAgg implements AggregateFunction<Bid, BidStats, BidStats> {
    private static final long serialVersionUID = 1L;

    @Override
    public BidStats createAccumulator() {
      return new BidStats();
    }

    @Override
    public BidStats add(Bid b, BidStats acc) {
      return acc.add(b);
    }

    @Override
    public BidStats getResult(BidStats acc) {
      return acc;
    }

    @Override
    public BidStats merge(BidStats a, BidStats b) {
      throw new UnsupportedOperationException("tumbling windows do not merge");
    }
  }

  static final class ToStatsRow<K> extends ProcessWindowFunction<BidStats, StatsRow, K, TimeWindow> {
    private static final long serialVersionUID = 1L;
    private final boolean perChannel;

    ToStatsRow(boolean perChannel) {
      this.perChannel = perChannel;
    }

    @Override
    public void process(K key, Context ctx, Iterable<BidStats> stats, Collector<StatsRow> out) {
      out.collect(StatsRow.of(stats.iterator().next(), ctx.window().getStart(), perChannel));
    }
  }

  // --------------------------------------------------------------------------------------- Q17

  static final class AuctionDayAgg implements AggregateFunction<Bid, AuctionDay, AuctionDay> {
    private static final long serialVersionUID = 1L;

    @Override
    public AuctionDay createAccumulator() {
      return new AuctionDay();
    }

    @Override
    public AuctionDay add(Bid b, AuctionDay acc) {
      return acc.add(b);
    }

    @Override
    public AuctionDay getResult(AuctionDay acc) {
      return acc;
    }

    @Override
    public AuctionDay merge(AuctionDay a, AuctionDay b) {
      throw new UnsupportedOperationException("tumbling windows do not merge");
    }
  }

  static final class ToQ17Row extends ProcessWindowFunction<AuctionDay, Q17Row, Long, TimeWindow> {
    private static final long serialVersionUID = 1L;

    @Override
    public void process(Long auction, Context ctx, Iterable<AuctionDay> days, Collector<Q17Row> out) {
      out.collect(Q17Row.of(auction, ctx.window().getStart(), days.iterator().next()));
    }
  }

  // --------------------------------------------------------------------------------------- Q18

  /**
   * Per (bidder, auction): a bid is emitted unless it is older than the key's latest (equal times:
   * the later arrival wins). Arrival order, as eddy's: with parallel sources, a bid that arrives
   * after a newer one of its key from another subtask is not emitted.
   */
  static final class Q18Latest extends KeyedProcessFunction<Long, Bid, Bid> {
    private static final long serialVersionUID = 1L;
    private transient ValueState<Long> latest;

    @Override
    public void open(OpenContext openContext) {
      latest = getRuntimeContext().getState(new ValueStateDescriptor<>("latest", Long.class));
    }

    @Override
    public void processElement(Bid b, Context ctx, Collector<Bid> out) throws Exception {
      Long l = latest.value();
      if (l != null && b.dateTime < l) return;
      latest.update(b.dateTime);
      out.collect(b);
    }
  }

  // --------------------------------------------------------------------------------------- Q19

  /** Per auction its top 10 bids; a bid entering at rank r re-emits ranks r … min(10, size). */
  static final class Q19Top extends KeyedProcessFunction<Long, Bid, Q19Row> {
    private static final long serialVersionUID = 1L;
    private transient ValueState<TopBids> top;

    @Override
    public void open(OpenContext openContext) {
      top = getRuntimeContext().getState(new ValueStateDescriptor<>("top", TopBids.class));
    }

    @Override
    public void processElement(Bid b, Context ctx, Collector<Q19Row> out) throws Exception {
      TopBids t = top.value();
      if (t == null) t = new TopBids();
      int r = t.insert(b);
      if (r < 0) return;
      top.update(t);
      for (int i = r; i < t.bids.size(); i++) out.collect(Q19Row.of(t.bids.get(i), i + 1, b.created));
    }
  }

  // --------------------------------------------------------------------------------------- Q20

  /** Q20's per-auction state: whether the auction came, and it if it joins (category 10). */
  public static class Q20State {
    public boolean seen;
    public Auction auction;

    public Q20State() {}
  }

  /**
   * Per auction id: joins every bid with its auction when the auction is in category 10, whatever
   * their times; bids before their auction wait for it.
   */
  static final class Q20Join extends KeyedProcessFunction<Long, Event, Q20Row> {
    private static final long serialVersionUID = 1L;
    private transient ValueState<Q20State> auction;
    private transient ListState<Bid> early;

    @Override
    public void open(OpenContext openContext) {
      auction = getRuntimeContext().getState(new ValueStateDescriptor<>("auction", Q20State.class));
      early = getRuntimeContext().getListState(new ListStateDescriptor<>("early", Bid.class));
    }

    @Override
    public void processElement(Event e, Context ctx, Collector<Q20Row> out) throws Exception {
      if (e.kind == Event.AUCTION) {
        Auction a = e.auction;
        Q20State s = new Q20State();
        s.seen = true;
        if (a.category == Nexmark.Q20_CATEGORY) {
          s.auction = a;
          for (Bid b : early.get()) out.collect(Q20Row.of(b, a));
        }
        auction.update(s);
        early.clear();
        return;
      }
      Q20State s = auction.value();
      if (s == null) early.add(e.bid);
      else if (s.auction != null) out.collect(Q20Row.of(e.bid, s.auction));
    }
  }

  // --------------------------------------------------------------------------------------- Q3R

  /**
   * The reference q3: an unbounded inner join of category-10 auctions with persons in OR, ID or CA
   * on seller = id, as eddy's q3r. Both sides are projected before the keyBy (a person to its id
   * and, when in the states, its name, city and state; an auction to its id), then a
   * KeyedCoProcessFunction per person id keeps the person for good (a person id is a key: no
   * second person comes) and the auctions that came before it; nothing expires.
   */
  static DataStream<Q3Row> q3r(DataStream<Event> events) {
    DataStream<Person> people =
        FlinkQueries.persons(events)
            .map(
                p -> {
                  Person s = new Person();
                  s.id = p.id;
                  s.created = p.created;
                  // Out of the states: the id only (state null), a marker that it never joins.
                  if (Nexmark.Q3_STATES.contains(p.state)) {
                    s.name = p.name;
                    s.city = p.city;
                    s.state = p.state;
                  }
                  return s;
                })
            .returns(Person.class)
            .name("q3r-project-person");
    DataStream<Auction> opened =
        FlinkQueries.auctions(events)
            .filter(a -> a.category == Nexmark.Q3_CATEGORY)
            .name("q3r-category")
            .map(FlinkQueries::idAndSeller)
            .returns(Auction.class)
            .name("q3r-project-auction");
    return people
        .keyBy(p -> p.id)
        .connect(opened.keyBy(a -> a.seller))
        .process(new Q3rJoin())
        .name("q3r-join");
  }

  static final class Q3rJoin extends KeyedCoProcessFunction<Long, Person, Auction, Q3Row> {
    private static final long serialVersionUID = 1L;
    private transient ValueState<Person> seller;
    private transient ListState<Auction> waiting;

    @Override
    public void open(OpenContext openContext) {
      seller = getRuntimeContext().getState(new ValueStateDescriptor<>("seller", Person.class));
      waiting = getRuntimeContext().getListState(new ListStateDescriptor<>("waiting", Auction.class));
    }

    @Override
    public void processElement1(Person p, Context ctx, Collector<Q3Row> out) throws Exception {
      seller.update(p);
      if (p.state != null) for (Auction a : waiting.get()) out.collect(Q3Row.of(a, p));
      waiting.clear();
    }

    @Override
    public void processElement2(Auction a, Context ctx, Collector<Q3Row> out) throws Exception {
      Person p = seller.value();
      if (p == null) waiting.add(a);
      else if (p.state != null) out.collect(Q3Row.of(a, p));
    }
  }

  // --------------------------------------------------------------------------------------- Q4R

  /**
   * The reference q4, as eddy's q4r: per auction the highest bid so far among bids in
   * [dateTime, expires], and per category the average of those maxima, updated on every change
   * (the new maximum replaces the auction's previous one in the category's sum: the retraction).
   * Auctions and bids are projected before the keyBy ({@link FlinkQueries#slim}); a
   * KeyedProcessFunction per auction keeps the auction and its maximum and emits each change with
   * the value it replaces, dropping the auction's state when the watermark passes its expiry (no
   * later bid can count); a bid before its auction waits until the watermark passes its time, as
   * in {@link FlinkQueries.WinningBids}. A KeyedProcessFunction per category keeps the sum and
   * count and emits the new average per change.
   */
  static DataStream<Q4Row> q4r(DataStream<Event> events) {
    return events
        .filter(e -> e.kind != Event.PERSON)
        .name("q4r-auctions-and-bids")
        .map(FlinkQueries::slim)
        .name("q4r-project")
        .keyBy(e -> e.kind == Event.AUCTION ? e.auction.id : e.bid.auction)
        .process(new Q4rMax())
        .name("q4r-max")
        .keyBy(c -> c.category)
        .process(new Q4rAverage())
        .name("q4r-average");
  }

  static final class Q4rMax extends KeyedProcessFunction<Long, Event, MaxChange> {
    private static final long serialVersionUID = 1L;
    private transient ValueState<Auction> auction;
    private transient ValueState<Long> max;
    private transient ListState<Bid> early;

    @Override
    public void open(OpenContext openContext) {
      auction = getRuntimeContext().getState(new ValueStateDescriptor<>("auction", Auction.class));
      max = getRuntimeContext().getState(new ValueStateDescriptor<>("max", Long.class));
      early = getRuntimeContext().getListState(new ListStateDescriptor<>("early", Bid.class));
    }

    private static boolean inAuction(Auction a, Bid b) {
      return b.dateTime >= a.dateTime && b.dateTime <= a.expires;
    }

    @Override
    public void processElement(Event e, Context ctx, Collector<MaxChange> out) throws Exception {
      if (e.kind == Event.AUCTION) {
        Auction a = e.auction;
        auction.update(a);
        Bid top = null;
        for (Bid b : early.get()) if (inAuction(a, b) && (top == null || b.price > top.price)) top = b;
        early.clear();
        if (top != null) {
          max.update(top.price);
          out.collect(new MaxChange(a.category, false, 0, top.price, Math.max(a.created, top.created)));
        }
        ctx.timerService().registerEventTimeTimer(a.expires);
        return;
      }
      Bid b = e.bid;
      Auction a = auction.value();
      if (a == null) {
        // Its auction may still come, until the watermark passes this bid.
        early.add(b);
        ctx.timerService().registerEventTimeTimer(b.dateTime);
        return;
      }
      if (!inAuction(a, b)) return;
      Long before = max.value();
      if (before != null && b.price <= before) return;
      max.update(b.price);
      out.collect(
          new MaxChange(a.category, before != null, before == null ? 0 : before, b.price, b.created));
    }

    @Override
    public void onTimer(long time, OnTimerContext ctx, Collector<MaxChange> out) throws Exception {
      Auction a = auction.value();
      if (a != null && time >= a.expires) {
        auction.clear();
        max.clear();
      }
      FlinkQueries.dropEarlyUpTo(early, time);
    }
  }

  static final class Q4rAverage extends KeyedProcessFunction<Long, MaxChange, Q4Row> {
    private static final long serialVersionUID = 1L;
    private transient ValueState<Average> average;

    @Override
    public void open(OpenContext openContext) {
      average = getRuntimeContext().getState(new ValueStateDescriptor<>("average", Average.class));
    }

    @Override
    public void processElement(MaxChange c, Context ctx, Collector<Q4Row> out) throws Exception {
      Average acc = average.value();
      if (acc == null) acc = new Average();
      if (c.replaces) acc.sum += c.after - c.before;
      else {
        acc.sum += c.after;
        acc.n++;
      }
      average.update(acc);
      out.collect(new Q4Row(c.category, acc.sum / acc.n, c.created));
    }
  }

  // --------------------------------------------------------------------------------------- Q7R

  /**
   * q7r's state per 10 s window: the highest price of its own bids so far (-1 before the first),
   * those bids at it, and the bids at exactly its end (the next window's first millisecond) that
   * can still equal it.
   */
  public static class Q7rWindow {
    public long max = -1;
    public List<Bid> top = new ArrayList<>();
    public List<Bid> edge = new ArrayList<>();

    public Q7rWindow() {}
  }

  /**
   * The reference q7, as eddy's q7r: per tumbling 10 s window the highest price, joined back to
   * the bids with {@code dateTime BETWEEN window_end - 10 s AND window_end} (both ends inclusive),
   * so a bid at exactly a window's end is output for it too when it has that window's highest
   * price. Bids are projected to the reference's columns (auction, bidder, price, dateTime, extra)
   * before the keyBy onto one global key (the maximum is over all bids, as q7's windowAll). Each
   * subtask keeps per open window its maximum, the bids at it and the candidates on its end
   * ({@link LocalQ7rWindows}); the one keyed subtask merges them and emits the window's rows from
   * an event-time timer at its end (event time = the end), when every bid at or before the end is
   * in. A bid whose window has been emitted is dropped.
   */
  static DataStream<Bid> q7r(DataStream<Event> events) {
    return events
        .filter(e -> e.kind == Event.BID)
        .name("bids")
        .map(
            e -> {
              Bid b = e.bid;
              Bid s = new Bid();
              s.auction = b.auction;
              s.bidder = b.bidder;
              s.price = b.price;
              s.dateTime = b.dateTime;
              s.extra = b.extra;
              s.created = b.created;
              return s;
            })
        .returns(Bid.class)
        .name("q7r-project")
        // Two phases, as q7's: each subtask's windows (LocalQ7rWindows), merged on one key.
        .transform("q7r-local", TypeInformation.of(LocalQ7rWindows.Partial.class), new LocalQ7rWindows())
        .keyBy(p -> 0L)
        .process(new Q7rMerge())
        .name("q7r-max-join");
  }

  /**
   * q7r's second phase on its one key: merges the subtasks' partials of a window and emits its
   * rows from an event-time timer at its end (all partials of a window come before the watermark
   * that passes its end).
   */
  static final class Q7rMerge extends KeyedProcessFunction<Long, LocalQ7rWindows.Partial, Bid> {
    private static final long serialVersionUID = 1L;
    private transient MapState<Long, Q7rWindow> windows;

    @Override
    public void open(OpenContext openContext) {
      windows =
          getRuntimeContext()
              .getMapState(new MapStateDescriptor<>("windows", Long.class, Q7rWindow.class));
    }

    @Override
    public void processElement(LocalQ7rWindows.Partial p, Context ctx, Collector<Bid> out) throws Exception {
      long end = p.start + Nexmark.Q7_SIZE_MS;
      if (end <= ctx.timerService().currentWatermark()) return; // its window was emitted
      Q7rWindow w = windows.get(p.start);
      if (w == null) {
        w = p.window;
        ctx.timerService().registerEventTimeTimer(end);
      } else {
        LocalQ7rWindows.merge(w, p.window);
      }
      windows.put(p.start, w);
    }

    @Override
    public void onTimer(long time, OnTimerContext ctx, Collector<Bid> out) throws Exception {
      long start = time - Nexmark.Q7_SIZE_MS;
      Q7rWindow w = windows.get(start);
      if (w == null) return;
      windows.remove(start);
      for (Bid b : w.top) out.collect(b);
      for (Bid b : w.edge) if (b.price == w.max) out.collect(b);
    }
  }
}
