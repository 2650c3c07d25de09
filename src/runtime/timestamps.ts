/**
 * Event-time assignment and watermark generation at a source: timestamps from
 * the user's extractor, the source, or ingestion time; a bounded-out-of-
 * orderness watermark (`max seen - bound - 1`, so a record exactly `bound` late
 * is still on time); idleness after `idleTimeout` ms without records.
 *
 * A source may read several splits (a Kafka partition, a file): each split
 * keeps its own maximum, and the source's watermark is the lowest over the
 * splits that are not idle — one slow partition holds the watermark back, an
 * idle one does not.
 *
 * A record at or below its split's watermark so far (`max seen - bound - 1`
 * over the split's earlier records, record by record, not batch by batch)
 * broke the bound: it carries that watermark as its floor (`Batch.floors`),
 * and steps judge its lateness against it. So lateness depends only on the
 * order of records within their split — not on batch sizes, parallelism,
 * threads or how far other splits have got.
 */

import type { FeederSnapshot } from '../checkpoint/snapshot.ts';
import type { Batch } from '../core/batch.ts';
import type { Clock } from '../core/clock.ts';
import type { SourceOptions } from '../core/connector.ts';
import type { Task } from './task.ts';

/** The floor of a record that did not break its source's bound (see `Batch.floors`). */
const NO_FLOOR = Number.NEGATIVE_INFINITY;

export class SourceFeeder {
  readonly #task: Task;
  readonly #clock: Clock;
  readonly #extract: ((value: unknown) => number) | undefined;
  readonly #bound: number;
  readonly #idleTimeout: number;
  readonly #onBadTimestamp: (value: unknown, error: unknown) => void;
  readonly #splits = new Map<string, Split>();
  // Maxima of splits restored from another parallelism, taken up when the split is read here.
  #known = new Map<string, number>();
  #emitted = Number.NEGATIVE_INFINITY;
  #idle = false;
  readonly #created: number;

  constructor(
    task: Task,
    clock: Clock,
    options: SourceOptions<unknown>,
    onBadTimestamp: (value: unknown, error: unknown) => void,
  ) {
    this.#task = task;
    this.#clock = clock;
    this.#extract = options.timestamp;
    this.#bound = options.maxOutOfOrderness ?? 0;
    this.#idleTimeout = options.idleTimeout ?? 0;
    this.#onBadTimestamp = onBadTimestamp;
    this.#created = clock.now();
  }

  #split(id: string): Split {
    let split = this.#splits.get(id);
    if (split === undefined) {
      // A split read before a restore at another parallelism continues from its maximum there.
      const max = this.#known.get(id) ?? Number.NEGATIVE_INFINITY;
      split = { max, lastData: this.#clock.now(), idle: false };
      this.#splits.set(id, split);
    }
    return split;
  }

  /**
   * Makes a split known before its first record (a newly assigned partition):
   * until it has data or goes idle it holds the source's watermark back.
   */
  register(splitId: string): void {
    this.#split(splitId);
  }

