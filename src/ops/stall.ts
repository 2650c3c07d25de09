/**
 * A stuck partition (issue 17): one that has input waiting — records on the
 * broker it has not fetched, or fetched and not processed — and has not
 * moved for `timeoutMs`. A Kafka application's instance with one is not
 * healthy (`/healthz` 503 with the partition and for how long), so an
 * orchestrator replaces it and the partition moves; it is healthy again as
 * soon as the partition moves on by itself. A partition with no input is
 * idle, never stuck.
 *
 * @example
 * ```ts
 * const watch = new StallWatch(300_000);
 * watch.observe({ 'in:0': { next: 10, buffered: 5, lag: 90, processed: 120 } }, Date.now());
 * // → undefined, or 'partition in:0 has 95 records waiting and has not moved for 301 s'
 * ```
 */

export interface PartitionProgress {
  /** The next offset the instance fetches. */
  readonly next: number;
  /** Fetched and not processed. */
  readonly buffered: number;
  /** On the broker, not fetched (-1: not known yet). */
  readonly lag: number;
  /** Records the partition's pipeline has processed (0 for a forwarding task). */
  readonly processed: number;
}

export class StallWatch {
  readonly #timeoutMs: number;
  readonly #last = new Map<string, { readonly mark: string; readonly since: number }>();

  /** `timeoutMs` 0 turns the watch off. */
  constructor(timeoutMs: number) {
    this.#timeoutMs = timeoutMs;
  }

  /** The reason the instance is stuck, or undefined; `now` in ms. */
  observe(partitions: Readonly<Record<string, PartitionProgress>>, now: number): string | undefined {
    if (this.#timeoutMs <= 0) return undefined;
    let worst: { split: string; waiting: number; ms: number } | undefined;
    for (const [split, p] of Object.entries(partitions)) {
      const mark = `${p.next}/${p.processed}`;
      const last = this.#last.get(split);
      const waiting = p.buffered + Math.max(0, p.lag);
      if (last === undefined || last.mark !== mark || waiting === 0) {
        this.#last.set(split, { mark, since: now });
        continue;
      }
      const ms = now - last.since;
      if (ms >= this.#timeoutMs && (worst === undefined || ms > worst.ms)) worst = { split, waiting, ms };
    }
    for (const split of this.#last.keys()) if (!(split in partitions)) this.#last.delete(split);
    return worst === undefined
      ? undefined
      : `stuck: partition ${worst.split} has ${worst.waiting} records waiting and has not moved for ${Math.round(worst.ms / 1000)} s (--stall-timeout ${this.#timeoutMs / 1000})`;
  }
}
