/**
 * The fair method's arithmetic (issue 14), the same for every system: each
 * system prints a progress line every sampling interval (`@p <epoch µs>
 * <events in> <outputs> <max output event time> <epoch µs it was emitted>`),
 * the harness reads the process's CPU time from `/proc/<pid>/stat`, and
 * everything reported is computed here from those two series:
 *
 * - {@link selectWindow}: warm-up is the first `warmupEvents` input events;
 *   the steady-state window starts at the first progress line at or past
 *   them and ends at the first line where it holds `windowEvents` events or
 *   lasts `windowMs`, whichever comes first.
 * - {@link windowThroughput}: events in the window ÷ its duration.
 * - {@link cpuBetween}: process user + system CPU over the window,
 *   interpolated linearly between the harness's `/proc` samples.
 * - {@link latencySamples}: emit time − arrival time of the newest input that
 *   can have contributed to the newest output (the newest event whose event
 *   time is at or before the output's), one sample per new newest output,
 *   only for outputs emitted inside the window. At the maximum rate an
 *   event arrives when the system takes it in (the progress lines' count,
 *   interpolated between them); in a paced round it arrives when the
 *   schedule makes it due ({@link scheduledArrival}), whether or not the
 *   system has read it yet, so a system that falls behind its schedule
 *   shows its backlog as latency (no coordinated omission), whichever way
 *   it counts its input.
 *
 * @example
 * ```ts
 * const ticks = lines.map(parseProgress).filter((t) => t !== undefined);
 * const w = selectWindow(ticks, { warmupEvents: 3e6, windowEvents: 1e7, windowMs: 30_000 });
 * if (w?.complete) console.log(windowThroughput(ticks, w), cpuBetween(cpu, ticks[w.start].t, ticks[w.end].t));
 * ```
 */

/** One progress line. Times in epoch µs; `maxOut` is an event time (ms), null before the first output. */
export interface Tick {
  readonly t: number;
  readonly events: number;
  readonly outputs: number;
  readonly maxOut: number | null;
  readonly maxOutAt: number | null;
}

/** Parses a progress line; undefined for any other line. */
export function parseProgress(line: string): Tick | undefined {
  if (!line.startsWith('@p ')) return undefined;
  const f = line.trim().split(/\s+/);
  if (f.length !== 6) return undefined;
  const t = Number(f[1]);
  const events = Number(f[2]);
  const outputs = Number(f[3]);
  if (!Number.isFinite(t) || !Number.isFinite(events) || !Number.isFinite(outputs)) return undefined;
  const none = f[4] === '-';
  return {
    t,
    events,
    outputs,
    maxOut: none ? null : Number(f[4]),
    maxOutAt: none ? null : Number(f[5]),
  };
}

/** The warm-up and steady-state rule. */
export interface WindowRule {
  /** Input events before the window starts. */
  readonly warmupEvents: number;
  /** The window ends once it holds this many events… */
  readonly windowEvents: number;
  /** …or once it lasts this long (ms), whichever comes first. */
  readonly windowMs: number;
}

/** A steady-state window: indices into the ticks. */
export interface SteadyWindow {
  readonly start: number;
  readonly end: number;
  /** False when the input (or the run) ended before the window reached either bound. */
  readonly complete: boolean;
}

/**
 * The steady-state window of `ticks` under `rule`, or undefined when the
 * warm-up never ended or nothing followed it. An incomplete window ends at
 * the last tick whose count still grew (idle ticks after the end of the input
 * are not part of it). `ready`, when given, must also hold at the window's
 * first tick (a paced round: the system has caught up with its schedule,
 * {@link caughtUp}).
 */
export function selectWindow(
  ticks: readonly Tick[],
  rule: WindowRule,
  ready?: (tick: Tick) => boolean,
): SteadyWindow | undefined {
  const start = ticks.findIndex((k) => k.events >= rule.warmupEvents && (ready === undefined || ready(k)));
  if (start < 0) return undefined;
  const s = ticks[start]!;
  for (let j = start + 1; j < ticks.length; j++) {
    const k = ticks[j]!;
    if (k.events - s.events >= rule.windowEvents || k.t - s.t >= rule.windowMs * 1000)
      return { start, end: j, complete: true };
  }
  let end = ticks.length - 1;
  while (end > start && ticks[end]!.events === ticks[end - 1]!.events) end--;
  return end > start ? { start, end, complete: false } : undefined;
}

