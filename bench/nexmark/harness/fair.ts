/**
 * `npm run bench -- nexmark-fair [--vs flink,kafka-streams] [--queries q0,q5] [--quick] …`
 *
 * The fair method of issue 14: every system runs the same events file under
 * the same rules, and the harness computes every figure the same way
 * (`steady.ts`):
 *
 * - Each round is one process pinned with `taskset` to the same cores
 *   (`--cores`, default core 0 at parallelism 1; `--parallelism cores` runs
 *   every system at parallelism = cores on all cores).
 * - Each system prints a progress line every `--interval` ms (cumulative input
 *   events, outputs, the newest output's event time and when it was emitted);
 *   warm-up is the first `--warmup-events`, then the steady-state window runs
 *   until it holds `--window-events` or lasts `--window-s`, whichever comes
 *   first; then the harness stops the process (it need not drain the file).
 * - Throughput = events in the window ÷ its duration. CPU = user + system of
 *   the process from `/proc/<pid>/stat`, read by the harness every interval and
 *   interpolated to the window's ends; events per CPU-second over the window.
 *   Kafka Streams' broker is another process: its CPU over the window is
 *   reported beside it (and a ratio with it included); in the Kafka mode
 *   beside every system.
 * - Latency: emit time − arrival of the newest contributing input, sampled
 *   once per interval for the newest output, inside the window only. A
 *   paced (`--latency`) round reads its warm-up (`--warmup-events`) at the
 *   maximum rate, as a maximum-rate round does, and the schedule starts
 *   after it (`--warm-events` of every peer): a cold JVM meets the offered
 *   rate warm instead of starting with a backlog it must work off with the
 *   20 % headroom of an 80 % round (Kafka Streams' loader, which fills its
 *   input topic, starts the schedule once the application has read the
 *   warm-up, and at parallelism 1 runs as a process of its own on the other
 *   cores, beside the broker). Then an event arrives when its schedule
 *   makes it due, the same for every system (`scheduledArrival` in
 *   steady.ts; an output whose newest input is a warm-up event is no
 *   sample): a system that falls behind shows the wait as latency, and its achieved
 *   rate (events it read in the window) falls below the offered one. The
 *   window of a paced round starts only once the system has caught up with
 *   its schedule (to within two intervals' input, `caughtUp`): a slow
 *   start-up (Spark's first micro-batches) leaves a backlog, and measuring
 *   while it is worked off reports the backlog's wait, at a rate above the
 *   offered one. One that never catches up is measured from its warm-up and
 *   flagged ("never caught up").
 * - `--bracket`: after a query's paced rounds, one more maximum-rate round per
 *   system. CPU per event on this shared machine moves by up to a third
 *   between identical runs, so a paced round that read less than offered may
 *   be the machine: the report gives the offered rate as a fraction of this
 *   maximum too, and the maximum's change against the one before.
 * - Durability "none": no checkpoints anywhere; Kafka Streams' stores in memory
 *   with changelogs disabled. "checkpoint": every `--checkpoint-s` (default
 *   10), eddy checkpoints its state to a local directory, Flink checkpoints
 *   its heap state to the local file system (exactly-once barriers), and
 *   Kafka Streams keeps its in-memory stores' changelogs and commits that
 *   often.
 * - Parallelism n > 1: eddy runs n threads (`eddy-threads.ts`), each reading
 *   every n-th line of the file as each peer's source subtask does.
 * - Transport (`--transport`): `file` (default), every system reads the
 *   events file; `kafka`, every system reads the same topic of the events'
 *   JSON lines (n partitions, loaded once before the first round, untimed,
 *   by the Kafka Streams peer's loader: `topics.ts`) from its
 *   earliest offset and writes each output as JSON to a topic of its own,
 *   made for the round and counted after it (a system that counted outputs
 *   but wrote none fails its round). At-least-once everywhere: eddy with
 *   `kafkaSource`/`kafkaSink` (not `kafkaApp`, which is always
 *   exactly-once), Flink with its KafkaSource/KafkaSink, Spark with its
 *   Kafka source and sink, Kafka Streams as always. The broker's CPU is
 *   shown beside every system's. No latency rounds in this mode (they pace
 *   the file's reads). `spark-rt` (Spark's real-time trigger, q0–q2) runs
 *   in this mode only: named with the file transport, the harness refuses.
 * - Rounds alternate the systems (the first system rotates each round), so the
 *   noise of this shared machine hits all alike.
 *
 * Writes `bench/results/nexmark-fair.{json,md}`, prints progress and the table
 * on stderr and ends with one JSON line on stdout.
 */
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { availableParallelism, totalmem } from 'node:os';
import { resolve as absolute, join } from 'node:path';
import { parseArgs } from 'node:util';
import { exportEvents } from '../../peers/export.ts';
import { buildPeers, type PeerSystem, peerCommand, peerKafkaOnly, peerQueries } from '../../peers/index.ts';
import { NEXMARK_DEFAULTS } from '../generator.ts';
import { QUERIES } from '../queries.ts';
import { type EddyRoundSpec, epochMicros } from './eddy.ts';
import { mean, tQuantile } from './stats.ts';
import {
  type CpuSample,
  caughtUp,
  cpuBetween,
  drift,
  latencySamples,
  newestEventAt,
  parseProgress,
  percentile,
  procStatCpuMs,
  scheduledArrival,
  selectWindow,
  type Tick,
  type WindowRule,
  windowThroughput,
} from './steady.ts';
import { loadInputTopic, withOutputTopic } from './topics.ts';

type System = 'eddy' | PeerSystem;
const PEERS: readonly PeerSystem[] = ['flink', 'flink-sql', 'kafka-streams', 'spark', 'spark-rt'];

