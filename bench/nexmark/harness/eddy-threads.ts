/**
 * The eddy side of a fair Nexmark round at parallelism n > 1 (issue 14):
 * subtask 0 in the main thread and subtask k in worker thread k, as `eddy
 * run --parallelism n` runs a module.
 *
 * - This file is the module every thread builds (`definePipeline`): the query
 *   over a splittable reader of the events file that gives subtask k every
 *   n-th line from line k and decodes only those, with eddy's safe decoder —
 *   the design of the peers' sources (FlinkNexmark's `FileSource`): each
 *   subtask reads in time order, as a Kafka partition would, and scans the
 *   whole file. No eddy source splits a file by lines (a file source reads in
 *   subtask 0), so the harness brings its own, as the peers do.
 * - At a constant rate each subtask paces its share (rate / n) from one
 *   schedule origin for all (`sharedStart`), as the peers' source subtasks
 *   share one `Pacer`.
 * - The sink is `parallel` (one counting writer per subtask, as the peers'
 *   counting sinks run at the job's parallelism).
 * - The counts reach the main thread's progress lines through a
 *   SharedArrayBuffer: the main thread puts it in the worker environment
 *   (`setEnvironmentData`; each new worker gets it shared, not copied) and each
 *   subtask writes its own slots (one writer per slot), so a progress line is
 *   as current as the peers' (no message round trip).
 *
 * @example
 * ```ts
 * const r = await runThreadedRound({ query: 'q5', eventsFile: 'e.jsonl', events: 1_000_000,
 *   profile: { kind: 'max' }, intervalMs: 1000, progressMs: 100, parallelism: 2 });
 * ```
 */
import { open } from 'node:fs/promises';
import { getEnvironmentData, setEnvironmentData } from 'node:worker_threads';
import { decodeJson } from '../../../src/codec/index.ts';
import type { Sink, Source, SourceReader } from '../../../src/index.ts';
import { definePipeline, Pipeline } from '../../../src/index.ts';
import { type Event, nexmarkSourceOptions } from '../generator.ts';
import {
  type EddyRoundResult,
  type EddyRoundSpec,
  epochMicros,
  kafkaTransport,
  pacedStream,
  queryByName,
  teeSink,
} from './eddy.ts';
import { constant } from './profiles.ts';

const BOARD_KEY = 'eddy-nexmark-fair-board';
/** Slots per subtask: events in, outputs, newest output's event time, when it was emitted (epoch µs). */
const SLOTS = 4;
const MAX_SUBTASKS = 256;

/** The board of this process: given by the main thread to workers, else made here. */
function board(): Float64Array {
  const shared = getEnvironmentData(BOARD_KEY);
  if (shared instanceof SharedArrayBuffer) return new Float64Array(shared);
  const made = new SharedArrayBuffer(SLOTS * MAX_SUBTASKS * 8);
  setEnvironmentData(BOARD_KEY, made);
  return clear(new Float64Array(made));
}

const ORIGIN_KEY = 'eddy-nexmark-fair-origin';

/** Fatal, keeping a byte order mark for decodeJson to judge, as `LineSplitter.pushText`'s. */
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
/**
 * The most bytes of a read decoded at once: a larger string goes to V8's large-object space and
 * brings on major collections (`LineSplitter`'s `REGION_BYTES`; 1 MiB at once ran 1.5–2× slower).
 */
const REGION = 16 * 1024;

/**
 * The paced schedule's origin shared by this process's threads (epoch µs; 0
 * until the first subtask ends its warm-up): made and shared as the board is.
 */
function originCell(): BigInt64Array {
  const shared = getEnvironmentData(ORIGIN_KEY);
  if (shared instanceof SharedArrayBuffer) return new BigInt64Array(shared);
  const made = new SharedArrayBuffer(8);
  setEnvironmentData(ORIGIN_KEY, made);
  return new BigInt64Array(made);
}

/**
 * The `start` of `pacedStream` for one subtask: the first subtask of the
 * round to end its warm-up fixes the origin (now) for all; the others read it,
 * in their own thread's `performance.now()`. A subtask whose warm-up ends later
 * is behind the schedule and reads as fast as it can until it is on it, as a
 * peer's reader is when the shared `Pacer` started without it.
 */
