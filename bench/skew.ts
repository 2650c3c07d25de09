/**
 * `npm run bench -- skew` (issue 18): a keyed window aggregation over Zipf
 * 1.0 / 1.5 / 2.0 keys on 2 worker threads, with local-global
 * pre-aggregation (`true`; the default 'auto' runs as it here, as both
 * threads read) and without it (`preAggregate: false`: every
 * record goes to its key's subtask), in alternating rounds, each run in its
 * own child process. For each it reports events/s, events per CPU-second
 * (the child's user + system time, all threads), and the window step's
 * max/mean busy time over its subtasks — how unevenly the hot keys load
 * them. Every run's results are checked against a run at parallelism 1.
 *
 * `--rebalance` compares instead, both without pre-aggregation and both with
 * checkpoints every `--checkpoint-ms` (default 1000) into a temporary
 * directory, key-group rebalancing between the threads (`RunOptions.rebalance`,
 * weighed every `--rebalance-ms`, default 1000) on vs off; "on" also reports
 * how many times groups moved.
 *
 * `--split` compares partial key grouping (`preAggregate: 'split'`: each
 * key's records combined by the less loaded of two subtasks) with the
 * default local pre-aggregation, and then with none, over a source only
 * subtask 0 reads (`splits: 1`, as MQTT, HTTP ingest or a file), where
 * local combining runs in subtask 0 alone; it also reports the combiner's
 * max/mean busy time over its subtasks (`combineSkew`). `--add-cost N` adds N
 * hash rounds to every add, as a costly aggregator (sketches, top-N) would.
 *
 * `--auto` compares `preAggregate: 'auto'` (the run measures and picks;
 * judged every `--spread-ms`, default 500) with local pre-aggregation and
 * then with 'split', over the same one-reader source; each auto run also
 * reports whether it spread at the end, and its changes and trials.
 * `--splits N` (with `--auto`) gives the source N shares that every thread
 * reads instead, where local combining is already even and 'auto' should
 * stay local: what judging costs where no mitigation is needed.
 *
 * `--rate R` paces the source at R events per second of wall time (the
 * zipf job only) and reports each arm's result latency, p50 and p99 (ms from
 * when the newest event of a result was due to the result reaching the sink,
 * the first fifth of the windows left out as warm-up).
 *
 * `--job q5` runs Nexmark q5 over Zipf-skewed bids instead (skew-q5-pipeline.ts:
 * the window step weighed is its per-auction count).
 *
 * Output: progress on stderr, then one JSON line on stdout:
 * {"bench":"skew","events":…,"results":[{"zipf":1.5,"on":{…},"off":{…},"throughputRatio":…}]}
 * ({"bench":"skew-rebalance",…} with --rebalance)
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

/** The jobs: the keyed window aggregation over Zipf keys, or Nexmark q5 over Zipf-skewed bids; and the window step whose busy time is weighed. */
const JOBS = {
  zipf: {
    module: new URL('./skew-pipeline.ts', import.meta.url),
    window: 'window',
    what: '10,000 Zipf keys, 1 s tumbling count/sum',
  },
  q5: {
    module: new URL('./skew-q5-pipeline.ts', import.meta.url),
    window: 'q5-count',
    what: 'Nexmark q5 over bids on Zipf-ranked auctions (the 10,000 newest)',
  },
} as const;
type JobName = keyof typeof JOBS;

interface Run {
  secs: number;
  cpuSecs: number;
  n: number;
  sum: number;
  hash: number;
  /** The window step's busiest subtask ÷ the mean of its subtasks (1 = even). */
  busySkew: number;
  /** Times key groups moved (rebalancing runs). */
  rebalances: number;
  /** The combiner's (`window.local`) busiest subtask ÷ the mean of its subtasks; 0 without one. */
  combineSkew: number;
  /** Paced runs: result latency percentiles (ms) after the first fifth of the windows; else 0. */
  p50: number;
  p99: number;
  /** `preAggregate: 'auto'`: whether it spread at the end, its changes and trials; else absent. */
  spread?: { on: boolean; switches: number; probes: number };
}

/** How a threaded run is set up: pre-aggregation, or rebalancing with checkpoints. */
interface Setup {
  readonly job?: JobName;
  readonly preAggregate: boolean | 'split' | 'auto';
  /** `preAggregate: 'auto'`: its judging interval (ms; RunOptions.spread.intervalMs). */
  readonly spreadMs?: number;
  /** The source's shares (default 8: every thread reads). */
  readonly splits?: number;
  /** Extra hash rounds per record in the aggregator's add (default 0). */
  readonly addCost?: number;
  /** Events per second of wall time (default 0: as fast as it goes); paced runs time their results. */
  readonly rate?: number;
  /** Rebalancing runs: checkpoint and rebalance intervals (ms), and whether to rebalance. */
  readonly rebalance?: { readonly on: boolean; readonly checkpointMs: number; readonly everyMs: number };
}