const FLAGS = {
  vs: {
    type: 'string',
    doc: 'peers: flink, flink-sql, kafka-streams, spark, spark-rt (Kafka mode only) (comma-separated)',
  },
  queries: { type: 'string', doc: 'queries (default q0,q5)' },
  quick: { type: 'boolean', doc: 'short: 300k warm-up, window 1M events or 5 s, 1 round' },
  'warmup-events': { type: 'string', doc: 'warm-up: input events before the window (default 3,000,000)' },
  'window-events': { type: 'string', doc: 'window ends at this many events… (default 10,000,000)' },
  'window-s': { type: 'string', doc: '…or after this many seconds, whichever first (default 30)' },
  rounds: { type: 'string', doc: 'rounds per query and system, alternating (default 3)' },
  interval: { type: 'string', doc: 'progress and CPU sampling interval in ms (default 100)' },
  parallelism: { type: 'string', doc: '1 (default) or "cores": parallelism = cores, on all cores' },
  cores: { type: 'string', doc: 'taskset CPU list (default "0" at parallelism 1, all cores otherwise)' },
  durability: {
    type: 'string',
    doc: 'none (default; no checkpoints anywhere) or checkpoint (every --checkpoint-s)',
  },
  'checkpoint-s': { type: 'string', doc: 'checkpoint interval in the checkpoint mode (default 10)' },
  transport: {
    type: 'string',
    doc: 'file (default: every system reads the events file) or kafka (all read one JSON topic, write to topics)',
  },
  latency: {
    type: 'string',
    doc: 'also rounds at these fractions of each system’s maximum, e.g. 0.5,0.8 (latency-tuned)',
  },
  'latency-rounds': { type: 'string', doc: 'rounds per fraction and system (default 1)' },
  bracket: {
    type: 'boolean',
    doc: 'with --latency: one more maximum-rate round per system after its paced rounds ("max after")',
  },
  dir: {
    type: 'string',
    doc: 'where the events file goes (default .bench/nexmark-fair; reused when complete)',
  },
  'keep-input': { type: 'boolean', doc: 'keep Kafka Streams’ loaded input topics afterwards' },
  'peer-args': {
    type: 'string',
    doc: 'tuning experiments: arguments added to every peer’s command, e.g. --peer-args="--serde json" (recorded)',
  },
  out: { type: 'string', doc: 'report directory (default bench/results)' },
  verbose: { type: 'boolean', doc: 'pass the systems’ logs through to stderr' },
  help: { type: 'boolean', doc: 'this text' },
} as const;

class FlagError extends Error {}

/** Spark's shortest real-time batch (`spark.sql.streaming.realTimeMode.minBatchDuration`'s default). */
const SPARK_RT_MIN_BATCH_MS = 5000;

/**
 * eddy runs with the V8 flags the eddy command starts Node with (bin/eddy.js:
 * 16 MB semi-spaces), as each JVM peer runs with its experts' heap settings;
 * EDDY_SEMI_SPACE_MB=0 leaves V8's default, another number sets it.
 */
const EDDY_NODE_FLAGS =
  process.env['EDDY_SEMI_SPACE_MB'] === '0'
    ? []
    : [`--max-semi-space-size=${process.env['EDDY_SEMI_SPACE_MB'] ?? '16'}`];

export interface FairSettings {
  readonly systems: readonly System[];
  readonly queries: readonly string[];
  readonly quick: boolean;
  readonly rule: WindowRule;
  readonly rounds: number;
  readonly intervalMs: number;
  readonly parallelism: number;
  readonly cores: string;
  readonly durability: 'none' | 'checkpoint';
  readonly checkpointMs: number;
  /**
   * `file`: every system reads the events file. `kafka`: every system reads the same topic of
   * the events' JSON lines (loaded once for every query, untimed, by the Kafka Streams peer's loader)
   * and writes each output as JSON to a topic of its own (made for the round, deleted after).
   */
  readonly transport: 'file' | 'kafka';
  /** Fractions of each system's maximum for latency rounds (none: no latency rounds). */
  readonly loads: readonly number[];
  readonly latencyRounds: number;
  /**
   * `--bracket`: after the paced rounds of a query, one more maximum-rate round per system, so
   * that a paced round which fell behind can be told from a machine that slowed down meanwhile
   * (its maximum after is then below the rate it was offered too).
   */
  readonly bracket: boolean;
  readonly dir: string;
  readonly keepInput: boolean;
  /** `--peer-args`: arguments added to every peer's command (a tuning experiment, not the fair settings). */
  readonly peerArgs: readonly string[];
  readonly out: string;
  readonly verbose: boolean;
}

function whole(flag: string, v: string | undefined, fallback: number, min = 1): number {
  if (v === undefined) return fallback;
  const n = Number(v.replaceAll('_', '').replaceAll(',', ''));
  if (!Number.isSafeInteger(n) || n < min)
    throw new FlagError(`--${flag} must be a whole number >= ${min}; received "${v}"`);
  return n;
}

/** Parses and checks the flags. */
export function parseFairSettings(args: readonly string[]): FairSettings | 'help' {
  let values: Record<string, string | boolean | undefined>;
  try {
    const options = Object.fromEntries(Object.entries(FLAGS).map(([k, f]) => [k, { type: f.type }]));
    ({ values } = parseArgs({ args: [...args], options, strict: true, allowPositionals: false }));
  } catch (e) {
    throw new FlagError(`${(e as Error).message}; run with --help for the flags`);
  }
  if (values.help === true) return 'help';
  const str = (k: keyof typeof FLAGS) => values[k] as string | undefined;
  const quick = values.quick === true;
  const vs = (str('vs') ?? '').split(',').filter((s) => s !== '');
  for (const s of vs)
    if (!PEERS.includes(s as PeerSystem))
      throw new FlagError(`--vs: unknown system "${s}"; use ${PEERS.join(', ')}`);
  const queries = (str('queries') ?? 'q0,q5').split(',').filter((s) => s !== '');
  for (const q of queries)
    if (!(q in QUERIES))
      throw new FlagError(`--queries: unknown query "${q}"; eddy has ${Object.keys(QUERIES).join(',')}`);
  const cores = availableParallelism();
  const p = str('parallelism');
  const parallelism = p === 'cores' ? cores : whole('parallelism', p, 1);
  const durability = str('durability') ?? 'none';
  if (durability !== 'none' && durability !== 'checkpoint')
    throw new FlagError(`--durability must be none or checkpoint; received "${durability}"`);
  const transport = str('transport') ?? 'file';
  if (transport !== 'file' && transport !== 'kafka')
    throw new FlagError(`--transport must be file or kafka; received "${transport}"`);
  const loads = (str('latency') ?? '')
    .split(',')
    .filter((x) => x !== '')
    .map(Number);
  for (const l of loads)
    if (!(l > 0 && l < 1))
      throw new FlagError(
        `--latency takes fractions between 0 and 1, e.g. 0.5,0.8; received "${str('latency')}"`,
      );
  const bracket = values.bracket === true;
  if (bracket && loads.length === 0)
    throw new FlagError(
      '--bracket runs maximum-rate rounds after the paced ones: give --latency too, e.g. --latency 0.5,0.8',
    );
  if (transport === 'kafka' && loads.length > 0)
    throw new FlagError(
      '--latency rounds read the events file (each system paces its own reads); run them without --transport kafka',
    );
  for (const s of vs) {
    const why = peerKafkaOnly(s as PeerSystem);
    if (why !== undefined && transport !== 'kafka')
      throw new FlagError(`--vs ${s} needs --transport kafka: ${why}`);
  }
  const checkpointMs = whole('checkpoint-s', str('checkpoint-s'), 10) * 1000;
  if (vs.includes('spark-rt') && durability === 'checkpoint' && checkpointMs < SPARK_RT_MIN_BATCH_MS)
    throw new FlagError(
      `--vs spark-rt checkpoints once per real-time batch, which Spark takes no shorter than ${SPARK_RT_MIN_BATCH_MS / 1000} s: give --checkpoint-s ${SPARK_RT_MIN_BATCH_MS / 1000} or more`,
    );
  return {
    systems: ['eddy', ...PEERS.filter((s) => vs.includes(s))],
    queries,
    quick,
    rule: {
      warmupEvents: whole('warmup-events', str('warmup-events'), quick ? 300_000 : 3_000_000, 0),
      windowEvents: whole('window-events', str('window-events'), quick ? 1_000_000 : 10_000_000),
      windowMs: whole('window-s', str('window-s'), quick ? 5 : 30) * 1000,
    },
    rounds: whole('rounds', str('rounds'), quick ? 1 : 3),
    intervalMs: whole('interval', str('interval'), 100, 10),
    parallelism,
    cores: str('cores') ?? (parallelism === 1 ? '0' : `0-${cores - 1}`),
    durability,
    checkpointMs,
    transport,
    loads,
    latencyRounds: whole('latency-rounds', str('latency-rounds'), 1),
    bracket,
    dir: str('dir') ?? join('.bench', 'nexmark-fair'),
    keepInput: values['keep-input'] === true,
    peerArgs: typeof values['peer-args'] === 'string' ? values['peer-args'].split(' ').filter(Boolean) : [],
    out: str('out') ?? 'bench/results',
    verbose: values.verbose === true,
  };
}

