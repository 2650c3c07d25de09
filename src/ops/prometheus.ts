/**
 * A run's figures in the Prometheus exposition format (issue 17), through
 * prom-client. Nothing is counted here: every family reads the run's
 * `metrics()` — the counters the tasks keep anyway — once per scrape, so a
 * run pays nothing between scrapes (the hot path adds one float per batch
 * for busy time, and times backpressure waits only when there are any). The
 * only figures observed as they happen are the checkpoints', once each, into
 * real histograms.
 *
 * Names follow Prometheus' rules: `eddy_` prefix, base units (seconds,
 * bytes), `_total` on counters, labels only of bounded sets (step, step
 * kind, and for a Kafka application the `topic:partition` a task runs; never
 * keys). Counters read from an attempt of a run start again from 0 after a
 * restart; `rate()` and `increase()` take that as a counter reset.
 *
 * @example
 * ```ts
 * const exporter = new RunExporter({ pipeline: 'iot', runId: 'f3a1', mode: 'embedded', health });
 * exporter.attach(() => running.metrics());
 * const text = await exporter.scrape(); // eddy_step_records_in_total{step="parse",kind="map"} 1000 ...
 * ```
 */
import { Counter, collectDefaultMetrics, Gauge, Histogram, type Metric, Registry } from 'prom-client';
import type { PipelineMetrics, StepMetrics } from '../core/metrics.ts';
import type { RunHealth } from './health.ts';

/** What a Kafka application reports (`KafkaApp#metrics`), as far as the exporter reads it. */
export interface KafkaAppView {
  readonly restarts: number;
  readonly moved: number;
  /** The partitions this process runs tasks for, as `topic:partition`. */
  readonly tasks: readonly string[];
  /** Each key-group task's pipeline metrics, by `topic:partition`. */
  readonly pipelines: Readonly<Record<string, PipelineMetrics>>;
  /** Group generations this instance joined. */
  readonly rebalances?: number;
  /** Consumer lag of each input partition, by `topic:partition` (-1: not known yet). */
  readonly lag?: Readonly<
    Record<
      string,
      { readonly lag: number; readonly buffered: number; readonly end: number; readonly next: number }
    >
  >;
  /** The last restores of key-group partitions (ms, changelog records read, from a warm standby). */
  readonly restores?: readonly {
    readonly partition: number;
    readonly ms: number;
    readonly records: number;
    readonly standby: boolean;
  }[];
  /** The restores under way (`KafkaAppMetrics.restoring`): began at (epoch ms), records read, next and end offsets (-1: not known). */
  readonly restoring?: readonly {
    readonly partition: number;
    readonly at: number;
    readonly records: number;
    readonly offset: number;
    readonly end: number;
  }[];
}

/** What one checkpoint (or a Kafka task's commit) took: `CheckpointInfo`, as far as the exporter reads it. */
export interface CheckpointFigures {
  readonly kind: 'checkpoint' | 'savepoint';
  readonly bytes: number;
  readonly alignmentMs: number;
  readonly durationMs: number;
  readonly error?: unknown;
}

export interface RunExporterOptions {
  readonly pipeline: string;
  readonly runId: string;
  /** `kafka`: per-task figures carry a `partition` label. */
  readonly mode: 'embedded' | 'threads' | 'kafka';
  /** Exported as `eddy_ready`. */
  readonly health?: RunHealth;
  /** prom-client's process and Node.js figures (CPU, memory, event-loop delay, GC). Default true. */
  readonly processMetrics?: boolean;
}

/** One set of pipeline figures and the labels that tell it apart (a Kafka task's partition). */
interface Row {
  readonly labels: Readonly<Record<string, string>>;
  readonly m: PipelineMetrics;
}

type Labels = Record<string, string>;

const SECONDS_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];
/** A sample whose value is prom-client's spelling of NaN, at the end of its line. */
const NAN_SAMPLE = / Nan$/gm;

/** 1 KiB to 1 GiB, ×4. */
const BYTES_BUCKETS = Array.from({ length: 11 }, (_, i) => 1024 * 4 ** i);

export class RunExporter {
  readonly registry = new Registry();
  #embedded: (() => PipelineMetrics) | undefined;
  #kafka: (() => KafkaAppView) | undefined;
  /** The figures of the scrape under way: read once, then every family reads these. */
  #rows: readonly Row[] = [];
  #app: KafkaAppView | undefined;
  #now = 0;
  #scraping: Promise<string> | undefined;
  readonly #checkpointSeconds: Histogram<'kind'>;
  readonly #alignmentSeconds: Histogram<'kind'>;
  readonly #checkpointBytes: Histogram<'kind'>;

