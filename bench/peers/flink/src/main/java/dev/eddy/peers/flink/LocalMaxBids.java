package dev.eddy.peers.flink;

import dev.eddy.peers.common.Bid;
import dev.eddy.peers.common.Nexmark;
import dev.eddy.peers.common.Rows.MaxBids;
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
 * q7's first phase (local-global aggregation, as Flink SQL's
 * {@code table.optimizer.agg-phase-strategy}): each subtask keeps the highest bids of each
 * tumbling window among the bids it read and sends them on, stamped with the window's last
 * millisecond, when the watermark passes it; the one {@code windowAll} subtask then merges
 * partials, not every bid (and its window operator, with its per-record state access and trigger,
 * sees one record per window and subtask). The DataStream API has no such operator, so it is
 * written here as a Flink expert would: open windows in a sorted map, kept in operator state at a
 * checkpoint.
 */
public final class LocalMaxBids extends AbstractStreamOperator<MaxBids>
    implements OneInputStreamOperator<Bid, MaxBids> {
  private static final long serialVersionUID = 1L;

  /** An open window's partial, as checkpointed. */
  public static final class Open {
    public long start;
    public MaxBids max;

    public Open() {}
  }

  private final long size;
  private transient TreeMap<Long, MaxBids> open;
  private transient ListState<Open> state;

  public LocalMaxBids(long size) {
    this.size = size;
  }

  @Override
  public void initializeState(StateInitializationContext context) throws Exception {
    super.initializeState(context);
    open = new TreeMap<>();
    state = context.getOperatorStateStore().getListState(new ListStateDescriptor<>("q7-local-max", Open.class));
    for (Open o : state.get()) open.merge(o.start, o.max, LocalMaxBids::merge);
  }

  @Override
  public void snapshotState(StateSnapshotContext context) throws Exception {
    super.snapshotState(context);
    state.clear();
    for (Map.Entry<Long, MaxBids> e : open.entrySet()) {
      Open o = new Open();
      o.start = e.getKey();
      o.max = e.getValue();
      state.add(o);
    }
  }

  @Override
  public void processElement(StreamRecord<Bid> record) {
    Bid b = record.getValue();
    open.computeIfAbsent(Nexmark.windowStart(b.dateTime, size), k -> new MaxBids()).add(b);
  }

  @Override
  public void processWatermark(Watermark mark) throws Exception {
    while (!open.isEmpty() && open.firstKey() + size - 1 <= mark.getTimestamp()) {
      Map.Entry<Long, MaxBids> w = open.pollFirstEntry();
      output.collect(new StreamRecord<>(w.getValue(), w.getKey() + size - 1));
    }
    super.processWatermark(mark);
  }

  /** The highest bids of both partials (all of those at the top price). */
  static MaxBids merge(MaxBids a, MaxBids b) {
    for (Bid x : b.bids) a.add(x);
    return a;
  }
}
