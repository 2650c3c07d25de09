/**
 * How many subtasks each step needs (issue 18: scale recommendation), by the
 * DS2 model (Kalavri et al., "Three steps is all you need", OSDI 2018): a
 * step's *true* processing rate is the records it handled per second of its
 * own busy time — what it would do if it never waited on input or output —
 * and the subtasks it needs are its target input rate divided by that rate.
 * Target input rates follow from the sources' target rate through the
 * observed selectivities: every step's input scales with the sources.
 *
 * From two metrics snapshots of a run (the dashboard's last second), with no
 * other measurement: busy time is what the tasks already count. The answer
 * also names the bottleneck: the step that caps the source rate the job can
 * sustain at its current parallelism.
 *
 * @example
 * ```ts
 * const r = recommend(before, after, { seconds: 1, parallelism: 2, targetRate: 50_000 });
 * r.bottleneck;       // 'enrich'
 * r.sustainableRate;  // 31,200 source records/s at parallelism 2
 * r.steps.find((s) => s.id === 'enrich')?.needed;   // 4
 * ```
 */
import type { PipelineMetrics } from '../core/metrics.ts';

export interface StepScale {
  readonly id: string;
  /** Records in per second over the interval (all subtasks). */
  readonly inputRate: number;
  /** Records per second of busy time: what one subtask does when never idle. */
  readonly trueRate: number;
  /** The input rate this step gets when the sources run at the target rate. */
  readonly targetInputRate: number;
  /** Subtasks that keep up with `targetInputRate` (at least 1). */
  readonly needed: number;
}

export interface ScaleRecommendation {
  /** Records the sources emitted per second over the interval. */
  readonly sourceRate: number;
  /** The sources' rate the recommendation is for (the observed one unless given). */
  readonly targetRate: number;
  /** Steps with input and busy time in the interval (not sources: their busy time is the reading). */
  readonly steps: readonly StepScale[];
  /** Subtasks the busiest step needs: the parallelism to run at. */
  readonly parallelism: number;
  /** The step that caps the sustainable rate, when any step was measured. */
  readonly bottleneck: string | undefined;
  /** The source rate the job sustains at the current parallelism (Infinity when nothing was measured). */
  readonly sustainableRate: number;
}

export interface ScaleOptions {
  /** Seconds between the two snapshots. */
  readonly seconds: number;
  /** Subtasks per step now. */
  readonly parallelism: number;
  /** The sources' rate to plan for (records/s); default the observed one. */
  readonly targetRate?: number;
}

/** Ignore steps with less busy time than this over the interval: too little to measure a rate. */
const MIN_BUSY_SECONDS = 0.001;

export function recommend(
  before: PipelineMetrics,
  after: PipelineMetrics,
  options: ScaleOptions,
): ScaleRecommendation {
  const seconds = options.seconds;
  const sourceRate = seconds > 0 ? Math.max(0, (after.sourceRecords - before.sourceRecords) / seconds) : 0;
  const targetRate = options.targetRate ?? sourceRate;
  const steps: StepScale[] = [];
  let sustainableRate = Number.POSITIVE_INFINITY;
  let bottleneck: string | undefined;
  for (const s of Object.values(after.steps)) {
    if (s.kind === 'source') continue;
    const b = before.steps[s.id];
    const records = s.recordsIn - (b?.recordsIn ?? 0);
    const busy = (s.busyMicros - (b?.busyMicros ?? 0)) / 1e6;
    if (records <= 0 || busy < MIN_BUSY_SECONDS || sourceRate <= 0) continue;
    const inputRate = records / seconds;
    const trueRate = records / busy;
    // Records this step gets per source record, as observed: its input scales with the sources.
    const perSourceRecord = inputRate / sourceRate;
    const targetInputRate = targetRate * perSourceRecord;
    steps.push({
      id: s.id,
      inputRate,
      trueRate,
      targetInputRate,
      needed: Math.max(1, Math.ceil(targetInputRate / trueRate)),
    });
    const caps = (options.parallelism * trueRate) / perSourceRecord;
    if (caps < sustainableRate) {
      sustainableRate = caps;
      bottleneck = s.id;
    }
  }
  return {
    sourceRate,
    targetRate,
    steps,
    parallelism: steps.reduce((n, s) => Math.max(n, s.needed), 1),
    bottleneck,
    sustainableRate,
  };
}
