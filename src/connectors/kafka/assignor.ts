/**
 * The partition assignor of Kafka applications: the client's cooperative-sticky
 * assignor, run for each topic on its own. The client's balances the count of
 * partitions over all topics together, so with the input topic and the
 * repartition topic one process could end up with all the input partitions
 * (which only forward records) and none of the key groups (which hold the
 * state and do the work). Per topic, every process gets its share of both.
 * Stickiness and the cooperative rule (a partition taken from one member is
 * given to another only in the next round) hold per topic, so they hold for
 * the whole.
 */
import {
  cooperativeStickyAssigner,
  type ExtendedGroupProtocolSubscription,
  type GroupPartitionsAssigner,
  type GroupPartitionsAssignments,
} from '@platformatic/kafka';

export const perTopicCooperativeSticky: GroupPartitionsAssigner = (current, members, topics, metadata) => {
  const merged = new Map<string, GroupPartitionsAssignments>();
  for (const memberId of members.keys()) merged.set(memberId, { memberId, assignments: new Map() });
  for (const topic of [...topics].sort()) {
    const only = new Map<string, ExtendedGroupProtocolSubscription>();
    for (const [id, m] of members) {
      only.set(id, { ...m, ownedPartitions: (m.ownedPartitions ?? []).filter((o) => o.topic === topic) });
    }
    for (const a of cooperativeStickyAssigner(current, only, new Set([topic]), metadata)) {
      const into = merged.get(a.memberId)!;
      for (const [t, assignment] of a.assignments) into.assignments.set(t, assignment);
    }
  }
  return [...merged.values()];
};
