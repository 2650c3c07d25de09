/**
 * Per-step metrics, kept in plain counters on the step's task and read through
 * {@link PipelineMetrics} snapshots. Counting is a few additions per batch; the
 * one histogram records batch processing time, once per batch, never per record.
 */
import { Histogram } from '../util/histogram.ts';
import { SpaceSaving } from '../util/space-saving.ts';
import type { Key } from './key-groups.ts';

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
  /** The same, by error code (`EDDY_DECODE_FAILED`, …): codes are eddy's own, a short fixed list. */
  readonly deadLettersByCode: Readonly<Record<string, number>>;
  /** The latest dead letter of this step: its code, reason and when (epoch ms); for a person looking at a run. */
  readonly lastDeadLetter:
    | { readonly code: string; readonly reason: string; readonly at: number }
    | undefined;
  /** Sources at parallelism > 1: ms the reader waited for slower subtasks to catch up (watermark alignment). */
  readonly alignmentWaitMs: number;
  /** Sources: ms the reader waited for downstream backpressure (a slow sink, async calls, full thread links) before polling again. */
  readonly backpressureMs: number;
  /** Processing time of all the step's batches together, in microseconds: the sum behind `batchMicros`. */
  readonly busyMicros: number;
  /** `busyMicros` of each subtask, in subtask order (one entry in a single subtask's figures). */
  readonly subtaskBusyMicros: readonly number[];
  /**
   * Keyed steps: the heaviest keys of the recent load (a sampled, decaying
   * Space-Saving sketch, issue 18), heaviest first, at most 10. A key's share
   * of the step's load is `count / hotKeysTotal`.
   */
  readonly hotKeys: readonly { readonly key: Key; readonly count: number; readonly error: number }[];
  /** The sampled, decayed records `hotKeys` counts are a share of (0 for steps without keys). */
  readonly hotKeysTotal: number;
  /**
   * Keyed steps of a run that rebalances (`RunOptions.rebalance`): the records
   * this attempt processed in each key group (index = group). Absent otherwise.
   */
  readonly keyGroupRecords?: readonly number[];
  /** Entries in the step's state tables now (keyed state: one per key and namespace). */
  readonly stateEntries: number;
  /** Encoded bytes of the step's state and keyed items in the last checkpoint; undefined before one. */
  readonly stateBytes: number | undefined;
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
  /** Present when the run takes checkpoints or resumed from one. */
  readonly checkpoints?: {
    readonly completed: number;
    readonly failed: number;
    /** The latest checkpoint: id, bytes, entries, alignmentMs, syncMs, asyncMs, durationMs. */
    readonly last: object | undefined;
    readonly restoredFrom: number | undefined;
  };
  /** How many times the run restarted after a failure (see `RunOptions.restart`). */
  readonly restarts?: number;
  /** How many times a rebalancing run moved key groups between its threads (see `RunOptions.rebalance`). */
  readonly rebalances?: number;
  /**
   * One subtask's thread (in a subtask's own figures, not in the merged
   * ones): when read (ms since the epoch) and how long its event loop has
   * been active (ms), sources and exchanges included.
   */
  readonly thread?: { readonly at: number; readonly activeMs: number };
  /**
   * `preAggregate: 'auto'` on worker threads: whether the combiners' input
   * is spread over the subtasks now, how often that changed, and the last
   * costs measured each way (the busiest thread's active µs per source
   * record; see runtime/threads/spread.ts).
   */
  readonly spread?: {
    readonly on: boolean;
    readonly switches: number;
    readonly probes: number;
    readonly localMicrosPerRecord: number | undefined;
    readonly spreadMicrosPerRecord: number | undefined;
  };
}

/** The mutable counters behind a {@link StepMetrics} snapshot. Internal. */
/** A key's state in one step (`RunningPipeline.queryState`): every table entry of the key, by namespace. */
export interface KeyState {
  readonly step: string;
  readonly key: Key;
  readonly keyGroup: number;
  /** The subtask that holds the key group. */
  readonly subtask: number;
  /** Each entry: its table, its namespace (a window's, or 0), its value. Empty when the key has no state. */
  readonly entries: readonly {
    readonly table: string;
    readonly namespace: number;
    readonly value: unknown;
  }[];
}

/** Which keys a state scan reads (`RunningPipeline.scanState`): a prefix of string keys and/or a range. */
export interface StateScanOptions {
  /** String keys that start with this. */
  readonly prefix?: string;
  /** Keys ≥ this (numbers compare as numbers, strings as strings; a number and a string do not compare). */
  readonly from?: Key;
  /** Keys < this. */
  readonly to?: Key;
  /** The most keys returned, smallest first (default 100, at most 10,000). */
  readonly limit?: number;
}

/**
 * Where a key's state lives in a Kafka application (issue 17): its partition
 * (key group) and the instance that runs it, as Kafka Streams'
 * `queryMetadataForKey`.
 */
export interface KeyLocation {
  readonly key: Key;
  readonly partition: number;
  /** Whether this instance runs the partition, so can answer for the key. */
  readonly local: boolean;
  /** The instance that runs it (its `instanceId`); absent while no instance is assigned it. */
  readonly instance?: string;
  /** Where that instance answers state queries (its `endpoint`); absent when it gave none. */
  readonly endpoint?: string;
}

