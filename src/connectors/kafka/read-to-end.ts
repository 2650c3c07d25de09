/**
 * Reads partitions of a topic from the start to where they end now, as a
 * read_committed consumer sees them: a changelog restore, a check of an
 * output topic. The end is the last stable offset at the start; a partition
 * counts as read once the fetch position passes it (transaction markers take
 * offsets but are never delivered, so waiting for the last record's offset
 * would never finish).
 *
 * It fetches from the partitions' leaders directly, without joining a
 * consumer group: a group join costs a round of the group protocol, and on
 * brokers with the default `group.initial.rebalance.delay.ms` three seconds,
 * on every restore of a moved partition. Aborted transactions are dropped by
 * eddy's filter (aborted.ts).
 */
import { Consumer, FetchIsolationLevels, type Message } from '@platformatic/kafka';

import { EddyError } from '../../errors/index.ts';
import { committedReads, type FetchedBatch } from './aborted.ts';
import { FETCH_BYTES, PARTITION_FETCH_BYTES } from './fetch.ts';

export interface ReadToEndOptions {
  readonly bootstrapBrokers: string[];
  readonly topic: string;
  /** Which partitions; default all. */
  readonly partitions?: readonly number[];
  /** Where to start per partition (a warm standby goes on from where it was); default each log's start. */
  readonly from?: ReadonlyMap<number, bigint>;
  readonly clientId: string;
  /** Default 60,000. */
  readonly timeoutMs?: number;
  /** Every record of the partitions up to their end, in offset order per partition. */
  readonly onMessage: (m: Message) => void;
  /** Told, before anything is fetched, where each partition's read starts and the end it reads to. */
  readonly onRange?: (partition: number, from: bigint, end: bigint) => void;
}

const CONTROL = 1 << 5;
/**
 * Per partition and fetch; a partition's records arrive in order, fetch
 * after fetch. 1 MiB, not more: the client decodes a larger slice several
 * times slower per record (fetch.ts; 8 MiB, as before, read a changelog at
 * about a third of the speed).
 */
const PARTITION_MAX_BYTES = PARTITION_FETCH_BYTES;

type FetchedRecord = {
  key: Buffer | null;
  value: Buffer | null;
  headers: [Buffer, Buffer][];
  offsetDelta: number;
  timestampDelta: bigint;
};

interface FetchResponse {
  responses: {
    topicId: string;
    partitions: {
      partitionIndex: number;
      records?: (FetchedBatch & { firstTimestamp: bigint; records: FetchedRecord[] })[] | null;
    }[];
  }[];
}

/** Resolves with the offset each partition was read up to (its end when the read began). */
export async function readToEnd(o: ReadToEndOptions): Promise<Map<number, bigint>> {
  const timeoutMs = o.timeoutMs ?? 60_000;
  const deadline = Date.now() + timeoutMs;
  const consumer = committedReads(
    new Consumer({
      clientId: o.clientId,
      bootstrapBrokers: o.bootstrapBrokers,
      // Required by the client; never joined (nothing here uses the group).
      groupId: `${o.clientId}-read`,
      autocommit: false,
      isolationLevel: FetchIsolationLevels.READ_COMMITTED,
    }),
  );
  try {
    const topics = [o.topic];
    const end =
      (await consumer.listOffsets({ topics, isolationLevel: FetchIsolationLevels.READ_COMMITTED })).get(
        o.topic,
      ) ?? [];
    const start = (await consumer.listOffsets({ topics, timestamp: -2n })).get(o.topic) ?? [];
    const position = new Map<number, bigint>();
    const reached = new Map<number, bigint>();
    for (const p of o.partitions ?? end.map((_, i) => i)) {
      // A start below the log's (compaction or retention removed records) reads from the log's start.
      const logStart = start[p] ?? 0n;
      const asked = o.from?.get(p) ?? logStart;
      const from = asked < logStart ? logStart : asked;
      const stop = end[p] ?? 0n;
      reached.set(p, stop > from ? stop : from);
      o.onRange?.(p, from, stop > from ? stop : from);
      if (stop > from) position.set(p, from);
    }
    while (position.size > 0) {
      if (Date.now() > deadline) {
        throw new EddyError(
          'EDDY_IO_FAILED',
          `reading ${o.topic} partitions [${[...position.keys()].join(', ')}] did not reach their end within ${timeoutMs} ms; is the broker reachable?`,
        );
      }
      const metadata = await consumer.metadata({ topics });
      const meta = metadata.topics.get(o.topic);
      if (meta === undefined) throw new EddyError('EDDY_IO_FAILED', `topic ${o.topic} is gone`);
      const byLeader = new Map<number, number[]>();
      for (const p of position.keys()) {
        const leader = meta.partitions[p]?.leader ?? -1;
        if (!byLeader.has(leader)) byLeader.set(leader, []);
        byLeader.get(leader)!.push(p);
      }
      await Promise.all(
        [...byLeader].map(async ([node, partitions]) => {
          const response = (await consumer.fetch({
            node,
            topics: [
              {
                topicId: meta.id,
                partitions: partitions.map((partition) => ({
                  partition,
                  fetchOffset: position.get(partition)!,
                  partitionMaxBytes: PARTITION_MAX_BYTES,
                  currentLeaderEpoch: -1,
                  lastFetchedEpoch: -1,
                })),
              },
            ],
            maxWaitTime: 200,
            minBytes: 1,
            maxBytes: FETCH_BYTES,
            isolationLevel: FetchIsolationLevels.READ_COMMITTED,
          })) as unknown as FetchResponse;
          for (const topic of response.responses) {
            for (const fetched of topic.partitions) {
              const p = fetched.partitionIndex;
              let at = position.get(p);
              if (at === undefined) continue;
              const stop = end[p]!;
              for (const batch of fetched.records ?? []) {
                if ((batch.attributes & CONTROL) === 0) {
                  for (const r of batch.records) {
                    const offset = batch.firstOffset + BigInt(r.offsetDelta);
                    if (offset < at || offset >= stop) continue;
                    o.onMessage({
                      topic: o.topic,
                      partition: p,
                      offset,
                      key: r.key,
                      value: r.value,
                      headers: new Map(r.headers),
                      timestamp: batch.firstTimestamp + BigInt(r.timestampDelta),
                    } as unknown as Message);
                  }
                }
                const next = batch.firstOffset + BigInt(batch.lastOffsetDelta) + 1n;
                if (next > at) at = next;
              }
              if (at >= stop) position.delete(p);
              else position.set(p, at);
            }
          }
        }),
      );
    }
    return reached;
  } finally {
    await consumer.close(true).catch(() => {});
  }
}