async function runChild(parallelism: number, events: number, zipf: number, setup: Setup): Promise<Run> {
  const job = JOBS[setup.job ?? 'zipf'];
  const mod = (await import(job.module.href)) as typeof import('./skew-pipeline.ts');
  const values = {
    events,
    keys: 10_000,
    zipf,
    preAggregate: String(setup.preAggregate),
    splits: setup.splits ?? 8,
    addCost: setup.addCost ?? 0,
    rate: setup.rate ?? 0,
  };
  const pipeline = await mod.default.build(values);
  const r = setup.rebalance;
  const dir = r === undefined ? undefined : mkdtempSync(join(tmpdir(), 'eddy-bench-skew-'));
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const running =
    parallelism === 1
      ? await pipeline.start({ parallelism: 1 })
      : await pipeline.startInThreads(job.module.href, values, {
          parallelism,
          ...(setup.spreadMs === undefined ? {} : { spread: { intervalMs: setup.spreadMs } }),
          ...(r === undefined || dir === undefined
            ? {}
            : {
                checkpoints: { dir, intervalMs: r.checkpointMs },
                rebalance: r.on ? { intervalMs: r.everyMs } : false,
              }),
        });
  await running.done;
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  const secs = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const steps = running.metrics().steps;
  const spread = running.metrics().spread;
  return {
    ...(spread === undefined
      ? {}
      : { spread: { on: spread.on, switches: spread.switches, probes: spread.probes } }),
    secs,
    cpuSecs: (cpu.user + cpu.system) / 1e6,
    ...mod.checksum,
    busySkew: maxOverMean(steps[job.window]?.subtaskBusyMicros ?? []) || 1,
    rebalances: running.metrics().rebalances ?? 0,
    combineSkew: maxOverMean(steps[`${job.window}.local`]?.subtaskBusyMicros ?? []),
    ...percentiles((mod as { latencies?: { start: number; ms: number }[] }).latencies ?? []),
  };
}

/** p50 and p99 (ms) of the results of all but the first fifth of the windows (warm-up); 0 when none. */
function percentiles(timed: readonly { start: number; ms: number }[]): { p50: number; p99: number } {
  if (timed.length === 0) return { p50: 0, p99: 0 };
  const starts = timed.map((t) => t.start);
  let lo = starts[0]!;
  let hi = lo;
  for (const x of starts) {
    if (x < lo) lo = x;
    if (x > hi) hi = x;
  }
  const from = lo + (hi - lo) / 5;
  const ms = timed
    .filter((t) => t.start >= from)
    .map((t) => t.ms)
    .sort((a, b) => a - b);
  const at = (q: number) => ms[Math.min(ms.length - 1, Math.floor(q * ms.length))] ?? 0;
  return { p50: Math.round(at(0.5) * 10) / 10, p99: Math.round(at(0.99) * 10) / 10 };
}

/** The largest ÷ the mean (0 when there is nothing). */
function maxOverMean(xs: readonly number[]): number {
  const mean = xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
  return mean > 0 ? Math.max(...xs) / mean : 0;
}

function child(parallelism: number, events: number, zipf: number, setup: Setup): Run {
  const out = execFileSync(
    process.execPath,
    [
      new URL(import.meta.url).pathname,
      '--child',
      String(parallelism),
      '--events',
      String(events),
      '--zipf',
      String(zipf),
      '--setup',
      JSON.stringify(setup),
    ],
    { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] },
  );
  return JSON.parse(out.trim().split('\n').at(-1)!) as Run;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const round = (x: number, d = 3) => Number(x.toFixed(d));

