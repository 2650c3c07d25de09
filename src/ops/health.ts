/**
 * Liveness and readiness of a run (issue 17), as Kubernetes probes read
 * them: `/healthz` fails only when the process should be replaced — the run
 * failed for good (its restart strategy gave up, or an error a restart would
 * only repeat) — and `/readyz` says whether the run is doing its work now:
 * started, its state restored and its sources open (a Kafka application:
 * its partitions assigned and their tasks restored), not between a failure
 * and its restart, not stopping.
 *
 * The CLI moves the phase at the points where it learns something; each
 * answer carries the reason, as JSON.
 *
 * @example
 * ```ts
 * const health = new RunHealth();
 * health.running();                     // pipeline.start() resolved
 * health.liveness();                    // { ok: true, body: { status: 'ok', phase: 'running', ... } }
 * ```
 */

export type RunPhase = 'starting' | 'running' | 'restarting' | 'stopping' | 'finished' | 'failed';

/** One probe's answer: HTTP 200 when ok, else 503; the body explains. */
export interface Probe {
  readonly ok: boolean;
  readonly body: { readonly status: 'ok' | 'unavailable'; readonly phase: RunPhase; readonly reason: string };
}

export class RunHealth {
  #phase: RunPhase = 'starting';
  #reason = 'starting: loading the module, restoring state and opening sources';
  #restartTimer: ReturnType<typeof setTimeout> | undefined;
  /** Why a partition is stuck (`stall.ts`), while it is. */
  #stuck: string | undefined;

  get phase(): RunPhase {
    return this.#phase;
  }

  /** Sources open and state restored (a Kafka application: partitions assigned and restored). */
  running(reason = 'running: state restored, sources open'): void {
    if (this.#final()) return;
    this.#clearTimer();
    this.#set('running', reason);
  }

  /**
   * The run failed and restarts after `delayMs`: not ready until the
   * restart begins. The supervisor tells nothing more, so the phase goes
   * back to running when the backoff is over; a restart that fails to start
   * is a failure like any other and comes back here (or fails the run).
   */
  restarting(restart: number, delayMs: number, error: unknown): void {
    if (this.#final()) return;
    this.#clearTimer();
    this.#set(
      'restarting',
      `restart ${restart} after a failure (${firstLine(error)}); starting again from the newest checkpoint in ${(delayMs / 1000).toFixed(1)} s`,
    );
    this.#restartTimer = setTimeout(() => {
      this.#restartTimer = undefined;
      if (this.#phase === 'restarting') this.#set('running', `running: restarted (restart ${restart})`);
    }, delayMs);
    this.#restartTimer.unref();
  }

  /** Not ready: for a while (a Kafka rebalance), with a reason; alive still. */
  unready(reason: string): void {
    if (this.#final()) return;
    this.#clearTimer();
    this.#set('starting', reason);
  }

  /** Draining or writing a savepoint: alive, not ready. */
  stopping(reason: string): void {
    if (this.#final()) return;
    this.#clearTimer();
    this.#set('stopping', reason);
  }

  /** The run ended (its input, or stopped with a savepoint): alive until the process exits, not ready. */
  finished(reason = 'finished: the input ended and the output is committed'): void {
    if (this.#final()) return;
    this.#clearTimer();
    this.#set('finished', reason);
  }

  /** A partition is stuck (a reason), or no longer (undefined): neither live nor ready while it is. */
  stuck(reason: string | undefined): void {
    this.#stuck = reason;
  }

  /** The run failed for good: the process should be replaced. */
  failed(error: unknown): void {
    this.#clearTimer();
    this.#set('failed', `failed: ${firstLine(error)}`);
  }

  /** 200 unless the run failed for good, or a partition is stuck. */
  liveness(): Probe {
    const stuck = this.#stuck !== undefined && !this.#final();
    const ok = this.#phase !== 'failed' && !stuck;
    const reason = stuck ? this.#stuck! : this.#reason;
    return { ok, body: { status: ok ? 'ok' : 'unavailable', phase: this.#phase, reason } };
  }

  /** 200 only while running, and no partition is stuck. */
  readiness(): Probe {
    const stuck = this.#stuck !== undefined && this.#phase === 'running';
    const ok = this.#phase === 'running' && !stuck;
    const reason = stuck ? this.#stuck! : this.#reason;
    return { ok, body: { status: ok ? 'ok' : 'unavailable', phase: this.#phase, reason } };
  }

  #final(): boolean {
    return this.#phase === 'failed' || this.#phase === 'finished';
  }

  #set(phase: RunPhase, reason: string): void {
    this.#phase = phase;
    this.#reason = reason;
  }

  #clearTimer(): void {
    if (this.#restartTimer !== undefined) clearTimeout(this.#restartTimer);
    this.#restartTimer = undefined;
  }
}

/** An error's first line, bounded: a probe body is not a stack trace. */
function firstLine(error: unknown): string {
  const text = String((error as Error)?.message ?? error).split('\n')[0]!;
  return text.length > 300 ? `${text.slice(0, 297)}...` : text;
}
