/**
 * The eddy side of the Nexmark harness: one round of one query under one load
 * profile, in a child process of its own so that its peak RSS and CPU time are
 * eddy's alone (`process.resourceUsage()`), as the peers' are their JVM's.
 *
 * - Maximum rate: `jsonLinesSource` reads the same events file as the peers
 *   (decoding included, as theirs is), as fast as the query takes it.
 * - Fixed rates (constant, bursts, ramp): the file is loaded into memory
 *   before the clock starts; a paced source offers (and decodes) each event
 *   when its schedule says it is due, and the sink records, per output, the time
 *   since the *scheduled* creation of the event that completed it (see
 *   {@link latencyStart}).
 *
 * Either way the child samples the source's throughput every `intervalMs`
 * and counts the query's outputs.
 *
 * @example
 * ```ts
 * const r = await runEddyRound({ query: 'q5', eventsFile: '.bench/nexmark/events-1000000.jsonl',
 *   events: 1_000_000, profile: { kind: 'max' }, intervalMs: 1000 });
 * console.log(r.eventsPerSec, r.outputs, r.peakRssMb);
 * ```
 */
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { decodeJson } from '../../../src/codec/index.ts';
import { kafkaSink, kafkaSource } from '../../../src/connectors/kafka/index.ts';
import type { Pipeline, Sink, Source, SourceContext, Stream } from '../../../src/index.ts';
import { Pipeline as EddyPipeline, jsonLinesSource } from '../../../src/index.ts';
import { type Event, eventTime, nexmarkSourceOptions } from '../generator.ts';
import { QUERIES } from '../queries.ts';
import { IntervalLatencies, initHistograms, type RoundLatency } from './latency.ts';
import { bursts, constant, ramp, type Schedule } from './profiles.ts';

/** How events are offered in a round. */
export type RateProfile =
  | { readonly kind: 'max' }
  | { readonly kind: 'constant'; readonly rate: number }
  | {
      readonly kind: 'bursts';
      readonly rate: number;
      readonly periodMs?: number;
      readonly duty?: number;
      readonly factor?: number;
    }
  | { readonly kind: 'ramp'; readonly from: number; readonly to: number; readonly durationMs: number };

export interface EddyRoundSpec {
  readonly query: string;
  readonly eventsFile: string;
  /** How many events the file holds (checked). */
  readonly events: number;
  readonly profile: RateProfile;
  /** The throughput and latency sampling interval (ms). */
  readonly intervalMs: number;
  /**
   * The fair method (issue 14): print `@p <epoch µs> <events in> <outputs> <max output event
   * time> <epoch µs it was emitted>` on stdout every `progressMs`, as the peers do
   * (`Measure.progressEvery`); the harness computes everything from these lines (`steady.ts`).
   */
  readonly progressMs?: number;
  /**
   * With `progressMs` and a constant rate: the first events, read at the
   * maximum rate before the schedule starts (a paced round's warm-up, the
   * same rule as the peers' `--warm-events`). Default 0.
   */
  readonly warmEvents?: number;
  /**
   * Subtasks, each in a thread of its own (`eddy-threads.ts`; maximum rate
   * or a constant rate). Default 1: this thread, reading with `jsonLinesSource`.
   */
  readonly parallelism?: number;
  /** Checkpoints (durability "checkpoint" of the fair method): where, and how often. */
  readonly checkpoint?: { readonly dir: string; readonly intervalMs: number };
  /**
   * The fair method's Kafka mode: read the events from `inputTopic` (the JSON
   * lines as values, loaded by the harness) as consumer group `groupId`, and
   * write every output as JSON to `outputTopic` (`kafkaSource`/`kafkaSink`,
   * see {@link kafkaTransport}). `eventsFile` is then not read.
   */
  readonly kafka?: KafkaTransport;
}

/** Where a Kafka-mode round reads and writes. */
export interface KafkaTransport {
  readonly brokers: string;
  readonly inputTopic: string;
  readonly outputTopic: string;
  readonly groupId: string;
}

