/**
 * Which subtask of a `kafkaSource` reads which partition (issue 14: a
 * Kafka input read by every subtask, as Flink's KafkaSource reads one with
 * all its readers).
 *
 * The owner is a function of the topic, the partition and the job's
 * parallelism only: topic `t`'s partitions go round the subtasks starting
 * at a subtask chosen by a hash of `t` (so several topics' first partitions
 * do not all land on subtask 0), as Flink's KafkaSourceEnumerator deals
 * them. A partition therefore never moves between the subtasks of a
 * running job: each subtask's checkpointed offsets and the records it
 * handed out stay its own, which a group's usual assignors (round robin,
 * sticky) cannot promise while the subtasks join one after another.
 *
 * The subtasks still join the consumer group (offsets are committed to it,
 * and its tools show the lag), with this module's assignor: each member
 * says which subtask it is, of how many, in its subscription's user data,
 * and gets exactly that subtask's partitions. Members that say the same
 * subtask (two processes running the same job with one group id) share
 * that subtask's partitions between them; a subtask that has not joined
 * yet holds its partitions unassigned until it does.
 */
import type { GroupPartitionsAssigner, GroupPartitionsAssignments } from '@platformatic/kafka';

/** The subtask (of `parallelism`) that reads `partition` of `topic`. */
export function partitionOwner(topic: string, partition: number, parallelism: number): number {
  return (startOf(topic, parallelism) + partition) % parallelism;
}

/** Where a topic's partition 0 goes: FNV-1a of the name, so the same on every machine and run. */
function startOf(topic: string, parallelism: number): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < topic.length; i++) {
    h ^= topic.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0) % parallelism;
}

/** The protocol name the subtasks of a `kafkaSource` join with. */
export const SUBTASK_PROTOCOL = 'eddy-subtasks';

/** A member's user data: which subtask it is, of how many. */
export function subtaskData(subtask: number, parallelism: number): Buffer {
  return Buffer.from(`eddy-subtask ${subtask}/${parallelism}`);
}

/** A member's subtask, read back from user data that came from the brokers (so bounded and checked). */
export function readSubtaskData(
  data: Buffer | string | undefined | null,
): { subtask: number; parallelism: number } | undefined {
  if (data === undefined || data === null || data.length > 64) return undefined;
  const text = typeof data === 'string' ? data : data.toString('latin1');
  const m = /^eddy-subtask (\d{1,5})\/(\d{1,5})$/.exec(text);
  if (m === null) return undefined;
  const subtask = Number(m[1]);
  const parallelism = Number(m[2]);
  return parallelism >= 1 && subtask < parallelism ? { subtask, parallelism } : undefined;
}

/**
 * The group's assignor for a `kafkaSource`'s subtasks: each partition to its
 * owner (`partitionOwner`, at the highest parallelism a member says); where
 * several members say the same subtask, its partitions are dealt among them
 * in member id order. A member whose user data is not a subtask's gets
 * nothing.
 */
export const subtaskAssignor: GroupPartitionsAssigner = (_current, members, topics, metadata) => {
  const bySubtask = new Map<number, string[]>();
  let parallelism = 1;
  for (const [id, m] of members) {
    const s = readSubtaskData(m.metadata);
    if (s === undefined) continue;
    parallelism = Math.max(parallelism, s.parallelism);
    const list = bySubtask.get(s.subtask) ?? [];
    list.push(id);
    bySubtask.set(s.subtask, list);
  }
  for (const list of bySubtask.values()) list.sort();
  const out = new Map<string, GroupPartitionsAssignments['assignments']>();
  for (const id of members.keys()) out.set(id, new Map());
  for (const topic of [...topics].sort()) {
    const count = metadata.topics.get(topic)?.partitionsCount ?? 0;
    const dealt = new Map<number, number>();
    for (let p = 0; p < count; p++) {
      const owner = partitionOwner(topic, p, parallelism);
      const candidates = bySubtask
        .get(owner)
        ?.filter((id) => members.get(id)!.topics?.includes(topic) !== false);
      if (candidates === undefined || candidates.length === 0) continue; // that subtask has not joined yet
      const n = dealt.get(owner) ?? 0;
      dealt.set(owner, n + 1);
      const assignments = out.get(candidates[n % candidates.length]!)!;
      const a = assignments.get(topic) ?? { topic, partitions: [] };
      a.partitions.push(p);
      assignments.set(topic, a);
    }
  }
  return [...out].map(([memberId, assignments]) => ({ memberId, assignments }));
};