/**
 * The cores of the machine's `n` not in the taskset list `cores` ("0", "0-1", "0,2-3"), as a
 * taskset list; undefined when none is left.
 */
export function otherCores(cores: string, n: number): string | undefined {
  const taken = new Set<number>();
  for (const part of cores.split(',')) {
    const [a, b] = part.split('-').map((x) => Number.parseInt(x, 10));
    if (a === undefined || Number.isNaN(a)) continue;
    for (let c = a; c <= (b === undefined || Number.isNaN(b) ? a : b); c++) taken.add(c);
  }
  const rest: number[] = [];
  for (let c = 0; c < n; c++) if (!taken.has(c)) rest.push(c);
  return rest.length === 0 ? undefined : rest.join(',');
}

/** How many events the file needs: warm-up and a full window, and 5 % to spare (100k to 500k). */
export function fileEvents(rule: WindowRule): number {
  const need = rule.warmupEvents + rule.windowEvents;
  return need + Math.min(500_000, Math.max(100_000, Math.ceil(need * 0.05)));
}

const t0 = performance.now();
function log(line: string): void {
  const s = Math.floor((performance.now() - t0) / 1000);
  process.stderr.write(
    `[${String(Math.floor(s / 60)).padStart(2, '0')}:${String(s % 60).padStart(2, '0')}] ${line}\n`,
  );
}
const fmt = (x: number) => (Number.isFinite(x) ? Math.round(x).toLocaleString('en-US') : '–');

/** One round's figures, all over the steady-state window. */
export interface FairRound {
  readonly system: System;
  readonly query: string;
  readonly round: number;
  readonly complete: boolean;
  /** A paced round whose system never caught up with its schedule (its window starts at the warm-up). */
  readonly behind?: boolean;
  readonly events: number;
  readonly durationS: number;
  readonly eventsPerSec: number;
  readonly cpuS: number;
  readonly eventsPerCpuS: number;
  /** Kafka Streams: the broker's CPU over the same window (another process, not pinned). */
  readonly brokerCpuS?: number;
  /** Second half vs first half of the window (a too-short warm-up shows as a large positive drift). */
  readonly drift: number;
  readonly latencyMs: {
    readonly p50: number;
    readonly p99: number;
    readonly max: number;
    readonly n: number;
  } | null;
  readonly peakRssMb: number;
  /**
   * Outputs per 1,000 input events, both counted from the start to the window's end: the same
   * query over the same input gives about the same figure in every system, so one far off
   * drops (or repeats) results and its speed is not comparable (Kafka Streams' short window
   * retention once lost every window that had left its record cache).
   */
  readonly outputsPerKEvents: number;
  /** Seconds from spawn to the window's start (JVM start, Kafka Streams' load, warm-up). */
  readonly startS: number;
  /** Outputs counted by the newest progress line before the process was stopped. */
  readonly outputsAtStop: number;
  /** The Kafka mode: records in the round's output topic after it (a check that outputs were written). */
  readonly outputsInTopic?: number;
  /** Checkpoint mode, eddy and Flink: the newest checkpoint's id left in the round's directory. */
  readonly checkpoints?: number;
  /** A latency round: the fraction of the system's maximum it was offered, and that rate (events/s). */
  readonly load?: number;
  readonly rate?: number;
  /** A maximum-rate round run after the query's paced rounds (`--bracket`). */
  readonly after?: boolean;
}

/** The highest `chk-<id>` under `dir` (eddy's and Flink's checkpoint directories), or 0. */
export function newestCheckpoint(dir: string, depth = 3): number {
  let max = 0;
  let entries: string[];
  try {
    entries = readdirSync(dir);
  } catch {
    return 0;
  }
  for (const name of entries) {
    const m = /^chk-(\d+)$/.exec(name);
    if (m !== null) max = Math.max(max, Number(m[1]));
    else if (depth > 1) max = Math.max(max, newestCheckpoint(join(dir, name), depth - 1));
  }
  return max;
}