/**
 * The source and the sink of a Kafka-mode round: eddy's own Kafka connectors,
 * at-least-once like the peers there (`kafkaSink` is idempotent, acks=all;
 * `kafkaApp` is left out because it is always exactly-once, with
 * transactions, which the peers' Kafka mode is not: that comparison is
 * `npm run bench -- kafka --vs kafka-streams`). Values are decoded with the
 * source's safe JSON format, as `jsonLinesSource` decodes lines. The END
 * records the loader puts last in each partition (`{"kind":"end"}`, for Kafka
 * Streams' complete runs) are not skipped: having no event time, one would
 * fail the round. The harness stops every round long before them (the
 * topic holds 5 % more events than warm-up and window need).
 */
export function kafkaTransport(k: KafkaTransport): { source: Source<Event>; sink: Sink<unknown> } {
  const brokers = k.brokers.split(',');
  return {
    source: kafkaSource<Event>({ topics: [k.inputTopic], groupId: k.groupId, brokers, format: 'json' }),
    sink: kafkaSink<unknown>({ topic: k.outputTopic, brokers }),
  };
}

/** Passes what `sink` is given on to `inner`'s writer, after `seen`. */
export function teeSink<T>(
  inner: Sink<T>,
  seen: (values: readonly T[], times: readonly number[]) => void,
): Sink<T> {
  return {
    ...inner,
    async open(ctx) {
      const writer = await inner.open(ctx);
      return new Proxy(writer, {
        get(target, prop, receiver) {
          if (prop === 'write')
            return (values: readonly T[], times: readonly number[], ...rest: unknown[]) => {
              seen(values, times);
              return (target.write as (...a: unknown[]) => unknown).call(target, values, times, ...rest);
            };
          const v = Reflect.get(target, prop, receiver);
          return typeof v === 'function' ? v.bind(target) : v;
        },
      });
    },
  };
}

/** Wall-clock time in whole µs since the epoch (the clock of the progress lines). */
export function epochMicros(): number {
  return Math.round((performance.timeOrigin + performance.now()) * 1000);
}

/** What one eddy round measured. */
export interface EddyRoundResult {
  readonly system: 'eddy';
  readonly query: string;
  readonly events: number;
  readonly outputs: number;
  /** From `run()` to the end of the run (last output flushed), excluding process start and, for fixed rates, loading. */
  readonly elapsedMs: number;
  readonly eventsPerSec: number;
  /** User + system CPU of the whole child process, like a peer's JVM (start-up and loading included). */
  readonly cpuMs: number;
  /** User + system CPU during the run only. */
  readonly runCpuMs: number;
  readonly peakRssMb: number;
  /** Events/s per sampling interval (the last, partial interval is left out). */
  readonly samples: readonly number[];
  readonly intervalMs: number;
  /** Latency at a fixed rate; null at the maximum rate. */
  readonly latency: RoundLatency | null;
  /** Outputs whose event time is after the last event's: emitted by the end-of-input flush, not timed. */
  readonly flushOutputs: number;
  /** How far the source was behind its schedule at the end (ms; 0 at the maximum rate). */
  readonly finalLagMs: number;
}

/** The schedule of a fixed-rate profile. */
export function scheduleOf(profile: RateProfile): Schedule | undefined {
  switch (profile.kind) {
    case 'max':
      return undefined;
    case 'constant':
      return constant(profile.rate);
    case 'bursts':
      return bursts(profile.rate, {
        ...(profile.periodMs === undefined ? {} : { periodMs: profile.periodMs }),
        ...(profile.duty === undefined ? {} : { duty: profile.duty }),
        ...(profile.factor === undefined ? {} : { factor: profile.factor }),
      });
    case 'ramp':
      return ramp(profile.from, profile.to, profile.durationMs);
  }
}

/** Runs one round in a child process and returns what it measured. */
export function runEddyRound(spec: EddyRoundSpec, timeoutMs = 600_000): Promise<EddyRoundResult> {
  const child = new URL('./eddy-child.ts', import.meta.url).pathname;
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      ['--expose-gc', child, JSON.stringify(spec)],
      { encoding: 'utf8', maxBuffer: 64 << 20, timeout: timeoutMs },
      (error, stdout, stderr) => {
        if (error) {
          reject(
            new Error(
              `eddy ${spec.query} (${spec.profile.kind}) failed: ${error.message}\n${stderr.slice(-4000)}`,
            ),
          );
          return;
        }
        if (stderr.trim() !== '') process.stderr.write(stderr);
        const last = stdout.trim().split('\n').at(-1) ?? '';
        try {
          resolve(JSON.parse(last) as EddyRoundResult);
        } catch {
          reject(new Error(`eddy ${spec.query}: the child printed no result line; it printed: ${last}`));
        }
      },
    );
  });
}

