/**
 * Reads partitions of a topic from the start to where they end now, as a
 * read_committed consumer sees them: a changelog restore, a check of an
 * output topic. The end is the last stable offset at the start; a partition
 * counts as read once the fetch position passes it (transaction markers take
 * offsets but are never delivered, so waiting for the last record's offset
 * would never finish).
 */
import { Consumer, FetchIsolationLevels, type Message, MessagesStreamModes } from '@platformatic/kafka';
import { EddyError } from '../../errors/index.ts';
import { committedReads } from './aborted.ts';

export interface ReadToEndOptions {
  readonly bootstrapBrokers: string[];
  readonly topic: string;
  /** Which partitions; default all. */
  readonly partitions?: readonly number[];
  readonly clientId: string;
  /** The consumer group the read uses (it never commits); default a fresh one. */
  readonly groupId?: string;
  /** Default 60,000. */
  readonly timeoutMs?: number;
  /** Every record of the partitions up to their end, in offset order per partition. */
  readonly onMessage: (m: Message) => void;
}

export async function readToEnd(o: ReadToEndOptions): Promise<void> {
  const timeoutMs = o.timeoutMs ?? 60_000;
  const consumer = committedReads(
    new Consumer({
      clientId: o.clientId,
      bootstrapBrokers: o.bootstrapBrokers,
      groupId: o.groupId ?? `${o.clientId}-read-${process.pid}-${Date.now()}`,
      autocommit: false,
      isolationLevel: FetchIsolationLevels.READ_COMMITTED,
    }),
  );
  try {
    const end =
      (
        await consumer.listOffsets({ topics: [o.topic], isolationLevel: FetchIsolationLevels.READ_COMMITTED })
      ).get(o.topic) ?? [];
    const wanted = new Set(o.partitions ?? end.map((_, p) => p));
    const pending = new Set([...wanted].filter((p) => (end[p] ?? 0n) > 0n));
    if (pending.size === 0) return;
    const stream = await consumer.consume({
      topics: [o.topic],
      mode: MessagesStreamModes.EARLIEST,
      autocommit: false,
    });
    try {
      await new Promise<void>((resolve, reject) => {
        const finish = (error?: Error) => {
          clearTimeout(timer);
          clearInterval(poll);
          if (error === undefined) resolve();
          else reject(error);
        };
        const timer = setTimeout(
          () =>
            finish(
              new EddyError(
                'EDDY_IO_FAILED',
                `reading ${o.topic} partitions [${[...pending].join(', ')}] did not reach their end within ${timeoutMs} ms; is the broker reachable?`,
              ),
            ),
          timeoutMs,
        );
        const poll = setInterval(() => {
          for (const p of pending)
            if ((stream.offsetsToFetch.get(`${o.topic}:${p}`) ?? 0n) >= end[p]!) pending.delete(p);
          if (pending.size === 0) finish();
        }, 20);
        stream.on('data', (m: Message) => {
          if (wanted.has(m.partition) && m.offset < end[m.partition]!) o.onMessage(m);
        });
        stream.on('error', (e: Error) => finish(e));
      });
    } finally {
      await stream.close().catch(() => {});
    }
  } finally {
    await consumer.close(true).catch(() => {});
  }
}
