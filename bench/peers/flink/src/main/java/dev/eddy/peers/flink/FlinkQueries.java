package dev.eddy.peers.flink;

import static dev.eddy.peers.common.Nexmark.windowStart;

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
import org.apache.flink.api.common.functions.AggregateFunction;
import org.apache.flink.api.common.functions.JoinFunction;
import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.api.common.state.ListState;
import org.apache.flink.api.common.state.ListStateDescriptor;
import org.apache.flink.api.common.state.ValueState;
import org.apache.flink.api.common.state.ValueStateDescriptor;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.streaming.api.datastream.DataStream;
import org.apache.flink.streaming.api.functions.KeyedProcessFunction;
import org.apache.flink.streaming.api.functions.co.ProcessJoinFunction;
import org.apache.flink.streaming.api.functions.windowing.ProcessAllWindowFunction;
import org.apache.flink.streaming.api.functions.windowing.ProcessWindowFunction;
import org.apache.flink.streaming.api.windowing.assigners.SlidingEventTimeWindows;
import org.apache.flink.streaming.api.windowing.assigners.TumblingEventTimeWindows;
import org.apache.flink.streaming.api.windowing.windows.TimeWindow;
import org.apache.flink.util.Collector;

/**
 * The Nexmark queries on Flink's DataStream API, computing what bench/nexmark/queries.ts computes
 * (same windows, join bounds and tie rules; see bench/peers/README.md for each mapping).
 */
public final class FlinkQueries {
  private FlinkQueries() {}

  /** The queries implemented here (bench/peers/index.ts lists the same). */
  public static final List<String> NAMES =
      List.of(
          "q0", "q1", "q2", "q3", "q3r", "q4", "q4r", "q5", "q6", "q7", "q7r", "q8", "q9", "q11", "q12", "q13",
          "q14", "q15", "q16", "q17", "q18", "q19", "q20", "q21", "q22");

  public static DataStream<? extends Stamped> build(String query, DataStream<Event> events) {
    switch (query) {
      case "q0":
        // nexmark/nexmark's q0: every bid (SELECT ... FROM bid).
        return bids(events);
      case "q1":
        return bids(events).map(Q1Row::of).returns(Q1Row.class).name("q1-euros");
      case "q2":
        return bids(events)
            .filter(b -> b.auction % Nexmark.Q2_AUCTION_SKIP == 0)
            .name("q2-select")
            .map(Q2Row::of)
            .returns(Q2Row.class)
            .name("q2-project");
      case "q3":
        return q3(events);
      case "q4":
        return q4(events);
      case "q5":
        return q5(events);
      case "q7":
        return q7(events);
      case "q8":
        return q8(events);
      case "q11":
        return q11(events);
      default:
        return FlinkMoreQueries.build(query, events);
    }
  }

  static DataStream<Bid> bids(DataStream<Event> events) {
    return events.filter(e -> e.kind == Event.BID).name("bids").map(e -> e.bid).returns(Bid.class).name("bid");
  }

  static DataStream<Auction> auctions(DataStream<Event> events) {
    return events
        .filter(e -> e.kind == Event.AUCTION)
        .name("auctions")
        .map(e -> e.auction)
        .returns(Auction.class)
        .name("auction");
  }

  static DataStream<Person> persons(DataStream<Event> events) {
    return events
        .filter(e -> e.kind == Event.PERSON)
        .name("persons")
        .map(e -> e.person)
        .returns(Person.class)
        .name("person");
  }

  // ---------------------------------------------------------------------------------------- Q3

