package dev.eddy.peers.spark;

import dev.eddy.peers.common.Args;
import java.util.List;

/**
 * {@code --trigger real-time}: Spark's Real-time Mode ({@code Trigger.RealTime}, Spark 4.1+) for the
 * stateless queries in Kafka mode. What Spark 4.2.0 requires, from its sources (spark-sql,
 * spark-catalyst and spark-sql-kafka-0-10 4.2.0), and how this peer meets it:
 *
 * <ul>
 *   <li><b>A source that supports it.</b> {@code MicroBatchExecution} calls {@code
 *       prepareForRealTimeMode()} on every source and fails with {@code
 *       STREAMING_REAL_TIME_MODE.INPUT_STREAM_NOT_SUPPORTED} for one that is not a {@code
 *       SupportsRealTimeMode}; its partition readers must be {@code SupportsRealTimeRead}. Spark's
 *       Kafka source ({@code KafkaMicroBatchStream}, {@code KafkaBatchPartitionReader}) is; the
 *       events-file source ({@link EventsSource}) and {@link PacedKafkaSource} ({@code --rate}) are
 *       not. So: Kafka mode only, no {@code --rate}.
 *   <li><b>Stateless plans.</b> Before each batch the executed plan is checked against {@code
 *       RealTimeModeAllowlist} (projection, filter, the object operators of {@code mapPartitions}
 *       — {@code DeserializeToObject}, {@code MapPartitions}, {@code SerializeFromObject} — union,
 *       broadcast join, the Kafka and {@code foreach} sinks...): {@code
 *       OPERATOR_OR_SINK_NOT_IN_ALLOWLIST} otherwise. q0–q2 (the parse, a projection or filter,
 *       {@code to_json} and the counting UDF) pass; q3–q8 need stream-stream joins or aggregations,
 *       which 4.2 does not run in this mode.
 *   <li><b>Update output mode</b> ({@code UnsupportedOperationChecker
 *       .checkAdditionalRealTimeModeConstraints}: {@code OUTPUT_MODE_NOT_SUPPORTED} otherwise). For
 *       a stateless query append and update write the same rows.
 *   <li><b>A batch duration of at least {@code spark.sql.streaming.realTimeMode.minBatchDuration}</b>
 *       (5,000 ms by default; {@code INVALID_STREAMING_REAL_TIME_MODE_TRIGGER_INTERVAL}). The
 *       duration is not a latency: each batch runs one long-running task per input partition
 *       ({@code RealTimeStreamScanExec}: its readers wait for records until the batch's end time),
 *       and offsets are written to the offset and commit logs once, when the batch ends ({@code
 *       markMicroBatchEnd}). So it is the checkpoint interval: {@code --trigger-ms}, default
 *       300,000 (Spark's default, {@code Trigger.RealTime()}).
 *   <li><b>No {@code maxOffsetsPerTrigger}</b> (nor {@code minOffsetsPerTrigger}, {@code
 *       minPartitions}, {@code maxTriggerDelay}): {@code KafkaMicroBatchStream.planInputPartitions}
 *       throws for each. {@code --max-rows-per-batch} is refused here.
 *   <li><b>A task slot per input partition at once</b>: the tasks run for the whole batch, one per
 *       Kafka partition (a 1:1 mapping), so {@code local[P]} needs P ≥ the topic's partitions: a
 *       task beyond the slots starts only when another ends, at the batch's end time, which is fixed
 *       when the batch is planned ({@code LowLatencyReaderWrap}), and then reads nothing.
 *   <li>No asynchronous progress tracking ({@code ASYNC_PROGRESS_TRACKING_NOT_SUPPORTED} in 4.2.0;
 *       it is off by default) and no AQE (Spark turns it off itself, as for any streaming query).
 * </ul>
 */
final class RealTime {
  /** The queries that run in real-time mode: stateless. */
  static final List<String> QUERIES = List.of("q0", "q1", "q2");

  /** Spark's default batch duration ({@code Trigger.RealTime()}), 5 minutes. */
  static final long DEFAULT_BATCH_MS = 300_000;

  /** Spark's default {@code spark.sql.streaming.realTimeMode.minBatchDuration}. */
  static final long MIN_BATCH_MS = 5_000;

  /** The batch duration: how often offsets are checkpointed. */
  final long batchMs;

  private RealTime(long batchMs) {
    this.batchMs = batchMs;
  }

  /**
   * {@code --trigger}: null for {@code micro-batch} (the default), the checked settings for {@code
   * real-time}; throws with what to change for anything real-time mode cannot run.
   */
  static RealTime of(Args args) {
    String trigger = args.get("trigger", "micro-batch");
    if (trigger.equals("micro-batch")) return null;
    if (!trigger.equals("real-time")) {
      throw new IllegalArgumentException(
          "--trigger must be micro-batch (the default) or real-time; received \"" + trigger + "\"");
    }
    if (args.get("input-topic", null) == null) {
      throw new IllegalArgumentException(
          "--trigger real-time needs Kafka mode (--input-topic IN --output-topic OUT): Spark's real-time"
              + " mode reads only sources that support it (its Kafka source), not the events file");
    }
    if (!QUERIES.contains(args.query)) {
      throw new IllegalArgumentException(
          "--trigger real-time runs "
              + String.join(", ", QUERIES)
              + " only (stateless: Spark 4.2's real-time mode has no aggregations or stream-stream joins);"
              + " run "
              + args.query
              + " with --trigger micro-batch");
    }
    if (args.rate > 0) {
      throw new IllegalArgumentException(
          "--trigger real-time takes no --rate (the paced Kafka source is micro-batch only); leave --rate out");
    }
    if (args.get("max-rows-per-batch", null) != null) {
      throw new IllegalArgumentException(
          "--trigger real-time takes no --max-rows-per-batch (Spark's Kafka source refuses"
              + " maxOffsetsPerTrigger in real-time mode); leave it out");
    }
    long batchMs = Long.parseLong(args.get("trigger-ms", String.valueOf(DEFAULT_BATCH_MS)));
    if (batchMs < MIN_BATCH_MS) {
      throw new IllegalArgumentException(
          "--trigger real-time needs --trigger-ms (the batch duration, i.e. the checkpoint interval) >= "
              + MIN_BATCH_MS
              + " (spark.sql.streaming.realTimeMode.minBatchDuration); received "
              + batchMs);
    }
    return new RealTime(batchMs);
  }

  /** Fails unless {@code local[parallelism]} can run a long-running task for every partition at once. */
  void checkSlots(int partitions, int parallelism, String topic) {
    if (partitions > parallelism) {
      throw new IllegalArgumentException(
          "--trigger real-time runs one long-running task per input partition at once: topic "
              + topic
              + " has "
              + partitions
              + " partitions, local["
              + parallelism
              + "] runs "
              + parallelism
              + " tasks; set --parallelism "
              + partitions);
    }
  }
}
