/**
 * `preAggregate: 'auto'` on worker threads (issue 18): whether a window
 * aggregation's combiners keep their records in the subtask that read them
 * (local pre-aggregation) or spread each key over two subtasks (partial key
 * grouping), chosen by measuring both while the run runs.
 *
 * Neither choice wins everywhere (BENCHMARKS.md, skew --split): spreading
 * gains 1.4–1.7× when combining is costly and one thread does all of it (a
 * source only subtask 0 reads, a hot key), and loses up to 2× when combining
 * is cheap, because every record then crosses threads. What decides is the
 * aggregator's cost per record against the crossing's, which the plan cannot
 * know, so the run measures it: the cost of a choice is the busiest
 * thread's event-loop active time per source record over an interval (all
 * work counted: sources, exchanges, operators), which bounds throughput at
 * saturation.
 *
 * The run starts local. When its busiest thread is busy (≥ `busy` of the
 * interval active) and the threads are uneven (busiest ≥ `uneven` × the
 * mean) over a second judged interval (the first may be JIT warm-up), it
 * tries spreading for an interval (after one interval to settle)
 * and keeps it only when the busiest thread's cost per record fell by at
 * least `gain`; otherwise it goes back, and waits 2, 4, … up to 64 intervals
 * before trying again, so a load that spreading cannot help costs a trial
 * now and then, not a flap. While spreading it tries local the same way, and
 * goes straight back to local when no thread is busy any more (then crossing
 * buys nothing and costs CPU). Results never depend on the choice or on when
 * it changes: the combiners forward partials to the key's subtask either
 * way (test/runtime/split-exchange.test.ts).
 */

import { type OptionsSchema, resolveOptions } from '../../connectors/options.ts';
import type { PipelineMetrics } from '../../core/metrics.ts';
import { configError } from '../../errors/index.ts';
import type { PhysicalPlan } from '../physical.ts';

/** One subtask's figures at one moment (from its `PipelineMetrics`). */
export interface ThreadSample {
  /** When read (ms). */
  readonly at: number;
  /** Its event loop's active time so far (ms). */
  readonly activeMs: number;
  /** Records its sources emitted so far. */
  readonly sourceRecords: number;
}

export interface SpreadSettings {
  /** How often the run is judged (ms). */
  readonly intervalMs: number;
  /** Fewer source records than this in an interval: not judged. */
  readonly minRecords: number;
  /** The busiest thread's active share of an interval from which spreading is tried. */
  readonly busy: number;
  /** The busiest thread's active time over the mean from which spreading is tried. */
  readonly uneven: number;
  /** How much lower (a fraction) the tried choice's cost must be to be kept. */
  readonly gain: number;
}

const fraction = (lo: number, hi: number) => (v: unknown) => typeof v === 'number' && v >= lo && v <= hi;

/** `RunOptions.spread`: how `preAggregate: 'auto'` judges. */
export const SPREAD_OPTIONS = {
  intervalMs: {
    type: 'integer',
    min: 100,
    max: 3_600_000,
    default: 2000,
    doc: 'how often (ms) the run is judged',
    example: '2000',
  },
  minRecords: {
    type: 'integer',
    min: 0,
    max: Number.MAX_SAFE_INTEGER,
    default: 10_000,
    doc: 'source records an interval must have to be judged',
    example: '10000',
  },
  busy: {
    type: 'any',
    default: 0.7,
    check: fraction(0.05, 1),
    doc: "the busiest thread's active share of an interval from which spreading is tried (0.05 to 1)",
    example: '0.7',
  },
  uneven: {
    type: 'any',
    default: 1.25,
    check: fraction(1, 100),
    doc: "the busiest thread's active time over the mean from which spreading is tried (1 to 100)",
    example: '1.25',
  },
  gain: {
    type: 'any',
    default: 0.1,
    check: fraction(0, 0.9),
    doc: 'how much cheaper per record (a fraction, 0 to 0.9) the tried choice must be to be kept',
    example: '0.1',
  },
} as const satisfies OptionsSchema<SpreadSettings>;

export const SPREAD_DEFAULTS: SpreadSettings = Object.freeze({
  intervalMs: SPREAD_OPTIONS.intervalMs.default,
  minRecords: SPREAD_OPTIONS.minRecords.default,
  busy: SPREAD_OPTIONS.busy.default,
  uneven: SPREAD_OPTIONS.uneven.default,
  gain: SPREAD_OPTIONS.gain.default,
});

/** Checks `RunOptions.spread` (unknown names and bad values fail fast, naming them). */
export function checkSpread(o: Partial<SpreadSettings> | undefined): SpreadSettings {
  if (o === undefined) return SPREAD_DEFAULTS;
  if (o === null || typeof o !== 'object')
    throw configError('spread must be an object', o, 'pass spread: { intervalMs: 2000 }, or leave it out');
  return resolveOptions('spread', SPREAD_OPTIONS, o) as SpreadSettings;
}

const MAX_BACKOFF = 6; // 2^6 = 64 intervals

/** What an interval showed. */
export interface IntervalFigures {
  /** The busiest thread's active µs per source record. */
  readonly microsPerRecord: number;
  /** The busiest thread's active share of the interval. */
  readonly busiest: number;
  /** The busiest thread's active share over the mean share. */
  readonly unevenness: number;
  readonly records: number;
}

/**
 * The figures between two readings of every thread (each thread's own
 * timestamps, as they are read at different moments); undefined when a
 * thread's reading did not move on.
 */
