/**
 * `npm run bench -- nexmark [--quick] [--queries q0,q5,…] [--events N] [--profile …]`
 *
 * The Nexmark benchmark: each query on eddy over an events file, with load
 * profiles. `--vs <peers>` hands every flag to the fair method
 * (`nexmark-fair`, fair.ts): peers are compared only that way. The old
 * comparison (each peer's whole run scored, its JVM cold, issue 14) stays
 * under `--cold-peers flink,kafka-streams`, only to reproduce the record in
 * BENCHMARKS.md ("Before issue 14"). Per query and system:
 * rounds at the maximum rate (throughput, CPU, peak RSS), then latency at
 * fixed fractions of that system's own maximum; optionally bursts, a ramp
 * and skewed keys. Each round is its own process. Statistics follow the
 * Pilot method (`stats.ts`); latency is per output in HDR histograms
 * (`latency.ts`).
 *
 * Writes `bench/results/nexmark.{md,json,svg}` (and the chart also to
 * `--chart <path>`, for one that is committed), prints progress on stderr and
 * ends with one JSON line on stdout:
 * `{"bench":"nexmark","queries":{"q0":{"eddy":…,"flink":…,"kafkaStreams":…,"ratioVsFlink":…},…}}`.
 *
 * @example
 * ```sh
 * npm run bench -- nexmark --quick
 * npm run bench -- nexmark --profile all --queries q5
 * npm run bench -- nexmark --vs flink,flink-sql,kafka-streams,spark --queries q0,q5   # = nexmark-fair
 * ```
 */
