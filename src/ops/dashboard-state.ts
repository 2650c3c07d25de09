/**
 * What the live dashboard's server sends its page (issue 17): plain JSON, one
 * `init` message when a page connects, then a `state` message a second. Types
 * only, so the page's code (`web/dashboard/`) imports them without pulling in
 * anything of Node's.
 */
import type { JobGraph } from '../plan/job-graph.ts';

/** One step over the last sampling interval (rates per second; fractions 0..1 of one thread's time). */
export interface StepView {
  readonly id: string;
  readonly kind: string;
  readonly recordsIn: number;
  readonly recordsOut: number;
  readonly inRate: number;
  readonly outRate: number;
  /** Processing time over the interval ÷ (interval × subtasks): 1 means every subtask was busy all along. */
  readonly busy: number;
  /** Sources: time waiting on downstream backpressure over the interval ÷ (interval × subtasks). */
  readonly backpressure: number;
  /** Event time in ms, null before the first watermark. */
  readonly watermark: number | null;
  readonly lateRecords: number;
  readonly deadLetters: number;
  readonly deadLettersByCode: Readonly<Record<string, number>>;
  readonly lastDeadLetter: { readonly code: string; readonly reason: string; readonly at: number } | null;
  /** Batch processing time, 99th percentile, microseconds. */
  readonly p99Micros: number;
  /** Entries in the step's state now, and their encoded bytes in the last checkpoint (null before one). */
  readonly stateEntries: number;
  readonly stateBytes: number | null;
  /** Keyed steps: the heaviest keys of the recent load and their share of it (issue 18), heaviest first. */
  readonly hotKeys: readonly { readonly key: string; readonly share: number }[];
  /** Busiest subtask's busy time ÷ the mean over subtasks, this interval; null with one subtask or no work. */
  readonly skew: number | null;
  /** DS2: records per second of busy time (what one subtask does when never idle); null when not measured. */
  readonly trueRate: number | null;
  /** DS2: subtasks that keep up with this step's input at the sources' current rate. */
  readonly needed: number | null;
}

/** DS2's answer for the whole job (`ops/scale.ts`). */
export interface ScaleView {
  /** The step that caps the source rate the job sustains now, if any was measured. */
  readonly bottleneck: string | null;
  /** Source records/s the job sustains at its current parallelism (null when not measured). */
  readonly sustainableRate: number | null;
  /** Subtasks the busiest step needs at the current source rate. */
  readonly parallelism: number;
}

export interface CheckpointView {
  /** Wall-clock ms when it completed (or failed). */
  readonly at: number;
  readonly kind: 'checkpoint' | 'savepoint';
  readonly durationMs: number;
  readonly bytes: number;
  readonly alignmentMs: number;
  /** The error's message when it failed. */
  readonly error: string | null;
}

/** One point of the time-series charts. */
export interface Sample {
  /** Wall-clock seconds. */
  readonly t: number;
  /** Records read by all sources, per second. */
  readonly inRate: number;
  /** Records written by all sinks, per second. */
  readonly outRate: number;
  readonly rssMb: number;
  readonly heapMb: number;
  /** Event-loop delay of the process that serves the page, over the interval. */
  readonly loopP99Ms: number;
}

/** A Kafka application's instance: its partitions and what they did. */
export interface KafkaView {
  readonly tasks: readonly string[];
  readonly restarts: number;
  readonly rebalances: number;
  /** Per partition task: records its sources read and their rate; consumer lag (-1: not known yet) and fetched-but-unprocessed records. */
  readonly partitions: readonly {
    readonly task: string;
    readonly records: number;
    readonly rate: number;
    readonly lag: number;
    readonly buffered: number;
  }[];
  readonly restores: readonly {
    readonly partition: number;
    readonly ms: number;
    readonly records: number;
    readonly standby: boolean;
  }[];
}

export interface DashboardState {
  /** Wall-clock ms of the sample. */
  readonly at: number;
  readonly phase: string;
  readonly reason: string;
  readonly sourceRecords: number;
  readonly restarts: number;
  readonly steps: readonly StepView[];
  /** Newest last; at most 30. */
  readonly checkpoints: readonly CheckpointView[];
  readonly checkpointsCompleted: number;
  readonly checkpointsFailed: number;
  readonly kafka: KafkaView | null;
  readonly scale: ScaleView;
  readonly sample: Sample;
}

export interface DashboardInit {
  readonly pipeline: string;
  readonly runId: string;
  readonly mode: 'embedded' | 'threads' | 'kafka';
  readonly parallelism: number;
  readonly graph: JobGraph | null;
  /** Newest last; at most 300 (five minutes). */
  readonly history: readonly Sample[];
  readonly state: DashboardState;
}
