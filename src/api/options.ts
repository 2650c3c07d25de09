/**
 * The embedded runtime's options as data (STYLE.md: "options are a schema";
 * issue 13): every option of `new Pipeline(…)` and of `run({ checkpoints })`
 * declared once, with its type, bounds, default and one line of doc. The API
 * reads its defaults and bounds from here and refuses names the schema does
 * not declare (a typo such as `intervalMS` is an error, not a silent
 * default); `eddy run` takes its flags' defaults, bounds and help text from
 * here, so the two cannot drift. The Kafka application's
 * options are `deploy/kafka/options.ts`, key-group rebalancing's
 * `runtime/rebalance.ts` (`REBALANCE_OPTIONS`), the connectors' in their own
 * folders.
 *
 * The values themselves are still checked by `checkInt` / `checkDuration`,
 * whose messages every whole-number option and duration of eddy shares
 * ("batchSize must be an integer >= 1; received 0; …").
 */

import { type OptionsSchema, resolveOptions } from '../connectors/options.ts';
import { DEFAULT_BATCH_SIZE, DEFAULT_LINGER_MS } from '../core/batch.ts';
import { type Clock, MAX_TIMER_MS } from '../core/clock.ts';
import { DEFAULT_MAX_PARALLELISM } from '../core/key-groups.ts';
import { configError } from '../errors/index.ts';
import type { ErrorPolicy } from '../operators/operator.ts';
import type { PreAggregate } from '../plan/physical.ts';
import type { CheckpointInfo } from '../runtime/checkpoints.ts';
import type { RestartOptions } from '../runtime/restart.ts';
import type { RebalanceInfo } from '../runtime/threads/rebalancer.ts';

export interface PipelineOptions {
  /** A name for logs and metrics. */
  readonly name?: string;
  /** The number of key groups (the most workers keyed state can ever be split over). Default 128. */
  readonly maxParallelism?: number;
  /** The most records per batch. Default 1024. */
  readonly batchSize?: number;
  /** The longest (ms) a partly filled batch of async results waits. Default 5. */
  readonly lingerMs?: number;
  /** When a user function throws: 'dead-letter' (default) sends the record there and goes on; 'fail' stops the pipeline. */
  readonly errorPolicy?: ErrorPolicy;
  /**
   * Where keyed state lives: `'heap'` (default; fastest while it fits in
   * memory) or `{ kind: 'durable', path }` for state larger than memory: an
   * embedded LMDB store under `path` (one directory per subtask) with hot
   * entries in a write-back cache of `cacheEntries` (default 100,000). Both
   * are checkpointed the same way.
   */
  readonly state?:
    | 'heap'
    | { readonly kind: 'durable'; readonly path: string; readonly cacheEntries?: number };
  /**
   * At parallelism > 1, whether a window aggregation whose aggregator has a
   * `merge` aggregates in each subtask before the keyed exchange and sends
   * partial results (local-global aggregation, Flink SQL's TWO_PHASE): a hot
   * key's records then cost its subtask one partial per batch of each
   * sender, not one record each. `true` does so always; false sends every
   * record to its key's subtask (for comparison: `npm run bench -- skew`).
   *
   * `'split'`: partial key grouping instead. Every record first crosses to
   * the less loaded of two subtasks its key group names, which pre-aggregate
   * it, and the partials then go to the key's subtask. A hot key's records
   * are then combined by two subtasks, and so are those of a source only
   * subtask 0 reads (one that does not split its input: MQTT, HTTP ingest,
   * a file), which `true` combines in subtask 0 alone. It pays a crossing
   * per record, so it gains only where the combining is the costly part.
   *
   * `'auto'` (the default): on worker threads, starts as `true` and spreads
   * as `'split'` does only while that measurably lowers the busiest thread's
   * work per record (tried when one thread is busy and the others are not;
   * kept only when at least 10 % cheaper; tried again with backoff;
   * `metrics().spread` shows the choice). Without worker threads it is
   * `true`. A checkpoint taken under one mode resumes under any other (the
   * combiners hold nothing across a barrier).
   */
  readonly preAggregate?: PreAggregate;
}

/** Periodic checkpoints to a local directory. */
export interface CheckpointOptions {
  /** The directory (created if missing). Each checkpoint is a subdirectory `chk-<id>`. */
  readonly dir: string;
  /** How often to checkpoint, in ms. Default 10 000; 0 = only at the end and on demand. */
  readonly intervalMs?: number;
  /** How many complete checkpoints to keep. Default 3. */
  readonly retain?: number;
}

