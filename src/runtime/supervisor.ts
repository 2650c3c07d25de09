/**
 * Restarts a failed run from its latest checkpoint, as the restart strategy
 * allows (issue 19 point 10; Flink's restart strategies). One supervisor
 * serves every run mode: it only needs a way to start an attempt (a job in
 * this thread, or subtasks in worker threads) from a checkpoint.
 *
 * An error that a restart would only repeat — a configuration or plan error,
 * a user function failing under `errorPolicy: 'fail'` (an `EddyError` whose
 * domain is the user's) — fails the run at once. Anything else (a sink or
 * source failing on I/O, a thread dying) restarts after the strategy's
 * backoff, from the newest complete checkpoint (so exactly-once sinks stay
 * exactly-once), until the failure-rate limit is exceeded: then the run
 * fails with the last error.
 */
import type { LoadedCheckpoint } from '../checkpoint/storage.ts';
import type { Key } from '../core/key-groups.ts';
import type { KeyState, PipelineMetrics, StateScan, StateScanOptions } from '../core/metrics.ts';
import { EddyError } from '../errors/index.ts';
import type { CheckpointInfo } from './checkpoints.ts';
import { type RestartOptions, RestartStrategy } from './restart.ts';

/** One attempt of a run: what `Pipeline.start` returns, for one job. */
export interface Attempt {
  metrics(): PipelineMetrics;
  queryState(step: string, key: Key): Promise<KeyState>;
  scanState(step: string, o: StateScanOptions): Promise<StateScan>;
  stop(): void;
  stopWithSavepoint(dir: string): Promise<CheckpointInfo>;
  checkpoint(): Promise<CheckpointInfo>;
  readonly done: Promise<void>;
}

export interface SuperviseOptions {
  /** Restarting; undefined: the first failure fails the run. */
  readonly restart: RestartOptions | undefined;
  /** The newest complete checkpoint to restart from (undefined: start afresh). */
  readonly latest: () => Promise<LoadedCheckpoint | undefined>;
  /** Called before each restart, with the error, the attempt number and the delay. */
  readonly onRestart?: (info: { error: unknown; restart: number; delayMs: number }) => void;
}

/** Whether restarting could help: not when the error is the user's code or configuration. */
function restartable(error: unknown): boolean {
  return !(error instanceof EddyError && error.domain === 'user');
}

/** Starts `first` and supervises it: on a failure, starts again through `start(latest checkpoint)`. */
export async function supervise(
  first: () => Promise<Attempt>,
  start: (restoreFrom: LoadedCheckpoint | undefined) => Promise<Attempt>,
  options: SuperviseOptions,
): Promise<Attempt> {
  const strategy = options.restart === undefined ? undefined : new RestartStrategy(options.restart);
  let current = await first();
  let stopped = false;
  let restarts = 0;
  let wake: (() => void) | undefined;
  const done = (async () => {
    let attempt: Promise<void> = current.done;
    for (;;) {
      try {
        await attempt;
        return;
      } catch (error) {
        if (stopped || strategy === undefined || !restartable(error)) throw error;
        const delayMs = strategy.onFailure(Date.now());
        if (delayMs === undefined) {
          // Exhausted: the run fails with the last error, and says why it stopped trying.
          if (error instanceof Error)
            error.message = `${error.message} (${strategy.exhaustedMessage('the run')})`;
          throw error;
        }
        restarts++;
        options.onRestart?.({ error, restart: restarts, delayMs });
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, delayMs);
          wake = () => {
            clearTimeout(t);
            resolve();
          };
        });
        wake = undefined;
        if (stopped) return;
        // A restart that fails to start is a failure like any other.
        attempt = options
          .latest()
          .then(start)
          .then((next) => {
            current = next;
            return next.done;
          });
      }
    }
  })();
  done.catch(() => {}); // observed by the caller through `done`
  return {
    metrics: () => ({ ...current.metrics(), restarts }),
    stop: () => {
      stopped = true;
      wake?.();
      current.stop();
    },
    stopWithSavepoint: (dir) => {
      stopped = true;
      return current.stopWithSavepoint(dir);
    },
    checkpoint: () => current.checkpoint(),
    queryState: (step, key) => current.queryState(step, key),
    scanState: (step, o) => current.scanState(step, o),
    done,
  };
}
