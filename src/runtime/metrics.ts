/**
 * Per-step metrics, kept in plain counters on the step's task and read through
 * {@link PipelineMetrics} snapshots. Counting is a few additions per batch; the
 * one histogram records batch processing time, once per batch, never per record.
 */
import { build, type Histogram } from 'hdr-histogram-js';

/** A read-only snapshot of one step's metrics. */
export interface StepMetrics {
  readonly id: string;
  readonly kind: string;
  readonly recordsIn: number;
  readonly recordsOut: number;
  readonly batchesIn: number;
  /** The step's current event-time watermark (-Infinity before the first one). */
  readonly watermark: number;
  /** Records that arrived after their window's allowed lateness (routed to the late output). */
  readonly lateRecords: number;
  /** Records this step sent to the dead-letter output. */
  readonly deadLetters: number;
  /** Processing time per batch in microseconds. */
  readonly batchMicros: {
    readonly count: number;
    readonly p50: number;
    readonly p99: number;
    readonly max: number;
  };
}

/** A snapshot of every step's metrics, by step id. */
export interface PipelineMetrics {
  readonly steps: Readonly<Record<string, StepMetrics>>;
  /** Records emitted by all sources together. */
  readonly sourceRecords: number;
  /** The lowest watermark over all sinks: how far event time has been fully processed. */
  readonly watermark: number;
}

/** The mutable counters behind a {@link StepMetrics} snapshot. Internal. */
export class StepCounters {
  recordsIn = 0;
  recordsOut = 0;
  batchesIn = 0;
  watermark = Number.NEGATIVE_INFINITY;
  lateRecords = 0;
  deadLetters = 0;
  readonly id: string;
  readonly kind: string;
  readonly #batchMicros: Histogram;

  constructor(id: string, kind: string) {
    this.id = id;
    this.kind = kind;
    this.#batchMicros = build({ bitBucketSize: 32, autoResize: true, numberOfSignificantValueDigits: 2 });
  }

  recordBatchMicros(us: number): void {
    this.#batchMicros.recordValue(us < 1 ? 1 : Math.round(us));
  }

  snapshot(): StepMetrics {
    const h = this.#batchMicros;
    return {
      id: this.id,
      kind: this.kind,
      recordsIn: this.recordsIn,
      recordsOut: this.recordsOut,
      batchesIn: this.batchesIn,
      watermark: this.watermark,
      lateRecords: this.lateRecords,
      deadLetters: this.deadLetters,
      batchMicros: {
        count: h.totalCount,
        p50: h.totalCount === 0 ? 0 : h.getValueAtPercentile(50),
        p99: h.totalCount === 0 ? 0 : h.getValueAtPercentile(99),
        max: h.totalCount === 0 ? 0 : h.maxValue,
      },
    };
  }
}