export function sharedStart(cell: BigInt64Array): () => number {
  return () => {
    const now = BigInt(epochMicros());
    const was = Atomics.compareExchange(cell, 0, 0n, now);
    const origin = was === 0n ? now : was;
    return Number(origin) / 1000 - performance.timeOrigin;
  };
}

/** Zero counts, no output yet. */
function clear(b: Float64Array): Float64Array {
  b.fill(0);
  for (let k = 0; k < MAX_SUBTASKS; k++) b[k * SLOTS + 2] = Number.NEGATIVE_INFINITY;
  return b;
}

/** Where a subtask's reader is: the byte offset and index of the first line it has not scanned. */
interface LinePosition {
  readonly offset: number;
  readonly line: number;
}

/**
 * Subtask k of n reads lines k, k + n, k + 2n, … of `path` (JSON Lines), in
 * 1 MiB reads. Its position is the offset and index of the next line to scan,
 * keyed by subtask, so a restore at the same parallelism goes on where it was.
 */
export function stridedLinesSource(path: string, counts: Float64Array): Source<Event> {
  return {
    kind: 'nexmark-strided-file',
    splittable: true,
    async open(ctx): Promise<SourceReader<Event>> {
      const n = ctx.parallelism;
      const k = ctx.subtask;
      if (k >= MAX_SUBTASKS) throw new Error(`the fair harness counts at most ${MAX_SUBTASKS} subtasks`);
      const from = (ctx.restored as Record<string, LinePosition> | undefined)?.[String(k)];
      const file = await open(path, 'r');
      let buf = Buffer.allocUnsafe(1 << 20);
      let bufStart = from?.offset ?? 0; // file offset of buf[0]
      let have = 0; // bytes in buf
      let pos = 0; // next unscanned byte in buf
      let line = from?.line ?? 0;
      let eof = false;
      const slot = k * SLOTS;
      const decoded = (bytes: Uint8Array | string, at: number): Event => {
        const r = decodeJson(bytes);
        if (!r.ok) throw new Error(`${path}: line ${at + 1}: ${r.reason}`);
        return r.value as Event;
      };
      // The whole lines in buf from textStart to textEnd (bytes), decoded from UTF-8 at once (as
      // jsonLinesSource does, `LineSplitter.pushText`): one call per region instead of one per line.
      let text = '';
      let q = 0; // the text's index of buf[pos]
      let textStart = 0;
      let textEnd = 0;
      let ascii = true;
      const refill = async () => {
        textEnd = 0; // read wholly: buf moves
        buf.copy(buf, 0, pos, have);
        have -= pos;
        bufStart += pos;
        pos = 0;
        if (have === buf.length) buf = Buffer.concat([buf, Buffer.allocUnsafe(buf.length)]);
        const { bytesRead } = await file.read(buf, have, buf.length - have, bufStart + have);
        if (bytesRead === 0) eof = true;
        have += bytesRead;
      };
      return {
        splits: [String(k)],
        async poll(max) {
          const values: Event[] = [];
          while (values.length < max) {
            if (pos >= textEnd) {
              let last = have > pos ? buf.lastIndexOf(10, Math.min(have, pos + REGION) - 1) : -1;
              if (last < pos) {
                // A line longer than a region: up to its own newline, if it is in buf.
                last = buf.indexOf(10, pos);
                if (last >= have) last = -1;
              }
              if (last < 0) {
                if (!eof) {
                  await refill();
                  continue;
                }
                // A last line without a newline.
                if (pos < have && line % n === k) values.push(decoded(buf.subarray(pos, have), line));
                if (pos < have) line++;
                pos = have;
                break;
              }
              try {
                text = utf8.decode(buf.subarray(pos, last + 1));
              } catch {
                throw new Error(`${path}: the lines after line ${line} are not UTF-8`);
              }
              q = 0;
              textStart = pos;
              textEnd = last + 1;
              ascii = text.length === textEnd - textStart;
            }
            const qn = text.indexOf('\n', q);
            const nl = ascii ? textStart + qn : buf.indexOf(10, pos);
            if (nl > pos) {
              if (line % n === k) values.push(decoded(text.slice(q, qn), line));
              line++;
            }
            pos = nl + 1;
            q = qn + 1;
          }
          counts[slot] = counts[slot]! + values.length;
          if (values.length === 0 && eof && pos >= have) {
            await file.close();
            return null;
          }
          return { values, split: String(k) };
        },
        position: () => ({ [String(k)]: { offset: bufStart + pos, line } satisfies LinePosition }),
        close: () => file.close().catch(() => {}),
      };
    },
  };
}

