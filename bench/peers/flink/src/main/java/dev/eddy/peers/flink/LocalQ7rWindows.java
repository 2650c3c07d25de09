package dev.eddy.peers.flink;

import dev.eddy.peers.common.Bid;
import dev.eddy.peers.common.Nexmark;
import dev.eddy.peers.flink.FlinkMoreQueries.Q7rWindow;
import java.util.Map;
import java.util.TreeMap;
import org.apache.flink.api.common.state.ListState;
import org.apache.flink.api.common.state.ListStateDescriptor;
import org.apache.flink.runtime.state.StateInitializationContext;
import org.apache.flink.runtime.state.StateSnapshotContext;
import org.apache.flink.streaming.api.operators.AbstractStreamOperator;
import org.apache.flink.streaming.api.operators.OneInputStreamOperator;
import org.apache.flink.streaming.api.watermark.Watermark;
import org.apache.flink.streaming.runtime.streamrecord.StreamRecord;

/**
 * q7r's first phase, as {@link LocalMaxBids} is q7's: each subtask keeps, per open window
 * {@code [start, start + 10 s]}, the highest price among its own bids off the window's end, the
 * bids at it, and the bids on the end that may equal it ({@link Q7rWindow}), and sends them on,
 * stamped with the window's end, once the watermark reaches the end (every bid at or before it
 * is in). The one keyed subtask then merges partials ({@code FlinkMoreQueries.Q7rMerge}), not
 * every bid. Open windows are kept in operator state at a checkpoint.
 */
public final class LocalQ7rWindows extends AbstractStreamOperator<LocalQ7rWindows.Partial>
    implements OneInputStreamOperator<Bid, LocalQ7rWindows.Partial> {
  private static final long serialVersionUID = 1L;

  /** One subtask's part of the window starting at {@code start}. */
  public static final class Partial {
    public long start;
    public Q7rWindow window;

    public Partial() {}
  }

  private transient TreeMap<Long, Q7rWindow> open;
  private transient ListState<Partial> state;

  @Override
  public void initializeState(StateInitializationContext context) throws Exception {
    super.initializeState(context);
    open = new TreeMap<>();
    state = context.getOperatorStateStore().getListState(new ListStateDescriptor<>("q7r-local", Partial.class));
    for (Partial p : state.get()) open.merge(p.start, p.window, LocalQ7rWindows::merge);
  }

  @Override
  public void snapshotState(StateSnapshotContext context) throws Exception {
    super.snapshotState(context);
    state.clear();
    for (Map.Entry<Long, Q7rWindow> e : open.entrySet()) state.add(partial(e.getKey(), e.getValue()));
  }

  @Override
  public void processElement(StreamRecord<Bid> record) {
    Bid b = record.getValue();
    long start = Nexmark.windowStart(b.dateTime, Nexmark.Q7_SIZE_MS);
    Q7rWindow own = open.computeIfAbsent(start, k -> new Q7rWindow());
    if (b.price > own.max) {
      own.max = b.price;
      own.top.clear();
      own.top.add(b);
      own.edge.removeIf(x -> x.price < b.price);
    } else if (b.price == own.max) {
      own.top.add(b);
    }
    if (b.dateTime == start) {
      // On the previous window's end too: a candidate while it can still equal that maximum.
      Q7rWindow prev = open.computeIfAbsent(start - Nexmark.Q7_SIZE_MS, k -> new Q7rWindow());
      if (b.price >= prev.max) prev.edge.add(b);
    }
  }

  @Override
  public void processWatermark(Watermark mark) throws Exception {
    while (!open.isEmpty() && open.firstKey() + Nexmark.Q7_SIZE_MS <= mark.getTimestamp()) {
      Map.Entry<Long, Q7rWindow> w = open.pollFirstEntry();
      output.collect(new StreamRecord<>(partial(w.getKey(), w.getValue()), w.getKey() + Nexmark.Q7_SIZE_MS));
    }
    super.processWatermark(mark);
  }

  private static Partial partial(long start, Q7rWindow w) {
    Partial p = new Partial();
    p.start = start;
    p.window = w;
    return p;
  }

  /**
   * {@code b} merged into {@code a}: the higher maximum and the bids at it (both, if equal); the
   * end candidates of both (those below the final maximum are left out when the window is
   * emitted).
   */
  static Q7rWindow merge(Q7rWindow a, Q7rWindow b) {
    if (b.max > a.max) {
      a.max = b.max;
      a.top = b.top;
    } else if (b.max == a.max) {
      a.top.addAll(b.top);
    }
    a.edge.addAll(b.edge);
    return a;
  }
}