  /**
   * Interval join, auction time ± 600 s, both bounds inclusive (as eddy's intervalJoin). Both sides
   * are projected before the keyBy, as an expert writes it: a person to its id, name, city and
   * state, an auction to its id and seller (the join's time is the record's timestamp).
   */
  static DataStream<Q3Row> q3(DataStream<Event> events) {
    DataStream<Person> sellers =
        persons(events)
            .filter(p -> Nexmark.Q3_STATES.contains(p.state))
            .name("q3-states")
            .map(
                p -> {
                  Person s = new Person();
                  s.id = p.id;
                  s.name = p.name;
                  s.city = p.city;
                  s.state = p.state;
                  s.created = p.created;
                  return s;
                })
            .returns(Person.class)
            .name("q3-project-person");
    return auctions(events)
        .filter(a -> a.category == Nexmark.Q3_CATEGORY)
        .name("q3-category")
        .map(FlinkQueries::idAndSeller)
        .returns(Auction.class)
        .name("q3-project-auction")
        .keyBy(a -> a.seller)
        .intervalJoin(sellers.keyBy(p -> p.id))
        .between(Duration.ofMillis(-Nexmark.Q3_HORIZON_MS), Duration.ofMillis(Nexmark.Q3_HORIZON_MS))
        .process(new Q3Join())
        .name("q3-join");
  }

  /** An auction cut to what q3 and q3r output and join on: its id, seller and latency stamp. */
  static Auction idAndSeller(Auction a) {
    Auction s = new Auction();
    s.id = a.id;
    s.seller = a.seller;
    s.created = a.created;
    return s;
  }

  static final class Q3Join extends ProcessJoinFunction<Auction, Person, Q3Row> {
    private static final long serialVersionUID = 1L;

    @Override
    public void processElement(Auction a, Person p, Context ctx, Collector<Q3Row> out) {
      out.collect(Q3Row.of(a, p));
    }
  }

  // ---------------------------------------------------------------------------------------- Q4

  /**
   * Projection before a keyBy, as an expert writes it and as Flink SQL's planner does: an auction
   * keeps its id, times, seller and category, a bid its auction, bidder, price and time (what the
   * winning-bid step, q4 and q6 read), so that the shuffle serializes numbers instead of the
   * events' strings (item name, description, extra).
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
      s.seller = a.seller;
      s.category = a.category;
      s.created = a.created;
      out.auction = s;
    } else if (e.kind == Event.BID) {
      Bid b = e.bid;
      Bid s = new Bid();
      s.auction = b.auction;
      s.bidder = b.bidder;
      s.price = b.price;
      s.dateTime = b.dateTime;
      s.created = b.created;
      out.bid = s;
    }
    return out;
  }

  static DataStream<Q4Row> q4(DataStream<Event> events) {
    return winningBids(events, "q4-winners", true)
        .map(w -> new Winner(w.auction.category, w.bid.price, w.created))
        .returns(Winner.class)
        .name("q4-price")
        .keyBy(w -> w.category)
        .process(new Q4Average())
        .name("q4-average");
  }

  /**
   * Each auction with its winning bid, emitted (at event time {@code expires}) when it closes.
   * With {@code project}, each auction and bid is cut to the fields the winner's consumers read
   * before the keyBy (see {@link #slim}); q9, which outputs whole rows, keeps them.
   */
  static DataStream<WinningBid> winningBids(DataStream<Event> events, String name, boolean project) {
    DataStream<Event> auctionsAndBids =
        events.filter(e -> e.kind != Event.PERSON).name(name + "-auctions-and-bids");
    if (project) auctionsAndBids = auctionsAndBids.map(FlinkQueries::slim).name(name + "-project");
    return auctionsAndBids
        .keyBy(e -> e.kind == Event.AUCTION ? e.auction.id : e.bid.auction)
        .process(new WinningBids())
        .name(name);
  }

  /**
   * Per auction: its best bid among those in {@code [dateTime, expires]} (higher price, equal
   * prices the earlier bid, equal times the first to arrive), emitted when the watermark passes
   * {@code expires}. A bid seen before its auction waits until the watermark passes its own time.
   * The same steps as eddy's winningBids.
   */
  static final class WinningBids extends KeyedProcessFunction<Long, Event, WinningBid> {
    private static final long serialVersionUID = 1L;
    private transient ValueState<Auction> auction;
    private transient ValueState<Bid> best;
    private transient ListState<Bid> early;

