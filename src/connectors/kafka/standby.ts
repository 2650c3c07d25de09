/**
 * Where a Kafka application keeps warm standby copies of its key-group
 * partitions (issue 13; Kafka Streams' `num.standby.replicas`).
 *
 * With `standbyReplicas: n`, the instances, ordered by name as the group's
 * coordinator lists them (`describeInstances`), form a ring: the partitions
 * the group assigned to the instance at position i are kept warm by the n
 * instances after it (i + 1 … i + n, wrapping, never i itself; every other
 * instance when there are fewer). Every instance computes the same answer
 * from the same membership, so no placement needs to be agreed or sent; a
 * balanced assignment gives each instance about n × its share of the state.
 *
 * The other half is the assignor's: a partition whose owner is gone goes
 * first to a member that reports a warm copy of it (`MemberData.warm`,
 * `assignor.ts`), so it restores only what the changelog gained since that
 * copy's last read instead of the whole changelog.
 */
import type { AppInstance } from '../../core/metrics.ts';

/** The most standby copies of a partition an application may ask for. */
export const MAX_STANDBY_REPLICAS = 16;

/**
 * The key-group partitions the local instance keeps warm for the others:
 * those of the `replicas` instances before it in the ring (see above),
 * sorted. Empty when the local instance is not among `instances`.
 */
export function standbyPartitions(instances: readonly AppInstance[], replicas: number): number[] {
  const count = instances.length;
  const self = instances.findIndex((i) => i.local);
  if (self < 0 || replicas <= 0 || count < 2) return [];
  const reach = Math.min(replicas, count - 1);
  const out: number[] = [];
  for (let back = 1; back <= reach; back++) {
    const owner = instances[(self - back + count) % count]!;
    out.push(...owner.partitions);
  }
  const mine = new Set(instances[self]!.partitions);
  return [...new Set(out)].filter((p) => !mine.has(p)).sort((a, b) => a - b);
}
