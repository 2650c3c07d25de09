/**
 * A seeded, rate-controlled generator source for demos, tests and
 * benchmarks. Record `i` gets the nominal event time `startTime + i * 1000 /
 * eventsPerSecond`; `disorder` and `late` shift some records back in event
 * time, so they arrive out of order (within the bound) or late (beyond it).
 * The same seed gives the same records, times and disorder every run.
 */

import type { Source, SourceBatch, SourceReader } from '../../core/connector.ts';
import { configError } from '../../errors/index.ts';
import { Random } from '../../util/random.ts';

/** What `make` gets besides the index: the record's event time and the seeded randomness. */
export interface GeneratorContext {
  /** The record's event time (epoch ms), after disorder. */
  readonly time: number;
  /** A float in [0, 1) from the seeded sequence. */
  random(): number;
  /** An integer in [0, n) from the seeded sequence. */
  int(n: number): number;
}

export interface GeneratorOptions<T> {
  /** Makes record `index`. */
  readonly make: (index: number, g: GeneratorContext) => T;
  /** How many records; default: no end. */
  readonly count?: number;
  /** Records per second of wall time; default: as fast as the pipeline takes them. */
  readonly rate?: number;
  /** The seed; default 1. */
  readonly seed?: number;
  /** Event time of record 0; default: the clock's time at start. */
  readonly startTime?: number;
  /** How many records per second of event time; default `rate`, else 1000. */
  readonly eventsPerSecond?: number;
  /** A `fraction` of records (default all) get event time earlier by up to `maxDelay` ms: disorder within a bound. */
  readonly disorder?: { readonly maxDelay: number; readonly fraction?: number };
  /** A `fraction` of records get event time earlier by `by` ms plus up to `maxDelay` more: late records. */
  readonly late?: { readonly fraction: number; readonly by: number };
  /**
   * Into how many splits the records are divided (record i is in split
   * i % splits, each with its own random stream); subtasks share the splits.
   * Default 1: one subtask generates everything. The same splits give the
   * same records at any parallelism.
   */
  readonly splits?: number;
}

/**
 * Makes a generator source.
 *
 * @example
 * ```ts
 * const readings = generatorSource({
 *   count: 100_000, rate: 50_000, seed: 7, disorder: { maxDelay: 2000 },
 *   make: (i, g) => ({ device: `dev-${g.int(50)}`, temp: 20 + g.random() * 10, ts: g.time }),
 * });
 * ```
 */
