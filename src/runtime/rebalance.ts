/**
 * Load-aware key-group rebalancing between the threads of a run (issue 18):
 * what each key group costs, and which few groups to move so that the busiest
 * thread's keyed work comes near the mean.
 *
 * A group's load is its share of its thread's measured busy time on each
 * keyed step, in proportion to the records of that step the group took over
 * the same interval (`StepMetrics.keyGroupRecords`); so the groups' loads add
 * up to each thread's busy time, which is what the imbalance is judged on.
 *
 * The plan is greedy and sticky, as the Kafka assignor's (`load-balance.ts`
 * of the Kafka connector): while the busiest thread carries more than
 * `1 + threshold` times the mean, the group whose move from it to the least
 * busy thread lowers the larger of the two the most is moved — only when that
 * lowers the busiest thread's load by a clear margin (5 % of the mean:
 * hysteresis, so nearly even loads never move), each group at most once, at
 * most `maxMoves` groups per round. A group heavier than a fair share stays
 * where it is unless moving it still helps: one key cannot be split here
 * (pre-aggregation does that for merging aggregations).
 */

import type { OptionsSchema } from '../connectors/options.ts';
import { type Assignment, validAssignment } from '../core/key-groups.ts';
import type { PipelineMetrics } from '../core/metrics.ts';
import { configError } from '../errors/index.ts';

/** `RunOptions.rebalance`, checked. */
export interface RebalanceSettings {
  /** How often the load is looked at (ms); every look covers the interval since the last one. */
  readonly intervalMs: number;
  /** Imbalance tolerated: the busiest thread may carry up to (1 + threshold) × the mean. */
  readonly threshold: number;
  /** The most key groups moved in one rebalance. */
  readonly maxMoves: number;
  /** Keyed records an interval must have seen before it is judged (fewer: too little to tell). */
  readonly minRecords: number;
}

/** `RunOptions.rebalance` as data: each setting's type, bounds, default and doc (the CLI's help reads it). */
export const REBALANCE_OPTIONS = {
  intervalMs: {
    type: 'integer',
    min: 10,
    max: 86_400_000,
    default: 30_000,
    doc: 'how often (ms) the key groups are weighed',
    example: '30000',
  },
  threshold: {
    type: 'any',
    default: 0.2,
    check: (v) => typeof v === 'number' && v >= 0.05 && v <= 10,
    doc: 'imbalance tolerated: the busiest thread may carry (1 + threshold) × the mean (0.05 to 10)',
    example: '0.2',
  },
  maxMoves: {
    type: 'integer',
    min: 1,
    max: 1_000_000,
    default: 8,
    doc: 'the most key groups moved in one rebalance',
    example: '8',
  },
  minRecords: {
    type: 'integer',
    min: 0,
    default: 10_000,
    doc: 'keyed records an interval must have seen to be judged',
    example: '10000',
  },
} as const satisfies OptionsSchema<RebalanceSettings>;

export const REBALANCE_DEFAULTS: RebalanceSettings = Object.freeze({
  intervalMs: REBALANCE_OPTIONS.intervalMs.default,
  threshold: REBALANCE_OPTIONS.threshold.default,
  maxMoves: REBALANCE_OPTIONS.maxMoves.default,
  minRecords: REBALANCE_OPTIONS.minRecords.default,
});

/** Checks `RunOptions.rebalance`: undefined when off. */
export function checkRebalance(
  o: boolean | Partial<RebalanceSettings> | undefined,
): RebalanceSettings | undefined {
  if (o === undefined || o === false) return undefined;
  if (o !== true && (o === null || typeof o !== 'object'))
    throw configError(
      'rebalance must be true, false or an object',
      o,
      'pass rebalance: { intervalMs: 30000 }',
    );
  const S = REBALANCE_OPTIONS;
  if (o !== true)
    for (const name of Object.keys(o))
      if (!Object.hasOwn(S, name))
        throw configError(
          `rebalance has no option "${name}"`,
          name,
          `use one of ${Object.keys(S).join(', ')}`,
        );
  const r = { ...REBALANCE_DEFAULTS, ...(o === true ? {} : o) };
  const { intervalMs: i, maxMoves: m, minRecords: n } = S;
  if (typeof r.intervalMs !== 'number' || !(r.intervalMs >= i.min && r.intervalMs <= i.max))
    throw configError(
      `rebalance.intervalMs must be from ${i.min} to ${i.max.toLocaleString('en-US')} ms`,
      r.intervalMs,
      `pass e.g. ${i.example}`,
    );
  if (!S.threshold.check(r.threshold))
    throw configError('rebalance.threshold must be a number from 0.05 to 10', r.threshold, 'pass e.g. 0.2');
  if (!Number.isInteger(r.maxMoves) || r.maxMoves < m.min || r.maxMoves > m.max)
    throw configError(
      `rebalance.maxMoves must be a whole number >= ${m.min}`,
      r.maxMoves,
      `pass e.g. ${m.example}`,
    );
  if (!Number.isInteger(r.minRecords) || r.minRecords < n.min)
    throw configError(
      `rebalance.minRecords must be a whole number >= ${n.min}`,
      r.minRecords,
      `pass e.g. ${n.example}`,
    );
  return r;
}

