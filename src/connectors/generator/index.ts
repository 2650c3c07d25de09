/**
 * A seeded, rate-controlled generator source for demos, tests and
 * benchmarks. Record `i` gets the nominal event time `startTime + i * 1000 /
 * eventsPerSecond`; `disorder` and `late` shift some records back in event
 * time, so they arrive out of order (within the bound) or late (beyond it).
 * The same seed gives the same records, times and disorder every run.
 */
import { configError } from '../../errors/index.ts';
import { Random } from '../../util/random.ts';
import type { Source, SourceBatch, SourceReader } from '../types.ts';

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
  return {
    kind: 'generator',
    open(ctx): SourceReader<T> {
      const rng = new Random(options.seed ?? 1);
      const restored = ctx.restored as GeneratorPosition | undefined;
      if (restored !== undefined) checkPosition(restored);
      // Restored: the same start time and the exact random state, so records continue as if never stopped.
      const start = restored?.start ?? options.startTime ?? ctx.clock.now();
      if (restored !== undefined) rng.state = restored.rng;
      // Time of record i is start + i * 1000 / eventsPerSecond, computed as (i * 1000) / rate so that
      // whole results stay exact (i * (1000 / rate) can land 1 ms short).
      const make = options.make;
      // One context object, its time overwritten per record: no allocation per record.
      const g: { time: number; random(): number; int(n: number): number } = {
        time: 0,
        random: () => rng.next(),
        int: (n) => rng.int(n),
      };
      let next = restored?.next ?? 0;
      // Rate limiting counts from where this run started.
      const resumedAt = next;
      const wallStart = Date.now();
      const produce = (n: number): SourceBatch<T> => {
        const values: T[] = [];
        const times: number[] = [];
        const first = next;
        for (let i = first; i < first + n; i++) {
          let t = Math.floor(start + (i * 1000) / eventsPerSecond);
          if (maxDelay > 0 && (disorderFraction === 1 || rng.next() < disorderFraction))
            t -= Math.floor(rng.next() * maxDelay);
          if (lateFraction > 0 && rng.next() < lateFraction)
            t -= lateBy + Math.floor(rng.next() * (maxDelay + 1));
          g.time = t;
          times.push(t);
          values.push(make(i, g));
        }
        next += n;
        return { values, times };
      };
      return {
        poll(max) {
          if (next >= count) return null;
          let n = Math.min(max, count - next);
          if (rate > 0) {
            const due = Math.floor(((Date.now() - wallStart) / 1000) * rate) - (next - resumedAt);
            if (due <= 0) {
              const wait = Math.max(
                1,
                Math.ceil(
                  ((next - resumedAt + Math.min(n, Math.ceil(rate / 200))) / rate) * 1000 -
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
            n = Math.min(n, due);
          }
          return produce(n);
        },
        position: (): GeneratorPosition => ({ next, rng: rng.state, start }),
      };
    },
  };
}

/** Where a generator is: the next index, the random state, and the start time it used. */
interface GeneratorPosition {
  readonly next: number;
  readonly rng: [number, number, number, number];
  readonly start: number;
}

function checkPosition(p: GeneratorPosition): void {
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