// ---- In the child ---------------------------------------------------------

type Query = (p: Pipeline, events: Stream<Event>) => Stream<unknown>;

/** The query function of a name in `queries.ts`, or an error that lists the names. */
export function queryByName(name: string): Query {
  const q = (QUERIES as Readonly<Record<string, Query>>)[name];
  if (q === undefined)
    throw new Error(
      `unknown query "${name}"; bench/nexmark/queries.ts has ${Object.keys(QUERIES).join(', ')}`,
    );
  return q;
}

/**
 * An events file held in memory as bytes (outside the JS heap) with each
 * line's offsets, so that a paced round neither re-reads the disk nor makes
 * the collector trace a million pre-built event objects; lines are decoded
 * when offered, with the same safe decoder as `jsonLinesSource`. `times` are
 * the events' times, read once here.
 */
export interface LoadedEvents {
  readonly bytes: Buffer;
  readonly starts: Float64Array;
  readonly ends: Float64Array;
  readonly times: Float64Array;
}

/** Loads a JSON Lines events file for a paced round (before the clock starts). */
export async function loadEvents(path: string): Promise<LoadedEvents> {
  const bytes = await readFile(path);
  const starts: number[] = [];
  const ends: number[] = [];
  let from = 0;
  while (from < bytes.length) {
    let to = bytes.indexOf(10, from);
    if (to === -1) to = bytes.length;
    if (to > from) {
      starts.push(from);
      ends.push(to);
    }
    from = to + 1;
  }
  const times = new Float64Array(starts.length);
  for (let i = 0; i < starts.length; i++) times[i] = eventTime(decodeLine(bytes, starts[i]!, ends[i]!));
  return { bytes, starts: Float64Array.from(starts), ends: Float64Array.from(ends), times };
}

function decodeLine(bytes: Buffer, start: number, end: number): Event {
  const r = decodeJson(bytes.subarray(start, end));
  if (!r.ok) throw new Error(`events file: line at byte ${start}: ${r.reason}`);
  return r.value as Event;
}

/**
 * Which event an output's latency is measured from: the newest event whose
 * event time is at or before the output's. For a window that is its last
 * event (the watermark then needs one more event, one inter-event gap later,
 * to close it); for a pass-through output it is the newest event of the same
 * millisecond (at most `eventsPerSecond / 1000 − 1` events after it, which
 * understates the latency by that many inter-event gaps: 0.1 ms at 100,000
 * events/s with the generator's 10 events per ms). Returns −1 before the first event.
 */
export function latencyStart(eventTimes: Float64Array, outputTime: number): number {
  let lo = 0;
  let hi = eventTimes.length; // first index with time > outputTime
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (eventTimes[mid]! <= outputTime) lo = mid + 1;
    else hi = mid;
  }
  return lo - 1;
}

/** A paced source over loaded events: event i is offered (decoded) once `schedule.timeOf(i)` has passed. */
function pacedSource(
  events: LoadedEvents,
  schedule: Schedule,
  clock: { t0: number; next: number },
): Source<Event> {
  const count = events.starts.length;
  return {
    kind: 'nexmark-paced',
    open(ctx) {
      clock.t0 = performance.now();
      const take = (max: number) => {
        const end = Math.min(count, clock.next + max, schedule.dueBy(performance.now() - clock.t0));
        const values: Event[] = [];
        for (let i = clock.next; i < end; i++)
          values.push(decodeLine(events.bytes, events.starts[i]!, events.ends[i]!));
        clock.next = end;
        return { values };
      };
      return {
        poll(max) {
          const next = clock.next;
          if (next >= count) return null;
          const now = performance.now() - clock.t0;
          if (schedule.dueBy(now) > next) return take(max);
          const wait = Math.max(0, schedule.timeOf(next) - now);
          return new Promise((resolve) => {
            const onAbort = () => {
              clearTimeout(timer);
              resolve({ values: [] });
            };
            const timer = setTimeout(() => {
              ctx.signal.removeEventListener('abort', onAbort);
              resolve(take(max));
            }, wait);
            ctx.signal.addEventListener('abort', onAbort, { once: true });
          });
        },
      };
    },
  };
}

