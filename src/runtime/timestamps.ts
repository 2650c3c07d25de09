/**
 * Event-time assignment and watermark generation at a source: timestamps from
 * the user's extractor, the source, or ingestion time; a bounded-out-of-
 * orderness watermark (`max seen - bound - 1`, so a record exactly `bound` late
 * is still on time); idleness after `idleTimeout` ms without records.
 */
import type { SourceOptions } from '../connectors/types.ts';
import type { Batch } from './batch.ts';
import type { Clock } from './clock.ts';
import type { Task } from './task.ts';

export class SourceFeeder {
  readonly #task: Task;
  readonly #clock: Clock;
  readonly #extract: ((value: unknown) => number) | undefined;
  readonly #bound: number;
  readonly #idleTimeout: number;
  readonly #onBadTimestamp: (value: unknown, error: unknown) => void;
  #max = Number.NEGATIVE_INFINITY;
  #emitted = Number.NEGATIVE_INFINITY;
  #lastData: number;
  #idle = false;

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
    this.#lastData = clock.now();
  }

  /** Pushes records into the pipeline, then the watermark they allow. */
  feed(values: readonly unknown[], sourceTimes: readonly number[] | undefined): void {
    const n = values.length;
    if (n === 0) return;
    this.#lastData = this.#clock.now();
    if (this.#idle) {
      this.#idle = false;
      this.#task.receiveIdle(0, false);
    }
    let batch: Batch;
    let max = this.#max;
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
      }
      if (bad === undefined) batch = { values, times };
      else {
        const drop = new Set(bad);
        const v: unknown[] = [];
        const t: number[] = [];
        for (let i = 0; i < n; i++) {
          if (drop.has(i)) continue;
          v.push(values[i]);
          t.push(times[i]!);
        }
        batch = { values: v, times: t };
      }
    } else {
      let times = sourceTimes;
      if (times === undefined) times = new Array<number>(n).fill(this.#lastData);
      for (let i = 0; i < n; i++) if (times[i]! > max) max = times[i]!;
      batch = { values, times };
    }
    this.#max = max;
    if (batch.values.length > 0) this.#task.receive(batch, 0);
    this.watermark(max - this.#bound - 1);
  }

  /** Advances the source's watermark (never backwards). */
  watermark(wm: number): void {
    if (wm <= this.#emitted) return;
    this.#emitted = wm;
    this.#task.receiveWatermark(0, wm);
  }

  /** Called when a poll found nothing: marks the source idle once its idle timeout has passed. */
  noData(): void {
    if (this.#idleTimeout <= 0 || this.#idle) return;
    if (this.#clock.now() - this.#lastData >= this.#idleTimeout) {
      this.#idle = true;
      this.#task.receiveIdle(0, true);
    }
  }

  end(): void {
    this.#task.receiveEnd(0);
  }
}