  /**
   * Pushes records whose lateness was judged upstream (`Source.carriesWatermarks`):
   * their times and floors as given; the watermark comes separately
   * (`watermark`), not from a bound over the times seen.
   */
  feedCarried(
    values: readonly unknown[],
    times: readonly number[] | undefined,
    floors: readonly number[] | undefined,
  ): void {
    const n = values.length;
    if (n === 0) return;
    if (this.#idle) {
      this.#idle = false;
      this.#task.receiveIdle(0, false);
    }
    const t = times ?? new Array<number>(n).fill(this.#clock.now());
    this.#task.receive(floors === undefined ? { values, times: t } : { values, times: t, floors }, 0);
  }

  /** A carried source's upstream went idle, or is active again (`SourceBatch.idle`). */
  carriedIdle(idle: boolean): void {
    if (idle === this.#idle) return;
    this.#idle = idle;
    this.#task.receiveIdle(0, idle);
  }

  /** Pushes records of one split into the pipeline, then the watermark they allow. */
  feed(values: readonly unknown[], sourceTimes: readonly number[] | undefined, splitId = ''): void {
    const n = values.length;
    if (n === 0) return;
    const split = this.#split(splitId);
    split.lastData = this.#clock.now();
    split.idle = false;
    if (this.#idle) {
      this.#idle = false;
      this.#task.receiveIdle(0, false);
    }
    let batch: Batch;
    let max = split.max;
    const bound = this.#bound;
    // Floors (see Batch.floors): made only once a record is at or below its split's watermark.
    let floors: number[] | undefined;
    const extract = this.#extract;
    if (extract !== undefined) {
      const times = new Array<number>(n);
      let bad: number[] | undefined;
      for (let i = 0; i < n; i++) {
        let t: number;
        try {
          t = extract(values[i]);
          if (typeof t !== 'number' || !Number.isFinite(t))
            throw new TypeError(`timestamp is ${String(t)}, not a finite number`);
        } catch (e) {
          this.#onBadTimestamp(values[i], e);
          (bad ??= []).push(i);
          continue;
        }
        times[i] = t;
        if (t > max) max = t;
        else if (t <= max - bound - 1) (floors ??= new Array<number>(n).fill(NO_FLOOR))[i] = max - bound - 1;
      }
      if (bad === undefined) batch = floors === undefined ? { values, times } : { values, times, floors };
      else {
        const drop = new Set(bad);
        const v: unknown[] = [];
        const t: number[] = [];
        const f: number[] | undefined = floors === undefined ? undefined : [];
        for (let i = 0; i < n; i++) {
          if (drop.has(i)) continue;
          v.push(values[i]);
          t.push(times[i]!);
          f?.push(floors![i]!);
        }
        batch = f === undefined ? { values: v, times: t } : { values: v, times: t, floors: f };
      }
    } else {
      let times = sourceTimes;
      if (times === undefined) times = new Array<number>(n).fill(split.lastData);
      for (let i = 0; i < n; i++) {
        const t = times[i]!;
        if (t > max) max = t;
        else if (t <= max - bound - 1) (floors ??= new Array<number>(n).fill(NO_FLOOR))[i] = max - bound - 1;
      }
      batch = floors === undefined ? { values, times } : { values, times, floors };
    }
    split.max = max;
    if (batch.values.length > 0) this.#task.receive(batch, 0);
    this.#advance();
  }

  /** The source's watermark: the lowest over its active splits. */
  #advance(): void {
    let min = Number.POSITIVE_INFINITY;
    for (const split of this.#splits.values()) if (!split.idle && split.max < min) min = split.max;
    if (min !== Number.POSITIVE_INFINITY) this.watermark(min - this.#bound - 1);
  }

  /** Advances the source's watermark (never backwards). */
  watermark(wm: number): void {
    if (wm <= this.#emitted) return;
    this.#emitted = wm;
    this.#task.receiveWatermark(0, wm);
  }

  /**
   * Checks idleness (call it when a poll found nothing, or on a timer): a split
   * without records for `idleTimeout` ms stops holding the watermark back; when
   * every split is idle, the whole source is.
   */
  noData(): void {
    if (this.#idleTimeout <= 0) return;
    const now = this.#clock.now();
    // Splits that went silent long enough, in the order they went silent: each stopped holding the
    // watermark back while the later ones were still active, as a per-split idleness timer (Flink's
    // periodic check) would have seen it. All at once, a split that never had data and the splits
    // that just drained a backlog went idle together, and the watermark stayed behind the first for
    // good (found by test/cli/kafka-stages.test.ts: a partition without records, embedded).
    const expired: Split[] = [];
    for (const split of this.#splits.values())
      if (!split.idle && now - split.lastData >= this.#idleTimeout) expired.push(split);
    expired.sort((a, b) => a.lastData - b.lastData);
    for (const split of expired) {
      split.idle = true;
      this.#advance();
    }
    let active = 0;
    for (const split of this.#splits.values()) if (!split.idle) active++;
    // A source that never produced anything is idle once the timeout has passed since it started.
    if (this.#splits.size === 0 && now - this.#created < this.#idleTimeout) active = 1;
    if (active === 0 && !this.#idle) {
      this.#idle = true;
      this.#task.receiveIdle(0, true);
    }
  }

  /** The watermark this source holds others to (alignment): +Infinity while idle, -Infinity before the first. */
  get published(): number {
    return this.#idle ? Number.POSITIVE_INFINITY : this.#emitted;
  }

  end(): void {
    this.#task.receiveEnd(0);
  }

  /** The per-split maxima and the last watermark, for a checkpoint. */
  snapshot(): FeederSnapshot {
    const splits = [...this.#splits].map(([id, s]) => [id, s.max] as const);
    const known = [...this.#known].filter(([id]) => !this.#splits.has(id));
    return known.length === 0
      ? { emitted: this.#emitted, splits }
      : { emitted: this.#emitted, splits, known };
  }

  /**
   * Continues from a snapshot: the same maxima, so watermarks never go back
   * and records' floors are what they would have been without the stop.
   */
  restore(snapshot: FeederSnapshot): void {
    this.#emitted = snapshot.emitted;
    const now = this.#clock.now();
    for (const [id, max] of snapshot.splits) this.#splits.set(id, { max, lastData: now, idle: false });
    this.#known = new Map(snapshot.known ?? []);
  }
}

interface Split {
  max: number;
  lastData: number;
  idle: boolean;
}
