/**
 * A threaded run that moves key groups between its threads when their keyed
 * work is uneven (issue 18; the plan is `../rebalance.ts`).
 *
 * Every `intervalMs` it weighs each key group by the busy time it cost over
 * the interval. When a plan is worth it — the busiest thread above
 * `1 + threshold` times the mean, and the moves taking at least 10 % of the
 * mean off it — the run stops at a checkpoint of its
 * storage — the sources pause at the barrier, sinks commit it, and nothing
 * after it reaches a sink, as for a savepoint — and its threads start again
 * from that checkpoint with the new assignment: each moved group's state
 * (tables and timers, from the checkpoint's per-group chunks) comes back in
 * its new thread, exactly as a restore after a failure or at another
 * parallelism does. Results are the same as without moves; the price of a
 * move is that restart (new threads, the module imported again, the state
 * read back), so moves are few, judged over whole intervals, and only when
 * they clearly help; the first interval after a move is not judged (the new
 * threads warm up), and after the k-th move the next judgement waits 2^k
 * intervals (at most 64), so a load the plan cannot even out does not
 * restart the run again and again. Flink's adaptive scheduler rescales the
 * same way (a restart from a checkpoint).
 *
 * The assignment lives in `shared`, so a restart after a failure (the
 * supervisor's) resumes with the groups where they last were. Counters run on
 * across moves: the metrics of attempts that stopped for a move are added to
 * the running one's.
 */
import { type LoadedCheckpoint, loadCheckpoint } from '../../checkpoint/storage.ts';
import type { Assignment } from '../../core/key-groups.ts';
import type { PipelineMetrics, StepMetrics } from '../../core/metrics.ts';
import { groupLoads, planMoves, type RebalancePlan, type RebalanceSettings } from '../rebalance.ts';
import type { Attempt } from '../supervisor.ts';
import type { ThreadedAttempt } from './cluster.ts';

/** What one rebalance did. */
export interface RebalanceInfo {
  /** The checkpoint the run stopped at and started again from. */
  readonly checkpointId: number;
  readonly moves: RebalancePlan['moves'];
  /** The busiest thread's keyed load over the mean, over the interval before, and as planned after. */
  readonly skewBefore: number;
  readonly skewAfter: number;
  /** From the decision until the new threads ran (ms). */
  readonly pauseMs: number;
}

export interface RebalancingOptions extends RebalanceSettings {
  readonly parallelism: number;
  /** Called after each rebalance. */
  readonly onRebalance?: ((info: RebalanceInfo) => void) | undefined;
}

