/**
 * Processing time. Everything in the runtime that asks "what time is it" or
 * "call me at" goes through a {@link Clock}, so that the test driver can replace
 * wall time with a clock it advances by hand.
 */

export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  /** Calls `fn` once `now() >= at`; returns a cancel function. */
  schedule(at: number, fn: () => void): () => void;
}

/**
 * The longest one `setTimeout` can wait (2^31 - 1 ms, about 24.8 days): Node
 * fires a longer one after 1 ms instead (issue 19), so longer waits go in steps.
 */
export const MAX_TIMER_MS = 2_147_483_647;

/** Wall-clock time, with timers that never keep the process alive on their own. */
export const systemClock: Clock = {
  now: () => Date.now(),
  schedule(at, fn) {
    // Node fires a timer of more than 2^31 - 1 ms (~24.8 days) after 1 ms: wait in steps of at most that.
    let t: ReturnType<typeof setTimeout>;
    const arm = () => {
      const wait = at - Date.now();
      t = setTimeout(wait > MAX_TIMER_MS ? arm : fn, Math.min(Math.max(0, wait), MAX_TIMER_MS));
      t.unref();
    };
    arm();
    return () => clearTimeout(t);
  },
};

interface ManualTimer {
  readonly at: number;
  readonly seq: number;
  readonly fn: () => void;
  cancelled: boolean;
}

/**
 * A clock that moves only when told to: `advance(ms)` runs every timer that
 * falls due, in time order.
 *
 * @example
 * ```ts
 * const clock = new ManualClock(0);
 * clock.schedule(100, () => console.log('fired'));
 * clock.advance(100); // prints "fired"
 * ```
 */
export class ManualClock implements Clock {
  #now: number;
  #seq = 0;
  #timers: ManualTimer[] = [];

  constructor(start = 0) {
    this.#now = start;
  }

  now(): number {
    return this.#now;
  }

  schedule(at: number, fn: () => void): () => void {
    const t: ManualTimer = { at, seq: this.#seq++, fn, cancelled: false };
    this.#timers.push(t);
    return () => {
      t.cancelled = true;
    };
  }

  /** Moves time forward by `ms`, running due timers (including ones they schedule) in order. */
  advance(ms: number): void {
    this.advanceTo(this.#now + ms);
  }

  advanceTo(time: number): void {
    for (;;) {
      let next: ManualTimer | undefined;
      for (const t of this.#timers) {
        if (t.cancelled || t.at > time) continue;
        if (next === undefined || t.at < next.at || (t.at === next.at && t.seq < next.seq)) next = t;
      }
      if (next === undefined) break;
      this.#timers = this.#timers.filter((t) => t !== next && !t.cancelled);
      if (next.at > this.#now) this.#now = next.at;
      next.fn();
    }
    if (time > this.#now) this.#now = time;
  }
}
