package dev.eddy.peers.kstreams;

import dev.eddy.peers.common.Auction;
import dev.eddy.peers.common.Bid;
import dev.eddy.peers.common.Event;
import dev.eddy.peers.common.Nexmark;
import dev.eddy.peers.common.Rows.WinningBid;
import org.apache.kafka.streams.processor.api.ContextualProcessor;
import org.apache.kafka.streams.processor.api.ProcessorContext;
import org.apache.kafka.streams.processor.api.Record;
import org.apache.kafka.streams.state.KeyValueStore;

/**
 * The winning bid of each auction (q4, q6, q9) with the Processor API (the DSL has no event-time
 * timers): keyed by auction id, it keeps each auction and its best bid among those in
 * {@code [dateTime, expires]} (higher price; equal prices, the earlier bid; equal times, the first
 * to arrive, or for early bids the lower bidder) and emits both, at time {@code expires}, once
 * event time passes {@code expires}. Event time here is the highest event time this processor has
 * seen minus the grace (records from different upstream tasks arrive out of order). A bid that
 * comes before its auction waits in a store ({@link EarlyBids}: from another upstream task it may
 * be seconds early) until event time passes it; so does a bid for an auction already closed.
 */
final class WinningBids extends ContextualProcessor<Long, Event, Long, WinningBid> {
  static final String AUCTIONS = "winners-auctions";
  static final String EARLY = "winners-early";
  static final String EXPIRY = "winners-expiry";
  /**
   * How long (event time) a closed auction's marker stays. Only speed depends on it: a bid for an
   * auction whose marker is gone waits as an early bid until event time passes it, then goes.
   * Markers kept for good made every lookup slower as the store grew (16 % of q6's CPU in a
   * profile); nexmark's bids name one of the last 100 auctions, so nearly all late ones come soon.
   */
  static final long CLOSED_KEPT_MS = 60_000;

  /**
   * An auction and its best bid so far; once emitted, a marker ({@code closed}, nothing else) for
   * {@link #CLOSED_KEPT_MS}, so that later bids for it are dropped at once.
   */
  public static final class State {
    public Auction auction;
    public Bid best;
    public boolean closed;

    public State() {}
  }

  private final long graceMs;
  /** What was added to event times to make record timestamps. */
  private final long base;
  private KeyValueStore<Long, State> auctions;
  private EarlyBids early;
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
    early = new EarlyBids(context.getStateStore(EARLY));
    expiry = new DueIndex(context.getStateStore(EXPIRY));
  }

  @Override
  public void process(Record<Long, Event> record) {
    if (Flow.isEnd(record.key())) {
      expiry.fireDue(Long.MAX_VALUE, this::fire);
      context().forward(record.withValue(new WinningBid()));
      return;
    }
    Event e = record.value();
    if (e.kind == Event.AUCTION) auction(record.key(), e.auction);
    else bid(record.key(), e.bid);
    long time = record.timestamp() - base;
    if (time > observed) {
      observed = time;
      expiry.fireDue(observed - graceMs - 1, this::fire);
    }
  }

  private void auction(long id, Auction a) {
    State s = new State();
    s.auction = a;
    for (Bid b : early.take(id)) offer(s, b);
    auctions.put(id, s);
    expiry.add(a.expires, id);
  }

  private void bid(long id, Bid b) {
    State s = auctions.get(id);
    if (s == null) {
      // Its auction may still come, until event time passes this bid (an auction is never after
      // its bids); a bid for an auction already closed waits so too, then goes.
      early.add(b);
      expiry.add(b.dateTime, id);
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

  /**
   * Event time has passed {@code time}, a timer of auction {@code id}: its expiry (emit it with its
   * best bid; a marker stays), its marker's end (delete it), or the time of a bid that came before
   * it (if the auction is still not here, its early bids up to {@code time} can no longer meet it).
   */
  private void fire(long time, long id) {
    State s = auctions.get(id);
    if (s == null) {
      early.dropUpTo(id, time);
    } else if (s.closed) {
      // The marker's end (or a bid's timer after the auction closed: the marker only saves work).
      auctions.delete(id);
    } else if (time >= s.auction.expires) {
      if (s.best != null) {
        context().forward(new Record<>(id, new WinningBid(s.auction, s.best), base + s.auction.expires));
      }
      State closed = new State();
      closed.closed = true;
      auctions.put(id, closed);
      expiry.add(time + CLOSED_KEPT_MS, id);
    }
  }
}