/** Starts a threaded attempt through `start` and keeps its keyed load even (see the file's comment). */
export async function rebalancing(
  start: (restoreFrom: LoadedCheckpoint | undefined, assignment: Assignment) => Promise<ThreadedAttempt>,
  restoreFrom: LoadedCheckpoint | undefined,
  shared: { assignment: Assignment; rebalances: number },
  o: RebalancingOptions,
): Promise<Attempt> {
  let current = await start(restoreFrom, shared.assignment);
  // The figures of attempts that stopped for a move, added to the running one's.
  let carried: PipelineMetrics | undefined;
  let before: PipelineMetrics | undefined;
  let moving: Promise<void> | undefined;
  let stopped = false;
  let settled = false;
  let settle!: { resolve: () => void; reject: (e: unknown) => void };
  const done = new Promise<void>((resolve, reject) => {
    settle = { resolve, reject };
  });
  done.catch(() => {}); // observed by the caller through `done`
  const timer = setInterval(() => void look(), o.intervalMs);
  timer.unref();
  const end = (error?: unknown) => {
    if (settled) return;
    settled = true;
    clearInterval(timer);
    if (error === undefined) settle.resolve();
    else settle.reject(error);
  };
  /** The run ends with `attempt` unless that attempt was stopped for a move. */
  const follow = (attempt: ThreadedAttempt) => {
    attempt.done.then(
      () => {
        if (attempt === current && moving === undefined) end();
      },
      (e) => {
        if (attempt === current && moving === undefined) end(e);
      },
    );
  };
  follow(current);

  // Looks to skip before the next judgement: after a move, 2^moves intervals (at most 64), so a
  // load that the plan cannot even out (estimates are proportional, costs are not quite) does not
  // restart the run again and again.
  let skip = 0;
  let cold = false;
  const look = async () => {
    if (moving !== undefined || stopped || settled) return;
    const now = current.metrics();
    // The first look after a move only sets the baseline: the new threads were still warming up.
    if (before === undefined && cold) {
      if (groupLoads(undefined, now, shared.assignment, o.parallelism) !== undefined) {
        before = now;
        cold = false;
      }
      return;
    }
    const loads = groupLoads(before, now, shared.assignment, o.parallelism);
    if (loads === undefined) return;
    // Too few records to tell: the interval goes on until it has enough (a slow input is judged
    // over a longer one), rather than judging only the latest slice of it.
    if (loads.records < o.minRecords && skip === 0) return;
    before = now;
    if (skip > 0) {
      skip--;
      return;
    }
    const plan = planMoves(shared.assignment, loads.loads, o.parallelism, o);
    // A move costs a restart: only for a clear gain (the busiest thread 10 % of the mean lighter).
    if (plan === undefined || plan.skewBefore - plan.skewAfter < 0.1) return;
    moving = move(plan);
    await moving;
    skip = 2 ** Math.min(shared.rebalances, 6) - 1;
  };

  const move = async (plan: RebalancePlan) => {
    const t0 = performance.now();
    const old = current;
    let checkpointId: number;
    let dir: string;
    try {
      ({ id: checkpointId, dir } = await old.stopWithCheckpoint());
    } catch {
      // No checkpoint (the input ended meanwhile, or it failed): the run goes on as it was.
      moving = undefined;
      old.done.then(
        () => end(),
        (e) => end(e),
      );
      return;
    }
    try {
      await old.done;
      carried = addMetrics(carried, old.metrics());
      const next = await start(await loadCheckpoint(dir), plan.assignment);
      shared.assignment = plan.assignment;
      shared.rebalances++;
      current = next;
      before = undefined;
      cold = true;
      moving = undefined;
      follow(next);
      if (stopped) next.stop();
      o.onRebalance?.({
        checkpointId,
        moves: plan.moves,
        skewBefore: plan.skewBefore,
        skewAfter: plan.skewAfter,
        pauseMs: performance.now() - t0,
      });
    } catch (e) {
      moving = undefined;
      end(e);
    }
  };

  const metrics = (): PipelineMetrics => {
    const m = carried === undefined ? current.metrics() : addMetrics(carried, current.metrics());
    return { ...m, rebalances: shared.rebalances };
  };
  return {
    metrics,
    stop: () => {
      stopped = true;
      current.stop();
    },
    stopWithSavepoint: async (dir) => {
      stopped = true;
      await moving;
      return current.stopWithSavepoint(dir);
    },
    checkpoint: async () => {
      await moving;
      return current.checkpoint();
    },
    queryState: async (step, key) => {
      await moving;
      return current.queryState(step, key);
    },
    scanState: async (step, so) => {
      await moving;
      return current.scanState(step, so);
    },
    done,
  };
}

/**
 * A finished attempt's counters added to the next one's: records, busy time
 * and the like add up; what describes the present (watermarks, state, the
 * latest checkpoint) is the later attempt's.
 */
function addMetrics(a: PipelineMetrics | undefined, b: PipelineMetrics): PipelineMetrics {
  if (a === undefined) return b;
  const steps: Record<string, StepMetrics> = {};
  for (const [id, m] of Object.entries(b.steps)) {
    const p = a.steps[id];
    if (p === undefined) {
      steps[id] = m;
      continue;
    }
    const byCode: Record<string, number> = { ...p.deadLettersByCode };
    for (const [code, n] of Object.entries(m.deadLettersByCode)) byCode[code] = (byCode[code] ?? 0) + n;
    steps[id] = {
      ...m,
      recordsIn: p.recordsIn + m.recordsIn,
      recordsOut: p.recordsOut + m.recordsOut,
      batchesIn: p.batchesIn + m.batchesIn,
      lateRecords: p.lateRecords + m.lateRecords,
      deadLetters: p.deadLetters + m.deadLetters,
      deadLettersByCode: byCode,
      lastDeadLetter: m.lastDeadLetter ?? p.lastDeadLetter,
      alignmentWaitMs: p.alignmentWaitMs + m.alignmentWaitMs,
      backpressureMs: p.backpressureMs + m.backpressureMs,
      busyMicros: p.busyMicros + m.busyMicros,
      subtaskBusyMicros: m.subtaskBusyMicros.map((x, k) => x + (p.subtaskBusyMicros[k] ?? 0)),
    };
  }
  const checkpoints =
    b.checkpoints === undefined
      ? a.checkpoints
      : {
          ...b.checkpoints,
          completed: b.checkpoints.completed + (a.checkpoints?.completed ?? 0),
          failed: b.checkpoints.failed + (a.checkpoints?.failed ?? 0),
        };
  return {
    ...b,
    steps,
    sourceRecords: a.sourceRecords + b.sourceRecords,
    ...(checkpoints === undefined ? {} : { checkpoints }),
  };
}
