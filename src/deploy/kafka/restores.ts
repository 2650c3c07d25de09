/**
 * The restores of key-group partitions under way in a Kafka application
 * (`KafkaAppMetrics.restoring`): each is a changelog read by a
 * `ChangelogReplica`, whose progress says how far it is. Restores from a
 * standby copy are tracked by `Standbys` with one of these over its shared
 * replica; the others, read with a replica of their own, by the app's.
 */
import type { RestoreProgress } from '../../connectors/kafka/app-options.ts';
import type { ChangelogReplica } from '../../connectors/kafka/changelog.ts';

interface Underway {
  readonly at: number;
  readonly replica: ChangelogReplica;
  /** The replica's record count for the partition when the restore began (a shared replica counts on). */
  readonly base: number;
  readonly standby: boolean;
}

export class RestoresUnderway {
  readonly #underway = new Map<number, Underway>();

  /**
   * Runs `restore` of partition `p`, read by `replica`, reporting it in
   * {@link inFlight} until it settles; `standby`: it reads on from a warm
   * copy kept here.
   */
  async track<T>(
    p: number,
    replica: ChangelogReplica,
    restore: () => Promise<T>,
    standby = false,
  ): Promise<T> {
    this.#underway.set(p, { at: Date.now(), replica, base: replica.progress(p).records, standby });
    try {
      return await restore();
    } finally {
      this.#underway.delete(p);
    }
  }

  /** Whether a restore of partition `p` is under way. */
  has(p: number): boolean {
    return this.#underway.has(p);
  }

  /** The restores under way: records read so far and the offsets of the read (-1 until it has begun). */
  inFlight(): RestoreProgress[] {
    const out: RestoreProgress[] = [];
    for (const [partition, { at, replica, base, standby }] of this.#underway) {
      const now = replica.progress(partition);
      out.push({
        partition,
        at,
        records: now.records - base,
        offset: now.next === undefined ? -1 : Number(now.next),
        end: now.end === undefined ? -1 : Number(now.end),
        standby,
      });
    }
    return out.sort((a, b) => a.partition - b.partition);
  }
}