/**
 * Paces a streaming source: at most the records `schedule` has made due since
 * it started; when none is due, waits for the next. The first `warm` records
 * (a paced round's warm-up) are handed at once and the schedule starts after
 * them, as the peers' `Pacer` does. The fair method's fixed-rate rounds read
 * the events file this way (as the peers do) rather than loading it, which
 * 13.5M events (3.8 GB) would not fit.
 *
 * `start` gives the schedule's origin (a `performance.now()` of this thread)
 * when the warm-up ends: by default that moment. Parallel readers of one
 * round pass one that the first caller fixes for all, so their schedules
 * start together, as the peers' readers share one `Pacer` origin: each
 * starting its own would put the subtasks' event times apart by however far
 * apart their warm-ups ended (20 ms in a q5 round), and a watermark — the
 * slowest subtask's — would hold every window that long.
 */
export function pacedStream<T>(
  source: Source<T>,
  scheduleFor: Schedule | ((ctx: SourceContext) => Schedule),
  clock: { t0: number } = { t0: 0 },
  warm: number | ((ctx: SourceContext) => number) = 0,
  start: () => number = () => performance.now(),
): Source<T> {
  return {
    kind: source.kind,
    ...(source.splittable === true ? { splittable: true } : {}),
    async open(ctx) {
      const schedule = typeof scheduleFor === 'function' ? scheduleFor(ctx) : scheduleFor;
      const warmUp = typeof warm === 'function' ? warm(ctx) : warm;
      const reader = await source.open(ctx);
      clock.t0 = warmUp > 0 ? performance.now() : start();
      let warming = warmUp;
      let handed = 0;
      return {
        async poll(max) {
          if (warming > 0) {
            const b = await reader.poll(Math.min(max, warming));
            if (b !== null) warming -= b.values.length;
            if (warming <= 0 || b === null) clock.t0 = start(); // the schedule starts
            return b;
          }
          let due = schedule.dueBy(performance.now() - clock.t0) - handed;
          if (due <= 0) {
            const wait = schedule.timeOf(handed) - (performance.now() - clock.t0);
            if (wait > 0 && !ctx.signal.aborted)
              await new Promise<void>((resolve) => {
                const timer = setTimeout(done, wait);
                function done() {
                  clearTimeout(timer);
                  ctx.signal.removeEventListener('abort', done);
                  resolve();
                }
                ctx.signal.addEventListener('abort', done, { once: true });
              });
            due = Math.max(1, schedule.dueBy(performance.now() - clock.t0) - handed);
          }
          const b = await reader.poll(Math.min(max, due));
          if (b !== null) handed += b.values.length;
          return b;
        },
        ...(reader.position === undefined ? {} : { position: (id?: number) => reader.position!(id) }),
        ...(reader.splits === undefined ? {} : { splits: reader.splits }),
        close: () => reader.close?.(),
      };
    },
  };
}

/** Counts what a source hands out. */
function counted<T>(source: Source<T>, counter: { n: number }): Source<T> {
  return {
    kind: source.kind,
    async open(ctx) {
      const reader = await source.open(ctx);
      return {
        async poll(max) {
          const b = await reader.poll(max);
          if (b !== null) counter.n += b.values.length;
          return b;
        },
        // Checkpoints need the reader's position: pass it through.
        ...(reader.position === undefined ? {} : { position: (id?: number) => reader.position!(id) }),
        close: () => reader.close?.(),
      };
    },
  };
}