/** The cost of each key group between two metrics snapshots of one attempt. */
export interface GroupLoads {
  /** Busy microseconds of keyed work attributed to each key group. */
  readonly loads: Float64Array;
  /** Keyed records in the interval, over every keyed step. */
  readonly records: number;
}

/**
 * Each key group's share of the keyed steps' busy time from `before` to
 * `now` (`before` undefined: since the attempt started). Undefined when a
 * subtask's figures are missing (a worker that has not reported yet).
 */
export function groupLoads(
  before: PipelineMetrics | undefined,
  now: PipelineMetrics,
  assignment: Assignment,
  parallelism: number,
): GroupLoads | undefined {
  const loads = new Float64Array(assignment.length);
  let records = 0;
  for (const [id, step] of Object.entries(now.steps)) {
    const counts = step.keyGroupRecords;
    if (counts === undefined) continue;
    if (step.subtaskBusyMicros.length !== parallelism) return undefined;
    const old = before?.steps[id];
    const delta = new Float64Array(assignment.length);
    const owned = new Float64Array(parallelism);
    for (let g = 0; g < assignment.length; g++) {
      const d = (counts[g] ?? 0) - (old?.keyGroupRecords?.[g] ?? 0);
      delta[g] = d;
      owned[assignment[g]!]! += d;
      records += d;
    }
    for (let g = 0; g < assignment.length; g++) {
      const k = assignment[g]!;
      if (delta[g] === 0 || owned[k] === 0) continue;
      const busy = step.subtaskBusyMicros[k]! - (old?.subtaskBusyMicros[k] ?? 0);
      loads[g]! += (Math.max(0, busy) * delta[g]!) / owned[k]!;
    }
  }
  return { loads, records };
}

/** One key group moved from one subtask to another. */
export interface Move {
  readonly group: number;
  readonly from: number;
  readonly to: number;
}

/** What a rebalance would do: the new table, the moves, and the busiest load over the mean before and after. */
export interface RebalancePlan {
  readonly assignment: Assignment;
  readonly moves: readonly Move[];
  readonly skewBefore: number;
  readonly skewAfter: number;
}

/** The subtasks' loads under `assignment`. */
function subtaskLoads(assignment: Assignment, loads: ArrayLike<number>, parallelism: number): Float64Array {
  const per = new Float64Array(parallelism);
  for (let g = 0; g < assignment.length; g++) per[assignment[g]!]! += loads[g]!;
  return per;
}

/** The few moves that even the load (see the file's comment), or undefined when none is worth a restart. */
export function planMoves(
  assignment: Assignment,
  loads: ArrayLike<number>,
  parallelism: number,
  o: Pick<RebalanceSettings, 'threshold' | 'maxMoves'>,
): RebalancePlan | undefined {
  if (!validAssignment(assignment, assignment.length, parallelism) || parallelism < 2) return undefined;
  const per = subtaskLoads(assignment, loads, parallelism);
  let total = 0;
  for (const l of per) total += l;
  if (!(total > 0)) return undefined;
  const mean = total / parallelism;
  const margin = 0.05 * mean;
  const skew = () => Math.max(...per) / mean;
  const skewBefore = skew();
  const table = Int32Array.from(assignment);
  const moved = new Set<number>();
  const moves: Move[] = [];
  while (moves.length < o.maxMoves) {
    let h = 0;
    let l = 0;
    for (let k = 1; k < parallelism; k++) {
      if (per[k]! > per[h]!) h = k;
      if (per[k]! < per[l]!) l = k;
    }
    if (per[h]! <= (1 + o.threshold) * mean) break;
    let best = -1;
    let bestPeak = per[h]! - margin;
    for (let g = 0; g < table.length; g++) {
      const x = loads[g]!;
      if (table[g] !== h || !(x > 0) || moved.has(g)) continue;
      const peak = Math.max(per[h]! - x, per[l]! + x);
      if (peak < bestPeak) {
        best = g;
        bestPeak = peak;
      }
    }
    if (best < 0) break;
    const x = loads[best]!;
    table[best] = l;
    per[h]! -= x;
    per[l]! += x;
    moved.add(best);
    moves.push({ group: best, from: h, to: l });
  }
  if (moves.length === 0) return undefined;
  return { assignment: table, moves, skewBefore, skewAfter: skew() };
}
