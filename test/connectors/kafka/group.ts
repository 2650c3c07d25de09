/**
 * A consumer group as the leader's assignor sees it, for the assignor's
 * tests: each member's subscription, with what it owned and its user data.
 */
import type { ExtendedGroupProtocolSubscription } from '@platformatic/kafka';

/**
 * `owned` maps member ids to the partitions of `topic` they owned (in
 * `generation`; a member owning none joins fresh); `metadata` gives each
 * member's user data.
 */
export function group(
  topic: string,
  owned: Readonly<Record<string, readonly number[]>>,
  generation = 5,
  metadata?: (memberId: string, partitions: readonly number[]) => Buffer,
): Map<string, ExtendedGroupProtocolSubscription> {
  return new Map(
    Object.entries(owned).map(([memberId, partitions]) => [
      memberId,
      {
        memberId,
        version: 3,
        topics: [topic],
        ownedPartitions: partitions.length > 0 ? [{ topic, partitions: [...partitions] }] : [],
        generationId: partitions.length > 0 ? generation : -1,
        ...(metadata === undefined ? {} : { metadata: metadata(memberId, partitions) }),
      } as unknown as ExtendedGroupProtocolSubscription,
    ]),
  );
}