/** Runs one round here and now (the child's job). */
export async function runRoundHere(spec: EddyRoundSpec): Promise<EddyRoundResult> {
  const query = queryByName(spec.query);
  const schedule = scheduleOf(spec.profile);
  const counter = { n: 0 };
  const clock = { t0: 0, next: 0 };
  let source: Source<Event>;
  let latencies: IntervalLatencies | undefined;
  let eventTimes: Float64Array | undefined;
  let lastEventTime = Number.POSITIVE_INFINITY;
  const kafka = spec.kafka === undefined ? undefined : kafkaTransport(spec.kafka);
  if (kafka !== undefined) {
    if (schedule !== undefined) throw new Error('Kafka-mode rounds run at the maximum rate only');
    source = counted(kafka.source, counter);
  } else if (schedule === undefined) {
    source = counted(jsonLinesSource<Event>({ path: spec.eventsFile }), counter);
  } else if (spec.progressMs !== undefined) {
    // The fair method's fixed-rate rounds: the harness computes latency from the progress lines.
    source = counted(
      pacedStream(jsonLinesSource<Event>({ path: spec.eventsFile }), schedule, clock, spec.warmEvents ?? 0),
      counter,
    );
  } else {
    await initHistograms();
    const events = await loadEvents(spec.eventsFile);
    if (events.times.length !== spec.events)
      throw new Error(`${spec.eventsFile} holds ${events.times.length} events; expected ${spec.events}`);
    eventTimes = events.times;
    lastEventTime = eventTimes.at(-1) ?? Number.NEGATIVE_INFINITY;
    latencies = new IntervalLatencies(spec.intervalMs);
    source = counted(pacedSource(events, schedule, clock), counter);
    // Leave the loading's garbage behind before the clock starts.
    (globalThis as { gc?: () => void }).gc?.();
  }
  let outputs = 0;
  let flushOutputs = 0;
  let maxOutTime = Number.NEGATIVE_INFINITY;
  let maxOutAt = 0;
  const seen = (values: readonly unknown[], times: readonly number[]) => {
    outputs += values.length;
    if (spec.progressMs !== undefined) {
      let m = maxOutTime;
      for (const t of times) if (t > m) m = t;
      if (m > maxOutTime) {
        maxOutTime = m;
        maxOutAt = epochMicros();
      }
    }
  };
  const counting: Sink<unknown> = {
    kind: 'nexmark-count',
    guarantee: 'best-effort',
    open: () => ({
      write(values, times) {
        seen(values, times);
        if (latencies === undefined || eventTimes === undefined || schedule === undefined) return;
        const now = performance.now() - clock.t0;
        for (const t of times) {
          if (t > lastEventTime) {
            flushOutputs++;
            continue;
          }
          const i = latencyStart(eventTimes, t);
          if (i >= 0) latencies.record(now, now - schedule.timeOf(i));
        }
      },
    }),
  };
  const p = new EddyPipeline({ name: `nexmark-${spec.query}`, errorPolicy: 'fail' });
  const sink = kafka === undefined ? counting : teeSink(kafka.sink, seen);
  query(p, p.source('events', source, nexmarkSourceOptions)).sink(sink);

  const samples: number[] = [];
  let last = { at: performance.now(), n: 0 };
  const sampler = setInterval(() => {
    const now = performance.now();
    samples.push(((counter.n - last.n) * 1000) / (now - last.at));
    last = { at: now, n: counter.n };
  }, spec.intervalMs);
  const progress =
    spec.progressMs === undefined
      ? undefined
      : setInterval(() => {
          const max = maxOutTime === Number.NEGATIVE_INFINITY ? '- -' : `${maxOutTime} ${maxOutAt}`;
          process.stdout.write(`@p ${epochMicros()} ${counter.n} ${outputs} ${max}\n`);
        }, spec.progressMs);
  const cpu0 = process.cpuUsage();
  const start = performance.now();
  if (schedule === undefined) clock.t0 = start;
  try {
    await p.run(spec.checkpoint === undefined ? {} : { checkpoints: spec.checkpoint });
  } finally {
    clearInterval(sampler);
    if (progress !== undefined) clearInterval(progress);
  }
  const elapsedMs = performance.now() - start;
  const cpu = process.cpuUsage(cpu0);
  const usage = process.resourceUsage();
  if (counter.n !== spec.events)
    throw new Error(`eddy read ${counter.n} events from ${spec.eventsFile}; expected ${spec.events}`);
  // A fixed-rate round that fell behind its schedule did not sustain the rate: report by how much.
  const finalLagMs = schedule === undefined ? 0 : Math.max(0, elapsedMs - schedule.timeOf(spec.events - 1));
  return {
    system: 'eddy',
    query: spec.query,
    events: counter.n,
    outputs,
    elapsedMs: Math.round(elapsedMs * 10) / 10,
    eventsPerSec: Math.round((counter.n * 1000) / elapsedMs),
    cpuMs: Math.round((usage.userCPUTime + usage.systemCPUTime) / 1000),
    runCpuMs: Math.round((cpu.user + cpu.system) / 1000),
    peakRssMb: Math.round(usage.maxRSS / 1024),
    samples: samples.map(Math.round),
    intervalMs: spec.intervalMs,
    latency: latencies?.finish(spec.profile.kind !== 'ramp') ?? null,
    flushOutputs,
    finalLagMs: Math.round(finalLagMs),
  };
}
