/**
 * Starting a partition's task in a Kafka application (app.ts): the task is
 * fenced (the previous owner's open transaction aborted or completed), its
 * committed offset read, and — for a key group — its state read from the
 * changelog (from a warm standby copy when this process keeps one); then the
 * job of the pipeline over that partition is made, its checkpoints being the
 * task's transactions (changelog.ts).
 */
import { Admin, type Consumer } from '@platformatic/kafka';
import type { Pipeline } from '../../api/pipeline.ts';
import type { RestoreMetrics } from '../../connectors/kafka/app-options.ts';
import {
  ChangelogReplica,
  ChangelogStore,
  PART_BYTES,
  readChangelog,
} from '../../connectors/kafka/changelog.ts';
import { hasKafkaError } from '../../connectors/kafka/errors.ts';
import { configError } from '../../errors/index.ts';
import type { CheckpointInfo } from '../../runtime/checkpoints.ts';
import type { Job } from '../../runtime/job.ts';
import { HeapStateBackend } from '../../state/heap.ts';
import type { RestoresUnderway } from './restores.ts';
import type { Standbys } from './standbys.ts';
import { PartitionTask, type TxMessage } from './task.ts';

export interface TaskStartContext {
  readonly applicationId: string;
  readonly instanceId: string;
  readonly brokers: string[];
  readonly changelogTopic: string;
  /** The key groups (the keyed topic's partitions). */
  readonly partitions: number;
  readonly pipelineName: string;
  readonly commitIntervalMs: number;
  readonly changelogLayout: 'entries' | 'key-groups';
  readonly limitOf: (topic: string) => number;
  /** The application's consumer (its group coordinator, the earliest offsets). */
  readonly consumer: () => Consumer;
  readonly standbys: Standbys | undefined;
  /** Where a restore without a standby copy reports its progress (a standby's restore: `standbys`). */
  readonly underway: RestoresUnderway;
  /** Told how each restore went. */
  readonly restored: (r: RestoreMetrics) => void;
}

export type Restore = Awaited<ReturnType<typeof readChangelog>>;
export type Prepared = { task: PartitionTask; restore: Restore | undefined };

/** A task for an arriving partition: fenced, at its committed offset, its key group read from the changelog. */
export async function prepareTask(
  c: TaskStartContext,
  topic: string,
  partition: number,
  kind: 'state' | 'forward',
  firstStream: number,
): Promise<Prepared> {
  const task = new PartitionTask({
    topic,
    partition,
    kind,
    applicationId: c.applicationId,
    clientId: `${c.applicationId}-${c.instanceId}-producer`,
    brokers: c.brokers,
    groupId: c.applicationId,
    coordinator: async () => (await c.consumer().findGroupCoordinator()) as number,
    firstStream,
    limitOf: c.limitOf,
    ...(kind === 'state' ? { changelog: c.changelogTopic } : {}),
  });
  try {
    // Fencing first: the previous owner's open transaction is aborted (or completes) before the
    // offset and the state are read, so both are final.
    await task.fence();
    task.startAt(await committedOffset(c, topic, partition));
    if (kind === 'forward') return { task, restore: undefined };
    // After fencing the changelog's end is final: read to it, from the start or from where the
    // warm standby is.
    const started = Date.now();
    const standbys = c.standbys;
    // Whether a warm copy of it is here (a copy that has read the changelog at least once).
    const warm = standbys?.replica.position(partition) !== undefined;
    const source = {
      bootstrapBrokers: c.brokers,
      topic: c.changelogTopic,
      clientId: `${c.applicationId}-${c.instanceId}`,
    };
    // Without standbys, a replica of its own, read once (readChangelog would make the same).
    const replica = standbys?.replica ?? new ChangelogReplica(source);
    const read = () =>
      readChangelog({
        ...source,
        partitions: [partition],
        maxParallelism: c.partitions,
        pipeline: c.pipelineName,
        replica,
        ownReplica: standbys === undefined,
      });
    const restore = await (standbys === undefined
      ? c.underway.track(partition, replica, read)
      : standbys.restoring(partition, read));
    c.restored({ partition, ms: Date.now() - started, records: restore.records, standby: warm, at: started });
    const marks = restore.extras.get(partition);
    if (marks !== undefined) task.restoreMarks(marks);
    return { task, restore };
  } catch (e) {
    await task.close();
    throw e;
  }
}

