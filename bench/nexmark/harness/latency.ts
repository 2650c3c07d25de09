/**
 * Per-event latency in HDR histograms (hdr-histogram-js): microseconds from
 * an event's scheduled creation to the arrival at the sink of the output it
 * completed, 1 µs to 10 min at 3 significant digits.
 *
 * The WebAssembly histograms are used: they work under Node 24 (the
 * `initWebAssembly()` loader instantiates the bundled module) and record
 * several times faster than the JS ones, which matters when every output is
 * recorded on the hot path. If the module cannot be instantiated, the JS
 * histograms (same API, same encoding) take over and `histogramMode()` says so.
 *
 * A run records into one histogram per sampling interval; `finish` drops the
 * intervals of the warm-up (MSER on the per-interval mean latency, as for
 * throughput) and merges the rest, so that JIT compilation and first-time
 * allocation do not land in the tail. Histograms travel between processes as
 * HDR's compressed base64 encoding.
 *
 * @example
 * ```ts
 * await initHistograms();
 * const rec = new IntervalLatencies(1000);
 * rec.record(performance.now() - t0, 2.5); // an output 2.5 ms after its event
 * const r = rec.finish(true);              // r.p99 in ms, r.encoded for the parent
 * ```
 */
import * as hdr from 'hdr-histogram-js';
import { MIN_BATCHES, warmupLength } from './stats.ts';

type Histogram = ReturnType<typeof hdr.build>;

let mode: 'wasm' | 'js' | undefined;
let modeReason = '';

/** Loads the WebAssembly histograms once; falls back to the JS ones (and remembers why). */
export async function initHistograms(): Promise<'wasm' | 'js'> {
  if (mode !== undefined) return mode;
  try {
    await hdr.initWebAssembly();
    mode = 'wasm';
  } catch (e) {
    mode = 'js';
    modeReason = e instanceof Error ? e.message : String(e);
  }
  return mode;
}

/** Which histograms are in use, and why not WebAssembly if not. */
export function histogramMode(): { mode: 'wasm' | 'js' | 'uninitialised'; reason: string } {
  return { mode: mode ?? 'uninitialised', reason: modeReason };
}

/** Microseconds: 1 µs to 10 minutes. */
const HIGHEST_US = 600_000_000;

/** A new empty histogram of latencies in µs. */
export function newHistogram(): Histogram {
  return hdr.build({
    bitBucketSize: 32,
    lowestDiscernibleValue: 1,
    highestTrackableValue: HIGHEST_US,
    numberOfSignificantValueDigits: 3,
    useWebAssembly: mode === 'wasm',
  });
}

/** Latency percentiles, in ms. */
export interface LatencyPercentiles {
  readonly count: number;
  readonly p50: number;
  readonly p99: number;
  readonly p999: number;
  readonly max: number;
  readonly mean: number;
}

/** Reads the percentiles (in ms) of a histogram in µs. */
export function percentiles(h: Histogram): LatencyPercentiles {
  const ms = (us: number) => Math.round(us) / 1000;
  return {
    count: h.totalCount,
    p50: ms(h.getValueAtPercentile(50)),
    p99: ms(h.getValueAtPercentile(99)),
    p999: ms(h.getValueAtPercentile(99.9)),
    max: ms(h.maxValue),
    mean: Math.round(h.mean) / 1000,
  };
}

/** One round's latencies: the merged steady-state histogram and what was left out. */
export interface RoundLatency extends LatencyPercentiles {
  /** The merged histogram, HDR compressed base64. */
  readonly encoded: string;
  /** Sampling intervals dropped as warm-up. */
  readonly warmupIntervals: number;
  /** Each interval's p99 (ms), warm-up included, in order: the shape of a ramp or a burst. */
  readonly intervalP99: readonly number[];
}

/** Records latencies into one histogram per interval of wall time. */
export class IntervalLatencies {
  readonly #intervalMs: number;
  readonly #intervals: Histogram[] = [];

  constructor(intervalMs: number) {
    this.#intervalMs = intervalMs;
  }

  /** Records one latency (ms, clamped to [1 µs, 10 min]) observed `elapsedMs` after the start. */
  record(elapsedMs: number, latencyMs: number): void {
    const i = Math.max(0, Math.floor(elapsedMs / this.#intervalMs));
    let h = this.#intervals[i];
    if (h === undefined) {
      for (let j = this.#intervals.length; j <= i; j++) this.#intervals[j] = newHistogram();
      h = this.#intervals[i]!;
    }
    const us = Math.round(latencyMs * 1000);
    h.recordValue(Math.min(Math.max(us, 1), HIGHEST_US));
  }

  /** Merges the intervals after the warm-up (MSER on per-interval means) and frees them. */
  finish(dropWarmup: boolean): RoundLatency {
    const series = this.#intervals.map((h) => h.mean);
    const withData = series.filter((_, i) => this.#intervals[i]!.totalCount > 0);
    // Too few intervals with outputs (a windowed query's few results) say nothing about warm-up: keep them all.
    let warmup = dropWarmup && withData.length >= MIN_BATCHES ? warmupLength(withData) : 0;
    // Map the cut on non-empty intervals back to interval indexes.
    let from = 0;
    for (let seen = 0; from < this.#intervals.length && seen < warmup; from++)
      if (this.#intervals[from]!.totalCount > 0) seen++;
    if (withData.length === 0) warmup = 0;
    const merged = newHistogram();
    for (let i = from; i < this.#intervals.length; i++) merged.add(this.#intervals[i]!);
    const intervalP99 = this.#intervals.map((h) =>
      h.totalCount === 0 ? 0 : Math.round(h.getValueAtPercentile(99)) / 1000,
    );
    for (const h of this.#intervals) h.destroy();
    this.#intervals.length = 0;
    const result: RoundLatency = {
      ...percentiles(merged),
      encoded: hdr.encodeIntoCompressedBase64(merged),
      warmupIntervals: warmup,
      intervalP99,
    };
    merged.destroy();
    return result;
  }
}

/** Merges encoded histograms (one per round) and reads their percentiles. */
export function mergeEncoded(encoded: readonly string[]): LatencyPercentiles {
  const merged = newHistogram();
  for (const e of encoded) {
    const h = hdr.decodeFromCompressedBase64(e, 32, mode === 'wasm');
    merged.add(h);
    h.destroy();
  }
  const p = percentiles(merged);
  merged.destroy();
  return p;
}