/** Events, duration and events/s of a window. */
export function windowThroughput(
  ticks: readonly Tick[],
  w: SteadyWindow,
): { events: number; durationMs: number; eventsPerSec: number } {
  const a = ticks[w.start]!;
  const b = ticks[w.end]!;
  const events = b.events - a.events;
  const durationMs = (b.t - a.t) / 1000;
  return { events, durationMs, eventsPerSec: durationMs > 0 ? (events * 1000) / durationMs : Number.NaN };
}

/** Events/s of each sampling interval inside the window (for intervals and drift). */
export function intervalRates(ticks: readonly Tick[], w: SteadyWindow): number[] {
  const rates: number[] = [];
  for (let j = w.start + 1; j <= w.end; j++) {
    const a = ticks[j - 1]!;
    const b = ticks[j]!;
    if (b.t > a.t) rates.push(((b.events - a.events) * 1e6) / (b.t - a.t));
  }
  return rates;
}

/**
 * How much faster the window's second half ran than its first, as a fraction
 * (0.1 = 10 % faster): a warm-up that was too short shows as a large positive drift.
 */
export function drift(ticks: readonly Tick[], w: SteadyWindow): number {
  const mid = ticks[w.start]!.t + (ticks[w.end]!.t - ticks[w.start]!.t) / 2;
  let m = w.start;
  while (m < w.end && ticks[m + 1]!.t <= mid) m++;
  if (m === w.start || m === w.end) return 0;
  const first = windowThroughput(ticks, { start: w.start, end: m, complete: true }).eventsPerSec;
  const second = windowThroughput(ticks, { start: m, end: w.end, complete: true }).eventsPerSec;
  return second / first - 1;
}

/** A CPU reading: the process's user + system CPU (ms) at epoch µs `t`. */
export interface CpuSample {
  readonly t: number;
  readonly cpuMs: number;
}

/** User + system CPU (ms) from the text of `/proc/<pid>/stat` (`clockTicks` per second, 100 on Linux). */
export function procStatCpuMs(stat: string, clockTicks = 100): number {
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // Fields 14 (utime) and 15 (stime) of proc(5), counted from field 3 (state) here.
  return ((Number(f[11]) + Number(f[12])) * 1000) / clockTicks;
}

/** Cumulative CPU at `t`, interpolated between the samples around it (clamped to the first and last). */
export function cpuAt(samples: readonly CpuSample[], t: number): number {
  if (samples.length === 0) return Number.NaN;
  if (t <= samples[0]!.t) return samples[0]!.cpuMs;
  for (let i = 1; i < samples.length; i++) {
    const b = samples[i]!;
    if (t <= b.t) {
      const a = samples[i - 1]!;
      return b.t === a.t ? b.cpuMs : a.cpuMs + ((b.cpuMs - a.cpuMs) * (t - a.t)) / (b.t - a.t);
    }
  }
  return samples.at(-1)!.cpuMs;
}

/** CPU (ms) spent between epoch µs `t0` and `t1`. */
export function cpuBetween(samples: readonly CpuSample[], t0: number, t1: number): number {
  return cpuAt(samples, t1) - cpuAt(samples, t0);
}

/**
 * When the `k`-th input event (1-based) arrived: the time the cumulative
 * count reached `k`, interpolated between the ticks around it; undefined if
 * it had not arrived by the last tick.
 */
export function arrivalTime(ticks: readonly Tick[], k: number): number | undefined {
  let lo = 0;
  let hi = ticks.length; // first tick with events >= k
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (ticks[mid]!.events >= k) hi = mid;
    else lo = mid + 1;
  }
  if (lo === ticks.length) return undefined;
  const b = ticks[lo]!;
  if (lo === 0) return b.t;
  const a = ticks[lo - 1]!;
  return a.t + ((b.t - a.t) * (k - a.events)) / (b.events - a.events);
}

/**
 * Arrivals on a fixed-rate schedule of `rate` events/s after `warm` events
 * read at the maximum rate (a paced round's warm-up): the `k`-th event
 * (1-based, `k > warm`) is due at `t0 + (k − warm − 1) / rate`. `t0`, the
 * schedule's origin, is read off the ticks: no system counts an event before
 * it is due, so every tick past the warm-up gives
 * `t0 <= t − (events − warm − 1) / rate`, with equality (to a tick's
 * rounding) at any tick where the system was on schedule, as every system is
 * when its schedule starts; the smallest bound is taken. The same rule for
 * every system, whether it counts an event when it is due (Spark's source
 * did) or when it reads it (the others): a system that falls behind reads
 * events after they were due, and its latency then includes how long they
 * waited. A warm-up event has no due time (undefined): an output whose newest
 * input is one is no latency sample. Undefined when no tick has counted an
 * event past the warm-up.
 */