export async function main(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      events: { type: 'string', default: '4000000' },
      rounds: { type: 'string', default: '3' },
      zipf: { type: 'string', default: '1.0,1.5,2.0' },
      rebalance: { type: 'boolean', default: false },
      split: { type: 'boolean', default: false },
      auto: { type: 'boolean', default: false },
      'spread-ms': { type: 'string', default: '500' },
      splits: { type: 'string', default: '1' },
      job: { type: 'string', default: 'zipf' },
      'add-cost': { type: 'string', default: '0' },
      rate: { type: 'string', default: '0' },
      'checkpoint-ms': { type: 'string', default: '1000' },
      'rebalance-ms': { type: 'string', default: '1000' },
    },
  });
  const events = Number(values.events);
  const rounds = Number(values.rounds);
  const exponents = values.zipf.split(',').map(Number);
  if (!(values.job in JOBS))
    throw new Error(`--job must be one of ${Object.keys(JOBS).join(', ')}; received "${values.job}"`);
  const job = values.job as JobName;
  const base = { job, rate: Number(values.rate) };
  if (values.split) return splitBench(base, events, rounds, exponents, Number(values['add-cost']));
  if (values.auto)
    return autoBench(
      base,
      events,
      rounds,
      exponents,
      Number(values['add-cost']),
      Number(values['spread-ms']),
      Number(values.splits),
    );
  if (values.rebalance)
    return rebalanceBench(base, events, rounds, exponents, {
      checkpointMs: Number(values['checkpoint-ms']),
      everyMs: Number(values['rebalance-ms']),
    });
  process.stderr.write(
    `skew: ${events.toLocaleString()} events, ${JOBS[job].what}, 2 worker threads; pre-aggregation on vs off; ${rounds} alternating rounds per exponent\n`,
  );
  const results = [];
  for (const zipf of exponents) {
    const { on, off } = alternate(base, events, zipf, rounds, 'pre-aggregation', (pre) => ({
      preAggregate: pre,
    }));
    results.push(compared(zipf, events, on, off, false));
  }
  process.stdout.write(
    `${JSON.stringify({ bench: 'skew', job, rate: base.rate, events, threads: 2, keys: 10_000, rounds, results })}\n`,
  );
}

/**
 * `rounds` alternating pairs of child runs on 2 threads, the arm "on" set up
 * by `setup(true)`, "off" by `setup(false)`; every run's results are checked
 * against a run at parallelism 1.
 */
function alternate(
  base: { readonly job: JobName; readonly rate: number },
  events: number,
  zipf: number,
  rounds: number,
  what: string,
  setup: (on: boolean) => Setup,
): { on: Run[]; off: Run[] } {
  const { rebalance: _, ...same } = setup(true);
  const oracle = child(1, events, zipf, { ...same, job: base.job, preAggregate: true, rate: 0 });
  const on: Run[] = [];
  const off: Run[] = [];
  for (let r = 1; r <= rounds; r++)
    for (const arm of r % 2 === 1 ? [true, false] : [false, true]) {
      const run = child(2, events, zipf, { ...setup(arm), ...base });
      if (run.n !== oracle.n || run.sum !== oracle.sum || run.hash !== oracle.hash)
        throw new Error(
          `zipf ${zipf}, ${what} ${arm ? 'on' : 'off'}: results differ from parallelism 1 (${run.n}/${run.sum}/${run.hash} vs ${oracle.n}/${oracle.sum}/${oracle.hash})`,
        );
      (arm ? on : off).push(run);
      process.stderr.write(
        `skew: zipf ${zipf} ${what} ${arm ? 'on ' : 'off'}: ${(events / run.secs / 1e6).toFixed(2)}M events/s, ${(events / run.cpuSecs / 1e6).toFixed(2)}M per CPU-s, window busy max/mean ${run.busySkew.toFixed(2)}${run.p99 > 0 ? `, p50 ${run.p50} ms, p99 ${run.p99} ms` : ''}${run.rebalances > 0 ? `, moves ${run.rebalances}` : ''}${run.spread === undefined ? '' : `, spread ${run.spread.on ? 'on' : 'off'} at the end (${run.spread.switches} changes, ${run.spread.probes} trials)`}\n`,
      );
    }
  return { on, off };
}

/** One exponent's result line: each arm's medians (with its moves: `moves`) and their ratios. */
function compared(zipf: number, events: number, on: Run[], off: Run[], moves: boolean) {
  const summary = (runs: Run[]) => ({
    eventsPerSec: Math.round(events / median(runs.map((x) => x.secs))),
    eventsPerCpuSec: Math.round(events / median(runs.map((x) => x.cpuSecs))),
    busySkew: round(median(runs.map((x) => x.busySkew))),
    ...(runs[0]!.p99 > 0
      ? { p50Ms: median(runs.map((x) => x.p50)), p99Ms: median(runs.map((x) => x.p99)) }
      : {}),
    combineSkew: round(median(runs.map((x) => x.combineSkew))),
    ...(moves ? { rebalances: median(runs.map((x) => x.rebalances)) } : {}),
    ...(runs[0]!.spread === undefined ? {} : { spread: runs.map((x) => x.spread) }),
  });
  const a = summary(on);
  const b = summary(off);
  return {
    zipf,
    on: a,
    off: b,
    throughputRatio: round(a.eventsPerSec / b.eventsPerSec),
    cpuRatio: round(a.eventsPerCpuSec / b.eventsPerCpuSec),
    resultsEqual: true,
  };
}