/** `teeSink` with a counter of the subtask each writer runs in. */
function teeSinkPerSubtask<T>(
  inner: Sink<T>,
  seenBy: (subtask: number) => (v: readonly T[], t: readonly number[]) => void,
): Sink<T> {
  return {
    ...inner,
    open(ctx) {
      return teeSink(inner, seenBy(ctx.subtask ?? 0)).open(ctx);
    },
  };
}

/** Counts what `source` hands out in the board slot of the subtask that reads it. */
function countedOnBoard<T>(source: Source<T>, counts: Float64Array): Source<T> {
  return {
    ...source,
    async open(ctx) {
      const reader = await source.open(ctx);
      const slot = ctx.subtask * SLOTS;
      return new Proxy(reader, {
        get(target, prop, receiver) {
          if (prop === 'poll')
            return async (max: number) => {
              const b = await target.poll(max);
              if (b !== null) counts[slot] = counts[slot]! + b.values.length;
              return b;
            };
          const v = Reflect.get(target, prop, receiver);
          return typeof v === 'function' ? v.bind(target) : v;
        },
      });
    },
  };
}

/** Counts each subtask's outputs and their newest event time on the board. */
export function countingSink(counts: Float64Array, progress: boolean): Sink<unknown> {
  return {
    kind: 'nexmark-count',
    guarantee: 'best-effort',
    parallel: true,
    open(ctx) {
      const slot = (ctx.subtask ?? 0) * SLOTS;
      const write = boardWriter(counts, slot, progress);
      return { write };
    },
  };
}

/** Adds a write of `values` to the board slot `slot` (outputs, newest event time, when). */
function boardWriter(counts: Float64Array, slot: number, progress: boolean) {
  return (values: readonly unknown[], times: readonly number[]) => {
    counts[slot + 1] = counts[slot + 1]! + values.length;
    if (!progress) return;
    let m = counts[slot + 2]!;
    for (const t of times) if (t > m) m = t;
    if (m > counts[slot + 2]!) {
      counts[slot + 2] = m;
      counts[slot + 3] = epochMicros();
    }
  };
}

export default definePipeline({
  name: 'nexmark-fair',
  description: 'one Nexmark query over every n-th line of an events file per subtask',
  options: {
    query: { type: 'string', default: 'q0', description: 'the query (bench/nexmark/queries.ts)' },
    eventsFile: { type: 'string', default: '', description: 'the JSON Lines events file' },
    progress: { type: 'boolean', default: true, description: 'record the newest output for progress lines' },
    kafkaBrokers: { type: 'string', default: '127.0.0.1:9092', description: 'Kafka mode: the brokers' },
    inputTopic: { type: 'string', default: '', description: 'Kafka mode: the events topic (else the file)' },
    outputTopic: { type: 'string', default: '', description: 'Kafka mode: where outputs go' },
    groupId: { type: 'string', default: 'eddy-nexmark-fair', description: 'Kafka mode: the consumer group' },
    rate: {
      type: 'number',
      default: 0,
      min: 0,
      description: 'events/s over all subtasks, each pacing its share; 0: as fast as it goes',
    },
    warmEvents: {
      type: 'number',
      default: 0,
      min: 0,
      description:
        'with a rate: the first events (over all subtasks) read as fast as they go, then the pacing starts',
    },
  },
  build(o) {
    const counts = board();
    const p = new Pipeline({ name: `nexmark-${o.query}`, errorPolicy: 'fail' });
    if (o.inputTopic !== '') {
      // The Kafka mode: eddy's Kafka source (a consumer per subtask, each reading its own
      // partitions) and a Kafka producer per subtask.
      const kafka = kafkaTransport({
        brokers: o.kafkaBrokers,
        inputTopic: o.inputTopic,
        outputTopic: o.outputTopic,
        groupId: o.groupId,
      });
      const events = p.source('events', countedOnBoard(kafka.source, counts), nexmarkSourceOptions);
      const sink = (subtask: number) => boardWriter(counts, subtask * SLOTS, o.progress);
      queryByName(o.query)(p, events).sink(teeSinkPerSubtask(kafka.sink, sink));
      return p;
    }
    const lines = stridedLinesSource(o.eventsFile, counts);
    // Each subtask reads every n-th line: its share of the rate and of the warm-up.
    const source =
      o.rate > 0
        ? pacedStream(
            lines,
            (ctx) => constant(o.rate / ctx.parallelism),
            { t0: 0 },
            (ctx) => Math.ceil(o.warmEvents / ctx.parallelism),
            sharedStart(originCell()),
          )
        : lines;
    const events = p.source('events', source, nexmarkSourceOptions);
    queryByName(o.query)(p, events).sink(countingSink(counts, o.progress));
    return p;
  },
});

