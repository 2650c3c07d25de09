package dev.eddy.peers.kstreams;

import dev.eddy.peers.common.Auction;
import dev.eddy.peers.common.Bid;
import dev.eddy.peers.common.Event;
import dev.eddy.peers.common.Rows.Winner;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import org.apache.kafka.common.utils.Bytes;
import org.apache.kafka.streams.KeyValue;
import org.apache.kafka.streams.processor.api.ContextualProcessor;
import org.apache.kafka.streams.processor.api.ProcessorContext;
import org.apache.kafka.streams.processor.api.Record;
import org.apache.kafka.streams.state.KeyValueIterator;
import org.apache.kafka.streams.state.KeyValueStore;

/**
 * Q4's per-auction step with the Processor API (the DSL has no event-time timers): keyed by auction
 * id, it keeps each auction and its best bid among those in {@code [dateTime, expires]}, and emits
 * the winner (keyed by category) once event time passes {@code expires}. Event time here is the
 * highest event time this processor has seen minus the grace (records from different upstream
 * tasks arrive out of order); the timers are an index store ordered by (expires, auction). A bid
 * that comes before its auction waits in a store (from another upstream task it may be more
 * than the same millisecond early); a bid for a closed auction is dropped.
 */
final class Q4Winners extends ContextualProcessor<Long, Event, Long, Winner> {
  static final String AUCTIONS = "q4-auctions";
  static final String EARLY = "q4-early";
  static final String EXPIRY = "q4-expiry";

  /** An auction's state. */
  public static final class State {
    public long dateTime;
    public long expires;
    public long category;
    public boolean closed;
    public boolean hasBest;
    public long best;
    public long created;

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
  private KeyValueStore<Bytes, byte[]> expiry;
  private long observed = Long.MIN_VALUE;
  /** A lower bound of the earliest pending expiry (not persisted: after a restart, scan once). */
  private long nextExpiry = Long.MIN_VALUE;

  Q4Winners(long graceMs, long base) {
    this.graceMs = graceMs;
    this.base = base;
  }

  @Override
  public void init(ProcessorContext<Long, Winner> context) {
    super.init(context);
    auctions = context.getStateStore(AUCTIONS);
    early = context.getStateStore(EARLY);
    expiry = context.getStateStore(EXPIRY);
  }

  @Override
  public void process(Record<Long, Event> record) {
    Event e = record.value();
    if (Flow.isEnd(record.key())) {
      close(Long.MAX_VALUE, record);
      context().forward(record.withValue(new Winner()));
      return;
    }
    if (e.kind == Event.AUCTION) auction(record.key(), e.auction);
    else bid(record.key(), e.bid);
    long time = record.timestamp() - base;
    if (time > observed) {
      observed = time;
      close(observed - graceMs - 1, record);
    }
  }

  private void auction(long id, Auction a) {
    State s = new State();
    s.dateTime = a.dateTime;
    s.expires = a.expires;
    s.category = a.category;
    s.created = a.created;
    Early waiting = early.get(id);
    if (waiting != null) {
      for (Bid b : waiting.bids) offer(s, b);
      early.delete(id);
    }
    auctions.put(id, s);
    expiry.put(expiryKey(a.expires, id), new byte[0]);
    if (nextExpiry == Long.MIN_VALUE || a.expires < nextExpiry) nextExpiry = a.expires;
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
    if (b.dateTime < s.dateTime || b.dateTime > s.expires) return false;
    if (s.hasBest && b.price <= s.best) return false;
    s.hasBest = true;
    s.best = b.price;
    if (b.created > s.created) s.created = b.created;
    return true;
  }

  /** Emits the winner of every auction with {@code expires <= time} (event time is now past it). */
  private void close(long time, Record<Long, Event> cause) {
    if (nextExpiry != Long.MIN_VALUE && time < nextExpiry) return;
    List<Bytes> done = new ArrayList<>();
    nextExpiry = Long.MIN_VALUE;
    try (KeyValueIterator<Bytes, byte[]> it = expiry.all()) {
      while (it.hasNext()) {
        KeyValue<Bytes, byte[]> kv = it.next();
        ByteBuffer key = ByteBuffer.wrap(kv.key.get());
        long expires = key.getLong();
        if (expires > time) {
          nextExpiry = expires;
          break;
        }
        long id = key.getLong();
        done.add(kv.key);
        State s = auctions.get(id);
        if (s == null || s.closed) continue;
        if (s.hasBest) {
          Winner w = new Winner(s.category, s.best, s.created);
          context().forward(new Record<>(s.category, w, cause.timestamp()));
        }
        // Kept as a marker so that later bids for it are dropped, not held as early.
        State closed = new State();
        closed.closed = true;
        auctions.put(id, closed);
      }
    }
    for (Bytes k : done) expiry.delete(k);
  }

  /** Big-endian (expires, id): RocksDB orders these bytes as the numbers (both are positive). */
  static Bytes expiryKey(long expires, long id) {
    return Bytes.wrap(ByteBuffer.allocate(16).putLong(expires).putLong(id).array());
  }
}
