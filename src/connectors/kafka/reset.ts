/**
 * Resetting a Kafka application (`eddy kafka reset`), as Kafka Streams'
 * application reset tool: its internal topics (the changelog, which holds
 * its state, and the repartition topic) are deleted and its consumer group
 * with the committed offsets, so the next start reads its input from the
 * beginning with empty state. Input and output topics are left alone.
 *
 * Only when no instance runs: a member still in the group would go on with
 * state that no longer exists, so the reset refuses and names them.
 */
import { Admin } from '@platformatic/kafka';
import { EddyError } from '../../errors/index.ts';
import { hasKafkaError } from './errors.ts';

/** The internal topics of application `applicationId` (created by kafkaApp). */
export function internalTopics(applicationId: string): { changelog: string; repartition: string } {
  return { changelog: `${applicationId}-changelog`, repartition: `${applicationId}-repartition` };
}

export interface ResetPlan {
  readonly applicationId: string;
  /** The internal topics that exist (and are deleted). */
  readonly topics: readonly string[];
  /** The consumer group: whether it exists, its state, and its committed offsets per `topic:partition`. */
  readonly group: {
    readonly exists: boolean;
    readonly state: string;
    readonly members: readonly string[];
    readonly offsets: Readonly<Record<string, string>>;
  };
}

export interface ResetOptions {
  readonly brokers: readonly string[];
  readonly applicationId: string;
  /** Say what would be deleted, delete nothing. */
  readonly dryRun?: boolean;
  /** More topics of the application to delete with its internal ones (a later stage's input topic). */
  readonly alsoTopics?: readonly string[];
}

/**
 * Resets the application (or, with `dryRun`, says what a reset would
 * delete). Resolves with what it found; rejects when an instance still runs.
 */
export async function resetKafkaApp(o: ResetOptions): Promise<ResetPlan> {
  const admin = new Admin({ clientId: `eddy-reset-${o.applicationId}`, bootstrapBrokers: [...o.brokers] });
  try {
    const names = internalTopics(o.applicationId);
    const existing = new Set(await admin.listTopics());
    const topics = [names.changelog, names.repartition, ...(o.alsoTopics ?? [])].filter((t) =>
      existing.has(t),
    );
    const described = (await admin.describeGroups({ groups: [o.applicationId] })).get(o.applicationId);
    const exists = described !== undefined && described.state !== 'DEAD';
    const offsets: Record<string, string> = {};
    if (exists) {
      const [group] = await admin.listConsumerGroupOffsets({ groups: [o.applicationId] });
      for (const t of group?.topics ?? [])
        for (const p of t.partitions)
          if (p.committedOffset >= 0n) offsets[`${t.name}:${p.partitionIndex}`] = String(p.committedOffset);
    }
    const members = [...(described?.members.values() ?? [])].map((m) => `${m.clientId}@${m.clientHost}`);
    const plan: ResetPlan = {
      applicationId: o.applicationId,
      topics,
      group: { exists, state: described?.state ?? 'DEAD', members, offsets },
    };
    if (members.length > 0)
      throw new EddyError(
        'EDDY_CONFIG_INVALID',
        `Kafka application "${o.applicationId}" still runs: ${members.length} instance(s) in its group (${members.join(', ')}); stop every instance (SIGTERM) and reset again`,
      );
    if (o.dryRun === true) return plan;
    if (topics.length > 0) await admin.deleteTopics({ topics });
    if (exists)
      await admin.deleteGroups({ groups: [o.applicationId] }).catch((e: unknown) => {
        // Emptied meanwhile by its last member's session expiring: nothing left to delete.
        if (!hasKafkaError(e, 'GROUP_ID_NOT_FOUND')) throw e;
      });
    return plan;
  } finally {
    await admin.close().catch(() => {});
  }
}
