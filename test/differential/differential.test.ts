/**
 * The differential suite (issue 19): seeded random pipelines — tumbling,
 * sliding and session windows with lateness (aggregates with and without
 * merge, counts), window and interval joins, keyed process functions with
 * timers, rolling aggregates — over random inputs with disorder, records
 * beyond the bound, throwing user functions, awkward keys (lone surrogates,
 * `__proto__`, numbers beside their strings), hot keys (80 % of the records
 * on one key, its window aggregation split over two subtasks), window
 * aggregations pre-aggregated locally, split or not at all, and batch sizes from 1 up, run
 * at parallelism 1, 2 and 3 in this thread, in worker threads, on the durable
 * state backend, and killed mid-run and resumed from a checkpoint (at another
 * parallelism), each compared with a batch oracle written independently of
 * the engine (cases.ts). The main sink completes its writes later, and
 * reports a write that overlaps the previous one.
 *
 * Every failure names its seed and mode; reproduce one with
 *   EDDY_DIFF_SEED=<seed> node --test test/differential/differential.test.ts
 * and explore more cases with EDDY_DIFF_CASES=<n> (and EDDY_DIFF_FROM=<first seed>).
 * Nothing here depends on timing: every wait is for a condition.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { CheckpointStorage } from '../../src/checkpoint/storage.ts';
import { DEFAULT_MAX_PARALLELISM } from '../../src/core/key-groups.ts';
import { collectSink, type DeadLetter, jsonLinesSink, type Sink, type Source } from '../../src/index.ts';
import { wrapPoll } from '../helpers/wrap-source.ts';
import {
  buildPipeline,
  type Case,
  caseSource,
  check,
  describeCase,
  emptyOutputs,
  expected,
  makeCase,
  type Outputs,
  type Rec,
  Rng,
  strictAsyncSink,
} from './cases.ts';
import differential, { outputsBySeed } from './module.ts';

const env = process.env;
const only = env['EDDY_DIFF_SEED'];
const cases = Number(env['EDDY_DIFF_CASES'] ?? 300);
// npm test runs the suite twice (EDDY_PARALLELISM 1, then 2); each pass takes its own seeds.
const from = Number(env['EDDY_DIFF_FROM'] ?? 1 + (Number(env['EDDY_PARALLELISM'] || 1) - 1) * cases);
const seeds = only !== undefined ? [Number(only)] : Array.from({ length: cases }, (_, i) => from + i);

interface Mode {
  readonly name: string;
  readonly parallelism: number;
  readonly threads?: boolean;
  readonly durable?: boolean;
  /** Killed after this many records (a checkpoint after `checkpointAt`), resumed at `resumeAt`. */
  readonly crash?: {
    readonly checkpointAt: number;
    readonly killAt: number;
    readonly resumeAt: number;
    /** Resume with the key groups dealt to the subtasks at random (as a rebalanced run moves them), from this seed. */
    readonly shuffle?: number;
  };
}

/** The modes a seed runs in: always 1, 2 and 3 subtasks here; some seeds also the others. */
function modesOf(c: Case): Mode[] {
  // Every draw is made whichever modes run, so a seed's modes are the same alone (EDDY_DIFF_SEED) or in a series.
  const r = new Rng(c.seed * 7919);
  const n = c.records.length;
  const durableP = 1 + r.int(3);
  const crashP = 1 + r.int(3);
  const checkpointAt = 1 + r.int(n - 1);
  const killAt = checkpointAt + r.int(n - checkpointAt + 1);
  const resumeAt = 1 + r.int(3);
  const threadsP = 2 + r.int(2);
  const shuffle = r.int(2) === 1 && resumeAt > 1 ? 1 + r.int(1_000_000) : undefined;
  const modes: Mode[] = [1, 2, 3].map((p) => ({ name: `p${p}`, parallelism: p }));
  const all = only !== undefined;
  if (all || c.seed % 4 === 0)
    modes.push({ name: `p${durableP}-durable`, parallelism: durableP, durable: true });
  if (all || c.seed % 3 === 0)
    modes.push({
      name: `p${crashP}-kill-at-${killAt}-resume-p${resumeAt}${shuffle === undefined ? '' : '-shuffled'}`,
      parallelism: crashP,
      crash: { checkpointAt, killAt, resumeAt, ...(shuffle === undefined ? {} : { shuffle }) },
    });
  if (all || c.seed % 6 === 0) {
    modes.push({ name: `threads${threadsP}`, parallelism: threadsP, threads: true });
    if (all || c.seed % 12 === 0)
      modes.push({ name: `threads${threadsP}-durable`, parallelism: threadsP, threads: true, durable: true });
  }
  return modes;
}

const root = mkdtempSync(join(tmpdir(), 'eddy-diff-'));
let runs = 0;

/** Sinks that collect into `out` (the main one completing writes later, checking they never overlap). */
function collectingSinks(out: Outputs) {
  const into = <T>(list: T[]): Sink<T> => ({
    ...collectSink<T>(),
    open: () => ({ write: (vs) => void list.push(...vs) }),
  });
  return {
    main: strictAsyncSink(out.main, out.sinkProblems),
    late: into(out.late),
    dead: into<DeadLetter>(out.dead),
  };
}

async function inProcess(c: Case, mode: Mode): Promise<Outputs> {
  const out = emptyOutputs();
  const state = mode.durable
    ? { kind: 'durable' as const, path: join(root, `state-${runs++}`), cacheEntries: 8 }
    : undefined;
  const p = buildPipeline(c, collectingSinks(out), state === undefined ? {} : { state });
  await p.run({ parallelism: mode.parallelism });
  return out;
}

const moduleUrl = new URL('./module.ts', import.meta.url).href;