export interface RunOptions {
  /** Processing time (default: the system clock). */
  readonly clock?: Clock;
  /**
   * How many subtasks run the pipeline (default 1, or the EDDY_PARALLELISM
   * environment variable). Keyed state is split by key group and keyed records
   * go to their group's subtask; sinks run in subtask 0.
   */
  readonly parallelism?: number;
  /** Aborting stops the sources; the run then drains and finishes. */
  readonly signal?: AbortSignal;
  /**
   * Take checkpoints. Sinks with two-phase commit (the JSON Lines file sink)
   * then make output visible only when a checkpoint completes: exactly-once.
   */
  readonly checkpoints?: CheckpointOptions;
  /**
   * Resume from `'latest'` (the newest complete checkpoint in
   * `checkpoints.dir`; a fresh start when there is none) or from the
   * checkpoint or savepoint directory given. Without it a run starts fresh
   * and removes older checkpoints from `checkpoints.dir`.
   */
  readonly resumeFrom?: 'latest' | (string & {});
  /** Called after each checkpoint or savepoint, with its figures (or its error). */
  readonly onCheckpoint?: (info: CheckpointInfo) => void;
  /**
   * Keyed steps follow their heaviest keys: `metrics().steps[id].hotKeys`,
   * from a sampled sketch (issue 18). Off by default (a few percent of a
   * keyed step's time when on); `eddy run` turns it on with --metrics-port or --ui.
   */
  readonly hotKeys?: boolean;
  /**
   * Runs on worker threads (`eddy run --parallelism N --rebalance`): move key
   * groups between the threads when their keyed work is uneven (issue 18).
   * Every `intervalMs` (default 30 s) each key group is weighed by the busy
   * time it cost; when the busiest thread carries more than `1 + threshold`
   * (default 0.2) times the mean and moving at most `maxMoves` (default 8)
   * groups clearly evens it, the run stops at a checkpoint and its threads
   * start again from it with those groups (and their state) moved. Results
   * are unchanged. Needs `checkpoints`. `true`: the defaults.
   */
  readonly rebalance?:
    | boolean
    | {
        readonly intervalMs?: number;
        readonly threshold?: number;
        readonly maxMoves?: number;
        /** Keyed records an interval must have seen to be judged (default 10,000). */
        readonly minRecords?: number;
      };
  /**
   * How `preAggregate: 'auto'` judges on worker threads
   * (`runtime/threads/spread.ts`, SPREAD_OPTIONS): every `intervalMs`
   * (default 2 s), spreading is tried when the busiest thread is at least
   * `busy` (0.7) of the interval active and `uneven` (1.25) × the mean, and
   * kept when it cuts that thread's active time per record by `gain` (0.1).
   */
  readonly spread?: {
    readonly intervalMs?: number;
    readonly minRecords?: number;
    readonly busy?: number;
    readonly uneven?: number;
    readonly gain?: number;
  };
  /** Called after each rebalance, with the groups moved and the pause. */
  readonly onRebalance?: (info: RebalanceInfo) => void;
  /**
   * What to do when the run fails (a sink or source failing on I/O, a worker
   * thread dying): restart from the newest complete checkpoint after an
   * exponential backoff, at most `maxFailures` times within `intervalMs`, then
   * fail with the last error (Flink's exponential-delay and failure-rate
   * strategies; see `RestartOptions` for the settings). Errors a restart
   * would only repeat — configuration, plan, and user functions under
   * `errorPolicy: 'fail'` — fail at once. Default: restarts with the default
   * settings when the run takes checkpoints, none without (a restart would
   * replay the input from the start); `false`: never.
   */
  readonly restart?: RestartOptions | false;
  /** Called before each restart, with the error, which restart it is and the backoff. */
  readonly onRestart?: (info: { error: unknown; restart: number; delayMs: number }) => void;
}

const isState = (s: unknown): boolean =>
  s === 'heap' ||
  (s !== null &&
    typeof s === 'object' &&
    (s as { kind?: unknown }).kind === 'durable' &&
    typeof (s as { path?: unknown }).path === 'string' &&
    (s as { path: string }).path !== '');

/** `new Pipeline(options)`. */
export const PIPELINE_OPTIONS = {
  name: {
    type: 'string',
    default: 'pipeline',
    doc: 'a name for logs, metrics and checkpoint directories',
    example: '"orders"',
  },
  maxParallelism: {
    type: 'integer',
    min: 1,
    max: 32_768,
    default: DEFAULT_MAX_PARALLELISM,
    doc: 'the number of key groups: the most subtasks keyed state can ever be split over',
    example: '128',
  },
  batchSize: {
    type: 'integer',
    min: 1,
    default: DEFAULT_BATCH_SIZE,
    doc: 'the most records per batch',
    example: '1024',
  },
  lingerMs: {
    type: 'integer',
    min: 0,
    max: MAX_TIMER_MS,
    default: DEFAULT_LINGER_MS,
    doc: 'the longest (ms) a partly filled batch of async results waits',
    example: '5',
  },
  errorPolicy: {
    type: 'any',
    default: 'dead-letter',
    check: (v) => v === 'dead-letter' || v === 'fail',
    doc: "when a user function throws: 'dead-letter' sends the record there and goes on, 'fail' stops",
    example: '"fail"',
  },
  state: {
    type: 'any',
    default: 'heap',
    check: isState,
    doc: "where keyed state lives: 'heap', or { kind: 'durable', path } for state larger than memory",
    example: '{ kind: "durable", path: ".eddy/state" }',
  },
  preAggregate: {
    type: 'any',
    default: 'auto',
    check: (v) => typeof v === 'boolean' || v === 'split' || v === 'auto',
    doc: "combine merging window aggregations before the keyed exchange (true), not (false), by partial key grouping ('split'), or by whichever of the two measures cheaper on worker threads ('auto')",
    example: "'split'",
  },
} as const satisfies OptionsSchema<PipelineOptions>;