  constructor(options: RunExporterOptions) {
    const r = this.registry;
    const part = options.mode === 'kafka' ? ['partition'] : [];
    const stepLabels = [...part, 'step', 'kind'];

    new Gauge({
      name: 'eddy_run_info',
      help: 'The run: pipeline name, run id and how it runs (embedded, threads, kafka); always 1.',
      labelNames: ['pipeline', 'run_id', 'mode'],
      registers: [r],
      collect() {
        this.reset();
        this.set({ pipeline: options.pipeline, run_id: options.runId, mode: options.mode }, 1);
      },
    });
    if (options.health !== undefined) {
      const health = options.health;
      new Gauge({
        name: 'eddy_ready',
        help: 'Whether the run is ready (/readyz answers 200): state restored, sources open, not restarting.',
        registers: [r],
        collect() {
          this.set(health.readiness().ok ? 1 : 0);
        },
      });
    }

    // Per step.
    const stepCounter = (name: string, help: string, read: (s: StepMetrics) => number | undefined) =>
      this.#counter(name, help, stepLabels, (emit) => this.#eachStep((l, s) => emit(l, read(s))));
    const stepGauge = (name: string, help: string, read: (s: StepMetrics) => number | undefined) =>
      this.#gauge(name, help, stepLabels, (emit) => this.#eachStep((l, s) => emit(l, read(s))));
    stepCounter('eddy_step_records_in_total', 'Records the step received.', (s) => s.recordsIn);
    stepCounter(
      'eddy_step_records_out_total',
      'Records the step emitted on its main output (sources: records read).',
      (s) => s.recordsOut,
    );
    stepCounter(
      'eddy_step_late_records_total',
      'Records that came after their window’s allowed lateness (sent to the late output).',
      (s) => s.lateRecords,
    );
    stepGauge(
      'eddy_step_state_entries',
      "Entries in the step's state tables (keyed state: one per key and namespace).",
      (s) => s.stateEntries,
    );
    stepGauge(
      'eddy_step_state_bytes',
      "Encoded bytes of the step's state in the last checkpoint.",
      (s) => s.stateBytes,
    );
    stepGauge(
      'eddy_step_hot_key_share',
      'Keyed steps: the share of the recent load taken by the heaviest key (a sampled sketch; no key label).',
      (s) =>
        s.hotKeysTotal > 0 && s.hotKeys[0] !== undefined ? s.hotKeys[0].count / s.hotKeysTotal : undefined,
    );
    this.#counter(
      'eddy_step_dead_letters_total',
      'Records the step sent to the dead-letter output, by eddy error code (sum by step for the total).',
      [...stepLabels, 'code'],
      (emit) =>
        this.#eachStep((l, s) => {
          for (const [code, n] of Object.entries(s.deadLettersByCode ?? {})) emit({ ...l, code }, n);
        }),
    );
    stepCounter(
      'eddy_step_busy_seconds_total',
      'Time the step spent processing batches; rate() of it is the share of a second the step is busy.',
      (s) => s.busyMicros / 1e6,
    );
    stepCounter(
      'eddy_step_backpressure_seconds_total',
      'Sources: time the reader waited for downstream backpressure (slow sink, async calls, full thread links).',
      (s) => (s.kind === 'source' ? s.backpressureMs / 1e3 : undefined),
    );
    stepCounter(
      'eddy_step_alignment_wait_seconds_total',
      'Sources at parallelism > 1: time the reader waited for slower subtasks (watermark alignment).',
      (s) => (s.kind === 'source' ? s.alignmentWaitMs / 1e3 : undefined),
    );
    stepGauge(
      'eddy_step_watermark_seconds',
      'The step’s event-time watermark, in seconds since the epoch (absent before the first and after the end).',
      (s) => finiteSeconds(s.watermark),
    );
    stepGauge(
      'eddy_step_watermark_lag_seconds',
      'Wall-clock time minus the step’s watermark: how far behind now the step’s event time is.',
      (s) => this.#lag(s.watermark),
    );
    stepGauge(
      'eddy_step_batch_duration_max_seconds',
      'The longest batch the step processed (of subtask 0 when the run has several).',
      (s) => s.batchMicros.max / 1e6,
    );
    this.#summary(
      'eddy_step_batch_duration_seconds',
      'Processing time per batch since the start (quantiles of subtask 0 when the run has several; sum and count of all).',
      stepLabels,
    );

    // Per run (per task of a Kafka application).
    const runCounter = (name: string, help: string, read: (m: PipelineMetrics) => number | undefined) =>
      this.#counter(name, help, part, (emit) => this.#eachRow((l, m) => emit(l, read(m))));
    const runGauge = (name: string, help: string, read: (m: PipelineMetrics) => number | undefined) =>
      this.#gauge(name, help, part, (emit) => this.#eachRow((l, m) => emit(l, read(m))));
    runCounter('eddy_source_records_total', 'Records read by all sources together.', (m) => m.sourceRecords);
    runGauge(
      'eddy_watermark_seconds',
      'The lowest watermark over the sinks: event time fully processed, in seconds since the epoch.',
      (m) => finiteSeconds(m.watermark),
    );
    runGauge('eddy_watermark_lag_seconds', 'Wall-clock time minus the pipeline’s watermark.', (m) =>
      this.#lag(m.watermark),
    );
    runCounter('eddy_checkpoints_completed_total', 'Checkpoints completed.', (m) => m.checkpoints?.completed);
    runCounter('eddy_checkpoints_failed_total', 'Checkpoints that failed.', (m) => m.checkpoints?.failed);
    const last = (m: PipelineMetrics, field: string) =>
      (m.checkpoints?.last as Record<string, unknown> | undefined)?.[field] as number | undefined;
    runGauge('eddy_checkpoint_last_id', 'The id of the newest completed checkpoint.', (m) => last(m, 'id'));
    runGauge('eddy_checkpoint_last_duration_seconds', 'The newest checkpoint: trigger to committed.', (m) =>
      seconds(last(m, 'durationMs')),
    );
    runGauge(
      'eddy_checkpoint_last_alignment_seconds',
      'The newest checkpoint: trigger to every source paused and in-flight work drained.',
      (m) => seconds(last(m, 'alignmentMs')),
    );
    runGauge(
      'eddy_checkpoint_last_sync_seconds',
      'The newest checkpoint: its synchronous part (sources paused).',
      (m) => seconds(last(m, 'syncMs')),
    );
    runGauge(
      'eddy_checkpoint_last_async_seconds',
      'The newest checkpoint: encoding and writing, while processing went on.',
      (m) => seconds(last(m, 'asyncMs')),
    );
    runGauge('eddy_checkpoint_last_size_bytes', 'The newest checkpoint’s size.', (m) => last(m, 'bytes'));
    runGauge('eddy_checkpoint_last_entries', 'State entries in the newest checkpoint.', (m) =>
      last(m, 'entries'),
    );
    runGauge(
      'eddy_spread',
      "preAggregate: 'auto' on worker threads: 1 while the combiners' input is spread over the threads, 0 while it is combined where it was read.",
      (m) => (m.spread === undefined ? undefined : m.spread.on ? 1 : 0),
    );
    runCounter(
      'eddy_spread_switches_total',
      "preAggregate: 'auto': changes between spreading and local combining (trials included).",
      (m) => m.spread?.switches,
    );
    runGauge(
      'eddy_checkpoint_restored_id',
      'The checkpoint this attempt of the run started from.',
      (m) => m.checkpoints?.restoredFrom,
    );
    if (options.mode !== 'kafka')
      this.#counter('eddy_restarts_total', 'Restarts of the run after a failure.', [], (emit) => {
        const m = this.#rows[0]?.m;
        if (m !== undefined) emit({}, m.restarts ?? 0);
      });
    else {
      this.#counter(
        'eddy_kafka_restarts_total',
        'Restarts after failures: partition tasks started again from their last commit, and retries to start tasks.',
        [],
        (emit) => emit({}, this.#app?.restarts),
      );
      this.#counter(
        'eddy_kafka_tasks_moved_total',
        'Partition tasks stopped here because their partition moved to another instance.',
        [],
        (emit) => emit({}, this.#app?.moved),
      );
      this.#counter(
        'eddy_kafka_rebalances_total',
        'Consumer group generations this instance joined (each a rebalance it took part in).',
        [],
        (emit) => emit({}, this.#app?.rebalances),
      );
      this.#gauge(
        'eddy_kafka_last_restore_seconds',
        "The last restore of each key-group partition here: from fencing the previous owner to its state read back (the partition's stall).",
        ['partition', 'standby'],
        (emit) => {
          const last = new Map<number, { ms: number; standby: boolean }>();
          for (const r of this.#app?.restores ?? []) last.set(r.partition, r);
          for (const [p, r] of last) emit({ partition: String(p), standby: String(r.standby) }, r.ms / 1000);
        },
      );
      this.#gauge(
        'eddy_kafka_last_restore_records',
        'Changelog records the last restore of each key-group partition here read.',
        ['partition'],
        (emit) => {
          const last = new Map<number, number>();
          for (const r of this.#app?.restores ?? []) last.set(r.partition, r.records);
          for (const [p, n] of last) emit({ partition: String(p) }, n);
        },
      );
      this.#gauge(
        'eddy_kafka_restore_in_progress_records',
        'Changelog records read so far by each restore of a key-group partition under way here.',
        ['partition'],
        (emit) => {
          for (const r of this.#app?.restoring ?? []) emit({ partition: String(r.partition) }, r.records);
        },
      );
      this.#gauge(
        'eddy_kafka_restore_in_progress_remaining_offsets',
        'Changelog offsets each restore under way here has still to read (its end when its read began, less where it is); absent until its read has begun.',
        ['partition'],
        (emit) => {
          for (const r of this.#app?.restoring ?? [])
            if (r.offset >= 0 && r.end >= 0)
              emit({ partition: String(r.partition) }, Math.max(0, r.end - r.offset));
        },
      );
      this.#gauge(
        'eddy_kafka_restore_in_progress_start_time_seconds',
        'When each restore under way here began (Unix time).',
        ['partition'],
        (emit) => {
          for (const r of this.#app?.restoring ?? []) emit({ partition: String(r.partition) }, r.at / 1000);
        },
      );
      this.#gauge('eddy_kafka_tasks', 'Partition tasks this instance runs.', [], (emit) =>
        emit({}, this.#app?.tasks.length),
      );
      this.#gauge(
        'eddy_kafka_task_info',
        'One per partition task this instance runs (forwarding and key-group tasks); always 1.',
        ['partition'],
        (emit) => {
          for (const t of this.#app?.tasks ?? []) emit({ partition: t }, 1);
        },
      );
      this.#gauge(
        'eddy_kafka_consumer_lag_records',
        "Records between an input partition's last stable offset and the next offset this instance fetches (refreshed every 5 s).",
        ['partition'],
        (emit) => {
          for (const [p, l] of Object.entries(this.#app?.lag ?? {}))
            if (l.lag >= 0) emit({ partition: p }, l.lag);
        },
      );
      this.#gauge(
        'eddy_kafka_consumer_buffered_records',
        'Records of an input partition fetched but not yet processed.',
        ['partition'],
        (emit) => {
          for (const [p, l] of Object.entries(this.#app?.lag ?? {})) emit({ partition: p }, l.buffered);
        },
      );
    }

    const histogram = (name: string, help: string, buckets: number[]) =>
      new Histogram({ name, help, labelNames: ['kind'], buckets, registers: [r] });
    this.#checkpointSeconds = histogram(
      'eddy_checkpoint_duration_seconds',
      options.mode === 'kafka'
        ? 'Commits of the partition tasks (state, offsets and output in one transaction): trigger to committed.'
        : 'Checkpoints and savepoints: trigger to durable and committed.',
      SECONDS_BUCKETS,
    );
    this.#alignmentSeconds = histogram(
      'eddy_checkpoint_alignment_seconds',
      'Checkpoints: trigger to every source paused and in-flight work drained.',
      SECONDS_BUCKETS,
    );
    this.#checkpointBytes = histogram(
      'eddy_checkpoint_size_bytes',
      'Checkpoints: bytes written.',
      BYTES_BUCKETS,
    );
    if (options.processMetrics !== false) collectDefaultMetrics({ register: r });
  }

  /** The Content-Type of {@link scrape}'s text. */
  get contentType(): string {
    return this.registry.contentType;
  }

  /** An embedded or threaded run is up: scrapes read its metrics from now on. */
  attach(metrics: () => PipelineMetrics): void {
    this.#embedded = metrics;
  }

  /** A Kafka application is up: scrapes read its tasks' metrics from now on. */
  attachKafka(metrics: () => KafkaAppView): void {
    this.#kafka = metrics;
  }

  /** A checkpoint completed or failed (the run's `onCheckpoint`): observed into the histograms. */
  observeCheckpoint(info: CheckpointFigures): void {
    if (info.error !== undefined) return; // counted by eddy_checkpoints_failed_total
    const kind = { kind: info.kind };
    this.#checkpointSeconds.observe(kind, info.durationMs / 1e3);
    this.#alignmentSeconds.observe(kind, info.alignmentMs / 1e3);
    this.#checkpointBytes.observe(kind, info.bytes);
  }

  /**
   * The exposition text. Reads the run's metrics once for the whole scrape;
   * scrapes that arrive while one is under way share its answer.
   */
  scrape(): Promise<string> {
    this.#scraping ??= this.#scrape().finally(() => {
      this.#scraping = undefined;
    });
    return this.#scraping;
  }

  async #scrape(): Promise<string> {
    this.#now = Date.now();
    this.#app = this.#kafka?.();
    if (this.#app !== undefined)
      this.#rows = Object.entries(this.#app.pipelines).map(([partition, m]) => ({
        labels: { partition },
        m,
      }));
    else {
      const m = this.#embedded?.();
      this.#rows = m === undefined ? [] : [{ labels: {}, m }];
    }
    try {
      // prom-client 15 writes a NaN sample as "Nan"; the exposition format spells it "NaN", and
      // strict (OpenMetrics) parsers refuse the other. The event-loop lag figures are NaN when two
      // scrapes come closer than the loop monitor's 10 ms resolution (no sample in between).
      return (await this.registry.metrics()).replace(NAN_SAMPLE, ' NaN');
    } finally {
      this.#rows = [];
      this.#app = undefined;
    }
  }

  #eachRow(f: (labels: Labels, m: PipelineMetrics) => void): void {
    for (const row of this.#rows) f({ ...row.labels }, row.m);
  }

  #eachStep(f: (labels: Labels, s: StepMetrics) => void): void {
    for (const row of this.#rows)
      for (const s of Object.values(row.m.steps)) f({ ...row.labels, step: s.id, kind: s.kind }, s);
  }

  #lag(watermark: number): number | undefined {
    return Number.isFinite(watermark) ? Math.max(0, (this.#now - watermark) / 1e3) : undefined;
  }

  #counter(
    name: string,
    help: string,
    labelNames: readonly string[],
    values: (emit: (labels: Labels, v: number | undefined) => void) => void,
  ): void {
    new Counter({
      name,
      help,
      labelNames,
      registers: [this.registry],
      collect() {
        this.reset();
        values((labels, v) => {
          if (v !== undefined && Number.isFinite(v) && v >= 0) this.inc(labels, v);
        });
      },
    });
  }

  #gauge(
    name: string,
    help: string,
    labelNames: readonly string[],
    values: (emit: (labels: Labels, v: number | undefined) => void) => void,
  ): void {
    new Gauge({
      name,
      help,
      labelNames,
      registers: [this.registry],
      collect() {
        this.reset();
        values((labels, v) => {
          if (v !== undefined && Number.isFinite(v)) this.set(labels, v);
        });
      },
    });
  }

  /**
   * A summary read from the steps' batch-time histograms. prom-client's own
   * Summary computes quantiles from observations it is given; these are
   * already computed by the tasks (once per batch, in microseconds), so the
   * family is a registry entry of its own that prom-client formats.
   */
  #summary(name: string, help: string, labelNames: readonly string[]): void {
    const metric = {
      name,
      help,
      type: 'summary',
      labelNames,
      aggregator: 'sum',
      get: async () => {
        const values: { labels: Labels; value: number; metricName?: string }[] = [];
        this.#eachStep((labels, s) => {
          const b = s.batchMicros;
          values.push(
            { labels: { ...labels, quantile: '0.5' }, value: b.p50 / 1e6 },
            { labels: { ...labels, quantile: '0.99' }, value: b.p99 / 1e6 },
            { metricName: `${name}_sum`, labels, value: s.busyMicros / 1e6 },
            { metricName: `${name}_count`, labels, value: s.batchesIn },
          );
        });
        return { name, help, type: 'summary', values, aggregator: 'sum' };
      },
    };
    this.registry.registerMetric(metric as unknown as Metric);
  }
}

function finiteSeconds(ms: number): number | undefined {
  return Number.isFinite(ms) ? ms / 1e3 : undefined;
}

function seconds(ms: number | undefined): number | undefined {
  return ms === undefined ? undefined : ms / 1e3;
}