import { spawn } from 'node:child_process';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { availableParallelism, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { buildPeers, type PeerResult, peerQueries, runPeer } from '../../peers/index.ts';
import { QUERIES } from '../queries.ts';
import { type EddyRoundResult, type RateProfile, runEddyRound, scheduleOf } from './eddy.ts';
import { type EventsFile, writeEvents, writeSkewedEvents } from './events.ts';
import { histogramMode, initHistograms, mergeEncoded } from './latency.ts';
import {
  chart,
  type LatencyPoint,
  markdown,
  type NexmarkReport,
  type QueryResult,
  type RoundRecord,
  type SystemName,
  type SystemResult,
  summaryLine,
} from './report.ts';
import { compare, type Summary, summarize } from './stats.ts';

const PROFILES = ['max', 'constant', 'bursts', 'ramp', 'skew'] as const;
type ProfileName = (typeof PROFILES)[number];
/** The peers this harness runs (the Flink SQL peer is the fair harness's only). */
type Peer = Exclude<SystemName, 'eddy'>;
const PEERS: readonly Peer[] = ['flink', 'kafka-streams'];
/** A ramp's knee: the first sampling interval whose p99 passes this. */
const RAMP_KNEE_MS = 100;
/** Rounds with fewer steady samples than this are summarised by events/elapsed instead. */
const MIN_SAMPLES = 4;

const FLAGS = {
  vs: {
    type: 'string',
    doc: 'peers to compare with, by the fair method: every flag goes to nexmark-fair (see its --help)',
  },
  'cold-peers': {
    type: 'string',
    doc: "the old, unfair comparison (cold JVMs scored over the whole run): flink, kafka-streams; only to reproduce BENCHMARKS.md's record",
  },
  quick: { type: 'boolean', doc: 'a short run (under 2 minutes): fewer events, rounds and queries' },
  queries: { type: 'string', doc: 'queries to run, e.g. q0,q5 (default: all eddy has; --quick: q0,q2,q5)' },
  events: { type: 'string', doc: 'events per run (default 1,000,000; --quick: 100,000)' },
  profile: {
    type: 'string',
    doc: `load profiles: ${PROFILES.join(', ')} or all (default max,constant; max always runs)`,
  },
  rounds: { type: 'string', doc: 'rounds at maximum rate per query and system (default 3; --quick: 1)' },
  'latency-rounds': { type: 'string', doc: 'rounds per fixed-rate point (default 2; --quick: 1)' },
  fractions: {
    type: 'string',
    doc: 'fixed rates as fractions of each maximum (default 0.5,0.8; --quick: 0.5)',
  },
  interval: { type: 'string', doc: 'eddy sampling interval in ms (default 100; --quick: 50)' },
  parallelism: {
    type: 'string',
    doc: 'peers’ parallelism (default: the number of cores, as Flink and Kafka Streams are run; 1 compares thread for thread with eddy)',
  },
  seed: { type: 'string', doc: 'generator seed (default 1)' },
  zipf: { type: 'string', doc: 'Zipf exponent of the skew profile (default 1.2)' },
  out: { type: 'string', doc: 'where the report goes (default bench/results)' },
  chart: { type: 'string', doc: 'also write the chart (SVG) here, e.g. docs/img/nexmark.svg' },
  'keep-events': { type: 'boolean', doc: 'keep the events files in .bench/nexmark afterwards' },
  verbose: { type: 'boolean', doc: 'pass the peers’ logs through to stderr' },
  help: { type: 'boolean', doc: 'this text' },
} as const;

function usage(): string {
  const lines = Object.entries(FLAGS).map(
    ([name, f]) => `  --${name}${f.type === 'string' ? ' <value>' : ''}`.padEnd(30) + f.doc,
  );
  return `usage: npm run bench -- nexmark [flags]\n${lines.join('\n')}\n`;
}

class FlagError extends Error {}

/** The settings of a run, from the command line. */
export interface Settings {
  readonly systems: readonly SystemName[];
  readonly quick: boolean;
  readonly queries: readonly string[];
  readonly events: number;
  readonly profiles: readonly ProfileName[];
  readonly rounds: number;
  readonly latencyRounds: number;
  readonly fractions: readonly number[];
  readonly intervalMs: number;
  readonly parallelism: number;
  readonly seed: number;
  readonly zipf: number;
  readonly out: string;
  /** A second place for the chart (bench/results is not committed); undefined: none. */
  readonly chart: string | undefined;
  readonly keepEvents: boolean;
  readonly verbose: boolean;
}

function whole(flag: string, value: string | undefined, fallback: number, min = 1): number {
  if (value === undefined) return fallback;
  const n = Number(value.replaceAll('_', ''));
  if (!Number.isSafeInteger(n) || n < min)
    throw new FlagError(
      `--${flag} must be a whole number >= ${min}; received "${value}" (e.g. --${flag} ${fallback})`,
    );
  return n;
}

function list(value: string | undefined): string[] | undefined {
  return value
    ?.split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
}

function chartPath(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  if (!value.endsWith('.svg'))
    throw new FlagError(
      `--chart: the chart is an SVG file; received "${value}" (e.g. --chart docs/img/nexmark.svg)`,
    );
  return value;
}

/** Parses and checks the flags; throws a `FlagError` naming the flag and the fix. */
export function parseSettings(args: readonly string[]): Settings | 'help' {
  let values: Record<string, string | boolean | undefined>;
  try {
    const options = Object.fromEntries(Object.entries(FLAGS).map(([k, f]) => [k, { type: f.type }]));
    ({ values } = parseArgs({ args: [...args], options, strict: true, allowPositionals: false }));
  } catch (e) {
    const m = (e as Error).message;
    const flag = /'(-[^']*)'/.exec(m)?.[1];
    throw new FlagError(
      flag !== undefined && /Unknown option/.test(m)
        ? `unknown flag ${flag}; run with --help for the flags`
        : `${m}; run with --help for the flags`,
    );
  }
  if (values.help === true) return 'help';
  const quick = values.quick === true;
  const str = (k: keyof typeof FLAGS) => values[k] as string | undefined;
  if (str('vs') !== undefined)
    throw new FlagError('--vs compares by the fair method: run npm run bench -- nexmark-fair --vs …');
  const vs = list(str('cold-peers')) ?? [];
  for (const s of vs)
    if (!PEERS.includes(s as Peer))
      throw new FlagError(
        `--cold-peers: unknown system "${s}"; use flink, kafka-streams or both (for a fair comparison: --vs)`,
      );
  const known = Object.keys(QUERIES);
  // --quick: two stateless queries and one windowed; q5 costs ~15 s of the ~30 s with both peers here.
  const queries = list(str('queries')) ?? (quick ? ['q0', 'q2', 'q5'] : known);
  for (const q of queries)
    if (!known.includes(q))
      throw new FlagError(`--queries: unknown query "${q}"; eddy has ${known.join(',')}`);
  if (queries.length === 0) throw new FlagError('--queries is empty; name at least one, e.g. --queries q0');
  let profiles = list(str('profile')) ?? ['max', 'constant'];
  if (profiles.includes('all')) profiles = [...PROFILES];
  for (const p of profiles)
    if (!PROFILES.includes(p as ProfileName))
      throw new FlagError(`--profile: unknown profile "${p}"; use ${PROFILES.join(', ')} or all`);
  if (!profiles.includes('max')) profiles.unshift('max'); // the fixed rates are fractions of the maximum
  const fractions = (list(str('fractions')) ?? (quick ? ['0.5'] : ['0.5', '0.8'])).map((f) => {
    const n = Number(f);
    if (!(n > 0 && n <= 1.5))
      throw new FlagError(`--fractions: "${f}" is not in (0, 1.5]; e.g. --fractions 0.5,0.8`);
    return n;
  });
  const zipf = Number(str('zipf') ?? '1.2');
  if (!(zipf > 0 && Number.isFinite(zipf)))
    throw new FlagError(`--zipf must be a number > 0; received "${str('zipf')}"`);
  return {
    systems: ['eddy', ...PEERS.filter((p) => vs.includes(p))],
    quick,
    queries,
    events: whole('events', str('events'), quick ? 100_000 : 1_000_000),
    profiles: profiles as ProfileName[],
    rounds: whole('rounds', str('rounds'), quick ? 1 : 3),
    latencyRounds: whole('latency-rounds', str('latency-rounds'), quick ? 1 : 2),
    fractions,
    intervalMs: whole('interval', str('interval'), quick ? 50 : 100, 10),
    parallelism: whole('parallelism', str('parallelism'), availableParallelism()),
    seed: whole('seed', str('seed'), 1, 0),
    zipf,
    out: str('out') ?? 'bench/results',
    chart: chartPath(str('chart')),
    keepEvents: values['keep-events'] === true,
    verbose: values.verbose === true,
  };
}