export function generatorSource<T>(options: GeneratorOptions<T>): Source<T> {
  if (typeof options?.make !== 'function') {
    throw configError('generator needs make(index, g)', options?.make, 'pass make: (i, g) => ({ ... })');
  }
  const count = options.count ?? Number.POSITIVE_INFINITY;
  if (!(count >= 0))
    throw configError(
      'generator count must be >= 0',
      count,
      'pass a number of records, or omit it for no end',
    );
  const rate = options.rate ?? 0;
  if (!(rate >= 0) || !Number.isFinite(rate))
    throw configError(
      'generator rate must be a finite number >= 0',
      rate,
      'pass records per second, or omit it',
    );
  const eventsPerSecond = options.eventsPerSecond ?? (rate > 0 ? rate : 1000);
  if (!(eventsPerSecond > 0))
    throw configError('eventsPerSecond must be > 0', eventsPerSecond, 'pass a positive number');
  const maxDelay = options.disorder?.maxDelay ?? 0;
  const disorderFraction = options.disorder?.fraction ?? 1;
  const lateFraction = options.late?.fraction ?? 0;
  const lateBy = options.late?.by ?? 0;
  if (
    !(maxDelay >= 0) ||
    !(disorderFraction >= 0 && disorderFraction <= 1) ||
    !(lateFraction >= 0 && lateFraction <= 1) ||
    !(lateBy >= 0)
  ) {
    throw configError(
      'generator disorder/late settings are out of range',
      { maxDelay, disorderFraction, lateFraction, lateBy },
      'use delays >= 0 and fractions in [0, 1]',
    );
  }
  const splits = options.splits ?? 1;
  if (!Number.isInteger(splits) || splits < 1)
    throw configError(
      'generator splits must be a whole number >= 1',
      splits,
      'pass e.g. splits: 8 (at least the parallelism)',
    );
  return {
    kind: 'generator',
    eventTimes: true,
    splittable: true,
    splits,
    open(ctx): SourceReader<T> {
      // Record i belongs to split i % splits, and each split has its own seeded random stream, so a
      // record is the same whichever subtask makes it: any parallelism gives the same records.
      const n = ctx.parallelism;
      const restored = ctx.restored as Record<string, SplitPosition> | undefined;
      const states: (SplitState | undefined)[] = new Array(splits);
      let start = options.startTime ?? ctx.jobStart;
      for (let s = 0; s < splits; s++) {
        if (Math.floor((s * n) / splits) !== ctx.subtask) continue;
        const rng = new Random(splits === 1 ? (options.seed ?? 1) : mixSeed(options.seed ?? 1, s));
        const r = restored?.[String(s)];
        if (r !== undefined) {
          checkPosition(r);
          rng.state = r.rng;
          // Restored: the same start time and the exact random state, so records continue as if never stopped.
          start = r.start;
        }
        states[s] = { next: r?.next ?? s, rng };
      }
      // The splits this subtask makes, one split per batch: each batch is one split's next records in
      // order, so every split's watermark and the floors of its records (Batch.floors) are the same
      // whichever subtask makes it — lateness is the same at any parallelism. The next batch comes
      // from the split furthest behind (lowest next index, then lowest split): round-robin while
      // batches are full, kept in no state, so a restored run goes on in the very same order.
      const mine: number[] = [];
      for (let s = 0; s < splits; s++) if (states[s] !== undefined) mine.push(s);
      const owned = mine.length;
      // Time of record i is start + i * 1000 / eventsPerSecond, computed as (i * 1000) / rate so that
      // whole results stay exact (i * (1000 / rate) can land 1 ms short).
      const make = options.make;
      // One context object, its time and random stream set per record: no allocation per record.
      let rng!: Random;
      const g: { time: number; random(): number; int(n: number): number } = {
        time: 0,
        random: () => rng.next(),
        int: (k) => rng.int(k),
      };
      // Rate limiting counts what this subtask made since it started, at its share of the rate.
      const myRate = (rate * owned) / splits;
      let made = 0;
      const wallStart = Date.now();
      /** The split with records left that is furthest behind; -1 when all are done. */
      const nextSplit = (): number => {
        let best = -1;
        let lowest = count;
        for (const s of mine) {
          const next = states[s]!.next;
          if (next < lowest) {
            lowest = next;
            best = s;
          }
        }
        return best;
      };
      const produce = (want: number): SourceBatch<T> | null => {
        const split = nextSplit();
        if (split < 0) return null;
        const state = states[split]!;
        // Sized up front (and cut to what was made): no growing and copying per batch.
        const size = Math.max(0, Math.min(want, Math.ceil((count - state.next) / splits)));
        const values: T[] = new Array(size);
        const times: number[] = new Array(size);
        rng = state.rng;
        let filled = 0;
        let i = state.next;
        for (; i < count && filled < size; i += splits) {
          let t = Math.floor(start + (i * 1000) / eventsPerSecond);
          if (maxDelay > 0 && (disorderFraction === 1 || rng.next() < disorderFraction))
            t -= Math.floor(rng.next() * maxDelay);
          if (lateFraction > 0 && rng.next() < lateFraction)
            t -= lateBy + Math.floor(rng.next() * (maxDelay + 1));
          g.time = t;
          times[filled] = t;
          values[filled++] = make(i, g);
        }
        state.next = i;
        if (filled < size) {
          values.length = filled;
          times.length = filled;
        }
        made += filled;
        return { values, times, split: String(split) };
      };
      return {
        splits: mine.map(String),
        poll(max) {
          if (owned === 0) return null;
          let want = max;
          if (myRate > 0) {
            const due = Math.floor(((Date.now() - wallStart) / 1000) * myRate) - made;
            if (due <= 0) {
              const wait = Math.max(
                1,
                Math.ceil(
                  ((made + Math.min(want, Math.ceil(myRate / 200))) / myRate) * 1000 -
                    (Date.now() - wallStart),
                ),
              );
              return new Promise<SourceBatch<T>>((resolve) => {
                const t = setTimeout(() => {
                  ctx.signal.removeEventListener('abort', onAbort);
                  resolve({ values: [] });
                }, wait);
                const onAbort = () => {
                  clearTimeout(t);
                  resolve({ values: [] });
                };
                ctx.signal.addEventListener('abort', onAbort, { once: true });
              });
            }
            want = Math.min(want, due);
          }
          return produce(want);
        },
        position: () => {
          const position: Record<string, SplitPosition> = {};
          for (let s = 0; s < splits; s++) {
            const state = states[s];
            if (state !== undefined) position[String(s)] = { next: state.next, rng: state.rng.state, start };
          }
          return position;
        },
      };
    },
  };
}

interface SplitState {
  /** The next index of this split to make. */
  next: number;
  readonly rng: Random;
}

/** A distinct, well-mixed seed per split (splitmix32 of seed and split). */
function mixSeed(seed: number, split: number): number {
  let z = (seed ^ Math.imul(split + 1, 0x9e3779b9)) | 0;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return (z ^ (z >>> 16)) | 0;
}

/** Where one split of a generator is: its next index, its random state, and the start time used. */
interface SplitPosition {
  readonly next: number;
  readonly rng: [number, number, number, number];
  readonly start: number;
}

function checkPosition(p: SplitPosition): void {
  const ok =
    Number.isInteger(p?.next) &&
    p.next >= 0 &&
    Array.isArray(p.rng) &&
    p.rng.length === 4 &&
    p.rng.every((x) => Number.isInteger(x)) &&
    typeof p.start === 'number';
  if (!ok)
    throw configError(
      "the checkpoint's generator position is malformed",
      p,
      'resume from a checkpoint written by a generator source',
    );
}
