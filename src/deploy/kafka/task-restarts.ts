/**
 * When a Kafka application's failed partition task may start again (app.ts).
 * Each partition has its own restart strategy: a failure that repeats (a
 * record its sink refuses, say) waits a growing backoff and, past the failure
 * limit, fails the run (issue 19, point 10: such a task used to restart ~30
 * times a second for ever). The brokers being away or busy is waited out for
 * `reconnectTimeoutMs`, as Kafka Streams' `task.timeout.ms` does, without
 * using up the failure limit.
 */
import { isTransientKafkaError } from '../../connectors/kafka/errors.ts';
import { type RestartOptions, RestartStrategy } from '../../runtime/restart.ts';
import { gaveUp } from './gave-up.ts';
import type { PartitionTask } from './task.ts';

interface PartitionRestarts {
  readonly strategy: RestartStrategy;
  readonly waits: RestartStrategy;
  /** Since when its failures have been the brokers being away. */
  transientSince?: number | undefined;
  /** When its task may start again. */
  at: number;
}

export class TaskRestarts {
  readonly #restart: RestartOptions | undefined;
  readonly #reconnectTimeoutMs: number;
  readonly #brokers: readonly string[];
  readonly #byPartition = new Map<string, PartitionRestarts>();

  constructor(o: {
    restart: RestartOptions | undefined;
    reconnectTimeoutMs: number;
    brokers: readonly string[];
  }) {
    this.#restart = o.restart;
    this.#reconnectTimeoutMs = o.reconnectTimeoutMs;
    this.#brokers = o.brokers;
  }

  /**
   * `task` failed (`task.failure`): the delay before its partition's task may
   * start again, or the error the run fails with (the failure limit reached,
   * or the brokers away longer than reconnectTimeoutMs).
   */
  onFailure(task: PartitionTask, now: number): number | Error {
    let r = this.#byPartition.get(task.split);
    if (r === undefined)
      this.#byPartition.set(
        task.split,
        (r = { strategy: new RestartStrategy(this.#restart), waits: transientWaits(), at: 0 }),
      );
    // A task that committed since it last failed is not failing for the same outage.
    if (task.commits > 0) r.transientSince = undefined;
    let delay: number | undefined;
    if (isTransientKafkaError(task.error)) {
      r.transientSince ??= now;
      if (now - r.transientSince > this.#reconnectTimeoutMs)
        return gaveUp(
          `partition task ${task.split} could not reach the brokers ${this.#brokers.join(',')} for ${now - r.transientSince} ms (reconnectTimeoutMs ${this.#reconnectTimeoutMs}); check that they run, or raise reconnectTimeoutMs`,
          task.error ?? task.failure,
        );
      delay = r.waits.onFailure(now);
    } else {
      r.transientSince = undefined;
      delay = r.strategy.onFailure(now);
    }
    if (delay === undefined)
      return gaveUp(r.strategy.exhaustedMessage(`partition task ${task.split}`), task.error ?? task.failure);
    r.at = now + delay;
    return delay;
  }

  /** Whether the task of `split` may start now (it has not failed, or its delay is over). */
  due(split: string, now: number): boolean {
    return (this.#byPartition.get(split)?.at ?? 0) <= now;
  }

  /** How long until the next task's delay is over, at most `max` ms. */
  nextDue(now: number, max: number): number {
    let wake = max;
    for (const r of this.#byPartition.values()) if (r.at > now) wake = Math.min(wake, r.at - now + 1);
    return wake;
  }
}

/**
 * The delays between a task's restarts while the brokers are away: from
 * 100 ms doubling to 2 s (Kafka's reconnect.backoff.max.ms is 1 s), so a task
 * is back within about 2 s of the brokers; never exhausted (reconnectTimeoutMs
 * bounds how long).
 */
function transientWaits(): RestartStrategy {
  return new RestartStrategy({
    initialBackoffMs: 100,
    maxBackoffMs: 2000,
    maxFailures: Number.MAX_SAFE_INTEGER,
  });
}
