package dev.eddy.peers.flink;

import java.util.ArrayList;
import java.util.Collection;
import java.util.Collections;
import java.util.List;
import org.apache.flink.api.common.ExecutionConfig;
import org.apache.flink.api.common.typeutils.TypeSerializer;
import org.apache.flink.streaming.api.windowing.assigners.MergingWindowAssigner;
import org.apache.flink.streaming.api.windowing.triggers.EventTimeTrigger;
import org.apache.flink.streaming.api.windowing.triggers.Trigger;
import org.apache.flink.streaming.api.windowing.windows.TimeWindow;

/**
 * Event-time session windows that merge only when they overlap: a record at {@code t} opens
 * {@code [t, t + gap)}, and two sessions merge when one starts before the other ends. Flink's own
 * {@code EventTimeSessionWindows} also merges sessions that only touch (a record exactly
 * {@code gap} after the last one); eddy's session windows do not, and this matches eddy.
 */
public final class OverlappingSessions extends MergingWindowAssigner<Object, TimeWindow> {
  private static final long serialVersionUID = 1L;
  private final long gap;

  public OverlappingSessions(long gap) {
    this.gap = gap;
  }

  @Override
  public Collection<TimeWindow> assignWindows(Object element, long timestamp, WindowAssignerContext context) {
    return Collections.singletonList(new TimeWindow(timestamp, timestamp + gap));
  }

  @Override
  public void mergeWindows(Collection<TimeWindow> windows, MergeCallback<TimeWindow> callback) {
    List<TimeWindow> sorted = new ArrayList<>(windows);
    sorted.sort((a, b) -> Long.compare(a.getStart(), b.getStart()));
    List<TimeWindow> run = new ArrayList<>();
    long start = 0;
    long end = Long.MIN_VALUE;
    for (TimeWindow w : sorted) {
      if (!run.isEmpty() && w.getStart() < end) {
        run.add(w);
        end = Math.max(end, w.getEnd());
        continue;
      }
      if (run.size() > 1) callback.merge(run, new TimeWindow(start, end));
      run = new ArrayList<>();
      run.add(w);
      start = w.getStart();
      end = w.getEnd();
    }
    if (run.size() > 1) callback.merge(run, new TimeWindow(start, end));
  }

  @Override
  public Trigger<Object, TimeWindow> getDefaultTrigger() {
    return EventTimeTrigger.create();
  }

  @Override
  public TypeSerializer<TimeWindow> getWindowSerializer(ExecutionConfig executionConfig) {
    return new TimeWindow.Serializer();
  }

  @Override
  public boolean isEventTime() {
    return true;
  }

  @Override
  public String toString() {
    return "OverlappingSessions(" + gap + ")";
  }
}