/** `run({ checkpoints })`. */
export const CHECKPOINT_OPTIONS = {
  dir: {
    type: 'string',
    required: true,
    doc: 'the directory checkpoints go to (created if missing), one chk-<id> each',
    example: '".eddy/checkpoints"',
  },
  intervalMs: {
    type: 'integer',
    min: 0,
    max: MAX_TIMER_MS,
    default: 10_000,
    doc: 'how often to checkpoint (ms); 0: only at the end and on demand',
    example: '10_000',
  },
  retain: {
    type: 'integer',
    min: 1,
    default: 3,
    doc: 'how many complete checkpoints to keep',
    example: '3',
  },
} as const satisfies OptionsSchema<CheckpointOptions>;

/**
 * `run(options)` and `start(options)`. The options with rules of their own
 * are checked where they are used, with their own messages: parallelism by
 * the job (against maxParallelism), checkpoints by CHECKPOINT_OPTIONS,
 * rebalance by REBALANCE_OPTIONS, restart by `RestartStrategy`.
 */
export const RUN_OPTIONS = {
  clock: {
    type: 'any',
    check: (v) => typeof v === 'object' && v !== null && typeof (v as { now?: unknown }).now === 'function',
    doc: 'processing time: an object with now() (default: the system clock)',
    example: 'manualClock()',
  },
  parallelism: {
    type: 'any',
    doc: 'how many subtasks run the pipeline (default 1, or EDDY_PARALLELISM); checked against maxParallelism',
    example: '2',
  },
  signal: {
    type: 'any',
    check: (v) => v instanceof AbortSignal,
    doc: 'aborting it stops the sources; the run then drains and finishes',
    example: 'controller.signal',
  },
  checkpoints: {
    type: 'any',
    doc: 'take checkpoints (CHECKPOINT_OPTIONS): exactly-once sinks commit at each',
    example: '{ dir: ".eddy/checkpoints" }',
  },
  resumeFrom: {
    type: 'string',
    doc: "resume from 'latest' in checkpoints.dir, or from the checkpoint or savepoint directory given",
    example: '"latest"',
  },
  onCheckpoint: {
    type: 'function',
    doc: 'called after each checkpoint or savepoint with its figures',
    example: '(info) => console.log(info.id)',
  },
  hotKeys: {
    type: 'boolean',
    default: false,
    doc: 'keyed steps follow their heaviest keys (metrics().steps[id].hotKeys)',
    example: 'true',
  },
  rebalance: {
    type: 'any',
    doc: 'on worker threads: move key groups between threads when their work is uneven (REBALANCE_OPTIONS)',
    example: 'true',
  },
  spread: {
    type: 'any',
    doc: "how preAggregate: 'auto' judges on worker threads (SPREAD_OPTIONS)",
    example: '{ intervalMs: 2000 }',
  },
  onRebalance: {
    type: 'function',
    doc: 'called after each rebalance with the groups moved and the pause',
    example: '(info) => console.log(info.moved)',
  },
  restart: {
    type: 'any',
    check: (v) => v === false || (typeof v === 'object' && v !== null),
    doc: 'restart from the newest checkpoint after a failure (RestartOptions), or false for never',
    example: '{ maxFailures: 5 }',
  },
  onRestart: {
    type: 'function',
    doc: 'called before each restart with the error, the count and the backoff',
    example: '(info) => console.warn(info.error)',
  },
} as const satisfies OptionsSchema<RunOptions>;

/** Checks `run`/`start` options against RUN_OPTIONS: unknown names and wrong types fail at once. */
export function checkRunOptions(options: RunOptions): void {
  resolveOptions('run', RUN_OPTIONS, options);
}

/**
 * Refuses an option name `schema` does not declare, naming it and the
 * options there are, as `resolveOptions` does (the values are checked by
 * the caller, with eddy's messages for numbers and durations).
 */
export function refuseUnknown(what: string, schema: object, given: object): void {
  for (const name of Object.keys(given))
    if (!Object.hasOwn(schema, name))
      throw configError(
        `${what} has no option "${name}"`,
        name,
        `use one of ${Object.keys(schema).join(', ')}`,
      );
}