export function intervalFigures(
  before: readonly ThreadSample[],
  after: readonly ThreadSample[],
): IntervalFigures | undefined {
  if (before.length !== after.length || after.length === 0) return undefined;
  let busiest = 0;
  let total = 0;
  let rate = 0; // records per ms
  let records = 0;
  for (let k = 0; k < after.length; k++) {
    const a = before[k]!;
    const b = after[k]!;
    const dt = b.at - a.at;
    if (!(dt > 0)) return undefined;
    const share = Math.max(0, Math.min(1, (b.activeMs - a.activeMs) / dt));
    busiest = Math.max(busiest, share);
    total += share;
    const n = Math.max(0, b.sourceRecords - a.sourceRecords);
    records += n;
    rate += n / dt;
  }
  if (rate === 0) return { microsPerRecord: Number.POSITIVE_INFINITY, busiest, unevenness: 1, records };
  const mean = total / after.length;
  return {
    microsPerRecord: (busiest / rate) * 1000,
    busiest,
    unevenness: mean > 0 ? busiest / mean : 1,
    records,
  };
}

/** The decisions of `preAggregate: 'auto'` (see the file's comment); pure, so it is tested on its own. */
export class SpreadJudge {
  readonly #s: SpreadSettings;
  /** Whether the combiners' input is spread now. */
  on = false;
  switches = 0;
  probes = 0;
  /** The last cost measured each way (µs per record). */
  readonly cost: { local: number | undefined; spread: number | undefined } = {
    local: undefined,
    spread: undefined,
  };
  // Intervals to leave unjudged (after a change: the threads settle), and to wait before a trial.
  #settle = 1;
  #wait = 0;
  #backoff = 0;
  #trying = false;
  // Intervals judged since the last change.
  #judged = 0;

  constructor(settings: Partial<SpreadSettings> = {}) {
    this.#s = { ...SPREAD_DEFAULTS, ...settings };
  }

  /** Judges an interval; returns the new choice when it changes (the caller applies it), else undefined. */
  judge(f: IntervalFigures | undefined): boolean | undefined {
    if (f === undefined || f.records < this.#s.minRecords) return undefined;
    if (this.#settle > 0) {
      this.#settle--;
      return undefined;
    }
    const now = this.on ? 'spread' : 'local';
    const other = this.on ? 'local' : 'spread';
    this.cost[now] = f.microsPerRecord;
    if (this.#trying) {
      this.#trying = false;
      const before = this.cost[other];
      if (before !== undefined && f.microsPerRecord <= before * (1 - this.#s.gain)) {
        // Kept: the next trial of the other way comes soon, and backs off if it fails.
        this.#backoff = 0;
        this.#wait = 2;
        return undefined;
      }
      this.#backoff = Math.min(this.#backoff + 1, MAX_BACKOFF);
      this.#wait = 2 ** this.#backoff;
      return this.#change(!this.on);
    }
    if (this.on && f.busiest < this.#s.busy / 2) {
      // Nothing waits on the busiest thread any more: crossing costs CPU and buys nothing.
      this.#backoff = 0;
      this.#wait = 0;
      return this.#change(false);
    }
    if (this.#wait > 0) {
      this.#wait--;
      return undefined;
    }
    // A trial compares with this way's cost: not from its first judged interval (the threads'
    // JIT may still be warming up then, which made a trial of spreading look cheaper than it was).
    if (++this.#judged < 2) return undefined;
    if (!this.on && (f.busiest < this.#s.busy || f.unevenness < this.#s.uneven)) return undefined;
    this.#trying = true;
    this.probes++;
    return this.#change(!this.on);
  }

  #change(on: boolean): boolean {
    this.on = on;
    this.switches++;
    this.#settle = 1;
    this.#judged = 0;
    return on;
  }
}

/** Each subtask's thread figures, when every subtask has reported them. */
export function threadSamples(all: readonly (PipelineMetrics | undefined)[]): ThreadSample[] | undefined {
  const out: ThreadSample[] = [];
  for (const m of all) {
    if (m?.thread === undefined) return undefined;
    out.push({ at: m.thread.at, activeMs: m.thread.activeMs, sourceRecords: m.sourceRecords });
  }
  return out;
}

/**
 * Judges a threaded run with adaptive split edges every interval and turns
 * their spreading on and off (`spread.ts`); a no-op for a plan without them.
 */
export function adaptiveSpread(
  plan: PhysicalPlan,
  settings: Partial<SpreadSettings> | undefined,
  io: { samples: () => ThreadSample[] | undefined; set: (on: boolean) => void },
): { stop: () => void; figures: (m: PipelineMetrics) => PipelineMetrics } {
  if (!plan.vertices.some((v) => v.adaptive === true)) return { stop: () => {}, figures: (m) => m };
  const judge = new SpreadJudge(settings);
  let before = io.samples();
  const timer = setInterval(() => {
    const now = io.samples();
    const change = judge.judge(
      before === undefined || now === undefined ? undefined : intervalFigures(before, now),
    );
    if (now !== undefined) before = now;
    if (change !== undefined) io.set(change);
  }, settings?.intervalMs ?? SPREAD_DEFAULTS.intervalMs);
  timer.unref();
  return {
    stop: () => clearInterval(timer),
    figures: (m) => ({
      ...m,
      spread: {
        on: judge.on,
        switches: judge.switches,
        probes: judge.probes,
        localMicrosPerRecord: judge.cost.local,
        spreadMicrosPerRecord: judge.cost.spread,
      },
    }),
  };
}