/** One instance of a Kafka application, as the consumer group knows it. */
export interface AppInstance {
  /** Its `instanceId`. */
  readonly instance: string;
  /** Where it answers state queries, if it said. */
  readonly endpoint?: string;
  /** The key-group partitions the group assigned it. */
  readonly partitions: readonly number[];
  /** Whether it is this process. */
  readonly local: boolean;
}

/** What a scan found: each key's state, keys in order (numbers before strings), and whether more matched. */
export interface StateScan {
  readonly step: string;
  readonly keys: readonly KeyState[];
  readonly truncated: boolean;
}

export const SCAN_LIMIT_DEFAULT = 100;
export const SCAN_LIMIT_MAX = 10_000;

/** Whether `key` is one `o` asks for. */
export function scanMatches(key: Key, o: StateScanOptions): boolean {
  if (o.prefix !== undefined && (typeof key !== 'string' || !key.startsWith(o.prefix))) return false;
  if (o.from !== undefined && (typeof key !== typeof o.from || key < o.from)) return false;
  if (o.to !== undefined && (typeof key !== typeof o.to || key >= o.to)) return false;
  return true;
}

/** Keys in scan order: numbers ascending, then strings ascending. */
export function compareKeys(a: Key, b: Key): number {
  if (typeof a !== typeof b) return typeof a === 'number' ? -1 : 1;
  return a < b ? -1 : a > b ? 1 : 0;
}

/** The scans of several subtasks as one: keys in order, at most `limit`. */
export function mergeScans(step: string, scans: readonly StateScan[], o: StateScanOptions): StateScan {
  const limit = Math.min(o.limit ?? SCAN_LIMIT_DEFAULT, SCAN_LIMIT_MAX);
  const keys = scans.flatMap((s) => s.keys).sort((a, b) => compareKeys(a.key, b.key));
  return {
    step,
    keys: keys.slice(0, limit),
    truncated: keys.length > limit || scans.some((s) => s.truncated),
  };
}

export class StepCounters {
  recordsIn = 0;
  recordsOut = 0;
  batchesIn = 0;
  watermark = Number.NEGATIVE_INFINITY;
  lateRecords = 0;
  deadLetters = 0;
  readonly #deadLettersByCode = new Map<string, number>();
  #lastDeadLetter: { readonly code: string; readonly reason: string; readonly at: number } | undefined;
  alignmentWaitMs = 0;
  backpressureMs = 0;
  busyMicros = 0;
  /** Set by the executor when metrics are read. */
  stateEntries = 0;
  /** Set when a checkpoint's snapshot of the step is encoded. */
  stateBytes: number | undefined;
  /** Set by `sampleKeys` for a keyed step; the task offers each batch's keys. */
  hotKeys: SpaceSaving<Key> | undefined;
  /** Set by `countKeyGroups` for a keyed step: records per key group; the task counts each batch's groups. */
  keyGroupRecords: Float64Array | undefined;
  readonly id: string;
  readonly kind: string;
  readonly #batchMicros: Histogram;

  constructor(id: string, kind: string) {
    this.id = id;
    this.kind = kind;
    this.#batchMicros = new Histogram();
  }

  /** Makes this step follow its heaviest keys (`hotKeys`). */
  sampleKeys(): void {
    // One record in 8 for the first 160,000 or so, then one in 64: accurate on short runs,
    // and within a few per cent of the time on long ones with many keys (bench core: 12 % at 8).
    this.hotKeys ??= new SpaceSaving<Key>({ capacity: 32, stride: 8, maxStride: 256, widenAfter: 20_000 });
  }

  /** Makes this step count its records per key group (`keyGroupRecords`), for rebalancing. */
  countKeyGroups(maxParallelism: number): void {
    this.keyGroupRecords ??= new Float64Array(maxParallelism);
  }

  /** One record of this step went to the dead letters (`reason` is kept cut to 500 characters). */
  noteDeadLetter(code: string, reason: string, at: number): void {
    this.deadLetters++;
    this.#deadLettersByCode.set(code, (this.#deadLettersByCode.get(code) ?? 0) + 1);
    this.#lastDeadLetter = { code, reason: reason.length > 500 ? `${reason.slice(0, 500)}…` : reason, at };
  }

  recordBatchMicros(us: number): void {
    this.busyMicros += us;
    this.#batchMicros.record(us);
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
      deadLettersByCode: Object.fromEntries(this.#deadLettersByCode),
      lastDeadLetter: this.#lastDeadLetter,
      alignmentWaitMs: this.alignmentWaitMs,
      backpressureMs: this.backpressureMs,
      busyMicros: this.busyMicros,
      subtaskBusyMicros: [this.busyMicros],
      hotKeys: this.hotKeys?.top(10) ?? [],
      hotKeysTotal: this.hotKeys?.total ?? 0,
      ...(this.keyGroupRecords === undefined ? {} : { keyGroupRecords: Array.from(this.keyGroupRecords) }),
      stateEntries: this.stateEntries,
      stateBytes: this.stateBytes,
      batchMicros: {
        count: h.count,
        p50: h.percentile(50),
        p99: h.percentile(99),
        max: h.max,
      },
    };
  }
}
