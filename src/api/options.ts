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

import type { OptionsSchema } from '../connectors/options.ts';
import { DEFAULT_BATCH_SIZE, DEFAULT_LINGER_MS } from '../core/batch.ts';
import { MAX_TIMER_MS } from '../core/clock.ts';
import { DEFAULT_MAX_PARALLELISM } from '../core/key-groups.ts';
import { configError } from '../errors/index.ts';
import type { ErrorPolicy } from '../operators/operator.ts';
import type { PreAggregate } from '../plan/physical.ts';

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
   * sender, not one record each. Default true; false sends every record to
   * its key's subtask (for comparison: `npm run bench -- skew`).
   *
   * `'split'`: partial key grouping instead. Every record first crosses to
   * the less loaded of two subtasks its key group names, which pre-aggregate
   * it, and the partials then go to the key's subtask. A hot key's records
   * are then combined by two subtasks, and so are those of a source only
   * subtask 0 reads (one that does not split its input: MQTT, HTTP ingest,
   * a file), which `true` combines in subtask 0 alone. It pays a crossing
   * per record, so it gains only where the combining is the costly part.
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
    default: true,
    check: (v) => typeof v === 'boolean' || v === 'split',
    doc: "combine merging window aggregations before the keyed exchange (true), not (false), or by partial key grouping ('split')",
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