async function inThreads(c: Case, mode: Mode): Promise<Outputs> {
  outputsBySeed.delete(c.seed);
  const values = { seed: c.seed, state: mode.durable ? join(root, `state-${runs++}`) : '' };
  const p = await differential.build(values);
  const running = await p.startInThreads(moduleUrl, values, { parallelism: mode.parallelism });
  await running.done;
  return outputsBySeed.get(c.seed)!;
}

/**
 * Hands out records only up to `limit` (over every subtask's reader of every source), so the
 * run can be checkpointed and killed at chosen points; `reached` resolves once
 * that many were handed out (or the input ended).
 */
function gated(sources: readonly Source<Rec>[], total: number) {
  let handed = 0;
  let limit = 0;
  let waiter: { at: number; resolve: () => void } | undefined;
  const notify = () => {
    if (waiter !== undefined && (handed >= waiter.at || handed >= total)) {
      waiter.resolve();
      waiter = undefined;
    }
  };
  const gate = (source: Source<Rec>): Source<Rec> =>
    wrapPoll(source, (_ctx, poll) => async (max) => {
      if (handed >= limit) return { values: [] };
      const batch = await poll(Math.min(max, limit - handed));
      if (batch !== null) handed += batch.values.length;
      notify();
      return batch;
    });
  return {
    sources: sources.map(gate),
    /** Lets records through up to `n` and resolves once they have been handed out. */
    openTo(n: number): Promise<void> {
      limit = n;
      return new Promise<void>((resolve) => {
        waiter = { at: n, resolve };
        notify();
      });
    },
  };
}

/** Every key group dealt to one of `parallelism` subtasks at random, each subtask getting at least one. */
function shuffled(seed: number, parallelism: number): Int32Array {
  const r = new Rng(seed);
  const table = new Int32Array(DEFAULT_MAX_PARALLELISM);
  for (let g = 0; g < table.length; g++) table[g] = g < parallelism ? g : r.int(parallelism);
  return table;
}

function fileSinks(dir: string) {
  return {
    main: jsonLinesSink<unknown>({ path: join(dir, 'main.jsonl') }),
    late: jsonLinesSink<unknown>({ path: join(dir, 'late.jsonl') }),
    dead: jsonLinesSink<DeadLetter>({ path: join(dir, 'dead.jsonl') }),
  };
}

function readLines(path: string): unknown[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return [];
  }
  return text
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l));
}

/**
 * Runs with checkpoints into files (exactly-once): a checkpoint after
 * `checkpointAt` records, a kill (no final checkpoint, nothing committed after
 * it) after `killAt`, then a resume from the latest checkpoint at `resumeAt`
 * subtasks to the end. The files must hold each result once.
 */
async function killAndResume(c: Case, mode: Mode): Promise<Outputs> {
  const { checkpointAt, killAt, resumeAt } = mode.crash!;
  const dir = join(root, `crash-${runs++}`);
  mkdirSync(dir, { recursive: true });
  const storage = new CheckpointStorage(join(dir, 'checkpoints'), 3);
  await storage.clear();
  const gate = gated(
    c.sources === 1 ? [caseSource(c)] : [caseSource(c, 0), caseSource(c, 1)],
    c.records.length,
  );
  const first = buildPipeline(c, fileSinks(dir), { sources: gate.sources }).createJob({
    parallelism: mode.parallelism,
    checkpoints: { storage, intervalMs: 0 },
  });
  await first.start();
  // A run that fails instead must fail the test, not leave it waiting for the gate.
  const failed = first.done.then(() => {
    throw new Error('the first run ended before it was killed');
  });
  await Promise.race([gate.openTo(checkpointAt), failed]);
  const info = await first.triggerCheckpoint();
  assert.equal(info.error, undefined, `checkpoint failed: ${String(info.error)}`);
  await Promise.race([gate.openTo(killAt), failed]);
  failed.catch(() => {});
  await first.cancel(new Error('killed by the test'));
  await first.done.catch(() => {});
  const restoreFrom = await storage.latest();
  assert.notEqual(restoreFrom, undefined, 'a checkpoint to resume from');
  const second = buildPipeline(c, fileSinks(dir)).createJob({
    parallelism: resumeAt,
    ...(mode.crash!.shuffle === undefined ? {} : { assignment: shuffled(mode.crash!.shuffle, resumeAt) }),
    checkpoints: { storage, intervalMs: 0 },
    ...(restoreFrom === undefined ? {} : { restoreFrom }),
  });
  await second.start();
  await second.done;
  return {
    main: readLines(join(dir, 'main.jsonl')),
    late: readLines(join(dir, 'late.jsonl')),
    dead: readLines(join(dir, 'dead.jsonl')) as DeadLetter[],
    sinkProblems: [],
  };
}

describe('differential: random pipelines against a batch oracle', () => {
  after(() => rmSync(root, { recursive: true, force: true }));
  for (const seed of seeds) {
    // The timeout only turns a hang (a bug) into a failure that names its seed; runs take well under a second.
    it(`seed ${seed}`, { timeout: 300_000 }, async () => {
      const c = makeCase(seed);
      const want = expected(c);
      for (const mode of modesOf(c)) {
        const got = mode.threads
          ? await inThreads(c, mode)
          : mode.crash
            ? await killAndResume(c, mode)
            : await inProcess(c, mode);
        const problems = check(c, want, got);
        assert.deepEqual(
          problems,
          [],
          `seed ${seed}, ${mode.name}: ${describeCase(c)}\n  ${problems.slice(0, 15).join('\n  ')}\n` +
            `  reproduce: EDDY_DIFF_SEED=${seed} node --test test/differential/differential.test.ts`,
        );
      }
    });
  }
});