// ---- Running ------------------------------------------------------------------

const t0 = performance.now();
function log(line: string): void {
  const s = Math.floor((performance.now() - t0) / 1000);
  process.stderr.write(
    `[${String(Math.floor(s / 60)).padStart(2, '0')}:${String(s % 60).padStart(2, '0')}] ${line}\n`,
  );
}

function fmt(x: number): string {
  return Math.round(x).toLocaleString('en-US');
}

/** A peer's log: passed through with --verbose, else the last lines kept for an error. */
function peerLog(verbose: boolean, tail: string[]): (line: string) => void {
  return (line) => {
    if (verbose) process.stderr.write(`    | ${line}\n`);
    tail.push(line);
    if (tail.length > 30) tail.shift();
  };
}

function tcpOpen(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
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

/** Makes sure a Kafka broker answers for Kafka Streams: starts the local one (`npm run kafka:up`) if not. */
async function ensureBroker(): Promise<string> {
  const brokers = process.env.KAFKA_BROKERS ?? '127.0.0.1:9092';
  for (const b of brokers.split(',')) {
    const i = b.lastIndexOf(':');
    if (await tcpOpen(b.slice(0, i).trim(), Number(b.slice(i + 1)))) return brokers;
  }
  if (process.env.KAFKA_BROKERS !== undefined)
    throw new Error(
      `Kafka broker not reachable at KAFKA_BROKERS=${brokers}; start it or unset KAFKA_BROKERS`,
    );
  log('kafka: no broker at 127.0.0.1:9092; starting one with npm run kafka:up');
  const code = await new Promise<number | null>((resolve, reject) => {
    // The broker script's output goes to stderr: stdout carries only the final JSON line.
    const child = spawn('npm', ['run', '--silent', 'kafka:up'], { stdio: ['ignore', 2, 2] });
    child.once('error', reject);
    child.once('close', resolve);
  });
  if (code !== 0) throw new Error(`npm run kafka:up failed (exit ${code}); see its output above`);
  return brokers;
}

interface RunContext {
  readonly settings: Settings;
  readonly brokers: string | undefined;
}

/** One round of a system: eddy in its child process, a peer in its JVM. Normalised to what the report needs. */
interface Round {
  readonly events: number;
  readonly outputs: number;
  readonly elapsedMs: number;
  readonly eventsPerSec: number;
  /** User + system CPU during the timed run. */
  readonly cpuMs: number;
  /** eddy: user + system CPU of the whole child process (start-up and loading too). */
  readonly processCpuMs?: number;
  readonly peakRssMb: number;
  readonly samples: readonly number[];
  /** eddy: the merged histogram of the round; peers: their percentiles. */
  readonly latency: {
    readonly encoded?: string;
    readonly p50: number;
    readonly p99: number;
    readonly p999: number;
    readonly count: number;
  } | null;
  readonly behindMs: number;
  readonly intervalP99?: readonly number[];
}

async function runRound(
  ctx: RunContext,
  system: SystemName,
  query: string,
  file: EventsFile,
  profile: RateProfile,
): Promise<Round> {
  if (system === 'eddy') {
    const r: EddyRoundResult = await runEddyRound({
      query,
      eventsFile: file.path,
      events: file.events,
      profile,
      intervalMs: ctx.settings.intervalMs,
    });
    return {
      ...r,
      // CPU of the timed run, as the peers report theirs; the whole process's is in processCpuMs.
      cpuMs: r.runCpuMs,
      processCpuMs: r.cpuMs,
      latency: r.latency,
      behindMs: r.finalLagMs,
      ...(r.latency === null ? {} : { intervalP99: r.latency.intervalP99 }),
    };
  }
  if (profile.kind !== 'max' && profile.kind !== 'constant')
    throw new Error(`${system} runs only the maximum and constant rates, not ${profile.kind}`);
  const tail: string[] = [];
  try {
    const r: PeerResult = await runPeer({
      system,
      query,
      eventsFile: file.path,
      events: file.events,
      parallelism: ctx.settings.parallelism,
      ...(profile.kind === 'constant' ? { rate: Math.max(1, Math.round(profile.rate)) } : {}),
      ...(ctx.brokers === undefined ? {} : { brokers: ctx.brokers }),
      timeoutMs: 15 * 60_000,
      log: peerLog(ctx.settings.verbose, tail),
    });
    // A fixed-rate run that took much longer than its schedule did not sustain the rate.
    const scheduled = profile.kind === 'constant' ? (file.events / profile.rate) * 1000 : r.elapsedMs;
    return {
      events: r.events,
      outputs: r.outputs,
      elapsedMs: r.elapsedMs,
      eventsPerSec: r.eventsPerSec,
      cpuMs: Math.round(r.cpuMs),
      peakRssMb: Math.round(r.peakRssMb),
      samples: r.samples,
      // The peers also report how many outputs they timed (beyond the declared API); 0 when they do not.
      latency:
        r.latencyMs === null
          ? null
          : { ...r.latencyMs, count: (r.latencyMs as { count?: number }).count ?? 0 },
      behindMs: Math.max(0, Math.round(r.elapsedMs - scheduled)),
    };
  } catch (e) {
    if (!ctx.settings.verbose && tail.length > 0)
      process.stderr.write(`    ${system} log (last lines):\n${tail.map((l) => `    | ${l}`).join('\n')}\n`);
    throw e;
  }
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  if (s.length === 0) return Number.NaN;
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** Pilot over the rounds' samples; one events/elapsed per round when the samples are too few. */
function throughputOf(rounds: readonly Round[]): { summary: Summary; from: 'samples' | 'rounds' } {
  if (rounds.length > 0 && rounds.every((r) => r.samples.length >= MIN_SAMPLES))
    return { summary: summarize(rounds.map((r) => r.samples)), from: 'samples' };
  return {
    summary: summarize(
      rounds.map((r) => [r.eventsPerSec]),
      { dropWarmup: false },
    ),
    from: 'rounds',
  };
}

function latencyPoint(
  profile: string,
  fraction: number,
  rate: number,
  rounds: readonly Round[],
): LatencyPoint | undefined {
  // A peer whose sink timed nothing reports zeros: that is no measurement, not zero latency.
  const measured = rounds.filter((r) => r.latency !== null && (r.latency.count > 0 || r.latency.p99 > 0));
  if (measured.length === 0) return undefined;
  const encoded = measured.map((r) => r.latency!.encoded).filter((e): e is string => e !== undefined);
  const behindMs = Math.max(...rounds.map((r) => r.behindMs));
  if (encoded.length === measured.length) {
    // eddy: merge the rounds' histograms.
    const p = mergeEncoded(encoded);
    return {
      profile,
      fraction,
      rate,
      p50: p.p50,
      p99: p.p99,
      p999: p.p999,
      count: p.count,
      rounds: rounds.length,
      behindMs,
    };
  }
  // Peers report percentiles per run: take the median over rounds.
  return {
    profile,
    fraction,
    rate,
    p50: median(measured.map((r) => r.latency!.p50)),
    p99: median(measured.map((r) => r.latency!.p99)),
    p999: median(measured.map((r) => r.latency!.p999)),
    count: measured.reduce((n, r) => n + r.latency!.count, 0),
    rounds: rounds.length,
    behindMs,
  };
}

function record(profile: string, r: Round): RoundRecord {
  return {
    profile,
    elapsedMs: r.elapsedMs,
    eventsPerSec: r.eventsPerSec,
    outputs: r.outputs,
    cpuMs: r.cpuMs,
    ...(r.processCpuMs === undefined ? {} : { processCpuMs: r.processCpuMs }),
    peakRssMb: r.peakRssMb,
    samples: r.samples,
  };
}

interface Acc {
  readonly max: Round[];
  readonly fixed: Map<string, { profile: string; fraction: number; rate: number; rounds: Round[] }>;
  readonly skewMax: Round[];
  readonly skewFixed: Round[];
  skewRate: number;
  ramp?: { from: number; to: number; round: Round; schedule: ReturnType<typeof scheduleOf> };
  readonly records: RoundRecord[];
  readonly errors: string[];
}

async function attempt(
  acc: Acc,
  what: string,
  fn: () => Promise<Round>,
  onRound: (r: Round) => void,
): Promise<void> {
  try {
    const r = await fn();
    onRound(r);
  } catch (e) {
    const full = e instanceof Error ? e.message : String(e);
    const m = full.split('\n')[0]!;
    acc.errors.push(`${what}: ${m}`);
    log(`  ! ${what} failed: ${full.split('\n').slice(-12).join('\n    ')}`);
    process.exitCode = 1;
  }
}

async function runQuery(
  ctx: RunContext,
  query: string,
  plain: EventsFile,
  skewed: EventsFile | undefined,
  skipped: Set<string>,
): Promise<QueryResult> {
  const s = ctx.settings;
  const systems = s.systems.filter((sys) => {
    if (sys === 'eddy' || peerQueries(sys).includes(query)) return true;
    skipped.add(`${sys} has no ${query}; eddy alone ran it`);
    return false;
  });
  const accs = new Map<SystemName, Acc>(
    systems.map((sys) => [
      sys,
      { max: [], fixed: new Map(), skewMax: [], skewFixed: [], skewRate: 0, records: [], errors: [] },
    ]),
  );
  // Maximum rate: the systems alternate round by round, so drift on this shared machine hits all alike.
  for (let round = 1; round <= s.rounds; round++) {
    for (const sys of systems) {
      const acc = accs.get(sys)!;
      await attempt(
        acc,
        `${sys} max round ${round}`,
        () => runRound(ctx, sys, query, plain, { kind: 'max' }),
        (r) => {
          acc.max.push(r);
          acc.records.push(record('max', r));
          log(
            `${query} ${sys} max ${round}/${s.rounds}: ${fmt(r.eventsPerSec)} events/s (${(r.elapsedMs / 1000).toFixed(1)} s, CPU ${(r.cpuMs / 1000).toFixed(1)} s, RSS ${r.peakRssMb} MB, ${fmt(r.outputs)} outputs)`,
          );
        },
      );
    }
  }
  const maxOf = new Map<SystemName, number>();
  for (const sys of systems) {
    const acc = accs.get(sys)!;
    if (acc.max.length > 0) maxOf.set(sys, throughputOf(acc.max).summary.mean);
  }
  // Fixed rates: fractions of each system's own maximum.
  if (s.profiles.includes('constant')) {
    for (const fraction of s.fractions) {
      for (let round = 1; round <= s.latencyRounds; round++) {
        for (const sys of systems) {
          const max = maxOf.get(sys);
          if (max === undefined || !(max > 0)) continue;
          // A JVM run costs ~15-25 s here whatever its length: --quick times the peers at the maximum rate only.
          if (s.quick && sys !== 'eddy') continue;
          const acc = accs.get(sys)!;
          const rate = Math.round(max * fraction);
          const key = `constant-${fraction}`;
          await attempt(
            acc,
            `${sys} ${Math.round(fraction * 100)} % round ${round}`,
            () => runRound(ctx, sys, query, plain, { kind: 'constant', rate }),
            (r) => {
              const point = acc.fixed.get(key) ?? { profile: 'constant', fraction, rate, rounds: [] };
              point.rounds.push(r);
              acc.fixed.set(key, point);
              acc.records.push(record(key, r));
              const l = r.latency;
              log(
                `${query} ${sys} ${Math.round(fraction * 100)} % (${fmt(rate)}/s) ${round}/${s.latencyRounds}: ` +
                  (l === null
                    ? 'no latency reported'
                    : `p50 ${l.p50} ms, p99 ${l.p99} ms, p99.9 ${l.p999} ms`) +
                  (r.behindMs > 1000 ? `, ended ${(r.behindMs / 1000).toFixed(1)} s behind schedule` : ''),
              );
            },
          );
        }
      }
    }
  }
  const eddyMax = maxOf.get('eddy');
  const eddyAcc = accs.get('eddy')!;
  if (s.profiles.includes('bursts') && eddyMax !== undefined) {
    const rate = Math.round(eddyMax * 0.5);
    for (let round = 1; round <= s.latencyRounds; round++) {
      await attempt(
        eddyAcc,
        `eddy bursts round ${round}`,
        () => runRound(ctx, 'eddy', query, plain, { kind: 'bursts', rate }),
        (r) => {
          const point = eddyAcc.fixed.get('bursts') ?? { profile: 'bursts', fraction: 0.5, rate, rounds: [] };
          point.rounds.push(r);
          eddyAcc.fixed.set('bursts', point);
          eddyAcc.records.push(record('bursts', r));
          log(
            `${query} eddy bursts (mean ${fmt(rate)}/s, 2.5× for 20 % of each second) ${round}/${s.latencyRounds}: p99 ${r.latency?.p99} ms`,
          );
        },
      );
    }
  }
  if (s.profiles.includes('ramp') && eddyMax !== undefined) {
    // From 10 % to 150 % of the maximum, over as long as the events last.
    const from = Math.round(eddyMax * 0.1);
    const to = Math.round(eddyMax * 1.5);
    const durationMs = (2 * plain.events * 1000) / (from + to);
    const profile: RateProfile = { kind: 'ramp', from, to, durationMs };
    await attempt(
      eddyAcc,
      'eddy ramp',
      () => runRound(ctx, 'eddy', query, plain, profile),
      (r) => {
        eddyAcc.ramp = { from, to, round: r, schedule: scheduleOf(profile) };
        eddyAcc.records.push(record('ramp', r));
        log(
          `${query} eddy ramp ${fmt(from)}→${fmt(to)}/s: p99 per interval ${r.intervalP99?.map((x) => Math.round(x)).join(' ')} ms`,
        );
      },
    );
  }
  if (s.profiles.includes('skew') && skewed !== undefined) {
    for (let round = 1; round <= s.rounds; round++) {
      for (const sys of systems) {
        const acc = accs.get(sys)!;
        await attempt(
          acc,
          `${sys} skew round ${round}`,
          () => runRound(ctx, sys, query, skewed, { kind: 'max' }),
          (r) => {
            acc.skewMax.push(r);
            acc.records.push(record('skew-max', r));
            log(`${query} ${sys} skewed max ${round}/${s.rounds}: ${fmt(r.eventsPerSec)} events/s`);
          },
        );
      }
    }
    for (const sys of systems) {
      const acc = accs.get(sys)!;
      if (acc.skewMax.length === 0) continue;
      acc.skewRate = Math.round(throughputOf(acc.skewMax).summary.mean * 0.5);
      await attempt(
        acc,
        `${sys} skew 50 %`,
        () => runRound(ctx, sys, query, skewed, { kind: 'constant', rate: acc.skewRate }),
        (r) => {
          acc.skewFixed.push(r);
          acc.records.push(record('skew-50%', r));
          log(`${query} ${sys} skewed 50 % (${fmt(acc.skewRate)}/s): p99 ${r.latency?.p99 ?? '–'} ms`);
        },
      );
    }
  }
  // Summaries.
  const results: Partial<Record<SystemName, SystemResult>> = {};
  for (const sys of systems) {
    const acc = accs.get(sys)!;
    if (acc.max.length === 0) {
      log(`${query} ${sys}: no round finished; left out`);
      continue;
    }
    const t = throughputOf(acc.max);
    const latency: LatencyPoint[] = [];
    for (const p of acc.fixed.values()) {
      const l = latencyPoint(p.profile, p.fraction, p.rate, p.rounds);
      if (l !== undefined) latency.push(l);
      else if (p.rounds.length > 0)
        acc.errors.push(
          `${p.profile} at ${Math.round(p.fraction * 100)} %: no output was timed (latency not reported)`,
        );
    }
    let ramp: SystemResult['ramp'];
    if (acc.ramp !== undefined) {
      const series = acc.ramp.round.intervalP99 ?? [];
      const k = series.findIndex((p99) => p99 > RAMP_KNEE_MS);
      ramp = {
        from: acc.ramp.from,
        to: acc.ramp.to,
        kneeEventsPerSec: k < 0 ? null : Math.round(acc.ramp.schedule!.rateAt(k * s.intervalMs)),
        thresholdMs: RAMP_KNEE_MS,
        intervalP99: series,
      };
    }
    const skewLatency = latencyPoint('constant', 0.5, acc.skewRate, acc.skewFixed);
    results[sys] = {
      system: sys,
      throughput: t.summary,
      throughputFrom: t.from,
      wallEventsPerSec: Math.round(median(acc.max.map((r) => r.eventsPerSec))),
      outputs: acc.max[0]!.outputs,
      cpuMs: Math.round(median(acc.max.map((r) => r.cpuMs))),
      peakRssMb: Math.max(...acc.max.map((r) => r.peakRssMb)),
      latency,
      ...(acc.skewMax.length > 0
        ? {
            skew: {
              throughput: throughputOf(acc.skewMax).summary,
              outputs: acc.skewMax[0]!.outputs,
              latency: skewLatency === undefined ? [] : [skewLatency],
            },
          }
        : {}),
      ...(ramp === undefined ? {} : { ramp }),
      rounds: acc.records,
      errors: acc.errors,
    };
  }
  // Cross-checks and ratios.
  const warnings: string[] = [];
  for (const sys of systems) {
    const acc = accs.get(sys)!;
    const outs = new Set(acc.max.map((r) => r.outputs));
    if (outs.size > 1) warnings.push(`${sys}'s outputs differ between rounds: ${[...outs].join(', ')}`);
  }
  const eddy = results.eddy;
  const ratios: QueryResult['ratios'] = {};
  for (const sys of systems) {
    const r = results[sys];
    if (sys === 'eddy' || r === undefined || eddy === undefined) continue;
    if (r.outputs !== eddy.outputs) {
      const w = `outputs differ: eddy ${fmt(eddy.outputs)}, ${sys} ${fmt(r.outputs)}`;
      warnings.push(w);
      log(`  warning: ${query} ${w}`);
    }
    ratios[sys] = compare(eddy.throughput, r.throughput);
  }
  return { query, systems: results, ratios, warnings };
}

/** Runs the benchmark with command-line `args`; `--vs` runs the fair method instead. */
export async function main(args: string[]): Promise<void> {
  if (args.some((a) => a === '--vs' || a.startsWith('--vs='))) {
    log('nexmark --vs: peers are compared by the fair method only; running nexmark-fair with these flags');
    return (await import('./fair.ts')).main(args);
  }
  let settings: Settings | 'help';
  try {
    settings = parseSettings(args);
  } catch (e) {
    if (!(e instanceof FlagError)) throw e;
    process.stderr.write(`nexmark: ${e.message}\n\n${usage()}`);
    process.exitCode = 2;
    return;
  }
  if (settings === 'help') {
    process.stderr.write(usage());
    return;
  }
  const s = settings;
  const skipped = new Set<string>();
  if (s.quick)
    skipped.add(
      `--quick: ${s.events.toLocaleString('en-US')} events, ${s.rounds} round${s.rounds === 1 ? '' : 's'} at the maximum rate (intervals from its samples), queries ${s.queries.join(',')}; ` +
        `latency at ${s.fractions.map((f) => `${Math.round(f * 100)} %`).join(', ')} for eddy only (${s.latencyRounds} round), none for the peers; no bursts, ramp or skew unless asked`,
    );
  if (s.systems.length > 1 && (s.profiles.includes('bursts') || s.profiles.includes('ramp')))
    skipped.add('bursts and ramp run on eddy only: the peers take a constant rate or none');
  log(
    `nexmark: ${s.systems.join(' vs ')}; ${s.queries.join(',')}; ${fmt(s.events)} events; profiles ${s.profiles.join(',')}; ${s.rounds} round${s.rounds === 1 ? '' : 's'}`,
  );
  const histograms = await initHistograms();
  const dir = join('.bench', 'nexmark');
  const plain = await writeEvents(dir, { count: s.events, seed: s.seed });
  let skewed: EventsFile | undefined;
  log(`events: ${fmt(plain.events)} (${(plain.bytes / 1e6).toFixed(0)} MB) in ${plain.path}`);
  if (s.profiles.includes('skew')) {
    skewed = await writeSkewedEvents(plain, { exponent: s.zipf, seed: s.seed });
    log(`events: skewed copy (Zipf ${s.zipf}) in ${skewed.path}`);
  }
  try {
    const peers = s.systems.filter((x): x is Peer => x !== 'eddy');
    let brokers: string | undefined;
    if (peers.length > 0) {
      const tail: string[] = [];
      log(`peers: building ${peers.join(', ')} (cached when up to date)`);
      await buildPeers(peers, peerLog(s.verbose, tail)).catch((e: unknown) => {
        process.stderr.write(tail.map((l) => `    | ${l}\n`).join(''));
        throw e;
      });
      if (peers.includes('kafka-streams')) brokers = await ensureBroker();
    }
    const ctx: RunContext = { settings: s, brokers };
    const queries: QueryResult[] = [];
    for (const q of s.queries) queries.push(await runQuery(ctx, q, plain, skewed, skipped));
    const mode = histogramMode();
    const report: NexmarkReport = {
      bench: 'nexmark',
      date: new Date().toISOString().slice(0, 10),
      machine: {
        cpus: availableParallelism(),
        memoryGb: Math.round(totalmem() / 2 ** 30),
        node: process.versions.node,
        os: `${process.platform} ${process.arch}`,
      },
      config: {
        events: s.events,
        rounds: s.rounds,
        latencyRounds: s.latencyRounds,
        queries: s.queries,
        systems: s.systems,
        profiles: s.profiles,
        fractions: s.fractions,
        intervalMs: s.intervalMs,
        parallelism: s.parallelism,
        seed: s.seed,
        zipf: s.zipf,
        quick: s.quick,
      },
      histograms:
        histograms === 'wasm'
          ? 'hdr-histogram-js, WebAssembly'
          : `hdr-histogram-js, JS (WebAssembly failed: ${mode.reason})`,
      skipped: [...skipped],
      queries,
      elapsedS: (performance.now() - t0) / 1000,
    };
    await mkdir(s.out, { recursive: true });
    await writeFile(join(s.out, 'nexmark.json'), `${JSON.stringify(report, null, 2)}\n`);
    await writeFile(join(s.out, 'nexmark.md'), markdown(report));
    const svg = chart(report);
    await writeFile(join(s.out, 'nexmark.svg'), svg);
    if (s.chart !== undefined) {
      await mkdir(dirname(s.chart), { recursive: true });
      await writeFile(s.chart, svg);
    }
    log(
      `wrote ${join(s.out, 'nexmark.md')}, nexmark.json and nexmark.svg${s.chart === undefined ? '' : ` (and ${s.chart})`} in ${Math.round(report.elapsedS)} s`,
    );
    process.stderr.write(`\n${markdown(report)}\n`);
    process.stdout.write(`${JSON.stringify(summaryLine(report))}\n`);
  } catch (e) {
    // Setup failures (a peer that does not build, no broker) end the run with what to do, not a stack.
    log(`nexmark: ${e instanceof Error ? e.message : String(e)}`);
    process.exitCode = 1;
  } finally {
    if (!s.keepEvents) {
      await rm(plain.path, { force: true });
      if (skewed !== undefined) await rm(skewed.path, { force: true });
    }
  }
}