    @Override
    public void open(OpenContext openContext) {
      auction = getRuntimeContext().getState(new ValueStateDescriptor<>("auction", Auction.class));
      best = getRuntimeContext().getState(new ValueStateDescriptor<>("best", Bid.class));
      early = getRuntimeContext().getListState(new ListStateDescriptor<>("early", Bid.class));
    }

    @Override
    public void processElement(Event e, Context ctx, Collector<WinningBid> out) throws Exception {
      if (e.kind == Event.AUCTION) {
        Auction a = e.auction;
        auction.update(a);
        Bid top = null;
        for (Bid b : early.get()) {
          if (b.dateTime >= a.dateTime && b.dateTime <= a.expires && Nexmark.beats(b, top)) top = b;
        }
        early.clear();
        if (top != null) best.update(top);
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
      if (b.dateTime < a.dateTime || b.dateTime > a.expires) return;
      if (Nexmark.beats(b, best.value())) best.update(b);
    }

    @Override
    public void onTimer(long time, OnTimerContext ctx, Collector<WinningBid> out) throws Exception {
      Auction a = auction.value();
      if (a != null && time >= a.expires) {
        Bid top = best.value();
        if (top != null) out.collect(new WinningBid(a, top));
        auction.clear();
        best.clear();
      }
      dropEarlyUpTo(early, time);
    }
  }

  /** Drops the early bids at or before {@code time} (the watermark passed them); writes only on a change. */
  static void dropEarlyUpTo(ListState<Bid> early, long time) throws Exception {
    List<Bid> keep = new ArrayList<>();
    boolean any = false;
    for (Bid b : early.get()) {
      any = true;
      if (b.dateTime > time) keep.add(b);
    }
    if (!any) return;
    if (keep.isEmpty()) early.clear();
    else early.update(keep);
  }

  /** A rolling average per category: one refined row per closed auction. */
  static final class Q4Average extends KeyedProcessFunction<Long, Winner, Q4Row> {
    private static final long serialVersionUID = 1L;
    private transient ValueState<Average> average;

    @Override
    public void open(OpenContext openContext) {
      average = getRuntimeContext().getState(new ValueStateDescriptor<>("average", Average.class));
    }

    @Override
    public void processElement(Winner w, Context ctx, Collector<Q4Row> out) throws Exception {
      Average acc = average.value();
      if (acc == null) acc = new Average();
      acc.sum += w.price;
      acc.n++;
      average.update(acc);
      out.collect(new Q4Row(w.category, acc.sum / acc.n, w.created));
    }
  }

  // ---------------------------------------------------------------------------------------- Q5

  /**
   * Bids per auction per sliding window (10 s every 2 s); the counts of one window, all stamped
   * with its end − 1, meet in a 2 s tumbling window keyed by the window's start, which keeps the
   * highest count and every auction that has it.
   */
  static DataStream<Q5Row> q5(DataStream<Event> events) {
    // Projection before the keyBy: only the auction (and the latency stamp) crosses the shuffle,
    // not the whole bid with its url, channel and extra.
    return events
        .filter(e -> e.kind == Event.BID)
        .name("bids")
        .map(e -> new AuctionBid(e.bid.auction, e.bid.created))
        .returns(AuctionBid.class)
        .name("q5-project")
        .keyBy(b -> b.auction)
        .window(
            SlidingEventTimeWindows.of(
                Duration.ofMillis(Nexmark.Q5_SIZE_MS), Duration.ofMillis(Nexmark.Q5_SLIDE_MS)))
        .aggregate(new CountAuctionBids(), new ToAuctionCount())
        .name("q5-count")
        .keyBy(c -> c.start)
        .window(TumblingEventTimeWindows.of(Duration.ofMillis(Nexmark.Q5_SLIDE_MS)))
        .aggregate(new MaxCounts(), new ToQ5Rows())
        .name("q5-max");
  }

  /** Q5's projection of a bid: what the count needs. A POJO, so Flink serializes two longs. */
  public static final class AuctionBid {
    public long auction;
    public long created;

    public AuctionBid() {}

    public AuctionBid(long auction, long created) {
      this.auction = auction;
      this.created = created;
    }
  }