/**
 * The job of a key-group partition's task, restored from its changelog: its
 * checkpoints are the task's transactions (state, output and offset in one).
 */
export function taskJob(
  c: TaskStartContext,
  task: PartitionTask,
  restore: Restore,
  pipeline: Pipeline,
  onCheckpoint: (info: CheckpointInfo) => void,
): Job {
  const store = new ChangelogStore({
    topic: c.changelogTopic,
    send: (messages) => task.send(messages as TxMessage[]),
    commit: () => task.commit(),
    owned: () => new Set([task.partition]),
    written: restore.written,
    extras: () =>
      task.marksAtBarrier === undefined ? new Map() : new Map([[task.partition, task.marksAtBarrier]]),
    // Parts well below the changelog's limit: a part also carries its key and the batch's overhead.
    partBytes: Math.min(PART_BYTES, c.limitOf(c.changelogTopic) - 4096),
  });
  task.useStore(store);
  if (c.changelogLayout === 'key-groups' && restore.entries)
    throw configError(
      `kafkaApp "${c.applicationId}": changelog ${c.changelogTopic} partition ${task.partition} holds state as entries (written with changelog: "entries"), which changelog: "key-groups" cannot take over`,
      'key-groups',
      'keep changelog: "entries" (the default), or reset the application (eddy kafka reset --app-id) and start again from the input',
    );
  return pipeline.createJob({
    parallelism: 1,
    maxParallelism: c.partitions,
    // `entries`: each commit writes only the entries changed since the last one (changelog.ts); a
    // changelog written whole per key group is rewritten as entries once.
    stateBackend:
      c.changelogLayout === 'key-groups'
        ? new HeapStateBackend(c.partitions)
        : new HeapStateBackend(c.partitions, {
            deltas: {
              fullFirst: [...(restore.written.get(task.partition)?.keys() ?? [])].some((k) =>
                k.startsWith('c/state/'),
              ),
            },
          }),
    checkpoints: { storage: store, intervalMs: c.commitIntervalMs },
    ...(restore.loaded === undefined ? {} : { restoreFrom: restore.loaded }),
    onCheckpoint,
    // Its source and sinks find the task (its buffer, its transaction) in their context.
    deployment: task,
  });
}

/**
 * The committed offset of a partition, once no transaction that commits
 * an offset for it is pending (the broker answers "unstable" until then);
 * the earliest offset if none was committed.
 */
async function committedOffset(c: TaskStartContext, topic: string, partition: number): Promise<bigint> {
  const admin = new Admin({ clientId: `${c.applicationId}-offsets`, bootstrapBrokers: c.brokers });
  try {
    const deadline = Date.now() + 60_000;
    for (;;) {
      try {
        const groups = await admin.listConsumerGroupOffsets({
          groups: [{ groupId: c.applicationId, topics: [{ name: topic, partitionIndexes: [partition] }] }],
          requireStable: true,
        });
        for (const t of groups[0]?.topics ?? [])
          for (const p of t.partitions)
            if (t.name === topic && p.partitionIndex === partition && p.committedOffset >= 0n)
              return p.committedOffset;
        break;
      } catch (e) {
        if (Date.now() > deadline || !hasKafkaError(e, 'UNSTABLE_OFFSET_COMMIT')) throw e;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    }
    const earliest = await c.consumer().listOffsets({ topics: [topic], timestamp: -2n });
    return earliest.get(topic)?.[partition] ?? 0n;
  } finally {
    await admin.close().catch(() => {});
  }
}