function readCpu(pid: number): number | undefined {
  try {
    return procStatCpuMs(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return undefined;
  }
}

function peakRss(pid: number): number {
  try {
    const m = /VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m === null ? Number.NaN : Number(m[1]) / 1024;
  } catch {
    return Number.NaN;
  }
}

interface Command {
  readonly system: System;
  readonly query: string;
  readonly argv: readonly string[];
  readonly brokerPid?: number;
  /** A paced round's rate (events/s): latency is then measured from each event's due time. */
  readonly rate?: number;
  /** A paced round's warm-up: the first events, read at the maximum rate before the schedule starts. */
  readonly warm?: number;
}

/** Runs one round: spawns the pinned process, reads its progress, stops it when the window is complete. */
export function runFairRound(
  cmd: Command,
  s: FairSettings,
  round: number,
  logLine: (l: string) => void,
): Promise<FairRound> {
  const ticks: Tick[] = [];
  const cpu: CpuSample[] = [];
  const broker: CpuSample[] = [];
  const spawned = epochMicros();
  return new Promise((resolve, reject) => {
    const child = spawn('taskset', ['-c', s.cores, ...cmd.argv], { stdio: ['ignore', 'pipe', 'pipe'] });
    const pid = child.pid!;
    let rss = Number.NaN;
    let stopping = false;
    const sample = () => {
      const t = epochMicros();
      const c = readCpu(pid);
      if (c !== undefined) cpu.push({ t, cpuMs: c });
      if (cmd.brokerPid !== undefined) {
        const b = readCpu(cmd.brokerPid);
        if (b !== undefined) broker.push({ t, cpuMs: b });
      }
      const r = peakRss(pid);
      if (Number.isFinite(r)) rss = r;
    };
    sample();
    const sampler = setInterval(sample, s.intervalMs);
    // Paced: the window starts once the system has read all it was due but two intervals' input.
    const ready =
      cmd.rate === undefined
        ? undefined
        : caughtUp(ticks, cmd.rate, (cmd.rate * 2 * s.intervalMs) / 1000, cmd.warm ?? 0);
    let killer: NodeJS.Timeout | undefined;
    const stop = () => {
      if (stopping) return;
      stopping = true;
      sample(); // the CPU reading at the window's end
      child.kill('SIGTERM'); // Kafka Streams deletes its run's topics on SIGTERM
      killer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    };
    const timeout = setTimeout(() => {
      logLine(`${cmd.system} ${cmd.query}: no complete window after 12 min; stopping`);
      stop();
    }, 12 * 60_000);
    let rest = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      rest += d;
      let i = rest.indexOf('\n');
      while (i >= 0) {
        const tick = parseProgress(rest.slice(0, i));
        rest = rest.slice(i + 1);
        i = rest.indexOf('\n');
        if (tick === undefined) continue;
        ticks.push(tick);
        if (!stopping && selectWindow(ticks, s.rule, ready)?.complete === true) stop();
      }
    });
    let errRest = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      errRest += d;
      let i = errRest.indexOf('\n');
      while (i >= 0) {
        logLine(errRest.slice(0, i));
        errRest = errRest.slice(i + 1);
        i = errRest.indexOf('\n');
      }
    });
    child.once('error', reject);
    child.once('close', (code, signal) => {
      clearInterval(sampler);
      clearTimeout(timeout);
      if (killer !== undefined) clearTimeout(killer);
      // A paced system that never caught up with its schedule: measured from its warm-up, and said so.
      const caught = selectWindow(ticks, s.rule, ready);
      const w = caught ?? selectWindow(ticks, s.rule);
      if (w === undefined)
        return reject(
          new Error(
            `${cmd.system} ${cmd.query}: no steady-state window (${ticks.length} progress lines, exit ${signal ?? code})`,
          ),
        );
      if (!stopping && code !== 0)
        return reject(new Error(`${cmd.system} ${cmd.query} failed (${signal ?? `exit ${code}`})`));
      const a = ticks[w.start]!;
      const b = ticks[w.end]!;
      const th = windowThroughput(ticks, w);
      const cpuMs = cpuBetween(cpu, a.t, b.t);
      const newest = (t: number) => newestEventAt(t, NEXMARK_DEFAULTS.eventsPerSecond);
      const due = cmd.rate === undefined ? undefined : scheduledArrival(ticks, cmd.rate, cmd.warm ?? 0);
      const lat = latencySamples(ticks, w, newest, due);
      resolve({
        system: cmd.system,
        query: cmd.query,
        round,
        complete: w.complete,
        ...(ready !== undefined && caught === undefined ? { behind: true } : {}),
        events: th.events,
        durationS: th.durationMs / 1000,
        eventsPerSec: th.eventsPerSec,
        cpuS: cpuMs / 1000,
        eventsPerCpuS: (th.events * 1000) / cpuMs,
        ...(cmd.brokerPid === undefined ? {} : { brokerCpuS: cpuBetween(broker, a.t, b.t) / 1000 }),
        drift: drift(ticks, w),
        latencyMs:
          lat.length === 0
            ? null
            : {
                p50: percentile(lat, 50),
                p99: percentile(lat, 99),
                max: percentile(lat, 100),
                n: lat.length,
              },
        peakRssMb: Math.round(rss),
        outputsPerKEvents: b.events > 0 ? (b.outputs * 1000) / b.events : Number.NaN,
        startS: (a.t - spawned) / 1e6,
        outputsAtStop: ticks.at(-1)?.outputs ?? 0,
      });
    });
  });
}

/** Mean and the Student t 95 % interval over rounds. */
export function interval(xs: readonly number[]): { mean: number; low: number; high: number; n: number } {
  const m = mean(xs);
  if (xs.length < 2) return { mean: m, low: Number.NaN, high: Number.NaN, n: xs.length };
  const sd = Math.sqrt(xs.reduce((acc, x) => acc + (x - m) ** 2, 0) / (xs.length - 1));
  const h = tQuantile(0.975, xs.length - 1) * (sd / Math.sqrt(xs.length));
  return { mean: m, low: m - h, high: m + h, n: xs.length };
}

async function reachable(hostPort: string): Promise<boolean> {
  const i = hostPort.lastIndexOf(':');
  return new Promise((resolve) => {
    const socket = connect({ host: hostPort.slice(0, i), port: Number(hostPort.slice(i + 1)) });
    socket.setTimeout(2000);
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
    socket.once('timeout', () => done(false));
  });
}

function localBrokerPid(brokers: string): number | undefined {
  const m = /^(?:127\.0\.0\.1|localhost):(\d+)$/.exec(brokers.trim());
  if (m === null) return undefined;
  const file = join(process.env.KAFKA_HOME_DIR ?? '.kafka', `broker-${m[1]}`, 'kafka.pid');
  if (!existsSync(file)) return undefined;
  const pid = Number(readFileSync(file, 'utf8').trim());
  return Number.isSafeInteger(pid) && existsSync(`/proc/${pid}`) ? pid : undefined;
}

async function ensureEvents(dir: string, count: number): Promise<string> {
  await mkdir(dir, { recursive: true });
  const path = join(dir, `events-${count}-s1.jsonl`);
  const done = `${path}.done`;
  if (existsSync(path) && existsSync(done) && statSync(path).size === Number(readFileSync(done, 'utf8'))) {
    log(`events: reusing ${path}`);
    return path;
  }
  log(`events: writing ${fmt(count)} events to ${path}`);
  const { bytes } = await exportEvents(path, { count, seed: 1 });
  await writeFile(done, String(bytes));
  return path;
}

