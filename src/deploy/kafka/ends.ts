/**
 * The input partitions' ends as the brokers last told them (their last
 * stable offsets), and so each running task's consumer lag (app.ts
 * `metrics().lag`, and the load the assignor weighs). The brokers are asked
 * again at most every 5 s, in the background; with the brokers away the last
 * answer stays, and `ageMs` says how old it is.
 */
import { type Consumer, FetchIsolationLevels } from '@platformatic/kafka';
import type { PartitionLag } from '../../connectors/kafka/app-options.ts';
import type { PartitionTask } from './task.ts';

/** How often the brokers are asked for the ends (ms). */
const ASK_EVERY_MS = 5_000;

export class PartitionEnds {
  readonly #ends = new Map<string, { end: bigint; at: number }>();
  #asked = 0;
  /** The ends being asked for, if they are: awaited before the consumer closes. */
  #asking: Promise<void> | undefined;

  /** A partition's (`topic:partition`) end as last known, and when it was asked. */
  known(split: string): { readonly end: bigint; readonly at: number } | undefined {
    return this.#ends.get(split);
  }

  /** Each task's lag now; asks the brokers for the ends again (through `consumer`) when the answer is old. */
  lag(
    tasks: ReadonlyMap<string, PartitionTask>,
    consumer: Consumer | undefined,
  ): Record<string, PartitionLag> {
    const now = Date.now();
    const out: Record<string, PartitionLag> = {};
    for (const [split, t] of tasks) {
      const known = this.#ends.get(split);
      out[split] = {
        end: known === undefined ? -1 : Number(known.end),
        next: Number(t.next),
        buffered: t.backlog(),
        lag: known === undefined ? -1 : Math.max(0, Number(known.end - t.next)),
        ageMs: known === undefined ? -1 : now - known.at,
      };
    }
    if (now - this.#asked >= ASK_EVERY_MS && consumer !== undefined && tasks.size > 0) {
      this.#asked = now;
      const partitions: Record<string, number[]> = {};
      for (const t of tasks.values()) (partitions[t.topic] ??= []).push(t.partition);
      this.#asking = consumer
        .listOffsets({
          topics: Object.keys(partitions),
          partitions,
          timestamp: -1n,
          isolationLevel: FetchIsolationLevels.READ_COMMITTED,
        })
        .then((ends) => {
          const at = Date.now();
          for (const [topic, offsets] of ends)
            for (const p of partitions[topic] ?? []) {
              const end = offsets[p];
              if (end !== undefined) this.#ends.set(`${topic}:${p}`, { end, at });
            }
        })
        // The brokers away: the last answer stays, and ageMs says how old it is.
        .catch(() => {});
    }
    return out;
  }

  /**
   * Waits for a question in flight, at most `ms`: no request of ours may be
   * pending when the consumer closes (an answer left pending could hold the
   * process open); with the brokers away it is not waited for long.
   */
  async settle(ms: number): Promise<void> {
    const asking = this.#asking;
    if (asking === undefined) return;
    let t: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([asking, new Promise<void>((resolve) => (t = setTimeout(resolve, ms)))]);
    clearTimeout(t);
  }
}