/** Sums the board over `n` subtasks. */
function totals(counts: Float64Array, n: number) {
  let events = 0;
  let outputs = 0;
  let maxOutTime = Number.NEGATIVE_INFINITY;
  let maxOutAt = 0;
  for (let k = 0; k < n; k++) {
    const s = k * SLOTS;
    events += counts[s]!;
    outputs += counts[s + 1]!;
    if (counts[s + 2]! > maxOutTime) {
      maxOutTime = counts[s + 2]!;
      maxOutAt = counts[s + 3]!;
    }
  }
  return { events, outputs, maxOutTime, maxOutAt };
}

/** Runs one round on `spec.parallelism` threads here (the child's job); maximum rate only. */
export async function runThreadedRound(spec: EddyRoundSpec): Promise<EddyRoundResult> {
  const n = spec.parallelism ?? 1;
  const { profile } = spec;
  if (profile.kind !== 'max' && profile.kind !== 'constant')
    throw new Error('threaded rounds run at the maximum rate or a constant rate');
  // Made (or cleared) here, before the workers start, so that they share it.
  const counts = clear(board());
  originCell()[0] = 0n;
  const values = {
    query: spec.query,
    eventsFile: spec.eventsFile,
    progress: spec.progressMs !== undefined,
    rate: profile.kind === 'constant' ? profile.rate : 0,
    warmEvents: spec.warmEvents ?? 0,
    kafkaBrokers: spec.kafka?.brokers ?? '127.0.0.1:9092',
    inputTopic: spec.kafka?.inputTopic ?? '',
    outputTopic: spec.kafka?.outputTopic ?? '',
    groupId: spec.kafka?.groupId ?? 'eddy-nexmark-fair',
  };
  const module = new URL(import.meta.url).href;
  const pipeline = (await import(module)).default.build(values) as Pipeline;
  const progress =
    spec.progressMs === undefined
      ? undefined
      : setInterval(() => {
          const t = totals(counts, n);
          const max = t.maxOutTime === Number.NEGATIVE_INFINITY ? '- -' : `${t.maxOutTime} ${t.maxOutAt}`;
          process.stdout.write(`@p ${epochMicros()} ${t.events} ${t.outputs} ${max}\n`);
        }, spec.progressMs);
  const cpu0 = process.cpuUsage();
  const start = performance.now();
  try {
    const running = await pipeline.startInThreads(module, values, {
      parallelism: n,
      ...(spec.checkpoint === undefined ? {} : { checkpoints: spec.checkpoint }),
    });
    await running.done;
  } finally {
    if (progress !== undefined) clearInterval(progress);
  }
  const elapsedMs = performance.now() - start;
  const cpu = process.cpuUsage(cpu0);
  const usage = process.resourceUsage();
  const t = totals(counts, n);
  if (t.events !== spec.events)
    throw new Error(`eddy read ${t.events} events from ${spec.eventsFile}; expected ${spec.events}`);
  return {
    system: 'eddy',
    query: spec.query,
    events: t.events,
    outputs: t.outputs,
    elapsedMs: Math.round(elapsedMs * 10) / 10,
    eventsPerSec: Math.round((t.events * 1000) / elapsedMs),
    cpuMs: Math.round((usage.userCPUTime + usage.systemCPUTime) / 1000),
    runCpuMs: Math.round((cpu.user + cpu.system) / 1000),
    peakRssMb: Math.round(usage.maxRSS / 1024),
    samples: [],
    intervalMs: spec.intervalMs,
    latency: null,
    flushOutputs: 0,
    finalLagMs: 0,
  };
}