function commandOf(
  system: System,
  query: string,
  s: FairSettings,
  file: string,
  events: number,
  brokers: string,
  checkpointDir: string,
  rate?: number,
  outputTopic?: string,
): Command {
  const checkpointing = s.durability === 'checkpoint';
  // A paced round reads its warm-up at the maximum rate; the schedule starts after it (every system).
  const warm = s.rule.warmupEvents;
  const kafka =
    outputTopic === undefined ? undefined : { input: inputTopic(query, events, s), output: outputTopic };
  // In the Kafka mode every system uses the broker: its CPU over the window is each one's second figure.
  const broker = kafka === undefined ? undefined : localBrokerPid(brokers);
  const withBroker = (c: Command): Command => {
    const paced = rate === undefined ? c : { ...c, rate, warm };
    return broker === undefined ? paced : { ...paced, brokerPid: broker };
  };
  if (system === 'eddy') {
    const child = new URL('./eddy-child.ts', import.meta.url).pathname;
    const spec: EddyRoundSpec = {
      query,
      eventsFile: file,
      events,
      profile: rate === undefined ? { kind: 'max' } : { kind: 'constant', rate },
      ...(rate === undefined ? {} : { warmEvents: warm }),
      intervalMs: 1000,
      progressMs: s.intervalMs,
      parallelism: s.parallelism,
      ...(checkpointing ? { checkpoint: { dir: checkpointDir, intervalMs: s.checkpointMs } } : {}),
      ...(kafka === undefined
        ? {}
        : {
            kafka: {
              brokers,
              inputTopic: kafka.input,
              outputTopic: kafka.output,
              groupId: `${kafka.output}-group`,
            },
          }),
    };
    return withBroker({
      system,
      query,
      argv: [process.execPath, '--expose-gc', ...EDDY_NODE_FLAGS, child, JSON.stringify(spec)],
    });
  }
  const base = peerCommand({
    system,
    query,
    eventsFile: file,
    events,
    parallelism: s.parallelism,
    brokers,
    // Kafka Streams' topics are added below, in both modes.
    ...(kafka === undefined || system === 'kafka-streams'
      ? {}
      : { kafka: { inputTopic: kafka.input, outputTopic: kafka.output } }),
  });
  // peerCommand adds --broker-pid for Kafka Streams; the harness measures the broker itself.
  const args = ['java', ...base, '--progress-ms', String(s.intervalMs)];
  if (rate !== undefined)
    args.push('--rate', String(rate), '--warm-events', String(warm), ...LATENCY_TUNING[system]);
  if (system === 'flink' || system === 'flink-sql') {
    if (checkpointing)
      args.push('--checkpoint-ms', String(s.checkpointMs), '--checkpoint-dir', absolute(checkpointDir));
    return withBroker({ system, query, argv: [...args, ...s.peerArgs] });
  }
  if (system === 'spark' || system === 'spark-rt')
    return withBroker({
      system,
      query,
      argv: [...args, ...sparkRoundArgs(system, s, absolute(checkpointDir)), ...s.peerArgs],
    });
  const brokerPid = localBrokerPid(brokers);
  if (checkpointing)
    // In-memory stores with their changelogs, offsets committed (and caches flushed) every interval.
    args.push('--stores', 'memory', '--commit-ms', String(s.checkpointMs));
  // No durability: in-memory stores without changelogs, where the record cache saves neither
  // RocksDB writes nor changelog sends and only adds a layer to every window update, so an expert
  // turns it off (measured in one run each, events per CPU-second: q5 67k without, 37k with;
  // q7 44k/46k, q4 level). With changelogs it stays: it batches their sends.
  else if (rate === undefined) args.push('--cache-bytes', '0');
  // Closed windows looked for at every record (the peer's default). Kafka Streams' own default, at
  // most once a second of wall time, loses windows in a replay: at the maximum rate a second of wall
  // time is tens of seconds of event time, and windows leave the store (its retention is event
  // time) before the next look (measured: q8 emitted 1.00 outputs per 1,000 events against eddy's
  // 8.33, q5 0.01 against 0.05). Where event time keeps pace with the wall clock, the default loses
  // nothing; a replay benchmark is not that case.
  args.push('--emit-interval-ms', '0');
  // A paced round's loader (the producer feeding the topic while the application runs) is a
  // process of its own on the cores the round does not measure, beside the broker; with none
  // left (parallelism = cores) it is a thread of the application's process, on its cores.
  const loaderCores = rate === undefined ? undefined : otherCores(s.cores, availableParallelism());
  if (loaderCores !== undefined) args.push('--loader-cores', loaderCores);
  args.push(
    '--durability',
    checkpointing ? 'changelog' : 'none',
    '--grace-ms',
    String(kafkaStreamsGraceMs(s.parallelism)),
    '--input-topic',
    inputTopic(query, events, s),
    // The round is stopped before its END: window stores keep 2 × size + grace, the least that
    // serves every closed window (Kafka Streams' default, size + grace, loses them: Flow.java).
    '--window-retention',
    'short',
    ...(kafka === undefined ? [] : ['--output-topic', kafka.output]),
  );
  // --peer-args last, so that they override (a peer takes a flag's last value).
  return {
    system,
    query,
    argv: [...args, ...s.peerArgs],
    ...(brokerPid === undefined ? {} : { brokerPid }),
    ...(rate === undefined ? {} : { rate, warm }),
  };
}

/**
 * The Spark peers' own arguments in a round, after `peerCommand`'s. Spark checkpoints offsets,
 * commits and state at every micro-batch whatever the mode: in /dev/shm (memory) by default, on
 * disk in the round's directory (`checkpointDir`) when the round checkpoints.
 */
export function sparkRoundArgs(
  system: 'spark' | 'spark-rt',
  s: Pick<FairSettings, 'durability' | 'checkpointMs'>,
  checkpointDir: string,
): string[] {
  const checkpointing = s.durability === 'checkpoint';
  const args = checkpointing ? ['--checkpoint-dir', checkpointDir] : [];
  if (system === 'spark-rt') {
    // Real-time mode (peerCommand's --trigger real-time): one long-running task per partition, and
    // the batch duration is only how often offsets are checkpointed (no row cap: Spark refuses one
    // there). Durability "none": Spark's default batch, 5 minutes, so no checkpoint falls in a
    // round; "checkpoint": a batch, so a checkpoint, every --checkpoint-s.
    if (checkpointing) args.push('--trigger-ms', String(s.checkpointMs));
  }
  // Larger micro-batches than the default 100,000 rows (each batch costs 0.15–0.3 s of fixed work
  // on one core), as a Spark expert tunes for throughput. In latency rounds too: a batch holds only
  // the lines already due, so the cap matters only once Spark is behind, where the default one
  // kept it behind (q5 at 80 % of its maximum read 90k/s of 119k/s offered, in batches of 100,000).
  else args.push('--max-rows-per-batch', '400000');
  return args;
}

/**
 * The peers' settings in latency rounds, as their experts set them for
 * latency (their defaults favour throughput): Flink sends a network buffer
 * after at most 5 ms instead of 100 and its sources emit watermarks every
 * 10 ms instead of 200 (a window closes at the first watermark past its end);
 * Kafka Streams has no record caches (`statestore.cache.max.bytes` 0: an
 * update goes downstream at once instead of at the next commit, every 30 s at
 * least once; commits stay as the durability mode sets them). eddy has no such knobs:
 * its watermarks move with every batch and batches leave when processed.
 */
const LATENCY_TUNING: Record<PeerSystem, readonly string[]> = {
  flink: ['--buffer-timeout-ms', '5', '--watermark-interval-ms', '10'],
  // Flink SQL keeps nexmark's 2 s mini-batch, which delays its aggregations' output by up to that.
  'flink-sql': ['--buffer-timeout-ms', '5', '--watermark-interval-ms', '10'],
  spark: [],
  // Never used: spark-rt runs in the Kafka mode only, which has no latency rounds.
  'spark-rt': [],
  'kafka-streams': ['--cache-bytes', '0'],
};