export function scheduledArrival(
  ticks: readonly Tick[],
  rate: number,
  warm = 0,
): ((k: number) => number | undefined) | undefined {
  const microsPerEvent = 1e6 / rate;
  let t0 = Number.POSITIVE_INFINITY;
  for (const tick of ticks)
    if (tick.events > warm) t0 = Math.min(t0, tick.t - (tick.events - warm - 1) * microsPerEvent);
  if (t0 === Number.POSITIVE_INFINITY) return undefined;
  return (k) => (k <= warm ? undefined : t0 + (k - warm - 1) * microsPerEvent);
}

/**
 * Whether a paced system has caught up with its schedule at `tick`: it has
 * read all but at most `slack` of the events due by then (the `warm` events
 * of the warm-up, and the schedule's since its origin, as in
 * {@link scheduledArrival}). A paced round's steady-state window starts only
 * at such a tick: a system whose start-up (JIT, a first micro-batch's
 * planning) left it behind the schedule would otherwise be measured while it
 * works off that backlog, reading faster than offered, its latency that of
 * the backlog rather than of the rate. Never before the schedule started.
 */
export function caughtUp(
  ticks: readonly Tick[],
  rate: number,
  slack: number,
  warm = 0,
): (tick: Tick) => boolean {
  // The origin over the ticks so far, kept up as ticks are added (the harness asks at every tick).
  const microsPerEvent = 1e6 / rate;
  let seen = 0;
  let origin = Number.POSITIVE_INFINITY;
  return (tick) => {
    for (; seen < ticks.length; seen++) {
      const k = ticks[seen]!;
      if (k.events > warm) origin = Math.min(origin, k.t - (k.events - warm - 1) * microsPerEvent);
    }
    if (origin === Number.POSITIVE_INFINITY || tick.t < origin) return false;
    const dueBy = warm + Math.floor((tick.t - origin) / microsPerEvent) + 1;
    return dueBy - tick.events <= slack;
  };
}

/**
 * The newest event of the Nexmark generator at or before event time `time`
 * (ms): event `n` is at `startTime + floor(n · 1000 / eventsPerSecond)`
 * (`eventTimestamp` in generator.ts), so it is the largest `n` with
 * `n · 1000 < (time − startTime + 1) · eventsPerSecond`. −1 before the first.
 */
export function newestEventAt(time: number, eventsPerSecond: number, startTime = 0): number {
  const limit = (time - startTime + 1) * eventsPerSecond; // n * 1000 < limit
  return Math.max(-1, Math.ceil(limit / 1000) - 1);
}

/**
 * Latency samples (ms) of the window: for each tick whose newest output is
 * new and was emitted inside the window, its emit time minus the arrival of
 * `newestInput(maxOut)` (0-based index of the newest contributing input);
 * `arrival(k)` is when the k-th event (1-based) arrived: by default when the
 * ticks counted it ({@link arrivalTime}), in paced rounds
 * {@link scheduledArrival}.
 */
export function latencySamples(
  ticks: readonly Tick[],
  w: SteadyWindow,
  newestInput: (eventTime: number) => number,
  arrival: (k: number) => number | undefined = (k) => arrivalTime(ticks, k),
): number[] {
  const t0 = ticks[w.start]!.t;
  const t1 = ticks[w.end]!.t;
  const out: number[] = [];
  let last: number | null = null;
  for (let j = w.start; j <= w.end; j++) {
    const k = ticks[j]!;
    if (k.maxOut === null || k.maxOutAt === null || k.maxOutAt === last) continue;
    last = k.maxOutAt;
    if (k.maxOutAt <= t0 || k.maxOutAt > t1) continue;
    const n = newestInput(k.maxOut);
    if (n < 0) continue;
    const arrived = arrival(n + 1);
    if (arrived === undefined) continue;
    out.push(Math.max(0, (k.maxOutAt - arrived) / 1000));
  }
  return out;
}

/** Nearest-rank percentile `p` (0–100) of `xs`; NaN when empty. */
export function percentile(xs: readonly number[], p: number): number {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil((p / 100) * s.length));
  return s[Math.min(s.length, rank) - 1]!;
}
