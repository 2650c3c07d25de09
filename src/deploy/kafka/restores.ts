/**
 * The restores of key-group partitions under way in a Kafka application
 * (`KafkaAppMetrics.restoring`): each is a changelog read by a
 * `ChangelogReplica`, whose progress says how far it is. Restores from a
 * standby copy are tracked by `Standbys` (its replica is shared with the
 * standby rounds); the others, read with a replica of their own, here.
 */
import type { RestoreProgress } from '../../connectors/kafka/app-options.ts';
import type { ChangelogReplica } from '../../connectors/kafka/changelog.ts';

export class RestoresUnderway {
  readonly #underway = new Map<number, { readonly at: number; readonly replica: ChangelogReplica }>();

  /** Runs `restore` of partition `p`, read by `replica`, reporting it in {@link inFlight} until it settles. */
  async track<T>(p: number, replica: ChangelogReplica, restore: () => Promise<T>): Promise<T> {
    this.#underway.set(p, { at: Date.now(), replica });
    try {
      return await restore();
    } finally {
      this.#underway.delete(p);
    }
  }

  /** The restores under way: records read so far and the offsets of the read (-1 until it has begun). */
  inFlight(): RestoreProgress[] {
    const out: RestoreProgress[] = [];
    for (const [partition, { at, replica }] of this.#underway) {
      const now = replica.progress(partition);
      out.push({
        partition,
        at,
        records: now.records,
        offset: now.next === undefined ? -1 : Number(now.next),
        end: now.end === undefined ? -1 : Number(now.end),
        standby: false,
      });
    }
    return out.sort((a, b) => a.partition - b.partition);
  }
}