/**
 * Kafka Streams' grace in fair rounds. Its stream time is the newest record time a task has seen
 * (no watermarks), so a record behind it by more than the grace is dropped as late. At parallelism 1
 * every input stream is in order (one partition, one task upstream), so no grace is needed (a step
 * fed by a windowed step adds that step's delay itself: q8's join, KsQueries.q8); at higher
 * parallelism, 60 s for the tasks' interleaving.
 */
export function kafkaStreamsGraceMs(parallelism: number): number {
  return parallelism === 1 ? 0 : 60_000;
}

/**
 * Kafka Streams' input topic: per query, since its END records' times depend on the query's
 * windows and grace. The Kafka mode's one topic for every system and query (loaded once, by the
 * first query's loader: rounds are stopped before the END records).
 */
function inputTopic(query: string, events: number, s: FairSettings): string {
  if (s.transport === 'kafka') return `eddy-fair-kin-${events}-p${s.parallelism}`;
  return `eddy-fair-in-${query}-${events}-p${s.parallelism}-g${s.parallelism === 1 ? 0 : 60000}`;
}

/** Runs the fair benchmark with command-line `args`. */
export async function main(args: string[]): Promise<void> {
  let settings: FairSettings | 'help';
  try {
    settings = parseFairSettings(args);
  } catch (e) {
    if (!(e instanceof FlagError)) throw e;
    process.stderr.write(`nexmark-fair: ${e.message}\n`);
    process.exitCode = 2;
    return;
  }
  if (settings === 'help') {
    process.stderr.write(
      `usage: npm run bench -- nexmark-fair [flags]\n${Object.entries(FLAGS)
        .map(([k, f]) => `  --${k}${f.type === 'string' ? ' <value>' : ''}`.padEnd(28) + f.doc)
        .join('\n')}\n`,
    );
    return;
  }
  const s = settings;
  const events = fileEvents(s.rule);
  log(
    `nexmark-fair: ${s.systems.join(' vs ')}; ${s.queries.join(',')}; parallelism ${s.parallelism} on cores ${s.cores}; ` +
      `warm-up ${fmt(s.rule.warmupEvents)} events, window ${fmt(s.rule.windowEvents)} events or ${s.rule.windowMs / 1000} s; ${s.rounds} rounds; durability ${s.durability}`,
  );
  const file = await ensureEvents(s.dir, events);
  const peers = s.systems.filter((x): x is PeerSystem => x !== 'eddy');
  const brokers = process.env.KAFKA_BROKERS ?? '127.0.0.1:9092';
  const kafkaMode = s.transport === 'kafka';
  // The Kafka mode loads its input topics with the Kafka Streams peer's loader.
  const built = kafkaMode && !peers.includes('kafka-streams') ? [...peers, 'kafka-streams' as const] : peers;
  if (built.length > 0) await buildPeers(built, log);
  if ((kafkaMode || peers.includes('kafka-streams')) && !(await reachable(brokers.split(',')[0]!)))
    throw new Error(`no Kafka broker at ${brokers}: run npm run kafka:up`);
  const rounds: FairRound[] = [];
  const loaded: FairRound[] = [];
  const after: FairRound[] = [];
  const errors: string[] = [];
  const topics: string[] = [];
  /**
   * One round of `sys`; at `load` (a fraction of its maximum), paced at `rate` events/s; `isAfter`:
   * the maximum-rate round after the paced ones (`--bracket`).
   */
  const runOne = async (
    sys: System,
    query: string,
    r: number,
    load?: { load: number; rate: number },
    isAfter = false,
  ) => {
    const tail: string[] = [];
    const label = `${query} ${sys}${load === undefined ? '' : ` at ${load.load * 100} % (${fmt(load.rate)}/s)`}${isAfter ? ' (max after the paced rounds)' : ''}`;
    const checkpointDir = join(s.dir, 'checkpoints', `${sys}-${query}-${r}`);
    await rm(checkpointDir, { recursive: true, force: true });
    const round = (outputTopic?: string) =>
      runFairRound(
        commandOf(sys, query, s, file, events, brokers, checkpointDir, load?.rate, outputTopic),
        s,
        r,
        (l) => {
          if (s.verbose) process.stderr.write(`    | ${l}\n`);
          tail.push(l);
          if (tail.length > 20) tail.shift();
        },
      );
    try {
      const ran = kafkaMode ? await kafkaRound(sys, query, r, round) : await round();
      const res: FairRound = {
        ...ran,
        ...(s.durability === 'checkpoint' && sys !== 'kafka-streams' && sys !== 'spark' && sys !== 'spark-rt'
          ? { checkpoints: newestCheckpoint(checkpointDir) }
          : {}),
        ...(load === undefined ? {} : load),
        ...(isAfter ? { after: true } : {}),
      };
      (isAfter ? after : load === undefined ? rounds : loaded).push(res);
      log(
        `${label} ${r}/${isAfter ? 1 : load === undefined ? s.rounds : s.latencyRounds}: ${fmt(res.eventsPerSec)} events/s, ${fmt(res.eventsPerCpuS)} events/CPU-s ` +
          `(${fmt(res.events)} events in ${res.durationS.toFixed(1)} s, CPU ${res.cpuS.toFixed(1)} s` +
          `${res.brokerCpuS === undefined ? '' : `, broker ${res.brokerCpuS.toFixed(1)} s`}), drift ${(res.drift * 100).toFixed(0)} %, ` +
          `latency ${res.latencyMs === null ? '–' : `p50 ${res.latencyMs.p50.toFixed(1)} p99 ${res.latencyMs.p99.toFixed(1)} ms`}` +
          `${res.outputsInTopic === undefined ? '' : `; ${fmt(res.outputsInTopic)} of ${fmt(res.outputsAtStop)} outputs in its topic`}` +
          `${res.complete ? '' : ' (INCOMPLETE window)'}${res.behind === true ? ' (never caught up with its schedule)' : ''}; window began ${res.startS.toFixed(0)} s after spawn` +
          `${res.checkpoints === undefined ? '' : `; newest checkpoint chk-${res.checkpoints}`}`,
      );
    } catch (e) {
      const m = e instanceof Error ? e.message : String(e);
      errors.push(`${label} round ${r}: ${m}`);
      log(`  ! ${label} round ${r}: ${m}\n${tail.map((l) => `    | ${l}`).join('\n')}`);
      process.exitCode = 1;
    } finally {
      await rm(checkpointDir, { recursive: true, force: true });
    }
  };
  /** A Kafka-mode round, with its output topic, checked to hold what the system counted as written. */
  const kafkaRound = async (
    sys: System,
    query: string,
    r: number,
    round: (topic: string) => Promise<FairRound>,
  ) => {
    const { result, records } = await withOutputTopic(
      brokers,
      `eddy-fair-out-${query}-${sys}-${r}-${process.pid}`,
      s.parallelism,
      round,
    );
    // Stopped mid-run, a system may have outputs in its producer's buffer, or written after its
    // last progress line; none at all written means its sink does not write.
    if (result.outputsAtStop > 0 && records === 0)
      throw new Error(`counted ${fmt(result.outputsAtStop)} outputs but wrote none to its output topic`);
    return { ...result, outputsInTopic: records };
  };
  // Alternate, and rotate who goes first, so drift on this shared machine hits all alike.
  const rotated = <T>(xs: readonly T[], r: number) => xs.map((_, i) => xs[(i + r - 1) % xs.length]!);
  for (const query of s.queries) {
    const systems = s.systems.filter((x) => x === 'eddy' || peerQueries(x).includes(query));
    for (const x of peers)
      if (!peerQueries(x).includes(query))
        log(`${query}: ${x} skipped: it runs ${peerQueries(x).join(',')} only (bench/peers/README.md)`);
    const input = inputTopic(query, events, s);
    if ((kafkaMode || systems.includes('kafka-streams')) && !topics.includes(input)) topics.push(input);
    if (kafkaMode) {
      log(`${query}: the input topic ${input} (untimed; loaded once, reused)`);
      const load = commandOf('kafka-streams', query, s, file, events, brokers, '');
      await loadInputTopic(load.argv, log);
    }
    for (let r = 1; r <= s.rounds; r++) for (const sys of rotated(systems, r)) await runOne(sys, query, r);
    // Latency at fixed fractions of each system's own maximum (its mean over the rounds above).
    for (const load of s.loads)
      for (let r = 1; r <= s.latencyRounds; r++)
        for (const sys of rotated(systems, r)) {
          const max = rounds.filter((x) => x.query === query && x.system === sys).map((x) => x.eventsPerSec);
          if (max.length === 0) continue; // its maximum failed: reported above
          await runOne(sys, query, r, { load, rate: Math.max(1, Math.round(load * mean(max))) });
        }
    if (s.bracket)
      for (const sys of systems)
        if (rounds.some((x) => x.query === query && x.system === sys))
          await runOne(sys, query, 1, undefined, true);
  }
  if (topics.length > 0 && !s.keepInput) {
    const cp = peerCommand({
      system: 'kafka-streams',
      query: 'q0',
      eventsFile: file,
      events,
      parallelism: 1,
      brokers,
    });
    const at = cp.indexOf('dev.eddy.peers.kstreams.KafkaStreamsNexmark');
    await new Promise((resolve) => {
      const c = spawn('java', [...cp.slice(0, at + 1), '--delete-topics', brokers, topics.join(',')], {
        stdio: ['ignore', 'ignore', 'inherit'],
      });
      c.once('close', resolve);
      c.once('error', resolve);
    });
  }
  const report = summarise(s, events, rounds, errors, loaded, after);
  await mkdir(s.out, { recursive: true });
  await writeFile(
    join(s.out, 'nexmark-fair.json'),
    `${JSON.stringify({ ...report, rounds, latencyRounds: loaded, ...(s.bracket ? { afterRounds: after } : {}) }, null, 2)}\n`,
  );
  const md = markdownOf(report);
  await writeFile(join(s.out, 'nexmark-fair.md'), md);
  process.stderr.write(`\n${md}\n`);
  process.stdout.write(`${JSON.stringify(report)}\n`);
}

