package dev.eddy.peers.kstreams;

import dev.eddy.peers.common.Auction;
import dev.eddy.peers.common.Bid;
import dev.eddy.peers.common.Event;
import dev.eddy.peers.common.Nexmark;
import dev.eddy.peers.common.Rows.WinningBid;
import java.util.ArrayList;
import java.util.List;
import org.apache.kafka.streams.processor.api.ContextualProcessor;
import org.apache.kafka.streams.processor.api.ProcessorContext;
import org.apache.kafka.streams.processor.api.Record;
import org.apache.kafka.streams.state.KeyValueStore;

/**
 * The winning bid of each auction (q4, q6, q9) with the Processor API (the DSL has no event-time
 * timers): keyed by auction id, it keeps each auction and its best bid among those in
 * {@code [dateTime, expires]} (higher price; equal prices, the earlier bid; equal times, the first
 * to arrive) and emits both, at time {@code expires}, once event time passes {@code expires}.
 * Event time here is the highest event time this processor has seen minus the grace (records
 * from different upstream tasks arrive out of order). A bid that comes before its auction waits
 * in a store (from another upstream task it may be more than a millisecond early); a bid for a
 * closed auction is dropped.
 */
final class WinningBids extends ContextualProcessor<Long, Event, Long, WinningBid> {
  static final String AUCTIONS = "winners-auctions";
  static final String EARLY = "winners-early";
  static final String EXPIRY = "winners-expiry";

  /** An auction and its best bid so far; {@code closed} once emitted, so later bids are dropped. */
  public static final class State {
    public Auction auction;
    public Bid best;
    public boolean closed;

    public State() {}
  }

  /** Bids seen before their auction. */
  public static final class Early {
    public List<Bid> bids = new ArrayList<>();

    public Early() {}
  }

  private final long graceMs;
  /** What was added to event times to make record timestamps. */
  private final long base;
  private KeyValueStore<Long, State> auctions;
  private KeyValueStore<Long, Early> early;
  private DueIndex expiry;
  private long observed = Long.MIN_VALUE;

  WinningBids(long graceMs, long base) {
    this.graceMs = graceMs;
    this.base = base;
  }

  @Override
  public void init(ProcessorContext<Long, WinningBid> context) {
    super.init(context);
    auctions = context.getStateStore(AUCTIONS);
    early = context.getStateStore(EARLY);
    expiry = new DueIndex(context.getStateStore(EXPIRY));
  }

  @Override
  public void process(Record<Long, Event> record) {
    if (Flow.isEnd(record.key())) {
      expiry.fireDue(Long.MAX_VALUE, this::close);
      context().forward(record.withValue(new WinningBid()));
      return;
    }
    Event e = record.value();
    if (e.kind == Event.AUCTION) auction(record.key(), e.auction);
    else bid(record.key(), e.bid);
    long time = record.timestamp() - base;
    if (time > observed) {
      observed = time;
      expiry.fireDue(observed - graceMs - 1, this::close);
    }
  }

  private void auction(long id, Auction a) {
    State s = new State();
    s.auction = a;
    Early waiting = early.get(id);
    if (waiting != null) {
      for (Bid b : waiting.bids) offer(s, b);
      early.delete(id);
    }
    auctions.put(id, s);
    expiry.add(a.expires, id);
  }

  private void bid(long id, Bid b) {
    State s = auctions.get(id);
    if (s == null) {
      Early waiting = early.get(id);
      if (waiting == null) waiting = new Early();
      waiting.bids.add(b);
      early.put(id, waiting);
      return;
    }
    if (s.closed) return;
    if (offer(s, b)) auctions.put(id, s);
  }

  /** Whether {@code b} became the auction's best bid. */
  private static boolean offer(State s, Bid b) {
    Auction a = s.auction;
    if (b.dateTime < a.dateTime || b.dateTime > a.expires) return false;
    if (!Nexmark.beats(b, s.best)) return false;
    s.best = b;
    return true;
  }

  private void close(long expires, long id) {
    State s = auctions.get(id);
    if (s == null || s.closed) return;
    if (s.best != null) {
      context().forward(new Record<>(id, new WinningBid(s.auction, s.best), base + expires));
    }
    // Kept as a marker so that later bids for it are dropped, not held as early.
    State closed = new State();
    closed.closed = true;
    auctions.put(id, closed);
  }
}