  static final class CountAuctionBids implements AggregateFunction<AuctionBid, Count, Count> {
    private static final long serialVersionUID = 1L;

    @Override
    public Count createAccumulator() {
      return new Count();
    }

    @Override
    public Count add(AuctionBid b, Count acc) {
      return acc.add(b.created);
    }

    @Override
    public Count getResult(Count acc) {
      return acc;
    }

    @Override
    public Count merge(Count a, Count b) {
      return a.merge(b);
    }
  }

  static final class CountBids implements AggregateFunction<Bid, Count, Count> {
    private static final long serialVersionUID = 1L;

    @Override
    public Count createAccumulator() {
      return new Count();
    }

    @Override
    public Count add(Bid b, Count acc) {
      return acc.add(b.created);
    }

    @Override
    public Count getResult(Count acc) {
      return acc;
    }

    @Override
    public Count merge(Count a, Count b) {
      return a.merge(b);
    }
  }

  static final class ToAuctionCount extends ProcessWindowFunction<Count, AuctionCount, Long, TimeWindow> {
    private static final long serialVersionUID = 1L;

    @Override
    public void process(Long auction, Context ctx, Iterable<Count> counts, Collector<AuctionCount> out) {
      Count c = counts.iterator().next();
      TimeWindow w = ctx.window();
      out.collect(new AuctionCount(auction, c.count, w.getStart(), w.getEnd(), c.created));
    }
  }

  static final class MaxCounts implements AggregateFunction<AuctionCount, MaxCount, MaxCount> {
    private static final long serialVersionUID = 1L;

    @Override
    public MaxCount createAccumulator() {
      return new MaxCount();
    }

    @Override
    public MaxCount add(AuctionCount c, MaxCount acc) {
      return acc.add(c);
    }

    @Override
    public MaxCount getResult(MaxCount acc) {
      return acc;
    }

    @Override
    public MaxCount merge(MaxCount a, MaxCount b) {
      throw new UnsupportedOperationException("tumbling windows do not merge");
    }
  }

  static final class ToQ5Rows extends ProcessWindowFunction<MaxCount, Q5Row, Long, TimeWindow> {
    private static final long serialVersionUID = 1L;

    @Override
    public void process(Long start, Context ctx, Iterable<MaxCount> maxes, Collector<Q5Row> out) {
      MaxCount m = maxes.iterator().next();
      for (long auction : m.auctions) out.collect(new Q5Row(auction, m.num, start, m.end, m.created));
    }
  }

  // ---------------------------------------------------------------------------------------- Q7

  /**
   * The highest bid(s) per tumbling 10 s window, on one parallel instance (a global window, as
   * eddy's single key and the reference's GROUP BY window). A bid counts in its own window only.
   */
  static DataStream<Bid> q7(DataStream<Event> events) {
    // Two phases: each subtask's window maxima (LocalMaxBids), merged by the one windowAll
    // subtask. At parallelism 1 too: the local operator's map costs less per bid than the window
    // operator's state access and per-record trigger, which then sees one partial per window.
    return bids(events)
        .transform("q7-local-max", TypeInformation.of(MaxBids.class), new LocalMaxBids(Nexmark.Q7_SIZE_MS))
        .windowAll(TumblingEventTimeWindows.of(Duration.ofMillis(Nexmark.Q7_SIZE_MS)))
        .aggregate(new MergeMaxBids(), new EmitBids())
        .name("q7-max");
  }

  static final class MergeMaxBids implements AggregateFunction<MaxBids, MaxBids, MaxBids> {
    private static final long serialVersionUID = 1L;

    @Override
    public MaxBids createAccumulator() {
      return new MaxBids();
    }

    @Override
    public MaxBids add(MaxBids partial, MaxBids acc) {
      return LocalMaxBids.merge(acc, partial);
    }

    @Override
    public MaxBids getResult(MaxBids acc) {
      return acc;
    }

    @Override
    public MaxBids merge(MaxBids a, MaxBids b) {
      throw new UnsupportedOperationException("tumbling windows do not merge");
    }
  }