type Summary = ReturnType<typeof interval>;
export interface FairSystemSummary {
  readonly eventsPerSec: Summary;
  readonly eventsPerCpuS: Summary;
  readonly eventsPerCpuSWithBroker?: Summary;
  readonly latencyP50Ms: number | null;
  readonly latencyP99Ms: number | null;
  readonly maxDrift: number;
  readonly incomplete: number;
  readonly peakRssMb: number;
}

const round1 = (x: number) => (Number.isFinite(x) ? Math.round(x) : null);
function compact(i: Summary) {
  return { mean: round1(i.mean), low: round1(i.low), high: round1(i.high), n: i.n };
}

/** The machine-readable summary (the JSON line). */
export function summarise(
  s: FairSettings,
  events: number,
  rounds: readonly FairRound[],
  errors: readonly string[],
  loaded: readonly FairRound[] = [],
  after: readonly FairRound[] = [],
) {
  const queries: Record<string, Record<string, unknown>> = {};
  const warnings: string[] = [];
  const median = (xs: number[]) => {
    const v = [...xs].sort((a, b) => a - b);
    return v.length === 0 ? null : Math.round(((v[(v.length - 1) >> 1]! + v[v.length >> 1]!) / 2) * 10) / 10;
  };
  for (const q of s.queries) {
    const per: Record<string, unknown> = {};
    for (const sys of s.systems) {
      const rs = rounds.filter((r) => r.query === q && r.system === sys);
      if (rs.length === 0) continue;
      const lat = rs.filter((r) => r.latencyMs !== null);
      // `--bracket`: the maximum after the paced rounds, beside the one they were offered fractions of.
      const as = after.filter((r) => r.query === q && r.system === sys);
      const maxAfter = as.length === 0 ? undefined : mean(as.map((r) => r.eventsPerSec));
      const maxBefore = mean(rs.map((r) => r.eventsPerSec));
      // Latency at each fraction of the maximum: medians over its rounds; the rate achieved
      // (below the offered rate, the system did not keep up and its latency grows with the run).
      const atLoad: Record<string, unknown> = {};
      for (const load of s.loads) {
        const ls = loaded.filter((r) => r.query === q && r.system === sys && r.load === load);
        if (ls.length === 0) continue;
        const ll = ls.filter((r) => r.latencyMs !== null);
        atLoad[String(load)] = {
          rate: ls[0]!.rate,
          achievedEventsPerSec: Math.round(mean(ls.map((r) => r.eventsPerSec))),
          latencyP50Ms: median(ll.map((r) => r.latencyMs!.p50)),
          latencyP99Ms: median(ll.map((r) => r.latencyMs!.p99)),
          samples: ll.reduce((a, r) => a + r.latencyMs!.n, 0),
          ...(maxAfter === undefined
            ? {}
            : { ofMaxAfter: Math.round((ls[0]!.rate! / maxAfter) * 100) / 100 }),
          ...(ls.some((r) => r.behind === true)
            ? { behindRounds: ls.filter((r) => r.behind === true).length }
            : {}),
          ...(ls.some((r) => !r.complete) ? { incompleteRounds: ls.filter((r) => !r.complete).length } : {}),
        };
      }
      per[sys === 'kafka-streams' ? 'kafkaStreams' : sys] = {
        eventsPerSec: compact(interval(rs.map((r) => r.eventsPerSec))),
        eventsPerCpuS: compact(interval(rs.map((r) => r.eventsPerCpuS))),
        ...(rs.every((r) => r.brokerCpuS !== undefined)
          ? {
              eventsPerCpuSWithBroker: compact(
                interval(rs.map((r) => r.events / (r.cpuS + (r.brokerCpuS ?? 0)))),
              ),
            }
          : {}),
        latencyP50Ms: median(lat.map((r) => r.latencyMs!.p50)),
        latencyP99Ms: median(lat.map((r) => r.latencyMs!.p99)),
        maxDrift: Math.round(Math.max(...rs.map((r) => r.drift)) * 100) / 100,
        incomplete: rs.filter((r) => !r.complete).length,
        peakRssMb: Math.max(...rs.map((r) => r.peakRssMb)),
        outputsPerKEvents: median(rs.map((r) => r.outputsPerKEvents)),
        ...(Object.keys(atLoad).length === 0 ? {} : { atLoad }),
        ...(maxAfter === undefined
          ? {}
          : {
              maxAfter: {
                eventsPerSec: Math.round(maxAfter),
                eventsPerCpuS: Math.round(mean(as.map((r) => r.eventsPerCpuS))),
                change: Math.round((maxAfter / maxBefore - 1) * 100) / 100,
              },
            }),
      };
    }
    warnings.push(...outputWarnings(q, rounds));
    queries[q] = per;
  }
  return {
    bench: 'nexmark-fair',
    date: new Date().toISOString().slice(0, 10),
    machine: {
      cpus: availableParallelism(),
      memoryGb: Math.round(totalmem() / 2 ** 30),
      node: process.versions.node,
      loadavg: readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' '),
    },
    method: {
      warmupEvents: s.rule.warmupEvents,
      windowEvents: s.rule.windowEvents,
      windowS: s.rule.windowMs / 1000,
      intervalMs: s.intervalMs,
      parallelism: s.parallelism,
      cores: s.cores,
      durability: s.durability,
      ...(s.durability === 'checkpoint' ? { checkpointS: s.checkpointMs / 1000 } : {}),
      transport: s.transport,
      ...(s.loads.length === 0 ? {} : { latencyLoads: s.loads, latencyRounds: s.latencyRounds }),
      ...(s.bracket ? { bracket: true } : {}),
      rounds: s.rounds,
      fileEvents: events,
      ...(s.peerArgs.length === 0 ? {} : { peerArgs: s.peerArgs.join(' ') }),
    },
    queries,
    errors,
    warnings,
  };
}