/** Partial key grouping against local pre-aggregation, then against none, over a source subtask 0 reads alone. */
function splitBench(
  base: { readonly job: JobName; readonly rate: number },
  events: number,
  rounds: number,
  exponents: number[],
  addCost: number,
): void {
  const job = base.job;
  process.stderr.write(
    `skew --split: ${events.toLocaleString()} events from a source subtask 0 reads alone, ${JOBS[job].what} (+${addCost} hash rounds per add), 2 worker threads; partial key grouping ('split') vs local pre-aggregation, then vs none; ${rounds} alternating rounds per exponent\n`,
  );
  const results = [];
  for (const zipf of exponents) {
    const local = alternate(base, events, zipf, rounds, 'split (vs local)', (split) => ({
      preAggregate: split ? 'split' : true,
      splits: 1,
      addCost,
    }));
    const none = alternate(base, events, zipf, rounds, 'split (vs none)', (split) => ({
      preAggregate: split ? 'split' : false,
      splits: 1,
      addCost,
    }));
    results.push({
      zipf,
      vsLocal: compared(zipf, events, local.on, local.off, false),
      vsNone: compared(zipf, events, none.on, none.off, false),
    });
  }
  process.stdout.write(
    `${JSON.stringify({ bench: 'skew-split', job, rate: base.rate, events, threads: 2, keys: 10_000, rounds, sourceSplits: 1, addCost, results })}\n`,
  );
}

/**
 * `preAggregate: 'auto'` against the two fixed choices it picks from, local
 * pre-aggregation and partial key grouping, over a source subtask 0 reads
 * alone: with a costly aggregator it should come near 'split', with a cheap
 * one near local, without being told which.
 */
function autoBench(
  base: { readonly job: JobName; readonly rate: number },
  events: number,
  rounds: number,
  exponents: number[],
  addCost: number,
  spreadMs: number,
  splits: number,
): void {
  const job = base.job;
  if (!Number.isSafeInteger(splits) || splits < 1)
    throw new Error(`--splits must be a whole number >= 1; received "${splits}"`);
  const reader =
    splits === 1 ? 'a source subtask 0 reads alone' : `a source of ${splits} shares every thread reads`;
  process.stderr.write(
    `skew --auto: ${events.toLocaleString()} events from ${reader}, ${JOBS[job].what} (+${addCost} hash rounds per add), 2 worker threads; preAggregate 'auto' (judged every ${spreadMs} ms) vs local pre-aggregation, then vs 'split'; ${rounds} alternating rounds per exponent\n`,
  );
  const results = [];
  for (const zipf of exponents) {
    const auto = (on: boolean, other: boolean | 'split'): Setup => ({
      preAggregate: on ? 'auto' : other,
      splits,
      addCost,
      ...(on ? { spreadMs } : {}),
    });
    const local = alternate(base, events, zipf, rounds, 'auto (vs local)', (on) => auto(on, true));
    const split = alternate(base, events, zipf, rounds, 'auto (vs split)', (on) => auto(on, 'split'));
    results.push({
      zipf,
      vsLocal: compared(zipf, events, local.on, local.off, false),
      vsSplit: compared(zipf, events, split.on, split.off, false),
    });
  }
  process.stdout.write(
    `${JSON.stringify({ bench: 'skew-auto', job, rate: base.rate, events, threads: 2, keys: 10_000, rounds, sourceSplits: splits, addCost, spreadMs, results })}\n`,
  );
}

/** Rebalancing on vs off, both without pre-aggregation and with the same checkpoints. */
function rebalanceBench(
  base: { readonly job: JobName; readonly rate: number },
  events: number,
  rounds: number,
  exponents: number[],
  o: { checkpointMs: number; everyMs: number },
): void {
  const job = base.job;
  process.stderr.write(
    `skew --rebalance: ${events.toLocaleString()} events, ${JOBS[job].what}, 2 worker threads, no pre-aggregation, checkpoints every ${o.checkpointMs} ms; key-group rebalancing (weighed every ${o.everyMs} ms) on vs off; ${rounds} alternating rounds per exponent\n`,
  );
  const results = [];
  for (const zipf of exponents) {
    const { on, off } = alternate(base, events, zipf, rounds, 'rebalance', (move) => ({
      preAggregate: false,
      rebalance: { on: move, ...o },
    }));
    results.push(compared(zipf, events, on, off, true));
  }
  process.stdout.write(
    `${JSON.stringify({ bench: 'skew-rebalance', job, rate: base.rate, events, threads: 2, keys: 10_000, rounds, checkpointMs: o.checkpointMs, rebalanceMs: o.everyMs, results })}\n`,
  );
}

if (process.argv[2] === '--child') {
  const { values } = parseArgs({
    args: process.argv.slice(4),
    options: {
      events: { type: 'string' },
      zipf: { type: 'string' },
      setup: { type: 'string' },
    },
  });
  const run = await runChild(
    Number(process.argv[3]),
    Number(values.events),
    Number(values.zipf),
    JSON.parse(values.setup!) as Setup,
  );
  process.stdout.write(`${JSON.stringify(run)}\n`);
  process.exit(0);
}