  static final class EmitBids extends ProcessAllWindowFunction<MaxBids, Bid, TimeWindow> {
    private static final long serialVersionUID = 1L;

    @Override
    public void process(Context ctx, Iterable<MaxBids> maxes, Collector<Bid> out) {
      for (Bid b : maxes.iterator().next().bids) out.collect(b);
    }
  }

  // ---------------------------------------------------------------------------------------- Q8

  /**
   * Sellers grouped per tumbling 10 s window (one row per seller and window, stamped end − 1), then
   * a tumbling-window join with the persons registered in that window.
   */
  static DataStream<Q8Row> q8(DataStream<Event> events) {
    // Projections before the keyBys: a seller and its time; a person's id, name and time.
    DataStream<SellerWindow> sellers =
        auctions(events)
            .map(
                a -> {
                  Auction s = new Auction();
                  s.seller = a.seller;
                  s.dateTime = a.dateTime;
                  s.created = a.created;
                  return s;
                })
            .returns(Auction.class)
            .name("q8-project-auction")
            .keyBy(a -> a.seller)
            .window(TumblingEventTimeWindows.of(Duration.ofMillis(Nexmark.Q8_SIZE_MS)))
            .aggregate(new CountAuctions(), new ToSellerWindow())
            .name("q8-sellers");
    return persons(events)
        .map(
            p -> {
              Person s = new Person();
              s.id = p.id;
              s.name = p.name;
              s.dateTime = p.dateTime;
              s.created = p.created;
              return s;
            })
        .returns(Person.class)
        .name("q8-project-person")
        .join(sellers)
        .where(p -> p.id)
        .equalTo(s -> s.seller)
        .window(TumblingEventTimeWindows.of(Duration.ofMillis(Nexmark.Q8_SIZE_MS)))
        .apply(new Q8Join());
  }

  static final class CountAuctions implements AggregateFunction<Auction, Count, Count> {
    private static final long serialVersionUID = 1L;

    @Override
    public Count createAccumulator() {
      return new Count();
    }

    @Override
    public Count add(Auction a, Count acc) {
      return acc.add(a.created);
    }

    @Override
    public Count getResult(Count acc) {
      return acc;
    }

    @Override
    public Count merge(Count a, Count b) {
      return a.merge(b);
    }
  }

  static final class ToSellerWindow extends ProcessWindowFunction<Count, SellerWindow, Long, TimeWindow> {
    private static final long serialVersionUID = 1L;

    @Override
    public void process(Long seller, Context ctx, Iterable<Count> counts, Collector<SellerWindow> out) {
      out.collect(new SellerWindow(seller, ctx.window().getStart(), counts.iterator().next().created));
    }
  }

  static final class Q8Join implements JoinFunction<Person, SellerWindow, Q8Row> {
    private static final long serialVersionUID = 1L;

    @Override
    public Q8Row join(Person p, SellerWindow s) {
      return new Q8Row(p.id, p.name, windowStart(p.dateTime, Nexmark.Q8_SIZE_MS), Math.max(p.created, s.created));
    }
  }

  // --------------------------------------------------------------------------------------- Q11

  /** Bids per bidder per session (10 s gap; sessions merge only when they overlap, as eddy's). */
  static DataStream<Q11Row> q11(DataStream<Event> events) {
    return bids(events)
        .keyBy(b -> b.bidder)
        .window(new OverlappingSessions(Nexmark.Q11_GAP_MS))
        .aggregate(new CountBids(), new ToQ11Row())
        .name("q11-sessions");
  }

  static final class ToQ11Row extends ProcessWindowFunction<Count, Q11Row, Long, TimeWindow> {
    private static final long serialVersionUID = 1L;

    @Override
    public void process(Long bidder, Context ctx, Iterable<Count> counts, Collector<Q11Row> out) {
      Count c = counts.iterator().next();
      out.collect(new Q11Row(bidder, c.count, ctx.window().getStart(), ctx.window().getEnd(), c.created));
    }
  }
}