/**
 * A warning for each peer whose outputs per 1,000 events (median over its rounds) is not within
 * 1.5× of eddy's on `query`: it computes something else or loses results, so its speed says little.
 */
export function outputWarnings(query: string, rounds: readonly FairRound[]): string[] {
  const med = (sys: System) => {
    const v = rounds
      .filter((r) => r.query === query && r.system === sys && Number.isFinite(r.outputsPerKEvents))
      .map((r) => r.outputsPerKEvents)
      .sort((a, b) => a - b);
    return v.length === 0 ? undefined : (v[(v.length - 1) >> 1]! + v[v.length >> 1]!) / 2;
  };
  const ref = med('eddy');
  if (ref === undefined) return [];
  const out: string[] = [];
  for (const sys of new Set(rounds.filter((r) => r.query === query).map((r) => r.system))) {
    const x = med(sys);
    if (sys === 'eddy' || x === undefined) continue;
    if (x * 1.5 >= ref && x <= ref * 1.5) continue;
    out.push(
      `${query} ${sys}: ${x.toFixed(2)} outputs per 1,000 events against eddy's ${ref.toFixed(2)}: ` +
        'it loses, repeats or holds back results, so its speed is not comparable until that is explained',
    );
  }
  return out;
}

function markdownOf(report: ReturnType<typeof summarise>): string {
  const rows = [
    '| query | system | events/s (95 % CI) | events/CPU-s (95 % CI) | latency p50 / p99 ms | max drift | peak RSS MB |',
    '| --- | --- | --- | --- | --- | --- | --- |',
  ];
  const ci = (i: { mean: number | null; low: number | null; high: number | null }) =>
    `${fmt(i.mean ?? Number.NaN)} (${fmt(i.low ?? Number.NaN)}–${fmt(i.high ?? Number.NaN)})`;
  for (const [q, per] of Object.entries(report.queries)) {
    for (const [sys, v] of Object.entries(per as Record<string, FairSummaryJson>)) {
      rows.push(
        `| ${q} | ${sys} | ${ci(v.eventsPerSec)} | ${ci(v.eventsPerCpuS)}${v.eventsPerCpuSWithBroker === undefined ? '' : `; with broker ${ci(v.eventsPerCpuSWithBroker)}`} | ${v.latencyP50Ms ?? '–'} / ${v.latencyP99Ms ?? '–'} | ${Math.round(v.maxDrift * 100)} % | ${v.peakRssMb} |`,
      );
      for (const [load, a] of Object.entries(v.atLoad ?? {}))
        rows.push(
          `| ${q} | ${sys} at ${Number(load) * 100} % | offered ${fmt(a.rate)}${a.ofMaxAfter === undefined ? '' : ` (${Math.round(a.ofMaxAfter * 100)} % of the max after)`}, achieved ${fmt(a.achievedEventsPerSec)}${a.behindRounds === undefined ? '' : ` (never caught up in ${a.behindRounds} round${a.behindRounds === 1 ? '' : 's'})`}${a.incompleteRounds === undefined ? '' : ` (input ended before a full window in ${a.incompleteRounds})`} | | ${a.latencyP50Ms ?? '–'} / ${a.latencyP99Ms ?? '–'} (${a.samples} samples) | | |`,
        );
      if (v.maxAfter !== undefined)
        rows.push(
          `| ${q} | ${sys} max after the paced rounds | ${fmt(v.maxAfter.eventsPerSec)} (${v.maxAfter.change >= 0 ? '+' : ''}${Math.round(v.maxAfter.change * 100)} % against before) | ${fmt(v.maxAfter.eventsPerCpuS)} | | | |`,
        );
    }
  }
  const warned = report.warnings.map((w) => `\n**Warning:** ${w}\n`).join('');
  return `${rows.join('\n')}\n${warned}`;
}

interface FairSummaryJson {
  eventsPerSec: { mean: number | null; low: number | null; high: number | null };
  eventsPerCpuS: { mean: number | null; low: number | null; high: number | null };
  eventsPerCpuSWithBroker?: { mean: number | null; low: number | null; high: number | null };
  latencyP50Ms: number | null;
  latencyP99Ms: number | null;
  maxDrift: number;
  peakRssMb: number;
  atLoad?: Record<
    string,
    {
      rate: number;
      achievedEventsPerSec: number;
      latencyP50Ms: number | null;
      latencyP99Ms: number | null;
      samples: number;
      /** Rounds whose system never caught up with its schedule (measured from the warm-up). */
      behindRounds?: number;
      /** Rounds whose input ended before the window was full (a late catch-up leaves little). */
      incompleteRounds?: number;
      /** `--bracket`: the offered rate as a fraction of the maximum after the paced rounds. */
      ofMaxAfter?: number;
    }
  >;
  /** `--bracket`: the maximum-rate round after the paced rounds; `change` against the maximum before. */
  maxAfter?: { eventsPerSec: number; eventsPerCpuS: number; change: number };
}
